/*
 * state.c — LMDB-backed state with a journaled write overlay and the in-memory Merkle tree.
 *
 * LMDB databases: "state" (hkey -> leaf_hash | klen u8 | key | value: the record's leaf hash
 * kept with it, for the tree's buckets), "meta" (name -> bytes),
 * "blocks" (height u64 BE -> block bytes), "txs" (tx hash -> location), and the tree
 * (ptree.h): "tree" (pages), "tree_stale" (what each version retired), "tree_roots" (height
 * u64be -> version u64le | keys u64le | root reference) and "state_old" (hkey | version u64be
 * -> the record that version replaced, empty when the key was absent). One write transaction
 * per block; readers use their own read-only transactions (MDB_NOTLS).
 */
#include "chain/state.h"

#include "chain/ptree.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  uint8_t hkey[32];
  uint8_t *val;
  uint32_t vlen;
  uint8_t klen;
  uint8_t used;    /* slot holds a key */
  uint8_t present; /* 1 = value set, 0 = deleted (or rolled back to "untouched", see touched) */
  uint8_t touched; /* 0 = rolled back to the committed value: ignore the slot */
  uint8_t key[AG_STATE_KEY_MAX];
  uint8_t lh[32]; /* leaf hash of the value, set by ag_state_apply */
} ov_entry;

typedef struct {
  uint32_t slot;
  uint8_t old_touched, old_present;
  uint8_t *old_val;
  uint32_t old_vlen;
} jrec;

struct ag_state {
  MDB_env *env;
  MDB_dbi db_state, db_meta, db_blocks, db_txs, db_hist, db_roots, db_old;
  ag_pt_db pt;
  ag_buf hist; /* history records of the block being executed: klen u8 | key | vlen u32le | val */
  uint64_t hist_keep; /* blocks of history kept (ag_state_set_history_keep); 0: all */
  MDB_txn *rtxn; /* writer's read snapshot for the block being executed */
  int lockfd;
  /* the committed tree: root of the head height, its version and number of keys */
  ag_pt_ref root;
  uint64_t seq, leaves;
  uint64_t versions; /* heights whose tree and values are kept for proofs (>= 1) */
  size_t mem_budget;  /* bytes of the LMDB map this process keeps resident (0: no bound) */
  void *map_addr;     /* where LMDB mapped data.mdb (map_addr) */
  int agrc;           /* the code behind AG_RECORDED */
  atomic_uint map_reads; /* reads since the last map_trim check (the tree reads on two threads) */
  ag_pt_batch pending; /* ag_state_apply's result, written by ag_state_commit */
  ag_pt_update *sorted; /* the overlay's keys in path order (ag_state_apply) */
  size_t nsorted;
  ov_entry *ov;
  uint32_t ov_cap, ov_used;
  jrec *jr;
  size_t jr_len, jr_cap;
  int applied; /* ag_state_apply ran: pending holds the block's tree pages */
  int fault;   /* first refused write since ag_state_fault_take (AG_E_STATE_LIMIT), or 0 */
  MDB_txn *restore; /* ag_state_restore_*: the write transaction of the batch being restored */
  int restoring;
  char fault_msg[160];
  char dir[1024];
};

/* Where an LMDB code is expected: an error already recorded with ag_fail (its code kept apart). */
#define AG_RECORDED (-30000)

static int lmdb_err(int rc, const char *what) {
  if (rc == MDB_MAP_FULL) return ag_fail(AG_E_IO, "%s: the LMDB map is full", what);
  return ag_fail(AG_E_IO, "%s: %s", what, mdb_strerror(rc));
}

void ag_state_hkey(const void *key, size_t klen, uint8_t out[32]) {
  ag_hash("agora/statekey", key, klen, out);
}

void ag_state_value_hash(const void *val, size_t vlen, uint8_t out[32]) {
  ag_hash("agora/value", val, vlen, out);
}

/* ---- overlay ---------------------------------------------------------------------------- */

static void ov_clear(ag_state *s) {
  for (uint32_t i = 0; i < s->ov_cap; i++)
    if (s->ov[i].used) free(s->ov[i].val);
  for (size_t i = 0; i < s->jr_len; i++) free(s->jr[i].old_val);
  if (s->ov) memset(s->ov, 0, (size_t)s->ov_cap * sizeof *s->ov);
  s->ov_used = 0;
  s->jr_len = 0;
  s->fault = 0;
  s->fault_msg[0] = 0;
  s->hist.len = 0;
}

static uint32_t ov_probe(const ag_state *s, const uint8_t hkey[32]) {
  uint32_t mask = s->ov_cap - 1;
  uint32_t i = (uint32_t)ag_get_u64le(hkey) & mask;
  while (s->ov[i].used && memcmp(s->ov[i].hkey, hkey, 32) != 0) i = (i + 1) & mask;
  return i;
}

static void ov_grow(ag_state *s) {
  ov_entry *old = s->ov;
  uint32_t oldcap = s->ov_cap;
  s->ov_cap = oldcap ? oldcap * 2 : 1024;
  s->ov = ag_xcalloc(s->ov_cap, sizeof *s->ov);
  /* The journal refers to slots: remap them. */
  uint32_t *map = oldcap ? ag_xmalloc(oldcap * sizeof *map) : NULL;
  for (uint32_t i = 0; i < oldcap; i++) {
    if (!old[i].used) continue;
    uint32_t j = ov_probe(s, old[i].hkey);
    s->ov[j] = old[i];
    map[i] = j;
  }
  for (size_t k = 0; k < s->jr_len; k++) s->jr[k].slot = map[s->jr[k].slot];
  free(map);
  free(old);
}

static void journal(ag_state *s, uint32_t slot) {
  if (s->jr_len == s->jr_cap) {
    s->jr_cap = s->jr_cap ? s->jr_cap * 2 : 1024;
    s->jr = ag_xrealloc(s->jr, s->jr_cap * sizeof *s->jr);
  }
  ov_entry *e = &s->ov[slot];
  s->jr[s->jr_len++] = (jrec){slot, e->touched, e->present, e->val, e->vlen};
}

/* A write the store cannot hold is refused, never fatal: the code reaches the caller and
 * stays as the overlay's fault, so a tx whose code ignored it still fails (app.c). */
static int refuse(ag_state *s, const char *fmt, size_t a, size_t b) {
  if (!s->fault) {
    s->fault = AG_E_STATE_LIMIT;
    snprintf(s->fault_msg, sizeof s->fault_msg, fmt, a, b);
  }
  return ag_fail(AG_E_STATE_LIMIT, fmt, a, b);
}

static int ov_set(ag_state *s, const void *key, size_t klen, const void *val, size_t vlen,
                  int present) {
  if (klen == 0 || klen > AG_STATE_KEY_MAX)
    return refuse(s, "a state key of %zu bytes is outside 1..%zu", klen, (size_t)AG_STATE_KEY_MAX);
  if (vlen > AG_STATE_VALUE_MAX)
    return refuse(s, "a state value of %zu bytes exceeds the limit of %zu", vlen,
                  (size_t)AG_STATE_VALUE_MAX);
  if ((s->ov_used + 1) * 4 >= s->ov_cap * 3) ov_grow(s);
  uint8_t hkey[32];
  ag_state_hkey(key, klen, hkey);
  uint32_t i = ov_probe(s, hkey);
  ov_entry *e = &s->ov[i];
  if (!e->used) {
    e->used = 1;
    memcpy(e->hkey, hkey, 32);
    e->klen = (uint8_t)klen;
    memcpy(e->key, key, klen);
    e->touched = 0;
    e->present = 0;
    e->val = NULL;
    e->vlen = 0;
    s->ov_used++;
  }
  journal(s, i); /* keeps the old value alive until rollback or commit */
  e->touched = 1;
  e->present = (uint8_t)present;
  e->val = NULL;
  e->vlen = 0;
  if (present) {
    e->val = ag_xmalloc(vlen ? vlen : 1);
    if (vlen) memcpy(e->val, val, vlen);
    e->vlen = (uint32_t)vlen;
  }
  return 0;
}

int ag_state_put(ag_state *s, const void *key, size_t klen, const void *val, size_t vlen) {
  return ov_set(s, key, klen, val, vlen, 1);
}

int ag_state_del(ag_state *s, const void *key, size_t klen) {
  return ov_set(s, key, klen, NULL, 0, 0);
}

int ag_state_fault_take(ag_state *s) {
  int f = s->fault;
  if (f) ag_fail(f, "%s", s->fault_msg);
  s->fault = 0;
  s->fault_msg[0] = 0;
  return f;
}

size_t ag_state_savepoint(const ag_state *s) { return s->jr_len; }

void ag_state_release(ag_state *s) {
  for (size_t i = 0; i < s->jr_len; i++) free(s->jr[i].old_val);
  s->jr_len = 0;
}

size_t ag_state_journal_bytes(const ag_state *s) {
  size_t n = s->jr_len * sizeof *s->jr;
  for (size_t i = 0; i < s->jr_len; i++) n += s->jr[i].old_vlen;
  return n;
}

