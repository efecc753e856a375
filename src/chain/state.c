/*
 * state.c — LMDB-backed state with a journaled write overlay and the in-memory Merkle tree.
 *
 * LMDB databases: "state" (hkey -> klen u8 | key | value), "meta" (name -> bytes),
 * "blocks" (height u64 BE -> block bytes), "txs" (tx hash -> location). One write transaction
 * per block; readers use their own read-only transactions (MDB_NOTLS).
 */
#include "chain/state.h"

#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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
} ov_entry;

typedef struct {
  uint32_t slot;
  uint8_t old_touched, old_present;
  uint8_t *old_val;
  uint32_t old_vlen;
} jrec;

struct ag_state {
  MDB_env *env;
  MDB_dbi db_state, db_meta, db_blocks, db_txs, db_hist;
  ag_buf hist; /* history records of the block being executed: klen u8 | key | vlen u32le | val */
  uint64_t hist_keep; /* blocks of history kept (ag_state_set_history_keep); 0: all */
  MDB_txn *rtxn; /* writer's read snapshot for the block being executed */
  int lockfd;
  ag_smt *tree;
  pthread_rwlock_t tree_lock;
  ov_entry *ov;
  uint32_t ov_cap, ov_used;
  jrec *jr;
  size_t jr_len, jr_cap;
  int applied; /* ag_state_apply ran: the tree's write lock is held until commit/discard */
  int fault;   /* first refused write since ag_state_fault_take (AG_E_STATE_LIMIT), or 0 */
  MDB_txn *restore; /* ag_state_restore_*: the write transaction of the batch being restored */
  int restoring;
  char fault_msg[160];
  char dir[1024];
};

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

static int rebuild_tree(ag_state *s);

int ag_state_open(const char *dir, ag_state **out) {
  *out = NULL;
  int rc = ag_mkdirs(dir, 0700);
  if (rc) return rc;
  ag_state *s = ag_xcalloc(1, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  s->lockfd = -1;
  pthread_rwlock_init(&s->tree_lock, NULL);
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
  if ((rc = mdb_env_create(&s->env)) || (rc = mdb_env_set_maxdbs(s->env, 8)) ||
      (rc = mdb_env_set_mapsize(s->env, (size_t)1 << 38)) ||
      (rc = mdb_env_set_maxreaders(s->env, 512)) ||
      (rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600))) {
    rc = lmdb_err(rc, "opening the state store");
    goto fail;
  }
  if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) ||
      (rc = mdb_dbi_open(txn, "state", MDB_CREATE, &s->db_state)) ||
      (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->db_meta)) ||
      (rc = mdb_dbi_open(txn, "blocks", MDB_CREATE, &s->db_blocks)) ||
      (rc = mdb_dbi_open(txn, "txs", MDB_CREATE, &s->db_txs)) ||
      (rc = mdb_dbi_open(txn, "history", MDB_CREATE, &s->db_hist)) || (rc = mdb_txn_commit(txn))) {
    if (txn) mdb_txn_abort(txn);
    rc = lmdb_err(rc, "opening the state databases");
    goto fail;
  }
  s->tree = ag_smt_new();
  if ((rc = rebuild_tree(s))) goto fail;
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
  ag_smt_free(s->tree);
  pthread_rwlock_destroy(&s->tree_lock);
  if (s->lockfd >= 0) close(s->lockfd);
  free(s);
}

