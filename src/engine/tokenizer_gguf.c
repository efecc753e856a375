/*
 * tokenizer_gguf.c — GGUF vocabularies (gpt2 byte-level BPE, llama SentencePiece) encoded as
 * llama.cpp 0.3.36 encodes them; see tokenizer.h for the rules and pretok.h for the
 * pre-tokenizers. Written from a reading of llama-vocab.cpp and unicode.cpp, not copied.
 *
 * Strings are interned once (token strings first, then the halves and results of merges), so
 * BPE works on small integers: a merge is (left string, right string) -> (rank, result
 * string), and a symbol carries the string it spells. Both merge loops pop a binary heap of
 * candidate pairs ordered like llama.cpp's priority queues (best score / lowest rank, then
 * leftmost) and skip stale candidates by their sizes, which is what llama.cpp's checks amount
 * to. Does not: cache encodings, or implement WPM/UGM/RWKV vocabularies.
 */
#include "engine/tokenizer_gguf.h"

#include "core/err.h"
#include "core/util.h"
#include "engine/pretok.h"
#include "engine/unicode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS (1u << 24)
#define MAX_MERGES (1u << 24)
#define MAX_TOKEN_LEN (1u << 16)
#define NONE UINT32_MAX

/* llama.cpp's token attributes (llama_token_attr), plus our end-of-generation mark */
enum {
  A_UNKNOWN = 1 << 0,
  A_UNUSED = 1 << 1,
  A_NORMAL = 1 << 2,
  A_CONTROL = 1 << 3,
  A_USER = 1 << 4,
  A_BYTE = 1 << 5,
  A_EOG = 1 << 8,
};

/* ---------- interned strings ---------- */

typedef struct {
  uint8_t *blob;
  size_t len, cap;
  uint64_t *off; /* (n + 1) */
  size_t n, ncap;
  uint32_t *slot; /* open addressing: entry + 1, 0 = empty */
  size_t scap;
} strtab;

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
  uint64_t h = 1469598103934665603ULL ^ n;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

static const uint8_t *st_str(const strtab *t, uint32_t e, size_t *len) {
  *len = (size_t)(t->off[e + 1] - t->off[e]);
  return t->blob + t->off[e];
}

static uint32_t st_find(const strtab *t, const uint8_t *p, size_t n) {
  if (!t->scap) return NONE;
  size_t i = hash_bytes(p, n) & (t->scap - 1);
  for (; t->slot[i]; i = (i + 1) & (t->scap - 1)) {
    uint32_t e = t->slot[i] - 1;
    size_t l;
    const uint8_t *q = st_str(t, e, &l);
    if (l == n && !memcmp(p, q, n)) return e;
  }
  return NONE;
}

static void st_place(strtab *t, uint32_t e) {
  size_t l;
  const uint8_t *q = st_str(t, e, &l);
  size_t i = hash_bytes(q, l) & (t->scap - 1);
  while (t->slot[i]) i = (i + 1) & (t->scap - 1);
  t->slot[i] = e + 1;
}

static uint32_t st_intern(strtab *t, const uint8_t *p, size_t n) {
  uint32_t e = st_find(t, p, n);
  if (e != NONE) return e;
  if (2 * (t->n + 1) > t->scap) {
    free(t->slot);
    t->scap = t->scap ? t->scap * 2 : 1024;
    t->slot = ag_xcalloc(t->scap, sizeof(uint32_t));
    for (uint32_t i = 0; i < t->n; i++) st_place(t, i);
  }
  if (t->len + n > t->cap) {
    t->cap = AG_MAX(t->cap * 2, t->len + n + 4096);
    t->blob = ag_xrealloc(t->blob, t->cap);
  }
  if (t->n + 2 > t->ncap) {
    t->ncap = AG_MAX(t->ncap * 2, 1024);
    t->off = ag_xrealloc(t->off, t->ncap * sizeof(uint64_t));
  }
  if (n) memcpy(t->blob + t->len, p, n);
  e = (uint32_t)t->n;
  t->off[e] = t->len;
  t->len += n;
  t->off[e + 1] = t->len;
  t->n++;
  st_place(t, e);
  return e;
}

static void st_free(strtab *t) {
  free(t->blob);
  free(t->off);
  free(t->slot);
}

/* ---------- the vocabulary ---------- */

typedef struct {
  const uint8_t *p; /* into the string table */
  uint32_t len, id;
} special;

struct ag_tokg {
  int refs;
  int kind, pre, ignore_merges;
  size_t n;
  strtab st;        /* token strings are entries tok_str[id] */
  uint32_t *tstr;   /* (n) string entry of each token */
  int32_t *stok;    /* (st.n) token spelled by each string (the last such id), -1 */
  float *score;     /* (n) */
  uint16_t *attr;   /* (n) A_* */
  uint8_t *piece;   /* pieces (special = false), poff (n + 1) */
  uint64_t *poff;
  /* merges: (left << 32 | right) + 1 -> rank, result string; open addressing */
  uint64_t *mkey;
  uint32_t *mrank, *mres;
  size_t mcap;
  int32_t byte_tok[256]; /* token for a byte when nothing else fits (spm <0xXX>, gpt2 the byte) */
  int32_t bos, eos, eot, unk, pad;
  int add_bos, add_eos, add_space_prefix;
  special *sp; /* control, user-defined and unknown tokens sorted by string */
  size_t nsp;
  uint32_t first[257]; /* sp[first[b]..first[b + 1]) start with byte b */
};

