/*
 * mempool.c — arrival-ordered vector of entries with a tx-id index and per-sender counts.
 * Removals leave holes that are compacted once they reach half the vector.
 */
#include "chain/mempool.h"

#include "core/err.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  uint8_t pk[32];
  uint32_t count;
  uint8_t used;
} sender_slot;

struct ag_mempool {
  ag_mempool_limits lim;
  ag_mempool_entry **v; /* arrival order; NULL = hole */
  size_t n, cap, live, holes, bytes;
  uint64_t seq;
  /* tx id -> position in v (open addressing; rebuilt on compaction) */
  uint32_t *idx; /* position + 1, 0 = empty, UINT32_MAX = tombstone */
  size_t idx_cap, idx_used;
  sender_slot *senders;
  size_t s_cap, s_used;
  const ag_mempool_entry **reap; /* scratch for ag_mempool_reap */
};

ag_mempool *ag_mempool_new(const ag_mempool_limits *lim) {
  ag_mempool *mp = ag_xcalloc(1, sizeof *mp);
  mp->lim = *lim;
  return mp;
}

void ag_mempool_free(ag_mempool *mp) {
  if (!mp) return;
  for (size_t i = 0; i < mp->n; i++)
    if (mp->v[i]) {
      free(mp->v[i]->raw);
      free(mp->v[i]);
    }
  free(mp->v);
  free(mp->idx);
  free(mp->senders);
  free(mp->reap);
  free(mp);
}

size_t ag_mempool_size(const ag_mempool *mp) { return mp->live; }
size_t ag_mempool_bytes(const ag_mempool *mp) { return mp->bytes; }

/* ---- tx id index ------------------------------------------------------------------------ */

static size_t idx_find(const ag_mempool *mp, const uint8_t hash[32], int for_insert) {
  size_t mask = mp->idx_cap - 1, i = ag_get_u64le(hash) & mask, tomb = SIZE_MAX;
  for (;;) {
    uint32_t e = mp->idx[i];
    if (e == 0) return for_insert && tomb != SIZE_MAX ? tomb : i;
    if (e == UINT32_MAX) {
      if (tomb == SIZE_MAX) tomb = i;
    } else if (memcmp(mp->v[e - 1]->hash, hash, 32) == 0) {
      return i;
    }
    i = (i + 1) & mask;
  }
}

static void idx_rebuild(ag_mempool *mp) {
  size_t want = 1024;
  while (want < mp->live * 3) want *= 2;
  free(mp->idx);
  mp->idx_cap = want;
  mp->idx = ag_xcalloc(want, sizeof *mp->idx);
  mp->idx_used = 0;
  for (size_t i = 0; i < mp->n; i++) {
    if (!mp->v[i]) continue;
    size_t s = idx_find(mp, mp->v[i]->hash, 1);
    mp->idx[s] = (uint32_t)(i + 1);
    mp->idx_used++;
  }
}

int ag_mempool_contains(const ag_mempool *mp, const uint8_t hash[32]) {
  if (!mp->idx_cap) return 0;
  uint32_t e = mp->idx[idx_find(mp, hash, 0)];
  return e != 0 && e != UINT32_MAX;
}

/* ---- senders ---------------------------------------------------------------------------- */

static sender_slot *sender(ag_mempool *mp, const uint8_t pk[32]) {
  if ((mp->s_used + 1) * 2 >= mp->s_cap) {
    sender_slot *old = mp->senders;
    size_t oldcap = mp->s_cap;
    mp->s_cap = oldcap ? oldcap * 2 : 256;
    mp->senders = ag_xcalloc(mp->s_cap, sizeof *mp->senders);
    mp->s_used = 0;
    for (size_t i = 0; i < oldcap; i++) {
      if (!old[i].used || old[i].count == 0) continue;
      size_t j = ag_get_u64le(old[i].pk) & (mp->s_cap - 1);
      while (mp->senders[j].used) j = (j + 1) & (mp->s_cap - 1);
      mp->senders[j] = old[i];
      mp->s_used++;
    }
    free(old);
  }
  size_t j = ag_get_u64le(pk) & (mp->s_cap - 1);
  while (mp->senders[j].used && memcmp(mp->senders[j].pk, pk, 32) != 0)
    j = (j + 1) & (mp->s_cap - 1);
  if (!mp->senders[j].used) {
    mp->senders[j].used = 1;
    memcpy(mp->senders[j].pk, pk, 32);
    mp->senders[j].count = 0;
    mp->s_used++;
  }
  return &mp->senders[j];
}

/* ---- removal and compaction ------------------------------------------------------------- */

static void drop_at(ag_mempool *mp, size_t pos) {
  ag_mempool_entry *e = mp->v[pos];
  size_t s = idx_find(mp, e->hash, 0);
  mp->idx[s] = UINT32_MAX;
  sender(mp, e->sender)->count--;
  mp->bytes -= e->len;
  mp->live--;
  mp->holes++;
  mp->v[pos] = NULL;
  free(e->raw);
  free(e);
}

