/* test_history.c — the history indexes (docs/api.md "History") through the real state machine:
 * an account's txs (every tx it signed or is named in, failed ones too, never a forged one),
 * newest first and paged exactly; an epoch's metagraph per subnet; nothing from a block that
 * was never committed; everything after the store is closed and opened again; nothing when
 * history is off. A property test checks the account index against a model over random blocks. */
#define TC_KEYS 8
#include "testchain.h"

#include "core/hash.h"

typedef struct {
  uint64_t height;
  uint32_t index;
  int sent;
} entry;

typedef struct {
  entry e[4096];
  int n;
} account_log;

static account_log want[TC_KEYS];

static int collect(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  account_log *got = ctx;
  CHECK_EQ(klen, 45);
  CHECK_EQ(vlen, 39);
  if (got->n < 4096) got->e[got->n++] = (entry){ag_get_u64be(key + 33), ag_get_u32be(key + 41), val[38]};
  return 0;
}

/* An account's history, newest first, read in pages of `page` through the before cursor. */
static void read_all(const uint8_t pk[32], size_t page, account_log *got) {
  uint8_t prefix[33], before[45];
  prefix[0] = AG_HIST_ACCOUNT_TX;
  memcpy(prefix + 1, pk, 32);
  got->n = 0;
  for (;;) {
    int had = got->n;
    if (!had) {
      CHECK_OK(ag_state_hist_scan(ag_app_state(app), prefix, 33, NULL, 0, page, collect, got));
    } else {
      memcpy(before, prefix, 33);
      ag_put_u64be(before + 33, got->e[had - 1].height);
      ag_put_u32be(before + 41, got->e[had - 1].index);
      CHECK_OK(ag_state_hist_scan(ag_app_state(app), prefix, 33, before, 45, page, collect, got));
    }
    if ((size_t)(got->n - had) < page) break;
  }
}

static void expect_logs(size_t page) {
  for (int k = 0; k < TC_KEYS; k++) {
    static account_log got;
    read_all(K[k].pk, page, &got);
    CHECK_EQ(got.n, want[k].n);
    for (int i = 0; i < got.n && i < want[k].n; i++) { /* want is oldest first */
      const entry *w = &want[k].e[want[k].n - 1 - i];
      CHECK_U64(got.e[i].height, w->height);
      CHECK_EQ(got.e[i].index, w->index);
      CHECK_EQ(got.e[i].sent, w->sent);
    }
  }
}

static void note(int k, uint64_t h, uint32_t i, int sent) {
  account_log *l = &want[k];
  if (l->n && l->e[l->n - 1].height == h && l->e[l->n - 1].index == i) return; /* named twice */
  l->e[l->n++] = (entry){h, i, sent};
}

TEST(every_tx_is_in_the_history_of_everyone_it_names_newest_first) {
  memset(want, 0, sizeof want);
  tc_setup("{}", 900);
  uint64_t seed = 77, nonces[TC_KEYS] = {0};
  for (int b = 0; b < 40; b++) {
    ag_buf txs[12];
    int codes[12], n = (int)(test_rand(&seed) % 12), from[12], to[12][3], nto[12], forged[12];
    uint64_t h = tc_height() + 1;
    for (int i = 0; i < n; i++) {
      int s = (int)(test_rand(&seed) % TC_KEYS);
      from[i] = s;
      forged[i] = test_rand(&seed) % 9 == 0;
      ag_buf p;
      ag_buf_init(&p);
      uint64_t amount = test_rand(&seed) % 4 == 0 ? 2 * TC_START : 1 + test_rand(&seed) % 1000; /* some fail */
      if (test_rand(&seed) % 3) {
        nto[i] = 1;
        to[i][0] = (int)(test_rand(&seed) % TC_KEYS);
        ag_transfer_encode(&p, K[to[i][0]].pk, amount);
      } else {
        ag_transfer v[3];
        nto[i] = 1 + (int)(test_rand(&seed) % 3);
        for (int j = 0; j < nto[i]; j++) {
          to[i][j] = (int)(test_rand(&seed) % TC_KEYS);
          memcpy(v[j].to, K[to[i][j]].pk, 32);
          v[j].amount = amount;
        }
        ag_multi_transfer_encode(&p, v, (uint16_t)nto[i]);
      }
      ag_buf_init(&txs[i]);
      uint16_t kind = nto[i] == 1 && p.len == 40 ? AG_TX_TRANSFER : AG_TX_MULTI_TRANSFER;
      /* a forged tx names s as sender but another key signs it: s never sent it */
      ag_keypair *signer = forged[i] ? &K[(s + 1) % TC_KEYS] : &K[s];
      ag_buf full;
      ag_buf_init(&full);
      ag_tx_build(&full, kind, TC_CHAIN, signer, nonces[s], TC_FEE, 0, p.data, (uint32_t)p.len);
      if (forged[i]) memcpy(full.data + 1 + 2 + 1 + strlen(TC_CHAIN), K[s].pk, 32); /* the sender field */
      ag_buf_put(&txs[i], full.data, full.len);
      ag_buf_free(&full);
      ag_buf_free(&p);
      if (!forged[i]) nonces[s]++;
    }
    tc_block(txs, (size_t)n, codes);
    for (int i = 0; i < n; i++) {
      ag_buf_free(&txs[i]);
      if (forged[i]) {
        CHECK(codes[i] != 0);
        continue;
      }
      if (codes[i] && codes[i] != AG_E_TX_BALANCE) fprintf(stderr, "  tx %d: %s\n", i, ag_err_name(codes[i]));
      note(from[i], h, (uint32_t)i, 1);
      for (int j = 0; j < nto[i]; j++)
        if (to[i][j] != from[i]) {
          int seen = 0;
          for (int q = 0; q < j; q++) seen |= to[i][q] == to[i][j];
          if (!seen) note(to[i][j], h, (uint32_t)i, 0);
        }
    }
  }
  int total = 0;
  for (int k = 0; k < TC_KEYS; k++) total += want[k].n;
  CHECK(total > 100);
  expect_logs(1000);
  expect_logs(3); /* paging gives the same list, nothing twice, nothing skipped */
  expect_logs(1);
  /* kept with the block: the same after the store is closed and opened again */
  ag_app_close(app);
  CHECK_OK(ag_app_open(tc_dir, &app));
  ag_incentive_attach(app);
  ag_economy_attach(app);
  expect_logs(7);
  tc_teardown();
}

