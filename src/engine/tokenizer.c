/*
 * tokenizer.c — the ag_tokenizer type: Agora's own byte-level BPE (pre-tokenizer,
 * deterministic trainer, encoder, decoder) here, GGUF vocabularies in tokenizer_gguf.c.
 * Training keeps the pair counts in a hash table and, for each merge, re-counts only the words
 * that contain the merged pair. Does not: cache encodings, or train vocabularies > 65536.
 */
#include "engine/tokenizer.h"

#include "core/err.h"
#include "core/util.h"
#include "engine/pretok.h"
#include "engine/tokenizer_gguf.h"
#include "engine/unicode.h"

#include <stdlib.h>
#include <string.h>

#define PRETOK_MAX 64

struct ag_tokenizer {
  ag_tokg *g; /* the GGUF vocabulary that encodes (shared, immutable); NULL: Agora's legacy rule */
  int gguf;   /* built from a GGUF file (else Agora's own, merges below) */
  int pre;    /* Agora's own: AG_PRE_* it was trained and encodes with, -1 = legacy rule */
  size_t n_merges;
  uint32_t *pairs;  /* (n_merges, 2) */
  uint32_t *off;    /* (vocab + 1) offsets into bytes */
  uint8_t *bytes;
  /* pair -> merged id, open addressing, keys (left << 32 | right) + 1, 0 = empty */
  uint64_t *keys;
  uint32_t *vals;
  size_t cap;
};

/* ---------- pair hash map ---------- */

static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static void map_put(uint64_t *keys, uint32_t *vals, size_t cap, uint64_t key, uint32_t v) {
  size_t i = mix64(key) & (cap - 1);
  while (keys[i] && keys[i] != key + 1) i = (i + 1) & (cap - 1);
  keys[i] = key + 1;
  vals[i] = v;
}

static int lookup(const ag_tokenizer *t, uint32_t a, uint32_t b, uint32_t *v) {
  if (!t->cap) return 0;
  uint64_t key = ((uint64_t)a << 32 | b) + 1;
  size_t i = mix64(key - 1) & (t->cap - 1);
  while (t->keys[i]) {
    if (t->keys[i] == key) {
      *v = t->vals[i];
      return 1;
    }
    i = (i + 1) & (t->cap - 1);
  }
  return 0;
}

/* ---------- construction ---------- */

