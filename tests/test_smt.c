/* test_smt.c — the sparse Merkle tree: incremental updates equal a rebuild, proofs verify and
 * tampered proofs do not, parallel updates equal serial ones; the tree the state keeps in LMDB
 * (ptree.h) gives the same roots and proofs as the in-memory one, for the last height and for
 * every kept height, across restarts, and prunes what it no longer keeps. */
#include "chain/smt.h"
#include "chain/state.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "test.h"
#include "testutil.h"

#include <lmdb.h>
#include <stdlib.h>

static int cmp_upd(const void *a, const void *b) {
  return memcmp(((const ag_smt_update *)a)->key, ((const ag_smt_update *)b)->key, 32);
}

static void key_of(uint64_t i, uint8_t out[32]) { ag_hash("agora/test", &i, 8, out); }
static void val_of(uint64_t i, uint64_t ver, uint8_t out[32]) {
  uint64_t x[2] = {i, ver};
  ag_hash("agora/testval", x, 16, out);
}

/* Root of a tree built from scratch with the live keys. */
static void fresh_root(const uint8_t *live, const uint64_t *ver, size_t n, uint8_t root[32]) {
  ag_smt_update *u = malloc((n + 1) * sizeof *u);
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (live[i]) {
      key_of(i, u[m].key);
      val_of(i, ver[i], u[m].value_hash);
      u[m].remove = 0;
      m++;
    }
  qsort(u, m, sizeof *u, cmp_upd);
  ag_smt *t = ag_smt_new();
  ag_smt_apply(t, u, m, 1);
  ag_smt_root(t, root);
  ag_smt_free(t);
  free(u);
}

TEST(empty_and_single) {
  ag_smt *t = ag_smt_new();
  uint8_t root[32], zero[32] = {0}, k[32], v[32], lh[32];
  ag_smt_root(t, root);
  CHECK_MEM(root, zero, 32);
  key_of(1, k);
  val_of(1, 0, v);
  ag_smt_update u = {{0}, {0}, 0};
  memcpy(u.key, k, 32);
  memcpy(u.value_hash, v, 32);
  ag_smt_apply(t, &u, 1, 1);
  ag_smt_root(t, root);
  ag_smt_leaf_hash(k, v, lh);
  CHECK_MEM(root, lh, 32); /* one leaf: the root is that leaf */
  u.remove = 1;
  ag_smt_apply(t, &u, 1, 1);
  ag_smt_root(t, root);
  CHECK_MEM(root, zero, 32);
  CHECK_EQ(ag_smt_leaves(t), 0);
  ag_smt_free(t);
}

TEST(incremental_equals_rebuild) {
  enum { N = 600 };
  uint8_t live[N] = {0};
  uint64_t ver[N] = {0};
  uint64_t seed = 42;
  ag_smt *t = ag_smt_new();
  for (int round = 0; round < 40; round++) {
    size_t batch = 1 + test_rand(&seed) % 60;
    ag_smt_update *u = calloc(batch, sizeof *u);
    uint8_t used[N] = {0};
    size_t m = 0;
    for (size_t j = 0; j < batch; j++) {
      size_t i = test_rand(&seed) % N;
      if (used[i]) continue;
      used[i] = 1;
      key_of(i, u[m].key);
      if (live[i] && test_rand(&seed) % 3 == 0) {
        u[m].remove = 1;
        live[i] = 0;
      } else if (!live[i] && test_rand(&seed) % 5 == 0) {
        u[m].remove = 1; /* deleting an absent key is a no-op */
      } else {
        live[i] = 1;
        ver[i]++;
        val_of(i, ver[i], u[m].value_hash);
      }
      m++;
    }
    qsort(u, m, sizeof *u, cmp_upd);
    ag_smt_apply(t, u, m, round % 2 ? 2 : 1);
    free(u);
    uint8_t got[32], want[32];
    ag_smt_root(t, got);
    fresh_root(live, ver, N, want);
    CHECK_MEM(got, want, 32);
  }
  size_t nlive = 0;
  for (int i = 0; i < N; i++) nlive += live[i];
  CHECK_EQ(ag_smt_leaves(t), nlive);
  ag_smt_free(t);
}