static int32_t tok_of(const ag_tokg *g, const uint8_t *p, size_t n) {
  uint32_t e = st_find(&g->st, p, n);
  return e == NONE ? -1 : g->stok[e];
}

static const uint8_t *tok_str(const ag_tokg *g, uint32_t id, size_t *len) { return st_str(&g->st, g->tstr[id], len); }

/* The id llama.cpp's text-to-id map keeps for a name (the last token spelled so), -1. */
static int32_t find_name(const ag_tokg *g, const char *name) {
  return tok_of(g, (const uint8_t *)name, strlen(name));
}

static int str_is(const ag_tokg *g, uint32_t id, const char *s) {
  size_t l;
  const uint8_t *p = tok_str(g, id, &l);
  return l == strlen(s) && !memcmp(p, s, l);
}

static int merge_find(const ag_tokg *g, uint32_t a, uint32_t b, uint32_t *rank, uint32_t *res) {
  if (!g->mcap) return 0;
  uint64_t key = ((uint64_t)a << 32 | b) + 1;
  size_t i = hash_bytes((const uint8_t *)&key, sizeof key) & (g->mcap - 1);
  for (; g->mkey[i]; i = (i + 1) & (g->mcap - 1))
    if (g->mkey[i] == key) {
      *rank = g->mrank[i];
      *res = g->mres[i];
      return 1;
    }
  return 0;
}

/* GPT-2's byte-to-unicode spelling: printable Latin-1 stays, the 68 other bytes move to
 * U+0100.. in byte order (0x00..0x20, 0x7f..0xa0, 0xad). */
static uint32_t byte_cp(uint8_t b) {
  if (b <= 0x20) return 256 + b;
  if (b >= 0x7f && b <= 0xa0) return 256 + 33 + (b - 0x7f);
  if (b == 0xad) return 256 + 67;
  return b;
}

/* The byte a code point of the GPT-2 spelling stands for, -1 when none. */
static int cp_byte(uint32_t cp) {
  if ((cp >= 0x21 && cp <= 0x7e) || (cp >= 0xa1 && cp <= 0xac) || (cp >= 0xae && cp <= 0xff)) return (int)cp;
  if (cp >= 256 && cp <= 256 + 32) return (int)cp - 256;
  if (cp >= 256 + 33 && cp <= 256 + 66) return 0x7f + (int)cp - (256 + 33);
  if (cp == 256 + 67) return 0xad;
  return -1;
}

static void put(uint8_t **buf, size_t *len, size_t *cap, const void *p, size_t n) {
  if (*len + n > *cap) {
    *cap = AG_MAX(*cap * 2, *len + n + 256);
    *buf = ag_xrealloc(*buf, *cap);
  }
  memcpy(*buf + *len, p, n);
  *len += n;
}

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 32) >= 'a' && (c | 32) <= 'f') return (c | 32) - 'a' + 10;
  return -1;
}

/* Appends the piece of token id (llama_token_to_piece with special = false). */
static void make_piece(const ag_tokg *g, uint32_t id, uint8_t **buf, size_t *len, size_t *cap) {
  unsigned a = g->attr[id];
  size_t l;
  const uint8_t *p = tok_str(g, id, &l);
  if (a & (A_UNKNOWN | A_CONTROL)) return;
  if (a & A_USER) {
    put(buf, len, cap, p, l);
    return;
  }
  if (a & A_NORMAL) {
    if (g->kind == AG_TOKK_SPM) {
      for (size_t i = 0; i < l; i++) {
        if (i + 2 < l && p[i] == 0xe2 && p[i + 1] == 0x96 && p[i + 2] == 0x81) {
          put(buf, len, cap, " ", 1);
          i += 2;
        } else put(buf, len, cap, p + i, 1);
      }
      return;
    }
    for (size_t i = 0; i < l;) {
      uint32_t cp;
      i += ag_utf8_next(p + i, l - i, &cp);
      int b = cp_byte(cp);
      if (b >= 0) {
        uint8_t c = (uint8_t)b;
        put(buf, len, cap, &c, 1);
      } else { /* llama.cpp's llama_decode_text marks what it cannot map, with the token */
        uint8_t u[4];
        char hex[3];
        size_t k = ag_utf8_put(cp, u);
        put(buf, len, cap, "[UNK_BYTE_0x", 12);
        for (size_t j = 0; j < k; j++) {
          snprintf(hex, sizeof hex, "%02x", u[j]);
          put(buf, len, cap, hex, 2);
        }
        put(buf, len, cap, p, l);
        put(buf, len, cap, "]", 1);
      }
    }
    return;
  }
  if (a & A_BYTE) { /* "<0xXX>": the two characters after "<0x" in hex, as strtol reads them */
    int v = 0;
    for (size_t i = 3; i < 5 && i < l && hexval(p[i]) >= 0; i++) v = v * 16 + hexval(p[i]);
    uint8_t c = (uint8_t)v;
    put(buf, len, cap, &c, 1);
  }
}

