/*
 * mempool.c — entries found by tx id in one table; each sender's entries in a queue (nonce
 * order) found by public key in another; all entries in one arrival list (recheck walks it).
 * A min-heap of the senders' tails, ordered like a block but upside down, gives the eviction
 * victim at its top; reap merges the senders' queues through a max-heap of their heads
 * (ag_mempool_order, which PrepareProposal shares).
 *
 * Eviction is tentative: victims are detached one by one until the newcomer fits, then freed,
 * or put back when one of them pays as much per byte as the newcomer, so that a refusal
 * changes nothing. Going on past that point tells the refusal which fee would have got in.
 */
#include "chain/mempool.h"

#include "core/err.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mp_sender mp_sender;

typedef struct mp_entry {
  ag_mempool_entry e;             /* first: reap hands out pointers to it */
  struct mp_entry *prev, *next;   /* the sender's queue, nonce order */
  struct mp_entry *older, *newer; /* the pool's arrival list */
  mp_sender *s;
} mp_entry;

struct mp_sender {
  uint8_t pk[32]; /* first: the table's key */
  mp_entry *head, *tail;
  size_t count; /* entries in the queue; the sender is in the tails heap iff count > 0 */
  size_t hpos;  /* index in the tails heap */
};

/* ---- tables: open addressing over records that start with their 32-byte key ------------- */

typedef struct {
  void **slot;
  size_t cap, live, dead; /* dead = tombstones */
} ptab;

static char tomb_mark;
#define TOMB ((void *)&tomb_mark)

static size_t ptab_find(const ptab *t, const uint8_t key[32]) {
  if (!t->cap) return SIZE_MAX;
  size_t mask = t->cap - 1, i = ag_get_u64le(key) & mask;
  for (;;) {
    void *p = t->slot[i];
    if (!p) return SIZE_MAX;
    if (p != TOMB && memcmp(p, key, 32) == 0) return i;
    i = (i + 1) & mask;
  }
}

static void *ptab_get(const ptab *t, const uint8_t key[32]) {
  size_t i = ptab_find(t, key);
  return i == SIZE_MAX ? NULL : t->slot[i];
}

/* Load stays at most 1/2 counting tombstones, so every probe meets an empty slot. */
static void ptab_put(ptab *t, void *rec) {
  if ((t->live + t->dead + 1) * 2 > t->cap) {
    size_t cap = 64;
    while (cap < (t->live + 1) * 4) cap *= 2;
    void **old = t->slot;
    size_t oldcap = t->cap;
    t->slot = ag_xcalloc(cap, sizeof *t->slot);
    t->cap = cap;
    t->dead = 0;
    for (size_t i = 0; i < oldcap; i++)
      if (old[i] && old[i] != TOMB) {
        size_t j = ag_get_u64le(old[i]) & (cap - 1);
        while (t->slot[j]) j = (j + 1) & (cap - 1);
        t->slot[j] = old[i];
      }
    free(old);
  }
  size_t mask = t->cap - 1, i = ag_get_u64le(rec) & mask;
  while (t->slot[i] && t->slot[i] != TOMB) i = (i + 1) & mask;
  if (t->slot[i] == TOMB) t->dead--;
  t->slot[i] = rec;
  t->live++;
}

static void ptab_del(ptab *t, const uint8_t key[32]) {
  size_t i = ptab_find(t, key);
  if (i == SIZE_MAX) return;
  t->slot[i] = TOMB;
  t->live--;
  t->dead++;
}

/* ---- the pool ----------------------------------------------------------------------------- */

struct ag_mempool {
  ag_mempool_limits lim;
  ptab txs;     /* tx id -> mp_entry */
  ptab senders; /* public key -> mp_sender, for senders with entries (or being evicted) */
  mp_sender **tails; /* min-heap: the sender whose tail would be reaped last is on top */
  size_t ntails, tails_cap;
  mp_entry *oldest, *newest;
  size_t live, bytes;
  uint64_t seq;
  ag_mempool_evict_fn on_evict;
  void *evict_ctx;
  /* scratch */
  mp_entry **victims;
  mp_sender **emptied;
  size_t victims_cap;
  const ag_mempool_entry **grouped, **reap;
  size_t reap_cap;
};