TEST(parallel_large_batch_equals_serial) {
  enum { N = 5000 };
  ag_smt_update *u = calloc(N, sizeof *u);
  for (int i = 0; i < N; i++) {
    key_of(i, u[i].key);
    val_of(i, 1, u[i].value_hash);
  }
  qsort(u, N, sizeof *u, cmp_upd);
  ag_smt *a = ag_smt_new(), *b = ag_smt_new();
  ag_smt_apply(a, u, N, 1);
  ag_smt_apply(b, u, N, 2);
  for (int i = 0; i < N; i += 2) val_of(i, 2, u[i].value_hash); /* sorted order changed: redo */
  for (int i = 0; i < N; i++) {
    key_of(i, u[i].key);
    val_of(i, i % 2 ? 1 : 2, u[i].value_hash);
  }
  qsort(u, N, sizeof *u, cmp_upd);
  ag_smt_apply(a, u, N, 1);
  ag_smt_apply(b, u, N, 2);
  uint8_t ra[32], rb[32];
  ag_smt_root(a, ra);
  ag_smt_root(b, rb);
  CHECK_MEM(ra, rb, 32);
  ag_smt_free(a);
  ag_smt_free(b);
  free(u);
}

TEST(proofs_of_presence_and_absence) {
  enum { N = 300 };
  ag_smt_update *u = calloc(N, sizeof *u);
  for (int i = 0; i < N; i++) {
    key_of((uint64_t)i * 2, u[i].key); /* even ids present, odd absent */
    val_of((uint64_t)i * 2, 0, u[i].value_hash);
  }
  qsort(u, N, sizeof *u, cmp_upd);
  ag_smt *t = ag_smt_new();
  ag_smt_apply(t, u, N, 1);
  free(u);
  uint8_t root[32];
  ag_smt_root(t, root);
  ag_smt_proof *p = malloc(sizeof *p);
  for (uint64_t id = 0; id < 2 * N; id++) {
    uint8_t k[32], v[32];
    key_of(id, k);
    val_of(id, 0, v);
    ag_smt_prove(t, k, p);
    if (p->terminal) val_of(id % 2 == 0 ? id : 0, 0, p->leaf_value_hash);
    if (id % 2 == 0) {
      CHECK(p->terminal);
      memcpy(p->leaf_value_hash, v, 32);
      CHECK(ag_smt_proof_leaf_hash_ok(t, p));
      CHECK_OK(ag_smt_verify(root, k, v, p));
      CHECK_EQ(ag_smt_verify(root, k, NULL, p), AG_E_PROOF); /* present: no absence proof */
      uint8_t v2[32];
      val_of(id, 1, v2);
      CHECK_EQ(ag_smt_verify(root, k, v2, p), AG_E_PROOF); /* another value */
      if (p->depth > 0) {
        p->siblings[p->depth - 1][0] ^= 1;
        CHECK_EQ(ag_smt_verify(root, k, v, p), AG_E_PROOF); /* tampered sibling */
      }
    } else if (!p->terminal || memcmp(p->leaf_key, k, 32) != 0) {
      /* absence: either an empty slot or another key's leaf on the path; the caller fills
       * that leaf's value hash from the store, here we know it */
      if (p->terminal) {
        for (uint64_t j = 0; j < 2 * N; j += 2) {
          uint8_t kj[32];
          key_of(j, kj);
          if (!memcmp(kj, p->leaf_key, 32)) val_of(j, 0, p->leaf_value_hash);
        }
      }
      CHECK_OK(ag_smt_verify(root, k, NULL, p));
      CHECK_EQ(ag_smt_verify(root, k, v, p), AG_E_PROOF);
    }
  }
  free(p);
  ag_smt_free(t);
}

