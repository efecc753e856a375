/* testchain.h — a chain run in-process through the real state machine, for tests of tx kinds:
 * genesis with TC_KEYS funded keys K[0..], blocks of signed txs, the supply audit after every
 * block. Define TC_KEYS (and optionally TC_CHAIN, TC_FEE) before including it, once per test. */
#ifndef AG_TESTCHAIN_H
#define AG_TESTCHAIN_H

#include "chain/app.h"
#include "core/err.h"
#include "core/util.h"
#include "economy/economy.h"
#include "incentive/incentive.h"
#include "test.h"
#include "testutil.h"

#ifndef TC_CHAIN
#define TC_CHAIN "agora-test"
#endif
#ifndef TC_FEE
#define TC_FEE 1000000ULL
#endif
#define TC_START (1000ULL * AG_UNIT)

static ag_keypair K[TC_KEYS];
static char *tc_dir;
static ag_app *app;
static ag_genesis tc_gen;

/* A new chain whose genesis modules section is `modules` (JSON), keys seeded from seed0. */
static void tc_setup(const char *modules, unsigned seed0) {
  tc_dir = test_tmpdir("chain");
  CHECK_OK(ag_app_open(tc_dir, &app));
  ag_incentive_attach(app);
  ag_economy_attach(app);
  memset(&tc_gen, 0, sizeof tc_gen);
  strcpy(tc_gen.chain_id, TC_CHAIN);
  tc_gen.genesis_time_ms = 1700000000000ULL;
  ag_params_default(&tc_gen.params);
  tc_gen.naccounts = TC_KEYS;
  tc_gen.accounts = calloc(TC_KEYS, sizeof *tc_gen.accounts);
  for (int i = 0; i < TC_KEYS; i++) {
    test_key(&K[i], seed0 + i);
    memcpy(tc_gen.accounts[i].pk, K[i].pk, 32);
    tc_gen.accounts[i].balance = TC_START;
  }
  tc_gen.modules = strdup(modules);
  ag_genesis_rehash(&tc_gen);
  uint8_t h[32];
  int rc = ag_app_init_chain(app, &tc_gen, h);
  if (rc) fprintf(stderr, "  init_chain: %s\n", ag_errmsg(rc));
  CHECK_OK(rc);
}

static void tc_teardown(void) {
  ag_app_close(app);
  ag_genesis_free(&tc_gen);
  test_rmdir(tc_dir);
}

static uint64_t tc_height(void) {
  ag_app_info i;
  ag_app_info_get(app, &i);
  return i.height;
}

static ag_account tc_account(const uint8_t pk[32]) {
  ag_account a;
  ag_app_account(app, pk, &a);
  return a;
}

/* One block of raw txs, result codes into codes; then the supply audit. */
static void tc_block(ag_buf *txs, size_t n, int *codes) {
  ag_app_info info;
  ag_app_info_get(app, &info);
  const uint8_t *p[64];
  uint32_t l[64];
  ag_result r[64];
  for (size_t i = 0; i < n; i++) {
    p[i] = txs[i].data;
    l[i] = (uint32_t)txs[i].len;
  }
  ag_block_ctx ctx = {info.height + 1, info.time_ms + 1000, {0}};
  uint8_t root[32];
  int rc = ag_app_finalize_block(app, &ctx, p, l, n, r, root);
  if (!rc) rc = ag_app_commit(app, NULL, 0, NULL);
  CHECK_OK(rc);
  for (size_t i = 0; i < n && codes; i++) codes[i] = r[i].code;
  uint64_t acc, iss;
  CHECK_OK(ag_economy_audit(ag_app_state(app), &acc, &iss));
  CHECK_U64(acc, iss);
}

static void tc_empty_blocks(int n) {
  for (int i = 0; i < n; i++) tc_block(NULL, 0, NULL);
}

/* Signs a tx of kind by key k at its next nonce and runs it alone in a block; frees payload. */
static int tc_run_key(const ag_keypair *k, uint16_t kind, ag_buf *payload) {
  ag_buf tx;
  ag_buf_init(&tx);
  ag_tx_build(&tx, kind, TC_CHAIN, k, tc_account(k->pk).nonce, TC_FEE, 0, payload->data, (uint32_t)payload->len);
  int code;
  tc_block(&tx, 1, &code);
  ag_buf_free(&tx);
  ag_buf_free(payload);
  return code;
}

/* cold registers hot on subnet netuid (paying up to 1 AGR), with hot's signature over its claim;
 * the result code. */
__attribute__((unused)) static int tc_register(const ag_keypair *cold, const ag_keypair *hot, uint16_t netuid) {
  ag_buf p;
  ag_buf_init(&p);
  ag_payload_register(&p, TC_CHAIN, netuid, cold->pk, hot, AG_UNIT);
  return tc_run_key(cold, AG_TX_REGISTER, &p);
}

#endif