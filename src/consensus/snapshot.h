/*
 * snapshot.h — state sync: snapshots of the committed state that CometBFT offers to nodes
 * joining the network (ABCI ListSnapshots and LoadSnapshotChunk), and restoring one on a node
 * that joins (OfferSnapshot and ApplySnapshotChunk), so it starts from a recent height instead
 * of replaying every block from genesis.
 *
 * A snapshot of height h (format 1) is every key and value of the state after block h, in
 * hkey order, as records  klen u8 | key | vlen u32le | value,  cut into chunks of at least
 * AG_SNAPSHOT_CHUNK bytes (chunk_bytes below; a record is never split, and the last chunk may
 * be shorter). Its
 * metadata is  time_ms u64le | BLAKE2b-256("agora/snapchunk", chunk i) for each chunk, and its
 * hash BLAKE2b-256("agora/snapshot", height u64le | chunks u32le | metadata). On disk:
 * DATA/snapshots/HEIGHT/{meta,chunk.I}, meta holding  format u32le | chunks u32le | height
 * u64le | app_hash 32 | metadata.
 *
 * Trust: the joining node learns the app hash of height h from CometBFT's light client (it
 * verified the header of h + 1 against the validator set); a chunk that does not hash to the
 * metadata is refused and fetched again from another peer, and the restored state must hash to
 * that app hash, or the snapshot is refused whole and the store is emptied again. The chunk
 * hashes and time_ms come from the peer that offered the snapshot and are only as good as the
 * final root check makes them.
 */
#ifndef AG_SNAPSHOT_H
#define AG_SNAPSHOT_H

#include "chain/app.h"

#include <stddef.h>
#include <stdint.h>

#define AG_SNAPSHOT_FORMAT 1
#define AG_SNAPSHOT_CHUNK (1u << 20)
#define AG_SNAPSHOT_MAX_CHUNKS 100000 /* 100 GB of state at least: more is refused */

/* ABCI result codes (OfferSnapshot; ApplySnapshotChunk) */
enum { AG_OFFER_ACCEPT = 1, AG_OFFER_ABORT = 2, AG_OFFER_REJECT = 3, AG_OFFER_REJECT_FORMAT = 4 };
enum { AG_APPLY_ACCEPT = 1, AG_APPLY_ABORT = 2, AG_APPLY_RETRY = 3, AG_APPLY_REJECT_SNAPSHOT = 5 };

typedef struct {
  uint64_t height;
  uint32_t format, chunks;
  uint8_t hash[32];
  uint8_t app_hash[32];
  uint8_t *metadata; /* time_ms u64le | chunk hashes (owned) */
  size_t metalen;
} ag_snapshot_info;

/* Writes the state as of the view opened by ag_state_export_open (meta its head) into
 * dir/HEIGHT (through dir/.tmp-HEIGHT, renamed when complete), then keeps only the newest
 * `keep` snapshots in dir. */
int ag_snapshot_write(ag_state_export *view, const ag_state_meta *meta, const char *dir, int keep,
                      size_t chunk_bytes);
/* The complete snapshots in dir, newest first (caller frees with ag_snapshot_list_free). */
int ag_snapshot_list(const char *dir, ag_snapshot_info **out, size_t *n);
void ag_snapshot_list_free(ag_snapshot_info *s, size_t n);
/* Chunk index of the snapshot of height (format 1), read from dir. */
int ag_snapshot_chunk(const char *dir, uint64_t height, uint32_t index, uint8_t **data, size_t *len);

/* Restoring: one offer at a time. */
typedef struct ag_restore ag_restore;
/* Returns an AG_OFFER_* code; on ACCEPT *out is the restore under way (the store emptied and
 * ready). height, chunks and metadata are the offered snapshot's; app_hash is the trusted one. */
int ag_restore_offer(ag_app *app, uint64_t height, uint32_t format, uint32_t chunks, const uint8_t *metadata,
                     size_t metalen, const uint8_t app_hash[32], ag_restore **out);
/* Applies chunk index, sent by peer `sender` (CometBFT's peer id; may be empty); returns an
 * AG_APPLY_* code. A chunk that does not match its hash is RETRY (fetch it again); *reject is
 * set when the same sender has served a bad chunk before (CometBFT then asks only others: the
 * first bad chunk of a peer is not held against it, so that a snapshot only it offers is not
 * given up for one damaged transfer). *done is set once the last chunk restored a state that
 * hashes to the trusted app hash (the app reloaded it). On REJECT_SNAPSHOT the store is empty
 * again and the restore is over (free it). */
int ag_restore_apply(ag_restore *r, uint32_t index, const uint8_t *chunk, size_t len, const char *sender, int *reject,
                     int *done);
uint64_t ag_restore_height(const ag_restore *r);
void ag_restore_free(ag_restore *r); /* accepts NULL; an unfinished restore empties the store */

#endif