void ag_state_rollback(ag_state *s, size_t sp) {
  while (s->jr_len > sp) {
    jrec *j = &s->jr[--s->jr_len];
    ov_entry *e = &s->ov[j->slot];
    free(e->val);
    e->val = j->old_val;
    e->vlen = j->old_vlen;
    e->touched = j->old_touched;
    e->present = j->old_present;
  }
}

int ag_state_overlay_each(ag_state *s,
                          int (*fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen),
                          void *ctx) {
  for (uint32_t i = 0; i < s->ov_cap; i++) {
    const ov_entry *e = &s->ov[i];
    if (!e->used || !e->touched) continue;
    int rc = fn(ctx, e->key, e->klen, e->present ? e->val : NULL, e->present ? e->vlen : 0);
    if (rc) return rc;
  }
  return 0;
}

size_t ag_state_dirty(const ag_state *s) {
  size_t n = 0;
  for (uint32_t i = 0; i < s->ov_cap; i++)
    if (s->ov[i].used && s->ov[i].touched) n++;
  return n;
}

/* ---- open / close ----------------------------------------------------------------------- */

static int load_tree(ag_state *s);
static void map_trim(ag_state *s);
static void *map_addr(ag_state *s);
#define MAP_CHECK_READS 256 /* reads between two checks of the memory budget (map_trim) */
static inline void map_read(ag_state *s) {
  if (atomic_fetch_add(&s->map_reads, 1) + 1 >= MAP_CHECK_READS) map_trim(s);
}
static int scan_state(void *ctx, MDB_txn *txn, const uint8_t key[32], int nibbles, uint64_t ver, ag_pt_leaves *out);
static int put_head(ag_state *s, MDB_txn *txn, const ag_state_meta *meta);

int ag_state_open(const char *dir, ag_state **out) {
  *out = NULL;
  int rc = ag_mkdirs(dir, 0700);
  if (rc) return rc;
  ag_state *s = ag_xcalloc(1, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  s->lockfd = -1;
  s->versions = AG_STATE_VERSIONS_DEFAULT;
  s->mem_budget = (size_t)AG_STATE_MEMORY_MB_DEFAULT << 20;
  ag_pt_batch_init(&s->pending);
  char lockpath[1100];
  snprintf(lockpath, sizeof lockpath, "%s/LOCK", dir);
  s->lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lockfd < 0) {
    rc = ag_fail(AG_E_IO, "%s: %s", lockpath, strerror(errno));
    goto fail;
  }
  if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
    rc = ag_fail(AG_E_LOCKED, "%s is in use by another agora process", dir);
    goto fail;
  }
  MDB_txn *txn = NULL;
  if ((rc = mdb_env_create(&s->env)) || (rc = mdb_env_set_maxdbs(s->env, 12)) ||
      (rc = mdb_env_set_mapsize(s->env, (size_t)1 << 38)) ||
      (rc = mdb_env_set_maxreaders(s->env, 512)) ||
      (rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NORDAHEAD, 0600))) {
    rc = lmdb_err(rc, "opening the state store");
    goto fail;
  }
  if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) ||
      (rc = mdb_dbi_open(txn, "state", MDB_CREATE, &s->db_state)) ||
      (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->db_meta)) ||
      (rc = mdb_dbi_open(txn, "blocks", MDB_CREATE, &s->db_blocks)) ||
      (rc = mdb_dbi_open(txn, "txs", MDB_CREATE, &s->db_txs)) ||
      (rc = mdb_dbi_open(txn, "history", MDB_CREATE, &s->db_hist)) ||
      (rc = mdb_dbi_open(txn, "tree", MDB_CREATE, &s->pt.pages)) ||
      (rc = mdb_dbi_open(txn, "tree_stale", MDB_CREATE, &s->pt.stale)) ||
      (rc = mdb_dbi_open(txn, "tree_roots", MDB_CREATE, &s->db_roots)) ||
      (rc = mdb_dbi_open(txn, "state_old", MDB_CREATE, &s->db_old)) || (rc = mdb_txn_commit(txn))) {
    if (txn) mdb_txn_abort(txn);
    rc = lmdb_err(rc, "opening the state databases");
    goto fail;
  }
  s->pt.env = s->env;
  map_addr(s); /* found once, before any thread may trim */
  s->pt.scan = scan_state;
  s->pt.scan_ctx = s;
  if ((rc = load_tree(s))) goto fail;
  *out = s;
  return 0;
fail:
  ag_state_close(s);
  return rc;
}

void ag_state_close(ag_state *s) {
  if (!s) return;
  if (s->rtxn) mdb_txn_abort(s->rtxn);
  if (s->restore) mdb_txn_abort(s->restore);
  if (s->ov) ov_clear(s);
  free(s->ov);
  ag_buf_free(&s->hist);
  free(s->jr);
  if (s->env) mdb_env_close(s->env);
  ag_pt_batch_free(&s->pending);
  free(s->sorted);
  if (s->lockfd >= 0) close(s->lockfd);
  free(s);
}

/* A state record: leaf_hash[32] | klen u8 | key | value. */
#define REC_LH 32

static int parse_record(const MDB_val *v, const uint8_t **key, size_t *klen, const uint8_t **val,
                        size_t *vlen) {
  if (v->mv_size < REC_LH + 1) return AG_E_CORRUPT;
  const uint8_t *p = (const uint8_t *)v->mv_data + REC_LH;
  size_t size = v->mv_size - REC_LH;
  if (p[0] == 0 || p[0] > AG_STATE_KEY_MAX || size < 1u + p[0]) return AG_E_CORRUPT;
  *klen = p[0];
  *key = p + 1;
  *val = p + 1 + p[0];
  *vlen = size - 1 - p[0];
  return 0;
}

/* Writes a record for hkey into p (REC_LH + 1 + klen + vlen bytes). */
static void record_fill(uint8_t *p, const uint8_t hkey[32], const uint8_t *lh, const void *key, size_t klen,
                        const void *val, size_t vlen) {
  if (lh) {
    memcpy(p, lh, 32);
  } else {
    uint8_t vh[32];
    ag_state_value_hash(val, vlen, vh);
    ag_smt_leaf_hash(hkey, vh, p);
  }
  p[REC_LH] = (uint8_t)klen;
  memcpy(p + REC_LH + 1, key, klen);
  if (vlen) memcpy(p + REC_LH + 1 + klen, val, vlen);
}

/* Calls fn with every record of the state in txn, in hkey order; stops at its first nonzero
 * return, which it returns. */
typedef int (*record_fn)(void *ctx, const uint8_t hkey[32], const uint8_t *key, size_t klen, const uint8_t *val,
                         size_t vlen);

static int walk_records(ag_state *s, MDB_txn *txn, record_fn fn, void *ctx) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, s->db_state, &cur);
  if (rc) return lmdb_err(rc, "reading state");
  MDB_val k, v;
  int op = MDB_FIRST, lrc;
  for (size_t n = 0; (lrc = mdb_cursor_get(cur, &k, &v, op)) == 0; n++) {
    op = MDB_NEXT;
    const uint8_t *key, *val;
    size_t klen, vlen;
    if (k.mv_size != 32 || parse_record(&v, &key, &klen, &val, &vlen)) {
      rc = ag_fail(AG_E_CORRUPT, "state record %zu is malformed", n);
      break;
    }
    if ((rc = fn(ctx, k.mv_data, key, klen, val, vlen))) break;
  }
  if (!rc && lrc != MDB_NOTFOUND) rc = lmdb_err(lrc, "reading state");
  mdb_cursor_close(cur);
  return rc;
}

/* ---- the tree (ptree.h) --------------------------------------------------------------------- */

static int has_prefix(const uint8_t *k, const uint8_t *key, int nibbles) {
  int whole = nibbles / 2;
  if (memcmp(k, key, (size_t)whole)) return 0;
  return !(nibbles & 1) || (k[whole] >> 4) == (key[whole] >> 4);
}

/* ag_pt_scan_fn over the state records: the leaves under a path prefix, with their stored leaf
 * hashes; for an older version, with the values that version held (state_old) in place. */
