/* test_mempool.c — the mempool's fee rule (chain/mempool.h): blocks filled by fee per byte
 * with each sender's nonce order kept, eviction of the cheapest sender tail when full, the
 * refusal naming the fee that gets in, check_tx's view given back after an eviction, and
 * CometBFT's PrepareProposal ordering by the same rule. A model of the rule, written the slow
 * and obvious way, checks the pool through random operations. The bounded set of ids that
 * CometBFT mode keeps of CometBFT's mempool (chain/txset.h) is checked against a list. */
#include "chain/app.h"
#include "chain/mempool.h"
#include "chain/txset.h"
#include "consensus/abci.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "test.h"
#include "testutil.h"

#define CHAIN "agora-test"
#define NKEYS 4
#define START (1000ULL * AG_UNIT)

/* ---- pool-level helpers: synthetic entries (the pool checks no signatures) -------------- */

static uint64_t tag_seq;

static void meta_for(ag_tx_meta *m, unsigned sender, uint64_t nonce, uint64_t fee) {
  memset(m, 0, sizeof *m);
  uint64_t tag = ++tag_seq;
  ag_hash("agora/test", &tag, 8, m->hash);
  m->sender[0] = (uint8_t)sender;
  m->sender[1] = (uint8_t)(sender >> 8);
  m->sender[31] = 0xa5;
  memcpy(m->payer, m->sender, 32);
  m->nonce = nonce;
  m->fee = fee;
  m->cost = fee;
}

static uint8_t raw_buf[70000];

static int add(ag_mempool *mp, unsigned sender, uint64_t nonce, uint64_t fee, size_t len,
               size_t *ev, uint8_t hash[32]) {
  ag_tx_meta m;
  meta_for(&m, sender, nonce, fee);
  if (hash) memcpy(hash, m.hash, 32);
  size_t dummy;
  return ag_mempool_add(mp, raw_buf, len, &m, ev ? ev : &dummy);
}

static unsigned sender_of(const ag_mempool_entry *e) {
  return (unsigned)e->sender[0] | (unsigned)e->sender[1] << 8;
}

TEST(reap_orders_by_fee_per_byte_keeping_nonce_order) {
  ag_mempool_limits lim = {100, 1 << 20, 100};
  ag_mempool *mp = ag_mempool_new(&lim);
  /* sender 1: a cheap tx, then one paying the most per byte: it must wait for the first */
  CHECK_OK(add(mp, 1, 0, 100, 100, NULL, NULL));   /* 1 per byte */
  CHECK_OK(add(mp, 1, 1, 2500, 50, NULL, NULL));   /* 50 per byte */
  CHECK_OK(add(mp, 2, 0, 500, 100, NULL, NULL));   /* 5 per byte */
  CHECK_OK(add(mp, 3, 0, 1000, 200, NULL, NULL));  /* 5 per byte, later: after sender 2 */
  CHECK_OK(add(mp, 4, 0, 299, 100, NULL, NULL));   /* 2.99 */
  /* 10 per byte exactly, then 10.0001 per byte arriving later: integer division would call
   * them equal and keep arrival order; the exact comparison does not */
  CHECK_OK(add(mp, 5, 0, 1000, 100, NULL, NULL));
  CHECK_OK(add(mp, 6, 0, 100001, 10000, NULL, NULL));
  const ag_mempool_entry **e;
  size_t n = ag_mempool_reap(mp, 1 << 20, 100, &e);
  CHECK_EQ(n, 7);
  static const unsigned want_sender[7] = {6, 5, 2, 3, 4, 1, 1};
  static const uint64_t want_nonce[7] = {0, 0, 0, 0, 0, 0, 1};
  for (size_t i = 0; i < n && i < 7; i++) {
    CHECK_EQ(sender_of(e[i]), want_sender[i]);
    CHECK_U64(e[i]->nonce, want_nonce[i]);
  }
  /* max_txs */
  CHECK_EQ(ag_mempool_reap(mp, 1 << 20, 3, &e), 3);
  CHECK_EQ(sender_of(e[2]), 2);
  /* a head that does not fit leaves its sender out while smaller txs of others fill the
   * room: 10,350 bytes take 6 (10,000), 5 and 2 (100 each); 3 (200) does not fit in the 150
   * left, 4 (100) does; sender 1's head (100) does not fit in the last 50, so its second tx
   * (50 bytes, 50 per byte) stays out too */
  n = ag_mempool_reap(mp, 10350, 100, &e);
  CHECK_EQ(n, 4);
  if (n == 4) CHECK_EQ(sender_of(e[3]), 4);
  n = ag_mempool_reap(mp, 10400, 100, &e); /* 200 left after 6, 5 and 2: 3 fits */
  CHECK_EQ(n, 4);
  if (n == 4) CHECK_EQ(sender_of(e[3]), 3);
  /* only sender 1's 50-byte second tx would fit, but its head does not */
  CHECK_EQ(ag_mempool_reap(mp, 99, 100, &e), 0);
  CHECK_EQ(ag_mempool_reap(mp, 0, 100, &e), 0);
  ag_mempool_free(mp);
}

