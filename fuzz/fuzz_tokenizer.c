/*
 * fuzz_tokenizer.c — libFuzzer target for GGUF vocabularies (ag_tok_from_spec) and their
 * encoder: the input makes a vocabulary (byte tokens plus tokens, types, scores and merges cut
 * from the input) and a text; building must give a tokenizer or a clean AG_E_* error, and
 * encoding must give ids inside the vocabulary that decode, never a crash, leak or overread.
 *
 * Input: [kind/pre/flags byte][n_tokens, bos byte][n_merges, add_bos byte] then 0x00-separated
 * pieces: the tokens, the merges, and the rest is the text.
 */
#include "core/err.h"
#include "core/util.h"
#include "engine/tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXT 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  static const char *const pres[] = {"default", "gpt-2", "smollm", "llama-bpe", "qwen2", "no-such"};
  int spm = data[0] & 1, flags = (data[0] >> 1) & 3;
  const char *pre = pres[(data[0] >> 3) % 6];
  size_t nt = data[1] % MAXT, nm = data[2] % MAXT, o = 3;
  const uint8_t *tok[256 + MAXT], *merge[MAXT];
  size_t tl[256 + MAXT], ml[MAXT];
  int32_t type[256 + MAXT];
  float score[256 + MAXT];
  char bytes[256][8];
  size_t n = 0;
  for (int b = 0; b < 256; b++) { /* byte tokens, spelled as each kind spells them */
    if (spm) snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
    else {
      uint32_t c = b <= 0x20 ? 256u + b : b >= 0x7f && b <= 0xa0 ? 289u + (b - 0x7f) : b == 0xad ? 323u : (uint32_t)b;
      if (c < 0x80) snprintf(bytes[b], sizeof bytes[b], "%c", (char)c);
      else snprintf(bytes[b], sizeof bytes[b], "%c%c", (char)(0xc0 | c >> 6), (char)(0x80 | (c & 63)));
    }
    tok[n] = (const uint8_t *)bytes[b];
    tl[n] = strlen(bytes[b]);
    type[n] = spm ? AG_TOKT_BYTE : AG_TOKT_NORMAL;
    score[n++] = -1000;
  }
  size_t got_m = 0;
  for (size_t k = 0; k < nt + nm && o < size; k++) {
    const uint8_t *p = data + o, *e = memchr(p, 0, size - o);
    size_t l = e ? (size_t)(e - p) : size - o;
    o += l + (e != NULL);
    if (k < nt) {
      tok[n] = p;
      tl[n] = l;
      type[n] = !l ? 1 : p[0] == 0xff ? 9 : p[0] % 7; /* 9 is invalid on purpose */
      score[n++] = l ? (float)(int8_t)p[l - 1] : 0;
    } else {
      merge[got_m] = p;
      ml[got_m++] = l;
    }
  }
  int32_t bos = data[1] & 0x80 ? (int32_t)n - 1 + (data[2] >> 7) : -1; /* n is out of range */
  ag_tok_spec s = {spm ? AG_TOKK_SPM : AG_TOKK_GPT2,
                   pre, n, tok, tl, score, type, got_m, merge, ml,
                   bos, -1, -1, -1, -1, (data[2] & 3) == 3 ? -1 : data[2] & 1, -1, -1};
  ag_tokenizer *t = NULL;
  int rc = ag_tok_from_spec(&s, &t);
  if (rc) {
    if (rc >= 0 || t) abort();
    return 0;
  }
  uint32_t *ids = NULL;
  size_t nids = 0, cap = 0;
  int erc = ag_tok_encode_ex(t, data + o, size - o, flags, &ids, &nids, &cap);
  if (erc > 0) abort();
  for (size_t i = 0; i < nids; i++)
    if (ids[i] >= (uint32_t)ag_tok_vocab(t)) abort();
  ag_buf out;
  ag_buf_init(&out);
  if (ag_tok_decode(t, ids, nids, &out)) abort();
  ag_buf_free(&out);
  free(ids);
  ag_tok_free(t);
  return 0;
}