static int scan_state(void *ctx, MDB_txn *txn, const uint8_t key[32], int nibbles, uint64_t ver, ag_pt_leaves *out) {
  ag_state *s = ctx;
  map_read(s);
  uint8_t lo[40] = {0};
  memcpy(lo, key, (size_t)(nibbles + 1) / 2);
  if (nibbles & 1) lo[nibbles / 2] &= 0xf0;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, s->db_state, &cur);
  if (rc) return lmdb_err(rc, "reading state");
  MDB_val k = {32, lo}, v;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (k.mv_size != 32 || !has_prefix(k.mv_data, key, nibbles)) break;
    if (v.mv_size < REC_LH + 1) {
      mdb_cursor_close(cur);
      return ag_fail(AG_E_CORRUPT, "bad state record");
    }
    ag_pt_leaves_push(out, k.mv_data, v.mv_data);
  }
  mdb_cursor_close(cur);
  if (rc && rc != MDB_NOTFOUND) return lmdb_err(rc, "reading state");
  if (ver == AG_PT_CURRENT || s->versions <= 1) return 0;
  /* Older version: a key whose value changed after ver has, as its first state_old entry after
   * ver, the record it held then (empty: absent then). */
  ag_pt_leaves old = {0};
  uint8_t *absent = NULL;
  size_t acap = 0;
  if ((rc = mdb_cursor_open(txn, s->db_old, &cur))) return lmdb_err(rc, "reading state history");
  k = (MDB_val){40, lo};
  uint8_t last[32];
  int have_last = 0;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    const uint8_t *kk = k.mv_data;
    if (k.mv_size != 40 || !has_prefix(kk, key, nibbles)) break;
    if (ag_get_u64be(kk + 32) <= ver || (have_last && !memcmp(last, kk, 32))) continue;
    memcpy(last, kk, 32);
    have_last = 1;
    static const uint8_t none[32];
    ag_pt_leaves_push(&old, kk, v.mv_size >= REC_LH + 1 ? v.mv_data : none);
    if (old.n > acap) absent = ag_xrealloc(absent, acap = old.cap);
    absent[old.n - 1] = v.mv_size == 0;
  }
  mdb_cursor_close(cur);
  if (rc && rc != MDB_NOTFOUND) {
    free(old.v);
    free(absent);
    return lmdb_err(rc, "reading state history");
  }
  ag_pt_leaves now = *out;
  *out = (ag_pt_leaves){0};
  size_t i = 0, j = 0;
  while (i < now.n || j < old.n) {
    int d = i == now.n ? 1 : j == old.n ? -1 : memcmp(now.v[i].key, old.v[j].key, 32);
    if (d < 0) {
      ag_pt_leaves_push(out, now.v[i].key, now.v[i].leaf_hash);
      i++;
    } else {
      if (!absent[j]) ag_pt_leaves_push(out, old.v[j].key, old.v[j].leaf_hash);
      j++;
      if (d == 0) i++;
    }
  }
  free(now.v);
  free(old.v);
  free(absent);
  return 0;
}

/* tree_roots value: version u64le | keys u64le | root reference */
#define ROOT_REC (16 + AG_PT_REF_BYTES)

static void ref_root_hash(const ag_pt_ref *r, uint8_t out[32]) {
  if (r->kind == AG_PT_EMPTY) memset(out, 0, 32);
  else memcpy(out, r->hash, 32);
}

static int root_put(ag_state *s, MDB_txn *txn, uint64_t height, uint64_t seq, uint64_t leaves, const ag_pt_ref *r) {
  uint8_t kb[8], vb[ROOT_REC];
  ag_put_u64be(kb, height);
  ag_put_u64le(vb, seq);
  ag_put_u64le(vb + 8, leaves);
  ag_pt_ref_encode(r, vb + 16);
  MDB_val k = {8, kb}, v = {ROOT_REC, vb};
  return mdb_put(txn, s->db_roots, &k, &v, 0);
}

/* AG_E_NOTFOUND when height has no tree (not committed, or pruned). */
static int root_get(ag_state *s, MDB_txn *txn, uint64_t height, uint64_t *seq, uint64_t *leaves, ag_pt_ref *r) {
  uint8_t kb[8];
  ag_put_u64be(kb, height);
  MDB_val k = {8, kb}, v;
  int rc = mdb_get(txn, s->db_roots, &k, &v);
  if (rc == MDB_NOTFOUND) return AG_E_NOTFOUND;
  if (rc) return lmdb_err(rc, "reading the state tree");
  if (v.mv_size != ROOT_REC || ag_pt_ref_decode((const uint8_t *)v.mv_data + 16, AG_PT_REF_BYTES, r))
    return ag_fail(AG_E_CORRUPT, "the tree root of height %llu is malformed", (unsigned long long)height);
  *seq = ag_get_u64le(v.mv_data);
  *leaves = ag_get_u64le((const uint8_t *)v.mv_data + 8);
  return 0;
}

static int tree_drop(ag_state *s, MDB_txn *txn) {
  int rc;
  if ((rc = mdb_drop(txn, s->pt.pages, 0)) || (rc = mdb_drop(txn, s->pt.stale, 0)) ||
      (rc = mdb_drop(txn, s->db_roots, 0)) || (rc = mdb_drop(txn, s->db_old, 0)))
    return rc;
  memset(&s->root, 0, sizeof s->root);
  s->seq = s->leaves = 0;
  return 0;
}

#define BUILD_BATCH ((size_t)1 << 20)

typedef struct {
  ag_state *s;
  ag_pt_update *u;
  size_t n, cap; /* cap grows to BUILD_BATCH: a small state needs little */
  ag_pt_ref root;
  uint64_t leaves;
} builder;

/* Applies the builder's updates (the next keys in path order) and commits their pages. */
static int build_flush(builder *b) {
  if (!b->n) return 0;
  ag_pt_batch bt;
  ag_pt_batch_init(&bt);
  MDB_txn *txn = NULL;
  int rc = ag_pt_apply(&b->s->pt, &b->root, 1, b->u, b->n, ag_ncpu(), &bt);
  if (!rc) {
    int lrc = mdb_txn_begin(b->s->env, NULL, 0, &txn);
    if (!lrc && (rc = ag_pt_batch_write(&b->s->pt, txn, &bt, 1, 1))) mdb_txn_abort(txn);
    else if (!lrc) lrc = mdb_txn_commit(txn);
    if (lrc) rc = lmdb_err(lrc, "building the state tree");
  }
  if (!rc) {
    b->root = bt.root;
    b->leaves += b->n;
  }
  b->n = 0;
  ag_pt_batch_free(&bt);
  return rc;
}

static int build_add(void *ctx, const uint8_t hkey[32], const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen) {
  (void)key, (void)klen;
  builder *b = ctx;
  uint8_t vh[32];
  if (b->n == b->cap) b->u = ag_xrealloc(b->u, (b->cap = b->cap ? 2 * b->cap : 4096) * sizeof *b->u);
  memcpy(b->u[b->n].key, hkey, 32);
  ag_state_value_hash(val, vlen, vh); /* from the value: the build checks the records, not their hashes */
  ag_smt_leaf_hash(hkey, vh, b->u[b->n].leaf_hash);
  b->u[b->n].remove = 0;
  return ++b->n == BUILD_BATCH ? build_flush(b) : 0;
}

/* Builds the tree of the state's records as version 1 of height `height`, in batches of
 * BUILD_BATCH keys (memory stays bounded whatever the state's size). With expect, the root must
 * hash to it (AG_E_STATE_MISMATCH otherwise, and no root is recorded); with head, that head is
 * written in the same transaction as the root. */
static int build_tree(ag_state *s, uint64_t height, const uint8_t *expect, const ag_state_meta *head) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (!rc && (rc = tree_drop(s, txn)) == 0) rc = mdb_txn_commit(txn);
  else if (!rc) mdb_txn_abort(txn);
  if (rc) return lmdb_err(rc, "building the state tree");
  builder b = {s, NULL, 0, 0, {0}, 0};
  if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) {
    free(b.u);
    return lmdb_err(rc, "reading state");
  }
  rc = walk_records(s, txn, build_add, &b);
  mdb_txn_abort(txn);
  if (!rc) rc = build_flush(&b);
  free(b.u);
  if (rc) return rc;
  uint8_t root[32];
  ref_root_hash(&b.root, root);
  if (expect && memcmp(root, expect, 32) != 0)
    return ag_fail(AG_E_STATE_MISMATCH,
                   "state at height %llu does not hash to the recorded root: the store is damaged (rebuild it "
                   "with agora node --replay)",
                   (unsigned long long)height);
  int lrc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (!lrc) {
    lrc = root_put(s, txn, height, 1, b.leaves, &b.root);
    if (!lrc && head) lrc = put_head(s, txn, head);
    if (!lrc) lrc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
  }
  if (lrc) return lmdb_err(lrc, "building the state tree");
  s->root = b.root;
  s->seq = 1;
  s->leaves = b.leaves;
  return 0;
}

/* meta "state_format": "2" once records carry their leaf hash (REC_LH). */
#define STATE_FORMAT "2"

static int format_put(ag_state *s, MDB_txn *txn) {
  MDB_val k = {12, "state_format"}, v = {1, STATE_FORMAT};
  return mdb_put(txn, s->db_meta, &k, &v, 0);
}

/* Rewrites the records of a store written before they carried their leaf hash (klen u8 | key |
 * value) in the current format, 65,536 per transaction; the marker goes with the last batch. */