static int sp_cmp(const void *x, const void *y) {
  const special *a = x, *b = y;
  int c = memcmp(a->p, b->p, AG_MIN(a->len, b->len));
  if (c) return c;
  if (a->len != b->len) return a->len < b->len ? -1 : 1;
  return a->id < b->id ? -1 : a->id > b->id;
}

/* Token attributes from the file's types, then llama.cpp's promotions by token text. */
static void set_attrs(ag_tokg *g, const ag_tok_spec *s) {
  static const uint16_t from_type[7] = {0, A_NORMAL, A_UNKNOWN, A_CONTROL, A_USER, A_UNUSED, A_BYTE};
  for (size_t i = 0; i < g->n; i++) g->attr[i] = s->types ? from_type[s->types[i]] : A_NORMAL;
  /* FIM names become control (one per role), pad, repo and file-separator ones also end
   * generation. llama.cpp takes the first it meets in a hash order per role; we take the lowest
   * id. */
  static const char *const fim[6][9] = {
      {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
       "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL},
      {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>",
       "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL},
      {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
       "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL},
      {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL},
      {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL},
      {"<|file_sep|>", NULL},
  };
  for (int r = 0; r < 6; r++) {
    int32_t best = -1;
    for (int k = 0; fim[r][k]; k++) {
      int32_t t = find_name(g, fim[r][k]);
      if (t >= 0 && (best < 0 || t < best)) best = t;
    }
    if (best >= 0) g->attr[best] |= A_CONTROL | (r >= 3 ? A_EOG : 0);
  }
  /* the end-of-turn name llama.cpp would pick as eot when the file names none, and every
   * end-of-generation name, are control tokens that end generation */
  static const char *const eog[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
      "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
      "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
      "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>", "[e~[", NULL};
  for (int k = 0; eog[k]; k++) {
    int32_t t = find_name(g, eog[k]);
    if (t >= 0) g->attr[t] |= A_CONTROL | A_EOG;
  }
  /* gpt-oss: always rendered */
  static const char *const user[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL};
  for (int k = 0; user[k]; k++) {
    int32_t t = find_name(g, user[k]);
    if (t >= 0) g->attr[t] = A_USER;
  }
  if (g->eos >= 0) g->attr[g->eos] |= A_EOG;
  if (g->eot >= 0) g->attr[g->eot] |= A_EOG;
  /* o200k_harmony / solar-open: <|end|> is not an end there; gemma4 / plamo: </s> is text */
  int32_t end = -1, s_tok = -1;
  int ret = 0, call = 0, flush = 0, normal_s = 0;
  for (size_t i = 0; i < g->n; i++) {
    if (!(g->attr[i] & A_EOG)) continue;
    uint32_t id = (uint32_t)i;
    if (str_is(g, id, "<|return|>")) ret = 1;
    else if (str_is(g, id, "<|call|>") || str_is(g, id, "<|calls|>")) call = 1;
    else if (str_is(g, id, "<|flush|>")) flush = 1;
    else if (str_is(g, id, "<|end|>")) end = (int32_t)i;
    if (str_is(g, id, "<|tool_response>") || str_is(g, id, "<|plamo:eos|>")) normal_s = 1;
    else if (str_is(g, id, "</s>")) s_tok = (int32_t)i;
  }
  if (end >= 0 && ((ret && call) || (call && flush))) g->attr[end] = A_USER;
  if (s_tok >= 0 && normal_s) g->attr[s_tok] = A_NORMAL;
}

static int bad(ag_tokg *g, int code, const char *what, size_t i) {
  ag_tokg_unref(g);
  return ag_fail(code, "GGUF vocabulary: %s (at %zu)", what, i);
}

int ag_tokg_build(const ag_tok_spec *s, ag_tokg **out) {
  *out = NULL;
  if (s->kind != AG_TOKK_GPT2 && s->kind != AG_TOKK_SPM)
    return ag_fail(AG_E_UNSUPPORTED, "GGUF vocabulary: tokenizer kind %d is not gpt2 or llama", s->kind);
  int pre = AG_PRE_DEFAULT;
  if (s->kind == AG_TOKK_GPT2) {
    pre = ag_pretok_find(s->pre);
    if (pre < 0) return ag_fail(AG_E_UNSUPPORTED, "tokenizer.ggml.pre '%s' is not supported", s->pre);
  }
  if (!s->n_tokens || s->n_tokens > MAX_TOKENS || !s->tok || !s->tok_len)
    return ag_fail(AG_E_CORRUPT, "GGUF vocabulary: %zu tokens (1..%u)", s->n_tokens, MAX_TOKENS);
  if (s->n_merges > MAX_MERGES || (s->n_merges && (!s->merge || !s->merge_len)))
    return ag_fail(AG_E_CORRUPT, "GGUF vocabulary: %zu merges (max %u)", s->n_merges, MAX_MERGES);
  const int32_t sid[5] = {s->bos, s->eos, s->eot, s->unk, s->pad};
  for (int k = 0; k < 5; k++)
    if (sid[k] < -1 || (sid[k] >= 0 && (size_t)sid[k] >= s->n_tokens))
      return ag_fail(AG_E_CORRUPT, "GGUF vocabulary: special token id %d is outside the %zu tokens", sid[k],
                     s->n_tokens);
  if (s->add_bos < -1 || s->add_bos > 1 || s->add_eos < -1 || s->add_eos > 1 || s->add_space_prefix < -1 ||
      s->add_space_prefix > 1)
    return ag_fail(AG_E_CORRUPT, "GGUF vocabulary: add_bos/add_eos/add_space_prefix must be -1, 0 or 1");

  ag_tokg *g = ag_xcalloc(1, sizeof *g);
  g->refs = 1;
  g->kind = s->kind;
  g->pre = pre;
  g->ignore_merges = s->kind == AG_TOKK_GPT2 && ag_pretok_ignore_merges(pre);
  g->n = s->n_tokens;
  g->tstr = ag_xmalloc(g->n * sizeof(uint32_t));
  g->score = ag_xmalloc(g->n * sizeof(float));
  g->attr = ag_xmalloc(g->n * sizeof(uint16_t));
  for (size_t i = 0; i < g->n; i++) {
    size_t l = s->tok_len[i];
    if (l > MAX_TOKEN_LEN || (l && !s->tok[i])) return bad(g, AG_E_CORRUPT, "token string too long", i);
    if (s->types && (s->types[i] < 0 || s->types[i] > AG_TOKT_BYTE))
      return bad(g, AG_E_CORRUPT, "token type outside 0..6", i);
    float sc = s->scores ? s->scores[i] : 0.0f;
    if (isnan(sc)) return bad(g, AG_E_CORRUPT, "token score is NaN", i);
    g->score[i] = sc;
    if (l) g->tstr[i] = st_intern(&g->st, s->tok[i], l);
    else { /* llama.cpp renames empty tokens */
      char name[40];
      int k = snprintf(name, sizeof name, "[EMPTY_%zu]", i);
      g->tstr[i] = st_intern(&g->st, (const uint8_t *)name, (size_t)k);
    }
  }
  /* merges: split "left right" at the first space after the first byte; the first of equal
   * pairs keeps its rank */
  if (s->kind == AG_TOKK_GPT2 && s->n_merges) {
    size_t cap = 16;
    while (cap < 2 * s->n_merges) cap <<= 1;
    g->mcap = cap;
    g->mkey = ag_xcalloc(cap, sizeof(uint64_t));
    g->mrank = ag_xmalloc(cap * sizeof(uint32_t));
    g->mres = ag_xmalloc(cap * sizeof(uint32_t));
    uint8_t *cat = NULL;
    size_t catcap = 0;
    for (size_t i = 0; i < s->n_merges; i++) {
      const uint8_t *m = s->merge[i];
      size_t l = s->merge_len[i], sp = 1;
      if (l > 2 * MAX_TOKEN_LEN || (l && !m)) {
        free(cat);
        return bad(g, AG_E_CORRUPT, "merge string too long", i);
      }
      while (sp < l && m[sp] != ' ') sp++;
      if (sp >= l) continue; /* no space: llama.cpp keeps an empty pair that never matches */
      uint32_t a = st_intern(&g->st, m, sp), b = st_intern(&g->st, m + sp + 1, l - sp - 1);
      if (l - 1 > catcap) {
        catcap = l;
        cat = ag_xrealloc(cat, catcap);
      }
      memcpy(cat, m, sp);
      memcpy(cat + sp, m + sp + 1, l - sp - 1);
      uint32_t r = st_intern(&g->st, cat, l - 1), rank, res;
      if (merge_find(g, a, b, &rank, &res)) continue;
      uint64_t key = ((uint64_t)a << 32 | b) + 1;
      size_t k = hash_bytes((const uint8_t *)&key, sizeof key) & (cap - 1);
      while (g->mkey[k]) k = (k + 1) & (cap - 1);
      g->mkey[k] = key;
      g->mrank[k] = (uint32_t)i;
      g->mres[k] = r;
    }
    free(cat);
  }
  g->stok = ag_xmalloc(g->st.n * sizeof(int32_t));
  for (size_t e = 0; e < g->st.n; e++) g->stok[e] = -1;
  for (size_t i = 0; i < g->n; i++) g->stok[g->tstr[i]] = (int32_t)i;
  /* special ids: the file's, else llama.cpp's defaults for the kind when they exist */
  int spm = s->kind == AG_TOKK_SPM;
  int32_t dflt_bos = spm ? 1 : 11, dflt_eos = spm ? 2 : 11, dflt_unk = spm ? 0 : -1;
  g->bos = s->bos >= 0 ? s->bos : (size_t)dflt_bos < g->n ? dflt_bos : -1;
  g->eos = s->eos >= 0 ? s->eos : (size_t)dflt_eos < g->n ? dflt_eos : -1;
  g->unk = s->unk >= 0 ? s->unk : dflt_unk >= 0 && (size_t)dflt_unk < g->n ? dflt_unk : -1;
  g->eot = s->eot;
  g->pad = s->pad;
  g->add_bos = s->add_bos >= 0 ? s->add_bos : spm || ag_pretok_add_bos_default(pre);
  g->add_eos = s->add_eos >= 0 ? s->add_eos : 0;
  g->add_space_prefix = s->add_space_prefix >= 0 ? s->add_space_prefix : spm;
  set_attrs(g, s);
  /* byte fallback */
  for (int b = 0; b < 256; b++) {
    uint8_t c = (uint8_t)b;
    int32_t t = -1;
    if (spm) {
      char hx[8];
      snprintf(hx, sizeof hx, "<0x%02X>", b);
      t = tok_of(g, (const uint8_t *)hx, 6);
    }
    g->byte_tok[b] = t >= 0 ? t : tok_of(g, &c, 1);
  }
  /* special tokens, sorted by string for matching */
  for (size_t i = 0; i < g->n; i++) g->nsp += (g->attr[i] & (A_CONTROL | A_USER | A_UNKNOWN)) != 0;
  g->sp = ag_xmalloc((g->nsp + 1) * sizeof(special));
  size_t k = 0;
  for (size_t i = 0; i < g->n; i++)
    if (g->attr[i] & (A_CONTROL | A_USER | A_UNKNOWN)) {
      size_t l;
      g->sp[k].p = tok_str(g, (uint32_t)i, &l);
      g->sp[k].len = (uint32_t)l;
      g->sp[k++].id = (uint32_t)i;
    }
  qsort(g->sp, g->nsp, sizeof(special), sp_cmp);
  for (int b = 0, j = 0; b <= 256; b++) {
    while ((size_t)j < g->nsp && g->sp[j].p[0] < b) j++;
    g->first[b] = (uint32_t)j;
  }
  /* pieces */
  g->poff = ag_xmalloc((g->n + 1) * sizeof(uint64_t));
  size_t plen = 0, pcap = 0;
  for (size_t i = 0; i < g->n; i++) {
    g->poff[i] = plen;
    make_piece(g, (uint32_t)i, &g->piece, &plen, &pcap);
  }
  g->poff[g->n] = plen;
  *out = g;
  return 0;
}

ag_tokg *ag_tokg_ref(ag_tokg *g) {
  __atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
  return g;
}

void ag_tokg_unref(ag_tokg *g) {
  if (!g || __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL)) return;
  st_free(&g->st);
  free(g->tstr);
  free(g->stok);
  free(g->score);
  free(g->attr);
  free(g->piece);
  free(g->poff);
  free(g->mkey);
  free(g->mrank);
  free(g->mres);
  free(g->sp);
  free(g);
}

int ag_tokg_kind(const ag_tokg *g) { return g->kind; }
int ag_tokg_pre(const ag_tokg *g) { return g->pre; }

void ag_tokg_spell(ag_buf *out, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint8_t u[4];
    ag_buf_put(out, u, ag_utf8_put(byte_cp(p[i]), u));
  }
}
size_t ag_tokg_n(const ag_tokg *g) { return g->n; }
int32_t ag_tokg_bos(const ag_tokg *g) { return g->bos; }
int32_t ag_tokg_eos(const ag_tokg *g) { return g->eos; }
int ag_tokg_is_eog(const ag_tokg *g, uint32_t id) { return id < g->n && (g->attr[id] & A_EOG); }
int32_t ag_tokg_find(const ag_tokg *g, const uint8_t *s, size_t n) { return tok_of(g, s, n); }

const uint8_t *ag_tokg_piece(const ag_tokg *g, uint32_t id, size_t *len) {
  if (id >= g->n) {
    *len = 0;
    return NULL;
  }
  *len = (size_t)(g->poff[id + 1] - g->poff[id]);
  return g->piece ? g->piece + g->poff[id] : (const uint8_t *)"";
}

const uint8_t *ag_tokg_text(const ag_tokg *g, uint32_t id, size_t *len) {
  if (id >= g->n) {
    *len = 0;
    return NULL;
  }
  return tok_str(g, id, len);
}

/* ---------- encoding ---------- */

typedef struct {
  size_t start;     /* byte offset in the text being merged */
  uint32_t n;       /* bytes; 0 once merged into its left neighbour */
  uint32_t str;     /* interned string it spells (BPE), NONE when none */
  int32_t prev, next;
} symbol;

typedef struct {
  double pri; /* higher first: spm score, -rank for BPE */
  int32_t left, right;
  uint32_t ln, rn; /* sizes when queued: stale once either changed */
  uint32_t res;    /* BPE: the merged string */
} cand;

typedef struct {
  symbol *sym;
  size_t nsym, capsym;
  cand *heap;
  size_t nheap, capheap;
  uint8_t *buf; /* the text being merged */
  size_t nbuf, capbuf;
  uint32_t *cps;
  size_t capcps;
  size_t *ends;
  size_t nends, capends;
} scratch;

static int before(const cand *a, const cand *b) { return a->pri > b->pri || (a->pri == b->pri && a->left < b->left); }

static void heap_push(scratch *w, cand c) {
  if (w->nheap == w->capheap) {
    w->capheap = AG_MAX(w->capheap * 2, 64);
    w->heap = ag_xrealloc(w->heap, w->capheap * sizeof(cand));
  }
  size_t i = w->nheap++;
  while (i && before(&c, &w->heap[(i - 1) / 2])) {
    w->heap[i] = w->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  w->heap[i] = c;
}

static cand heap_pop(scratch *w) {
  cand top = w->heap[0], last = w->heap[--w->nheap];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= w->nheap) break;
    if (c + 1 < w->nheap && before(&w->heap[c + 1], &w->heap[c])) c++;
    if (!before(&w->heap[c], &last)) break;
    w->heap[i] = w->heap[c];
    i = c;
  }
  if (w->nheap) w->heap[i] = last;
  return top;
}

