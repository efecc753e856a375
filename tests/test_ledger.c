/* test_ledger.c — the state machine: genesis, execution, fees, failures that change nothing,
 * check_tx sequencing, restart, replay determinism and supply conservation (the mempool:
 * test_mempool.c). */
#include "chain/app.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "test.h"
#include "testutil.h"

#define CHAIN "agora-test"
#define NKEYS 8
#define START (1000ULL * AG_UNIT)

static ag_keypair keys[NKEYS];

static void make_genesis(ag_genesis *g) {
  memset(g, 0, sizeof *g);
  strcpy(g->chain_id, CHAIN);
  g->genesis_time_ms = 1700000000000ULL;
  ag_params_default(&g->params);
  g->naccounts = NKEYS;
  g->accounts = calloc(NKEYS, sizeof *g->accounts);
  for (int i = 0; i < NKEYS; i++) {
    test_key(&keys[i], 100 + i);
    memcpy(g->accounts[i].pk, keys[i].pk, 32);
    g->accounts[i].balance = START;
  }
  ag_genesis_rehash(g);
}

static ag_app *open_app(const char *dir) {
  ag_app *app = NULL;
  int rc = ag_app_open(dir, &app);
  if (rc) fprintf(stderr, "open: %s\n", ag_errmsg(rc));
  return app;
}

static ag_app *fresh_app(char **dir) {
  *dir = test_tmpdir("ledger");
  ag_app *app = open_app(*dir);
  ag_genesis g;
  make_genesis(&g);
  uint8_t h[32];
  CHECK_OK(ag_app_init_chain(app, &g, h));
  ag_genesis_free(&g);
  return app;
}

static uint64_t min_fee(ag_app *app, size_t len) {
  ag_params p;
  ag_app_params(app, &p);
  uint64_t f;
  ag_tx_min_fee(p.base_fee, p.per_byte_fee, AG_TX_TRANSFER, NULL, 0, len, &f);
  return f;
}

/* Appends a signed transfer from keys[from] to keys[to] to out. fee 0 = the minimum. */
static void transfer(ag_app *app, ag_buf *out, int from, int to, uint64_t amount, uint64_t nonce,
                     uint64_t fee, const char *chain) {
  ag_buf p;
  ag_buf_init(&p);
  ag_transfer_encode(&p, keys[to].pk, amount);
  if (!fee) fee = min_fee(app, ag_tx_size(strlen(chain), p.len));
  ag_tx_build(out, AG_TX_TRANSFER, chain, &keys[from], nonce, fee, 0, p.data, (uint32_t)p.len);
  ag_buf_free(&p);
}

static uint64_t balance(ag_app *app, int i) {
  ag_account a;
  CHECK_OK(ag_app_account(app, keys[i].pk, &a));
  return a.balance;
}

static uint64_t nonce_of(ag_app *app, int i) {
  ag_account a;
  CHECK_OK(ag_app_account(app, keys[i].pk, &a));
  return a.nonce;
}

/* Runs one block of raw txs; returns the codes in res. */
static int run_block(ag_app *app, ag_buf *txs, size_t n, ag_result *res, uint8_t root[32]) {
  ag_app_info info;
  ag_app_info_get(app, &info);
  const uint8_t *ptr[64];
  uint32_t len[64];
  for (size_t i = 0; i < n; i++) {
    ptr[i] = txs[i].data;
    len[i] = (uint32_t)txs[i].len;
  }
  ag_block_ctx ctx = {info.height + 1, info.time_ms + 1000, {0}};
  int rc = ag_app_finalize_block(app, &ctx, ptr, len, n, res, root);
  if (rc) return rc;
  return ag_app_commit(app, NULL, 0, NULL);
}

static uint64_t sum_balances(ag_app *app) {
  uint64_t s = 0;
  for (int i = 0; i < NKEYS; i++) s += balance(app, i);
  return s;
}

