/* test_adversary.c — attacks on the chain, played against the real state machine: a value
 * that grows with other people's txs (the staker list), a write past the store's limit, the
 * journal of a block of large rewrites, and random sequences of every tx kind with
 * adversarial payloads. Each must end in a tx error, never in abort(), unbounded memory or a
 * lost token. */
#include "chain/app.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "incentive/incentive.h"
#include "incentive/training.h"
#include "test.h"
#include "testutil.h"

#include <jansson.h>

#define CHAIN "agora-adv"
#define NA 24 /* actors: 0 = owner and sudo, the rest coldkeys and hotkeys alike */
#define START (100000ULL * AG_UNIT)

static ag_keypair A[NA];
static char *dir;
static ag_app *app;

static char *modules_json(void) {
  char owner[AG_ADDR_MAX];
  ag_addr_encode(A[0].pk, owner);
  json_t *inc = json_pack(
      "{s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i}},"
      " {s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i}, s:{s:s, s:s, s:i}}]}",
      "block_reward", "1000000000", "subnet_cost", "10000000000", "sudo", owner, "burn_min",
      "1000", "subnets", "name", "one", "owner", owner, "hyperparams", "tempo", 5,
      "commit_reveal", 0, "max_uids", 12, "immunity_period", 3, "weights_rate_limit", 1,
      "max_validators", 4, "name", "train", "owner", owner, "hyperparams", "tempo", 7,
      "max_uids", 12, "max_validators", 4, "immunity_period", 3, "train_round_blocks", 6,
      "train_submit_blocks", 3,
      "model", "kind", "training", "model_id",
      "1111111111111111111111111111111111111111111111111111111111111111", "size", 100000);
  json_t *root = json_pack("{s:o}", "incentive", inc);
  char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(root);
  return s;
}

/* A chain with one generic and one training subnet; NA funded actors plus extra accounts
 * funded with `extra` each (the attack's coldkeys). */
static ag_app *open_chain(char **d, const ag_keypair *extra_keys, size_t nextra, uint64_t extra) {
  *d = test_tmpdir("adversary");
  ag_app *a = NULL;
  CHECK_OK(ag_app_open(*d, &a));
  ag_incentive_attach(a);
  ag_genesis g;
  memset(&g, 0, sizeof g);
  strcpy(g.chain_id, CHAIN);
  g.genesis_time_ms = 1700000000000ULL;
  ag_params_default(&g.params);
  g.naccounts = NA + nextra;
  g.accounts = calloc(g.naccounts, sizeof *g.accounts);
  for (int i = 0; i < NA; i++) {
    test_key(&A[i], 900 + i);
    memcpy(g.accounts[i].pk, A[i].pk, 32);
    g.accounts[i].balance = START;
  }
  for (size_t i = 0; i < nextra; i++) {
    memcpy(g.accounts[NA + i].pk, extra_keys[i].pk, 32);
    g.accounts[NA + i].balance = extra;
  }
  g.modules = modules_json();
  ag_genesis_rehash(&g);
  uint8_t h[32];
  int rc = ag_app_init_chain(a, &g, h);
  if (rc) fprintf(stderr, "  init_chain: %s\n", ag_errmsg(rc));
  CHECK_OK(rc);
  ag_genesis_free(&g);
  return a;
}

/* One block of raw txs (codes into res when not NULL), then the supply audit. */
static void block(ag_app *a, const uint8_t *const *p, const uint32_t *l, size_t n, ag_result *res,
                  uint8_t root[32]) {
  ag_app_info info;
  ag_app_info_get(a, &info);
  ag_block_ctx ctx = {info.height + 1, info.time_ms + 1000, {0}};
  ag_result *r = res ? res : ag_xcalloc(n ? n : 1, sizeof *r);
  uint8_t rt[32];
  int rc = ag_app_finalize_block(a, &ctx, p, l, n, r, root ? root : rt);
  if (rc) fprintf(stderr, "  finalize_block: %s\n", ag_errmsg(rc));
  CHECK_OK(rc);
  if (!rc) CHECK_OK(ag_app_commit(a, NULL, 0, NULL));
  if (!res) free(r);
  uint64_t acc = 0, iss = 1;
  CHECK_OK(ag_incentive_audit(ag_app_state(a), &acc, &iss));
  CHECK_U64(acc, iss);
}

static uint64_t nonce_of(ag_app *a, const uint8_t pk[32]) {
  ag_account acct;
  ag_app_account(a, pk, &acct);
  return acct.nonce;
}