static void out_push(uint32_t **ids, size_t *nids, size_t *cap, uint32_t id) {
  if (*nids == *cap) {
    *cap = AG_MAX(*cap * 2, 1024);
    *ids = ag_xrealloc(*ids, *cap * sizeof(uint32_t));
  }
  (*ids)[(*nids)++] = id;
}

/* Cuts w->buf into characters as llama.cpp does (lead byte decides, no validation). */
static void split_chars(scratch *w, int bpe, const ag_tokg *g) {
  w->nsym = 0;
  for (size_t o = 0; o < w->nbuf;) {
    size_t l = AG_MIN(ag_utf8_len(w->buf[o]), w->nbuf - o);
    if (w->nsym == w->capsym) {
      w->capsym = AG_MAX(w->capsym * 2, 64);
      w->sym = ag_xrealloc(w->sym, w->capsym * sizeof(symbol));
    }
    symbol *s = &w->sym[w->nsym];
    s->start = o;
    s->n = (uint32_t)l;
    s->str = bpe ? st_find(&g->st, w->buf + o, l) : NONE;
    s->prev = (int32_t)w->nsym - 1;
    o += l;
    s->next = o == w->nbuf ? -1 : (int32_t)w->nsym + 1;
    w->nsym++;
  }
}

static void try_spm(const ag_tokg *g, scratch *w, int32_t l, int32_t r) {
  if (l < 0 || r < 0) return;
  symbol *a = &w->sym[l], *b = &w->sym[r];
  int32_t t = tok_of(g, w->buf + a->start, (size_t)a->n + b->n);
  if (t < 0) return;
  heap_push(w, (cand){g->score[t], l, r, a->n, b->n, NONE});
}