TEST(genesis_and_idempotent_init) {
  char *dir;
  ag_app *app = fresh_app(&dir);
  ag_app_info info;
  CHECK_OK(ag_app_info_get(app, &info));
  CHECK(info.initialized);
  CHECK_EQ(info.height, 0);
  CHECK_STR(info.chain_id, CHAIN);
  CHECK_U64(balance(app, 3), START);
  ag_supply s;
  CHECK_OK(ag_app_supply(app, &s));
  CHECK_U64(s.issued, NKEYS * START);
  CHECK_U64(s.burned, 0);
  ag_genesis g;
  make_genesis(&g);
  uint8_t h[32];
  CHECK_OK(ag_app_init_chain(app, &g, h));
  CHECK_MEM(h, info.app_hash, 32);
  g.genesis_time_ms++;
  ag_genesis_rehash(&g);
  CHECK_EQ(ag_app_init_chain(app, &g, h), AG_E_GENESIS);
  ag_genesis_free(&g);
  ag_app_close(app);
  test_rmdir(dir);
}

TEST(transfer_moves_funds_and_burns_fee) {
  char *dir;
  ag_app *app = fresh_app(&dir);
  ag_buf tx[2];
  ag_buf_init(&tx[0]);
  ag_buf_init(&tx[1]);
  transfer(app, &tx[0], 0, 1, 5 * AG_UNIT, 0, 0, CHAIN);
  transfer(app, &tx[1], 0, 2, 7 * AG_UNIT, 1, 0, CHAIN);
  uint64_t fee = min_fee(app, tx[0].len);
  ag_result res[2];
  uint8_t root[32];
  CHECK_OK(run_block(app, tx, 2, res, root));
  CHECK_EQ(res[0].code, 0);
  CHECK_EQ(res[1].code, 0);
  CHECK_U64(balance(app, 0), START - 12 * AG_UNIT - 2 * fee);
  CHECK_U64(balance(app, 1), START + 5 * AG_UNIT);
  CHECK_U64(balance(app, 2), START + 7 * AG_UNIT);
  CHECK_U64(nonce_of(app, 0), 2);
  ag_supply s;
  ag_app_supply(app, &s);
  CHECK_U64(s.burned, 2 * fee);
  CHECK_U64(sum_balances(app) + s.burned, s.issued);
  ag_app_info info;
  ag_app_info_get(app, &info);
  CHECK_MEM(info.app_hash, root, 32);
  CHECK_EQ(info.height, 1);
  /* the tx index knows both */
  ag_tx_location loc;
  ag_tx tx1;
  ag_tx_decode(tx[1].data, tx[1].len, &tx1);
  CHECK_OK(ag_state_tx_lookup(ag_app_state(app), tx1.hash, &loc));
  CHECK_EQ(loc.height, 1);
  CHECK_EQ(loc.index, 1);
  CHECK_EQ(loc.code, 0);
  ag_buf_free(&tx[0]);
  ag_buf_free(&tx[1]);
  ag_app_close(app);
  test_rmdir(dir);
}

