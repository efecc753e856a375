/*
 * test_tokenizer.c — tokenizers from GGUF files (tokenizer.h, pretok.h, unicode.h).
 *
 * Unit tests pin each pre-tokenizer on tricky strings, BPE and SentencePiece on small
 * vocabularies built here, special-token parsing, BOS/EOS and pieces. The comparison tests
 * tokenize 20,000+ varied texts with the two real model files and with llama.cpp (the
 * reference venv runs tests/ref/tok_ref.py) and require identical ids, and identical pieces
 * and end-of-generation marks for every token; SmolLM2's vocabulary is
 * also run under the other pre-tokenizers (a copy of its metadata with tokenizer.ggml.pre
 * changed, no tensors), and an Agora tokenizer trained with llama-bpe is exported into such a
 * file and must tokenize the same in llama.cpp. They skip, saying why, when the venv or the
 * models are absent:
 *   AGORA_REF_PYTHON  python of the reference venv   (default <src>/.cache/ref-venv/bin/python)
 *   AGORA_MODELS      folder of the model files       (default <src>/.cache/models)
 * The GGUF metadata reader below is tests-only: the engine's loader is gguf.c.
 */
#include "test.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"
#include "engine/pretok.h"
#include "engine/tokenizer.h"
#include "engine/unicode.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------- helpers ---------- */

/* The words of pre-tokenizer pre on s, joined with '|'. */
static char *split(int pre, const char *s) {
  size_t n = strlen(s), ncp = 0;
  uint32_t *cps = ag_xmalloc((n + 1) * sizeof(uint32_t));
  for (size_t o = 0; o < n;) o += ag_utf8_next((const uint8_t *)s + o, n - o, &cps[ncp++]);
  size_t *ends = NULL, ne = 0, cap = 0;
  ag_pretok_split(pre, cps, ncp, &ends, &ne, &cap);
  ag_buf b;
  ag_buf_init(&b);
  size_t lo = 0;
  for (size_t k = 0; k < ne; k++) {
    if (k) ag_buf_put(&b, "|", 1);
    for (size_t i = lo; i < ends[k]; i++) {
      uint8_t u[4];
      ag_buf_put(&b, u, ag_utf8_put(cps[i], u));
    }
    lo = ends[k];
  }
  ag_buf_put(&b, "", 1);
  free(cps);
  free(ends);
  return (char *)b.data;
}

#define CHECK_SPLIT(pre, s, want)                                                             \
  do {                                                                                        \
    char *got_ = split(pre, s);                                                               \
    CHECK_STR(got_, want);                                                                    \
    free(got_);                                                                               \
  } while (0)

/* Ids of s as "1 2 3". */
static char *enc(const ag_tokenizer *t, const char *s, int flags) {
  uint32_t *ids = NULL;
  size_t n = 0, cap = 0;
  int rc = ag_tok_encode_ex(t, (const uint8_t *)s, strlen(s), flags, &ids, &n, &cap);
  ag_buf b;
  ag_buf_init(&b);
  if (rc) ag_buf_puts(&b, "error");
  for (size_t i = 0; i < n && !rc; i++) {
    char num[16];
    snprintf(num, sizeof num, i ? " %u" : "%u", ids[i]);
    ag_buf_puts(&b, num);
  }
  ag_buf_put(&b, "", 1);
  free(ids);
  return (char *)b.data;
}

#define CHECK_ENC(t, s, flags, want)                                                          \
  do {                                                                                        \
    char *got_ = enc(t, s, flags);                                                            \
    CHECK_STR(got_, want);                                                                    \
    free(got_);                                                                               \
  } while (0)

static char *piece(const ag_tokenizer *t, uint32_t id) {
  size_t l;
  const uint8_t *p = ag_tok_piece(t, id, &l);
  char *s = ag_xmalloc(l + 1);
  if (l) memcpy(s, p, l);
  s[l] = 0;
  return s;
}

#define CHECK_PIECE(t, id, want)                                                              \
  do {                                                                                        \
    char *got_ = piece(t, id);                                                                \
    CHECK_STR(got_, want);                                                                    \
    free(got_);                                                                               \
  } while (0)

/* A vocabulary under construction: tokens given as C strings. */
typedef struct {
  const uint8_t *tok[600];
  size_t len[600];
  float score[600];
  int32_t type[600];
  size_t n;
  const uint8_t *merge[64];
  size_t mlen[64];
  size_t nm;
  char bytes[256][8];
} vocab;

static uint32_t add(vocab *v, const char *s, int type, float score) {
  v->tok[v->n] = (const uint8_t *)s;
  v->len[v->n] = strlen(s);
  v->type[v->n] = type;
  v->score[v->n] = score;
  return (uint32_t)v->n++;
}

static void add_merge(vocab *v, const char *m) {
  v->merge[v->nm] = (const uint8_t *)m;
  v->mlen[v->nm++] = strlen(m);
}

static ag_tok_spec spec_of(const vocab *v, int kind, const char *pre) {
  ag_tok_spec s = {kind, pre, v->n, v->tok, v->len, v->score, v->type, v->nm, v->merge, v->mlen,
                   -1,   -1,  -1,   -1,     -1,     -1,       -1,      -1};
  return s;
}

/* ---------- unicode ---------- */

TEST(unicode_classes_follow_llama_cpp) {
  CHECK_EQ(ag_uc_class('a'), AG_UC_LETTER);
  CHECK_EQ(ag_uc_class('7'), AG_UC_NUMBER);
  CHECK_EQ(ag_uc_class(' '), AG_UC_SEPARATOR | AG_UC_SPACE);
  CHECK_EQ(ag_uc_class('\n'), AG_UC_CONTROL | AG_UC_SPACE);
  CHECK_EQ(ag_uc_class(0x1f), AG_UC_CONTROL); /* not White_Space, unlike Python's isspace */
  CHECK_EQ(ag_uc_class(0xe9), AG_UC_LETTER);  /* é */
  CHECK_EQ(ag_uc_class(0x663), AG_UC_NUMBER); /* Arabic-Indic three */
  CHECK_EQ(ag_uc_class(0xb2), AG_UC_NUMBER);  /* superscript two (No) */
  CHECK_EQ(ag_uc_class(0x20ac), AG_UC_SYMBOL);
  CHECK_EQ(ag_uc_class(0x2014), AG_UC_PUNCT);
  CHECK_EQ(ag_uc_class(0x301), AG_UC_MARK);
  CHECK_EQ(ag_uc_class(0x3000), AG_UC_SEPARATOR | AG_UC_SPACE);
  CHECK_EQ(ag_uc_class(0x85), AG_UC_CONTROL | AG_UC_SPACE);
  CHECK_EQ(ag_uc_class(0x200b), AG_UC_CONTROL); /* zero width space is Cf */
  CHECK_EQ(ag_uc_class(0x1f44b), AG_UC_SYMBOL);
  CHECK_EQ(ag_uc_class(0x2ebf0), AG_UC_LETTER); /* Unicode 15.1, patched over utf8proc 15.0 */
  CHECK_EQ(ag_uc_class(0x31ef), AG_UC_SYMBOL);
  CHECK_EQ(ag_uc_class(0xe000), AG_UC_CONTROL); /* private use */
  CHECK_EQ(ag_uc_class(0x378), AG_UC_UNDEFINED);
  CHECK_EQ(ag_uc_class(0x110000), AG_UC_UNDEFINED);
}

TEST(utf8_decodes_leniently_like_llama_cpp) {
  uint32_t cp;
  CHECK_EQ(ag_utf8_next((const uint8_t *)"\xc3\xa9", 2, &cp), 2);
  CHECK_EQ(cp, 0xe9);
  CHECK_EQ(ag_utf8_next((const uint8_t *)"\xc0\x80", 2, &cp), 2); /* overlong, accepted */
  CHECK_EQ(cp, 0);
  CHECK_EQ(ag_utf8_next((const uint8_t *)"\xed\xa0\x80", 3, &cp), 3); /* surrogate */
  CHECK_EQ(cp, 0xd800);
  CHECK_EQ(ag_utf8_next((const uint8_t *)"\xe2\x82", 2, &cp), 1); /* cut short */
  CHECK_EQ(cp, 0xfffd);
  CHECK_EQ(ag_utf8_next((const uint8_t *)"\x82", 1, &cp), 1);
  CHECK_EQ(cp, 0xfffd);
  CHECK_EQ(ag_utf8_next((const uint8_t *)"\xf8\x80", 2, &cp), 1);
  CHECK_EQ(cp, 0xfffd);
  CHECK_EQ(ag_utf8_next((const uint8_t *)"\xf4\x90\x80\x80", 4, &cp), 4);
  CHECK_EQ(cp, 0x110000);
  uint8_t u[4];
  CHECK_EQ(ag_utf8_put(0x110000, u), 3); /* llama.cpp throws; we write U+FFFD */
  CHECK_MEM(u, "\xef\xbf\xbd", 3);
  CHECK_EQ(ag_utf8_put(0x1f44b, u), 4);
  CHECK_MEM(u, "\xf0\x9f\x91\x8b", 4);
  CHECK_EQ(ag_utf8_len(0xf0), 4);
  CHECK_EQ(ag_utf8_len(0xff), 4); /* llama.cpp's table: the high nibble decides */
  CHECK_EQ(ag_utf8_len(0x80), 1);
}

/* ---------- pre-tokenizers ---------- */