#define MIGRATE_BATCH 65536
static int migrate_records(ag_state *s) {
  MDB_txn *rd, *wr = NULL;
  MDB_cursor *cur;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &rd);
  if (rc) return lmdb_err(rc, "upgrading the state store");
  if ((rc = mdb_cursor_open(rd, s->db_state, &cur))) {
    mdb_txn_abort(rd);
    return lmdb_err(rc, "upgrading the state store");
  }
  ag_log(AG_LOG_INFO, "state", "upgrading the store: each record gets its leaf hash, then the tree is built on disk");
  MDB_val k, v;
  size_t n = 0;
  int lrc;
  for (lrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); lrc == 0 && !rc; lrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    const uint8_t *p = v.mv_data;
    if (k.mv_size != 32 || v.mv_size < 1 || p[0] == 0 || p[0] > AG_STATE_KEY_MAX || v.mv_size < 1u + p[0]) {
      rc = ag_fail(AG_E_CORRUPT, "state record %zu is malformed", n);
      break;
    }
    if (!wr && (lrc = mdb_txn_begin(s->env, NULL, 0, &wr))) break;
    MDB_val nv = {REC_LH + v.mv_size, NULL};
    if ((lrc = mdb_put(wr, s->db_state, &k, &nv, MDB_RESERVE))) break;
    record_fill(nv.mv_data, k.mv_data, NULL, p + 1, p[0], p + 1 + p[0], v.mv_size - 1 - p[0]);
    if (++n % MIGRATE_BATCH == 0) {
      lrc = mdb_txn_commit(wr);
      wr = NULL;
      if (lrc) break;
    }
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(rd);
  if (lrc == MDB_NOTFOUND) lrc = 0;
  if (!rc && !lrc && !wr) lrc = mdb_txn_begin(s->env, NULL, 0, &wr);
  if (!rc && !lrc) lrc = format_put(s, wr);
  if (!rc && !lrc) {
    lrc = mdb_txn_commit(wr);
    wr = NULL;
  }
  if (wr) mdb_txn_abort(wr);
  if (!rc && lrc) rc = lmdb_err(lrc, "upgrading the state store");
  return rc;
}

/* The committed tree at open: the head's root record, checked against the head's app hash. A
 * store without one (written before the tree was kept on disk, or a restore cut short) has its
 * tree built from the records. */
static int load_tree(ag_state *s) {
  ag_state_meta meta;
  ag_buf fmt;
  ag_buf_init(&fmt);
  int old_format = ag_state_meta_get_raw(s, "state_format", &fmt) != 0 || fmt.len != 1 || fmt.data[0] != STATE_FORMAT[0];
  ag_buf_free(&fmt);
  ag_err_clear();
  int rc = ag_state_meta_get(s, &meta);
  if (rc == AG_E_NOTFOUND) { /* nothing committed: no tree either */
    ag_err_clear();
    MDB_txn *txn;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn))) return lmdb_err(rc, "opening the state tree");
    if ((rc = tree_drop(s, txn)) == 0 && (rc = format_put(s, txn)) == 0) rc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
    return rc ? lmdb_err(rc, "opening the state tree") : 0;
  }
  if (rc) return rc;
  if (old_format && (rc = migrate_records(s))) return rc;
  MDB_txn *txn;
  if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) return lmdb_err(rc, "opening the state tree");
  rc = root_get(s, txn, meta.height, &s->seq, &s->leaves, &s->root);
  mdb_txn_abort(txn);
  if (rc == AG_E_NOTFOUND) return build_tree(s, meta.height, meta.app_hash, NULL);
  if (rc) return rc;
  uint8_t root[32];
  ref_root_hash(&s->root, root);
  if (memcmp(root, meta.app_hash, 32) != 0)
    return ag_fail(AG_E_STATE_MISMATCH,
                   "the state tree at height %llu does not hash to the recorded root: the store is damaged "
                   "(rebuild it with agora node --replay)",
                   (unsigned long long)meta.height);
  return 0;
}

/* ---- reads ------------------------------------------------------------------------------ */

static int writer_txn(ag_state *s) {
  if (s->rtxn) return 0;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
  return rc ? lmdb_err(rc, "reading state") : 0;
}

int ag_state_get(ag_state *s, const void *key, size_t klen, uint8_t *val, size_t cap,
                 size_t *vlen) {
  uint8_t hkey[32];
  ag_state_hkey(key, klen, hkey);
  if (s->ov_cap) {
    ov_entry *e = &s->ov[ov_probe(s, hkey)];
    if (e->used && e->touched) {
      if (!e->present) return AG_E_NOTFOUND;
      *vlen = e->vlen;
      if (e->vlen) memcpy(val, e->val, AG_MIN(cap, e->vlen));
      return 0;
    }
  }
  int rc = writer_txn(s);
  if (rc) return rc;
  map_read(s);
  MDB_val k = {32, hkey}, v;
  rc = mdb_get(s->rtxn, s->db_state, &k, &v);
  if (rc == MDB_NOTFOUND) return AG_E_NOTFOUND;
  if (rc) return lmdb_err(rc, "reading state");
  const uint8_t *rk, *rv;
  size_t rkl, rvl;
  if (parse_record(&v, &rk, &rkl, &rv, &rvl)) return ag_fail(AG_E_CORRUPT, "bad state record");
  *vlen = rvl;
  if (rvl) memcpy(val, rv, AG_MIN(cap, rvl));
  return 0;
}

int ag_state_get_buf(ag_state *s, const void *key, size_t klen, ag_buf *out) {
  ag_buf_reset(out);
  size_t vlen = 0;
  ag_buf_reserve(out, 256);
  int rc = ag_state_get(s, key, klen, out->data, out->cap - 1, &vlen);
  if (rc) return rc;
  if (vlen > out->cap - 1) {
    ag_buf_reserve(out, vlen);
    rc = ag_state_get(s, key, klen, out->data, out->cap - 1, &vlen);
    if (rc) return rc;
  }
  out->len = vlen;
  return 0;
}

int ag_state_get_committed(ag_state *s, const void *key, size_t klen, ag_buf *out) {
  uint8_t hkey[32];
  ag_state_hkey(key, klen, hkey);
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc) return lmdb_err(rc, "reading state");
  MDB_val k = {32, hkey}, v;
  rc = mdb_get(txn, s->db_state, &k, &v);
  if (rc == 0) {
    const uint8_t *rk, *rv;
    size_t rkl, rvl;
    if (parse_record(&v, &rk, &rkl, &rv, &rvl)) {
      rc = ag_fail(AG_E_CORRUPT, "bad state record");
    } else {
      ag_buf_reset(out);
      ag_buf_put(out, rv, rvl);
    }
  } else {
    rc = rc == MDB_NOTFOUND ? AG_E_NOTFOUND : lmdb_err(rc, "reading state");
  }
  mdb_txn_abort(txn);
  return rc;
}

/* The head record (meta "head", 80 bytes): height u64le | time_ms u64le | app_hash | block_hash.
 * Returns the LMDB code. */
static int put_head(ag_state *s, MDB_txn *txn, const ag_state_meta *meta) {
  uint8_t head[80];
  ag_put_u64le(head, meta->height);
  ag_put_u64le(head + 8, meta->time_ms);
  memcpy(head + 16, meta->app_hash, 32);
  memcpy(head + 48, meta->block_hash, 32);
  MDB_val k = {4, "head"}, v = {80, head};
  return mdb_put(txn, s->db_meta, &k, &v, 0);
}

static void meta_decode(const uint8_t *p, ag_state_meta *m) {
  m->height = ag_get_u64le(p);
  m->time_ms = ag_get_u64le(p + 8);
  memcpy(m->app_hash, p + 16, 32);
  memcpy(m->block_hash, p + 48, 32);
}

int ag_state_meta_get(ag_state *s, ag_state_meta *meta) {
  ag_buf b;
  ag_buf_init(&b);
  int rc = ag_state_meta_get_raw(s, "head", &b);
  if (rc == 0 && b.len != 80) rc = ag_fail(AG_E_CORRUPT, "bad head record");
  if (rc == 0) meta_decode(b.data, meta);
  ag_buf_free(&b);
  return rc;
}

int ag_state_meta_get_raw(ag_state *s, const char *name, ag_buf *out) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc) return lmdb_err(rc, "reading metadata");
  MDB_val k = {strlen(name), (void *)name}, v;
  rc = mdb_get(txn, s->db_meta, &k, &v);
  if (rc == 0) {
    ag_buf_reset(out);
    ag_buf_put(out, v.mv_data, v.mv_size);
  } else {
    rc = rc == MDB_NOTFOUND ? AG_E_NOTFOUND : lmdb_err(rc, "reading metadata");
  }
  mdb_txn_abort(txn);
  return rc;
}

int ag_state_meta_put_raw(ag_state *s, const char *name, const void *val, size_t len) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (rc) return lmdb_err(rc, "writing metadata");
  MDB_val k = {strlen(name), (void *)name}, v = {len, (void *)val};
  if ((rc = mdb_put(txn, s->db_meta, &k, &v, 0)) || (rc = mdb_txn_commit(txn))) {
    if (rc && txn) mdb_txn_abort(txn);
    return lmdb_err(rc, "writing metadata");
  }
  return 0;
}