/* ---- the state's tree in LMDB against the in-memory tree -------------------------------- */

static size_t raw_key(uint64_t i, uint8_t *k) {
  k[0] = 't';
  memcpy(k + 1, &i, 8);
  return 9;
}

/* The value of key i at version v: 0..40 bytes, so some values are empty. */
static size_t raw_val(uint64_t i, uint64_t v, uint8_t *out) {
  size_t n = (size_t)((i * 7 + v) % 41);
  for (size_t j = 0; j < n; j++) out[j] = (uint8_t)(i + v * 31 + j);
  return n;
}

static void mem_key(uint64_t i, uint8_t hk[32]) {
  uint8_t k[9];
  ag_state_hkey(k, raw_key(i, k), hk);
}

/* Proves key i in st at height `at` and checks it: against the root, with the value the key
 * held then (ver 0: absent), and sibling by sibling against the in-memory tree's proof (mem
 * NULL: no comparison). */
static void check_proof(ag_state *st, uint64_t at, uint64_t i, uint64_t ver, const uint8_t want_root[32], ag_smt *mem) {
  uint8_t k[9], hk[32], root[32], v[64], vh[32];
  size_t kl = raw_key(i, k);
  ag_state_hkey(k, kl, hk);
  ag_smt_proof *p = malloc(sizeof *p), *q = malloc(sizeof *q);
  ag_buf val;
  ag_buf_init(&val);
  uint64_t h = 0;
  int present = -1;
  CHECK_OK(ag_state_prove_at(st, at, k, kl, p, root, &h, &val, &present));
  if (at != AG_STATE_LATEST) CHECK_U64(h, at);
  CHECK_MEM(root, want_root, 32);
  CHECK_EQ(present, ver != 0);
  if (ver) {
    size_t vl = raw_val(i, ver, v);
    CHECK_EQ(val.len, vl);
    CHECK(vl == 0 || memcmp(val.data, v, vl) == 0);
    ag_state_value_hash(v, vl, vh);
    CHECK_OK(ag_smt_verify(root, hk, vh, p));
  } else {
    CHECK_OK(ag_smt_verify(root, hk, NULL, p));
  }
  if (mem) {
    ag_smt_prove(mem, hk, q);
    CHECK_EQ(p->depth, q->depth);
    CHECK_EQ(p->terminal, q->terminal);
    CHECK(memcmp(p->siblings, q->siblings, (size_t)p->depth * 32) == 0);
    if (p->terminal) CHECK_MEM(p->leaf_key, q->leaf_key, 32);
  }
  ag_buf_free(&val);
  free(p);
  free(q);
}