TEST(pretok_names) {
  CHECK_EQ(ag_pretok_find(NULL), AG_PRE_DEFAULT);
  CHECK_EQ(ag_pretok_find("default"), AG_PRE_DEFAULT);
  CHECK_EQ(ag_pretok_find("gpt-2"), AG_PRE_GPT2);
  CHECK_EQ(ag_pretok_find("smollm"), AG_PRE_SMOLLM);
  CHECK_EQ(ag_pretok_find("llama-bpe"), AG_PRE_LLAMA3);
  CHECK_EQ(ag_pretok_find("llama3"), AG_PRE_LLAMA3);
  CHECK_EQ(ag_pretok_find("qwen2"), AG_PRE_QWEN2);
  CHECK_EQ(ag_pretok_find("deepseek-llm"), -1);
  CHECK_EQ(ag_pretok_find("no-such"), -1);
}

TEST(pretok_gpt2) {
  int p = AG_PRE_GPT2;
  CHECK_SPLIT(p, "Hello world", "Hello| world");
  CHECK_SPLIT(p, "don't I'LL we've 's", "don|'t| I|'|LL| we|'ve| '|s");
  CHECK_SPLIT(p, "  hello", " | hello");
  CHECK_SPLIT(p, "a\n\nb", "a|\n|\n|b");
  CHECK_SPLIT(p, "x   ", "x|   ");
  CHECK_SPLIT(p, "123456 7", "123456| 7");
  CHECK_SPLIT(p, "hi \xf0\x9f\x91\x8b\xf0\x9f\x8f\xbd!", "hi| \xf0\x9f\x91\x8b\xf0\x9f\x8f\xbd!");
  CHECK_SPLIT(p, "caf\xc3\xa9 na\xc3\xafve", "caf\xc3\xa9| na\xc3\xafve");
  /* a combining mark is not a letter: it ends the word and starts an "other" run */
  CHECK_SPLIT(p, "e\xcc\x81t\xc3\xa9", "e|\xcc\x81|t\xc3\xa9");
  CHECK_SPLIT(p, "\t\tx", "\t|\t|x"); /* only ' ' joins the word after it */
  CHECK_SPLIT(p, "a\xe3\x80\x80\xe3\x80\x80" "b", "a|\xe3\x80\x80|\xe3\x80\x80|b");
  CHECK_SPLIT(p, "x\xff\xfey", "x|\xef\xbf\xbd\xef\xbf\xbd|y"); /* invalid bytes read as U+FFFD (So) */
}

TEST(pretok_smollm_digits_alone) {
  int p = AG_PRE_SMOLLM;
  CHECK_SPLIT(p, "abc 123", "abc| |1|2|3");
  CHECK_SPLIT(p, "a  1", "a|  |1"); /* the digit pass cut first: "(?!\S)" sees the piece end */
  CHECK_SPLIT(p, "x2y", "x|2|y");
  CHECK_SPLIT(p, "\xd9\xa3\xc2\xb2", "\xd9\xa3|\xc2\xb2");
  CHECK_SPLIT(p, "don't", "don|'t");
}

TEST(pretok_llama3) {
  int p = AG_PRE_LLAMA3;
  CHECK_SPLIT(p, "abc 12345 x", "abc| |123|45| x");
  CHECK_SPLIT(p, "I'LL DON'T", "I|'LL| DON|'T");
  CHECK_SPLIT(p, "a\n\n  b", "a|\n\n| | b");
  CHECK_SPLIT(p, "!!!\n\nx", "!!!\n\n|x");
  CHECK_SPLIT(p, ".x \tab", ".x| |\tab"); /* any one non-letter may lead a word, tab too */
  CHECK_SPLIT(p, "3.14", "3|.|14");
  CHECK_SPLIT(p, "1234567", "123|456|7");
  CHECK_SPLIT(p, "  \n x", "  \n| x");
  CHECK_SPLIT(p, "x \r\n", "x| \r\n");
  CHECK_SPLIT(p, "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c",
              "\xe4\xbd\xa0\xe5\xa5\xbd|\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c");
}

TEST(pretok_qwen2) {
  int p = AG_PRE_QWEN2;
  CHECK_SPLIT(p, "abc 12", "abc| |1|2");
  CHECK_SPLIT(p, "I'm ok", "I|'m| ok");
  CHECK_SPLIT(p, "a\n\n  b", "a|\n\n| | b");
}

TEST(pretok_default) {
  int p = AG_PRE_DEFAULT;
  CHECK_SPLIT(p, "Hello, world!!! 1234567 x$y", "Hello|,| world|!!!| |123|456|7| x|$|y");
  CHECK_SPLIT(p, "a`b", "a|`|b"); /* '`' is not in the punctuation pass */
  CHECK_SPLIT(p, "12345", "123|45");
  CHECK_SPLIT(p, "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94", "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94");
  CHECK_SPLIT(p, "don't", "don|'|t"); /* the quote is cut out before the contraction rule */
}

/* ---------- small vocabularies ---------- */

/* GPT-2 spelling: 'Ġ' is the space. */
static void gpt2_vocab(vocab *v) {
  memset(v, 0, sizeof *v);
  add(v, "<|endoftext|>", AG_TOKT_CONTROL, 0); /* 0 */
  add(v, "a", 1, 0);                           /* 1 */
  add(v, "b", 1, 0);                           /* 2 */
  add(v, "c", 1, 0);                           /* 3 */
  add(v, "ab", 1, 0);                          /* 4 */
  add(v, "abc", 1, 0);                         /* 5 */
  add(v, "\xc4\xa0", 1, 0);                    /* 6 Ġ */
  add(v, "\xc4\xa0" "a", 1, 0);                /* 7 */
  add(v, "<tag>", AG_TOKT_USER_DEFINED, 0);    /* 8 */
  add(v, "<|im_end|>", AG_TOKT_NORMAL, 0);     /* 9: promoted to control, ends generation */
  add(v, "\xc4\x8a", 1, 0);                    /* 10 Ċ = '\n' */
  add(v, "<|start|>", AG_TOKT_CONTROL, 0);     /* 11: gpt-oss hack makes it user-defined */
  add_merge(v, "a b");
  add_merge(v, "ab c");
  add_merge(v, "\xc4\xa0 a");
  add_merge(v, "a b"); /* repeated: the first rank stays */
}

TEST(gpt2_bpe_merges_by_rank) {
  vocab v;
  gpt2_vocab(&v);
  ag_tok_spec s = spec_of(&v, AG_TOKK_GPT2, "gpt-2");
  ag_tokenizer *t = NULL;
  CHECK_OK(ag_tok_from_spec(&s, &t));
  if (!t) return;
  CHECK_EQ(ag_tok_kind(t), AG_TOKK_GPT2);
  CHECK_EQ(ag_tok_vocab(t), 12);
  CHECK_ENC(t, "abc", 0, "5");
  CHECK_ENC(t, "abc ab", 0, "5 6 4"); /* "Ġab": a+b (rank 0) beats Ġ+a (rank 2) */
  CHECK_ENC(t, " a", 0, "7");
  CHECK_ENC(t, "abd", 0, "4");     /* 'd' has no token: llama.cpp drops it */
  CHECK_ENC(t, "a\n", 0, "1 10");
  /* special tokens: user-defined always, control only when parsing them */
  CHECK_ENC(t, "a<tag>b", 0, "1 8 2");
  CHECK_ENC(t, "a<|endoftext|>b", 0, "1 2");
  CHECK_ENC(t, "a<|endoftext|>b", AG_TOK_PARSE_SPECIAL, "1 0 2");
  CHECK_ENC(t, "<|im_end|>", AG_TOK_PARSE_SPECIAL, "9");
  CHECK_ENC(t, "<|start|>", 0, "11");
  CHECK_ENC(t, "ab", AG_TOK_ADD_SPECIAL, "4"); /* gpt2 adds no BOS by default */
  CHECK_EQ(ag_tok_bos(t), 11);                 /* absent: llama.cpp's gpt2 default, 11 */
  CHECK_PIECE(t, 7, " a");
  CHECK_PIECE(t, 10, "\n");
  CHECK_PIECE(t, 0, "");
  CHECK_PIECE(t, 8, "<tag>");
  CHECK_PIECE(t, 11, "<|start|>");
  CHECK(ag_tok_is_eog(t, 9));
  CHECK(ag_tok_is_eog(t, 0));
  CHECK(!ag_tok_is_eog(t, 1));
  CHECK_EQ(ag_tok_find(t, "<tag>"), 8);
  CHECK_EQ(ag_tok_find(t, "zz"), -1);
  size_t l;
  const uint8_t *txt = ag_tok_text(t, 7, &l);
  CHECK(l == 3 && !memcmp(txt, "\xc4\xa0" "a", 3));
  uint32_t ids[] = {5, 7, 10};
  ag_buf out;
  ag_buf_init(&out);
  CHECK_OK(ag_tok_decode(t, ids, 3, &out));
  CHECK(out.len == 6 && !memcmp(out.data, "abc a\n", 6));
  uint32_t badid = 12;
  CHECK_EQ(ag_tok_decode(t, &badid, 1, &out), AG_E_RANGE);
  ag_buf_free(&out);
  ag_tokenizer *c = NULL;
  CHECK_OK(ag_tok_clone(t, &c));
  ag_tok_free(t);
  if (c) CHECK_ENC(c, "abc ab", 0, "5 6 4");
  ag_tok_free(c);
}

TEST(gpt2_flags_and_defaults) {
  vocab v;
  gpt2_vocab(&v);
  ag_tok_spec s = spec_of(&v, AG_TOKK_GPT2, "llama-bpe");
  s.bos = 0;
  ag_tokenizer *t = NULL;
  CHECK_OK(ag_tok_from_spec(&s, &t));
  if (!t) return;
  CHECK_ENC(t, "ab", AG_TOK_ADD_SPECIAL, "0 4"); /* llama-bpe adds BOS unless the file says no */
  CHECK_ENC(t, "abc", 0, "5");                   /* a word that is a token is taken whole */
  ag_tok_free(t);
  s.add_bos = 0;
  s.add_eos = 1;
  s.eos = 9;
  CHECK_OK(ag_tok_from_spec(&s, &t));
  if (t) CHECK_ENC(t, "ab", AG_TOK_ADD_SPECIAL, "4 9");
  ag_tok_free(t);
}

