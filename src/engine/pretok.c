/*
 * pretok.c — the pre-tokenizers of pretok.h as passes over code points. A pass cuts each
 * piece [lo, hi) of the previous pass; positions outside the piece read as "nothing" (class
 * 0, code point NONE), which is how llama.cpp bounds its matchers.
 */
#include "engine/pretok.h"

#include "core/util.h"
#include "engine/unicode.h"

#include <stdlib.h>
#include <string.h>

#define NONE 0xffffffffu

typedef struct {
  const uint32_t *cp;
  const unsigned *cls;
  size_t lo, hi;
  size_t prev; /* end of the last word emitted */
  size_t **ends;
  size_t *n, *cap;
} piece;

static inline uint32_t cp_at(const piece *p, size_t i) { return i >= p->lo && i < p->hi ? p->cp[i] : NONE; }
static inline unsigned cls_at(const piece *p, size_t i) { return i >= p->lo && i < p->hi ? p->cls[i] : 0; }

static void push(size_t **ends, size_t *n, size_t *cap, size_t e) {
  if (*n == *cap) {
    *cap = AG_MAX(*cap * 2, 64);
    *ends = ag_xrealloc(*ends, *cap * sizeof(size_t));
  }
  (*ends)[(*n)++] = e;
}

/* Ends the current word at e (nothing when it would be empty). */
static void emit(piece *p, size_t e) {
  if (e > p->prev) push(p->ends, p->n, p->cap, e);
  p->prev = e;
}