int ag_tok_from_merges(const uint32_t *pairs, size_t n, ag_tokenizer **out) {
  *out = NULL;
  if (n > AG_TOK_MAX_VOCAB - AG_TOK_BASE)
    return ag_fail(AG_E_TOO_LARGE, "tokenizer has %zu merges (max %d)", n, AG_TOK_MAX_VOCAB - AG_TOK_BASE);
  for (size_t i = 0; i < n; i++) {
    uint32_t a = pairs[2 * i], b = pairs[2 * i + 1], lim = AG_TOK_BASE + (uint32_t)i;
    if (a >= lim || b >= lim || a == AG_TOK_EOT || b == AG_TOK_EOT)
      return ag_fail(AG_E_CORRUPT, "tokenizer merge %zu refers to an invalid id", i);
  }
  ag_tokenizer *t = ag_xcalloc(1, sizeof *t);
  t->pre = -1;
  size_t vocab = AG_TOK_BASE + n;
  t->n_merges = n;
  t->pairs = ag_xmalloc((2 * n + 1) * sizeof(uint32_t));
  if (n) memcpy(t->pairs, pairs, 2 * n * sizeof(uint32_t));
  t->off = ag_xmalloc((vocab + 1) * sizeof(uint32_t));
  /* piece lengths grow at most linearly per merge; compute total first */
  uint32_t *len = ag_xmalloc(vocab * sizeof(uint32_t));
  uint64_t total = 0;
  for (size_t i = 0; i < vocab; i++) {
    if (i < 256) len[i] = 1;
    else if (i == AG_TOK_EOT) len[i] = 0;
    else {
      uint64_t l = (uint64_t)len[pairs[2 * (i - AG_TOK_BASE)]] + len[pairs[2 * (i - AG_TOK_BASE) + 1]];
      if (l > (1u << 20)) {
        free(len);
        ag_tok_free(t);
        return ag_fail(AG_E_CORRUPT, "tokenizer piece %zu is too long", i);
      }
      len[i] = (uint32_t)l;
    }
    total += len[i];
    if (total > (1u << 28)) {
      free(len);
      ag_tok_free(t);
      return ag_fail(AG_E_TOO_LARGE, "tokenizer pieces are too large");
    }
  }
  t->bytes = ag_xmalloc(total + 1);
  uint32_t o = 0;
  for (size_t i = 0; i < vocab; i++) {
    t->off[i] = o;
    if (i < 256) t->bytes[o] = (uint8_t)i;
    else if (i >= AG_TOK_BASE) {
      uint32_t a = pairs[2 * (i - AG_TOK_BASE)], b = pairs[2 * (i - AG_TOK_BASE) + 1];
      memcpy(t->bytes + o, t->bytes + t->off[a], len[a]);
      memcpy(t->bytes + o + len[a], t->bytes + t->off[b], len[b]);
    }
    o += len[i];
  }
  t->off[vocab] = o;
  free(len);
  size_t cap = 16;
  while (cap < 2 * n + 2) cap <<= 1;
  t->cap = cap;
  t->keys = ag_xcalloc(cap, sizeof(uint64_t));
  t->vals = ag_xcalloc(cap, sizeof(uint32_t));
  for (size_t i = 0; i < n; i++) {
    uint32_t dummy;
    if (lookup(t, pairs[2 * i], pairs[2 * i + 1], &dummy)) {
      ag_tok_free(t);
      return ag_fail(AG_E_CORRUPT, "tokenizer merge %zu repeats an earlier pair", i);
    }
    map_put(t->keys, t->vals, cap, (uint64_t)pairs[2 * i] << 32 | pairs[2 * i + 1], AG_TOK_BASE + (uint32_t)i);
  }
  *out = t;
  return 0;
}

int ag_tok_from_spec(const ag_tok_spec *s, ag_tokenizer **out) {
  *out = NULL;
  ag_tokg *g;
  int rc = ag_tokg_build(s, &g);
  if (rc) return rc;
  ag_tokenizer *t = ag_xcalloc(1, sizeof *t);
  t->g = g;
  t->gguf = 1;
  t->pre = -1;
  *out = t;
  return 0;
}

/* The GGUF vocabulary Agora exports for t (GPT-2 spelling of every piece, <|endoftext|> a
 * control token and BOS = EOS, merges "A B", BOS added), as the tokenizer that encodes. */
static int attach_vocab(ag_tokenizer *t) {
  size_t v = AG_TOK_BASE + t->n_merges, nm = t->n_merges;
  ag_buf *str = ag_xcalloc(v + nm, sizeof(ag_buf));
  const uint8_t **p = ag_xmalloc((v + nm) * sizeof *p);
  size_t *len = ag_xmalloc((v + nm) * sizeof *len);
  int32_t *type = ag_xmalloc(v * sizeof *type);
  for (size_t i = 0; i < v; i++) {
    size_t l;
    const uint8_t *piece = ag_tok_piece(t, (uint32_t)i, &l);
    if (i == AG_TOK_EOT) ag_buf_puts(&str[i], "<|endoftext|>");
    else ag_tokg_spell(&str[i], piece, l);
    type[i] = i == AG_TOK_EOT ? AG_TOKT_CONTROL : AG_TOKT_NORMAL;
  }
  for (size_t i = 0; i < nm; i++) {
    ag_buf *m = &str[v + i];
    ag_buf_put(m, str[t->pairs[2 * i]].data, str[t->pairs[2 * i]].len);
    ag_buf_put_u8(m, ' ');
    ag_buf_put(m, str[t->pairs[2 * i + 1]].data, str[t->pairs[2 * i + 1]].len);
  }
  for (size_t i = 0; i < v + nm; i++) {
    p[i] = str[i].data ? str[i].data : (const uint8_t *)"";
    len[i] = str[i].len;
  }
  ag_tok_spec s = {AG_TOKK_GPT2, ag_pretok_name(t->pre), v, p, len, NULL, type, nm, p + v, len + v,
                   AG_TOK_EOT, AG_TOK_EOT, -1, -1, -1, 1, 0, -1};
  int rc = ag_tokg_build(&s, &t->g);
  for (size_t i = 0; i < v + nm; i++) ag_buf_free(&str[i]);
  free(str);
  free(p);
  free(len);
  free(type);
  return rc;
}