ag_mempool *ag_mempool_new(const ag_mempool_limits *lim) {
  ag_mempool *mp = ag_xcalloc(1, sizeof *mp);
  mp->lim = *lim;
  return mp;
}

void ag_mempool_free(ag_mempool *mp) {
  if (!mp) return;
  for (mp_entry *e = mp->oldest, *next; e; e = next) {
    next = e->newer;
    free(e->e.raw);
    free(e);
  }
  for (size_t i = 0; i < mp->senders.cap; i++)
    if (mp->senders.slot[i] && mp->senders.slot[i] != TOMB) free(mp->senders.slot[i]);
  free(mp->senders.slot);
  free(mp->txs.slot);
  free(mp->tails);
  free(mp->victims);
  free(mp->emptied);
  free(mp->grouped);
  free(mp->reap);
  free(mp);
}

void ag_mempool_on_evict(ag_mempool *mp, ag_mempool_evict_fn fn, void *ctx) {
  mp->on_evict = fn;
  mp->evict_ctx = ctx;
}

size_t ag_mempool_size(const ag_mempool *mp) { return mp->live; }
size_t ag_mempool_bytes(const ag_mempool *mp) { return mp->bytes; }

int ag_mempool_contains(const ag_mempool *mp, const uint8_t hash[32]) {
  return ptab_find(&mp->txs, hash) != SIZE_MAX;
}

/* ---- fee per byte ------------------------------------------------------------------------- */

/* fee_a / len_a against fee_b / len_b without division: -1, 0 or 1. */
static int rate_cmp(const ag_mempool_entry *a, const ag_mempool_entry *b) {
  unsigned __int128 x = (unsigned __int128)a->fee * b->len;
  unsigned __int128 y = (unsigned __int128)b->fee * a->len;
  return x < y ? -1 : x > y;
}

int ag_mempool_better(const ag_mempool_entry *a, const ag_mempool_entry *b) {
  int c = rate_cmp(a, b);
  return c ? c > 0 : a->seq < b->seq;
}

/* ---- the tails heap ----------------------------------------------------------------------- */

/* a's tail would be reaped after b's: a is the likelier victim */
static int tail_worse(const mp_sender *a, const mp_sender *b) {
  return ag_mempool_better(&b->tail->e, &a->tail->e);
}

static void heap_set(ag_mempool *mp, size_t i, mp_sender *s) {
  mp->tails[i] = s;
  s->hpos = i;
}

static void heap_up(ag_mempool *mp, size_t i) {
  mp_sender *s = mp->tails[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!tail_worse(s, mp->tails[p])) break;
    heap_set(mp, i, mp->tails[p]);
    i = p;
  }
  heap_set(mp, i, s);
}

static void heap_down(ag_mempool *mp, size_t i) {
  mp_sender *s = mp->tails[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= mp->ntails) break;
    if (c + 1 < mp->ntails && tail_worse(mp->tails[c + 1], mp->tails[c])) c++;
    if (!tail_worse(mp->tails[c], s)) break;
    heap_set(mp, i, mp->tails[c]);
    i = c;
  }
  heap_set(mp, i, s);
}

static void heap_fix(ag_mempool *mp, mp_sender *s) {
  heap_up(mp, s->hpos);
  heap_down(mp, s->hpos);
}

static void heap_push(ag_mempool *mp, mp_sender *s) {
  if (mp->ntails == mp->tails_cap) {
    mp->tails_cap = mp->tails_cap ? mp->tails_cap * 2 : 256;
    mp->tails = ag_xrealloc(mp->tails, mp->tails_cap * sizeof *mp->tails);
  }
  heap_set(mp, mp->ntails++, s);
  heap_up(mp, s->hpos);
}

static void heap_remove(ag_mempool *mp, mp_sender *s) {
  size_t i = s->hpos;
  mp_sender *last = mp->tails[--mp->ntails];
  if (last == s) return;
  heap_set(mp, i, last);
  heap_fix(mp, last);
}

