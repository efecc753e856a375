/* txset.c — a bounded set of tx ids, oldest first out (txset.h). */
#include "chain/txset.h"

#include "core/util.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Ids are hashes, but whoever makes txs can grind them; the slot comes from all 16 leading
 * bytes mixed with a key of this process, so that nobody can aim a crowd of ids at one probe
 * run. */
static uint64_t mix_key[2];

static size_t home_of(const ag_txset *s, const uint8_t id[32]) {
  uint64_t a = (ag_get_u64le(id) ^ mix_key[0]) * 0x9e3779b97f4a7c15ull;
  uint64_t b = (ag_get_u64le(id + 8) ^ mix_key[1]) * 0xc2b2ae3d27d4eb4full;
  uint64_t h = a ^ (b >> 29) ^ (a >> 31);
  return (size_t)(h * 0x94d049bb133111ebull >> 17) & s->mask;
}

/* the index slot holding id, or SIZE_MAX */
static size_t find(const ag_txset *s, const uint8_t id[32]) {
  for (size_t i = home_of(s, id);; i = (i + 1) & s->mask) {
    uint32_t v = s->index[i];
    if (!v) return SIZE_MAX;
    if (!memcmp(s->ring[v - 1], id, 32)) return i;
  }
}

static void index_put(ag_txset *s, size_t slot) {
  size_t i = home_of(s, s->ring[slot]);
  while (s->index[i]) i = (i + 1) & s->mask;
  s->index[i] = (uint32_t)slot + 1;
}

/* Empties index slot i, shifting back the entries of its probe run (no tombstones). */
static void index_del(ag_txset *s, size_t i) {
  for (size_t j = i;;) {
    j = (j + 1) & s->mask;
    uint32_t v = s->index[j];
    if (!v) break;
    size_t k = home_of(s, s->ring[v - 1]);
    /* the entry at j may move to i unless its home lies cyclically in (i, j] */
    int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (!stays) {
      s->index[i] = v;
      i = j;
    }
  }
  s->index[i] = 0;
}

void ag_txset_init(ag_txset *s, size_t cap) {
  memset(s, 0, sizeof *s);
  if (!mix_key[0] && !mix_key[1]) randombytes_buf(mix_key, sizeof mix_key);
  s->cap = cap ? cap : 1;
  size_t n = 4;
  while (n < 2 * s->cap) n *= 2;
  s->mask = n - 1;
  s->ring = ag_xmalloc(s->cap * 32);
  s->mark = ag_xcalloc(s->cap, sizeof *s->mark);
  s->live = ag_xcalloc(s->cap, 1);
  s->index = ag_xcalloc(n, sizeof *s->index);
}

void ag_txset_free(ag_txset *s) {
  free(s->ring);
  free(s->mark);
  free(s->live);
  free(s->index);
  memset(s, 0, sizeof *s);
}

void ag_txset_clear(ag_txset *s) {
  memset(s->live, 0, s->cap);
  memset(s->index, 0, (s->mask + 1) * sizeof *s->index);
  s->head = s->used = s->count = 0;
}

/* Moves the live ids to the front of the ring, in order, and rebuilds the index. */
static void compact(ag_txset *s) {
  uint8_t(*ring)[32] = ag_xmalloc(s->cap * 32);
  uint64_t *mark = ag_xcalloc(s->cap, sizeof *mark);
  size_t n = 0;
  for (size_t k = 0; k < s->used; k++) {
    size_t slot = (s->head + k) % s->cap;
    if (!s->live[slot]) continue;
    memcpy(ring[n], s->ring[slot], 32);
    mark[n++] = s->mark[slot];
  }
  free(s->ring);
  free(s->mark);
  s->ring = ring;
  s->mark = mark;
  memset(s->live, 0, s->cap);
  memset(s->live, 1, n);
  memset(s->index, 0, (s->mask + 1) * sizeof *s->index);
  for (size_t k = 0; k < n; k++) index_put(s, k);
  s->head = 0;
  s->used = s->count = n;
}

int ag_txset_del(ag_txset *s, const uint8_t id[32]) {
  size_t i = find(s, id);
  if (i == SIZE_MAX) return 0;
  s->live[s->index[i] - 1] = 0;
  index_del(s, i);
  s->count--;
  return 1;
}

int ag_txset_has(const ag_txset *s, const uint8_t id[32]) { return find(s, id) != SIZE_MAX; }

/* Frees the oldest ring slot; 1 when it held a live id. */
static int pop_oldest(ag_txset *s) {
  int was_live = s->live[s->head];
  if (was_live) ag_txset_del(s, s->ring[s->head]);
  s->head = (s->head + 1) % s->cap;
  s->used--;
  return was_live;
}

size_t ag_txset_expire(ag_txset *s, uint64_t min_mark) {
  size_t n = 0;
  while (s->used && (!s->live[s->head] || s->mark[s->head] < min_mark)) n += (size_t)pop_oldest(s);
  return n;
}

int ag_txset_add(ag_txset *s, const uint8_t id[32], uint64_t mark) {
  int dropped = 0;
  ag_txset_del(s, id);
  if (s->used == s->cap) {
    /* removed ids leave holes: squeeze them out while a quarter of the ring or more is holes
     * (so each squeeze pays for many adds), else the oldest goes */
    if (s->count <= s->cap - s->cap / 4 && s->count < s->cap) {
      compact(s);
    } else {
      dropped = pop_oldest(s);
    }
  }
  size_t slot = (s->head + s->used) % s->cap;
  memcpy(s->ring[slot], id, 32);
  s->mark[slot] = mark;
  s->live[slot] = 1;
  s->used++;
  s->count++;
  index_put(s, slot);
  return dropped;
}