int ag_tok_from_merges_pre(const uint32_t *pairs, size_t n, const char *pre, ag_tokenizer **out) {
  *out = NULL;
  int id = -1;
  if (pre && (id = ag_pretok_find(pre)) < 0)
    return ag_fail(AG_E_UNSUPPORTED, "pre-tokenizer '%s' is not supported", pre);
  int rc = ag_tok_from_merges(pairs, n, out);
  if (rc || id < 0) return rc;
  (*out)->pre = id;
  rc = attach_vocab(*out);
  if (rc) {
    ag_tok_free(*out);
    *out = NULL;
  }
  return rc;
}

const char *ag_tok_pre(const ag_tokenizer *t) {
  if (t->gguf) return ag_tokg_kind(t->g) == AG_TOKK_GPT2 ? ag_pretok_name(ag_tokg_pre(t->g)) : NULL;
  return t->pre >= 0 ? ag_pretok_name(t->pre) : NULL;
}

int ag_tok_clone(const ag_tokenizer *t, ag_tokenizer **out) {
  *out = NULL;
  if (!t->gguf) return ag_tok_from_merges_pre(t->pairs, t->n_merges, ag_tok_pre(t), out);
  ag_tokenizer *c = ag_xcalloc(1, sizeof *c);
  c->g = ag_tokg_ref(t->g);
  c->gguf = 1;
  c->pre = -1;
  *out = c;
  return 0;
}

void ag_tok_free(ag_tokenizer *t) {
  if (!t) return;
  ag_tokg_unref(t->g);
  free(t->pairs);
  free(t->off);
  free(t->bytes);
  free(t->keys);
  free(t->vals);
  free(t);
}

int ag_tok_kind(const ag_tokenizer *t) { return t->gguf ? ag_tokg_kind(t->g) : AG_TOKK_AGORA; }
int ag_tok_vocab(const ag_tokenizer *t) {
  return t->gguf ? (int)ag_tokg_n(t->g) : AG_TOK_BASE + (int)t->n_merges;
}
size_t ag_tok_n_merges(const ag_tokenizer *t) { return t->n_merges; }

void ag_tok_merge(const ag_tokenizer *t, size_t i, uint32_t *left, uint32_t *right) {
  *left = t->pairs[2 * i];
  *right = t->pairs[2 * i + 1];
}

int32_t ag_tok_bos(const ag_tokenizer *t) { return t->g ? ag_tokg_bos(t->g) : AG_TOK_EOT; }
int32_t ag_tok_eos(const ag_tokenizer *t) { return t->g ? ag_tokg_eos(t->g) : AG_TOK_EOT; }
int ag_tok_is_eog(const ag_tokenizer *t, uint32_t id) { return t->g ? ag_tokg_is_eog(t->g, id) : id == AG_TOK_EOT; }

static const char eot_text[] = "<|endoftext|>";

const uint8_t *ag_tok_text(const ag_tokenizer *t, uint32_t id, size_t *len) {
  if (t->gguf) return ag_tokg_text(t->g, id, len);
  if (id == AG_TOK_EOT) {
    *len = sizeof eot_text - 1;
    return (const uint8_t *)eot_text;
  }
  return ag_tok_piece(t, id, len);
}

