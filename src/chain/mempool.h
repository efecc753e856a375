/*
 * mempool.h — pending transactions in arrival order, bounded and fair.
 *
 * Admission (ag_mempool_add) assumes the tx already passed the state machine's check_tx, which
 * enforces per-sender nonce order, so arrival order is nonce order for each sender. Duplicates
 * (same tx id) are refused. When full, the pool evicts the newest tx of the sender holding the
 * most entries, if that sender holds more than the newcomer would; otherwise the newcomer is
 * refused: one busy sender cannot push out everyone else. Not thread-safe: the node locks.
 */
#ifndef AG_MEMPOOL_H
#define AG_MEMPOOL_H

#include "chain/app.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ag_mempool ag_mempool;

typedef struct {
  uint8_t hash[32];
  uint8_t sender[32];
  uint64_t nonce;
  uint64_t fee;
  uint64_t seq; /* arrival number */
  uint8_t *raw; /* owned by the pool */
  uint32_t len;
} ag_mempool_entry;

typedef struct {
  size_t max_txs;
  size_t max_bytes;
  size_t max_per_sender;
} ag_mempool_limits;

ag_mempool *ag_mempool_new(const ag_mempool_limits *lim);
void ag_mempool_free(ag_mempool *mp); /* accepts NULL */

/* AG_E_TX_DUPLICATE or AG_E_MEMPOOL_FULL (with a message); 0 when added. *evicted counts the
 * entries dropped to make room. */
int ag_mempool_add(ag_mempool *mp, const uint8_t *raw, size_t len, const ag_tx_meta *meta,
                   size_t *evicted);
int ag_mempool_contains(const ag_mempool *mp, const uint8_t hash[32]);
/* Entries in arrival order whose sizes sum to at most max_bytes, at most max_txs of them.
 * The pointers stay valid until the next call that changes the pool. */
size_t ag_mempool_reap(ag_mempool *mp, size_t max_bytes, size_t max_txs,
                       const ag_mempool_entry ***out);
/* Removes the given tx ids (those included in a block). */
void ag_mempool_remove(ag_mempool *mp, const uint8_t (*hashes)[32], size_t n);
/* Calls keep() on every entry in order; drops those for which it returns nonzero. Returns the
 * number dropped. */
size_t ag_mempool_recheck(ag_mempool *mp, int (*check)(void *ctx, const ag_mempool_entry *e),
                          void *ctx);
size_t ag_mempool_size(const ag_mempool *mp);
size_t ag_mempool_bytes(const ag_mempool *mp);

#endif
