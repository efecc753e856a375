/*
 * ptree.c — the sparse Merkle tree in LMDB pages of 16 slots (ptree.h).
 *
 * A page value: leaf_mask u16le | page_mask u16le | bucket_mask u16le, then for each slot in
 * order: a leaf's path and leaf hash (64 bytes), a child page's hash and version u64le (40
 * bytes), or a bucket's hash (32 bytes).
 */
#include "chain/ptree.h"

#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_KEY_MAX (1 + 32 + 8)
#define PAGE_VALUE_MAX (6 + 16 * 64)
#define MAX_NIBBLES 64

typedef struct {
  ag_pt_ref s[16];
} page;

/* The 15 binary nodes of a page and its 16 slots, as a heap: node i has children 2i+1 and
 * 2i+2; slots are nodes 15..30. cnt is the number of leaves below, capped at 2; one is the slot
 * of the leaf when cnt is 1. */
typedef struct {
  uint8_t h[31][32];
  uint8_t cnt[31];
  uint8_t one[31];
} inner;

static const uint8_t ZERO[32];

static inline int nibble(const uint8_t *k, int d) { return (k[d >> 1] >> ((d & 1) ? 0 : 4)) & 15; }
static inline int bit(const uint8_t *k, int d) { return (k[d >> 3] >> (7 - (d & 7))) & 1; }

static void node_hash(const uint8_t *l, const uint8_t *r, uint8_t out[32]) {
  ag_hash2("agora/smt/node", l, 32, r, 32, out);
}

static void inner_compute(const page *pg, inner *in) {
  for (int i = 0; i < 16; i++) {
    const ag_pt_ref *s = &pg->s[i];
    in->cnt[15 + i] = s->kind == AG_PT_EMPTY ? 0 : s->kind == AG_PT_LEAF ? 1 : 2; /* pages, buckets: >= 2 */
    in->one[15 + i] = (uint8_t)i;
    memcpy(in->h[15 + i], s->kind == AG_PT_EMPTY ? ZERO : s->hash, 32);
  }
  for (int i = 14; i >= 0; i--) {
    int l = 2 * i + 1, r = l + 1, c = in->cnt[l] + in->cnt[r];
    in->cnt[i] = (uint8_t)(c > 2 ? 2 : c);
    if (c == 0) {
      memset(in->h[i], 0, 32);
    } else if (c == 1) { /* one leaf below: the subtree is that leaf */
      int k = in->cnt[l] ? l : r;
      memcpy(in->h[i], in->h[k], 32);
      in->one[i] = in->one[k];
    } else {
      node_hash(in->h[l], in->h[r], in->h[i]);
    }
  }
}

static size_t page_key(int nd, const uint8_t *path, uint64_t ver, uint8_t *out) {
  size_t pb = (size_t)(nd + 1) / 2;
  out[0] = (uint8_t)nd;
  memcpy(out + 1, path, pb);
  if (nd & 1) out[pb] &= 0xf0;
  ag_put_u64be(out + 1 + pb, ver);
  return 1 + pb + 8;
}

static size_t page_encode(const page *pg, uint8_t *out) {
  uint16_t lm = 0, pm = 0, bm = 0;
  size_t o = 6;
  for (int i = 0; i < 16; i++) {
    const ag_pt_ref *s = &pg->s[i];
    if (s->kind == AG_PT_LEAF) {
      lm |= (uint16_t)(1u << i);
      memcpy(out + o, s->key, 32);
      memcpy(out + o + 32, s->hash, 32);
      o += 64;
    } else if (s->kind == AG_PT_PAGE) {
      pm |= (uint16_t)(1u << i);
      memcpy(out + o, s->hash, 32);
      ag_put_u64le(out + o + 32, s->ver);
      o += 40;
    } else if (s->kind == AG_PT_BUCKET) {
      bm |= (uint16_t)(1u << i);
      memcpy(out + o, s->hash, 32);
      o += 32;
    }
  }
  ag_put_u16le(out, lm);
  ag_put_u16le(out + 2, pm);
  ag_put_u16le(out + 4, bm);
  return o;
}