/* The eviction victim: the worst tail of a sender other than me (NULL when there is none).
 * When me is on top, the next worst is one of its children. */
static mp_sender *victim(const ag_mempool *mp, const mp_sender *me) {
  if (!mp->ntails) return NULL;
  if (mp->tails[0] != me) return mp->tails[0];
  mp_sender *best = NULL;
  for (size_t c = 1; c <= 2 && c < mp->ntails; c++)
    if (!best || tail_worse(mp->tails[c], best)) best = mp->tails[c];
  return best;
}

/* ---- queues ------------------------------------------------------------------------------- */

/* Appends e to its sender's queue and counts it in the pool. */
static void attach(ag_mempool *mp, mp_entry *e) {
  mp_sender *s = e->s;
  e->prev = s->tail;
  e->next = NULL;
  if (s->tail) s->tail->next = e;
  else s->head = e;
  s->tail = e;
  mp->live++;
  mp->bytes += e->e.len;
  if (++s->count == 1) heap_push(mp, s);
  else heap_fix(mp, s);
}

/* Takes e out of its sender's queue and the pool's counts (not out of the tables or the
 * arrival list). */
static void detach(ag_mempool *mp, mp_entry *e) {
  mp_sender *s = e->s;
  int was_tail = s->tail == e;
  if (e->prev) e->prev->next = e->next;
  else s->head = e->next;
  if (e->next) e->next->prev = e->prev;
  else s->tail = e->prev;
  mp->live--;
  mp->bytes -= e->e.len;
  if (--s->count == 0) heap_remove(mp, s);
  else if (was_tail) heap_fix(mp, s);
}

/* Frees a detached entry: out of the tables, the arrival list and memory. */
static void release(ag_mempool *mp, mp_entry *e) {
  ptab_del(&mp->txs, e->e.hash);
  if (e->older) e->older->newer = e->newer;
  else mp->oldest = e->newer;
  if (e->newer) e->newer->older = e->older;
  else mp->newest = e->older;
  free(e->e.raw);
  free(e);
}

static void release_sender(ag_mempool *mp, mp_sender *s) {
  ptab_del(&mp->senders, s->pk);
  free(s);
}

static void drop(ag_mempool *mp, mp_entry *e) {
  mp_sender *s = e->s;
  detach(mp, e);
  release(mp, e);
  if (!s->count) release_sender(mp, s);
}

/* ---- add ---------------------------------------------------------------------------------- */

static void victims_reserve(ag_mempool *mp, size_t n) {
  if (n <= mp->victims_cap) return;
  mp->victims_cap = n * 2;
  mp->victims = ag_xrealloc(mp->victims, mp->victims_cap * sizeof *mp->victims);
  mp->emptied = ag_xrealloc(mp->emptied, mp->victims_cap * sizeof *mp->emptied);
}

static int over(const ag_mempool *mp, size_t len) {
  return mp->live + 1 > mp->lim.max_txs || mp->bytes + len > mp->lim.max_bytes;
}

/* "more than W per byte, a fee of at least F" for the best-paying victim a newcomer of len
 * bytes must outbid: F is the least integer with F / len > fee_w / len_w. NULL: no fee would
 * do. */
static int refuse(const ag_mempool *mp, size_t len, uint64_t fee, const mp_entry *dearest) {
  if (!dearest)
    return ag_fail(AG_E_MEMPOOL_FULL,
                   "mempool is full (%zu txs, %zu bytes) and no other sender's txs could make "
                   "room for this %zu-byte tx; retry after the next block",
                   mp->live, mp->bytes, len);
  const ag_mempool_entry *w = &dearest->e;
  unsigned __int128 f = (unsigned __int128)w->fee * len / w->len + 1;
  uint64_t need = f > UINT64_MAX ? UINT64_MAX : (uint64_t)f;
  uint64_t whole = w->fee / w->len, milli = (w->fee % w->len) * 1000 / w->len;
  return ag_fail(AG_E_MEMPOOL_FULL,
                 "mempool is full (%zu txs, %zu bytes): to get in, this %zu-byte tx must pay "
                 "more than %llu.%03llu base units per byte, a fee of at least %llu (it pays "
                 "%llu)",
                 mp->live, mp->bytes, len, (unsigned long long)whole,
                 (unsigned long long)milli, (unsigned long long)need,
                 (unsigned long long)fee);
}

