/*
 * mempool.h — pending transactions, bounded, filling blocks by fee per byte.
 *
 * The rule (docs/security.md, "Fees and the mempool"):
 *
 *  - Order. A block takes the best tx first: the highest fee per encoded byte (fee / len,
 *    compared exactly as fee_a * len_b against fee_b * len_a in 128 bits), the earlier
 *    arrival among equals. A sender's txs keep their nonce order: only a sender's oldest
 *    pending tx (its queue head) competes, and the next one becomes eligible when it is
 *    taken. A head that does not fit the block's remaining room leaves its whole sender out
 *    of that block; smaller txs of other senders still fill the room.
 *  - Admission when full (by count or bytes). The candidates for eviction are the senders'
 *    tails (each sender's newest pending tx: evicting an earlier one would strand its later
 *    nonces). The cheapest tail (lowest fee per byte, the newest among equals) is evicted if
 *    it pays strictly less per byte than the newcomer, and again until the newcomer fits;
 *    otherwise nothing is evicted and the newcomer is refused (AG_E_MEMPOOL_FULL, naming the
 *    fee that would get it in). A newcomer never evicts its own sender's txs.
 *  - At most max_per_sender pending txs per sender; duplicates (same tx id) are refused.
 *
 * Admission (ag_mempool_add) assumes the tx passed the state machine's check_tx, which
 * enforces per-sender nonce order, so each sender's arrivals come in nonce order. What
 * check_tx reserved for a tx the pool refuses or evicts must be given back with
 * ag_app_pending_rewind (the node does it), or the sender's next nonce would point past a
 * tx that is gone. Not thread-safe: the node locks.
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
  uint8_t payer[32]; /* whose balance check_tx reserved cost from */
  uint64_t nonce;
  uint64_t fee;  /* base units */
  uint64_t cost; /* fee + amounts spent: what check_tx reserved for it */
  uint64_t seq;  /* arrival number; unique within one pool or one ordering call */
  uint8_t *raw;  /* owned by the pool (borrowed in an ordering call's own entries) */
  uint32_t len;  /* encoded bytes */
} ag_mempool_entry;

typedef struct {
  size_t max_txs;
  size_t max_bytes;
  size_t max_per_sender;
} ag_mempool_limits;

ag_mempool *ag_mempool_new(const ag_mempool_limits *lim);
void ag_mempool_free(ag_mempool *mp); /* accepts NULL */

/* Called for every entry evicted to make room, before it is freed (the node gives back the
 * evicted sender's check_tx reservation). */
typedef void (*ag_mempool_evict_fn)(void *ctx, const ag_mempool_entry *e);
void ag_mempool_on_evict(ag_mempool *mp, ag_mempool_evict_fn fn, void *ctx);

/* AG_E_TX_DUPLICATE or AG_E_MEMPOOL_FULL (with a message); 0 when added. *evicted counts the
 * entries dropped to make room (0 when refused: a refusal evicts nothing). */
int ag_mempool_add(ag_mempool *mp, const uint8_t *raw, size_t len, const ag_tx_meta *meta,
                   size_t *evicted);
int ag_mempool_contains(const ag_mempool *mp, const uint8_t hash[32]);
/* The next block's txs, best first by the rule above: sizes sum to at most max_bytes, at most
 * max_txs of them. The pointers stay valid until the next call that changes the pool. */
size_t ag_mempool_reap(ag_mempool *mp, size_t max_bytes, size_t max_txs,
                       const ag_mempool_entry ***out);
/* Removes the given tx ids (those included in a block). */
void ag_mempool_remove(ag_mempool *mp, const uint8_t (*hashes)[32], size_t n);
/* Calls check() on every entry in arrival order (so each sender's in nonce order); drops
 * those for which it returns nonzero. Returns the number dropped. */
size_t ag_mempool_recheck(ag_mempool *mp, int (*check)(void *ctx, const ag_mempool_entry *e),
                          void *ctx);
size_t ag_mempool_size(const ag_mempool *mp);
size_t ag_mempool_bytes(const ag_mempool *mp);

/* ---- the block-filling rule, shared with CometBFT's PrepareProposal ------------------------ */

/* Nonzero when a pays more per byte than b (exact), or as much and arrived first (lower seq). */
int ag_mempool_better(const ag_mempool_entry *a, const ag_mempool_entry *b);

/* Asked for each tx in the order chosen: nonzero takes it (the callee counts it against its
 * own limits); zero leaves it, and the rest of its sender's txs, out of this block. */
typedef int (*ag_mempool_fit_fn)(void *ctx, const ag_mempool_entry *e);

/* Sorts entries by sender, then nonce, then seq: the grouping ag_mempool_order needs. */
void ag_mempool_group(const ag_mempool_entry **ents, size_t n);
/* Fills a block from ents, which must hold each sender's entries together and in nonce order
 * (ag_mempool_group arranges any array so): repeatedly offers fit() the best of the senders'
 * next entries (ag_mempool_better), at most max_txs taken. Writes the taken entries to out
 * (room for n) in block order and returns their number. The result depends only on the set
 * of entries (seq breaks every tie), not on the order of the groups. */
size_t ag_mempool_order(const ag_mempool_entry *const *ents, size_t n, size_t max_txs,
                        ag_mempool_fit_fn fit, void *ctx, const ag_mempool_entry **out);

#endif