static int page_decode(const uint8_t *p, size_t len, page *pg) {
  if (len < 6) return AG_E_CORRUPT;
  uint16_t lm = ag_get_u16le(p), pm = ag_get_u16le(p + 2), bm = ag_get_u16le(p + 4);
  if ((lm & pm) || (lm & bm) || (pm & bm)) return AG_E_CORRUPT;
  size_t o = 6;
  for (int i = 0; i < 16; i++) {
    ag_pt_ref *s = &pg->s[i];
    s->kind = AG_PT_EMPTY;
    if (lm & (1u << i)) {
      if (o + 64 > len) return AG_E_CORRUPT;
      s->kind = AG_PT_LEAF;
      memcpy(s->key, p + o, 32);
      memcpy(s->hash, p + o + 32, 32);
      o += 64;
    } else if (pm & (1u << i)) {
      if (o + 40 > len) return AG_E_CORRUPT;
      s->kind = AG_PT_PAGE;
      memcpy(s->hash, p + o, 32);
      s->ver = ag_get_u64le(p + o + 32);
      o += 40;
    } else if (bm & (1u << i)) {
      if (o + 32 > len) return AG_E_CORRUPT;
      s->kind = AG_PT_BUCKET;
      memcpy(s->hash, p + o, 32);
      o += 32;
    }
  }
  return o == len ? 0 : AG_E_CORRUPT;
}

static int load_page(const ag_pt_db *db, MDB_txn *txn, int nd, const uint8_t *path, uint64_t ver, page *pg) {
  uint8_t kb[PAGE_KEY_MAX];
  MDB_val k = {page_key(nd, path, ver, kb), kb}, v;
  int rc = mdb_get(txn, db->pages, &k, &v);
  if (rc == MDB_NOTFOUND)
    return ag_fail(AG_E_CORRUPT, "state tree page (depth %d, version %llu) is missing", nd, (unsigned long long)ver);
  if (rc) return ag_fail(AG_E_IO, "reading the state tree: %s", mdb_strerror(rc));
  if (page_decode(v.mv_data, v.mv_size, pg))
    return ag_fail(AG_E_CORRUPT, "state tree page (depth %d, version %llu) is malformed", nd, (unsigned long long)ver);
  return 0;
}

void ag_pt_leaves_push(ag_pt_leaves *l, const uint8_t key[32], const uint8_t leaf_hash[32]) {
  if (l->n == l->cap) l->v = ag_xrealloc(l->v, (l->cap = l->cap ? 2 * l->cap : 64) * sizeof *l->v);
  memcpy(l->v[l->n].key, key, 32);
  memcpy(l->v[l->n].leaf_hash, leaf_hash, 32);
  l->v[l->n].remove = 0;
  l->n++;
}