TEST(envelope_failures_change_nothing) {
  char *dir;
  ag_app *app = fresh_app(&dir);
  ag_app_info before;
  ag_app_info_get(app, &before);
  ag_buf tx[8];
  for (int i = 0; i < 8; i++) ag_buf_init(&tx[i]);
  transfer(app, &tx[0], 0, 1, AG_UNIT, 1, 0, CHAIN);         /* nonce gap */
  transfer(app, &tx[1], 0, 1, AG_UNIT, 0, 0, "other-chain"); /* wrong chain */
  transfer(app, &tx[2], 0, 1, AG_UNIT, 0, 1, CHAIN);         /* fee too low */
  transfer(app, &tx[3], 0, 1, AG_UNIT, 0, 0, CHAIN);
  tx[3].data[tx[3].len - 1] ^= 1;                             /* bad signature */
  ag_buf_put(&tx[4], "\x01\x01\x00", 3);                      /* truncated */
  transfer(app, &tx[5], 0, 1, AG_UNIT, 0, START * 2, CHAIN); /* cannot pay the fee */
  {
    ag_buf p;
    ag_buf_init(&p);
    ag_transfer_encode(&p, keys[1].pk, AG_UNIT);
    ag_tx_build(&tx[6], AG_TX_TRANSFER, CHAIN, &keys[0], 0, 1000000, 1, p.data,
                (uint32_t)p.len); /* expired: valid until height 1, included at 2 */
    ag_tx_build(&tx[7], 77, CHAIN, &keys[0], 0, 1000000, 0, p.data, (uint32_t)p.len);
    ag_buf_free(&p);
  }
  ag_result res[8];
  uint8_t root[32];
  /* first an empty block so that height 2 makes tx[6] expire */
  CHECK_OK(run_block(app, NULL, 0, res, root));
  CHECK_MEM(root, before.app_hash, 32); /* an empty block changes nothing either */
  CHECK_OK(run_block(app, tx, 8, res, root));
  int want[8] = {AG_E_TX_NONCE_GAP, AG_E_TX_CHAIN_ID,   AG_E_TX_FEE_LOW, AG_E_BAD_SIGNATURE,
                 AG_E_TRUNCATED,    AG_E_TX_BALANCE,    AG_E_TX_EXPIRED, AG_E_TX_KIND};
  for (int i = 0; i < 8; i++) CHECK_EQ(res[i].code, want[i]);
  CHECK(strstr(res[0].log, "next nonce is 0") != NULL);
  CHECK_MEM(root, before.app_hash, 32);
  CHECK_U64(nonce_of(app, 0), 0);
  CHECK_U64(balance(app, 0), START);
  /* a replay of an executed tx is refused */
  ag_buf ok;
  ag_buf_init(&ok);
  transfer(app, &ok, 0, 1, AG_UNIT, 0, 0, CHAIN);
  CHECK_OK(run_block(app, &ok, 1, res, root));
  CHECK_EQ(res[0].code, 0);
  ag_app_info mid;
  ag_app_info_get(app, &mid);
  CHECK_OK(run_block(app, &ok, 1, res, root));
  CHECK_EQ(res[0].code, AG_E_TX_NONCE_USED);
  CHECK_MEM(root, mid.app_hash, 32);
  ag_buf_free(&ok);
  for (int i = 0; i < 8; i++) ag_buf_free(&tx[i]);
  ag_app_close(app);
  test_rmdir(dir);
}

TEST(failed_action_pays_fee_only) {
  char *dir;
  ag_app *app = fresh_app(&dir);
  ag_buf tx;
  ag_buf_init(&tx);
  transfer(app, &tx, 0, 1, START, 0, 0, CHAIN); /* all of it: the fee leaves too little */
  uint64_t fee = min_fee(app, tx.len);
  ag_result res[1];
  uint8_t root[32];
  CHECK_OK(run_block(app, &tx, 1, res, root));
  CHECK_EQ(res[0].code, AG_E_TX_BALANCE);
  CHECK_U64(balance(app, 0), START - fee);
  CHECK_U64(balance(app, 1), START);
  CHECK_U64(nonce_of(app, 0), 1);
  ag_supply s;
  ag_app_supply(app, &s);
  CHECK_U64(sum_balances(app) + s.burned, s.issued);
  ag_buf_free(&tx);
  ag_app_close(app);
  test_rmdir(dir);
}