static int parse_record(const MDB_val *v, const uint8_t **key, size_t *klen, const uint8_t **val,
                        size_t *vlen) {
  const uint8_t *p = v->mv_data;
  if (v->mv_size < 1 || p[0] == 0 || p[0] > AG_STATE_KEY_MAX || v->mv_size < 1u + p[0])
    return AG_E_CORRUPT;
  *klen = p[0];
  *key = p + 1;
  *val = p + 1 + p[0];
  *vlen = v->mv_size - 1 - p[0];
  return 0;
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

typedef struct {
  ag_smt_update *u;
  size_t n, cap;
} updates;

static int add_update(void *ctx, const uint8_t hkey[32], const uint8_t *key, size_t klen, const uint8_t *val,
                      size_t vlen) {
  updates *w = ctx;
  if (w->n == w->cap) w->u = ag_xrealloc(w->u, (w->cap = w->cap ? 2 * w->cap : 1024) * sizeof *w->u);
  memcpy(w->u[w->n].key, hkey, 32);
  ag_state_value_hash(val, vlen, w->u[w->n].value_hash);
  w->u[w->n].remove = 0;
  w->n++;
  return 0;
}

static int rebuild_tree(ag_state *s) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc) return lmdb_err(rc, "reading state");
  updates w = {NULL, 0, 0};
  rc = walk_records(s, txn, add_update, &w);
  mdb_txn_abort(txn);
  if (rc) {
    free(w.u);
    return rc;
  }
  ag_smt *fresh = ag_smt_new(), *old;
  ag_smt_apply(fresh, w.u, w.n, ag_ncpu());
  free(w.u);
  pthread_rwlock_wrlock(&s->tree_lock);
  old = s->tree;
  s->tree = fresh;
  pthread_rwlock_unlock(&s->tree_lock);
  ag_smt_free(old);
  ag_state_meta meta;
  if (ag_state_meta_get(s, &meta) == 0) {
    uint8_t root[32];
    ag_smt_root(s->tree, root);
    if (memcmp(root, meta.app_hash, 32) != 0)
      rc = ag_fail(AG_E_STATE_MISMATCH,
                   "state at height %llu does not hash to the recorded root: the store is "
                   "damaged (rebuild it with agora node --replay)",
                   (unsigned long long)meta.height);
  }
  return rc;
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

int ag_state_prove(ag_state *s, const void *key, size_t klen, ag_smt_proof *proof,
                   uint8_t root[32], uint64_t *height, ag_buf *val, int *present) {
  uint8_t hkey[32];
  ag_state_hkey(key, klen, hkey);
  /* Tree and LMDB must describe the same height: hold the tree lock across both reads. The
   * writer takes the write lock from ag_state_apply until the commit is durable. */
  pthread_rwlock_rdlock(&s->tree_lock);
  ag_smt_prove(s->tree, hkey, proof);
  ag_smt_root(s->tree, root);
  *present = 0;
  ag_state_meta meta;
  *height = ag_state_meta_get(s, &meta) == 0 ? meta.height : 0;
  int rc = 0;
  if (proof->terminal) {
    ag_buf leafval;
    ag_buf_init(&leafval);
    MDB_txn *txn;
    rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
      MDB_val k = {32, proof->leaf_key}, v;
      const uint8_t *rk, *rv;
      size_t rkl, rvl;
      rc = mdb_get(txn, s->db_state, &k, &v);
      if (rc == 0 && parse_record(&v, &rk, &rkl, &rv, &rvl) == 0) {
        ag_state_value_hash(rv, rvl, proof->leaf_value_hash);
        if (memcmp(proof->leaf_key, hkey, 32) == 0) {
          *present = 1;
          ag_buf_reset(val);
          ag_buf_put(val, rv, rvl);
        }
        rc = 0;
      } else {
        rc = ag_fail(AG_E_CORRUPT, "tree leaf missing from the store");
      }
      mdb_txn_abort(txn);
    } else {
      rc = lmdb_err(rc, "reading state");
    }
    ag_buf_free(&leafval);
  }
  pthread_rwlock_unlock(&s->tree_lock);
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
  return memcmp(((const ag_smt_update *)a)->key, ((const ag_smt_update *)b)->key, 32);
}