/* First index in l[0..n) whose key has bit bd set (the keys share the bits above bd). */
static size_t bit_split(const ag_pt_update *l, size_t n, int bd) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (bit(l[mid].key, bd)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

void ag_pt_subtree_hash(const ag_pt_update *l, size_t n, int bd, uint8_t out[32]) {
  if (n == 0) {
    memset(out, 0, 32);
    return;
  }
  if (n == 1) {
    memcpy(out, l[0].leaf_hash, 32);
    return;
  }
  size_t s = bit_split(l, n, bd);
  uint8_t a[32], b[32];
  ag_pt_subtree_hash(l, s, bd + 1, a);
  ag_pt_subtree_hash(l + s, n - s, bd + 1, b);
  node_hash(a, b, out);
}

void ag_pt_batch_init(ag_pt_batch *b) {
  memset(b, 0, sizeof *b);
  ag_buf_init(&b->puts);
  ag_buf_init(&b->retire);
  ag_buf_init(&b->drop);
}

void ag_pt_batch_free(ag_pt_batch *b) {
  ag_buf_free(&b->puts);
  ag_buf_free(&b->retire);
  ag_buf_free(&b->drop);
}

/* ---- applying a batch ------------------------------------------------------------------- */

typedef struct {
  const ag_pt_db *db;
  MDB_txn *txn;
  uint64_t ver;
  ag_pt_batch *out;
  int err;
} actx;

static void retire(actx *c, int nd, const uint8_t *path, uint64_t ver) {
  uint8_t kb[2 + PAGE_KEY_MAX];
  size_t kl = page_key(nd, path, ver, kb + 2);
  if (ver == c->ver) { /* written earlier in this same version (a build in several batches) */
    kb[1] = (uint8_t)kl;
    ag_buf_put(&c->out->drop, kb + 1, 1 + kl);
  } else {
    kb[0] = 'p';
    kb[1] = (uint8_t)kl;
    ag_buf_put(&c->out->retire, kb, 2 + kl);
  }
}

/* The reference for a subtree whose 16 slots are pg: empty, its one leaf, or a new page. */
static ag_pt_ref finish(actx *c, int nd, const uint8_t *path, const page *pg) {
  ag_pt_ref r;
  memset(&r, 0, sizeof r);
  int leaves = 0, pages = 0, last = -1;
  for (int i = 0; i < 16; i++) {
    if (pg->s[i].kind == AG_PT_LEAF) leaves++, last = i;
    else if (pg->s[i].kind != AG_PT_EMPTY) pages++;
  }
  if (pages == 0 && leaves <= 1) return leaves ? pg->s[last] : r;
  inner in;
  inner_compute(pg, &in);
  r.kind = AG_PT_PAGE;
  memcpy(r.hash, in.h[0], 32);
  r.ver = c->ver;
  uint8_t kb[PAGE_KEY_MAX], vb[PAGE_VALUE_MAX], h[3];
  size_t kl = page_key(nd, path, c->ver, kb), vl = page_encode(pg, vb);
  h[0] = (uint8_t)kl;
  ag_buf_put(&c->out->puts, h, 1);
  ag_buf_put(&c->out->puts, kb, kl);
  ag_put_u16le(h, (uint16_t)vl);
  ag_buf_put(&c->out->puts, h, 2);
  ag_buf_put(&c->out->puts, vb, vl);
  c->out->pages++;
  return r;
}

/* End of the run of u[0..n) whose nibble nd is g (u sorted, sharing nibbles above nd). */
static size_t group_end(const ag_pt_update *u, size_t n, int nd, int g) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (nibble(u[mid].key, nd) <= g) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static ag_pt_ref build(actx *c, int nd, const ag_pt_update *u, size_t n) {
  ag_pt_ref r;
  memset(&r, 0, sizeof r);
  size_t ins = 0, last = 0;
  for (size_t i = 0; i < n; i++)
    if (!u[i].remove) ins++, last = i;
  if (ins == 0) return r;
  if (ins == 1) {
    r.kind = AG_PT_LEAF;
    memcpy(r.key, u[last].key, 32);
    memcpy(r.hash, u[last].leaf_hash, 32);
    return r;
  }
  if (ins <= AG_PT_BUCKET_MAX) { /* a bucket: its hash, from its leaves (the inserts) */
    ag_pt_update tmp[AG_PT_BUCKET_MAX];
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
      if (!u[i].remove) tmp[m++] = u[i];
    r.kind = AG_PT_BUCKET;
    ag_pt_subtree_hash(tmp, m, 4 * nd, r.hash);
    return r;
  }
  if (nd >= MAX_NIBBLES) { /* two distinct paths always part before this */
    c->err = ag_fail(AG_E_INVALID, "state tree update with a repeated key");
    return r;
  }
  page pg;
  size_t b = 0;
  for (int g = 0; g < 16; g++) {
    size_t e = group_end(u + b, n - b, nd, g) + b;
    pg.s[g] = build(c, nd + 1, u + b, e - b);
    b = e;
  }
  return finish(c, nd, u[0].key, &pg);
}

static ag_pt_ref update(actx *c, const ag_pt_ref *cur, int nd, const ag_pt_update *u, size_t n);

/* Applies u to the 16 slots of the page cur at depth nd, groups [g0, g1) only. */
static void update_slots(actx *c, page *pg, int nd, const ag_pt_update *u, size_t n, int g0, int g1) {
  size_t b = g0 ? group_end(u, n, nd, g0 - 1) : 0;
  for (int g = g0; g < g1 && !c->err; g++) {
    size_t e = group_end(u + b, n - b, nd, g) + b;
    if (e > b) pg->s[g] = update(c, &pg->s[g], nd + 1, u + b, e - b);
    b = e;
  }
}

typedef struct {
  actx c;
  page *pg;
  int nd, g0, g1;
  const ag_pt_update *u;
  size_t n;
  char msg[300]; /* the error's message: errors are recorded per thread */
} job;

static void *run_job(void *arg) {
  job *j = arg;
  int rc = mdb_txn_begin(j->c.db->env, NULL, MDB_RDONLY, &j->c.txn);
  if (rc) {
    j->c.err = ag_fail(AG_E_IO, "reading the state tree: %s", mdb_strerror(rc));
    snprintf(j->msg, sizeof j->msg, "%s", ag_errmsg(j->c.err));
    return NULL;
  }
  update_slots(&j->c, j->pg, j->nd, j->u, j->n, j->g0, j->g1);
  mdb_txn_abort(j->c.txn);
  if (j->c.err) snprintf(j->msg, sizeof j->msg, "%s", ag_errmsg(j->c.err));
  return NULL;
}

static ag_pt_ref update(actx *c, const ag_pt_ref *cur, int nd, const ag_pt_update *u, size_t n) {
  if (n == 0 || c->err) return *cur;
  if (cur->kind == AG_PT_EMPTY) return build(c, nd, u, n);
  if (cur->kind == AG_PT_LEAF) { /* the leaf joins the updates unless one of them is for its key */
    size_t lo = 0, hi = n;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (memcmp(u[mid].key, cur->key, 32) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo < n && memcmp(u[lo].key, cur->key, 32) == 0) return build(c, nd, u, n);
    ag_pt_update *m = ag_xmalloc((n + 1) * sizeof *m);
    memcpy(m, u, lo * sizeof *m);
    memcpy(m[lo].key, cur->key, 32);
    memcpy(m[lo].leaf_hash, cur->hash, 32);
    m[lo].remove = 0;
    memcpy(m + lo + 1, u + lo, (n - lo) * sizeof *m);
    ag_pt_ref r = build(c, nd, m, n + 1);
    free(m);
    return r;
  }
  if (cur->kind == AG_PT_BUCKET) { /* its committed leaves, with the updates merged in */
    ag_pt_leaves have = {0};
    if ((c->err = c->db->scan(c->db->scan_ctx, c->txn, u[0].key, nd, AG_PT_CURRENT, &have))) return *cur;
    ag_pt_update *m = ag_xmalloc((have.n + n) * sizeof *m);
    size_t i = 0, j = 0, k = 0;
    while (i < have.n || j < n) {
      int d = i == have.n ? 1 : j == n ? -1 : memcmp(have.v[i].key, u[j].key, 32);
      if (d < 0) m[k++] = have.v[i++];
      else {
        m[k++] = u[j++]; /* an update replaces or removes the committed leaf */
        if (d == 0) i++;
      }
    }
    free(have.v);
    ag_pt_ref r = build(c, nd, m, k);
    free(m);
    return r;
  }
  page pg;
  if ((c->err = load_page(c->db, c->txn, nd, u[0].key, cur->ver, &pg))) return *cur;
  update_slots(c, &pg, nd, u, n, 0, 16);
  if (c->err) return *cur;
  retire(c, nd, u[0].key, cur->ver);
  return finish(c, nd, u[0].key, &pg);
}

/* The root page split between two threads at the group that halves the updates. */
static ag_pt_ref update_root_parallel(actx *c, const ag_pt_ref *cur, const ag_pt_update *u, size_t n) {
  page pg;
  if ((c->err = load_page(c->db, c->txn, 0, u[0].key, cur->ver, &pg))) return *cur;
  int split = nibble(u[n / 2].key, 0);
  if (split == 0) split = 1;
  ag_pt_batch second;
  ag_pt_batch_init(&second);
  job j = {{c->db, NULL, c->ver, &second, 0}, &pg, 0, split, 16, u, n, ""};
  pthread_t th;
  int threaded = pthread_create(&th, NULL, run_job, &j) == 0;
  update_slots(c, &pg, 0, u, n, 0, split);
  if (threaded) pthread_join(th, NULL);
  else run_job(&j);
  if (!c->err && j.c.err) c->err = ag_fail(j.c.err, "%s", j.msg);
  ag_buf_put(&c->out->puts, second.puts.data, second.puts.len);
  ag_buf_put(&c->out->retire, second.retire.data, second.retire.len);
  ag_buf_put(&c->out->drop, second.drop.data, second.drop.len);
  c->out->pages += second.pages;
  ag_pt_batch_free(&second);
  if (c->err) return *cur;
  retire(c, 0, u[0].key, cur->ver);
  return finish(c, 0, u[0].key, &pg);
}

int ag_pt_apply(const ag_pt_db *db, const ag_pt_ref *base, uint64_t ver, const ag_pt_update *u, size_t n,
                int threads, ag_pt_batch *out) {
  out->root = *base;
  if (n == 0) return 0;
  actx c = {db, NULL, ver, out, 0};
  int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &c.txn);
  if (rc) return ag_fail(AG_E_IO, "reading the state tree: %s", mdb_strerror(rc));
  if (threads > 1 && n >= 256 && base->kind == AG_PT_PAGE) out->root = update_root_parallel(&c, base, u, n);
  else out->root = update(&c, base, 0, u, n);
  mdb_txn_abort(c.txn);
  if (c.err) out->root = *base;
  return c.err;
}