TEST(check_tx_sequences_nonces_and_balance) {
  char *dir;
  ag_app *app = fresh_app(&dir);
  ag_buf a, b, c, d;
  ag_buf_init(&a);
  ag_buf_init(&b);
  ag_buf_init(&c);
  ag_buf_init(&d);
  transfer(app, &a, 0, 1, 600 * AG_UNIT, 0, 0, CHAIN);
  transfer(app, &b, 0, 1, 600 * AG_UNIT, 1, 0, CHAIN); /* exceeds what is left after a */
  transfer(app, &c, 0, 1, 100 * AG_UNIT, 1, 0, CHAIN);
  transfer(app, &d, 0, 1, 100 * AG_UNIT, 3, 0, CHAIN); /* gap */
  ag_result r;
  ag_tx_meta m;
  CHECK_OK(ag_app_check_tx(app, a.data, a.len, AG_CHECK_NEW, &r, &m));
  CHECK_EQ(m.nonce, 0);
  CHECK_EQ(ag_app_check_tx(app, a.data, a.len, AG_CHECK_NEW, &r, &m), AG_E_TX_NONCE_USED);
  CHECK_EQ(ag_app_check_tx(app, b.data, b.len, AG_CHECK_NEW, &r, &m), AG_E_TX_BALANCE);
  CHECK(strstr(r.log, "available balance") != NULL);
  CHECK_EQ(ag_app_check_tx(app, d.data, d.len, AG_CHECK_NEW, &r, &m), AG_E_TX_NONCE_GAP);
  CHECK_OK(ag_app_check_tx(app, c.data, c.len, AG_CHECK_NEW, &r, &m));
  /* after a block with only a, c rechecks fine and b is still too much */
  ag_result res[1];
  uint8_t root[32];
  CHECK_OK(run_block(app, &a, 1, res, root));
  CHECK_OK(ag_app_check_tx(app, c.data, c.len, AG_CHECK_RECHECK, &r, &m));
  CHECK_EQ(ag_app_check_tx(app, b.data, b.len, AG_CHECK_RECHECK, &r, &m), AG_E_TX_NONCE_USED);
  ag_buf_free(&a);
  ag_buf_free(&b);
  ag_buf_free(&c);
  ag_buf_free(&d);
  ag_app_close(app);
  test_rmdir(dir);
}

TEST(multi_transfer) {
  char *dir;
  ag_app *app = fresh_app(&dir);
  ag_transfer v[3];
  for (int i = 0; i < 3; i++) {
    memcpy(v[i].to, keys[i + 1].pk, 32);
    v[i].amount = (uint64_t)(i + 1) * AG_UNIT;
  }
  ag_buf p, tx;
  ag_buf_init(&p);
  ag_buf_init(&tx);
  ag_multi_transfer_encode(&p, v, 3);
  uint64_t fee = min_fee(app, ag_tx_size(strlen(CHAIN), p.len));
  ag_tx_build(&tx, AG_TX_MULTI_TRANSFER, CHAIN, &keys[0], 0, fee, 0, p.data, (uint32_t)p.len);
  ag_result res[1];
  uint8_t root[32];
  CHECK_OK(run_block(app, &tx, 1, res, root));
  CHECK_EQ(res[0].code, 0);
  CHECK_U64(balance(app, 0), START - 6 * AG_UNIT - fee);
  CHECK_U64(balance(app, 3), START + 3 * AG_UNIT);
  ag_buf_free(&p);
  ag_buf_free(&tx);
  ag_app_close(app);
  test_rmdir(dir);
}

/* Random transfers over many blocks: supply is conserved, a second node replaying the same
 * blocks reaches the same root at every height, and a restart rebuilds the same tree. */
TEST(property_supply_replay_restart) {
  char *d1, *d2;
  ag_app *a = fresh_app(&d1), *b = fresh_app(&d2);
  uint64_t seed = 7, nonces[NKEYS] = {0};
  for (int blk = 0; blk < 25; blk++) {
    ag_buf tx[20];
    size_t n = test_rand(&seed) % 20;
    for (size_t i = 0; i < n; i++) {
      ag_buf_init(&tx[i]);
      int from = (int)(test_rand(&seed) % NKEYS), to = (int)(test_rand(&seed) % NKEYS);
      uint64_t amount = 1 + test_rand(&seed) % (300 * AG_UNIT);
      uint64_t nonce = nonces[from];
      if (test_rand(&seed) % 10 == 0) nonce += 1; /* some gaps */
      transfer(a, &tx[i], from, to, amount, nonce, 0, CHAIN);
      ag_result r;
      if (ag_app_check_tx(a, tx[i].data, tx[i].len, AG_CHECK_NEW, &r, NULL) == 0) nonces[from]++;
    }
    ag_result res[20];
    uint8_t ra[32], rb[32];
    CHECK_OK(run_block(a, tx, n, res, ra));
    CHECK_OK(run_block(b, tx, n, res, rb));
    CHECK_MEM(ra, rb, 32);
    ag_supply s;
    ag_app_supply(a, &s);
    CHECK_U64(sum_balances(a) + s.burned, s.issued);
    for (size_t i = 0; i < n; i++) ag_buf_free(&tx[i]);
  }
  ag_app_info ia;
  ag_app_info_get(a, &ia);
  ag_app_close(a);
  a = open_app(d1); /* rebuilds the tree from LMDB and checks it against the stored root */
  CHECK(a != NULL);
  if (a) {
    ag_app_info ib;
    ag_app_info_get(a, &ib);
    CHECK_MEM(ia.app_hash, ib.app_hash, 32);
    CHECK_EQ(ia.height, ib.height);
  }
  ag_app_close(a);
  ag_app_close(b);
  test_rmdir(d1);
  test_rmdir(d2);
}