static inline uint32_t lower_ascii(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's 't 'm 'd 're 've 'll at pos (a quote there); returns the length, 0 when none. */
static size_t contraction(const piece *p, size_t pos, int fold) {
  if (pos + 1 >= p->hi) return 0;
  uint32_t a = p->cp[pos + 1], b = pos + 2 < p->hi ? p->cp[pos + 2] : NONE;
  if (fold) {
    a = lower_ascii(a);
    b = lower_ascii(b);
  }
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

#define IS(c, bit) (((c) & (bit)) != 0)
#define LNS (AG_UC_LETTER | AG_UC_NUMBER | AG_UC_SPACE)

/* Whitespace run at pos: length, and the end of its last \r or \n (0 when none). */
static size_t space_run(const piece *p, size_t pos, size_t *last_crlf) {
  size_t k = 0;
  *last_crlf = 0;
  while (IS(cls_at(p, pos + k), AG_UC_SPACE)) {
    uint32_t c = p->cp[pos + k];
    if (c == '\r' || c == '\n') *last_crlf = pos + k + 1;
    k++;
  }
  return k;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void pass_gpt2(piece *p) {
  size_t pos = p->lo;
  while (pos < p->hi) {
    uint32_t c = p->cp[pos];
    unsigned f = p->cls[pos];
    if (c == '\'') {
      size_t k = contraction(p, pos, 0);
      if (k) {
        pos += k;
        emit(p, pos);
        continue;
      }
    }
    unsigned f2 = c == ' ' ? cls_at(p, pos + 1) : f;
    if (IS(f2, AG_UC_LETTER) || IS(f2, AG_UC_NUMBER)) {
      unsigned want = IS(f2, AG_UC_LETTER) ? AG_UC_LETTER : AG_UC_NUMBER;
      pos += c == ' ';
      while (IS(cls_at(p, pos), want)) pos++;
      emit(p, pos);
      continue;
    }
    if (!IS(f2, LNS) && f2) {
      pos += c == ' ';
      while (!IS(cls_at(p, pos), LNS) && cls_at(p, pos)) pos++;
      emit(p, pos);
      continue;
    }
    size_t crlf, k = space_run(p, pos, &crlf);
    if (k > 1 && pos + k < p->hi) pos += k - 1; /* \s+(?!\S): leave one for the next word */
    else if (k > 0) pos += k;
    else pos++;
    emit(p, pos);
  }
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+   (llama-bpe: max 3, qwen2: max 1) */
static void pass_llama3(piece *p, size_t max_digits) {
  size_t pos = p->lo;
  while (pos < p->hi) {
    uint32_t c = p->cp[pos];
    unsigned f = p->cls[pos];
    if (c == '\'') {
      size_t k = contraction(p, pos, 1);
      if (k) {
        pos += k;
        emit(p, pos);
        continue;
      }
    }
    if (c != '\r' && c != '\n' && !IS(f, AG_UC_NUMBER) &&
        (IS(f, AG_UC_LETTER) || IS(cls_at(p, pos + 1), AG_UC_LETTER))) {
      pos++;
      while (IS(cls_at(p, pos), AG_UC_LETTER)) pos++;
      emit(p, pos);
      continue;
    }
    if (IS(f, AG_UC_NUMBER)) {
      size_t start = pos;
      while (IS(cls_at(p, pos), AG_UC_NUMBER)) {
        pos++;
        if (pos - start >= max_digits) {
          emit(p, pos);
          start = pos;
        }
      }
      emit(p, pos);
      continue;
    }
    unsigned f2 = c == ' ' ? cls_at(p, pos + 1) : f;
    if (!IS(f2, LNS)) {
      pos += c == ' ';
      while (!IS(cls_at(p, pos), LNS) && cls_at(p, pos)) pos++;
      while (cp_at(p, pos) == '\r' || cp_at(p, pos) == '\n') pos++;
      emit(p, pos);
      continue;
    }
    size_t crlf, k = space_run(p, pos, &crlf);
    if (crlf) pos = crlf; /* \s*[\r\n]+ */
    else if (k > 1 && pos + k < p->hi) pos += k - 1;
    else if (k > 0) pos += k;
    else pos++;
    emit(p, pos);
  }
}

/* ---------- single-class passes (llama.cpp runs these with std::regex) ---------- */

static int is_num(uint32_t c, unsigned f) { return c < 128 ? c >= '0' && c <= '9' : IS(f, AG_UC_NUMBER); }

/* [\p{P}\$\+<=>\^~\|]: every ASCII punctuation or symbol but '`', and non-ASCII \p{P} */
static int is_punct(uint32_t c, unsigned f) {
  if (c < 128)
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x5f) ||
           (c >= 0x7b && c <= 0x7e);
  return IS(f, AG_UC_PUNCT) && !IS(f, AG_UC_SPACE);
}

enum { M_NUM1, M_NUMRUN, M_PUNCTRUN, M_DIGIT3 };

/* Length of the match of the class pattern at pos, 0 when none. */
static size_t match_at(const piece *p, int m, size_t pos) {
  size_t k = 0;
  switch (m) {
  case M_NUM1:
    return is_num(p->cp[pos], p->cls[pos]);
  case M_NUMRUN:
    while (pos + k < p->hi && is_num(p->cp[pos + k], p->cls[pos + k])) k++;
    return k;
  case M_PUNCTRUN:
    while (pos + k < p->hi && is_punct(p->cp[pos + k], p->cls[pos + k])) k++;
    return k;
  default: /* M_DIGIT3 */
    while (k < 3 && pos + k < p->hi && p->cp[pos + k] >= '0' && p->cp[pos + k] <= '9') k++;
    return k == 3 ? 3 : 0;
  }
}

/* Leftmost-longest matches become words; the text between them, words too. */
static void pass_class(piece *p, int m) {
  size_t pos = p->lo;
  while (pos < p->hi) {
    size_t k = match_at(p, m, pos);
    if (!k) {
      pos++;
      continue;
    }
    emit(p, pos);
    pos += k;
    emit(p, pos);
  }
  emit(p, p->hi);
}

/* ---------- pre-tokenizers ---------- */

enum { P_GPT2 = 16, P_LLAMA3, P_QWEN2 };

static const struct {
  const char *name;
  int passes[4];
  int n;
} pres[AG_PRE_COUNT] = {
    [AG_PRE_DEFAULT] = {"default", {M_PUNCTRUN, P_GPT2, M_NUMRUN, M_DIGIT3}, 4},
    [AG_PRE_GPT2] = {"gpt-2", {P_GPT2}, 1},
    [AG_PRE_SMOLLM] = {"smollm", {M_NUM1, P_GPT2}, 2},
    [AG_PRE_LLAMA3] = {"llama-bpe", {P_LLAMA3}, 1},
    [AG_PRE_QWEN2] = {"qwen2", {P_QWEN2}, 1},
};

static const struct {
  const char *name;
  int pre;
} aliases[] = {
    {"default", AG_PRE_DEFAULT},
    {"gpt-2", AG_PRE_GPT2},
    {"phi-2", AG_PRE_GPT2},
    {"jina-es", AG_PRE_GPT2},
    {"jina-de", AG_PRE_GPT2},
    {"gigachat", AG_PRE_GPT2},
    {"jina-v2-es", AG_PRE_GPT2},
    {"jina-v2-de", AG_PRE_GPT2},
    {"a.x-4.0", AG_PRE_GPT2},
    {"mellum", AG_PRE_GPT2},
    {"jina-v1-en", AG_PRE_GPT2},
    {"jina-v2-code", AG_PRE_GPT2},
    {"roberta-bpe", AG_PRE_GPT2},
    {"smollm", AG_PRE_SMOLLM},
    {"llama3", AG_PRE_LLAMA3},
    {"llama-v3", AG_PRE_LLAMA3},
    {"llama-bpe", AG_PRE_LLAMA3},
    {"falcon3", AG_PRE_LLAMA3},
    {"falcon-h1", AG_PRE_LLAMA3},
    {"pixtral", AG_PRE_LLAMA3},
    {"midm-2.0", AG_PRE_LLAMA3},
    {"lfm2", AG_PRE_LLAMA3},
    {"qwen2", AG_PRE_QWEN2},
    {"deepseek-r1-qwen", AG_PRE_QWEN2},
    {"kormo", AG_PRE_QWEN2},
    {"f2llmv2", AG_PRE_QWEN2},
};

int ag_pretok_find(const char *name) {
  if (!name || !*name) return AG_PRE_DEFAULT;
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (!strcmp(name, aliases[i].name)) return aliases[i].pre;
  return -1;
}

const char *ag_pretok_name(int pre) { return pre >= 0 && pre < AG_PRE_COUNT ? pres[pre].name : NULL; }

int ag_pretok_ignore_merges(int pre) { return pre == AG_PRE_LLAMA3; }
int ag_pretok_add_bos_default(int pre) { return pre == AG_PRE_LLAMA3; }

void ag_pretok_split(int pre, const uint32_t *cps, size_t n, size_t **ends, size_t *nends, size_t *cap) {
  if (!n) return;
  unsigned *cls = ag_xmalloc(n * sizeof(unsigned));
  for (size_t i = 0; i < n; i++) cls[i] = ag_uc_class(cps[i]);
  /* cut[0..ncut) are the piece ends of the previous pass; the first pass sees one piece */
  size_t *cut = ag_xmalloc(sizeof(size_t)), ncut = 1, capcut = 1;
  cut[0] = n;
  size_t *next = NULL, nnext = 0, capnext = 0;
  for (int k = 0; k < pres[pre].n; k++) {
    int pass = pres[pre].passes[k];
    nnext = 0;
    size_t lo = 0;
    for (size_t i = 0; i < ncut; i++) {
      piece p = {cps, cls, lo, cut[i], lo, &next, &nnext, &capnext};
      if (pass == P_GPT2) pass_gpt2(&p);
      else if (pass == P_LLAMA3) pass_llama3(&p, 3);
      else if (pass == P_QWEN2) pass_llama3(&p, 1);
      else pass_class(&p, pass);
      emit(&p, p.hi);
      lo = cut[i];
    }
    size_t *t = cut;
    cut = next;
    next = t;
    size_t tn = capcut;
    capcut = capnext;
    capnext = tn;
    ncut = nnext;
  }
  for (size_t i = 0; i < ncut; i++) push(ends, nends, cap, cut[i]);
  free(cut);
  free(next);
  free(cls);
}