int32_t ag_tok_find(const ag_tokenizer *t, const char *text) {
  size_t n = strlen(text);
  if (t->gguf) return ag_tokg_find(t->g, (const uint8_t *)text, n);
  if (!strcmp(text, eot_text)) return AG_TOK_EOT;
  for (uint32_t id = (uint32_t)ag_tok_vocab(t); id-- > 0;) {
    size_t l;
    const uint8_t *p = ag_tok_piece(t, id, &l);
    if (id != AG_TOK_EOT && l == n && !memcmp(p, text, n)) return (int32_t)id;
  }
  return -1;
}

const uint8_t *ag_tok_piece(const ag_tokenizer *t, uint32_t id, size_t *len) {
  if (t->gguf) return ag_tokg_piece(t->g, id, len);
  if (id >= (uint32_t)ag_tok_vocab(t)) {
    *len = 0;
    return NULL;
  }
  *len = t->off[id + 1] - t->off[id];
  return t->bytes + t->off[id];
}

/* ---------- pre-tokenizer ---------- */

enum { C_LETTER, C_DIGIT, C_SPACE, C_OTHER };

static inline int cls(uint8_t c) {
  if ((c | 32) >= 'a' && (c | 32) <= 'z') return C_LETTER;
  if (c >= 0x80) return C_LETTER; /* keeps UTF-8 sequences inside words */
  if (c >= '0' && c <= '9') return C_DIGIT;
  if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f') return C_SPACE;
  return C_OTHER;
}

/* Length of the pre-token starting at s[0] (n > 0). */
static size_t pretok(const uint8_t *s, size_t n) {
  size_t i = 0;
  if (s[0] == ' ' && n > 1 && cls(s[1]) != C_SPACE) i = 1;
  int c = cls(s[i]);
  size_t j = i + 1;
  while (j < n && j < PRETOK_MAX && cls(s[j]) == c) {
    /* a space right before a non-space starts the next pre-token */
    if (c == C_SPACE && s[j] == ' ' && j + 1 < n && cls(s[j + 1]) != C_SPACE) break;
    j++;
  }
  return j;
}

/* ---------- encoding ---------- */

static size_t merge_word(const ag_tokenizer *t, uint32_t *w, size_t len) {
  for (;;) {
    uint32_t best = UINT32_MAX, a = 0, b = 0, v;
    for (size_t i = 0; i + 1 < len; i++)
      if (lookup(t, w[i], w[i + 1], &v) && v < best) {
        best = v;
        a = w[i];
        b = w[i + 1];
      }
    if (best == UINT32_MAX) return len;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
      if (i + 1 < len && w[i] == a && w[i + 1] == b) {
        w[o++] = best;
        i++;
      } else w[o++] = w[i];
    }
    len = o;
  }
}

static void agora_encode(const ag_tokenizer *t, const uint8_t *s, size_t n, uint32_t **ids, size_t *nids,
                         size_t *cap) {
  uint32_t w[PRETOK_MAX];
  size_t i = 0;
  while (i < n) {
    size_t k = pretok(s + i, n - i);
    for (size_t j = 0; j < k; j++) w[j] = s[i + j];
    size_t m = merge_word(t, w, k);
    if (*nids + m > *cap) {
      *cap = AG_MAX(*cap * 2, *nids + m + 1024);
      *ids = ag_xrealloc(*ids, *cap * sizeof(uint32_t));
    }
    memcpy(*ids + *nids, w, m * sizeof(uint32_t));
    *nids += m;
    i += k;
  }
}

static void push_id(uint32_t **ids, size_t *nids, size_t *cap, uint32_t id) {
  if (*nids + 1 > *cap) {
    *cap = AG_MAX(*cap * 2, *nids + 1024);
    *ids = ag_xrealloc(*ids, *cap * sizeof(uint32_t));
  }
  (*ids)[(*nids)++] = id;
}