int ag_state_block(ag_state *s, uint64_t height, ag_buf *out) {
  uint8_t hk[8];
  ag_put_u64be(hk, height);
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc) return lmdb_err(rc, "reading blocks");
  MDB_val k = {8, hk}, v;
  rc = mdb_get(txn, s->db_blocks, &k, &v);
  if (rc == 0) {
    ag_buf_reset(out);
    ag_buf_put(out, v.mv_data, v.mv_size);
  } else {
    rc = rc == MDB_NOTFOUND ? AG_E_NOTFOUND : lmdb_err(rc, "reading blocks");
  }
  mdb_txn_abort(txn);
  return rc;
}

uint64_t ag_state_block_count(ag_state *s) {
  MDB_txn *txn;
  MDB_cursor *cur;
  uint64_t h = 0;
  if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) return 0;
  if (mdb_cursor_open(txn, s->db_blocks, &cur) == 0) {
    MDB_val k, v;
    if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8) h = ag_get_u64be(k.mv_data);
    mdb_cursor_close(cur);
  }
  mdb_txn_abort(txn);
  return h;
}

int ag_state_tx_lookup(ag_state *s, const uint8_t hash[32], ag_tx_location *loc) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc) return lmdb_err(rc, "reading the tx index");
  MDB_val k = {32, (void *)hash}, v;
  rc = mdb_get(txn, s->db_txs, &k, &v);
  if (rc == 0) {
    const uint8_t *p = v.mv_data;
    if (v.mv_size < 18 || v.mv_size != 18u + ag_get_u16le(p + 16) ||
        ag_get_u16le(p + 16) >= sizeof loc->log) {
      rc = ag_fail(AG_E_CORRUPT, "bad tx index record");
    } else {
      memset(loc, 0, sizeof *loc);
      loc->height = ag_get_u64le(p);
      loc->index = ag_get_u32le(p + 8);
      loc->code = (int32_t)ag_get_u32le(p + 12);
      memcpy(loc->log, p + 18, ag_get_u16le(p + 16));
    }
  } else {
    rc = rc == MDB_NOTFOUND ? AG_E_NOTFOUND : lmdb_err(rc, "reading the tx index");
  }
  mdb_txn_abort(txn);
  return rc;
}

/* The record of hkey as of the tree version seq: the one the first later version replaced, if
 * any (state_old), else the current one. 0, AG_E_NOTFOUND when absent then. */
static int value_at(ag_state *s, MDB_txn *txn, const uint8_t hkey[32], uint64_t seq, MDB_val *out) {
  uint8_t kb[40];
  memcpy(kb, hkey, 32);
  ag_put_u64be(kb + 32, seq + 1);
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, s->db_old, &cur);
  if (rc) return lmdb_err(rc, "reading state history");
  MDB_val k = {40, kb}, v;
  rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  int older = rc == 0 && k.mv_size == 40 && memcmp(k.mv_data, hkey, 32) == 0;
  mdb_cursor_close(cur);
  if (older) {
    if (v.mv_size == 0) return AG_E_NOTFOUND; /* created after seq */
    *out = v;
    return 0;
  }
  k = (MDB_val){32, (void *)hkey};
  rc = mdb_get(txn, s->db_state, &k, out);
  return rc == MDB_NOTFOUND ? AG_E_NOTFOUND : rc ? lmdb_err(rc, "reading state") : 0;
}

int ag_state_prove(ag_state *s, const void *key, size_t klen, ag_smt_proof *proof,
                   uint8_t root[32], uint64_t *height, ag_buf *val, int *present) {
  return ag_state_prove_at(s, AG_STATE_LATEST, key, klen, proof, root, height, val, present);
}

int ag_state_prove_at(ag_state *s, uint64_t at, const void *key, size_t klen, ag_smt_proof *proof,
                      uint8_t root[32], uint64_t *height, ag_buf *val, int *present) {
  uint8_t hkey[32], lh[32], h[32];
  ag_state_hkey(key, klen, hkey);
  *present = 0;
  *height = 0;
  /* One read transaction: the head, the root and every page and value are of one commit. */
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc) return lmdb_err(rc, "reading state");
  MDB_val hk = {4, "head"}, hv;
  rc = mdb_get(txn, s->db_meta, &hk, &hv);
  uint64_t head = rc == 0 && hv.mv_size == 80 ? ag_get_u64le(hv.mv_data) : 0;
  uint64_t seq = 0, leaves;
  ag_pt_ref r;
  memset(&r, 0, sizeof r);
  if (rc == MDB_NOTFOUND) { /* nothing committed: the empty tree */
    rc = 0;
    if (at != AG_STATE_LATEST) rc = ag_fail(AG_E_NOTFOUND, "no height is committed yet");
  } else if (rc) {
    rc = lmdb_err(rc, "reading state");
  } else {
    if (at == AG_STATE_LATEST) at = head;
    if (at > head)
      rc = ag_fail(AG_E_NOTFOUND, "height %llu is not committed yet (the last is %llu)", (unsigned long long)at,
                   (unsigned long long)head);
    else if ((rc = root_get(s, txn, at, &seq, &leaves, &r)) == AG_E_NOTFOUND)
      rc = ag_fail(AG_E_NOTFOUND, "the state of height %llu is no longer kept (the last %llu heights are)",
                   (unsigned long long)at, (unsigned long long)s->versions);
    *height = at;
  }
  if (!rc) rc = ag_pt_prove(&s->pt, txn, &r, seq, hkey, proof, lh); /* seq: this snapshot's values */
  ref_root_hash(&r, root);
  if (!rc && proof->terminal) {
    MDB_val v;
    const uint8_t *rk, *rv;
    size_t rkl, rvl;
    rc = value_at(s, txn, proof->leaf_key, seq, &v);
    if (rc == 0 && parse_record(&v, &rk, &rkl, &rv, &rvl) == 0) {
      ag_state_value_hash(rv, rvl, proof->leaf_value_hash);
      ag_smt_leaf_hash(proof->leaf_key, proof->leaf_value_hash, h);
      if (memcmp(h, lh, 32) != 0) {
        rc = ag_fail(AG_E_CORRUPT, "a state tree leaf does not match its value: the store is damaged");
      } else if (memcmp(proof->leaf_key, hkey, 32) == 0) {
        *present = 1;
        ag_buf_reset(val);
        ag_buf_put(val, rv, rvl);
      }
    } else if (rc == 0 || rc == AG_E_NOTFOUND) {
      rc = ag_fail(AG_E_CORRUPT, "a state tree leaf is missing from the store");
    }
  }
  mdb_txn_abort(txn);
  return rc;
}

int ag_state_iterate(ag_state *s,
                     int (*fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                               size_t vlen),
                     void *ctx) {
  MDB_txn *txn;
  MDB_cursor *cur;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc) return lmdb_err(rc, "reading state");
  if ((rc = mdb_cursor_open(txn, s->db_state, &cur))) {
    mdb_txn_abort(txn);
    return lmdb_err(rc, "reading state");
  }
  MDB_val k, v;
  int op = MDB_FIRST;
  rc = 0;
  while (mdb_cursor_get(cur, &k, &v, op) == 0) {
    op = MDB_NEXT;
    const uint8_t *key, *val;
    size_t klen, vlen;
    if (parse_record(&v, &key, &klen, &val, &vlen)) {
      rc = ag_fail(AG_E_CORRUPT, "bad state record");
      break;
    }
    if (fn(ctx, key, klen, val, vlen)) break;
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return rc;
}

/* ---- block lifecycle -------------------------------------------------------------------- */

static int cmp_upd(const void *a, const void *b) {
  return memcmp(((const ag_pt_update *)a)->key, ((const ag_pt_update *)b)->key, 32);
}

int ag_state_apply(ag_state *s, int threads, uint8_t root[32]) {
  size_t n = 0;
  ag_pt_update *u = ag_xmalloc((s->ov_used + 1) * sizeof *u);
  for (uint32_t i = 0; i < s->ov_cap; i++) {
    ov_entry *e = &s->ov[i];
    if (!e->used || !e->touched) continue;
    memcpy(u[n].key, e->hkey, 32);
    u[n].remove = !e->present;
    if (e->present) {
      uint8_t vh[32];
      ag_state_value_hash(e->val, e->vlen, vh);
      ag_smt_leaf_hash(e->hkey, vh, u[n].leaf_hash);
      memcpy(e->lh, u[n].leaf_hash, 32);
    }
    n++;
  }
  qsort(u, n, sizeof *u, cmp_upd);
  ag_pt_batch_free(&s->pending);
  ag_pt_batch_init(&s->pending);
  int rc = ag_pt_apply(&s->pt, &s->root, s->seq + 1, u, n, threads, &s->pending);
  free(s->sorted);
  s->sorted = u; /* the commit writes the records in this order: neighbours share B-tree pages */
  s->nsorted = n;
  s->applied = rc == 0;
  ref_root_hash(rc ? &s->root : &s->pending.root, root);
  map_trim(s);
  return rc;
}

/* The block's history records, and the list of their keys under '#' | height u64be
 * (klen u8 | key, ...), by which hist_prune finds them again. */