TEST(exact_comparison_in_128_bits) {
  ag_mempool_entry a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  /* UINT64_MAX / 200 < (UINT64_MAX - 1) / 199: the products overflow 64 bits */
  a.fee = UINT64_MAX;
  a.len = 200;
  a.seq = 0;
  b.fee = UINT64_MAX - 1;
  b.len = 199;
  b.seq = 1;
  CHECK(ag_mempool_better(&b, &a));
  CHECK(!ag_mempool_better(&a, &b));
  /* equal rates: the earlier arrival is better */
  b.fee = 10;
  b.len = 1;
  a.fee = 2000;
  a.len = 200;
  CHECK(ag_mempool_better(&a, &b));
  CHECK(!ag_mempool_better(&b, &a));
}

/* The attack: minimum-fee txs from many senders fill the pool. The old pool refused anyone
 * whose sender would not hold fewer txs than the biggest sender, and filled blocks in arrival
 * order, so a tx paying more waited behind all the spam, or was not let in at all. */
TEST(spam_cannot_keep_a_better_fee_out) {
  ag_mempool_limits lim = {60, 1 << 20, 10};
  ag_mempool *mp = ag_mempool_new(&lim);
  const size_t len = 178;
  const uint64_t min = 1000 + 10 * len;
  for (unsigned s = 0; s < 60; s++) CHECK_OK(add(mp, 100 + s, 0, min, len, NULL, NULL));
  CHECK_EQ(ag_mempool_size(mp), 60);
  uint8_t honest[32], newest_spam[32];
  /* the newest spam tx is the cheapest tail (all equal: the newest goes first) */
  const ag_mempool_entry **e;
  size_t n = ag_mempool_reap(mp, 1 << 20, 100, &e);
  CHECK_EQ(n, 60);
  memcpy(newest_spam, e[n - 1]->hash, 32);
  CHECK_EQ(sender_of(e[n - 1]), 159);
  size_t ev = 0;
  CHECK_OK(add(mp, 7, 0, min + 1, len, &ev, honest));
  CHECK_EQ(ev, 1);
  CHECK_EQ(ag_mempool_size(mp), 60);
  CHECK(ag_mempool_contains(mp, honest));
  CHECK(!ag_mempool_contains(mp, newest_spam));
  /* and it goes first into the next block, however small the block */
  n = ag_mempool_reap(mp, 1 << 20, 1, &e);
  CHECK_EQ(n, 1);
  if (n) CHECK_MEM(e[0]->hash, honest, 32);
  ag_mempool_free(mp);
}

/* Spam senders with chains of txs: eviction takes tails only, so every sender keeps a
 * gap-free run of nonces from its first; by bytes too, where one big newcomer needs several. */
TEST(eviction_takes_tails_and_never_strands_nonces) {
  ag_mempool_limits lim = {1000, 60 * 200, 10};
  ag_mempool *mp = ag_mempool_new(&lim);
  for (unsigned s = 0; s < 20; s++)
    for (uint64_t k = 0; k < 3; k++) CHECK_OK(add(mp, 100 + s, k, 2000, 200, NULL, NULL));
  CHECK_EQ(ag_mempool_bytes(mp), 60 * 200);
  /* 1,000 bytes need five 200-byte victims; 11 per byte beats 10 */
  size_t ev = 0;
  CHECK_OK(add(mp, 7, 0, 11000, 1000, &ev, NULL));
  CHECK_EQ(ev, 5);
  CHECK(ag_mempool_bytes(mp) <= 60 * 200);
  /* the newest tails went first: sender 119's three, then sender 118's two newest */
  const ag_mempool_entry **e;
  size_t n = ag_mempool_reap(mp, 1 << 20, 1000, &e);
  CHECK_EQ(n, 56);
  uint64_t next[20] = {0};
  int gapless = 1;
  for (size_t i = 0; i < n; i++) {
    unsigned s = sender_of(e[i]);
    if (s == 7) continue;
    if (s < 100 || s >= 120 || e[i]->nonce != next[s - 100]) gapless = 0;
    else next[s - 100]++;
  }
  CHECK(gapless);
  CHECK_U64(next[19], 0);
  CHECK_U64(next[18], 1);
  CHECK_U64(next[17], 3);
  CHECK_EQ(sender_of(e[0]), 7);
  ag_mempool_free(mp);
}