/* ---- writing and pruning ------------------------------------------------------------------ */

int ag_pt_batch_write(const ag_pt_db *db, MDB_txn *txn, const ag_pt_batch *b, uint64_t ver, int keep) {
  int rc = 0;
  if (!keep) /* no older version is kept: the pages retired go at once */
    for (size_t o = 0; !rc && o + 2 <= b->retire.len; o += 2 + b->retire.data[o + 1]) {
      if (b->retire.data[o] != 'p') continue;
      MDB_val k = {b->retire.data[o + 1], b->retire.data + o + 2};
      rc = mdb_del(txn, db->pages, &k, NULL);
      if (rc == MDB_NOTFOUND) rc = 0;
    }
  for (size_t o = 0; !rc && o < b->drop.len; o += 1 + b->drop.data[o]) {
    MDB_val k = {b->drop.data[o], b->drop.data + o + 1};
    rc = mdb_del(txn, db->pages, &k, NULL);
    if (rc == MDB_NOTFOUND) rc = 0;
  }
  for (size_t o = 0; !rc && o < b->puts.len;) {
    const uint8_t *p = b->puts.data + o;
    MDB_val k = {p[0], (void *)(p + 1)}, v = {ag_get_u16le(p + 1 + p[0]), (void *)(p + 3 + p[0])};
    rc = mdb_put(txn, db->pages, &k, &v, 0);
    o += 3 + k.mv_size + v.mv_size;
  }
  if (!rc && keep && b->retire.len) {
    uint8_t kb[8];
    ag_put_u64be(kb, ver);
    MDB_val k = {8, kb}, v = {b->retire.len, b->retire.data};
    rc = mdb_put(txn, db->stale, &k, &v, 0);
  }
  return rc ? ag_fail(AG_E_IO, "writing the state tree: %s", mdb_strerror(rc)) : 0;
}