static int hist_write(ag_state *s, MDB_txn *txn, uint64_t height) {
  ag_buf keys;
  ag_buf_init(&keys);
  int rc = 0;
  for (size_t o = 0; !rc && o < s->hist.len;) {
    const uint8_t *h = s->hist.data + o;
    MDB_val k = {h[0], (void *)(h + 1)}, v = {ag_get_u32le(h + 1 + h[0]), (void *)(h + 5 + h[0])};
    map_read(s);
    rc = mdb_put(txn, s->db_hist, &k, &v, 0);
    ag_buf_put(&keys, h, 1 + k.mv_size);
    o += 5 + k.mv_size + v.mv_size;
  }
  if (!rc) {
    uint8_t lk[9] = {AG_STATE_HIST_LIST};
    ag_put_u64be(lk + 1, height);
    MDB_val k = {sizeof lk, lk}, v = {keys.len, keys.data};
    rc = mdb_put(txn, s->db_hist, &k, &v, 0);
  }
  ag_buf_free(&keys);
  return rc;
}

/* Deletes the history of the oldest blocks at or below height, at most HIST_PRUNE_BLOCKS of
 * them per commit: bounded work per block, and a horizon lowered on a long chain catches up at
 * that many blocks per block. */
#define HIST_PRUNE_BLOCKS 64
static int hist_prune(ag_state *s, MDB_txn *txn, uint64_t height) {
  int rc = 0;
  ag_buf list;
  ag_buf_init(&list);
  for (int n = 0; rc == 0 && n < HIST_PRUNE_BLOCKS; n++) {
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, s->db_hist, &cur))) break;
    uint8_t lk[9] = {AG_STATE_HIST_LIST};
    MDB_val k = {1, lk}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); /* the oldest list */
    int old = rc == 0 && k.mv_size == 9 && ((const uint8_t *)k.mv_data)[0] == AG_STATE_HIST_LIST &&
              ag_get_u64be((const uint8_t *)k.mv_data + 1) <= height;
    if (old) { /* copied: the pages move once records are deleted */
      memcpy(lk, k.mv_data, 9);
      list.len = 0;
      ag_buf_put(&list, v.mv_data, v.mv_size);
    }
    mdb_cursor_close(cur);
    if (!old) {
      rc = rc == MDB_NOTFOUND ? 0 : rc;
      break;
    }
    for (size_t o = 0; rc == 0 && o < list.len && o + 1 + list.data[o] <= list.len; o += 1 + list.data[o]) {
      MDB_val dk = {list.data[o], list.data + o + 1};
      rc = mdb_del(txn, s->db_hist, &dk, NULL);
      if (rc == MDB_NOTFOUND) rc = 0;
    }
    MDB_val dk = {9, lk};
    if (!rc) rc = mdb_del(txn, s->db_hist, &dk, NULL);
  }
  ag_buf_free(&list);
  return rc;
}

void ag_state_set_history_keep(ag_state *s, uint64_t blocks) { s->hist_keep = blocks; }

/* The memory budget. Reads map LMDB's file into the process (read-only, shared), and every page
 * read stays resident until the kernel needs the memory: a big state would make the process
 * as large as the part of the file it ever read. After each commit, when more of the map is
 * resident than the budget, the process lets go of all of it (MADV_DONTNEED: the pages stay in
 * the kernel's page cache, shared and reclaimable, and the next read maps them back). */
static void *map_addr(ag_state *s) {
  /* LMDB does not tell where it mapped the file (mdb_env_info's me_mapaddr is only set with
   * MDB_FIXEDMAP): find the mapping of data.mdb in /proc/self/maps, once. */
  if (s->map_addr) return s->map_addr;
  char want[1100], line[1400];
  snprintf(want, sizeof want, "/data.mdb");
  FILE *f = fopen("/proc/self/maps", "r");
  while (f && fgets(line, sizeof line, f)) {
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n') line[--n] = 0;
    const char *path = strchr(line, '/');
    if (!path || n < strlen(want) || strcmp(line + n - strlen(want), want) != 0) continue;
    char real[1100];
    snprintf(real, sizeof real, "%s/data.mdb", s->dir);
    char *rp = realpath(real, NULL);
    int same = rp && strcmp(rp, path) == 0;
    free(rp);
    if (same) {
      s->map_addr = (void *)(uintptr_t)strtoull(line, NULL, 16);
      break;
    }
  }
  if (f) fclose(f);
  return s->map_addr;
}

/* Pages of shared file mappings resident in the process (/proc/self/statm's third field: the
 * LMDB map, and the program's own files, a few MB), in bytes; 0 if unknown. */
static size_t shared_resident(void) {
  char buf[256];
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  unsigned long long size, res, shared;
  if (sscanf(buf, "%llu %llu %llu", &size, &res, &shared) != 3) return 0;
  return (size_t)shared * (size_t)sysconf(_SC_PAGESIZE);
}

/* Lets go of the map's pages when more than the budget is resident. A page fault on a file
 * mapping maps up to 16 neighbouring cached pages as well (the kernel's fault-around), so the
 * writer checks every MAP_CHECK_READS reads, not only at commit. */
static void map_trim(ag_state *s) {
  atomic_store(&s->map_reads, 0);
  if (!s->mem_budget || shared_resident() <= s->mem_budget) return;
  MDB_envinfo info;
  MDB_stat st;
  void *addr = map_addr(s);
  if (!addr || mdb_env_info(s->env, &info) || mdb_env_stat(s->env, &st)) return;
  long pg = sysconf(_SC_PAGESIZE);
  size_t len = (size_t)(info.me_last_pgno + 1) * st.ms_psize;
  len = (len + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
  if (len > info.me_mapsize) len = info.me_mapsize;
  madvise(addr, len, MADV_DONTNEED);
}

/* Deletes a record that tree version pruning retires ('v': a value of state_old). */
static int del_old(void *ctx, MDB_txn *txn, const uint8_t *rec, size_t len) {
  ag_state *s = ctx;
  if (len < 2 || rec[0] != 'v') return 0;
  MDB_val k = {rec[1], (void *)(rec + 2)};
  int rc = mdb_del(txn, s->db_old, &k, NULL);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Drops what no kept height needs: the roots of heights at or below height - versions, and the
 * pages and old values retired up to the oldest kept root's version. */
#define TREE_PRUNE_VERSIONS 64
static int tree_prune(ag_state *s, MDB_txn *txn, uint64_t height) {
  if (height < s->versions) return 0;
  uint64_t oldest = height - s->versions + 1, upto = 0;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, s->db_roots, &cur);
  if (rc) return rc;
  uint8_t kb[8];
  ag_put_u64be(kb, oldest);
  MDB_val k = {8, kb}, v;
  if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) == 0 && v.mv_size == ROOT_REC) upto = ag_get_u64le(v.mv_data);
  rc = rc == MDB_NOTFOUND ? 0 : rc;
  for (int n = 0; !rc && n < TREE_PRUNE_VERSIONS; n++) { /* the roots below, oldest first */
    if ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) || k.mv_size != 8 || ag_get_u64be(k.mv_data) >= oldest) break;
    rc = mdb_cursor_del(cur, 0);
  }
  rc = rc == MDB_NOTFOUND ? 0 : rc;
  mdb_cursor_close(cur);
  if (!rc && upto && (s->agrc = ag_pt_prune(&s->pt, txn, upto, TREE_PRUNE_VERSIONS, del_old, s))) rc = AG_RECORDED;
  return rc;
}

typedef struct {
  const uint8_t *hash;
  size_t i;
} tx_ord;

static int cmp_tx_ord(const void *a, const void *b) {
  const tx_ord *x = a, *y = b;
  int c = memcmp(x->hash, y->hash, 32);
  return c ? c : (x->i > y->i) - (x->i < y->i);
}