TEST(cheap_newcomer_is_refused_with_the_fee_that_gets_in) {
  ag_mempool_limits lim = {10, 10 * 150, 10};
  ag_mempool *mp = ag_mempool_new(&lim);
  uint8_t h[10][32];
  for (unsigned s = 0; s < 10; s++)
    CHECK_OK(add(mp, 100 + s, 0, 1500 + (s == 3 ? 500 : 0), 150, NULL, h[s])); /* 10 per byte */
  /* as much per byte as the cheapest is not enough: strictly more is */
  size_t ev = 99;
  CHECK_EQ(add(mp, 7, 0, 1500, 150, &ev, NULL), AG_E_MEMPOOL_FULL);
  CHECK_EQ(ev, 0);
  const char *msg = ag_errmsg(AG_E_MEMPOOL_FULL);
  CHECK(strstr(msg, "more than 10.000 base units per byte") != NULL);
  CHECK(strstr(msg, "a fee of at least 1501") != NULL);
  CHECK(strstr(msg, "it pays 1500") != NULL);
  /* a 300-byte newcomer needs two victims; either would do at 10 per byte: at least 3001 */
  CHECK_EQ(add(mp, 7, 0, 3000, 300, &ev, NULL), AG_E_MEMPOOL_FULL);
  CHECK(strstr(ag_errmsg(AG_E_MEMPOOL_FULL), "a fee of at least 3001") != NULL);
  /* the refusals changed nothing */
  CHECK_EQ(ag_mempool_size(mp), 10);
  CHECK_EQ(ag_mempool_bytes(mp), 1500);
  for (int s = 0; s < 10; s++) CHECK(ag_mempool_contains(mp, h[s]));
  /* a 1,400-byte newcomer needs every tx out, the 2000-fee one too: the message names that
   * one's rate */
  CHECK_EQ(add(mp, 7, 0, 13000, 1400, &ev, NULL), AG_E_MEMPOOL_FULL);
  CHECK(strstr(ag_errmsg(AG_E_MEMPOOL_FULL), "more than 13.333 base units per byte") != NULL);
  CHECK(strstr(ag_errmsg(AG_E_MEMPOOL_FULL), "a fee of at least 18667") != NULL);
  CHECK_EQ(ag_mempool_size(mp), 10);
  /* the fee the message named gets in */
  CHECK_OK(add(mp, 7, 0, 1501, 150, &ev, NULL));
  CHECK_EQ(ev, 1);
  CHECK(!ag_mempool_contains(mp, h[9])); /* the newest of the cheapest */
  ag_mempool_free(mp);
}

TEST(newcomer_never_evicts_its_own_sender) {
  ag_mempool_limits lim = {6, 1 << 20, 10};
  ag_mempool *mp = ag_mempool_new(&lim);
  uint8_t own[3][32];
  for (uint64_t k = 0; k < 3; k++) CHECK_OK(add(mp, 1, k, 100, 100, NULL, own[k])); /* 1/byte */
  for (unsigned s = 0; s < 3; s++) CHECK_OK(add(mp, 10 + s, 0, 1000, 100, NULL, NULL));
  /* sender 1's next tx pays 100 per byte: its own cheap tail is not a candidate */
  size_t ev = 0;
  CHECK_OK(add(mp, 1, 3, 10000, 100, &ev, NULL));
  CHECK_EQ(ev, 1);
  for (int k = 0; k < 3; k++) CHECK(ag_mempool_contains(mp, own[k]));
  ag_mempool_free(mp);
  /* a pool holding only the sender's own txs has nothing it may evict */
  mp = ag_mempool_new(&lim);
  for (uint64_t k = 0; k < 6; k++) CHECK_OK(add(mp, 1, k, 100, 100, NULL, NULL));
  CHECK_EQ(add(mp, 1, 6, 100000, 100, &ev, NULL), AG_E_MEMPOOL_FULL);
  CHECK(strstr(ag_errmsg(AG_E_MEMPOOL_FULL), "no other sender's txs") != NULL);
  /* while any other sender's newcomer paying more gets in */
  CHECK_OK(add(mp, 2, 0, 200, 100, &ev, NULL));
  CHECK_EQ(ev, 1);
  ag_mempool_free(mp);
}

