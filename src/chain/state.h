/*
 * state.h — the authenticated key-value state: LMDB for storage and for the sparse Merkle tree
 * that gives the root (ptree.h), and a write overlay for the block being executed.
 *
 * Keys are short byte strings (at most AG_STATE_KEY_MAX); each is stored under
 * hkey = BLAKE2b-256("agora/statekey", key), which is also its path in the tree, and each value
 * is committed as BLAKE2b-256("agora/value", value). The LMDB environment also holds the block
 * store, the tx index and the node's metadata, so a block, its state changes and the new height
 * and root are committed in one LMDB transaction: after a crash the store is at the last
 * committed block or the one before, never in between.
 *
 * The tree of each of the last `versions` heights is kept (ag_state_set_versions), with the values
 * those heights held, so proofs can be served for any of them.
 *
 * Threads: one writer (the consensus driver) calls get/put/savepoint/rollback/apply/commit.
 * Any thread may call the *_committed readers and the proofs (each reads one LMDB snapshot).
 */
#ifndef AG_STATE_H
#define AG_STATE_H

#include "chain/smt.h"
#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

#define AG_STATE_KEY_MAX 96
#define AG_STATE_VALUE_MAX (1u << 20)

typedef struct ag_state ag_state;

/* Metadata written with each commit. */
typedef struct {
  uint64_t height;
  uint64_t time_ms;
  uint8_t app_hash[32];   /* state root after the block */
  uint8_t block_hash[32]; /* zero in CometBFT mode (CometBFT keeps the blocks) */
} ag_state_meta;

/* Where a transaction landed and how it ended. */
typedef struct {
  uint64_t height;
  uint32_t index;
  int32_t code; /* 0 or an AG_E_* code */
  char log[200];
} ag_tx_location;

typedef struct {
  const uint8_t *hash; /* 32 bytes */
  ag_tx_location loc;
} ag_tx_index_entry;

/* Opens (creating if needed) the store in dir; AG_E_STATE_MISMATCH if the tree's root differs
 * from the one the head records. A store whose tree is not on disk (written by an older
 * version) has it built from the records, and checked the same way. AG_E_LOCKED if another
 * process holds it. */
int ag_state_open(const char *dir, ag_state **out);
void ag_state_close(ag_state *s); /* accepts NULL */

/* --- writer side: reads see the overlay, writes go to it ------------------------------- */
/* AG_E_NOTFOUND when absent. *vlen is always set on success; bytes beyond cap are not copied. */
int ag_state_get(ag_state *s, const void *key, size_t klen, uint8_t *val, size_t cap,
                 size_t *vlen);
/* Reads into a buffer (reset first). */
int ag_state_get_buf(ag_state *s, const void *key, size_t klen, ag_buf *out);
/* Writes to the overlay. A key outside 1..AG_STATE_KEY_MAX bytes or a value over
 * AG_STATE_VALUE_MAX is refused with AG_E_STATE_LIMIT and changes nothing; the first refusal
 * is also kept as the overlay's fault (ag_state_fault_take), so the state machine fails the tx
 * whose code wrote it even where that code ignored the return value. Never aborts. */
int ag_state_put(ag_state *s, const void *key, size_t klen, const void *val, size_t vlen);
int ag_state_del(ag_state *s, const void *key, size_t klen);
/* The first write refused since the last call (0 if none), with its message recorded for
 * ag_errmsg; clears it. */
int ag_state_fault_take(ag_state *s);
size_t ag_state_savepoint(const ag_state *s);
void ag_state_rollback(ag_state *s, size_t savepoint);
/* Forgets the journal: the overlay keeps its values, but nothing before this point can be
 * rolled back any more. The state machine calls it between txs, so the old values a block
 * overwrites are held for one tx at a time, not until commit. */
void ag_state_release(ag_state *s);
/* Bytes the journal holds (for tests of the bound above). */
size_t ag_state_journal_bytes(const ag_state *s);
/* Number of keys changed in the overlay. */
size_t ag_state_dirty(const ag_state *s);
/* Calls fn with every key the overlay changed (val NULL when deleted), in no set order;
 * nonzero from fn stops. */