int ag_pt_prune(const ag_pt_db *db, MDB_txn *txn, uint64_t upto, int max_versions,
                int (*del_other)(void *ctx, MDB_txn *txn, const uint8_t *key, size_t klen), void *dctx) {
  int rc = 0;
  ag_buf list;
  ag_buf_init(&list);
  for (int n = 0; !rc && n < max_versions; n++) {
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, db->stale, &cur))) break;
    MDB_val k, v;
    uint8_t kb[8];
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    int old = rc == 0 && k.mv_size == 8 && ag_get_u64be(k.mv_data) <= upto;
    if (old) { /* copied: pages move as records are deleted */
      memcpy(kb, k.mv_data, 8);
      list.len = 0;
      ag_buf_put(&list, v.mv_data, v.mv_size);
    }
    mdb_cursor_close(cur);
    if (!old) {
      if (rc == MDB_NOTFOUND) rc = 0;
      break;
    }
    for (size_t o = 0; !rc && o + 2 <= list.len && o + 2 + list.data[o + 1] <= list.len; o += 2 + list.data[o + 1]) {
      const uint8_t *r = list.data + o;
      if (r[0] == 'p') {
        MDB_val dk = {r[1], (void *)(r + 2)};
        rc = mdb_del(txn, db->pages, &dk, NULL);
        if (rc == MDB_NOTFOUND) rc = 0;
      } else if (del_other) {
        if ((rc = del_other(dctx, txn, r, 2u + r[1]))) break;
      }
    }
    MDB_val dk = {8, kb};
    if (!rc) rc = mdb_del(txn, db->stale, &dk, NULL);
  }
  ag_buf_free(&list);
  return rc ? ag_fail(AG_E_IO, "pruning the state tree: %s", mdb_strerror(rc)) : 0;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* The proof's path through a bucket at nibble depth nd: its leaves as of ver, split bit by bit
 * along key until at most one is left. */