int ag_tok_encode_ex(const ag_tokenizer *t, const uint8_t *s, size_t n, int flags, uint32_t **ids,
                     size_t *nids, size_t *cap) {
  return ag_tok_encode_literal(t, s, n, flags, NULL, 0, ids, nids, cap);
}

size_t ag_tok_control_at(const ag_tokenizer *t, const uint8_t *s, size_t n) {
  if (t->g) return ag_tokg_control_at(t->g, s, n);
  size_t el = sizeof eot_text - 1;
  return n >= el && !memcmp(s, eot_text, el) ? el : 0;
}

int ag_tok_encode_literal(const ag_tokenizer *t, const uint8_t *s, size_t n, int flags,
                          const ag_tok_range *lit, size_t nlit, uint32_t **ids, size_t *nids, size_t *cap) {
  if (t->g) return ag_tokg_encode(t->g, s, n, flags, lit, nlit, ids, nids, cap);
  if (flags & AG_TOK_ADD_SPECIAL) push_id(ids, nids, cap, AG_TOK_EOT);
  if (!(flags & AG_TOK_PARSE_SPECIAL)) {
    agora_encode(t, s, n, ids, nids, cap);
    return 0;
  }
  size_t el = sizeof eot_text - 1, from = 0;
  for (size_t i = 0; i + el <= n;) {
    int literal = 0;
    for (size_t r = 0; r < nlit && !literal; r++) literal = i < lit[r].off + lit[r].len && lit[r].off < i + el;
    if (literal || memcmp(s + i, eot_text, el)) {
      i++;
      continue;
    }
    agora_encode(t, s + from, i - from, ids, nids, cap);
    push_id(ids, nids, cap, AG_TOK_EOT);
    i += el;
    from = i;
  }
  agora_encode(t, s + from, n - from, ids, nids, cap);
  return 0;
}

int ag_tok_encode(const ag_tokenizer *t, const uint8_t *s, size_t n, uint32_t **ids, size_t *nids,
                  size_t *cap) {
  return ag_tok_encode_ex(t, s, n, 0, ids, nids, cap);
}

int ag_tok_decode(const ag_tokenizer *t, const uint32_t *ids, size_t n, ag_buf *out) {
  for (size_t i = 0; i < n; i++) {
    if (ids[i] >= (uint32_t)ag_tok_vocab(t))
      return ag_fail(AG_E_RANGE, "token id %u is outside the vocabulary (%d)", ids[i], ag_tok_vocab(t));
    size_t len;
    const uint8_t *p = ag_tok_piece(t, ids[i], &len);
    ag_buf_put(out, p, len);
  }
  return 0;
}

/* ---------- training ---------- */

typedef struct {
  uint64_t *keys; /* pair + 1 */
  int64_t *cnt;
  size_t cap, used;
} pair_map;

static int64_t *pm_slot(pair_map *m, uint64_t key) {
  if (2 * (m->used + 1) > m->cap) {
    size_t nc = m->cap ? m->cap * 2 : 1 << 16;
    uint64_t *nk = ag_xcalloc(nc, sizeof(uint64_t));
    int64_t *nv = ag_xcalloc(nc, sizeof(int64_t));
    for (size_t i = 0; i < m->cap; i++)
      if (m->keys[i]) {
        size_t j = mix64(m->keys[i] - 1) & (nc - 1);
        while (nk[j]) j = (j + 1) & (nc - 1);
        nk[j] = m->keys[i];
        nv[j] = m->cnt[i];
      }
    free(m->keys);
    free(m->cnt);
    m->keys = nk;
    m->cnt = nv;
    m->cap = nc;
  }
  size_t i = mix64(key) & (m->cap - 1);
  while (m->keys[i] && m->keys[i] != key + 1) i = (i + 1) & (m->cap - 1);
  if (!m->keys[i]) {
    m->keys[i] = key + 1;
    m->used++;
  }
  return &m->cnt[i];
}