int ag_state_overlay_each(ag_state *s,
                          int (*fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen),
                          void *ctx);

/* Computes the tree pages the overlay changes (nothing is written yet) and returns the new
 * root. Call once per block, then commit or discard. threads > 1 splits the work in two.
 * AG_E_CORRUPT or AG_E_IO when a page of the committed tree cannot be read. */
int ag_state_apply(ag_state *s, int threads, uint8_t root[32]);
/* Writes the overlay, its tree pages, the metadata, the block (may be NULL) and the tx index
 * in one durable LMDB transaction, prunes tree versions older than the kept ones, then clears
 * the overlay. Applies first if ag_state_apply was not called. */
int ag_state_commit(ag_state *s, const ag_state_meta *meta, const uint8_t *block,
                    size_t block_len, const ag_tx_index_entry *txs, size_t ntx);
/* History (docs/api.md "History"): records kept beside the state, outside the authenticated
 * tree (never part of a root), written by ag_state_commit in the block's own LMDB transaction,
 * so they survive exactly what the block survives, and dropped with the overlay. Keys are
 * 1..AG_STATE_HIST_KEY_MAX bytes and sort as bytes; a later put of the same key wins. */
#define AG_STATE_HIST_KEY_MAX 64
#define AG_STATE_HIST_VALUE_MAX (1u << 20)
/* Reserved first key byte: '#' | height u64be lists the keys each block wrote, for pruning
 * (so a key must name its block, or be written once: pruning a block deletes its keys). */
#define AG_STATE_HIST_LIST '#'
/* Keep the history of the last `blocks` blocks (0: all, the default): each commit deletes the
 * records of blocks older than that, the oldest 64 blocks' worth at most per commit. */
void ag_state_set_history_keep(ag_state *s, uint64_t blocks);
void ag_state_hist_put(ag_state *s, const void *key, size_t klen, const void *val, size_t vlen);
/* Committed history with the prefix, highest key first, starting below before (NULL or blen 0:
 * from the last); at most limit records; fn returns nonzero to stop. */
int ag_state_hist_scan(ag_state *s, const void *prefix, size_t plen, const void *before, size_t blen, size_t limit,
                       int (*fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen),
                       void *ctx);
/* Drops the overlay; only valid before ag_state_apply. */
void ag_state_discard(ag_state *s);
/* Deletes every state key and the metadata (not the blocks), for a replay from genesis. */
int ag_state_reset(ag_state *s);

/* --- committed readers (any thread) ------------------------------------------------------ */
int ag_state_meta_get(ag_state *s, ag_state_meta *meta); /* AG_E_NOTFOUND before genesis */
int ag_state_get_committed(ag_state *s, const void *key, size_t klen, ag_buf *out);
int ag_state_block(ag_state *s, uint64_t height, ag_buf *out);
uint64_t ag_state_block_count(ag_state *s); /* highest stored block height (0 if none) */
int ag_state_tx_lookup(ag_state *s, const uint8_t hash[32], ag_tx_location *loc);
/* Proof for key against the committed root; value in *val when present (returns 0 either
 * way; *present says which). */
int ag_state_prove(ag_state *s, const void *key, size_t klen, ag_smt_proof *proof,
                   uint8_t root[32], uint64_t *height, ag_buf *val, int *present);
/* The same against the root of height at (AG_STATE_LATEST: the last committed), with the value
 * the key held then. AG_E_NOTFOUND for a height not committed yet or no longer kept. */
#define AG_STATE_LATEST UINT64_MAX
int ag_state_prove_at(ag_state *s, uint64_t at, const void *key, size_t klen, ag_smt_proof *proof,
                      uint8_t root[32], uint64_t *height, ag_buf *val, int *present);
/* Heights whose tree and values are kept for proofs (default AG_STATE_VERSIONS_DEFAULT; 1 keeps
 * only the last). Each commit prunes what falls out, at most 64 heights' worth per commit. */