/* SentencePiece on w->buf (already escaped): best-scoring pair first, then byte fallback. */
static int spm_merge(const ag_tokg *g, scratch *w, uint32_t **ids, size_t *nids, size_t *cap) {
  split_chars(w, 0, g);
  w->nheap = 0;
  for (size_t i = 1; i < w->nsym; i++) try_spm(g, w, (int32_t)i - 1, (int32_t)i);
  while (w->nheap) {
    cand c = heap_pop(w);
    symbol *a = &w->sym[c.left], *b = &w->sym[c.right];
    if (!a->n || !b->n || a->n != c.ln || b->n != c.rn) continue;
    a->n += b->n;
    b->n = 0;
    a->next = b->next;
    if (b->next >= 0) w->sym[b->next].prev = c.left;
    try_spm(g, w, a->prev, c.left);
    try_spm(g, w, c.left, a->next);
  }
  for (int32_t i = w->nsym ? 0 : -1; i >= 0; i = w->sym[i].next) {
    symbol *s = &w->sym[i];
    int32_t t = tok_of(g, w->buf + s->start, s->n);
    if (t >= 0) {
      out_push(ids, nids, cap, (uint32_t)t);
      continue;
    }
    for (uint32_t j = 0; j < s->n; j++) {
      uint8_t b = w->buf[s->start + j];
      if (g->byte_tok[b] < 0)
        return ag_fail(AG_E_UNSUPPORTED, "the vocabulary has no token for byte 0x%02X", b);
      out_push(ids, nids, cap, (uint32_t)g->byte_tok[b]);
    }
  }
  return 0;
}