/* ignore_merges: llama-bpe takes a word that is a token whole, even one merges cannot reach */
TEST(llama3_ignore_merges) {
  vocab v;
  memset(&v, 0, sizeof v);
  add(&v, "a", 1, 0);
  add(&v, "b", 1, 0);
  add(&v, "c", 1, 0);
  add(&v, "bc", 1, 0);
  add(&v, "abc", 1, 0); /* no merge makes it */
  add_merge(&v, "b c");
  ag_tok_spec s = spec_of(&v, AG_TOKK_GPT2, "llama-bpe");
  ag_tokenizer *t = NULL;
  CHECK_OK(ag_tok_from_spec(&s, &t));
  if (t) CHECK_ENC(t, "abc", 0, "4");
  ag_tok_free(t);
  s.pre = "gpt-2";
  CHECK_OK(ag_tok_from_spec(&s, &t));
  if (t) CHECK_ENC(t, "abc", 0, "0 3");
  ag_tok_free(t);
}

static void spm_vocab(vocab *v) {
  memset(v, 0, sizeof *v);
  add(v, "<unk>", AG_TOKT_UNKNOWN, 0);  /* 0 */
  add(v, "<s>", AG_TOKT_CONTROL, 0);    /* 1 */
  add(v, "</s>", AG_TOKT_CONTROL, 0);   /* 2 */
  for (int b = 0; b < 256; b++) {       /* 3..258 */
    snprintf(v->bytes[b], sizeof v->bytes[b], "<0x%02X>", b);
    add(v, v->bytes[b], AG_TOKT_BYTE, 0);
  }
  add(v, "\xe2\x96\x81", 1, -1);                 /* 259 ▁ */
  add(v, "a", 1, -2);                            /* 260 */
  add(v, "b", 1, -2);                            /* 261 */
  add(v, "\xe2\x96\x81" "a", 1, -1.5f);          /* 262 */
  add(v, "ab", 1, -0.5f);                        /* 263 */
  add(v, "\xe2\x96\x81" "ab", 1, -3);            /* 264 */
  add(v, "<start_of_turn>", AG_TOKT_CONTROL, 0); /* 265 */
  add(v, "\n\n", AG_TOKT_USER_DEFINED, 0);       /* 266 */
  add(v, "\n", AG_TOKT_USER_DEFINED, 0);         /* 267 */
  add(v, "ba", 1, -1);                           /* 268 */
}

TEST(spm_merges_by_score_with_byte_fallback) {
  vocab v;
  spm_vocab(&v);
  ag_tok_spec s = spec_of(&v, AG_TOKK_SPM, NULL);
  ag_tokenizer *t = NULL;
  CHECK_OK(ag_tok_from_spec(&s, &t));
  if (!t) return;
  CHECK_EQ(ag_tok_kind(t), AG_TOKK_SPM);
  CHECK_EQ(ag_tok_bos(t), 1); /* llama.cpp's defaults for spm */
  CHECK_EQ(ag_tok_eos(t), 2);
  /* "▁ab": ab (-0.5) merges before ▁a (-1.5); then ▁+ab makes ▁ab */
  CHECK_ENC(t, "ab", 0, "264");
  CHECK_ENC(t, "ab", AG_TOK_ADD_SPECIAL, "1 264");
  /* "▁aba": ab (-0.5) first, then ▁+ab (-3) and ab+a (none): ▁ab a */
  CHECK_ENC(t, "aba", 0, "264 260");
  /* equal scores (ba -1, ▁a... ): "bab" -> ▁ b a b: ab (-0.5) at 2..3 beats ba (-1) */
  CHECK_ENC(t, "bab", 0, "259 261 263");
  /* byte fallback for what no token spells: ç = C3 A7 */
  CHECK_ENC(t, "\xc3\xa7", 0, "259 198 170");
  /* user-defined newlines are cut out first; the space prefix comes back after them */
  CHECK_ENC(t, "a\n\nb", 0, "262 266 259 261");
  CHECK_ENC(t, "a\n\n\nb", 0, "262 266 267 259 261"); /* longest first, then leftmost */
  CHECK_ENC(t, "<start_of_turn>a", AG_TOK_PARSE_SPECIAL, "265 262");
  CHECK_ENC(t, "<s>", 0, "259 63 118 65"); /* control tokens are text unless parsed */
  CHECK_PIECE(t, 262, " a");
  CHECK_PIECE(t, 3 + 0xa7, "\xa7");
  CHECK_PIECE(t, 1, "");
  CHECK_PIECE(t, 0, "");
  CHECK_PIECE(t, 266, "\n\n");
  CHECK(ag_tok_is_eog(t, 2));   /* eos, and "</s>" by name */
  CHECK(!ag_tok_is_eog(t, 1));
  ag_tok_free(t);
  s.add_space_prefix = 0;
  s.add_bos = 0;
  CHECK_OK(ag_tok_from_spec(&s, &t));
  if (t) CHECK_ENC(t, "ab", AG_TOK_ADD_SPECIAL, "263");
  ag_tok_free(t);
}

TEST(spec_is_validated) {
  vocab v;
  spm_vocab(&v);
  ag_tokenizer *t = NULL;
  ag_tok_spec s = spec_of(&v, AG_TOKK_GPT2, "deepseek-llm");
  CHECK_EQ(ag_tok_from_spec(&s, &t), AG_E_UNSUPPORTED);
  CHECK(strstr(ag_errmsg(AG_E_UNSUPPORTED), "deepseek-llm") != NULL);
  s = spec_of(&v, 7, NULL);
  CHECK_EQ(ag_tok_from_spec(&s, &t), AG_E_UNSUPPORTED);
  s = spec_of(&v, AG_TOKK_SPM, NULL);
  s.bos = (int32_t)v.n;
  CHECK_EQ(ag_tok_from_spec(&s, &t), AG_E_CORRUPT);
  s = spec_of(&v, AG_TOKK_SPM, NULL);
  v.type[5] = 9;
  CHECK_EQ(ag_tok_from_spec(&s, &t), AG_E_CORRUPT);
  v.type[5] = 1;
  v.score[5] = NAN;
  CHECK_EQ(ag_tok_from_spec(&s, &t), AG_E_CORRUPT);
  v.score[5] = 0;
  s.n_tokens = 0;
  CHECK_EQ(ag_tok_from_spec(&s, &t), AG_E_CORRUPT);
  s = spec_of(&v, AG_TOKK_SPM, NULL);
  s.add_bos = 2;
  CHECK_EQ(ag_tok_from_spec(&s, &t), AG_E_CORRUPT);
  CHECK(t == NULL);
}

/* Vocabularies of any size: 300,000 tokens build and encode, in memory linear in their size. */
TEST(large_vocabulary) {
  size_t n = 300000;
  const uint8_t **tok = ag_xmalloc(n * sizeof *tok);
  size_t *len = ag_xmalloc(n * sizeof *len);
  float *score = ag_xmalloc(n * sizeof *score);
  int32_t *type = ag_xmalloc(n * sizeof *type);
  char *text = ag_xmalloc(n * 16);
  for (size_t i = 0; i < n; i++) {
    char *p = text + 16 * i;
    if (i < 256) {
      snprintf(p, 16, "<0x%02zX>", i);
      type[i] = AG_TOKT_BYTE;
    } else if (i >= n - 3) { /* "z", "▁z", "▁zz" at the top of the id range */
      snprintf(p, 16, "%sz%s", i == n - 3 ? "" : "\xe2\x96\x81", i == n - 1 ? "z" : "");
      type[i] = AG_TOKT_NORMAL;
    } else {
      snprintf(p, 16, "\xe2\x96\x81w%zu", i);
      type[i] = AG_TOKT_NORMAL;
    }
    tok[i] = (const uint8_t *)p;
    len[i] = strlen(p);
    score[i] = i >= n - 3 ? 0.0f : -(float)i;
  }
  ag_tok_spec s = {AG_TOKK_SPM, NULL, n, tok, len, score, type, 0, NULL, NULL, -1, -1, -1, -1, -1, 0, 0, -1};
  ag_tokenizer *t = NULL;
  CHECK_OK(ag_tok_from_spec(&s, &t));
  if (t) {
    CHECK_EQ(ag_tok_vocab(t), 300000);
    CHECK_EQ(ag_tok_find(t, "\xe2\x96\x81w299996"), 299996);
    CHECK_ENC(t, "zz", 0, "299999");
    CHECK_ENC(t, "w", 0, "226 150 129 119"); /* no token: the bytes of ▁w, E2 96 81 77 */
    CHECK_PIECE(t, 299996, " w299996");
  }
  ag_tok_free(t);
  free(tok);
  free(len);
  free(score);
  free(type);
  free(text);
}