typedef struct {
  const uint8_t *p;
  uint32_t len;
  uint64_t count;
} word;

static int word_cmp(const void *x, const void *y) {
  const word *a = x, *b = y;
  size_t n = AG_MIN(a->len, b->len);
  int c = memcmp(a->p, b->p, n);
  if (c) return c;
  return a->len < b->len ? -1 : a->len > b->len;
}

static void count_pairs(pair_map *pm, const uint32_t *w, uint32_t len, int64_t mult) {
  for (uint32_t i = 0; i + 1 < len; i++) *pm_slot(pm, (uint64_t)w[i] << 32 | w[i + 1]) += mult;
}

/* Learns up to vocab_size - 257 merges from the words of text: the legacy pre-tokens, or the
 * byte ranges [ends[j - 1], ends[j]) when ends is given. */
static void train(const uint8_t *text, size_t len, const size_t *ends, size_t nends, int vocab_size,
                  uint32_t **pairs_out, size_t *nm_out) {
  /* 1. unique pre-tokens with counts (hash on bytes), then sorted for a fixed order */
  size_t wcap = 1 << 16, nw = 0, next_end = 0;
  word *tab = ag_xcalloc(wcap, sizeof(word));
  for (size_t i = 0; i < len;) {
    size_t k = ends ? ends[next_end++] - i : pretok(text + i, len - i);
    if (!k) continue;
    if (2 * (nw + 1) > wcap) {
      size_t nc = wcap * 2;
      word *nt = ag_xcalloc(nc, sizeof(word));
      for (size_t j = 0; j < wcap; j++)
        if (tab[j].p) {
          uint64_t h = 1469598103934665603ULL;
          for (uint32_t q = 0; q < tab[j].len; q++) h = (h ^ tab[j].p[q]) * 1099511628211ULL;
          size_t s = mix64(h) & (nc - 1);
          while (nt[s].p) s = (s + 1) & (nc - 1);
          nt[s] = tab[j];
        }
      free(tab);
      tab = nt;
      wcap = nc;
    }
    uint64_t h = 1469598103934665603ULL;
    for (size_t q = 0; q < k; q++) h = (h ^ text[i + q]) * 1099511628211ULL;
    size_t s = mix64(h) & (wcap - 1);
    while (tab[s].p && !(tab[s].len == k && !memcmp(tab[s].p, text + i, k))) s = (s + 1) & (wcap - 1);
    if (!tab[s].p) {
      tab[s].p = text + i;
      tab[s].len = (uint32_t)k;
      nw++;
    }
    tab[s].count++;
    i += k;
  }
  word *words = ag_xmalloc((nw + 1) * sizeof(word));
  size_t o = 0, nsym = 0;
  for (size_t j = 0; j < wcap; j++)
    if (tab[j].p) {
      words[o++] = tab[j];
      nsym += tab[j].len;
    }
  free(tab);
  qsort(words, nw, sizeof(word), word_cmp);
  /* 2. symbols */
  uint32_t *sym = ag_xmalloc((nsym + 1) * sizeof(uint32_t));
  size_t *woff = ag_xmalloc((nw + 1) * sizeof(size_t));
  uint32_t *wlen = ag_xmalloc((nw + 1) * sizeof(uint32_t));
  pair_map pm = {0};
  o = 0;
  for (size_t i = 0; i < nw; i++) {
    woff[i] = o;
    wlen[i] = words[i].len;
    for (uint32_t q = 0; q < words[i].len; q++) sym[o++] = words[i].p[q];
    count_pairs(&pm, sym + woff[i], wlen[i], (int64_t)words[i].count);
  }
  size_t want = (size_t)vocab_size - AG_TOK_BASE, nm = 0;
  uint32_t *pairs = ag_xmalloc((2 * want + 2) * sizeof(uint32_t));
  while (nm < want) {
    int64_t best = 1;
    uint64_t bk = 0;
    for (size_t i = 0; i < pm.cap; i++)
      if (pm.keys[i] && (pm.cnt[i] > best || (pm.cnt[i] == best && best > 1 && pm.keys[i] - 1 < bk))) {
        best = pm.cnt[i];
        bk = pm.keys[i] - 1;
      }
    if (best < 2) break;
    uint32_t a = (uint32_t)(bk >> 32), b = (uint32_t)bk, id = AG_TOK_BASE + (uint32_t)nm;
    pairs[2 * nm] = a;
    pairs[2 * nm + 1] = b;
    nm++;
    for (size_t i = 0; i < nw; i++) {
      uint32_t *w = sym + woff[i], l = wlen[i];
      int has = 0;
      for (uint32_t q = 0; q + 1 < l; q++)
        if (w[q] == a && w[q + 1] == b) {
          has = 1;
          break;
        }
      if (!has) continue;
      count_pairs(&pm, w, l, -(int64_t)words[i].count);
      uint32_t n2 = 0;
      for (uint32_t q = 0; q < l; q++) {
        if (q + 1 < l && w[q] == a && w[q + 1] == b) {
          w[n2++] = id;
          q++;
        } else w[n2++] = w[q];
      }
      wlen[i] = n2;
      count_pairs(&pm, w, n2, (int64_t)words[i].count);
    }
  }
  *pairs_out = pairs;
  *nm_out = nm;
  free(pm.keys);
  free(pm.cnt);
  free(sym);
  free(woff);
  free(wlen);
  free(words);
}