TEST(disk_tree_equals_memory_tree_across_heights_and_restarts) {
  enum { N = 3000, ROUNDS = 36, KEEP = 6 };
  char *dir = test_tmpdir("ptree");
  ag_state *st;
  CHECK_OK(ag_state_open(dir, &st));
  ag_state_set_versions(st, KEEP);
  static uint64_t ver[ROUNDS + 1][N]; /* version of key i's value after height h; 0 = absent */
  uint8_t roots[ROUNDS + 1][32];
  memset(ver, 0, sizeof ver);
  ag_smt *mem = ag_smt_new();
  uint64_t seed = 7;
  for (uint64_t h = 0; h <= ROUNDS; h++) {
    if (h) memcpy(ver[h], ver[h - 1], sizeof ver[h]);
    /* big batches (the parallel path, pages splitting) first, then small ones with deletes */
    size_t batch = h < 3 ? 1200 : 1 + test_rand(&seed) % 150;
    ag_smt_update *u = calloc(batch, sizeof *u);
    uint8_t used[N] = {0};
    size_t m = 0;
    for (size_t j = 0; j < batch; j++) {
      uint64_t i = test_rand(&seed) % N;
      if (used[i]) continue;
      used[i] = 1;
      uint8_t k[9], v[64];
      size_t kl = raw_key(i, k);
      mem_key(i, u[m].key);
      if (ver[h][i] && (h > 20 ? test_rand(&seed) % 2 : test_rand(&seed) % 4) == 0) {
        CHECK_OK(ag_state_del(st, k, kl));
        u[m].remove = 1;
        ver[h][i] = 0;
      } else if (!ver[h][i] && test_rand(&seed) % 6 == 0) {
        CHECK_OK(ag_state_del(st, k, kl)); /* deleting an absent key changes nothing */
        u[m].remove = 1;
      } else {
        ver[h][i] = h + 1;
        size_t vl = raw_val(i, h + 1, v);
        CHECK_OK(ag_state_put(st, k, kl, v, vl));
        ag_state_value_hash(v, vl, u[m].value_hash);
      }
      m++;
    }
    qsort(u, m, sizeof *u, cmp_upd);
    ag_smt_apply(mem, u, m, 1);
    free(u);
    if (h % 5 == 2) { /* an applied block thrown away leaves the committed tree as it was */
      uint8_t r[32];
      CHECK_OK(ag_state_apply(st, 2, r));
      ag_state_discard(st);
      memcpy(ver[h], ver[h - 1], sizeof ver[h]);
      ag_smt_free(mem); /* the model goes back too: rebuild it from ver[h] */
      mem = ag_smt_new();
      ag_smt_update *all = calloc(N, sizeof *all);
      size_t n = 0;
      for (uint64_t i = 0; i < N; i++)
        if (ver[h][i]) {
          uint8_t v[64];
          mem_key(i, all[n].key);
          ag_state_value_hash(v, raw_val(i, ver[h][i], v), all[n].value_hash);
          n++;
        }
      qsort(all, n, sizeof *all, cmp_upd);
      ag_smt_apply(mem, all, n, 1);
      free(all);
    }
    uint8_t got[32], want[32];
    CHECK_OK(ag_state_apply(st, h % 2 ? 2 : 1, got));
    ag_smt_root(mem, want);
    CHECK_MEM(got, want, 32);
    ag_state_meta meta = {h, 1000 * h, {0}, {0}};
    memcpy(meta.app_hash, got, 32);
    CHECK_OK(ag_state_commit(st, &meta, NULL, 0, NULL, 0));
    memcpy(roots[h], got, 32);
    size_t live = 0;
    for (uint64_t i = 0; i < N; i++) live += ver[h][i] != 0;
    CHECK_EQ(ag_state_leaves(st), live);
    if (h % 9 == 8) { /* a restart reads the tree from disk: same root, same keys */
      ag_state_close(st);
      CHECK_OK(ag_state_open(dir, &st));
      ag_state_set_versions(st, KEEP);
      CHECK_EQ(ag_state_leaves(st), live);
    }
    for (int t = 0; t < 25; t++) { /* the last height: proofs equal the in-memory tree's */
      uint64_t i = test_rand(&seed) % N;
      check_proof(st, AG_STATE_LATEST, i, ver[h][i], roots[h], mem);
    }
    for (uint64_t back = 1; back < KEEP && back <= h; back++) /* kept heights: their root and values */
      for (int t = 0; t < 6; t++) {
        uint64_t i = test_rand(&seed) % N;
        check_proof(st, h - back, i, ver[h - back][i], roots[h - back], NULL);
      }
    if (h >= KEEP) { /* older ones are pruned, and say so */
      uint8_t k[9], r[32];
      ag_smt_proof *p = malloc(sizeof *p);
      ag_buf val;
      ag_buf_init(&val);
      uint64_t hh;
      int present;
      CHECK_EQ(ag_state_prove_at(st, h - KEEP, k, raw_key(1, k), p, r, &hh, &val, &present), AG_E_NOTFOUND);
      CHECK_EQ(ag_state_prove_at(st, h + 1, k, raw_key(1, k), p, r, &hh, &val, &present), AG_E_NOTFOUND);
      ag_buf_free(&val);
      free(p);
    }
  }
  ag_smt_free(mem);
  ag_state_close(st);
  test_rmdir(dir);
}