static void compact(ag_mempool *mp) {
  size_t w = 0;
  for (size_t i = 0; i < mp->n; i++)
    if (mp->v[i]) mp->v[w++] = mp->v[i];
  mp->n = w;
  mp->holes = 0;
  idx_rebuild(mp);
}

static void maybe_compact(ag_mempool *mp) {
  if (mp->holes > 64 && mp->holes * 2 > mp->n) compact(mp);
}

/* ---- add -------------------------------------------------------------------------------- */

static int evict_one(ag_mempool *mp, uint32_t newcomer_count) {
  sender_slot *top = NULL;
  for (size_t i = 0; i < mp->s_cap; i++)
    if (mp->senders[i].used && (!top || mp->senders[i].count > top->count)) top = &mp->senders[i];
  if (!top || top->count <= newcomer_count + 1) return 0;
  for (size_t i = mp->n; i-- > 0;)
    if (mp->v[i] && memcmp(mp->v[i]->sender, top->pk, 32) == 0) {
      drop_at(mp, i);
      return 1;
    }
  return 0;
}

int ag_mempool_add(ag_mempool *mp, const uint8_t *raw, size_t len, const ag_tx_meta *meta,
                   size_t *evicted) {
  if (evicted) *evicted = 0;
  if (!mp->idx_cap) idx_rebuild(mp);
  if (ag_mempool_contains(mp, meta->hash))
    return ag_fail(AG_E_TX_DUPLICATE, "transaction is already in the mempool");
  if (len > mp->lim.max_bytes)
    return ag_fail(AG_E_MEMPOOL_FULL, "transaction larger than the whole mempool");
  sender_slot *me = sender(mp, meta->sender);
  if (me->count >= mp->lim.max_per_sender)
    return ag_fail(AG_E_MEMPOOL_FULL, "this sender already has %u pending transactions",
                   me->count);
  while (mp->live + 1 > mp->lim.max_txs || mp->bytes + len > mp->lim.max_bytes) {
    if (!evict_one(mp, sender(mp, meta->sender)->count))
      return ag_fail(AG_E_MEMPOOL_FULL, "mempool is full (%zu txs, %zu bytes); retry later",
                     mp->live, mp->bytes);
    if (evicted) (*evicted)++;
  }
  maybe_compact(mp);
  if ((mp->idx_used + 1) * 2 >= mp->idx_cap) idx_rebuild(mp);
  if (mp->n == mp->cap) {
    mp->cap = mp->cap ? mp->cap * 2 : 1024;
    mp->v = ag_xrealloc(mp->v, mp->cap * sizeof *mp->v);
  }
  ag_mempool_entry *e = ag_xmalloc(sizeof *e);
  memcpy(e->hash, meta->hash, 32);
  memcpy(e->sender, meta->sender, 32);
  e->nonce = meta->nonce;
  e->fee = meta->fee;
  e->seq = mp->seq++;
  e->raw = ag_xmalloc(len);
  memcpy(e->raw, raw, len);
  e->len = (uint32_t)len;
  mp->v[mp->n] = e;
  size_t s = idx_find(mp, e->hash, 1);
  if (mp->idx[s] == 0) mp->idx_used++;
  mp->idx[s] = (uint32_t)(mp->n + 1);
  mp->n++;
  mp->live++;
  mp->bytes += len;
  sender(mp, meta->sender)->count++;
  return 0;
}

size_t ag_mempool_reap(ag_mempool *mp, size_t max_bytes, size_t max_txs,
                       const ag_mempool_entry ***out) {
  free(mp->reap);
  mp->reap = ag_xmalloc((mp->live + 1) * sizeof *mp->reap);
  size_t k = 0, bytes = 0;
  for (size_t i = 0; i < mp->n && k < max_txs; i++) {
    ag_mempool_entry *e = mp->v[i];
    if (!e) continue;
    if (bytes + e->len > max_bytes) break; /* keep arrival order: stop at the first misfit */
    bytes += e->len;
    mp->reap[k++] = e;
  }
  *out = mp->reap;
  return k;
}

void ag_mempool_remove(ag_mempool *mp, const uint8_t (*hashes)[32], size_t n) {
  if (!mp->idx_cap) return;
  for (size_t i = 0; i < n; i++) {
    size_t s = idx_find(mp, hashes[i], 0);
    uint32_t e = mp->idx[s];
    if (e != 0 && e != UINT32_MAX) drop_at(mp, e - 1);
  }
  maybe_compact(mp);
}

size_t ag_mempool_recheck(ag_mempool *mp, int (*check)(void *ctx, const ag_mempool_entry *e),
                          void *ctx) {
  size_t dropped = 0;
  for (size_t i = 0; i < mp->n; i++)
    if (mp->v[i] && check(ctx, mp->v[i])) {
      drop_at(mp, i);
      dropped++;
    }
  maybe_compact(mp);
  return dropped;
}