static uint64_t balance_of(ag_app *a, const uint8_t pk[32]) {
  ag_account acct;
  ag_app_account(a, pk, &acct);
  return acct.balance;
}

static void sign(ag_buf *out, uint16_t kind, const ag_keypair *k, uint64_t nonce,
                 const ag_buf *payload) {
  ag_tx_build(out, kind, CHAIN, k, nonce, 100000, 0, payload->data, (uint32_t)payload->len);
}

static int one(ag_app *a, uint16_t kind, const ag_keypair *k, const ag_buf *payload) {
  ag_buf tx;
  ag_buf_init(&tx);
  sign(&tx, kind, k, nonce_of(a, k->pk), payload);
  const uint8_t *p = tx.data;
  uint32_t l = (uint32_t)tx.len;
  ag_result r;
  block(a, &p, &l, 1, &r, NULL);
  ag_buf_free(&tx);
  return r.code;
}

static int register_hotkey(ag_app *a, int cold, const ag_keypair *hot, uint16_t netuid) {
  uint8_t claim[32], sig[64];
  ag_hotkey_claim_hash(CHAIN, A[cold].pk, hot->pk, claim);
  ag_sign(hot, claim, 32, sig);
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put_u16le(&p, netuid);
  ag_buf_put(&p, hot->pk, 32);
  ag_buf_put_u64le(&p, 100 * AG_UNIT);
  ag_buf_put(&p, sig, 64);
  int rc = one(a, AG_TX_REGISTER, &A[cold], &p);
  ag_buf_free(&p);
  return rc;
}

static void stake_payload(ag_buf *p, const uint8_t hotkey[32], uint64_t amount) {
  ag_buf_reset(p);
  ag_buf_put(p, hotkey, 32);
  ag_buf_put_u64le(p, amount);
}

/* ---- a write past the store's limit ------------------------------------------------------ */

/* A tx kind only this test registers: writes a value of the payload's declared size under a
 * key, and ignores what the write returns (as a careless kind would). It records the journal
 * the state keeps at each apply. */
#define KIND_BLOAT 900
static size_t journal_peak;

static int bloat_validate(const ag_tx *tx) {
  return tx->payload_len == 5 ? 0 : ag_fail(AG_E_TX_PAYLOAD, "bloat: key u8 | size u32");
}
static int bloat_spend(const ag_tx *tx, uint64_t *amount) {
  *amount = 0;
  return 0;
}
static int bloat_apply(ag_app *a, const ag_tx *tx) {
  ag_state *st = ag_app_state(a);
  size_t j = ag_state_journal_bytes(st);
  if (j > journal_peak) journal_peak = j;
  uint8_t key[2] = {'Z', tx->payload[0]};
  size_t size = ag_get_u32le(tx->payload + 1);
  uint8_t *v = ag_xcalloc(size ? size : 1, 1);
  memset(v, tx->payload[0], size);
  ag_state_put(st, key, 2, v, size); /* the result deliberately ignored */
  free(v);
  return 0;
}
static const ag_tx_kind bloat_kind = {KIND_BLOAT, "bloat", bloat_validate, bloat_spend, bloat_apply, NULL};

static void bloat_payload(ag_buf *p, uint8_t key, uint32_t size) {
  ag_buf_reset(p);
  ag_buf_put_u8(p, key);
  ag_buf_put_u32le(p, size);
}

TEST(oversized_write_fails_the_tx_and_the_chain_goes_on) {
  ag_tx_kind_register(&bloat_kind);
  app = open_chain(&dir, NULL, 0, 0);
  ag_buf p;
  ag_buf_init(&p);
  uint64_t b0 = balance_of(app, A[1].pk);
  bloat_payload(&p, 1, AG_STATE_VALUE_MAX + 1);
  CHECK_EQ(one(app, KIND_BLOAT, &A[1], &p), AG_E_STATE_LIMIT);
  ag_buf v;
  ag_buf_init(&v);
  uint8_t key[2] = {'Z', 1};
  CHECK_EQ(ag_state_get_committed(ag_app_state(app), key, 2, &v), AG_E_NOTFOUND);
  CHECK(b0 - balance_of(app, A[1].pk) == 100000); /* the fee, nothing else */
  CHECK_U64(nonce_of(app, A[1].pk), 1);
  /* the fault belonged to that tx only: the next one, at the limit, succeeds */
  bloat_payload(&p, 1, AG_STATE_VALUE_MAX);
  CHECK_EQ(one(app, KIND_BLOAT, &A[1], &p), 0);
  CHECK_OK(ag_state_get_committed(ag_app_state(app), key, 2, &v));
  CHECK_U64(v.len, AG_STATE_VALUE_MAX);
  ag_buf_free(&v);
  ag_buf_free(&p);
  ag_app_close(app);
  test_rmdir(dir);
}

