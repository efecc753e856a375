/*
 * smt.c — in-memory compressed sparse Merkle tree.
 *
 * Nodes live in two chunked pools (internal: 40 bytes, leaf: 64 bytes) addressed by 32-bit
 * refs: 0 is the empty subtree, refs with the top bit set are leaves. Chunks never move, so a
 * second thread may allocate while the first reads. Updates are applied in sorted batches: each
 * node on the union of the paths is rehashed once per batch.
 */
#include "chain/smt.h"

#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LEAF 0x80000000u
#define CHUNK_BITS 16
#define CHUNK (1u << CHUNK_BITS)
#define MAX_CHUNKS (1u << 15) /* 2^31 nodes per pool */

typedef struct {
  uint8_t hash[32];
  uint32_t child[2];
} inode;

typedef struct {
  uint8_t key[32];
  uint8_t hash[32];
} lnode;

typedef struct {
  size_t elem;
  void *chunks[MAX_CHUNKS];
  uint32_t nchunks;
  uint32_t next;   /* next never-used index */
  uint32_t *free;  /* recycled indices */
  size_t nfree, capfree;
  size_t live;
} pool;

struct ag_smt {
  pool in, lf;
  uint32_t root;
  pthread_mutex_t mu; /* guards the pools during parallel updates */
  int parallel;
};

static const uint8_t ZERO[32];

static void *pool_at(const pool *p, uint32_t i) {
  return (uint8_t *)p->chunks[i >> CHUNK_BITS] + (size_t)(i & (CHUNK - 1)) * p->elem;
}

static uint32_t pool_alloc(ag_smt *t, pool *p) {
  if (t->parallel) pthread_mutex_lock(&t->mu);
  uint32_t i;
  if (p->nfree) {
    i = p->free[--p->nfree];
  } else {
    if (p->next >= p->nchunks * CHUNK) {
      if (p->nchunks == MAX_CHUNKS) abort(); /* 2^31 nodes: far beyond any memory */
      p->chunks[p->nchunks++] = ag_xmalloc(CHUNK * p->elem);
    }
    i = p->next++;
  }
  p->live++;
  if (t->parallel) pthread_mutex_unlock(&t->mu);
  return i;
}

static void pool_release(ag_smt *t, pool *p, uint32_t i) {
  if (t->parallel) pthread_mutex_lock(&t->mu);
  if (p->nfree == p->capfree) {
    p->capfree = p->capfree ? p->capfree * 2 : 1024;
    p->free = ag_xrealloc(p->free, p->capfree * sizeof *p->free);
  }
  p->free[p->nfree++] = i;
  p->live--;
  if (t->parallel) pthread_mutex_unlock(&t->mu);
}

static void pool_free_all(pool *p) {
  for (uint32_t c = 0; c < p->nchunks; c++) free(p->chunks[c]);
  free(p->free);
}

static inline inode *IN(const ag_smt *t, uint32_t r) { return pool_at(&t->in, r); }
static inline lnode *LF(const ag_smt *t, uint32_t r) { return pool_at(&t->lf, r & ~LEAF); }

static inline int bit(const uint8_t *k, int d) { return (k[d >> 3] >> (7 - (d & 7))) & 1; }

static const uint8_t *ref_hash(const ag_smt *t, uint32_t r) {
  if (r == 0) return ZERO;
  return (r & LEAF) ? LF(t, r)->hash : IN(t, r)->hash;
}

void ag_smt_leaf_hash(const uint8_t key[32], const uint8_t vh[32], uint8_t out[32]) {
  ag_hash2("agora/smt/leaf", key, 32, vh, 32, out);
}

static void node_hash(const uint8_t *l, const uint8_t *r, uint8_t out[32]) {
  ag_hash2("agora/smt/node", l, 32, r, 32, out);
}

ag_smt *ag_smt_new(void) {
  ag_smt *t = ag_xcalloc(1, sizeof *t);
  t->in.elem = sizeof(inode);
  t->lf.elem = sizeof(lnode);
  t->in.next = 1; /* internal ref 0 means empty */
  pthread_mutex_init(&t->mu, NULL);
  return t;
}