/* Reads the whole committed store and checks it: every record's key and leaf hash, and the tree
 * against the records (ag_pt_check), its root against the head. AG_E_STATE_MISMATCH names the
 * first thing that does not agree (repair: agora node --replay). *keys: the records read. */
int ag_state_check(ag_state *s, uint64_t *keys);
#define AG_STATE_VERSIONS_DEFAULT 1
void ag_state_set_versions(ag_state *s, uint64_t versions);
/* Bytes of the store's file the process keeps mapped in memory (0: no bound). Reads map the file;
 * after a commit that leaves more than this resident, the process unmaps its pages (they stay in
 * the kernel's page cache) so its memory does not grow with the state. */
#define AG_STATE_MEMORY_MB_DEFAULT 512
void ag_state_set_memory_budget(ag_state *s, size_t bytes);
/* Small named metadata records ("genesis_hash", "chain_id", ...). */
int ag_state_meta_put_raw(ag_state *s, const char *name, const void *val, size_t len);
int ag_state_meta_get_raw(ag_state *s, const char *name, ag_buf *out);

/* A consistent read-only snapshot of the committed state (one LMDB read transaction), for
 * readers that need several keys from the same height. Any thread; close it promptly. */
typedef struct ag_state_view ag_state_view;
int ag_state_view_open(ag_state *s, ag_state_view **out);
int ag_state_view_get(ag_state_view *v, const void *key, size_t klen, ag_buf *out);
uint64_t ag_state_view_height(const ag_state_view *v);
void ag_state_view_close(ag_state_view *v); /* accepts NULL */

/* Iterates committed keys in tree order (by hkey); fn returns nonzero to stop. */
int ag_state_iterate(ag_state *s, int (*fn)(void *ctx, const uint8_t *key, size_t klen,
                                            const uint8_t *val, size_t vlen),
                     void *ctx);

void ag_state_hkey(const void *key, size_t klen, uint8_t out[32]);
void ag_state_value_hash(const void *val, size_t vlen, uint8_t out[32]);
/* Sizes for metrics: the tree's pages in LMDB (all kept versions), keys, and the LMDB file. */
size_t ag_state_tree_bytes(ag_state *s);
size_t ag_state_leaves(ag_state *s);
uint64_t ag_state_disk_bytes(ag_state *s);

/* Appends klen u8 | key | vlen u32le | value: the record of the history buffer and of
 * state-sync snapshot chunks (klen at most 255). */
void ag_state_record_put(ag_buf *out, const void *key, size_t klen, const void *val, size_t vlen);

/* --- snapshots (CometBFT state sync) -------------------------------------------------------
 * Export: a read view of the committed state, opened where the caller stands (its meta in
 * *meta) and readable from any thread afterwards, so a snapshot of height h can be written in
 * the background while later blocks commit. fn gets every key and value, in hkey order; a
 * nonzero return stops the walk and is returned. */
typedef struct ag_state_export ag_state_export;
typedef int (*ag_state_export_fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);
int ag_state_export_open(ag_state *s, ag_state_export **out, ag_state_meta *meta);
int ag_state_export_run(ag_state_export *x, ag_state_export_fn fn, void *ctx);
void ag_state_export_close(ag_state_export *x); /* accepts NULL */

/* Restore into a store with no committed height: puts go straight to LMDB in batches (each
 * ag_state_restore_flush commits one); finish writes meta as the head, rebuilds the tree and
 * checks that it hashes to meta->app_hash: AG_E_STATE_MISMATCH otherwise, and then, as after
 * ag_state_restore_abort, the store is empty again. AG_E_INVALID when the store already has
 * a committed height; AG_E_STATE_LIMIT for a key or value outside the state's limits. The tree is
 * built in batches of 2^20 keys, so a restore's memory does not grow with the state. */
int ag_state_restore_begin(ag_state *s);
int ag_state_restore_put(ag_state *s, const void *key, size_t klen, const void *val, size_t vlen);
int ag_state_restore_flush(ag_state *s);
int ag_state_restore_finish(ag_state *s, const ag_state_meta *meta);
void ag_state_restore_abort(ag_state *s);

#endif