TEST(proof_of_account) {
  char *dir;
  ag_app *app = fresh_app(&dir);
  ag_account acct;
  int present;
  uint64_t h;
  ag_smt_proof *p = malloc(sizeof *p);
  uint8_t root[32], key[33], vh[32], hk[32], v[16];
  CHECK_OK(ag_app_account_proof(app, keys[2].pk, &acct, &present, p, root, &h));
  CHECK(present);
  CHECK_U64(acct.balance, START);
  key[0] = AG_KEY_ACCOUNT;
  memcpy(key + 1, keys[2].pk, 32);
  ag_state_hkey(key, 33, hk);
  ag_put_u64le(v, acct.balance);
  ag_put_u64le(v + 8, acct.nonce);
  ag_state_value_hash(v, 16, vh);
  CHECK_OK(ag_smt_verify(root, hk, vh, p));
  ag_keypair stranger;
  test_key(&stranger, 999);
  CHECK_OK(ag_app_account_proof(app, stranger.pk, &acct, &present, p, root, &h));
  CHECK(!present);
  memcpy(key + 1, stranger.pk, 32);
  ag_state_hkey(key, 33, hk);
  CHECK_OK(ag_smt_verify(root, hk, NULL, p));
  free(p);
  ag_app_close(app);
  test_rmdir(dir);
}

/* With "state_versions" 3, an account is proved as it was at each of the last 3 heights (the
 * balance it had then, against that height's root); older and future heights are refused. With
 * the default (1), only the last height is kept. */
TEST(proofs_of_earlier_heights) {
  char *dir;
  ag_app *app = fresh_app(&dir);
  ag_state_set_versions(ag_app_state(app), 3);
  uint64_t bal[8];
  uint8_t roots[8][32];
  ag_smt_proof *p = malloc(sizeof *p);
  ag_app_info info;
  ag_app_info_get(app, &info);
  bal[0] = balance(app, 1);
  memcpy(roots[0], info.app_hash, 32);
  for (uint64_t h = 1; h <= 6; h++) {
    ag_buf tx;
    ag_buf_init(&tx);
    transfer(app, &tx, 0, 1, h * AG_UNIT, h - 1, 0, CHAIN);
    ag_result res;
    CHECK_OK(run_block(app, &tx, 1, &res, roots[h]));
    CHECK_EQ(res.code, 0);
    bal[h] = balance(app, 1);
    ag_buf_free(&tx);
  }
  for (uint64_t at = 0; at <= 7; at++) {
    ag_account acct;
    int present = 0;
    uint64_t got_h = 99;
    uint8_t root[32];
    int rc = ag_app_account_proof_at(app, keys[1].pk, at, &acct, &present, p, root, &got_h);
    if (at < 4 || at > 6) {
      CHECK_EQ(rc, AG_E_NOTFOUND);
      continue;
    }
    CHECK_OK(rc);
    CHECK(present);
    CHECK_U64(got_h, at);
    CHECK_U64(acct.balance, bal[at]);
    CHECK_MEM(root, roots[at], 32);
    uint8_t key[33], hk[32], v[16], vh[32];
    ag_account_key(keys[1].pk, key);
    ag_state_hkey(key, 33, hk);
    ag_account_encode(&acct, v);
    ag_state_value_hash(v, 16, vh);
    CHECK_OK(ag_smt_verify(root, hk, vh, p));
  }
  ag_app_close(app);
  /* the default keeps the last height only */
  app = open_app(dir);
  ag_account acct;
  int present;
  uint64_t got_h;
  uint8_t root[32];
  ag_buf tx;
  ag_buf_init(&tx);
  transfer(app, &tx, 0, 1, AG_UNIT, 6, 0, CHAIN);
  ag_result res;
  CHECK_OK(run_block(app, &tx, 1, &res, roots[7]));
  ag_buf_free(&tx);
  CHECK_OK(ag_app_account_proof_at(app, keys[1].pk, 7, &acct, &present, p, root, &got_h));
  CHECK_EQ(ag_app_account_proof_at(app, keys[1].pk, 6, &acct, &present, p, root, &got_h), AG_E_NOTFOUND);
  free(p);
  ag_app_close(app);
  test_rmdir(dir);
}