void ag_state_apply(ag_state *s, int threads, uint8_t root[32]) {
  size_t n = 0;
  ag_smt_update *u = ag_xmalloc((s->ov_used + 1) * sizeof *u);
  for (uint32_t i = 0; i < s->ov_cap; i++) {
    ov_entry *e = &s->ov[i];
    if (!e->used || !e->touched) continue;
    memcpy(u[n].key, e->hkey, 32);
    u[n].remove = !e->present;
    if (e->present) ag_state_value_hash(e->val, e->vlen, u[n].value_hash);
    n++;
  }
  qsort(u, n, sizeof *u, cmp_upd);
  pthread_rwlock_wrlock(&s->tree_lock); /* released by commit */
  s->applied = 1;
  ag_smt_apply(s->tree, u, n, threads);
  ag_smt_root(s->tree, root);
  free(u);
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

int ag_state_commit(ag_state *s, const ag_state_meta *meta, const uint8_t *block,
                    size_t block_len, const ag_tx_index_entry *txs, size_t ntx) {
  if (s->rtxn) {
    mdb_txn_abort(s->rtxn);
    s->rtxn = NULL;
  }
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (rc) {
    rc = lmdb_err(rc, "committing");
    goto out;
  }
  for (uint32_t i = 0; i < s->ov_cap; i++) {
    ov_entry *e = &s->ov[i];
    if (!e->used || !e->touched) continue;
    MDB_val k = {32, e->hkey};
    if (e->present) {
      MDB_val v = {1u + e->klen + e->vlen, NULL};
      if ((rc = mdb_put(txn, s->db_state, &k, &v, MDB_RESERVE))) break;
      uint8_t *p = v.mv_data;
      p[0] = e->klen;
      memcpy(p + 1, e->key, e->klen);
      if (e->vlen) memcpy(p + 1 + e->klen, e->val, e->vlen);
    } else {
      rc = mdb_del(txn, s->db_state, &k, NULL);
      if (rc == MDB_NOTFOUND) rc = 0;
      if (rc) break;
    }
  }
  if (!rc) rc = put_head(s, txn, meta);
  if (!rc && block) {
    uint8_t hk[8];
    ag_put_u64be(hk, meta->height);
    MDB_val k = {8, hk}, v = {block_len, (void *)block};
    rc = mdb_put(txn, s->db_blocks, &k, &v, 0);
  }
  for (size_t i = 0; !rc && i < ntx; i++) {
    const ag_tx_location *l = &txs[i].loc;
    MDB_val k = {32, (void *)txs[i].hash}, v;
    /* A hash may repeat when a failed tx is included again later; keep the successful one. */
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
  if (!rc && s->hist.len) rc = hist_write(s, txn, meta->height);
  if (!rc && s->hist_keep && meta->height > s->hist_keep) rc = hist_prune(s, txn, meta->height - s->hist_keep);
  if (rc) {
    mdb_txn_abort(txn);
    rc = lmdb_err(rc, "committing");
    goto out;
  }
  if ((rc = mdb_txn_commit(txn))) rc = lmdb_err(rc, "committing");
out:
  ov_clear(s);
  if (s->applied) {
    s->applied = 0;
    pthread_rwlock_unlock(&s->tree_lock);
  }
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
  if (s->applied) { /* the tree already holds the changes: it no longer matches the store */
    s->applied = 0;
    pthread_rwlock_unlock(&s->tree_lock);
    rebuild_tree(s);
  }
}

int ag_state_reset(ag_state *s) {
  ag_state_discard(s);
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (rc) return lmdb_err(rc, "resetting state");
  MDB_val k = {4, "head"};
  if ((rc = mdb_drop(txn, s->db_state, 0)) || (rc = mdb_drop(txn, s->db_txs, 0)) || (rc = mdb_drop(txn, s->db_hist, 0)) ||
      ((rc = mdb_del(txn, s->db_meta, &k, NULL)) && rc != MDB_NOTFOUND)) {
    mdb_txn_abort(txn);
    return lmdb_err(rc, "resetting state");
  }
  if ((rc = mdb_txn_commit(txn))) return lmdb_err(rc, "resetting state");
  pthread_rwlock_wrlock(&s->tree_lock);
  ag_smt_free(s->tree);
  s->tree = ag_smt_new();
  pthread_rwlock_unlock(&s->tree_lock);
  return 0;
}

size_t ag_state_tree_bytes(ag_state *s) { return ag_smt_memory(s->tree); }
size_t ag_state_leaves(ag_state *s) { return ag_smt_leaves(s->tree); }

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
  MDB_val k = {32, hk}, v = {1 + klen + vlen, NULL};
  if ((rc = mdb_put(s->restore, s->db_state, &k, &v, MDB_RESERVE))) return lmdb_err(rc, "restoring state");
  uint8_t *p = v.mv_data;
  p[0] = (uint8_t)klen;
  memcpy(p + 1, key, klen);
  if (vlen) memcpy(p + 1 + klen, val, vlen);
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
    if (mdb_txn_commit(txn) == 0) rebuild_tree(s);
  }
}

int ag_state_restore_finish(ag_state *s, const ag_state_meta *meta) {
  if (!s->restoring) return ag_fail(AG_E_INVALID, "no restore is under way");
  int rc = ag_state_restore_flush(s);
  MDB_txn *txn = NULL;
  if (!rc && (rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) rc = lmdb_err(rc, "restoring state");
  if (!rc) {
    int lrc = put_head(s, txn, meta);
    if (!lrc) lrc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
    if (lrc) rc = lmdb_err(lrc, "restoring state");
  }
  if (s->rtxn) { /* the writer's view predates the restore */
    mdb_txn_abort(s->rtxn);
    s->rtxn = NULL;
  }
  if (!rc) rc = rebuild_tree(s); /* AG_E_STATE_MISMATCH unless the records hash to meta->app_hash */
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