static void try_bpe(const ag_tokg *g, scratch *w, int32_t l, int32_t r) {
  if (l < 0 || r < 0) return;
  symbol *a = &w->sym[l], *b = &w->sym[r];
  uint32_t rank, res;
  if (a->str == NONE || b->str == NONE || !merge_find(g, a->str, b->str, &rank, &res)) return;
  heap_push(w, (cand){-(double)rank, l, r, a->n, b->n, res});
}

/* Byte-level BPE on one word in w->buf (GPT-2 spelling): lowest rank first. */
static void bpe_word(const ag_tokg *g, scratch *w, uint32_t **ids, size_t *nids, size_t *cap) {
  if (g->ignore_merges) {
    int32_t t = tok_of(g, w->buf, w->nbuf);
    if (t >= 0) {
      out_push(ids, nids, cap, (uint32_t)t);
      return;
    }
  }
  split_chars(w, 1, g);
  w->nheap = 0;
  for (size_t i = 1; i < w->nsym; i++) try_bpe(g, w, (int32_t)i - 1, (int32_t)i);
  while (w->nheap) {
    cand c = heap_pop(w);
    symbol *a = &w->sym[c.left], *b = &w->sym[c.right];
    if (!a->n || !b->n || a->n != c.ln || b->n != c.rn) continue;
    a->n += b->n;
    a->str = c.res;
    b->n = 0;
    a->next = b->next;
    if (b->next >= 0) w->sym[b->next].prev = c.left;
    try_bpe(g, w, a->prev, c.left);
    try_bpe(g, w, c.left, a->next);
  }
  for (size_t i = 0; i < w->nsym; i++) {
    symbol *s = &w->sym[i];
    if (!s->n) continue;
    int32_t t = s->str == NONE ? -1 : g->stok[s->str];
    if (t >= 0) {
      out_push(ids, nids, cap, (uint32_t)t);
      continue;
    }
    for (uint32_t j = 0; j < s->n; j++) { /* llama.cpp drops bytes that are no token */
      int32_t bt = g->byte_tok[w->buf[s->start + j]];
      if (bt >= 0) out_push(ids, nids, cap, (uint32_t)bt);
    }
  }
}