TEST(a_block_never_committed_leaves_no_history_and_off_writes_none) {
  memset(want, 0, sizeof want);
  tc_setup("{}", 910);
  ag_buf p, tx;
  ag_buf_init(&p);
  ag_buf_init(&tx);
  ag_transfer_encode(&p, K[1].pk, 5);
  ag_tx_build(&tx, AG_TX_TRANSFER, TC_CHAIN, &K[0], 0, TC_FEE, 0, p.data, (uint32_t)p.len);
  /* finalized, then replaced by another block at the same height (a new round): dropped */
  const uint8_t *raw[1] = {tx.data};
  uint32_t len[1] = {(uint32_t)tx.len};
  ag_result r[1];
  uint8_t root[32];
  ag_block_ctx ctx = {1, 1700000001000ULL, {0}};
  CHECK_OK(ag_app_finalize_block(app, &ctx, raw, len, 1, r, root));
  CHECK_OK(ag_app_finalize_block(app, &ctx, NULL, NULL, 0, NULL, root));
  CHECK_OK(ag_app_commit(app, NULL, 0, NULL));
  expect_logs(10);
  /* history off: the tx commits, its history is not written */
  ag_app_set_history(app, 0);
  tc_block(&tx, 1, NULL);
  CHECK_U64(tc_account(K[0].pk).nonce, 1);
  expect_logs(10);
  ag_app_set_history(app, 1);
  ag_buf_free(&tx);
  ag_buf_init(&tx);
  ag_tx_build(&tx, AG_TX_TRANSFER, TC_CHAIN, &K[0], 1, TC_FEE, 0, p.data, (uint32_t)p.len);
  tc_block(&tx, 1, NULL);
  note(0, tc_height(), 0, 1);
  note(1, tc_height(), 0, 0);
  expect_logs(10);
  ag_buf_free(&tx);
  ag_buf_free(&p);
  tc_teardown();
}

static int count_rows(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  (void)key, (void)klen, (void)val, (void)vlen;
  ++*(int *)ctx;
  return 0;
}

TEST(a_multi_transfer_is_in_all_of_its_recipients_histories) {
  tc_setup("{}", 930);
  ag_transfer v[256];
  for (int i = 0; i < 256; i++) {
    ag_keypair k;
    test_key(&k, 5000 + i);
    memcpy(v[i].to, k.pk, 32);
    v[i].amount = 1;
  }
  ag_buf p;
  ag_buf_init(&p);
  ag_multi_transfer_encode(&p, v, 256);
  CHECK_OK(tc_run_key(&K[0], AG_TX_MULTI_TRANSFER, &p));
  int missing = 0;
  for (int i = 0; i < 256; i++) {
    uint8_t prefix[33] = {AG_HIST_ACCOUNT_TX};
    memcpy(prefix + 1, v[i].to, 32);
    int n = 0;
    CHECK_OK(ag_state_hist_scan(ag_app_state(app), prefix, 33, NULL, 0, 10, count_rows, &n));
    missing += n != 1;
  }
  CHECK_EQ(missing, 0); /* the last recipient as much as the first */
  tc_teardown();
}