/* Pages of heights no longer kept are deleted: the same churn for 4x as many heights leaves the
 * tree's pages no bigger; with the old code (nothing pruned) they grow with every height. */
TEST(disk_tree_prunes_what_it_no_longer_keeps) {
  char *dir = test_tmpdir("ptree-prune");
  ag_state *st;
  CHECK_OK(ag_state_open(dir, &st));
  ag_state_set_versions(st, 3);
  uint64_t seed = 11;
  size_t at40 = 0;
  for (uint64_t h = 0; h < 160; h++) {
    for (int j = 0; j < (h == 0 ? 2000 : 200); j++) {
      uint64_t i = h == 0 ? (uint64_t)j : test_rand(&seed) % 2000;
      uint8_t k[9], v[64];
      size_t kl = raw_key(i, k);
      CHECK_OK(ag_state_put(st, k, kl, v, raw_val(i, h + 1, v)));
    }
    uint8_t r[32];
    CHECK_OK(ag_state_apply(st, 2, r));
    ag_state_meta meta = {h, h, {0}, {0}};
    memcpy(meta.app_hash, r, 32);
    CHECK_OK(ag_state_commit(st, &meta, NULL, 0, NULL, 0));
    if (h == 39) at40 = ag_state_tree_bytes(st);
  }
  size_t at160 = ag_state_tree_bytes(st);
  CHECK(at40 > 0);
  CHECK(at160 < at40 * 3 / 2);
  ag_state_close(st);
  test_rmdir(dir);
}

/* Commits the keys whose bit is set in live (versions ver) as height h and checks the root
 * against the in-memory tree of the same keys, and a proof of every key. */
static void commit_and_check(ag_state *st, uint64_t h, const uint8_t *live, const uint64_t *ver, size_t n) {
  uint8_t got[32], want[32];
  CHECK_OK(ag_state_apply(st, 1, got));
  ag_state_meta meta = {h, h, {0}, {0}};
  memcpy(meta.app_hash, got, 32);
  CHECK_OK(ag_state_commit(st, &meta, NULL, 0, NULL, 0));
  ag_smt *mem = ag_smt_new();
  ag_smt_update *u = calloc(n + 1, sizeof *u);
  size_t m = 0;
  for (uint64_t i = 0; i < n; i++)
    if (live[i]) {
      uint8_t v[64];
      mem_key(i, u[m].key);
      ag_state_value_hash(v, raw_val(i, ver[i], v), u[m].value_hash);
      m++;
    }
  qsort(u, m, sizeof *u, cmp_upd);
  ag_smt_apply(mem, u, m, 1);
  ag_smt_root(mem, want);
  CHECK_MEM(got, want, 32);
  for (uint64_t i = 0; i < n; i++) check_proof(st, AG_STATE_LATEST, i, live[i] ? ver[i] : 0, want, mem);
  free(u);
  ag_smt_free(mem);
}

/* Tiny states: the root is a leaf, then a bucket, then pages as keys arrive one by one, and back
 * down as they leave. */
TEST(disk_tree_small_states_grow_and_shrink) {
  enum { N = 80 };
  char *dir = test_tmpdir("ptree-small");
  ag_state *st;
  CHECK_OK(ag_state_open(dir, &st));
  uint8_t live[N] = {0};
  uint64_t ver[N] = {0}, h = 0;
  for (uint64_t i = 0; i < N; i++) {
    uint8_t k[9], v[64];
    live[i] = 1;
    ver[i] = i + 1;
    CHECK_OK(ag_state_put(st, k, raw_key(i, k), v, raw_val(i, ver[i], v)));
    commit_and_check(st, h++, live, ver, N);
  }
  for (uint64_t i = 0; i < N; i++) {
    uint8_t k[9];
    live[(i * 37) % N] = 0;
    CHECK_OK(ag_state_del(st, k, raw_key((i * 37) % N, k)));
    commit_and_check(st, h++, live, ver, N);
  }
  CHECK_EQ(ag_state_leaves(st), 0);
  ag_state_close(st);
  test_rmdir(dir);
}