static void buf_put(scratch *w, const void *p, size_t n) {
  if (w->nbuf + n > w->capbuf) {
    w->capbuf = AG_MAX(w->capbuf * 2, w->nbuf + n + 256);
    w->buf = ag_xrealloc(w->buf, w->capbuf);
  }
  memcpy(w->buf + w->nbuf, p, n);
  w->nbuf += n;
}

static void gpt2_piece(const ag_tokg *g, scratch *w, const uint8_t *s, size_t n, uint32_t **ids, size_t *nids,
                       size_t *cap) {
  if (n > w->capcps) {
    w->capcps = AG_MAX(n, w->capcps * 2);
    w->cps = ag_xrealloc(w->cps, w->capcps * sizeof(uint32_t));
  }
  size_t ncp = 0;
  for (size_t o = 0; o < n;) o += ag_utf8_next(s + o, n - o, &w->cps[ncp++]);
  w->nends = 0;
  ag_pretok_split(g->pre, w->cps, ncp, &w->ends, &w->nends, &w->capends);
  size_t lo = 0;
  for (size_t k = 0; k < w->nends; k++) {
    w->nbuf = 0;
    for (size_t i = lo; i < w->ends[k]; i++) {
      uint8_t u[4], e[4];
      size_t m = ag_utf8_put(w->cps[i], u);
      for (size_t j = 0; j < m; j++) buf_put(w, e, ag_utf8_put(byte_cp(u[j]), e));
    }
    lo = w->ends[k];
    bpe_word(g, w, ids, nids, cap);
  }
}

typedef struct {
  size_t off, len;
  int32_t tok; /* -1: text still to tokenize */
} frag;

typedef struct {
  frag *f;
  size_t n, cap;
} frags;

static void frag_push(frags *v, size_t off, size_t len, int32_t tok) {
  if (tok < 0 && !len) return;
  if (v->n == v->cap) {
    v->cap = AG_MAX(v->cap * 2, 16);
    v->f = ag_xrealloc(v->f, v->cap * sizeof(frag));
  }
  v->f[v->n++] = (frag){off, len, tok};
}

static int cand_cmp(const void *x, const void *y) {
  const special *a = *(const special *const *)x, *b = *(const special *const *)y;
  if (a->len != b->len) return a->len > b->len ? -1 : 1;
  return a->id < b->id ? -1 : a->id > b->id;
}

static int eligible(const ag_tokg *g, uint32_t id, int parse) {
  unsigned a = g->attr[id];
  return parse || !(a & (A_CONTROL | A_UNKNOWN));
}

/* Whether [p, p + len) overlaps one of the ranges. */
static int overlaps(const ag_tok_range *r, size_t nr, size_t p, size_t len) {
  for (size_t i = 0; i < nr; i++)
    if (p < r[i].off + r[i].len && r[i].off < p + len) return 1;
  return 0;
}

size_t ag_tokg_control_at(const ag_tokg *g, const uint8_t *s, size_t n) {
  if (!g->nsp || !n) return 0;
  size_t lo = g->first[s[0]], hi = g->first[s[0] + 1], best = 0;
  /* as partition walks the sorted strings: [lo, hi) share the first k bytes with s */
  for (size_t k = 1; lo < hi; k++) {
    for (; lo < hi && g->sp[lo].len == k; lo++)
      if (!eligible(g, g->sp[lo].id, 0)) best = k;
    if (k >= n) break;
    uint8_t c = s[k];
    size_t a = lo, b = hi;
    while (a < b) {
      size_t m = a + (b - a) / 2;
      if (g->sp[m].p[k] < c) a = m + 1;
      else b = m;
    }
    lo = a;
    b = hi;
    while (a < b) {
      size_t m = a + (b - a) / 2;
      if (g->sp[m].p[k] <= c) a = m + 1;
      else b = m;
    }
    hi = a;
  }
  return best;
}