int ag_tok_train(const uint8_t *text, size_t len, int vocab_size, ag_tokenizer **out) {
  return ag_tok_train_pre(text, len, vocab_size, NULL, out);
}

int ag_tok_train_pre(const uint8_t *text, size_t len, int vocab_size, const char *pre, ag_tokenizer **out) {
  *out = NULL;
  if (vocab_size < AG_TOK_BASE || vocab_size > AG_TOK_MAX_VOCAB)
    return ag_fail(AG_E_INVALID, "vocabulary size must be in %d..%d", AG_TOK_BASE, AG_TOK_MAX_VOCAB);
  int id = -1;
  if (pre && (id = ag_pretok_find(pre)) < 0)
    return ag_fail(AG_E_UNSUPPORTED, "pre-tokenizer '%s' is not supported", pre);
  uint32_t *pairs = NULL;
  size_t nm = 0;
  if (id < 0) train(text, len, NULL, 0, vocab_size, &pairs, &nm);
  else {
    /* the words llama.cpp will see: text decoded (invalid bytes as U+FFFD), split, re-encoded */
    uint32_t *cps = ag_xmalloc((len + 1) * sizeof(uint32_t));
    size_t ncp = 0;
    for (size_t o = 0; o < len;) o += ag_utf8_next(text + o, len - o, &cps[ncp++]);
    size_t *ends = NULL, nends = 0, cap = 0;
    ag_pretok_split(id, cps, ncp, &ends, &nends, &cap);
    uint8_t *canon = ag_xmalloc(4 * ncp + 1);
    size_t *at = ag_xmalloc((ncp + 1) * sizeof(size_t)), clen = 0; /* byte offset of each code point */
    for (size_t i = 0; i < ncp; i++) {
      at[i] = clen;
      clen += ag_utf8_put(cps[i], canon + clen);
    }
    at[ncp] = clen;
    for (size_t j = 0; j < nends; j++) ends[j] = at[ends[j]];
    train(canon, clen, ends, nends, vocab_size, &pairs, &nm);
    free(cps);
    free(ends);
    free(canon);
    free(at);
  }
  int rc = ag_tok_from_merges_pre(pairs, nm, pre, out);
  free(pairs);
  return rc;
}