TEST(per_sender_cap_duplicates_and_removal) {
  ag_mempool_limits lim = {100, 1 << 20, 5};
  ag_mempool *mp = ag_mempool_new(&lim);
  uint8_t h[5][32];
  for (uint64_t k = 0; k < 5; k++) CHECK_OK(add(mp, 1, k, 1000, 100, NULL, h[k]));
  CHECK_EQ(add(mp, 1, 5, 99999, 100, NULL, NULL), AG_E_MEMPOOL_FULL); /* per-sender cap */
  CHECK(strstr(ag_errmsg(AG_E_MEMPOOL_FULL), "already has 5 pending") != NULL);
  ag_tx_meta m;
  meta_for(&m, 1, 0, 1000);
  memcpy(m.hash, h[0], 32);
  size_t ev;
  CHECK_EQ(ag_mempool_add(mp, raw_buf, 100, &m, &ev), AG_E_TX_DUPLICATE);
  CHECK_EQ(add(mp, 2, 0, 1 << 30, (1 << 20) + 1, NULL, NULL), AG_E_MEMPOOL_FULL); /* too big */
  /* removing the first two (a block took them) frees their room and the sender's cap */
  ag_mempool_remove(mp, (const uint8_t(*)[32])h, 2);
  CHECK_EQ(ag_mempool_size(mp), 3);
  CHECK_EQ(ag_mempool_bytes(mp), 300);
  CHECK(!ag_mempool_contains(mp, h[0]));
  CHECK(ag_mempool_contains(mp, h[2]));
  CHECK_OK(add(mp, 1, 5, 1000, 100, NULL, NULL));
  const ag_mempool_entry **e;
  CHECK_EQ(ag_mempool_reap(mp, 1 << 20, 100, &e), 4);
  CHECK_U64(e[0]->nonce, 2);
  ag_mempool_free(mp);
}

/* ---- the model: the rule written the slow and obvious way -------------------------------- */

typedef struct {
  ag_mempool_entry e; /* sender, fee, len, seq, hash */
  int live;
} model_tx;

#define MODEL_MAX 4096

typedef struct {
  model_tx tx[MODEL_MAX];
  size_t n, live, bytes;
  ag_mempool_limits lim;
} model;

/* Model senders are numbered below 256. */
static size_t model_sender_count(const model *m, unsigned sid) {
  size_t c = 0;
  for (size_t i = 0; i < m->n; i++) c += m->tx[i].live && sender_of(&m->tx[i].e) == sid;
  return c;
}

static int model_add(model *m, const ag_mempool_entry *x, size_t *ev) {
  *ev = 0;
  unsigned me = sender_of(x);
  if (x->len > m->lim.max_bytes) return AG_E_MEMPOOL_FULL;
  if (model_sender_count(m, me) >= m->lim.max_per_sender) return AG_E_MEMPOOL_FULL;
  static int gone[MODEL_MAX];
  memset(gone, 0, sizeof gone);
  size_t live = m->live, bytes = m->bytes, nv = 0;
  int ok = 1;
  while (live + 1 > m->lim.max_txs || bytes + x->len > m->lim.max_bytes) {
    /* the tails: each sender's newest remaining tx, found walking from the newest */
    int seen[256] = {0};
    size_t worst = SIZE_MAX;
    for (size_t i = m->n; i-- > 0;) {
      unsigned sid = sender_of(&m->tx[i].e);
      if (!m->tx[i].live || gone[i] || seen[sid]) continue;
      seen[sid] = 1;
      if (sid == me) continue;
      if (worst == SIZE_MAX || ag_mempool_better(&m->tx[worst].e, &m->tx[i].e)) worst = i;
    }
    if (worst == SIZE_MAX) return AG_E_MEMPOOL_FULL;
    unsigned __int128 a = (unsigned __int128)m->tx[worst].e.fee * x->len;
    unsigned __int128 b = (unsigned __int128)x->fee * m->tx[worst].e.len;
    if (a >= b) ok = 0;
    gone[worst] = 1;
    live--;
    bytes -= m->tx[worst].e.len;
    nv++;
  }
  if (!ok) return AG_E_MEMPOOL_FULL;
  for (size_t i = 0; i < m->n; i++)
    if (gone[i]) m->tx[i].live = 0;
  m->tx[m->n].e = *x;
  m->tx[m->n].live = 1;
  m->n++;
  m->live = live + 1;
  m->bytes = bytes + x->len;
  *ev = nv;
  return 0;
}

/* Greedy by the rule, scanning everything at every step. */
static size_t model_reap(const model *m, size_t max_bytes, size_t max_txs, size_t *out) {
  static int taken[MODEL_MAX];
  memset(taken, 0, sizeof taken);
  int done[256] = {0};
  size_t k = 0, room = max_bytes;
  while (k < max_txs) {
    /* the heads: each sender's oldest remaining tx, found walking from the oldest */
    int seen[256] = {0};
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < m->n; i++) {
      unsigned sid = sender_of(&m->tx[i].e);
      if (!m->tx[i].live || taken[i] || seen[sid]) continue;
      seen[sid] = 1;
      if (done[sid]) continue;
      if (best == SIZE_MAX || ag_mempool_better(&m->tx[i].e, &m->tx[best].e)) best = i;
    }
    if (best == SIZE_MAX) break;
    if (m->tx[best].e.len > room) {
      done[sender_of(&m->tx[best].e)] = 1;
      continue;
    }
    room -= m->tx[best].e.len;
    taken[best] = 1;
    out[k++] = best;
  }
  return k;
}