int ag_mempool_add(ag_mempool *mp, const uint8_t *raw, size_t len, const ag_tx_meta *meta,
                   size_t *evicted) {
  if (evicted) *evicted = 0;
  if (ag_mempool_contains(mp, meta->hash))
    return ag_fail(AG_E_TX_DUPLICATE, "transaction is already in the mempool");
  if (len == 0) return ag_fail(AG_E_INVALID, "empty transaction");
  if (len > mp->lim.max_bytes || len > UINT32_MAX)
    return ag_fail(AG_E_MEMPOOL_FULL, "transaction larger than the whole mempool");
  mp_sender *me = ptab_get(&mp->senders, meta->sender);
  if (me && me->count >= mp->lim.max_per_sender)
    return ag_fail(AG_E_MEMPOOL_FULL, "this sender already has %zu pending transactions",
                   me->count);

  /* Detach victims until the newcomer fits. Which ones does not depend on the newcomer's fee,
   * so when one of them pays as much, the best-paying of the whole set names the fee that
   * would have been enough. */
  ag_mempool_entry probe = {.fee = meta->fee, .len = (uint32_t)len, .seq = mp->seq};
  size_t nv = 0;
  const mp_entry *dearest = NULL;
  int outbid = 0;
  while (over(mp, len)) {
    mp_sender *s = victim(mp, me);
    if (!s) break;
    mp_entry *e = s->tail;
    if (!dearest || ag_mempool_better(&e->e, &dearest->e)) dearest = e;
    if (rate_cmp(&e->e, &probe) >= 0) outbid = 1;
    victims_reserve(mp, nv + 1);
    detach(mp, e);
    mp->victims[nv++] = e;
  }
  int no_room = over(mp, len);
  if (no_room || outbid) {
    /* put them back as they were: each was its sender's tail when detached */
    for (size_t i = nv; i-- > 0;) attach(mp, mp->victims[i]);
    return refuse(mp, len, meta->fee, no_room ? NULL : dearest);
  }
  size_t nempty = 0;
  for (size_t i = 0; i < nv; i++) {
    mp_entry *e = mp->victims[i];
    if (mp->on_evict) mp->on_evict(mp->evict_ctx, &e->e);
    /* a sender's victims emptied it if the last of them was its head: list it once, then */
    if (e->s->count == 0 && !e->prev) mp->emptied[nempty++] = e->s;
    release(mp, e);
  }
  for (size_t i = 0; i < nempty; i++) release_sender(mp, mp->emptied[i]);
  if (evicted) *evicted = nv;

  if (!me) {
    me = ag_xcalloc(1, sizeof *me);
    memcpy(me->pk, meta->sender, 32);
    ptab_put(&mp->senders, me);
  }
  mp_entry *e = ag_xcalloc(1, sizeof *e);
  memcpy(e->e.hash, meta->hash, 32);
  memcpy(e->e.sender, meta->sender, 32);
  memcpy(e->e.payer, meta->payer, 32);
  e->e.nonce = meta->nonce;
  e->e.fee = meta->fee;
  e->e.cost = meta->cost;
  e->e.seq = mp->seq++;
  e->e.raw = ag_xmalloc(len);
  memcpy(e->e.raw, raw, len);
  e->e.len = (uint32_t)len;
  e->s = me;
  attach(mp, e);
  e->older = mp->newest;
  if (mp->newest) mp->newest->newer = e;
  else mp->oldest = e;
  mp->newest = e;
  ptab_put(&mp->txs, e);
  return 0;
}

/* ---- reap, remove, recheck ---------------------------------------------------------------- */