/* The state store's LMDB environment opened directly, to damage or age it as a test needs. */
static void raw_open(const char *dir, MDB_env **env, MDB_txn **txn) {
  CHECK_OK(mdb_env_create(env));
  CHECK_OK(mdb_env_set_maxdbs(*env, 12));
  CHECK_OK(mdb_env_set_mapsize(*env, (size_t)1 << 30));
  CHECK_OK(mdb_env_open(*env, dir, 0, 0600));
  CHECK_OK(mdb_txn_begin(*env, NULL, 0, txn));
}

/* A store written before records carried their leaf hash and before the tree was on disk is
 * upgraded when opened: same root, proofs served. */
TEST(disk_tree_upgrades_an_older_store) {
  enum { N = 500 };
  char *dir = test_tmpdir("ptree-upgrade");
  ag_state *st;
  CHECK_OK(ag_state_open(dir, &st));
  uint8_t live[N];
  uint64_t ver[N];
  for (uint64_t i = 0; i < N; i++) {
    uint8_t k[9], v[64];
    live[i] = 1;
    ver[i] = 3;
    CHECK_OK(ag_state_put(st, k, raw_key(i, k), v, raw_val(i, 3, v)));
  }
  commit_and_check(st, 0, live, ver, N);
  ag_state_meta meta;
  CHECK_OK(ag_state_meta_get(st, &meta));
  ag_state_close(st);
  /* make it an older store: records without their leaf hash, no tree, no format marker */
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dstate, dmeta, dtree, droots;
  raw_open(dir, &env, &txn);
  CHECK_OK(mdb_dbi_open(txn, "state", 0, &dstate));
  CHECK_OK(mdb_dbi_open(txn, "meta", 0, &dmeta));
  CHECK_OK(mdb_dbi_open(txn, "tree", 0, &dtree));
  CHECK_OK(mdb_dbi_open(txn, "tree_roots", 0, &droots));
  MDB_cursor *cur;
  CHECK_OK(mdb_cursor_open(txn, dstate, &cur));
  MDB_val k, v;
  size_t n = 0;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    uint8_t key[32], rec[256];
    CHECK(v.mv_size > 32 && v.mv_size - 32 <= sizeof rec);
    memcpy(key, k.mv_data, 32);
    size_t len = v.mv_size - 32;
    memcpy(rec, (const uint8_t *)v.mv_data + 32, len);
    MDB_val nk = {32, key}, nv = {len, rec};
    CHECK_OK(mdb_cursor_put(cur, &nk, &nv, MDB_CURRENT));
    n++;
  }
  mdb_cursor_close(cur);
  CHECK_EQ(n, N + 0);
  MDB_val fk = {12, "state_format"};
  CHECK_OK(mdb_del(txn, dmeta, &fk, NULL));
  CHECK_OK(mdb_drop(txn, dtree, 0));
  CHECK_OK(mdb_drop(txn, droots, 0));
  CHECK_OK(mdb_txn_commit(txn));
  mdb_env_close(env);
  CHECK_OK(ag_state_open(dir, &st));
  CHECK_EQ(ag_state_leaves(st), N);
  for (uint64_t i = 0; i < N; i += 7) check_proof(st, AG_STATE_LATEST, i, 3, meta.app_hash, NULL);
  ag_buf fmt;
  ag_buf_init(&fmt);
  CHECK_OK(ag_state_meta_get_raw(st, "state_format", &fmt));
  CHECK_EQ(fmt.len, 1);
  ag_buf_free(&fmt);
  ag_state_close(st);
  test_rmdir(dir);
}