/* Agora's own tokenizers keep their behaviour and answer the new calls. */
TEST(agora_tokenizer_new_calls) {
  const char *corpus = "the cat sat on the mat. the cat ate. <|endoftext|> the end";
  ag_tokenizer *t = NULL;
  CHECK_OK(ag_tok_train((const uint8_t *)corpus, strlen(corpus), 280, &t));
  if (!t) return;
  CHECK_EQ(ag_tok_kind(t), AG_TOKK_AGORA);
  CHECK_EQ(ag_tok_bos(t), AG_TOK_EOT);
  CHECK_EQ(ag_tok_eos(t), AG_TOK_EOT);
  CHECK(ag_tok_is_eog(t, AG_TOK_EOT));
  CHECK(!ag_tok_is_eog(t, 'a'));
  CHECK_EQ(ag_tok_find(t, "<|endoftext|>"), AG_TOK_EOT);
  CHECK_EQ(ag_tok_find(t, "a"), 'a');
  char *plain = enc(t, "x<|endoftext|>y", 0), *parsed = enc(t, "x<|endoftext|>y", AG_TOK_PARSE_SPECIAL);
  char *bos = enc(t, "xy", AG_TOK_ADD_SPECIAL);
  CHECK_STR(parsed, "120 256 121");
  CHECK(strcmp(plain, parsed) != 0);
  CHECK_STR(bos, "256 120 121");
  free(plain);
  free(parsed);
  free(bos);
  ag_tokenizer *c = NULL;
  CHECK_OK(ag_tok_clone(t, &c));
  if (c) {
    CHECK_EQ(ag_tok_n_merges(c), ag_tok_n_merges(t));
    char *a = enc(t, corpus, 0), *b = enc(c, corpus, 0);
    CHECK_STR(a, b);
    free(a);
    free(b);
  }
  ag_tok_free(c);
  ag_tok_free(t);
}

/* GPT-2's spelling of bytes, as Agora's exporter writes token strings. */
static void spell(ag_buf *o, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint8_t b = p[i];
    uint32_t c = b <= 0x20 ? 256u + b : b >= 0x7f && b <= 0xa0 ? 289u + (b - 0x7f) : b == 0xad ? 323u : b;
    uint8_t u[4];
    ag_buf_put(o, u, ag_utf8_put(c, u));
  }
}

/* The vocabulary an Agora tokenizer exports (tokens, types, merges), as strings in bufs. */
typedef struct {
  ag_buf *str; /* (vocab + merges) */
  const uint8_t **p;
  size_t *len;
  int32_t *type;
  size_t v, nm;
} exported;

static void export_vocab(const ag_tokenizer *t, exported *e) {
  e->v = (size_t)ag_tok_vocab(t);
  e->nm = ag_tok_n_merges(t);
  e->str = ag_xcalloc(e->v + e->nm, sizeof(ag_buf));
  e->p = ag_xmalloc((e->v + e->nm) * sizeof *e->p);
  e->len = ag_xmalloc((e->v + e->nm) * sizeof *e->len);
  e->type = ag_xmalloc(e->v * sizeof *e->type);
  for (size_t i = 0; i < e->v + e->nm; i++) {
    size_t l;
    if (i == AG_TOK_EOT) ag_buf_puts(&e->str[i], "<|endoftext|>");
    else if (i < e->v) spell(&e->str[i], ag_tok_piece(t, (uint32_t)i, &l), l);
    else {
      uint32_t a, b;
      ag_tok_merge(t, i - e->v, &a, &b);
      ag_buf_put(&e->str[i], e->str[a].data, e->str[a].len);
      ag_buf_put_u8(&e->str[i], ' ');
      ag_buf_put(&e->str[i], e->str[b].data, e->str[b].len);
    }
    if (i < e->v) e->type[i] = i == AG_TOK_EOT ? AG_TOKT_CONTROL : AG_TOKT_NORMAL;
    e->p[i] = e->str[i].data;
    e->len[i] = e->str[i].len;
  }
}

static void exported_free(exported *e) {
  for (size_t i = 0; i < e->v + e->nm; i++) ag_buf_free(&e->str[i]);
  free(e->str);
  free(e->p);
  free(e->len);
  free(e->type);
}

/* Agora's own BPE trained with a llama.cpp pre-tokenizer encodes as its exported vocabulary. */
TEST(agora_tokenizer_with_llama_cpp_pretokenizer) {
  const char *corpus =
      "The cat's 12345 whiskers\n\n  twitched. It's 3.14159, isn't it? Caf\xc3\xa9 na\xc3\xafve \xe4\xbd\xa0\xe5\xa5\xbd!\n"
      "The dog's 678 tail\twagged; THE END. <|endoftext|> x\xff";
  ag_tokenizer *t = NULL;
  ag_buf train;
  ag_buf_init(&train);
  for (int i = 0; i < 3; i++) ag_buf_puts(&train, corpus);
  CHECK_EQ(ag_tok_train_pre(train.data, train.len, 300, "no-such", &t), AG_E_UNSUPPORTED);
  CHECK_OK(ag_tok_train_pre(train.data, train.len, 300, "llama-bpe", &t));
  ag_buf_free(&train);
  if (!t) return;
  CHECK_EQ(ag_tok_kind(t), AG_TOKK_AGORA);
  CHECK_STR(ag_tok_pre(t), "llama-bpe");
  CHECK(ag_tok_n_merges(t) > 10);
  CHECK_EQ(ag_tok_bos(t), AG_TOK_EOT);
  exported e;
  export_vocab(t, &e);
  ag_tok_spec s = {AG_TOKK_GPT2, "llama-bpe", e.v, e.p, e.len, NULL, e.type, e.nm, e.p + e.v, e.len + e.v,
                   AG_TOK_EOT, AG_TOK_EOT, -1, -1, -1, 1, 0, -1};
  ag_tokenizer *g = NULL;
  CHECK_OK(ag_tok_from_spec(&s, &g));
  if (g) {
    CHECK_STR(ag_tok_pre(g), "llama-bpe");
    for (int flags = 0; flags < 4; flags++) {
      char *a = enc(t, corpus, flags), *b = enc(g, corpus, flags);
      CHECK_STR(a, b);
      free(a);
      free(b);
    }
  }
  /* valid UTF-8 round-trips; the invalid byte comes back as U+FFFD, as in llama.cpp */
  uint32_t *ids = NULL;
  size_t n = 0, cap = 0;
  CHECK_OK(ag_tok_encode(t, (const uint8_t *)corpus, strlen(corpus), &ids, &n, &cap));
  ag_buf out;
  ag_buf_init(&out);
  CHECK_OK(ag_tok_decode(t, ids, n, &out));
  CHECK(out.len == strlen(corpus) + 2 && !memcmp(out.data, corpus, strlen(corpus) - 1));
  ag_buf_free(&out);
  free(ids);
  ag_tokenizer *c = NULL;
  CHECK_OK(ag_tok_clone(t, &c));
  if (c) {
    CHECK_STR(ag_tok_pre(c), "llama-bpe");
    char *a = enc(t, corpus, 0), *b = enc(c, corpus, 0);
    CHECK_STR(a, b);
    free(a);
    free(b);
  }
  ag_tokenizer *legacy = NULL;
  CHECK_OK(ag_tok_train((const uint8_t *)corpus, strlen(corpus), 300, &legacy));
  if (legacy) CHECK(ag_tok_pre(legacy) == NULL);
  ag_tok_free(legacy);
  ag_tok_free(c);
  ag_tok_free(g);
  exported_free(&e);
  ag_tok_free(t);
}

/* ---------- a tests-only GGUF metadata reader ---------- */

typedef struct {
  const uint8_t *key;
  size_t klen;
  uint32_t type, atype; /* atype and n for arrays */
  uint64_t n;
  const uint8_t *val;  /* first byte of the value (of the first element for arrays) */
  const uint8_t *raw;  /* the whole key/value record */
  size_t rawlen;
} gkv;

typedef struct {
  uint8_t *d;
  size_t len;
  uint32_t ver;
  gkv *kv;
  size_t nkv;
} gmeta;

enum { G_STR = 8, G_ARR = 9 };

