/*
 * ptree.h — the state's sparse Merkle tree kept in LMDB (docs/state-tree.md, "Storage").
 *
 * The same binary tree as smt.h (same roots, same proofs), stored four binary levels to a
 * record: a *page* at nibble depth d holds the 16 subtrees found four levels below it, each
 * empty, a leaf (its path and leaf hash), a child page (its hash and version) or a *bucket*.
 * The 15 binary nodes inside a page are recomputed from its 16 slots when it is written or
 * proved; a subtree with one leaf is that leaf wherever it sits, so the slots are all it needs.
 *
 * A bucket is a subtree of 2..AG_PT_BUCKET leaves that has no pages: the slot holds its hash,
 * and its leaves are the state's own records under its path prefix, which the caller's scan
 * function lists (the state store keeps each record's leaf hash beside it). The widest levels
 * of the tree are thus never written as pages: a block rewrites the state records it changes
 * and the pages above their buckets, not a page per level per key. A subtree is made a bucket
 * when it is built with few leaves and becomes pages when it outgrows AG_PT_BUCKET; a shape
 * never changes a hash, only where the hashes are kept.
 *
 * Pages are immutable and versioned: a block writes new copies of the pages on its changed
 * paths under a new version (the commit sequence), so older roots stay readable until they
 * are pruned. Keys of the "tree" database: depth u8 | path nibbles packed (ceil(depth/2)
 * bytes) | version u64be. A page replaced by version v is listed under v in "tree_stale" and
 * deleted once no retained root needs it.
 *
 * Computing a block's changes only reads (committed pages, through read transactions, on up
 * to two threads); ag_pt_batch_write puts the result into the block's write transaction.
 */
#ifndef AG_PTREE_H
#define AG_PTREE_H

#include "chain/smt.h"
#include "core/buf.h"

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

enum { AG_PT_EMPTY = 0, AG_PT_LEAF = 1, AG_PT_PAGE = 2, AG_PT_BUCKET = 3 };
#define AG_PT_BUCKET_MAX 32

/* A reference to a subtree: the root of a version, or one slot of a page. */
typedef struct {
  uint8_t kind;     /* AG_PT_* */
  uint8_t hash[32]; /* leaf, page or bucket hash (zero when empty) */
  uint8_t key[32];  /* LEAF: the leaf's path */
  uint64_t ver;     /* PAGE: the version the page was written at */
} ag_pt_ref;

typedef struct {
  uint8_t key[32];
  uint8_t leaf_hash[32]; /* ag_smt_leaf_hash(key, value_hash) */
  int remove;
} ag_pt_update;

/* A growable list of leaves (remove is 0), sorted by key. */
typedef struct {
  ag_pt_update *v;
  size_t n, cap;
} ag_pt_leaves;
void ag_pt_leaves_push(ag_pt_leaves *l, const uint8_t key[32], const uint8_t leaf_hash[32]);

/* Lists, in key order, the leaves whose path starts with the first `nibbles` nibbles of key, as
 * of tree version ver (AG_PT_CURRENT: the committed state), read in txn. */
#define AG_PT_CURRENT UINT64_MAX
typedef int (*ag_pt_scan_fn)(void *ctx, MDB_txn *txn, const uint8_t key[32], int nibbles, uint64_t ver,
                             ag_pt_leaves *out);

typedef struct {
  MDB_env *env;
  MDB_dbi pages, stale;
  ag_pt_scan_fn scan;
  void *scan_ctx;
} ag_pt_db;

/* The outcome of one batch of updates: pages to put and pages to retire, and the new root. */
typedef struct {
  ag_buf puts;   /* klen u8 | key | vlen u16le | value, ... */
  ag_buf retire; /* tag u8 | klen u8 | key, ...: records of older versions the new root no longer
                  * uses: tag 'p' a page; the caller may add its own (ag_pt_prune's del_other) */
  ag_buf drop;   /* klen u8 | key, ...: pages of this same version replaced (deleted at once) */
  ag_pt_ref root;
  size_t pages;  /* pages written */
} ag_pt_batch;

void ag_pt_batch_init(ag_pt_batch *b);
void ag_pt_batch_free(ag_pt_batch *b);

/* Applies u (sorted by key, unique keys) to the tree under base, writing new pages under
 * version ver (> every version in the tree, or equal to the one being built). Reads
 * committed pages only. threads > 1 splits the work under the root page in two. */
int ag_pt_apply(const ag_pt_db *db, const ag_pt_ref *base, uint64_t ver, const ag_pt_update *u, size_t n,
                int threads, ag_pt_batch *out);
/* Puts the batch's pages into txn, deletes the dropped ones, and lists what it retires under
 * ver in the stale database, for ag_pt_prune. keep 0: no older version is kept, so the retired
 * pages are deleted at once and nothing is listed. */
int ag_pt_batch_write(const ag_pt_db *db, MDB_txn *txn, const ag_pt_batch *b, uint64_t ver, int keep);
/* Deletes what was retired at versions <= upto: pages, and through del_other the caller's
 * records; at most max_versions versions per call. */
int ag_pt_prune(const ag_pt_db *db, MDB_txn *txn, uint64_t upto, int max_versions,
                int (*del_other)(void *ctx, MDB_txn *txn, const uint8_t *key, size_t klen), void *ctx);

/* Proof of key under root (the tree of version ver), read in txn; leaf_value_hash is left for
 * the caller, leaf_hash is the tree's. */
int ag_pt_prove(const ag_pt_db *db, MDB_txn *txn, const ag_pt_ref *root, uint64_t ver, const uint8_t key[32],
                ag_smt_proof *p, uint8_t leaf_hash[32]);

/* Root references as stored: kind u8 | hash | key (LEAF) | ver u64le (PAGE): 73 bytes. */
#define AG_PT_REF_BYTES 73
void ag_pt_ref_encode(const ag_pt_ref *r, uint8_t out[AG_PT_REF_BYTES]);
int ag_pt_ref_decode(const uint8_t *p, size_t len, ag_pt_ref *r);

/* Checks the whole tree under root (version ver) against the records: every page hashes to what
 * its parent holds, every bucket to its records, every leaf is its record; *leaves counts the
 * keys reached. AG_E_STATE_MISMATCH names the first path that does not agree. */
int ag_pt_check(const ag_pt_db *db, MDB_txn *txn, const ag_pt_ref *root, uint64_t ver, uint64_t *leaves);

/* The hash of the subtree at binary depth bd holding the sorted leaves l[0..n). */
void ag_pt_subtree_hash(const ag_pt_update *l, size_t n, int bd, uint8_t out[32]);

#endif