/* A block of txs that each rewrite a large value: the journal holds one tx's old values, not
 * the whole block's (before, 200 rewrites of 512 KiB kept 100 MiB alive until commit). */
TEST(journal_holds_one_tx_at_a_time) {
  ag_tx_kind_register(&bloat_kind);
  app = open_chain(&dir, NULL, 0, 0);
  enum { N = 200, SIZE = 512 * 1024 };
  ag_buf *tx = ag_xcalloc(N, sizeof *tx);
  const uint8_t **ptr = ag_xcalloc(N, sizeof *ptr);
  uint32_t *len = ag_xcalloc(N, sizeof *len);
  ag_buf p;
  ag_buf_init(&p);
  for (int i = 0; i < N; i++) {
    bloat_payload(&p, 7, SIZE - (uint32_t)i);
    ag_buf_init(&tx[i]);
    sign(&tx[i], KIND_BLOAT, &A[2], (uint64_t)i, &p);
    ptr[i] = tx[i].data;
    len[i] = (uint32_t)tx[i].len;
  }
  journal_peak = 0;
  ag_result *res = ag_xcalloc(N, sizeof *res);
  block(app, ptr, len, N, res, NULL);
  for (int i = 0; i < N; i++) CHECK_EQ(res[i].code, 0);
  CHECK(journal_peak > 0);
  CHECK(journal_peak < 2 * SIZE); /* at most the one value the previous tx left */
  for (int i = 0; i < N; i++) ag_buf_free(&tx[i]);
  free(tx);
  free(ptr);
  free(len);
  free(res);
  ag_buf_free(&p);
  ag_app_close(app);
  test_rmdir(dir);
}

/* ---- the staker-list attack -------------------------------------------------------------- */

/* 32,800 coldkeys each stake the minimum on one validator's hotkey. The staker list used to
 * grow by 32 bytes a staker until, past 32,768 stakers, the write exceeded the store's value
 * limit and every node aborted in finalize_block: about 0.1 AGR of fees halted the chain for
 * good. Now the list is bounded: the first max_stakers are taken, the rest fail with
 * stakers_full (fee paid, nothing else changes), a larger stake takes the smallest's place and
 * refunds it, and the chain goes on with every token accounted for. */