/* Any single-byte change to a valid tx makes a block that changes nothing. */
TEST(property_mutated_txs_change_nothing) {
  char *dir;
  ag_app *app = fresh_app(&dir);
  ag_app_info before;
  ag_app_info_get(app, &before);
  ag_buf good;
  ag_buf_init(&good);
  transfer(app, &good, 0, 1, 3 * AG_UNIT, 0, 0, CHAIN);
  uint64_t seed = 99;
  for (int i = 0; i < 150; i++) {
    ag_buf bad;
    ag_buf_init(&bad);
    ag_buf_put(&bad, good.data, good.len);
    size_t at = test_rand(&seed) % bad.len;
    bad.data[at] ^= (uint8_t)(1 + test_rand(&seed) % 255);
    if (i % 10 == 0) bad.len = test_rand(&seed) % good.len; /* truncations too */
    ag_result r;
    CHECK(ag_app_check_tx(app, bad.data, bad.len, AG_CHECK_NEW, &r, NULL) != 0);
    ag_result res[1];
    uint8_t root[32];
    CHECK_OK(run_block(app, &bad, 1, res, root));
    CHECK(res[0].code != 0);
    CHECK_MEM(root, before.app_hash, 32);
    ag_buf_free(&bad);
  }
  ag_buf_free(&good);
  ag_app_close(app);
  test_rmdir(dir);
}

TEST(generic_query) {
  char *dir;
  ag_app *app = fresh_app(&dir);
  ag_query_result q;
  memset(&q, 0, sizeof q);
  ag_buf_init(&q.value);
  CHECK_OK(ag_app_query(app, "account", keys[1].pk, 32, 1, &q));
  CHECK(q.found);
  CHECK_EQ(q.value.len, 16);
  CHECK_U64(ag_get_u64le(q.value.data), START);
  uint8_t vh[32];
  ag_state_value_hash(q.value.data, q.value.len, vh);
  CHECK_OK(ag_smt_verify(q.root, q.key_hash, vh, &q.proof));
  CHECK_OK(ag_app_query(app, "key", (const uint8_t *)"g/chain_id", 10, 0, &q));
  CHECK(q.found);
  CHECK_EQ(q.value.len, strlen(CHAIN));
  CHECK_OK(ag_app_query(app, "key", (const uint8_t *)"nope", 4, 1, &q));
  CHECK(!q.found);
  CHECK_OK(ag_smt_verify(q.root, q.key_hash, NULL, &q.proof));
  CHECK_EQ(ag_app_query(app, "bogus", NULL, 0, 0, &q), AG_E_INVALID);
  CHECK_EQ(ag_app_query(app, "account", keys[1].pk, 31, 0, &q), AG_E_INVALID);
  ag_buf_free(&q.value);
  ag_app_close(app);
  test_rmdir(dir);
}

TEST(second_process_is_locked_out) {
  char *dir;
  ag_app *app = fresh_app(&dir);
  ag_app *other = NULL;
  CHECK_EQ(ag_app_open(dir, &other), AG_E_LOCKED);
  ag_app_close(app);
  test_rmdir(dir);
}

TEST_MAIN(genesis_and_idempotent_init, transfer_moves_funds_and_burns_fee,
          envelope_failures_change_nothing, failed_action_pays_fee_only,
          check_tx_sequences_nonces_and_balance, multi_transfer, property_supply_replay_restart,
          proof_of_account, proofs_of_earlier_heights, property_mutated_txs_change_nothing, generic_query,
          second_process_is_locked_out)