static int prove_bucket(const ag_pt_db *db, MDB_txn *txn, int nd, uint64_t ver, const uint8_t key[32], ag_smt_proof *p,
                        int *depth, uint8_t leaf_hash[32]) {
  ag_pt_leaves l = {0};
  int rc = db->scan(db->scan_ctx, txn, key, nd, ver, &l);
  const ag_pt_update *at = l.v;
  size_t n = l.n;
  for (int bd = 4 * nd; !rc && n > 1; bd++) {
    if (bd >= AG_SMT_MAX_DEPTH) {
      rc = ag_fail(AG_E_CORRUPT, "state tree bucket holds a repeated key");
      break;
    }
    size_t sp = bit_split(at, n, bd);
    int b = bit(key, bd);
    if (b) ag_pt_subtree_hash(at, sp, bd + 1, p->siblings[(*depth)++]);
    else ag_pt_subtree_hash(at + sp, n - sp, bd + 1, p->siblings[(*depth)++]);
    if (b) at += sp, n -= sp;
    else n = sp;
  }
  if (!rc && n == 1) {
    p->terminal = 1;
    memcpy(p->leaf_key, at->key, 32);
    memcpy(leaf_hash, at->leaf_hash, 32);
  }
  free(l.v);
  return rc;
}

int ag_pt_prove(const ag_pt_db *db, MDB_txn *txn, const ag_pt_ref *root, uint64_t ver, const uint8_t key[32],
                ag_smt_proof *p, uint8_t leaf_hash[32]) {
  memset(p, 0, sizeof *p);
  const ag_pt_ref *at = root;
  ag_pt_ref next;
  int depth = 0, rc = 0;
  for (int nd = 0;; nd++) {
    if (at->kind == AG_PT_BUCKET) {
      rc = prove_bucket(db, txn, nd, ver, key, p, &depth, leaf_hash);
      break;
    }
    if (at->kind != AG_PT_PAGE) {
      if (at->kind == AG_PT_LEAF) {
        p->terminal = 1;
        memcpy(p->leaf_key, at->key, 32);
        memcpy(leaf_hash, at->hash, 32);
      }
      break;
    }
    if (nd >= MAX_NIBBLES) return ag_fail(AG_E_CORRUPT, "state tree deeper than 256 levels");
    page pg;
    if ((rc = load_page(db, txn, nd, key, at->ver, &pg))) return rc;
    inner in;
    inner_compute(&pg, &in);
    int i = 0, lvl = 0;
    for (; lvl < 4 && in.cnt[i] >= 2; lvl++) {
      int b = bit(key, 4 * nd + lvl), l = 2 * i + 1;
      memcpy(p->siblings[depth++], in.h[l + !b], 32);
      i = l + b;
    }
    if (lvl == 4) { /* reached a slot */
      next = pg.s[i - 15];
    } else { /* a subtree of at most one leaf inside the page */
      memset(&next, 0, sizeof next);
      if (in.cnt[i] == 1) next = pg.s[in.one[i]];
    }
    at = &next;
  }
  p->depth = (uint16_t)depth;
  return rc;
}

/* ---- checking ------------------------------------------------------------------------------ */