TEST(staker_list_attack_is_bounded) {
  enum { N = 32800, PER_BLOCK = 4000 };
  ag_keypair *ck = ag_xmalloc(N * sizeof *ck);
  for (int i = 0; i < N; i++) test_key(&ck[i], 20000 + i);
  app = open_chain(&dir, ck, N, AG_UNIT);
  ag_keypair hot;
  test_key(&hot, 19999);
  CHECK_OK(register_hotkey(app, 1, &hot, 1));
  ag_ist s = {ag_app_state(app), NULL};
  ag_incentive_params ip;
  CHECK_OK(ag_incentive_params_load(&s, &ip));
  CHECK(ip.max_stakers == 512 && ip.min_stake == AG_UNIT / 10);
  ag_buf p;
  ag_buf_init(&p);
  stake_payload(&p, hot.pk, ip.min_stake);
  ag_buf *tx = ag_xcalloc(PER_BLOCK, sizeof *tx);
  const uint8_t **ptr = ag_xcalloc(PER_BLOCK, sizeof *ptr);
  uint32_t *len = ag_xcalloc(PER_BLOCK, sizeof *len);
  ag_result *res = ag_xcalloc(PER_BLOCK, sizeof *res);
  int ok = 0, full = 0, other = 0;
  for (int done = 0; done < N; done += PER_BLOCK) {
    int n = N - done < PER_BLOCK ? N - done : PER_BLOCK;
    for (int i = 0; i < n; i++) {
      ag_buf_init(&tx[i]);
      sign(&tx[i], AG_TX_STAKE_ADD, &ck[done + i], 0, &p);
      ptr[i] = tx[i].data;
      len[i] = (uint32_t)tx[i].len;
    }
    block(app, ptr, len, (size_t)n, res, NULL);
    for (int i = 0; i < n; i++) {
      if (res[i].code == 0) ok++;
      else if (res[i].code == AG_E_STAKERS_FULL) full++;
      else other++;
      ag_buf_free(&tx[i]);
    }
  }
  CHECK_EQ(ok, 512);
  CHECK_EQ(full, N - 512);
  CHECK_EQ(other, 0);
  ag_staker *e;
  size_t n;
  CHECK_OK(ag_stakers_load(&s, hot.pk, &e, &n));
  CHECK_EQ(n, 512);
  free(e);
  uint8_t key[33] = {'d'};
  memcpy(key + 1, hot.pk, 32);
  ag_buf v;
  ag_buf_init(&v);
  CHECK_OK(ag_state_get_committed(ag_app_state(app), key, 33, &v));
  CHECK_U64(v.len, 512 * 40); /* the bound of docs/security.md */
  ag_buf_free(&v);
  /* a larger stake takes the smallest's place; the smallest (the greatest coldkey among equal
   * stakes) gets its stake back as balance */
  int last = N - 1; /* failed: its balance is intact but for the fee */
  uint64_t before = balance_of(app, ck[last].pk);
  stake_payload(&p, hot.pk, 2 * ip.min_stake);
  CHECK_EQ(one(app, AG_TX_STAKE_ADD, &ck[last], &p), 0);
  CHECK_OK(ag_stakers_load(&s, hot.pk, &e, &n));
  CHECK_EQ(n, 512);
  int found = 0;
  for (size_t i = 0; i < n; i++) found += !memcmp(e[i].coldkey, ck[last].pk, 32);
  CHECK_EQ(found, 1);
  free(e);
  CHECK(before - balance_of(app, ck[last].pk) == 2 * ip.min_stake + 100000);
  /* a stake below the minimum never enters */
  stake_payload(&p, hot.pk, ip.min_stake - 1);
  CHECK_EQ(one(app, AG_TX_STAKE_ADD, &A[3], &p), AG_E_STAKE_BELOW_MIN);
  /* the hotkey's owner may always stake on it, even when the list is full */
  stake_payload(&p, hot.pk, ip.min_stake);
  CHECK_EQ(one(app, AG_TX_STAKE_ADD, &A[1], &p), 0);
  ag_hotkey_info h;
  CHECK_OK(ag_hotkey_load(&s, hot.pk, &h));
  CHECK_OK(ag_stakers_load(&s, hot.pk, &e, &n));
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) sum += e[i].stake;
  free(e);
  CHECK_U64(sum, h.total_stake);
  ag_app_info info;
  ag_app_info_get(app, &info);
  CHECK(info.height >= (uint64_t)(N / PER_BLOCK) + 4);
  free(tx);
  free(ptr);
  free(len);
  free(res);
  free(ck);
  ag_buf_free(&p);
  ag_app_close(app);
  test_rmdir(dir);
}

TEST(a_coldkey_stakes_on_a_bounded_number_of_hotkeys) {
  enum { H = AG_MAX_STAKED_HOTKEYS + 1 };
  app = open_chain(&dir, NULL, 0, 0);
  /* hotkeys get an owner by registering: room for all of them on subnet 1 */
  ag_keypair *hk = ag_xmalloc(H * sizeof *hk);
  ag_buf p;
  ag_buf_init(&p);
  ag_buf_put_u16le(&p, 1);
  ag_buf_put_u8(&p, 8);
  ag_buf_puts(&p, "max_uids");
  ag_buf_put_u64le(&p, 4096);
  CHECK_EQ(one(app, AG_TX_SUBNET_SET, &A[0], &p), 0);
  for (int i = 0; i < H; i++) {
    test_key(&hk[i], 70000 + i);
    CHECK_EQ(register_hotkey(app, 5, &hk[i], 1), 0);
  }
  for (int i = 0; i < H; i++) {
    stake_payload(&p, hk[i].pk, AG_UNIT);
    int rc = one(app, AG_TX_STAKE_ADD, &A[6], &p);
    CHECK_EQ(rc, i < AG_MAX_STAKED_HOTKEYS ? 0 : AG_E_STAKE_LIMIT);
  }
  ag_ist s = {ag_app_state(app), NULL};
  uint8_t (*list)[32];
  size_t n;
  CHECK_OK(ag_stake_hotkeys(&s, A[6].pk, &list, &n));
  CHECK_EQ(n, AG_MAX_STAKED_HOTKEYS);
  free(list);
  free(hk);
  ag_buf_free(&p);
  ag_app_close(app);
  test_rmdir(dir);
}

TEST_MAIN(oversized_write_fails_the_tx_and_the_chain_goes_on, journal_holds_one_tx_at_a_time,
          staker_list_attack_is_bounded, a_coldkey_stakes_on_a_bounded_number_of_hotkeys)