void ag_smt_free(ag_smt *t) {
  if (!t) return;
  pool_free_all(&t->in);
  pool_free_all(&t->lf);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

void ag_smt_root(const ag_smt *t, uint8_t out[32]) { memcpy(out, ref_hash(t, t->root), 32); }
size_t ag_smt_leaves(const ag_smt *t) { return t->lf.live; }
size_t ag_smt_memory(const ag_smt *t) {
  return (size_t)t->in.nchunks * CHUNK * sizeof(inode) +
         (size_t)t->lf.nchunks * CHUNK * sizeof(lnode) + (t->in.capfree + t->lf.capfree) * 4;
}

static uint32_t new_leaf(ag_smt *t, const uint8_t key[32], const uint8_t vh[32]) {
  uint32_t i = pool_alloc(t, &t->lf);
  lnode *l = pool_at(&t->lf, i);
  memcpy(l->key, key, 32);
  ag_smt_leaf_hash(key, vh, l->hash);
  return i | LEAF;
}

/* Joins two subtrees into the node for their parent, applying the one-leaf rule. reuse is an
 * internal node that may be recycled (0 = none). */
static uint32_t join(ag_smt *t, uint32_t l, uint32_t r, uint32_t reuse) {
  if ((l == 0 && (r == 0 || (r & LEAF))) || (r == 0 && (l & LEAF))) {
    if (reuse) pool_release(t, &t->in, reuse);
    return l | r;
  }
  uint32_t i = reuse ? reuse : pool_alloc(t, &t->in);
  inode *n = IN(t, i);
  n->child[0] = l;
  n->child[1] = r;
  node_hash(ref_hash(t, l), ref_hash(t, r), n->hash);
  return i;
}

/* First index in u[0..n) whose key has bit d set (all keys share bits above d). */
static size_t split(const ag_smt_update *u, size_t n, int d) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (bit(u[mid].key, d)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

static uint32_t build(ag_smt *t, int d, const ag_smt_update *u, size_t n) {
  size_t ins = 0, last = 0;
  for (size_t i = 0; i < n; i++)
    if (!u[i].remove) ins++, last = i;
  if (ins == 0) return 0;
  if (ins == 1) return new_leaf(t, u[last].key, u[last].value_hash);
  size_t s = split(u, n, d);
  return join(t, build(t, d + 1, u, s), build(t, d + 1, u + s, n - s), 0);
}

static uint32_t merge_leaf(ag_smt *t, uint32_t leaf, int d, const ag_smt_update *u, size_t n) {
  lnode *L = LF(t, leaf);
  size_t others = 0;
  const ag_smt_update *same = NULL;
  for (size_t i = 0; i < n; i++) {
    if (memcmp(u[i].key, L->key, 32) == 0) same = &u[i];
    else if (!u[i].remove) others++;
  }
  if (others == 0) {
    if (!same) return leaf;
    if (same->remove) {
      pool_release(t, &t->lf, leaf & ~LEAF);
      return 0;
    }
    ag_smt_leaf_hash(L->key, same->value_hash, L->hash);
    return leaf;
  }
  size_t s = split(u, n, d);
  int b = bit(L->key, d);
  uint32_t l = b ? build(t, d + 1, u, s) : merge_leaf(t, leaf, d + 1, u, s);
  uint32_t r = b ? merge_leaf(t, leaf, d + 1, u + s, n - s) : build(t, d + 1, u + s, n - s);
  return join(t, l, r, 0);
}

static uint32_t update(ag_smt *t, uint32_t ref, int d, const ag_smt_update *u, size_t n);

typedef struct {
  ag_smt *t;
  uint32_t ref;
  int d;
  const ag_smt_update *u;
  size_t n;
  uint32_t out;
} job;

static void *run_job(void *arg) {
  job *j = arg;
  j->out = update(j->t, j->ref, j->d, j->u, j->n);
  return NULL;
}

static uint32_t update(ag_smt *t, uint32_t ref, int d, const ag_smt_update *u, size_t n) {
  if (n == 0) return ref;
  if (ref == 0) return build(t, d, u, n);
  if (ref & LEAF) return merge_leaf(t, ref, d, u, n);
  size_t s = split(u, n, d);
  inode *node = IN(t, ref);
  uint32_t l, r;
  if (d == 0 && t->parallel && s > 0 && s < n) {
    job j = {t, node->child[0], 1, u, s, 0};
    pthread_t th;
    if (pthread_create(&th, NULL, run_job, &j) == 0) {
      r = update(t, node->child[1], 1, u + s, n - s);
      pthread_join(th, NULL);
      l = j.out;
    } else {
      l = update(t, node->child[0], 1, u, s);
      r = update(t, node->child[1], 1, u + s, n - s);
    }
  } else {
    l = update(t, node->child[0], d + 1, u, s);
    r = update(t, node->child[1], d + 1, u + s, n - s);
  }
  return join(t, l, r, ref);
}

void ag_smt_apply(ag_smt *t, const ag_smt_update *u, size_t n, int threads) {
  t->parallel = threads > 1 && n >= 256;
  t->root = update(t, t->root, 0, u, n);
  t->parallel = 0;
}

void ag_smt_prove(const ag_smt *t, const uint8_t key[32], ag_smt_proof *p) {
  memset(p, 0, sizeof *p);
  uint32_t r = t->root;
  int d = 0;
  while (r && !(r & LEAF)) {
    inode *n = IN(t, r);
    int b = bit(key, d);
    memcpy(p->siblings[d], ref_hash(t, n->child[!b]), 32);
    r = n->child[b];
    d++;
  }
  p->depth = (uint16_t)d;
  if (r) {
    p->terminal = 1;
    memcpy(p->leaf_key, LF(t, r)->key, 32);
  }
}

int ag_smt_proof_leaf_hash_ok(const ag_smt *t, const ag_smt_proof *p) {
  if (!p->terminal) return 1;
  uint32_t r = t->root;
  int d = 0;
  while (r && !(r & LEAF)) r = IN(t, r)->child[bit(p->leaf_key, d++)];
  if (!r) return 0;
  uint8_t h[32];
  ag_smt_leaf_hash(p->leaf_key, p->leaf_value_hash, h);
  return memcmp(h, LF(t, r)->hash, 32) == 0;
}

int ag_smt_verify(const uint8_t root[32], const uint8_t key[32], const uint8_t *value_hash,
                  const ag_smt_proof *p) {
  if (p->depth > AG_SMT_MAX_DEPTH) return ag_fail(AG_E_PROOF, "proof deeper than 256");
  uint8_t h[32];
  if (value_hash) {
    if (!p->terminal || memcmp(p->leaf_key, key, 32) != 0)
      return ag_fail(AG_E_PROOF, "proof does not end at the key's leaf");
    if (memcmp(p->leaf_value_hash, value_hash, 32) != 0)
      return ag_fail(AG_E_PROOF, "proof is for another value");
  } else if (p->terminal) {
    if (memcmp(p->leaf_key, key, 32) == 0)
      return ag_fail(AG_E_PROOF, "the key is present: not an absence proof");
    /* The other leaf must sit on the key's path. */
    for (int d = 0; d < p->depth; d++)
      if (bit(p->leaf_key, d) != bit(key, d))
        return ag_fail(AG_E_PROOF, "the leaf in the proof is not on the key's path");
  }
  if (p->terminal) ag_smt_leaf_hash(p->leaf_key, p->leaf_value_hash, h);
  else memset(h, 0, 32);
  for (int d = p->depth - 1; d >= 0; d--) {
    if (bit(key, d)) node_hash(p->siblings[d], h, h);
    else node_hash(h, p->siblings[d], h);
  }
  if (memcmp(h, root, 32) != 0) return ag_fail(AG_E_PROOF, "proof does not reach the root");
  return 0;
}