int ag_state_commit(ag_state *s, const ag_state_meta *meta, const uint8_t *block,
                    size_t block_len, const ag_tx_index_entry *txs, size_t ntx) {
  if (s->rtxn) {
    mdb_txn_abort(s->rtxn);
    s->rtxn = NULL;
  }
  MDB_txn *txn = NULL;
  uint8_t root[32];
  int rc = s->applied ? 0 : ag_state_apply(s, 1, root);
  if (rc) goto out;
  uint64_t seq = s->seq + 1, leaves = s->leaves;
  int keep = s->versions > 1;
  ag_buf old;
  ag_buf_init(&old);
  if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn))) {
    rc = lmdb_err(rc, "committing");
    goto out;
  }
  for (size_t i = 0; i < s->nsorted; i++) {
    ov_entry *e = &s->ov[ov_probe(s, s->sorted[i].key)];
    if (!e->used || !e->touched) continue;
    MDB_val k = {32, e->hkey}, was;
    map_read(s);
    int had = mdb_get(txn, s->db_state, &k, &was) == 0;
    leaves += (uint64_t)(e->present && !had) - (uint64_t)(!e->present && had);
    if (keep && (had || e->present)) { /* the value this version replaces, for proofs of kept heights */
      uint8_t ok[42] = {'v', 40};
      memcpy(ok + 2, e->hkey, 32);
      ag_put_u64be(ok + 34, seq);
      ag_buf_reset(&old); /* copied: a record read is only valid until the next write */
      if (had) ag_buf_put(&old, was.mv_data, was.mv_size);
      MDB_val k2 = {40, ok + 2}, v2 = {old.len, old.data};
      if ((rc = mdb_put(txn, s->db_old, &k2, &v2, 0))) break;
      ag_buf_put(&s->pending.retire, ok, sizeof ok);
    }
    if (e->present) {
      MDB_val v = {REC_LH + 1u + e->klen + e->vlen, NULL};
      if ((rc = mdb_put(txn, s->db_state, &k, &v, MDB_RESERVE))) break;
      record_fill(v.mv_data, e->hkey, e->lh, e->key, e->klen, e->val, e->vlen);
    } else {
      rc = mdb_del(txn, s->db_state, &k, NULL);
      if (rc == MDB_NOTFOUND) rc = 0;
      if (rc) break;
    }
  }
  if (!rc && (s->agrc = ag_pt_batch_write(&s->pt, txn, &s->pending, seq, keep))) rc = AG_RECORDED;
  if (!rc) rc = root_put(s, txn, meta->height, seq, leaves, &s->pending.root);
  if (!rc) rc = tree_prune(s, txn, meta->height);
  if (!rc) rc = put_head(s, txn, meta);
  if (!rc && block) {
    uint8_t hk[8];
    ag_put_u64be(hk, meta->height);
    MDB_val k = {8, hk}, v = {block_len, (void *)block};
    rc = mdb_put(txn, s->db_blocks, &k, &v, 0);
  }
  /* the tx index in hash order (stable: a hash repeated in the block keeps its order) */
  tx_ord *ord = ag_xmalloc((ntx ? ntx : 1) * sizeof *ord);
  for (size_t i = 0; i < ntx; i++) ord[i] = (tx_ord){txs[i].hash, i};
  qsort(ord, ntx, sizeof *ord, cmp_tx_ord);
  for (size_t oi = 0; !rc && oi < ntx; oi++) {
    size_t i = ord[oi].i;
    const ag_tx_location *l = &txs[i].loc;
    MDB_val k = {32, (void *)txs[i].hash}, v;
    /* A hash may repeat when a failed tx is included again later; keep the successful one. */
    map_read(s);
    if (l->code != 0 && mdb_get(txn, s->db_txs, &k, &v) == 0 && v.mv_size >= 16 &&
        ag_get_u32le((const uint8_t *)v.mv_data + 12) == 0)
      continue;
    size_t loglen = strnlen(l->log, sizeof l->log - 1);
    uint8_t rec[18 + sizeof l->log];
    ag_put_u64le(rec, l->height);
    ag_put_u32le(rec + 8, l->index);
    ag_put_u32le(rec + 12, (uint32_t)l->code);
    ag_put_u16le(rec + 16, (uint16_t)loglen);
    memcpy(rec + 18, l->log, loglen);
    v = (MDB_val){18 + loglen, rec};
    rc = mdb_put(txn, s->db_txs, &k, &v, 0);
  }
  free(ord);
  if (!rc && s->hist.len) rc = hist_write(s, txn, meta->height);
  if (!rc && s->hist_keep && meta->height > s->hist_keep) rc = hist_prune(s, txn, meta->height - s->hist_keep);
  if (rc) {
    ag_buf_free(&old);
    mdb_txn_abort(txn);
    rc = rc == AG_RECORDED ? s->agrc : lmdb_err(rc, "committing");
    goto out;
  }
  ag_buf_free(&old);
  if ((rc = mdb_txn_commit(txn))) {
    rc = lmdb_err(rc, "committing");
  } else {
    s->root = s->pending.root;
    s->seq = seq;
    s->leaves = leaves;
  }
out:
  ov_clear(s);
  s->applied = 0;
  ag_pt_batch_free(&s->pending);
  ag_pt_batch_init(&s->pending);
  free(s->sorted);
  s->sorted = NULL;
  s->nsorted = 0;
  map_trim(s);
  return rc;
}

void ag_state_record_put(ag_buf *out, const void *key, size_t klen, const void *val, size_t vlen) {
  uint8_t h[4];
  h[0] = (uint8_t)klen;
  ag_buf_put(out, h, 1);
  ag_buf_put(out, key, klen);
  ag_put_u32le(h, (uint32_t)vlen);
  ag_buf_put(out, h, 4);
  if (vlen) ag_buf_put(out, val, vlen);
}

void ag_state_hist_put(ag_state *s, const void *key, size_t klen, const void *val, size_t vlen) {
  if (!klen || klen > AG_STATE_HIST_KEY_MAX || vlen > AG_STATE_HIST_VALUE_MAX) return; /* callers build bounded records */
  ag_state_record_put(&s->hist, key, klen, val, vlen);
}

int ag_state_hist_scan(ag_state *s, const void *prefix, size_t plen, const void *before, size_t blen, size_t limit,
                       int (*fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen),
                       void *ctx) {
  uint8_t seek[AG_STATE_HIST_KEY_MAX + 1];
  size_t slen;
  if (plen > AG_STATE_HIST_KEY_MAX || blen > AG_STATE_HIST_KEY_MAX) return ag_fail(AG_E_INVALID, "history key too long");
  if (before && blen) {
    memcpy(seek, before, blen);
    slen = blen;
  } else { /* past every key with the prefix */
    memcpy(seek, prefix, plen);
    memset(seek + plen, 0xff, sizeof seek - plen);
    slen = sizeof seek;
  }
  MDB_txn *txn;
  MDB_cursor *cur;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc) return lmdb_err(rc, "reading history");
  if ((rc = mdb_cursor_open(txn, s->db_hist, &cur))) {
    mdb_txn_abort(txn);
    return lmdb_err(rc, "reading history");
  }
  MDB_val k = {slen, seek}, v;
  rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); /* the first key >= seek; the one before it is ours */
  rc = mdb_cursor_get(cur, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
  for (size_t n = 0; rc == 0 && n < limit; n++) {
    if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen)) break;
    if (fn(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size)) break;
    rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return rc == 0 || rc == MDB_NOTFOUND ? 0 : lmdb_err(rc, "reading history");
}

void ag_state_discard(ag_state *s) {
  if (s->rtxn) {
    mdb_txn_abort(s->rtxn);
    s->rtxn = NULL;
  }
  ov_clear(s);
  s->applied = 0; /* the block's pages were never written: the committed tree stands */
  ag_pt_batch_free(&s->pending);
  ag_pt_batch_init(&s->pending);
  free(s->sorted);
  s->sorted = NULL;
  s->nsorted = 0;
}

int ag_state_reset(ag_state *s) {
  ag_state_discard(s);
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (rc) return lmdb_err(rc, "resetting state");
  MDB_val k = {4, "head"};
  if ((rc = mdb_drop(txn, s->db_state, 0)) || (rc = mdb_drop(txn, s->db_txs, 0)) || (rc = mdb_drop(txn, s->db_hist, 0)) ||
      (rc = tree_drop(s, txn)) || ((rc = mdb_del(txn, s->db_meta, &k, NULL)) && rc != MDB_NOTFOUND)) {
    mdb_txn_abort(txn);
    load_tree(s); /* tree_drop forgot the root: read it again */
    return lmdb_err(rc, "resetting state");
  }
  if ((rc = mdb_txn_commit(txn))) {
    load_tree(s);
    return lmdb_err(rc, "resetting state");
  }
  return 0;
}