static int fit_bytes(void *ctx, const ag_mempool_entry *e) {
  size_t *room = ctx;
  if (e->len > *room) return 0;
  *room -= e->len;
  return 1;
}

size_t ag_mempool_reap(ag_mempool *mp, size_t max_bytes, size_t max_txs,
                       const ag_mempool_entry ***out) {
  if (mp->live + 1 > mp->reap_cap) {
    mp->reap_cap = (mp->live + 1) * 2;
    free(mp->grouped);
    free(mp->reap);
    mp->grouped = ag_xmalloc(mp->reap_cap * sizeof *mp->grouped);
    mp->reap = ag_xmalloc(mp->reap_cap * sizeof *mp->reap);
  }
  size_t n = 0;
  for (size_t i = 0; i < mp->senders.cap; i++) {
    mp_sender *s = mp->senders.slot[i];
    if (!s || s == TOMB) continue;
    for (mp_entry *e = s->head; e; e = e->next) mp->grouped[n++] = &e->e;
  }
  size_t room = max_bytes;
  *out = mp->reap;
  return ag_mempool_order(mp->grouped, n, max_txs, fit_bytes, &room, mp->reap);
}

void ag_mempool_remove(ag_mempool *mp, const uint8_t (*hashes)[32], size_t n) {
  for (size_t i = 0; i < n; i++) {
    mp_entry *e = ptab_get(&mp->txs, hashes[i]);
    if (e) drop(mp, e);
  }
}

size_t ag_mempool_recheck(ag_mempool *mp, int (*check)(void *ctx, const ag_mempool_entry *e),
                          void *ctx) {
  size_t dropped = 0;
  for (mp_entry *e = mp->oldest, *next; e; e = next) {
    next = e->newer;
    if (check(ctx, &e->e)) {
      drop(mp, e);
      dropped++;
    }
  }
  return dropped;
}

/* ---- ordering ----------------------------------------------------------------------------- */

static int group_cmp(const void *pa, const void *pb) {
  const ag_mempool_entry *a = *(const ag_mempool_entry *const *)pa;
  const ag_mempool_entry *b = *(const ag_mempool_entry *const *)pb;
  int c = memcmp(a->sender, b->sender, 32);
  if (c) return c;
  if (a->nonce != b->nonce) return a->nonce < b->nonce ? -1 : 1;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void ag_mempool_group(const ag_mempool_entry **ents, size_t n) {
  if (n > 1) qsort(ents, n, sizeof *ents, group_cmp);
}

static int same_sender(const ag_mempool_entry *a, const ag_mempool_entry *b) {
  return memcmp(a->sender, b->sender, 32) == 0;
}

/* max-heap of indices into ents: the best entry on top */
static void order_down(const ag_mempool_entry *const *ents, size_t *h, size_t nh, size_t i) {
  size_t x = h[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= nh) break;
    if (c + 1 < nh && ag_mempool_better(ents[h[c + 1]], ents[h[c]])) c++;
    if (!ag_mempool_better(ents[h[c]], ents[x])) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

size_t ag_mempool_order(const ag_mempool_entry *const *ents, size_t n, size_t max_txs,
                        ag_mempool_fit_fn fit, void *ctx, const ag_mempool_entry **out) {
  size_t *h = ag_xmalloc((n ? n : 1) * sizeof *h), nh = 0, k = 0;
  for (size_t i = 0; i < n; i++)
    if (i == 0 || !same_sender(ents[i], ents[i - 1])) h[nh++] = i; /* each sender's first */
  for (size_t i = nh / 2; i-- > 0;) order_down(ents, h, nh, i);
  while (nh && k < max_txs) {
    size_t i = h[0];
    if (fit(ctx, ents[i])) {
      out[k++] = ents[i];
      if (i + 1 < n && same_sender(ents[i + 1], ents[i])) {
        h[0] = i + 1; /* the sender's next tx becomes eligible */
        order_down(ents, h, nh, 0);
        continue;
      }
    }
    h[0] = h[--nh]; /* the sender is done for this block */
    if (nh) order_down(ents, h, nh, 0);
  }
  free(h);
  return k;
}