TEST(random_operations_match_the_model) {
  static model m;
  uint64_t rng = 0x9e3779b97f4a7c15ULL;
  static uint8_t (*ids)[32];
  ids = malloc(MODEL_MAX * 32);
  size_t evictions = 0, refusals = 0;
  for (int round = 0; round < 8; round++) {
    memset(&m, 0, sizeof m);
    m.lim.max_txs = 20 + test_rand(&rng) % 60;
    m.lim.max_bytes = 4000 + test_rand(&rng) % 20000;
    m.lim.max_per_sender = 2 + test_rand(&rng) % 8;
    ag_mempool *mp = ag_mempool_new(&m.lim);
    unsigned nsenders = 5 + (unsigned)(test_rand(&rng) % 40);
    int agree = 1;
    for (int op = 0; op < 600 && m.n < MODEL_MAX - 1; op++) {
      uint64_t r = test_rand(&rng) % 10;
      if (r < 9) {
        ag_tx_meta meta;
        unsigned s = (unsigned)(test_rand(&rng) % nsenders);
        size_t len = 100 + test_rand(&rng) % 900;
        uint64_t fee = (1 + test_rand(&rng) % 20) * len + test_rand(&rng) % 50; /* near ties */
        if (test_rand(&rng) % 4 == 0) fee = 10 * len; /* exact ties */
        meta_for(&meta, s, 0, fee);
        ag_mempool_entry x;
        memset(&x, 0, sizeof x);
        memcpy(x.sender, meta.sender, 32);
        memcpy(x.hash, meta.hash, 32);
        x.fee = fee;
        x.len = (uint32_t)len;
        x.seq = m.n; /* pool and model number arrivals alike: both count accepted txs */
        size_t ev_pool = 0, ev_model = 0;
        int rc_model = model_add(&m, &x, &ev_model);
        int rc_pool = ag_mempool_add(mp, raw_buf, len, &meta, &ev_pool);
        if (rc_pool != rc_model || ev_pool != ev_model) agree = 0;
        evictions += ev_pool;
        refusals += rc_pool != 0;
      } else {
        /* a block: reap, compare, remove what it took */
        size_t max_bytes = 500 + test_rand(&rng) % 3000, max_txs = 1 + test_rand(&rng) % 12;
        static size_t want[MODEL_MAX];
        size_t nw = model_reap(&m, max_bytes, max_txs, want);
        const ag_mempool_entry **got;
        size_t ng = ag_mempool_reap(mp, max_bytes, max_txs, &got);
        if (ng != nw) agree = 0;
        for (size_t i = 0; i < ng && i < nw; i++)
          if (memcmp(got[i]->hash, m.tx[want[i]].e.hash, 32)) agree = 0;
        for (size_t i = 0; i < nw; i++) {
          memcpy(ids[i], m.tx[want[i]].e.hash, 32);
          m.tx[want[i]].live = 0;
          m.live--;
          m.bytes -= m.tx[want[i]].e.len;
        }
        ag_mempool_remove(mp, (const uint8_t(*)[32])ids, nw);
      }
      if (ag_mempool_size(mp) != m.live || ag_mempool_bytes(mp) != m.bytes) agree = 0;
      for (size_t i = 0; i < m.n; i++)
        if (ag_mempool_contains(mp, m.tx[i].e.hash) != m.tx[i].live) agree = 0;
    }
    CHECK(agree);
    ag_mempool_free(mp);
  }
  CHECK(evictions > 100); /* the runs did exercise both paths */
  CHECK(refusals > 100);
  free(ids);
}

/* ---- with the state machine: check_tx's view follows evictions -------------------------- */

static ag_keypair keys[NKEYS];

static ag_app *fresh_app(char **dir) {
  *dir = test_tmpdir("mempool");
  ag_app *app = NULL;
  CHECK_OK(ag_app_open(*dir, &app));
  ag_genesis g;
  memset(&g, 0, sizeof g);
  strcpy(g.chain_id, CHAIN);
  g.genesis_time_ms = 1700000000000ULL;
  ag_params_default(&g.params);
  g.naccounts = NKEYS;
  g.accounts = calloc(NKEYS, sizeof *g.accounts);
  for (int i = 0; i < NKEYS; i++) {
    test_key(&keys[i], 300 + i);
    memcpy(g.accounts[i].pk, keys[i].pk, 32);
    g.accounts[i].balance = START;
  }
  ag_genesis_rehash(&g);
  uint8_t h[32];
  CHECK_OK(ag_app_init_chain(app, &g, h));
  ag_genesis_free(&g);
  return app;
}