static size_t gsize(uint32_t t) {
  static const size_t sz[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  return t < 13 ? sz[t] : 0;
}

/* Skips one value of type t at *o; 0 when it runs past the end. */
static int gskip(const gmeta *m, size_t *o, uint32_t t) {
  if (t == G_STR) {
    if (*o + 8 > m->len) return 0;
    uint64_t l = ag_get_u64le(m->d + *o);
    if (l > m->len - *o - 8) return 0;
    *o += 8 + l;
    return 1;
  }
  if (t == G_ARR) {
    if (*o + 12 > m->len) return 0;
    uint32_t at = ag_get_u32le(m->d + *o);
    uint64_t n = ag_get_u64le(m->d + *o + 4);
    *o += 12;
    if (at == G_STR) {
      for (uint64_t i = 0; i < n; i++)
        if (!gskip(m, o, G_STR)) return 0;
      return 1;
    }
    if (!gsize(at) || n > (m->len - *o) / gsize(at)) return 0;
    *o += n * gsize(at);
    return 1;
  }
  if (!gsize(t) || *o + gsize(t) > m->len) return 0;
  *o += gsize(t);
  return 1;
}

/* Reads the key/value section of a GGUF file (growing the prefix read until it fits). */
static int gmeta_read(const char *path, gmeta *m) {
  memset(m, 0, sizeof *m);
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  for (size_t want = 1 << 22;; want *= 2) {
    m->d = ag_xrealloc(m->d, want);
    fseek(f, 0, SEEK_SET);
    m->len = fread(m->d, 1, want, f);
    if (m->len < 24 || memcmp(m->d, "GGUF", 4)) break;
    m->ver = ag_get_u32le(m->d + 4);
    uint64_t nkv = ag_get_u64le(m->d + 16);
    if (nkv > 100000) break;
    free(m->kv);
    m->kv = ag_xcalloc(nkv + 1, sizeof(gkv));
    size_t o = 24, i = 0;
    for (; i < nkv; i++) {
      gkv *k = &m->kv[i];
      k->raw = m->d + o;
      if (o + 8 > m->len) break;
      k->klen = ag_get_u64le(m->d + o);
      if (k->klen > 1024 || o + 12 + k->klen > m->len) break;
      k->key = m->d + o + 8;
      o += 8 + k->klen;
      k->type = ag_get_u32le(m->d + o);
      o += 4;
      if (k->type == G_ARR) {
        if (o + 12 > m->len) break;
        k->atype = ag_get_u32le(m->d + o);
        k->n = ag_get_u64le(m->d + o + 4);
        k->val = m->d + o + 12;
      } else k->val = m->d + o;
      if (!gskip(m, &o, k->type)) break;
      k->rawlen = (size_t)(m->d + o - k->raw);
    }
    if (i == nkv) {
      m->nkv = nkv;
      fclose(f);
      return 0;
    }
    if (m->len < want) break; /* the whole file is read and still does not parse */
  }
  fclose(f);
  free(m->d);
  free(m->kv);
  memset(m, 0, sizeof *m);
  return -1;
}

static void gmeta_free(gmeta *m) {
  free(m->d);
  free(m->kv);
}

static const gkv *gfind(const gmeta *m, const char *key) {
  for (size_t i = 0; i < m->nkv; i++)
    if (m->kv[i].klen == strlen(key) && !memcmp(m->kv[i].key, key, m->kv[i].klen)) return &m->kv[i];
  return NULL;
}

/* The strings of an array value, as pointers into the file. */
static void gstrings(const gkv *k, const uint8_t ***p, size_t **len) {
  *p = ag_xmalloc((k->n + 1) * sizeof **p);
  *len = ag_xmalloc((k->n + 1) * sizeof **len);
  const uint8_t *q = k->val;
  for (uint64_t i = 0; i < k->n; i++) {
    (*len)[i] = ag_get_u64le(q);
    (*p)[i] = q + 8;
    q += 8 + (*len)[i];
  }
}

static int64_t gint(const gmeta *m, const char *key, int64_t dflt) {
  const gkv *k = gfind(m, key);
  if (!k) return dflt;
  switch (k->type) {
  case 0: case 7: return k->val[0];
  case 4: return ag_get_u32le(k->val);
  case 5: return (int32_t)ag_get_u32le(k->val);
  case 10: case 11: return (int64_t)ag_get_u64le(k->val);
  default: return dflt;
  }
}

/* What a loader does: the tokenizer.ggml.* keys into an ag_tok_spec (the strings point into
 * m; the other arrays are copies owned by the spec: free with spec_free). */
typedef struct {
  ag_tok_spec s;
  char *pre;
  const uint8_t **tok, **merge;
  size_t *tok_len, *merge_len;
  float *scores;
  int32_t *types;
} fspec;

static int fspec_from(const gmeta *m, fspec *f) {
  memset(f, 0, sizeof *f);
  const gkv *model = gfind(m, "tokenizer.ggml.model"), *pre = gfind(m, "tokenizer.ggml.pre");
  const gkv *toks = gfind(m, "tokenizer.ggml.tokens"), *sc = gfind(m, "tokenizer.ggml.scores");
  const gkv *ty = gfind(m, "tokenizer.ggml.token_type"), *mg = gfind(m, "tokenizer.ggml.merges");
  if (!model || model->type != G_STR || !toks || toks->atype != G_STR) return -1;
  size_t ml = ag_get_u64le(model->val);
  if (ml == 4 && !memcmp(model->val + 8, "gpt2", 4)) f->s.kind = AG_TOKK_GPT2;
  else if (ml == 5 && !memcmp(model->val + 8, "llama", 5)) f->s.kind = AG_TOKK_SPM;
  else return -1;
  if (pre && pre->type == G_STR) {
    size_t l = ag_get_u64le(pre->val);
    f->pre = ag_xmalloc(l + 1);
    memcpy(f->pre, pre->val + 8, l);
    f->pre[l] = 0;
  }
  f->s.pre = f->pre;
  f->s.n_tokens = toks->n;
  gstrings(toks, &f->tok, &f->tok_len);
  f->s.tok = f->tok;
  f->s.tok_len = f->tok_len;
  if (sc && sc->atype == 6 && sc->n == toks->n) {
    f->scores = ag_xmalloc(sc->n * sizeof(float) + 1);
    memcpy(f->scores, sc->val, sc->n * sizeof(float));
    f->s.scores = f->scores;
  }
  if (ty && ty->atype == 5 && ty->n == toks->n) {
    f->types = ag_xmalloc(ty->n * sizeof(int32_t) + 1);
    memcpy(f->types, ty->val, ty->n * sizeof(int32_t));
    f->s.types = f->types;
  }
  if (mg && mg->atype == G_STR) {
    f->s.n_merges = mg->n;
    gstrings(mg, &f->merge, &f->merge_len);
    f->s.merge = f->merge;
    f->s.merge_len = f->merge_len;
  }
  f->s.bos = (int32_t)gint(m, "tokenizer.ggml.bos_token_id", -1);
  f->s.eos = (int32_t)gint(m, "tokenizer.ggml.eos_token_id", -1);
  f->s.eot = (int32_t)gint(m, "tokenizer.ggml.eot_token_id", -1);
  f->s.unk = (int32_t)gint(m, "tokenizer.ggml.unknown_token_id", -1);
  f->s.pad = (int32_t)gint(m, "tokenizer.ggml.padding_token_id", -1);
  f->s.add_bos = (int)gint(m, "tokenizer.ggml.add_bos_token", -1);
  f->s.add_eos = (int)gint(m, "tokenizer.ggml.add_eos_token", -1);
  f->s.add_space_prefix = (int)gint(m, "tokenizer.ggml.add_space_prefix", -1);
  return 0;
}

static void fspec_free(fspec *f) {
  free(f->pre);
  free(f->tok);
  free(f->tok_len);
  free(f->merge);
  free(f->merge_len);
  free(f->scores);
  free(f->types);
}

/* A copy of m's metadata with tokenizer.ggml.pre set to pre and no tensors (llama.cpp loads
 * such a file with vocab_only). */
static int gmeta_write_variant(const gmeta *m, const char *pre, const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  uint8_t h[24];
  memcpy(h, "GGUF", 4);
  ag_put_u32le(h + 4, m->ver);
  ag_put_u64le(h + 8, 0);
  ag_put_u64le(h + 16, m->nkv);
  fwrite(h, 1, sizeof h, f);
  for (size_t i = 0; i < m->nkv; i++) {
    const gkv *k = &m->kv[i];
    if (k->klen == 18 && !memcmp(k->key, "tokenizer.ggml.pre", 18)) {
      uint8_t b[12];
      ag_put_u64le(b, 18);
      fwrite(b, 1, 8, f);
      fwrite(k->key, 1, 18, f);
      ag_put_u32le(b, G_STR);
      ag_put_u64le(b + 4, strlen(pre));
      fwrite(b, 1, 12, f);
      fwrite(pre, 1, strlen(pre), f);
    } else fwrite(k->raw, 1, k->rawlen, f);
  }
  return fclose(f) ? -1 : 0;
}

static void w_bytes(FILE *f, const void *p, size_t n) {
  uint8_t l[8];
  ag_put_u64le(l, n);
  fwrite(l, 1, 8, f);
  fwrite(p, 1, n, f);
}

static void w_key(FILE *f, const char *key, uint32_t type) {
  uint8_t t[4];
  w_bytes(f, key, strlen(key));
  ag_put_u32le(t, type);
  fwrite(t, 1, 4, f);
}

static void w_arr(FILE *f, const char *key, uint32_t atype, uint64_t n) {
  uint8_t h[12];
  w_key(f, key, G_ARR);
  ag_put_u32le(h, atype);
  ag_put_u64le(h + 4, n);
  fwrite(h, 1, 12, f);
}

/* base's metadata without its tokenizer, with the vocabulary e exported the way Agora exports
 * (tokenizer.ggml.pre = pre, BOS = EOS = <|endoftext|>, add_bos_token), and no tensors. */
static int write_agora_vocab(const gmeta *base, const exported *e, const char *pre, const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t keep = 0;
  for (size_t i = 0; i < base->nkv; i++) keep += !(base->kv[i].klen >= 10 && !memcmp(base->kv[i].key, "tokenizer.", 10));
  uint8_t h[24], v[4];
  memcpy(h, "GGUF", 4);
  ag_put_u32le(h + 4, base->ver);
  ag_put_u64le(h + 8, 0);
  ag_put_u64le(h + 16, keep + 8);
  fwrite(h, 1, sizeof h, f);
  for (size_t i = 0; i < base->nkv; i++)
    if (!(base->kv[i].klen >= 10 && !memcmp(base->kv[i].key, "tokenizer.", 10)))
      fwrite(base->kv[i].raw, 1, base->kv[i].rawlen, f);
  w_key(f, "tokenizer.ggml.model", G_STR);
  w_bytes(f, "gpt2", 4);
  w_key(f, "tokenizer.ggml.pre", G_STR);
  w_bytes(f, pre, strlen(pre));
  w_arr(f, "tokenizer.ggml.tokens", G_STR, e->v);
  for (size_t i = 0; i < e->v; i++) w_bytes(f, e->p[i], e->len[i]);
  w_arr(f, "tokenizer.ggml.token_type", 5, e->v);
  for (size_t i = 0; i < e->v; i++) {
    ag_put_u32le(v, (uint32_t)e->type[i]);
    fwrite(v, 1, 4, f);
  }
  w_arr(f, "tokenizer.ggml.merges", G_STR, e->nm);
  for (size_t i = 0; i < e->nm; i++) w_bytes(f, e->p[e->v + i], e->len[e->v + i]);
  w_key(f, "tokenizer.ggml.bos_token_id", 4);
  ag_put_u32le(v, AG_TOK_EOT);
  fwrite(v, 1, 4, f);
  w_key(f, "tokenizer.ggml.eos_token_id", 4);
  fwrite(v, 1, 4, f);
  w_key(f, "tokenizer.ggml.add_bos_token", 7);
  fputc(1, f);
  return fclose(f) ? -1 : 0;
}

/* ---------- the comparison corpus ---------- */

typedef struct {
  uint64_t s;
} rng;

static uint64_t rnext(rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static size_t rpick(rng *r, size_t n) { return (size_t)(rnext(r) % n); }

static const char *const scripts[] = {
    "caf\u00e9", "na\u00efve", "Stra\u00dfe", "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac",
    "\u041f\u0440\u0438\u0432\u0435\u0442", "\u043c\u0438\u0440", "\u05e9\u05dc\u05d5\u05dd",
    "\u0645\u0631\u062d\u0628\u0627", "\u0645\u064e\u0631\u0652\u062d\u064e\u0628\u064b\u0627",
    "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0939\u093f\u0928\u094d\u0926\u0940", "\u4f60\u597d",
    "\u4e16\u754c", "\u65e5\u672c\u8a9e", "\u3053\u3093\u306b\u3061\u306f", "\u30ab\u30bf\u30ab\u30ca",
    "\ud55c\uad6d\uc5b4", "\uc548\ub155\ud558\uc138\uc694", "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "Ti\u1ebfng Vi\u1ec7t", "e\u0301", "\ufb01", "\u2460\u2461\u2462", "\u216b", "\u0663\u0664\u0665",
    "\uff11\uff12\uff13", "\u00b2\u00b3", "\u00bd", "\u20ac\u00a3\u00a5\u20bf", "\u2192\u21d2\u2200\u2202",
    "\u2026", "\u2014", "\u00ab\u00bb", "\u201cquoted\u201d", "\u2018single\u2019", "\U0001f44b",
    "\U0001f44b\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1eb\U0001f1f7",
    "\u2764\ufe0f", "\U0001f642", "\u200b", "\u00a0", "\u3000", "\u2003", "\u202f", "\xc2\x85", "\ufeff",
    "\u00ad", "\u01c4", "\U0001d400\U0001d401", "\U00020000", "\ue000", "\U0002ebf0", "\u31ef",
    "\u1c89", "\u0915\u094d\u0937", "\u1100\u1161\u11a8", "\u00c5ngstr\u00f6m", "\u212b", "\u00f1",
    "\u0130stanbul", "\u03a3\u03bf\u03c6\u03af\u03b1", "\u10d0\u10d1\u10d2", "\u0531\u0532",
    "\u1200\u1201", "\u13a0\u13a1", "\u0f00", "\u1780\u1781", "\u0d05\u0d06", "\u0b85\u0b86"};

static const char *const specials[] = {
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>",
    "<pad>", "<unk>", "<mask>", "[multimodal]", "</s>", "<s>", "<repo_name>", "<reponame>", "<file_sep>",
    "<unused5>", "<unused6241>", "<start_of_image>", "<end_of_image>", "<table>", "</td>", "<b>", "<|im_",
    "<start_of_", "<<|im_end|>>", "<|im_end|><|im_end|>", " <|im_start|> ", "<|IM_END|>", "<jupyter_code>",
    "<empty_output>", "<gh_stars>"};

static const char *const contractions[] = {"don't", "DON'T", "I'm", "we'll", "they've", "she'd", "it's", "'s",
                                           "''", "'", "rock'n'roll", "O'Neil", "it\u2019s", "'twas", "y'all",
                                           "I'D", "You'Re", "'ll", "'ve'd"};

static const char *const invalid[] = {"\x80", "\xbf", "\xc0\x80", "\xc3", "\xe2\x82", "\xed\xa0\x80",
                                      "\xfe", "\xff", "\xf0\x9f", "\xc3(", "a\xff\x62", "\xe2\x82\xac\x80"};

static const char *const code[] = {
    "int main(int argc, char **argv) {\n\treturn 0;\n}\n",
    "def f(x):\n    return x**2  # square\n",
    "for (i = 0; i < n; i++) a[i] += b[i] * 3.5e-7;",
    "{\"key\": [1, 2, 3], \"v\": null, \"s\": \"a\\tb\"}",
    "    if x != y and not z:\n        print(f\"{x!r}\")\n",
    "$ ls -la /usr/bin | grep -v '^d' > out.txt 2>&1",
    "SELECT * FROM users WHERE id=42 AND name LIKE '%o_%';",
    "<div class=\"x\"><b>bold</b> <table><tr><td>1</td></tr></table></div>",
    "x := y << 2 | 0xFF; // mask",
    "std::vector<int> v{1,2,3}; auto it = v.begin();",
    "#include <stdio.h>\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\n",
    "    \t  mixed indentation\n\t\t\tdeep",
    "a = b ?? c; c ||= d; e **= 2; f ~= /re+gex?/i;",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
    "@decorator\nclass Foo(Bar):\n    '''doc'''\n    pass\n",
    "    \"\"\"\n    Returns:\n        int: the answer\n    \"\"\"\n",
    "ptr->field[idx]->next = &node; /* C */",
    "echo \"$HOME\" && cd ~/src/../x; exit $?",
    "\\begin{equation} e^{i\\pi} + 1 = 0 \\end{equation}",
    "https://example.com/path?q=a+b&x=%20y#frag"};

static const char *const ws[] = {" ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", "\n\n\n", "\u00a0", "\u3000",
                                 "\v", "\f", "\r", " \n", "\t\n", "\n ", "    "};

static const char *const words[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "Hello",
                                    "WORLD", "token", "izer", "llama", "Agora", "x", "I", "a", "naming",
                                    "ThisIsCamelCase", "snake_case_name", "ALLCAPS", "mIxEd"};

static void put_num(ag_buf *b, rng *r) {
  char tmp[64];
  switch (rpick(r, 12)) {
  case 0: {
    size_t n = 1 + rpick(r, 25);
    for (size_t i = 0; i < n; i++) ag_buf_put_u8(b, (uint8_t)('0' + rpick(r, 10)));
    return;
  }
  case 1: snprintf(tmp, sizeof tmp, "%zu.%zu", rpick(r, 100000), rpick(r, 1000000)); break;
  case 2: snprintf(tmp, sizeof tmp, "%zu,%03zu,%03zu", rpick(r, 1000), rpick(r, 1000), rpick(r, 1000)); break;
  case 3: snprintf(tmp, sizeof tmp, "-%zu", rpick(r, 100000)); break;
  case 4: snprintf(tmp, sizeof tmp, "%zue-%zu", rpick(r, 10), rpick(r, 30)); break;
  case 5: snprintf(tmp, sizeof tmp, "0x%llX", (unsigned long long)rnext(r)); break;
  case 6: snprintf(tmp, sizeof tmp, "20%02zu-%02zu-%02zu", rpick(r, 100), 1 + rpick(r, 12), 1 + rpick(r, 28)); break;
  case 7: snprintf(tmp, sizeof tmp, "%02zu:%02zu:%02zu", rpick(r, 24), rpick(r, 60), rpick(r, 60)); break;
  case 8: snprintf(tmp, sizeof tmp, "v%zu.%zu.%zu", rpick(r, 10), rpick(r, 20), rpick(r, 100)); break;
  case 9: snprintf(tmp, sizeof tmp, "$%zu,%03zu.%02zu (%zu%%)", rpick(r, 100), rpick(r, 1000), rpick(r, 100), rpick(r, 101)); break;
  case 10: snprintf(tmp, sizeof tmp, "abc%zudef%zu", rpick(r, 1000), rpick(r, 100000)); break;
  default: snprintf(tmp, sizeof tmp, "%zu %03zu %03zu", rpick(r, 1000), rpick(r, 1000), rpick(r, 1000)); break;
  }
  ag_buf_puts(b, tmp);
}

static void put_any(ag_buf *b, rng *r) {
  switch (rpick(r, 8)) {
  case 0: ag_buf_puts(b, scripts[rpick(r, AG_ARRAY_LEN(scripts))]); break;
  case 1: ag_buf_puts(b, specials[rpick(r, AG_ARRAY_LEN(specials))]); break;
  case 2: ag_buf_puts(b, contractions[rpick(r, AG_ARRAY_LEN(contractions))]); break;
  case 3: ag_buf_puts(b, invalid[rpick(r, AG_ARRAY_LEN(invalid))]); break;
  case 4: ag_buf_puts(b, ws[rpick(r, AG_ARRAY_LEN(ws))]); break;
  case 5: put_num(b, r); break;
  case 6: ag_buf_puts(b, words[rpick(r, AG_ARRAY_LEN(words))]); break;
  default: ag_buf_puts(b, code[rpick(r, AG_ARRAY_LEN(code))]); break;
  }
}

/* A run of one whitespace, long enough to pass the longest whitespace tokens (31 in Gemma). */
static void put_ws_run(ag_buf *b, rng *r) {
  static const char *const one[] = {" ", "\t", "\n", "\u00a0", "\r\n", "\u3000"};
  const char *w = one[rpick(r, AG_ARRAY_LEN(one))];
  for (size_t i = 0, n = 1 + rpick(r, 45); i < n; i++) ag_buf_puts(b, w);
}

typedef struct {
  uint8_t *d;
  size_t len;
} blob;

/* Fortunes (scripts/bootstrap corpus), one per entry; none when not installed. */
static void read_fortunes(blob **out, size_t *n) {
  static const char *const files[] = {"art", "computers", "cookie", "definitions", "education", "food",
                                      "fortunes", "humorists", "kids", "law", "linux", "literature", "love",
                                      "magic", "medicine", "miscellaneous", "news", "people", "pets",
                                      "platitudes", "politics", "riddles", "science", "songs-poems",
                                      "sports", "startrek", "wisdom", "work", "zippy"};
  *out = NULL;
  *n = 0;
  for (size_t i = 0; i < AG_ARRAY_LEN(files); i++) {
    char path[256];
    snprintf(path, sizeof path, "/usr/share/games/fortunes/%s", files[i]);
    uint8_t *d;
    size_t len;
    if (ag_read_file(path, 1 << 24, &d, &len)) continue;
    size_t s = 0;
    for (size_t p = 0; p <= len; p++) {
      int sep = p == len || (d[p] == '%' && (p == 0 || d[p - 1] == '\n') && (p + 1 == len || d[p + 1] == '\n'));
      if (!sep) continue;
      if (p > s + 1) {
        size_t l = p - s;
        *out = ag_xrealloc(*out, (*n + 1) * sizeof(blob));
        (*out)[*n].d = ag_xmalloc(l);
        memcpy((*out)[*n].d, d + s, l);
        (*out)[(*n)++].len = l;
      }
      s = p + 2;
    }
    free(d);
  }
}

/* The texts: prose, code, numbers, scripts, whitespace runs, special-token strings, invalid
 * UTF-8, and mixtures, deterministically from a seed. */
static blob *make_corpus(size_t n) {
  blob *fort;
  size_t nf;
  read_fortunes(&fort, &nf);
  if (!nf) printf("  (no fortunes installed: scripts/bootstrap corpus adds English prose)\n");
  rng r = {0x5eed};
  blob *t = ag_xcalloc(n, sizeof(blob));
  ag_buf b;
  ag_buf_init(&b);
  for (size_t i = 0; i < n; i++) {
    ag_buf_reset(&b);
    int kind = (int)(i % 10);
    if (kind <= 2 && nf) { /* a fortune, whole (tabs, indentation, newlines and all) */
      blob *f = &fort[rpick(&r, nf)];
      ag_buf_put(&b, f->d, AG_MIN(f->len, 700));
    } else if (kind == 3 && nf) { /* a line of one, with numbers and case changes */
      blob *f = &fort[rpick(&r, nf)];
      size_t s = rpick(&r, f->len), e = s;
      while (e < f->len && f->d[e] != '\n') e++;
      for (size_t j = s; j < e; j++) {
        uint8_t c = f->d[j];
        if (rpick(&r, 9) == 0 && c >= 'a' && c <= 'z') c = (uint8_t)(c - 32);
        ag_buf_put_u8(&b, c);
        if (rpick(&r, 40) == 0) put_num(&b, &r);
      }
    } else if (kind == 4) {
      if (rpick(&r, 3) == 0) put_ws_run(&b, &r);
      ag_buf_puts(&b, code[rpick(&r, AG_ARRAY_LEN(code))]);
      if (rpick(&r, 2)) ag_buf_puts(&b, code[rpick(&r, AG_ARRAY_LEN(code))]);
    } else if (kind == 5) {
      for (size_t k = 0, m = 1 + rpick(&r, 6); k < m; k++) {
        put_num(&b, &r);
        ag_buf_puts(&b, rpick(&r, 3) ? " " : rpick(&r, 2) ? ", " : "x");
      }
    } else if (kind == 6) {
      for (size_t k = 0, m = 1 + rpick(&r, 8); k < m; k++) {
        ag_buf_puts(&b, scripts[rpick(&r, AG_ARRAY_LEN(scripts))]);
        if (rpick(&r, 3)) ag_buf_puts(&b, rpick(&r, 4) ? " " : ws[rpick(&r, AG_ARRAY_LEN(ws))]);
      }
    } else if (kind == 7) {
      for (size_t k = 0, m = 1 + rpick(&r, 6); k < m; k++) {
        if (rpick(&r, 2)) put_ws_run(&b, &r);
        else ag_buf_puts(&b, ws[rpick(&r, AG_ARRAY_LEN(ws))]);
        ag_buf_puts(&b, words[rpick(&r, AG_ARRAY_LEN(words))]);
      }
      if (rpick(&r, 2)) put_ws_run(&b, &r);
    } else if (kind == 8) { /* chat turns with special-token strings */
      int gemma = rpick(&r, 2);
      for (size_t k = 0, m = 1 + rpick(&r, 3); k < m; k++) {
        ag_buf_puts(&b, gemma ? "<start_of_turn>user\n" : "<|im_start|>user\n");
        if (nf) {
          blob *f = &fort[rpick(&r, nf)];
          ag_buf_put(&b, f->d, AG_MIN(f->len, 200));
        } else ag_buf_puts(&b, words[rpick(&r, AG_ARRAY_LEN(words))]);
        ag_buf_puts(&b, gemma ? "<end_of_turn>\n<start_of_turn>model\n" : "<|im_end|>\n<|im_start|>assistant\n");
        if (rpick(&r, 2)) ag_buf_puts(&b, specials[rpick(&r, AG_ARRAY_LEN(specials))]);
      }
    } else { /* everything mixed */
      for (size_t k = 0, m = 1 + rpick(&r, 12); k < m; k++) put_any(&b, &r);
    }
    if (i % 97 == 0) ag_buf_put_u8(&b, 0); /* a NUL now and then */
    t[i].d = ag_xmalloc(b.len + 1);
    memcpy(t[i].d, b.data, b.len);
    t[i].len = b.len;
  }
  ag_buf_free(&b);
  for (size_t i = 0; i < nf; i++) free(fort[i].d);
  free(fort);
  return t;
}

/* ---------- comparison with llama.cpp ---------- */

#define N_TEXTS 20500
#define N_VARIANT 5000 /* texts per extra pre-tokenizer: llama.cpp's std::regex ones are slow */

static char tmpdir[256];
static blob *corpus;

static const char *ref_python(void) {
  static char p[1024];
  const char *e = getenv("AGORA_REF_PYTHON");
  if (e && *e) return e;
  snprintf(p, sizeof p, "%s/.cache/ref-venv/bin/python", AGORA_SRC_DIR);
  return p;
}

static const char *model_path(const char *name) {
  static char p[2][1024];
  static int k;
  const char *e = getenv("AGORA_MODELS");
  k ^= 1;
  if (e && *e) snprintf(p[k], sizeof p[k], "%s/%s", e, name);
  else snprintf(p[k], sizeof p[k], "%s/.cache/models/%s", AGORA_SRC_DIR, name);
  return p[k];
}

static void cleanup(void) {
  if (!tmpdir[0]) return;
  char p[512];
  static const char *const files[] = {"texts.hex", "texts-few.hex", "ids.txt", "ref.err"};
  for (size_t i = 0; i < AG_ARRAY_LEN(files); i++) {
    snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
    unlink(p);
  }
  rmdir(tmpdir);
  for (size_t i = 0; corpus && i < N_TEXTS; i++) free(corpus[i].d);
  free(corpus);
}

/* Whether the comparison can run; says why not. */
static int ready(const char *model) {
  if (access(ref_python(), X_OK)) {
    printf("SKIP: no reference venv at %s (make the llama-cpp-python venv; see tests/ref/tok_ref.py)\n",
           ref_python());
    return 0;
  }
  if (access(model, R_OK)) {
    printf("SKIP: no model file %s (scripts/bootstrap models)\n", model);
    return 0;
  }
  if (!tmpdir[0]) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/agora-tok-XXXXXX");
    if (!mkdtemp(tmpdir)) return 0;
    atexit(cleanup);
    corpus = make_corpus(N_TEXTS);
    size_t bytes = 0;
    for (size_t i = 0; i < N_TEXTS; i++) bytes += corpus[i].len;
    printf("  corpus: %d texts, %zu bytes\n", N_TEXTS, bytes);
    for (int few = 0; few < 2; few++) {
      char path[512];
      snprintf(path, sizeof path, "%s/texts%s.hex", tmpdir, few ? "-few" : "");
      FILE *f = fopen(path, "w");
      if (!f) return 0;
      for (size_t i = 0; i < (few ? N_VARIANT : N_TEXTS); i++) {
        for (size_t j = 0; j < corpus[i].len; j++) fprintf(f, "%02x", corpus[i].d[j]);
        fputc('\n', f);
      }
      fclose(f);
    }
  }
  return 1;
}

static void print_text(const blob *t) {
  fputs("    text: \"", stderr);
  for (size_t j = 0; j < t->len && j < 300; j++) {
    uint8_t c = t->d[j];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') fputc(c, stderr);
    else fprintf(stderr, "\\x%02x", c);
  }
  fputs("\"\n", stderr);
}

/* Tokenizes the corpus with t and with llama.cpp on model; returns the texts that differ. */
static size_t compare(const ag_tokenizer *t, const char *model, int flags, size_t ntexts) {
  char out[512], cmd[4096];
  snprintf(out, sizeof out, "%s/ids.txt", tmpdir);
  snprintf(cmd, sizeof cmd, "'%s' '%s/tests/ref/tok_ref.py' tokenize '%s' '%s/texts%s.hex' '%s' %s %s 2>'%s/ref.err'",
           ref_python(), AGORA_SRC_DIR, model, tmpdir, ntexts < N_TEXTS ? "-few" : "", out,
           flags & AG_TOK_PARSE_SPECIAL ? "--special" : "", flags & AG_TOK_ADD_SPECIAL ? "--add-special" : "",
           tmpdir);
  double t0 = ag_mono_s();
  int rc = system(cmd);
  CHECK_EQ(rc, 0);
  double t1 = ag_mono_s();
  uint8_t *ref;
  size_t len;
  if (rc || ag_read_file(out, 1 << 28, &ref, &len)) return N_TEXTS;
  size_t bad = 0, o = 0;
  uint32_t *ids = NULL;
  size_t cap = 0;
  for (size_t i = 0; i < ntexts; i++) {
    size_t nids = 0;
    CHECK_OK(ag_tok_encode_ex(t, corpus[i].d, corpus[i].len, flags, &ids, &nids, &cap));
    /* parse the reference line */
    int same = 1;
    size_t k = 0;
    while (o < len && ref[o] != '\n') {
      char *end;
      unsigned long v = strtoul((const char *)ref + o, &end, 10);
      o = (size_t)((const uint8_t *)end - ref);
      if (k >= nids || ids[k] != v) same = 0;
      k++;
      while (o < len && ref[o] == ' ') o++;
    }
    o++;
    if (k != nids) same = 0;
    if (!same && bad++ < 5) {
      fprintf(stderr, "  %s (flags %d) text %zu differs:\n", model, flags, i);
      print_text(&corpus[i]);
      size_t s = 0, e = o - 1;
      for (s = e; s > 0 && ref[s - 1] != '\n'; s--) {}
      fprintf(stderr, "    llama.cpp: %.*s\n    agora:    ", (int)AG_MIN(e - s, 400), ref + s);
      for (size_t j = 0; j < nids && j < 80; j++) fprintf(stderr, " %u", ids[j]);
      fputc('\n', stderr);
    }
  }
  printf("  %s flags %d: %zu texts, %zu differ (llama.cpp %.1f s, agora %.1f s)\n", model, flags, ntexts, bad,
         t1 - t0, ag_mono_s() - t1);
  free(ids);
  free(ref);
  return bad;
}

/* Every token's piece, end-of-generation mark, and BOS/EOS against llama.cpp's; returns the
 * tokens that differ. */
static size_t compare_pieces(const ag_tokenizer *t, const char *model) {
  char out[512], cmd[4096];
  snprintf(out, sizeof out, "%s/ids.txt", tmpdir);
  snprintf(cmd, sizeof cmd, "'%s' '%s/tests/ref/tok_ref.py' pieces '%s' '%s' 2>'%s/ref.err'", ref_python(),
           AGORA_SRC_DIR, model, out, tmpdir);
  int rc = system(cmd);
  CHECK_EQ(rc, 0);
  uint8_t *ref;
  size_t len;
  if (rc || ag_read_file(out, 1 << 28, &ref, &len)) return 1;
  size_t bad = 0, n = (size_t)ag_tok_vocab(t);
  char *line = (char *)ref;
  for (size_t id = 0; id < n; id++) {
    char *end = strchr(line, '\n');
    if (!end) {
      bad++;
      break;
    }
    *end = 0;
    unsigned long rid = strtoul(line, &line, 10);
    long eog = strtol(line, &line, 10);
    while (*line == ' ') line++;
    size_t l, hl = strlen(line);
    const uint8_t *p = ag_tok_piece(t, (uint32_t)id, &l);
    int same = rid == id && eog == ag_tok_is_eog(t, (uint32_t)id) && hl == 2 * l;
    for (size_t j = 0; same && j < l; j++) {
      unsigned v;
      same = sscanf(line + 2 * j, "%2x", &v) == 1 && v == p[j];
    }
    if (!same && bad++ < 5)
      fprintf(stderr, "  %s token %zu: llama.cpp eog %ld piece %s, agora eog %d piece of %zu bytes\n", model, id, eog,
              line, ag_tok_is_eog(t, (uint32_t)id), l);
    line = end + 1;
  }
  long bos = -2, eos = -2;
  if (sscanf(line, "bos %ld eos %ld", &bos, &eos) != 2 || bos != ag_tok_bos(t) || eos != ag_tok_eos(t)) bad++;
  printf("  %s: %zu token pieces, %zu differ\n", model, n, bad);
  free(ref);
  return bad;
}

static ag_tokenizer *load(const char *path, gmeta *m) {
  fspec f;
  ag_tokenizer *t = NULL;
  if (gmeta_read(path, m) || fspec_from(m, &f)) {
    CHECK(!"the model's GGUF metadata reads");
    return NULL;
  }
  CHECK_OK(ag_tok_from_spec(&f.s, &t));
  fspec_free(&f);
  return t;
}

#define SMOLLM2 "SmolLM2-135M-Instruct.Q4_1.gguf"
#define GEMMA3 "gemma-3-270m-q4_k_m.gguf"

TEST(smollm2_matches_llama_cpp) {
  const char *mp = model_path(SMOLLM2);
  if (!ready(mp)) {
    CHECK(1);
    return;
  }
  gmeta m;
  ag_tokenizer *t = load(mp, &m);
  if (t) {
    CHECK_EQ(ag_tok_vocab(t), 49152);
    CHECK(ag_tok_is_eog(t, 2));      /* <|im_end|> */
    CHECK(ag_tok_is_eog(t, 0));      /* <|endoftext|> */
    CHECK(ag_tok_is_eog(t, 4));      /* <reponame>: llama.cpp's FIM repo name */
    CHECK(!ag_tok_is_eog(t, 1));     /* <|im_start|> */
    CHECK_EQ(ag_tok_find(t, "<|im_start|>"), 1);
    CHECK_EQ(compare_pieces(t, mp), 0);
    CHECK_EQ(compare(t, mp, 0, N_TEXTS), 0);
    CHECK_EQ(compare(t, mp, AG_TOK_PARSE_SPECIAL | AG_TOK_ADD_SPECIAL, N_TEXTS), 0);
  }
  ag_tok_free(t);
  gmeta_free(&m);
}

TEST(gemma3_matches_llama_cpp) {
  const char *mp = model_path(GEMMA3);
  if (!ready(mp)) {
    CHECK(1);
    return;
  }
  gmeta m;
  ag_tokenizer *t = load(mp, &m);
  if (t) {
    CHECK_EQ(ag_tok_vocab(t), 262144);
    CHECK_EQ(ag_tok_kind(t), AG_TOKK_SPM);
    CHECK(ag_tok_is_eog(t, 106)); /* <end_of_turn> */
    CHECK(ag_tok_is_eog(t, 1));   /* <eos> */
    CHECK_EQ(ag_tok_bos(t), 2);
    CHECK_EQ(compare_pieces(t, mp), 0);
    CHECK_EQ(compare(t, mp, 0, N_TEXTS), 0);
    CHECK_EQ(compare(t, mp, AG_TOK_PARSE_SPECIAL | AG_TOK_ADD_SPECIAL, N_TEXTS), 0);
  }
  ag_tok_free(t);
  gmeta_free(&m);
}

/* SmolLM2's vocabulary under the other pre-tokenizers: a tensorless copy of its metadata with
 * tokenizer.ggml.pre changed, for llama.cpp and for us. */
TEST(pretokenizers_match_llama_cpp) {
  const char *mp = model_path(SMOLLM2);
  if (!ready(mp)) {
    CHECK(1);
    return;
  }
  gmeta m;
  if (gmeta_read(mp, &m)) {
    CHECK(!"the model's GGUF metadata reads");
    return;
  }
  static const char *const pres[] = {"llama-bpe", "qwen2", "gpt-2", "default"};
  for (size_t i = 0; i < AG_ARRAY_LEN(pres); i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/variant-%s.gguf", tmpdir, pres[i]);
    CHECK_OK(gmeta_write_variant(&m, pres[i], path));
    fspec f;
    ag_tokenizer *t = NULL;
    CHECK_OK(fspec_from(&m, &f));
    f.s.pre = pres[i];
    CHECK_OK(ag_tok_from_spec(&f.s, &t));
    if (t) CHECK_EQ(compare(t, path, 0, N_VARIANT), 0);
    ag_tok_free(t);
    fspec_free(&f);
    unlink(path);
  }
  gmeta_free(&m);
}

/* Agora's own tokenizer trained with llama-bpe, exported: llama.cpp tokenizes the file's
 * vocabulary exactly as Agora does (issue 12's "Agora's own exported GGUF files"). The file
 * borrows SmolLM2's hyper-parameters so that llama.cpp loads it. */
TEST(agora_export_matches_llama_cpp) {
  const char *mp = model_path(SMOLLM2);
  if (!ready(mp)) {
    CHECK(1);
    return;
  }
  gmeta m;
  if (gmeta_read(mp, &m)) {
    CHECK(!"the model's GGUF metadata reads");
    return;
  }
  ag_buf text;
  ag_buf_init(&text);
  for (size_t i = 0; i < N_TEXTS && text.len < (200u << 10); i += 10) ag_buf_put(&text, corpus[i].d, corpus[i].len);
  ag_tokenizer *t = NULL;
  CHECK_OK(ag_tok_train_pre(text.data, text.len, 1024, "llama-bpe", &t));
  if (t) {
    exported e;
    export_vocab(t, &e);
    char path[512];
    snprintf(path, sizeof path, "%s/agora-export.gguf", tmpdir);
    CHECK_OK(write_agora_vocab(&m, &e, ag_tok_pre(t), path));
    CHECK_EQ(compare(t, path, 0, N_VARIANT), 0);
    CHECK_EQ(compare(t, path, AG_TOK_PARSE_SPECIAL | AG_TOK_ADD_SPECIAL, N_VARIANT), 0);
    unlink(path);
    exported_free(&e);
  }
  ag_tok_free(t);
  ag_buf_free(&text);
  gmeta_free(&m);
}

TEST_MAIN(unicode_classes_follow_llama_cpp, utf8_decodes_leniently_like_llama_cpp, pretok_names, pretok_gpt2,
          pretok_smollm_digits_alone, pretok_llama3, pretok_qwen2, pretok_default, gpt2_bpe_merges_by_rank,
          gpt2_flags_and_defaults, llama3_ignore_merges, spm_merges_by_score_with_byte_fallback,
          spec_is_validated, large_vocabulary, agora_tokenizer_new_calls, smollm2_matches_llama_cpp,
          gemma3_matches_llama_cpp, pretokenizers_match_llama_cpp, agora_tokenizer_with_llama_cpp_pretokenizer,
          agora_export_matches_llama_cpp)