/* Cuts special tokens out of s, longest first, leftmost first within each piece of text that is
 * left (llama.cpp's tokenizer_st_partition); a control token whose text overlaps a literal
 * range stays text. */
static void partition(const ag_tokg *g, const uint8_t *s, size_t n, int parse, const ag_tok_range *lit,
                      size_t nlit, frags *out) {
  out->n = 0;
  frag_push(out, 0, n, -1);
  if (!g->nsp || !n) return;
  /* which special tokens occur at all: walk the sorted strings as a trie from every byte */
  uint8_t *seen = ag_xcalloc(g->nsp, 1);
  const special **cands = NULL;
  size_t nc = 0;
  for (size_t p = 0; p < n; p++) {
    size_t lo = g->first[s[p]], hi = g->first[s[p] + 1];
    for (size_t k = 1; lo < hi; k++) {
      for (; lo < hi && g->sp[lo].len == k; lo++)
        if (!seen[lo] && eligible(g, g->sp[lo].id, parse)) {
          seen[lo] = 1;
          cands = ag_xrealloc(cands, (nc + 1) * sizeof *cands);
          cands[nc++] = &g->sp[lo];
        }
      if (p + k >= n) break;
      uint8_t c = s[p + k];
      size_t a = lo, b = hi; /* first with byte k >= c */
      while (a < b) {
        size_t m = a + (b - a) / 2;
        if (g->sp[m].p[k] < c) a = m + 1;
        else b = m;
      }
      lo = a;
      b = hi; /* first with byte k > c */
      while (a < b) {
        size_t m = a + (b - a) / 2;
        if (g->sp[m].p[k] <= c) a = m + 1;
        else b = m;
      }
      hi = a;
    }
  }
  free(seen);
  if (!nc) return;
  qsort(cands, nc, sizeof *cands, cand_cmp);
  frags next = {0};
  for (size_t c = 0; c < nc; c++) {
    const special *t = cands[c];
    next.n = 0;
    for (size_t i = 0; i < out->n; i++) {
      frag f = out->f[i];
      if (f.tok >= 0 || f.len < t->len) {
        frag_push(&next, f.off, f.len, f.tok);
        continue;
      }
      size_t cur = f.off, end = f.off + f.len;
      for (size_t p = cur; p + t->len <= end;) {
        const uint8_t *q = memchr(s + p, t->p[0], end - t->len + 1 - p);
        if (!q) break;
        p = (size_t)(q - s);
        if (memcmp(q, t->p, t->len) || (nlit && !eligible(g, t->id, 0) && overlaps(lit, nlit, p, t->len))) {
          p++;
          continue;
        }
        frag_push(&next, cur, p - cur, -1);
        frag_push(&next, p, t->len, (int32_t)t->id);
        p += t->len;
        cur = p;
      }
      frag_push(&next, cur, end - cur, -1);
    }
    frags tmp = *out;
    *out = next;
    next = tmp;
  }
  free(next.f);
  free(cands);
}

int ag_tokg_encode(const ag_tokg *g, const uint8_t *s, size_t n, int flags, const ag_tok_range *lit, size_t nlit,
                   uint32_t **ids, size_t *nids, size_t *cap) {
  int add = (flags & AG_TOK_ADD_SPECIAL) != 0, rc = 0;
  if (add && g->add_bos) {
    if (g->bos < 0) return ag_fail(AG_E_UNSUPPORTED, "the vocabulary adds a BOS token but has none");
    out_push(ids, nids, cap, (uint32_t)g->bos);
  }
  frags fr = {0};
  partition(g, s, n, (flags & AG_TOK_PARSE_SPECIAL) != 0, lit, nlit, &fr);
  scratch w = {0};
  int prev_special = 1; /* spm: the text's start counts as after a special token */
  for (size_t i = 0; i < fr.n && !rc; i++) {
    frag f = fr.f[i];
    if (f.tok >= 0) {
      out_push(ids, nids, cap, (uint32_t)f.tok);
      prev_special = 1;
      continue;
    }
    if (g->kind == AG_TOKK_GPT2) {
      gpt2_piece(g, &w, s + f.off, f.len, ids, nids, cap);
      continue;
    }
    w.nbuf = 0;
    if (g->add_space_prefix && prev_special) buf_put(&w, "\xe2\x96\x81", 3);
    for (size_t j = 0; j < f.len; j++) {
      if (s[f.off + j] == ' ') buf_put(&w, "\xe2\x96\x81", 3);
      else buf_put(&w, s + f.off + j, 1);
    }
    rc = spm_merge(g, &w, ids, nids, cap);
    prev_special = 0;
  }
  if (!rc && add && g->add_eos) {
    if (g->eos < 0) rc = ag_fail(AG_E_UNSUPPORTED, "the vocabulary adds an EOS token but has none");
    else out_push(ids, nids, cap, (uint32_t)g->eos);
  }
  free(fr.f);
  free(w.sym);
  free(w.heap);
  free(w.buf);
  free(w.cps);
  free(w.ends);
  return rc;
}