static uint64_t transfer_min_fee(void) {
  ag_params p;
  ag_params_default(&p);
  uint64_t f;
  ag_tx_min_fee(p.base_fee, p.per_byte_fee, AG_TX_TRANSFER, NULL, 0, ag_tx_size(strlen(CHAIN), 40), &f);
  return f;
}

static void transfer(ag_buf *out, int from, int to, uint64_t amount, uint64_t nonce,
                     uint64_t fee) {
  ag_buf p;
  ag_buf_init(&p);
  ag_transfer_encode(&p, keys[to].pk, amount);
  ag_buf_reset(out);
  ag_tx_build(out, AG_TX_TRANSFER, CHAIN, &keys[from], nonce, fee, 0, p.data, (uint32_t)p.len);
  ag_buf_free(&p);
}

static void give_back(void *ctx, const ag_mempool_entry *e) {
  CHECK_OK(ag_app_pending_rewind(ctx, e->sender, e->payer, e->nonce, e->cost));
}

/* What the node does on submission (node.c): check_tx reserves, a refusal gives it back. */
static int submit(ag_app *app, ag_mempool *mp, const ag_buf *tx, size_t *ev) {
  ag_tx_meta m;
  int rc = ag_app_check_tx(app, tx->data, tx->len, AG_CHECK_NEW, NULL, &m);
  if (!rc && (rc = ag_mempool_add(mp, tx->data, tx->len, &m, ev)) != 0)
    CHECK_OK(ag_app_pending_rewind(app, m.sender, m.payer, m.nonce, m.cost));
  return rc;
}

static int recheck(void *ctx, const ag_mempool_entry *e) {
  return ag_app_check_tx(ctx, e->raw, e->len, AG_CHECK_RECHECK, NULL, NULL) != 0;
}

/* One solo block: reap, execute, commit, remove, recheck. Returns the number of txs. */
static size_t block(ag_app *app, ag_mempool *mp) {
  const ag_mempool_entry **e;
  size_t n = ag_mempool_reap(mp, 1 << 20, 100, &e);
  const uint8_t *txs[100];
  uint32_t lens[100];
  uint8_t ids[100][32];
  ag_result res[100];
  for (size_t i = 0; i < n; i++) {
    txs[i] = e[i]->raw;
    lens[i] = e[i]->len;
    memcpy(ids[i], e[i]->hash, 32);
  }
  ag_app_info info;
  ag_app_info_get(app, &info);
  ag_block_ctx ctx = {info.height + 1, info.time_ms + 1000, {0}};
  uint8_t root[32];
  CHECK_OK(ag_app_finalize_block(app, &ctx, txs, lens, n, res, root));
  for (size_t i = 0; i < n; i++) CHECK_OK(res[i].code);
  CHECK_OK(ag_app_commit(app, NULL, 0, NULL));
  ag_mempool_remove(mp, (const uint8_t(*)[32])ids, n);
  ag_mempool_recheck(mp, recheck, app);
  return n;
}

static uint64_t pending_nonce(ag_app *app, int k) {
  ag_account a;
  CHECK_OK(ag_app_account(app, keys[k].pk, &a));
  return ag_app_pending_nonce(app, keys[k].pk, a.nonce);
}

