/*
 * pretok.h — pre-tokenizers of byte-level BPE vocabularies from GGUF files
 * (tokenizer.ggml.pre), each a hand-written matcher that splits text into the words BPE
 * merges inside. They reproduce llama.cpp (0.3.36) exactly, including where its own
 * matchers differ from the regex they are named after; each is listed with that regex.
 *
 * A pre-tokenizer is a list of passes. The first pass cuts the whole text; each later pass
 * cuts every piece the earlier ones made, on its own, and sees nothing outside that piece
 * (so "(?!\S)" looks only inside it). Classes: \p{L} letters, \p{N} numbers, \p{P}
 * punctuation, \s White_Space (unicode.h).
 *
 *   default    1. [\p{P}\$\+<=>\^~\|]+   runs of punctuation and those ASCII symbols
 *              2. gpt2 (below)
 *              3. \p{N}+                 runs of numbers
 *              4. [0-9][0-9][0-9]        groups of three ASCII digits, from the left
 *   gpt-2      's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   smollm     1. \p{N}                  every number code point alone
 *              2. gpt2
 *   llama-bpe  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *              ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   qwen2      as llama-bpe with \p{N} (one number at a time) for \p{N}{1,3}
 *
 * llama.cpp runs the gpt2, llama-bpe and qwen2 rules with hand-written matchers and the other
 * passes with std::regex over a text where each non-ASCII code point is replaced by its class;
 * where those and the regexes could part (code points beyond a piece, CR/LF inside \s runs,
 * invalid UTF-8 decoded as U+FFFD) we follow llama.cpp's code, and tests/test_tokenizer.c
 * pins the corners.
 * Does not: byte-encode, merge, or handle special tokens (tokenizer.c does).
 */
#ifndef AG_ENGINE_PRETOK_H
#define AG_ENGINE_PRETOK_H

#include <stddef.h>
#include <stdint.h>

enum { AG_PRE_DEFAULT, AG_PRE_GPT2, AG_PRE_SMOLLM, AG_PRE_LLAMA3, AG_PRE_QWEN2, AG_PRE_COUNT };

/* The pre-tokenizer a tokenizer.ggml.pre value names (NULL = "default"), or -1 when we do
 * not implement it. Accepts llama.cpp's aliases that behave identically for encoding
 * (e.g. "llama3", "llama-v3" for llama-bpe; "deepseek-r1-qwen" for qwen2). */
int ag_pretok_find(const char *name);
/* The canonical name of a pre-tokenizer ("default", "gpt-2", "smollm", "llama-bpe", "qwen2"). */
const char *ag_pretok_name(int pre);
/* Whether the named pre-tokenizer makes llama.cpp skip merges for words that are tokens
 * (llama-bpe) and add BOS by default. */
int ag_pretok_ignore_merges(int pre);
int ag_pretok_add_bos_default(int pre);

/* Splits cps[0..n) into words; appends the exclusive end of each word (in code points) to
 * *ends (grown with realloc, caller frees). Words are never empty. */
void ag_pretok_split(int pre, const uint32_t *cps, size_t n, size_t **ends, size_t *nends, size_t *cap);

#endif
