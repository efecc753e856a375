/*
 * txset.h — a bounded set of tx ids, oldest first out.
 *
 * In CometBFT mode the transactions waiting in CometBFT's mempool are not ours to hold, but
 * every one of them passed our CheckTx; the node keeps their ids here so that
 * GET /v1/txs/{hash} can say "pending" as it does in solo mode (consensus/node.c says when
 * ids come and go). Each id carries a mark (the height it was last checked at); marks never
 * decrease, so arrival order is mark order and the stale ones are the oldest. At capacity the
 * oldest id is dropped: memory stays at about 48 bytes per slot whatever arrives. Not
 * thread-safe: the node locks.
 */
#ifndef AG_TXSET_H
#define AG_TXSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint8_t (*ring)[32]; /* ids in arrival order; a removed id leaves its slot empty */
  uint64_t *mark;      /* per ring slot: its id's mark */
  uint8_t *live;       /* per ring slot: 1 while its id is in the set */
  uint32_t *index;     /* open addressing on the id: ring slot + 1, or 0 */
  size_t cap, mask;    /* ring slots; index slots - 1 (a power of two, at least 2 * cap) */
  size_t head, used;   /* oldest ring slot; ring slots in use (live or not) */
  size_t count;        /* ids in the set */
} ag_txset;

void ag_txset_init(ag_txset *s, size_t cap); /* cap >= 1 */
void ag_txset_free(ag_txset *s);
void ag_txset_clear(ag_txset *s);

/* Adds id as the newest, with mark (not below any mark before it); an id already there moves
 * to the newest place. Returns 1 when the oldest id was dropped to make room, else 0. */
int ag_txset_add(ag_txset *s, const uint8_t id[32], uint64_t mark);
/* Removes the ids whose mark is below min_mark; returns how many. */
size_t ag_txset_expire(ag_txset *s, uint64_t min_mark);
/* Removes id; 1 when it was there. */
int ag_txset_del(ag_txset *s, const uint8_t id[32]);
int ag_txset_has(const ag_txset *s, const uint8_t id[32]);

#endif