TEST(evicted_sender_can_resubmit) {
  char *dir;
  ag_app *app = fresh_app(&dir);
  ag_mempool_limits lim = {3, 1 << 20, 10};
  ag_mempool *mp = ag_mempool_new(&lim);
  ag_mempool_on_evict(mp, give_back, app);
  uint64_t min = transfer_min_fee();
  ag_buf t1, a0, a1, b0, a1x, a2;
  ag_buf_init(&t1);
  ag_buf_init(&a0);
  ag_buf_init(&a1);
  ag_buf_init(&b0);
  ag_buf_init(&a1x);
  ag_buf_init(&a2);
  transfer(&t1, 1, 3, 1 * AG_UNIT, 0, min);
  transfer(&a0, 0, 3, 600 * AG_UNIT, 0, min);
  transfer(&a1, 0, 3, 399 * AG_UNIT, 1, min); /* with a0: all but about 1 AGR of key 0 */
  transfer(&b0, 2, 3, 1 * AG_UNIT, 0, 2 * min);
  size_t ev = 0;
  CHECK_OK(submit(app, mp, &t1, &ev));
  CHECK_OK(submit(app, mp, &a0, &ev));
  CHECK_OK(submit(app, mp, &a1, &ev));
  CHECK_EQ(pending_nonce(app, 0), 2);
  /* key 2 pays twice as much: the newest of the cheapest tails (key 0's a1) goes */
  CHECK_OK(submit(app, mp, &b0, &ev));
  CHECK_EQ(ev, 1);
  CHECK_EQ(pending_nonce(app, 0), 1); /* given back: the next tx must carry nonce 1 again */
  /* so nonce 2 is a gap, not a tx stranded behind one that is gone */
  transfer(&a2, 0, 3, 1, 2, 3 * min);
  CHECK_EQ(submit(app, mp, &a2, &ev), AG_E_TX_NONCE_GAP);
  /* a1 again at the same fee does not outbid key 1's tail; refused, and still nonce 1 */
  CHECK_EQ(submit(app, mp, &a1, &ev), AG_E_MEMPOOL_FULL);
  CHECK(strstr(ag_errmsg(AG_E_MEMPOOL_FULL), "a fee of at least") != NULL);
  CHECK_EQ(pending_nonce(app, 0), 1);
  /* a replacement paying one more base unit gets in: its 399 AGR is available again */
  transfer(&a1x, 0, 3, 399 * AG_UNIT, 1, min + 1);
  CHECK_OK(submit(app, mp, &a1x, &ev));
  CHECK_EQ(ev, 1); /* key 1's t1 */
  CHECK_EQ(pending_nonce(app, 1), 0);
  /* the block: b0 first, then key 0's txs in nonce order */
  const ag_mempool_entry **e;
  CHECK_EQ(ag_mempool_reap(mp, 1 << 20, 100, &e), 3);
  ag_tx tx;
  CHECK_OK(ag_tx_decode(e[0]->raw, e[0]->len, &tx));
  CHECK_MEM(tx.sender, keys[2].pk, 32);
  CHECK_U64(e[1]->nonce, 0);
  CHECK_U64(e[2]->nonce, 1);
  CHECK_EQ(block(app, mp), 3);
  CHECK_EQ(pending_nonce(app, 0), 2);
  /* the evicted t1, resubmitted after the block, gets in and executes */
  CHECK_OK(submit(app, mp, &t1, &ev));
  CHECK_EQ(block(app, mp), 1);
  CHECK_EQ(pending_nonce(app, 1), 1);
  /* a rewind only applies to the sender's last pending tx */
  CHECK_EQ(ag_app_pending_rewind(app, keys[1].pk, keys[1].pk, 0, min), AG_E_INVALID);
  ag_buf_free(&t1);
  ag_buf_free(&a0);
  ag_buf_free(&a1);
  ag_buf_free(&b0);
  ag_buf_free(&a1x);
  ag_buf_free(&a2);
  ag_mempool_free(mp);
  ag_app_close(app);
  test_rmdir(dir);
}

/* ---- CometBFT's PrepareProposal ------------------------------------------------------------- */

TEST(prepare_proposal_orders_by_fee_and_fits_the_limits) {
  for (int i = 0; i < NKEYS; i++) test_key(&keys[i], 300 + i);
  uint64_t min = transfer_min_fee();
  ag_buf b[5];
  for (int i = 0; i < 5; i++) ag_buf_init(&b[i]);
  /* offered in CometBFT's order, even with a sender's nonces swapped */
  transfer(&b[0], 0, 3, 1, 1, 5 * min); /* key 0, nonce 1: pays the most, waits for nonce 0 */
  ag_buf_put(&b[1], (const uint8_t *)"not a tx", 8);
  transfer(&b[2], 0, 3, 1, 0, min);
  transfer(&b[3], 1, 3, 1, 0, 2 * min);
  transfer(&b[4], 2, 3, 1, 0, min); /* as much as key 0's nonce 0, but later */
  const uint8_t *txs[5];
  size_t lens[5], order[5];
  for (int i = 0; i < 5; i++) {
    txs[i] = b[i].data;
    lens[i] = b[i].len;
  }
  ag_params p;
  ag_params_default(&p);
  size_t k = ag_abci_prepare(txs, lens, 5, &p, 1 << 20, order);
  CHECK_EQ(k, 4);
  static const size_t want[4] = {3, 2, 0, 4};
  for (size_t i = 0; i < k && i < 4; i++) CHECK_EQ(order[i], want[i]);
  /* ProcessProposal's limits: max_block_txs and max_block_bytes (raw bytes) */
  p.max_block_txs = 2;
  CHECK_EQ(ag_abci_prepare(txs, lens, 5, &p, 1 << 20, order), 2);
  ag_params_default(&p);
  p.max_block_bytes = (uint32_t)(3 * lens[2] - 1);
  k = ag_abci_prepare(txs, lens, 5, &p, 1 << 20, order);
  CHECK_EQ(k, 2);
  CHECK(lens[order[0]] + lens[order[1]] <= p.max_block_bytes);
  /* CometBFT's max_tx_bytes counts each tx's framing in the block's Data (tag, length) */
  ag_params_default(&p);
  int64_t framed = 1 + 2 + (int64_t)lens[2]; /* a transfer is over 127 bytes: 2-byte length */
  CHECK(lens[2] > 127 && lens[2] < 16384);
  CHECK_EQ(ag_abci_prepare(txs, lens, 5, &p, 3 * framed, order), 3);
  CHECK_EQ(ag_abci_prepare(txs, lens, 5, &p, 3 * framed - 1, order), 2);
  CHECK_EQ(ag_abci_prepare(txs, lens, 5, &p, 0, order), 0);
  CHECK_EQ(ag_abci_prepare(txs, lens, 0, &p, 1 << 20, order), 0);
  for (int i = 0; i < 5; i++) ag_buf_free(&b[i]);
}