typedef struct {
  uint64_t epoch[64], block[64];
  uint32_t n[64];
  int count;
} epochs;

static int epoch_of(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  epochs *e = ctx;
  CHECK_EQ(klen, 11);
  CHECK(vlen >= 18);
  if (e->count < 64) {
    e->epoch[e->count] = ag_get_u64be(key + 3);
    e->block[e->count] = ag_get_u64le(val);
    e->n[e->count] = ag_get_u16le(val + 16);
    CHECK_EQ(vlen, 18 + (size_t)e->n[e->count] * 56);
    e->count++;
  }
  return 0;
}

TEST(each_epoch_keeps_its_metagraph) {
  char m[512], owner[AG_ADDR_MAX];
  test_key(&K[0], 920);
  ag_addr_encode(K[0].pk, owner);
  snprintf(m, sizeof m,
           "{\"incentive\":{\"block_reward\":\"1000\",\"burn_initial\":\"1000\",\"burn_min\":\"1000\",\"burn_max\":\"1000\","
           "\"subnets\":[{\"name\":\"a\",\"owner\":\"%s\",\"hyperparams\":{\"tempo\":3,\"immunity_period\":100000}}]}}",
           owner);
  tc_setup(m, 920);
  CHECK_OK(tc_register(&K[1], &K[2], 1)); /* two neurons */
  CHECK_OK(tc_register(&K[1], &K[3], 1));
  tc_empty_blocks(12);
  epochs e = {0};
  uint8_t prefix[3] = {AG_HIST_EPOCH, 0, 1};
  CHECK_OK(ag_state_hist_scan(ag_app_state(app), prefix, 3, NULL, 0, 64, epoch_of, &e));
  CHECK(e.count >= 3);
  for (int i = 0; i < e.count; i++) {
    if (i) CHECK_U64(e.epoch[i], e.epoch[i - 1] - 1); /* newest first, none missing */
    if (i) CHECK(e.block[i] < e.block[i - 1]);
  }
  CHECK_EQ(e.n[0], 2); /* both neurons in the latest */
  /* the record is the epoch's: the neurons' stored emission after it */
  tc_teardown();
}

/* Retention ("history_keep_blocks"): each commit deletes the history of blocks past the
 * horizon, the lists it finds them by too; a horizon lowered later catches up. */
TEST(history_past_the_horizon_is_pruned) {
  memset(want, 0, sizeof want);
  tc_setup("{}", 940);
  ag_state_set_history_keep(ag_app_state(app), 5);
  ag_buf p, tx;
  ag_buf_init(&p);
  ag_transfer_encode(&p, K[1].pk, 5);
  for (uint64_t i = 0; i < 20; i++) {
    ag_buf_init(&tx);
    ag_tx_build(&tx, AG_TX_TRANSFER, TC_CHAIN, &K[0], i, TC_FEE, 0, p.data, (uint32_t)p.len);
    tc_block(&tx, 1, NULL);
    ag_buf_free(&tx);
  }
  uint64_t h = tc_height();
  static account_log got;
  read_all(K[0].pk, 100, &got);
  CHECK_EQ(got.n, 5); /* the last five blocks' */
  for (int i = 0; i < got.n; i++) CHECK_U64(got.e[i].height, h - (uint64_t)i);
  uint8_t list[1] = {AG_STATE_HIST_LIST};
  int lists = 0;
  CHECK_OK(ag_state_hist_scan(ag_app_state(app), list, 1, NULL, 0, 100, count_rows, &lists));
  CHECK_EQ(lists, 5);
  /* a shorter horizon: the next commit drops everything past it */
  ag_state_set_history_keep(ag_app_state(app), 2);
  tc_empty_blocks(1);
  read_all(K[1].pk, 100, &got);
  CHECK_EQ(got.n, 1); /* block h; h + 1 had no tx */
  CHECK_U64(got.n ? got.e[0].height : 0, h);
  lists = 0;
  CHECK_OK(ag_state_hist_scan(ag_app_state(app), list, 1, NULL, 0, 100, count_rows, &lists));
  CHECK_EQ(lists, 1);
  ag_buf_free(&p);
  tc_teardown();
}

TEST_MAIN(every_tx_is_in_the_history_of_everyone_it_names_newest_first,
          a_block_never_committed_leaves_no_history_and_off_writes_none,
          a_multi_transfer_is_in_all_of_its_recipients_histories, each_epoch_keeps_its_metagraph,
          history_past_the_horizon_is_pruned)