int ag_state_check(ag_state *s, uint64_t *keys) {
  *keys = 0;
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc) return lmdb_err(rc, "reading state");
  MDB_val hk = {4, "head"}, hv;
  uint64_t seq, leaves, n = 0, reached = 0;
  ag_pt_ref r;
  ag_state_meta head;
  rc = mdb_get(txn, s->db_meta, &hk, &hv);
  if (rc || hv.mv_size != 80) {
    mdb_txn_abort(txn);
    return rc == MDB_NOTFOUND ? ag_fail(AG_E_NOTFOUND, "nothing is committed yet")
                              : rc ? lmdb_err(rc, "reading the head") : ag_fail(AG_E_CORRUPT, "bad head record");
  }
  meta_decode(hv.mv_data, &head);
  if ((rc = root_get(s, txn, head.height, &seq, &leaves, &r))) {
    mdb_txn_abort(txn);
    return rc == AG_E_NOTFOUND ? ag_fail(AG_E_STATE_MISMATCH, "no tree root is recorded for the head") : rc;
  }
  uint8_t root[32];
  ref_root_hash(&r, root);
  if (memcmp(root, head.app_hash, 32)) rc = ag_fail(AG_E_STATE_MISMATCH, "the tree's root is not the head's app hash");
  /* every record: its stored leaf hash is its value's */
  MDB_cursor *cur;
  if (!rc && (rc = mdb_cursor_open(txn, s->db_state, &cur)) != 0) rc = lmdb_err(rc, "reading state");
  else if (!rc) {
    MDB_val k, v;
    int lrc;
    for (lrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc && lrc == 0; lrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      const uint8_t *key, *val;
      size_t klen, vlen;
      uint8_t vh[32], lh[32], want[32];
      map_read(s); /* the whole file passes through the map: keep to the memory budget */
      if (k.mv_size != 32 || parse_record(&v, &key, &klen, &val, &vlen)) {
        rc = ag_fail(AG_E_CORRUPT, "state record %llu is malformed", (unsigned long long)n);
        break;
      }
      ag_state_hkey(key, klen, want);
      ag_state_value_hash(val, vlen, vh);
      ag_smt_leaf_hash(k.mv_data, vh, lh);
      if (memcmp(want, k.mv_data, 32) || memcmp(lh, v.mv_data, 32)) {
        char hex[65];
        ag_hex_encode(k.mv_data, 32, hex);
        rc = ag_fail(AG_E_STATE_MISMATCH, "state record %s does not match its key or its leaf hash", hex);
      }
      n++;
    }
    if (!rc && lrc != MDB_NOTFOUND) rc = lmdb_err(lrc, "reading state");
    mdb_cursor_close(cur);
  }
  if (!rc) rc = ag_pt_check(&s->pt, txn, &r, AG_PT_CURRENT, &reached);
  if (!rc && (reached != n || leaves != n))
    rc = ag_fail(AG_E_STATE_MISMATCH, "the store holds %llu records, the tree reaches %llu and records %llu",
                 (unsigned long long)n, (unsigned long long)reached, (unsigned long long)leaves);
  mdb_txn_abort(txn);
  *keys = n;
  return rc;
}

void ag_state_set_versions(ag_state *s, uint64_t versions) { s->versions = versions ? versions : 1; }
void ag_state_set_memory_budget(ag_state *s, size_t bytes) { s->mem_budget = bytes; }

size_t ag_state_tree_bytes(ag_state *s) {
  MDB_txn *txn;
  MDB_stat st;
  size_t n = 0;
  if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) return 0;
  if (mdb_stat(txn, s->pt.pages, &st) == 0) n = (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
  mdb_txn_abort(txn);
  return n;
}
size_t ag_state_leaves(ag_state *s) { return s->leaves; }

uint64_t ag_state_disk_bytes(ag_state *s) {
  char path[1100];
  snprintf(path, sizeof path, "%s/data.mdb", s->dir);
  struct stat st;
  if (stat(path, &st) != 0) return 0;
  return (uint64_t)st.st_blocks * 512;
}

/* ---- snapshot views ---------------------------------------------------------------------- */

struct ag_state_view {
  ag_state *s;
  MDB_txn *txn;
  uint64_t height;
};

int ag_state_view_open(ag_state *s, ag_state_view **out) {
  ag_state_view *v = ag_xcalloc(1, sizeof *v);
  v->s = s;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &v->txn);
  if (rc) {
    free(v);
    return lmdb_err(rc, "reading state");
  }
  MDB_val k = {4, "head"}, val;
  if (mdb_get(v->txn, s->db_meta, &k, &val) == 0 && val.mv_size == 80)
    v->height = ag_get_u64le(val.mv_data);
  *out = v;
  return 0;
}

int ag_state_view_get(ag_state_view *v, const void *key, size_t klen, ag_buf *out) {
  uint8_t hkey[32];
  ag_state_hkey(key, klen, hkey);
  MDB_val k = {32, hkey}, val;
  int rc = mdb_get(v->txn, v->s->db_state, &k, &val);
  if (rc == MDB_NOTFOUND) return AG_E_NOTFOUND;
  if (rc) return lmdb_err(rc, "reading state");
  const uint8_t *rk, *rv;
  size_t rkl, rvl;
  if (parse_record(&val, &rk, &rkl, &rv, &rvl)) return ag_fail(AG_E_CORRUPT, "bad state record");
  ag_buf_reset(out);
  ag_buf_put(out, rv, rvl);
  return 0;
}

uint64_t ag_state_view_height(const ag_state_view *v) { return v->height; }

void ag_state_view_close(ag_state_view *v) {
  if (!v) return;
  mdb_txn_abort(v->txn);
  free(v);
}

/* ---- snapshots -------------------------------------------------------------------------- */

struct ag_state_export {
  ag_state *s;
  MDB_txn *txn;
};

int ag_state_export_open(ag_state *s, ag_state_export **out, ag_state_meta *meta) {
  *out = NULL;
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc) return lmdb_err(rc, "opening a snapshot view");
  MDB_val k = {4, "head"}, v;
  rc = mdb_get(txn, s->db_meta, &k, &v);
  if (rc || v.mv_size != 80) {
    mdb_txn_abort(txn);
    return rc == MDB_NOTFOUND ? ag_fail(AG_E_NOTFOUND, "nothing is committed yet")
                              : rc ? lmdb_err(rc, "reading the head") : ag_fail(AG_E_CORRUPT, "bad head record");
  }
  meta_decode(v.mv_data, meta);
  ag_state_export *x = ag_xcalloc(1, sizeof *x);
  x->s = s;
  x->txn = txn;
  *out = x;
  return 0;
}

typedef struct {
  ag_state_export_fn fn;
  void *ctx;
} export_cb;

static int export_one(void *ctx, const uint8_t hkey[32], const uint8_t *key, size_t klen, const uint8_t *val,
                      size_t vlen) {
  export_cb *e = ctx;
  return e->fn(e->ctx, key, klen, val, vlen);
}

int ag_state_export_run(ag_state_export *x, ag_state_export_fn fn, void *ctx) {
  export_cb e = {fn, ctx};
  return walk_records(x->s, x->txn, export_one, &e);
}

void ag_state_export_close(ag_state_export *x) {
  if (!x) return;
  mdb_txn_abort(x->txn);
  free(x);
}

int ag_state_restore_begin(ag_state *s) {
  ag_state_meta m;
  if (ag_state_meta_get(s, &m) != AG_E_NOTFOUND)
    return ag_fail(AG_E_INVALID, "the store already holds a committed state: restore only into an empty one");
  ag_state_restore_abort(s); /* an earlier restore left half done */
  s->restoring = 1;
  return 0;
}

int ag_state_restore_put(ag_state *s, const void *key, size_t klen, const void *val, size_t vlen) {
  if (!s->restoring) return ag_fail(AG_E_INVALID, "no restore is under way");
  if (klen == 0 || klen > AG_STATE_KEY_MAX || vlen > AG_STATE_VALUE_MAX)
    return ag_fail(AG_E_STATE_LIMIT, "a restored key of %zu bytes or value of %zu bytes is outside the state's limits",
                   klen, vlen);
  int rc;
  if (!s->restore && (rc = mdb_txn_begin(s->env, NULL, 0, &s->restore))) {
    s->restore = NULL;
    return lmdb_err(rc, "restoring state");
  }
  uint8_t hk[32];
  ag_state_hkey(key, klen, hk);
  MDB_val k = {32, hk}, v = {REC_LH + 1 + klen + vlen, NULL};
  if ((rc = mdb_put(s->restore, s->db_state, &k, &v, MDB_RESERVE))) return lmdb_err(rc, "restoring state");
  record_fill(v.mv_data, hk, NULL, key, klen, val, vlen);
  return 0;
}

int ag_state_restore_flush(ag_state *s) {
  if (!s->restore) return 0;
  int rc = mdb_txn_commit(s->restore);
  s->restore = NULL;
  return rc ? lmdb_err(rc, "restoring state") : 0;
}

void ag_state_restore_abort(ag_state *s) {
  if (s->restore) mdb_txn_abort(s->restore);
  s->restore = NULL;
  s->restoring = 0;
  MDB_txn *txn;
  if (mdb_txn_begin(s->env, NULL, 0, &txn) == 0) {
    MDB_val k = {4, "head"};
    mdb_drop(txn, s->db_state, 0);
    mdb_del(txn, s->db_meta, &k, NULL);
    if (tree_drop(s, txn) == 0) mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
  }
}

int ag_state_restore_finish(ag_state *s, const ag_state_meta *meta) {
  if (!s->restoring) return ag_fail(AG_E_INVALID, "no restore is under way");
  int rc = ag_state_restore_flush(s);
  if (s->rtxn) { /* the writer's view predates the restore */
    mdb_txn_abort(s->rtxn);
    s->rtxn = NULL;
  }
  /* the tree, checked against the trusted app hash before the head is written with it */
  if (!rc) rc = build_tree(s, meta->height, meta->app_hash, meta);
  if (rc) {
    char msg[300];
    if (rc == AG_E_STATE_MISMATCH)
      snprintf(msg, sizeof msg, "the restored state of height %llu does not hash to the trusted app hash",
               (unsigned long long)meta->height);
    else
      snprintf(msg, sizeof msg, "%s", ag_errmsg(rc));
    ag_state_restore_abort(s);
    return ag_fail(rc, "%s", msg);
  }
  s->restoring = 0;
  return 0;
}