/* ---- the set of pending ids (CometBFT mode) ------------------------------------------------ */

static void id_of(uint64_t k, uint8_t id[32]) { ag_hash("agora/test-id", &k, 8, id); }

/* Random adds (new and repeated), removals, expiries and lookups against a list in arrival
 * order: the set holds exactly the listed ids, an id added again moves to the newest place
 * with its new mark, an id is dropped for room only when the set is over three quarters full
 * and then it is the oldest, and an expiry removes exactly the ids marked below it. */
TEST(txset_matches_a_list) {
  size_t expired = 0;
  for (size_t cap = 1; cap <= 300; cap = cap * 3 + 1) {
    ag_txset s;
    ag_txset_init(&s, cap);
    uint64_t rng = 77 + cap, *list = ag_xcalloc(cap + 1, sizeof *list);
    uint64_t *marks = ag_xcalloc(cap + 1, sizeof *marks), now = 0;
    size_t n = 0, drops = 0;
    uint8_t id[32];
    for (int step = 0; step < 20000; step++) {
      uint64_t k = test_rand(&rng) % (cap * 3 + 2), op = test_rand(&rng) % 10;
      if (test_rand(&rng) % 400 == 0) { /* a new height: expire what was not seen at the last one */
        now++;
        size_t keep = 0;
        for (size_t i = 0; i < n; i++)
          if (marks[i] + 1 >= now) list[keep] = list[i], marks[keep++] = marks[i];
        size_t gone = ag_txset_expire(&s, now - 1);
        CHECK_EQ(gone, n - keep);
        expired += gone;
        n = keep;
        continue;
      }
      id_of(k, id);
      size_t at = n;
      for (size_t i = 0; i < n; i++)
        if (list[i] == k) at = i;
      if (op < 6) {
        if (at < n) {
          memmove(list + at, list + at + 1, (n - at - 1) * sizeof *list);
          memmove(marks + at, marks + at + 1, (n - at - 1) * sizeof *marks);
          n--;
        }
        int dropped = ag_txset_add(&s, id, now);
        if (dropped) {
          drops++;
          CHECK(n * 4 > cap * 3);
          uint8_t old[32];
          id_of(list[0], old);
          CHECK(!ag_txset_has(&s, old));
          memmove(list, list + 1, (n - 1) * sizeof *list);
          memmove(marks, marks + 1, (n - 1) * sizeof *marks);
          n--;
        }
        marks[n] = now;
        list[n++] = k;
        CHECK(n <= cap);
      } else if (op < 8) {
        CHECK_EQ(ag_txset_del(&s, id), at < n);
        if (at < n) {
          memmove(list + at, list + at + 1, (n - at - 1) * sizeof *list);
          memmove(marks + at, marks + at + 1, (n - at - 1) * sizeof *marks);
          n--;
        }
      } else {
        CHECK_EQ(ag_txset_has(&s, id), at < n);
      }
      if (s.count != n) {
        CHECK_EQ(s.count, n);
        break;
      }
    }
    for (size_t i = 0; i < n; i++) {
      id_of(list[i], id);
      CHECK(ag_txset_has(&s, id));
    }
    CHECK(cap < 4 || drops > 0); /* the bound was reached */
    ag_txset_clear(&s);
    CHECK_EQ(ag_txset_has(&s, id), 0);
    CHECK_EQ(s.count, 0);
    free(list);
    free(marks);
    ag_txset_free(&s);
  }
  CHECK(expired > 0);
}

TEST_MAIN(reap_orders_by_fee_per_byte_keeping_nonce_order, exact_comparison_in_128_bits,
          spam_cannot_keep_a_better_fee_out, eviction_takes_tails_and_never_strands_nonces,
          cheap_newcomer_is_refused_with_the_fee_that_gets_in,
          newcomer_never_evicts_its_own_sender, per_sender_cap_duplicates_and_removal,
          random_operations_match_the_model, evicted_sender_can_resubmit,
          prepare_proposal_orders_by_fee_and_fits_the_limits, txset_matches_a_list)