typedef struct {
  const ag_pt_db *db;
  MDB_txn *txn;
  uint64_t ver, leaves;
} chk;

static int mismatch(int nd, const uint8_t *path, const char *what) {
  char hex[65];
  ag_hex_encode(path, 32, hex);
  hex[nd > 64 ? 64 : nd] = 0;
  return ag_fail(AG_E_STATE_MISMATCH, "state tree at path %s%s: %s", nd ? hex : "(root)", nd ? "..." : "", what);
}

/* Recomputes the hash of the subtree r at depth nd from what is below it and compares. */
static int check_ref(chk *c, const ag_pt_ref *r, int nd, const uint8_t *path) {
  if (r->kind == AG_PT_EMPTY) return 0;
  if (r->kind == AG_PT_LEAF) {
    c->leaves++;
    ag_pt_leaves l = {0};
    int rc = c->db->scan(c->db->scan_ctx, c->txn, r->key, 64, c->ver, &l);
    if (!rc && (l.n != 1 || memcmp(l.v[0].leaf_hash, r->hash, 32)))
      rc = mismatch(64, r->key, "a leaf of the tree is not the record the store holds");
    free(l.v);
    return rc;
  }
  if (r->kind == AG_PT_BUCKET) {
    ag_pt_leaves l = {0};
    uint8_t h[32];
    int rc = c->db->scan(c->db->scan_ctx, c->txn, path, nd, c->ver, &l);
    if (!rc) {
      ag_pt_subtree_hash(l.v, l.n, 4 * nd, h);
      if (l.n < 2 || memcmp(h, r->hash, 32)) rc = mismatch(nd, path, "a bucket does not hash to its records");
      c->leaves += l.n;
    }
    free(l.v);
    return rc;
  }
  if (nd >= MAX_NIBBLES) return mismatch(nd, path, "deeper than 256 levels");
  page pg;
  int rc = load_page(c->db, c->txn, nd, path, r->ver, &pg);
  if (rc) return rc;
  inner in;
  inner_compute(&pg, &in);
  if (memcmp(in.h[0], r->hash, 32)) return mismatch(nd, path, "a page does not hash to what its parent holds");
  for (int i = 0; !rc && i < 16; i++) {
    uint8_t child[32];
    memcpy(child, path, 32);
    uint8_t shift = (nd & 1) ? 0 : 4;
    child[nd >> 1] = (uint8_t)((child[nd >> 1] & ~(15 << shift)) | (i << shift));
    if (pg.s[i].kind == AG_PT_LEAF && !(nibble(pg.s[i].key, nd) == i && !memcmp(pg.s[i].key, child, (size_t)nd / 2)))
      rc = mismatch(nd + 1, child, "a leaf sits outside its path");
    else rc = check_ref(c, &pg.s[i], nd + 1, child);
  }
  return rc;
}

int ag_pt_check(const ag_pt_db *db, MDB_txn *txn, const ag_pt_ref *root, uint64_t ver, uint64_t *leaves) {
  chk c = {db, txn, ver, 0};
  uint8_t path[32] = {0};
  int rc = check_ref(&c, root, 0, path);
  *leaves = c.leaves;
  return rc;
}

void ag_pt_ref_encode(const ag_pt_ref *r, uint8_t out[AG_PT_REF_BYTES]) {
  memset(out, 0, AG_PT_REF_BYTES);
  out[0] = r->kind;
  memcpy(out + 1, r->hash, 32);
  if (r->kind == AG_PT_LEAF) memcpy(out + 33, r->key, 32);
  if (r->kind == AG_PT_PAGE) ag_put_u64le(out + 65, r->ver);
}

int ag_pt_ref_decode(const uint8_t *p, size_t len, ag_pt_ref *r) {
  memset(r, 0, sizeof *r);
  if (len != AG_PT_REF_BYTES || p[0] > AG_PT_BUCKET) return AG_E_CORRUPT;
  r->kind = p[0];
  memcpy(r->hash, p + 1, 32);
  if (r->kind == AG_PT_LEAF) memcpy(r->key, p + 33, 32);
  if (r->kind == AG_PT_PAGE) r->ver = ag_get_u64le(p + 65);
  return 0;
}