/* ag_state_check (agora node --check-state) passes an intact store and finds each kind of
 * damage: a value changed under its record's leaf hash, a record rewritten whole with a
 * consistent leaf hash (the tree no longer agrees), a record added, a page lost. */
static void damage_and_check(const char *dir, int how, int want) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dstate, dtree;
  raw_open(dir, &env, &txn);
  CHECK_OK(mdb_dbi_open(txn, "state", 0, &dstate));
  CHECK_OK(mdb_dbi_open(txn, "tree", 0, &dtree));
  MDB_cursor *cur;
  MDB_val k, v;
  uint8_t key[64], rec[2048];
  CHECK_OK(mdb_cursor_open(txn, how == 3 ? dtree : dstate, &cur));
  CHECK_OK(mdb_cursor_get(cur, &k, &v, MDB_FIRST));
  CHECK(k.mv_size <= sizeof key && v.mv_size <= sizeof rec);
  memcpy(key, k.mv_data, k.mv_size);
  memcpy(rec, v.mv_data, v.mv_size);
  size_t klen = k.mv_size, vlen = v.mv_size;
  mdb_cursor_close(cur);
  if (how == 0) { /* a value byte flipped: the stored leaf hash no longer matches */
    rec[vlen - 1] ^= 1;
  } else if (how == 1 || how == 2) { /* the record rewritten with a leaf hash that matches it */
    if (how == 2) key[31] ^= 1; /* ... or a new record beside it, under another path */
    rec[vlen - 1] ^= 1;
    uint8_t vh[32];
    size_t kl = rec[32];
    ag_state_value_hash(rec + 33 + kl, vlen - 33 - kl, vh);
    ag_smt_leaf_hash(key, vh, rec);
  }
  MDB_val nk = {klen, key}, nv = {vlen, rec};
  if (how == 3) CHECK_OK(mdb_del(txn, dtree, &nk, NULL));
  else CHECK_OK(mdb_put(txn, dstate, &nk, &nv, 0));
  CHECK_OK(mdb_txn_commit(txn));
  mdb_env_close(env);
  ag_state *st;
  CHECK_OK(ag_state_open(dir, &st));
  uint64_t keys;
  CHECK_EQ(ag_state_check(st, &keys), want);
  ag_state_close(st);
}

TEST(state_check_finds_damage) {
  enum { N = 700 };
  for (int how = -1; how < 4; how++) {
    char *dir = test_tmpdir("ptree-check");
    ag_state *st;
    CHECK_OK(ag_state_open(dir, &st));
    for (uint64_t i = 0; i < N; i++) {
      uint8_t k[9], v[64] = {0};
      CHECK_OK(ag_state_put(st, k, raw_key(i, k), v, raw_val(i, 5, v) + 1)); /* values of 1..41 bytes */
    }
    uint8_t r[32];
    CHECK_OK(ag_state_apply(st, 2, r));
    ag_state_meta meta = {0, 0, {0}, {0}};
    memcpy(meta.app_hash, r, 32);
    CHECK_OK(ag_state_commit(st, &meta, NULL, 0, NULL, 0));
    uint64_t keys = 0;
    CHECK_OK(ag_state_check(st, &keys));
    CHECK_EQ(keys, N + 0);
    ag_state_close(st);
    if (how >= 0) damage_and_check(dir, how, how == 3 ? AG_E_CORRUPT : AG_E_STATE_MISMATCH);
    test_rmdir(dir);
  }
}

TEST_MAIN(empty_and_single, incremental_equals_rebuild, parallel_large_batch_equals_serial,
          proofs_of_presence_and_absence, disk_tree_equals_memory_tree_across_heights_and_restarts,
          disk_tree_prunes_what_it_no_longer_keeps, disk_tree_small_states_grow_and_shrink,
          disk_tree_upgrades_an_older_store, state_check_finds_damage)
