/*
 * tokenizer.h — the engine's tokenizers: Agora's own byte-level BPE, and the vocabularies of
 * GGUF files (tokenizer.ggml.model "gpt2" and "llama"), behind one opaque type.
 *
 * Agora's own (AG_TOKK_AGORA): ids 0..255 are the 256 bytes, id 256 is <|endoftext|> (document
 * separator, also the stop token of generation), and id 257 + i is merge i (the concatenation
 * of two earlier ids). Encoding splits text into pre-tokens (an optional space followed by a
 * run of letters, a run of digits, a run of other non-space bytes, or a run of whitespace; at
 * most 64 bytes) and applies merges in rank order inside each pre-token, so any byte string
 * encodes and decodes back exactly. Training is deterministic: most frequent pair first, ties
 * to the smallest (left, right).
 *
 * From a GGUF file (AG_TOKK_GPT2, AG_TOKK_SPM): ids are the file's, and encoding gives the ids
 * llama.cpp 0.3.36 gives (llama_tokenize), checked on real files by tests/test_tokenizer.c:
 *   - special tokens: control and user-defined token strings are cut out of the text first,
 *     longest first (llama.cpp's tokenizer_st_partition). User-defined ones always are;
 *     control (and unknown) ones only with AG_TOK_PARSE_SPECIAL.
 *   - gpt2: each remaining piece is decoded as UTF-8 (invalid bytes read as U+FFFD), split by
 *     the pre-tokenizer tokenizer.ggml.pre names (pretok.h), spelled with GPT-2's byte-to-
 *     unicode map, and merged by rank; a word that ends up no token falls back to one token
 *     per byte where the vocabulary has one (llama.cpp drops the others). The llama-bpe
 *     pre-tokenizer takes a word that is itself a token whole (ignore_merges).
 *   - spm: each piece gets a leading space when add_space_prefix is set and it starts the text
 *     or follows a special token; spaces become U+2581; characters merge by best score, ties to
 *     the leftmost; what is no token at the end goes out as <0xXX> byte tokens.
 *   - AG_TOK_ADD_SPECIAL adds BOS (and EOS) as add_bos/add_eos say, defaulting like llama.cpp:
 *     spm adds BOS, gpt2 does not except llama-bpe.
 * Token attributes follow llama.cpp's loader, which also promotes some tokens by their text:
 * end-of-generation names (<|im_end|>, <end_of_turn>, <|endoftext|>, </s>, ...) and FIM names
 * become control tokens, and <|channel|>/<|message|>/<|start|>/<|constrain|> user-defined.
 * Does not: normalize text (no NFC/NFD), implement WPM/UGM/RWKV vocabularies, per-model
 * lstrip/rstrip rules (phi-3, jina), or FIM token ids given by GGUF keys.
 */
#ifndef AG_ENGINE_TOKENIZER_H
#define AG_ENGINE_TOKENIZER_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

#define AG_TOK_EOT 256
#define AG_TOK_BASE 257
#define AG_TOK_MAX_VOCAB 65536 /* Agora's own tokenizers only; GGUF vocabularies have no limit */

typedef struct ag_tokenizer ag_tokenizer;

enum { AG_TOKK_AGORA = 0, AG_TOKK_GPT2 = 1, AG_TOKK_SPM = 2 };

/* Token types of tokenizer.ggml.token_type. */
enum {
  AG_TOKT_NORMAL = 1,
  AG_TOKT_UNKNOWN = 2,
  AG_TOKT_CONTROL = 3,
  AG_TOKT_USER_DEFINED = 4,
  AG_TOKT_UNUSED = 5,
  AG_TOKT_BYTE = 6
};

/* A GGUF vocabulary as its keys hold it. Borrowed: ag_tok_from_spec copies what it keeps. */
typedef struct {
  int kind;                        /* AG_TOKK_GPT2 (tokenizer.ggml.model "gpt2") or AG_TOKK_SPM ("llama") */
  const char *pre;                 /* tokenizer.ggml.pre, NULL = "default"; ignored for spm */
  size_t n_tokens;                 /* tokenizer.ggml.tokens */
  const uint8_t *const *tok;       /* (n_tokens) token strings as stored in the file */
  const size_t *tok_len;           /* (n_tokens) their lengths in bytes */
  const float *scores;             /* (n_tokens) tokenizer.ggml.scores, or NULL (all 0) */
  const int32_t *types;            /* (n_tokens) tokenizer.ggml.token_type (AG_TOKT_*), or NULL (all normal) */
  size_t n_merges;                 /* tokenizer.ggml.merges (gpt2; required there) */
  const uint8_t *const *merge;     /* (n_merges) "left right" strings, rank = index */
  const size_t *merge_len;         /* (n_merges) */
  int32_t bos, eos, eot, unk, pad; /* tokenizer.ggml.*_token_id, -1 when absent */
  int add_bos, add_eos;            /* tokenizer.ggml.add_bos_token / add_eos_token, 0/1, -1 absent */
  int add_space_prefix;            /* tokenizer.ggml.add_space_prefix, 0/1, -1 absent */
} ag_tok_spec;

/* Trains up to vocab_size - 257 merges on text. *out owned by caller (ag_tok_free). */
int ag_tok_train(const uint8_t *text, size_t len, int vocab_size, ag_tokenizer **out);
/* Builds a tokenizer from merge pairs (left, right) x n; validates every id. */
int ag_tok_from_merges(const uint32_t *pairs, size_t n, ag_tokenizer **out);
/* Agora's own BPE with one of llama.cpp's pre-tokenizers (pretok.h names; NULL = the legacy
 * rule above, which no llama.cpp pre-tokenizer reproduces). Training counts the words that
 * pre-tokenizer makes of the text (decoded as UTF-8, invalid bytes as U+FFFD), and encoding is
 * llama.cpp's encoding of the vocabulary Agora exports (GPT-2 spelling of the pieces, merges
 * "A B", <|endoftext|> a control token and BOS = EOS, add_bos_token true,
 * tokenizer.ggml.pre = the name): a model exported with tokenizer.ggml.pre = ag_tok_pre(t)
 * tokenizes the same in llama.cpp. Ids, pieces and merges keep the meaning above. */
int ag_tok_train_pre(const uint8_t *text, size_t len, int vocab_size, const char *pre, ag_tokenizer **out);
int ag_tok_from_merges_pre(const uint32_t *pairs, size_t n, const char *pre, ag_tokenizer **out);
/* The pre-tokenizer's name (canonical: "default", "gpt-2", "smollm", "llama-bpe", "qwen2"), or
 * NULL for Agora's legacy rule and for spm vocabularies. Borrowed, static. */
const char *ag_tok_pre(const ag_tokenizer *t);
/* Builds a tokenizer from a GGUF vocabulary. Validates everything (kind, pre-tokenizer, sizes,
 * types, scores not NaN, merges splittable, special ids in range) and fails with an AG_E_*
 * code and a message naming what is wrong; an unknown tokenizer.ggml.pre is AG_E_UNSUPPORTED.
 * Absent bos/eos/unk take llama.cpp's defaults (spm: 1, 2, 0; gpt2: 11, 11, none) when in
 * range. Copies what it keeps; memory is linear in the vocabulary and merges. *out owned by
 * caller (ag_tok_free). */
int ag_tok_from_spec(const ag_tok_spec *s, ag_tokenizer **out);
/* A tokenizer equal to t (GGUF ones share their immutable tables). */
int ag_tok_clone(const ag_tokenizer *t, ag_tokenizer **out);
void ag_tok_free(ag_tokenizer *t); /* accepts NULL */

int ag_tok_kind(const ag_tokenizer *t); /* AG_TOKK_* */
int ag_tok_vocab(const ag_tokenizer *t); /* number of ids */
/* Agora's own merges (0 for GGUF tokenizers, whose merges are strings). */
size_t ag_tok_n_merges(const ag_tokenizer *t);
/* Merge i as (left, right). */
void ag_tok_merge(const ag_tokenizer *t, size_t i, uint32_t *left, uint32_t *right);
/* The bytes token id stands for (borrowed, valid while t lives), as llama.cpp's
 * llama_token_to_piece(special = false) gives them: gpt2 tokens with the byte-to-unicode
 * spelling undone, spm tokens with U+2581 as a space and <0xXX> as that byte, user-defined
 * tokens as their text, and control, unknown and unused tokens as no bytes (so is
 * <|endoftext|> in Agora's own). NULL and *len = 0 for an id outside the vocabulary. */
const uint8_t *ag_tok_piece(const ag_tokenizer *t, uint32_t id, size_t *len);
/* The token's string as the file stores it (borrowed; GGUF only; Agora's own gives the piece,
 * and "<|endoftext|>" for id 256). NULL for an id outside the vocabulary. */
const uint8_t *ag_tok_text(const ag_tokenizer *t, uint32_t id, size_t *len);

/* Appends the ids of s to *ids (grown with realloc; caller frees). Same as
 * ag_tok_encode_ex(t, s, n, 0, ...): no special tokens parsed, no BOS. */
int ag_tok_encode(const ag_tokenizer *t, const uint8_t *s, size_t n, uint32_t **ids, size_t *nids,
                  size_t *cap);
#define AG_TOK_ADD_SPECIAL 1   /* add BOS/EOS per the file's flags (Agora's own: <|endoftext|> first) */
#define AG_TOK_PARSE_SPECIAL 2 /* control/user-defined token strings in the text become their ids */
/* As ag_tok_encode with AG_TOK_* flags (llama_tokenize's add_special and parse_special). */
int ag_tok_encode_ex(const ag_tokenizer *t, const uint8_t *s, size_t n, int flags, uint32_t **ids,
                     size_t *nids, size_t *cap);
/* Byte ranges of a text, sorted and disjoint. */
typedef struct {
  size_t off, len;
} ag_tok_range;
/* As ag_tok_encode_ex, except that no control token is cut out where its text overlaps one of
 * the literal ranges: there it stays text, as without AG_TOK_PARSE_SPECIAL (user-defined tokens
 * are cut out of any text, as llama.cpp does). For a chat template's text around messages
 * whose content is taken as written (docs/engine.md "Chat templates"). */
int ag_tok_encode_literal(const ag_tokenizer *t, const uint8_t *s, size_t n, int flags,
                          const ag_tok_range *lit, size_t nlit, uint32_t **ids, size_t *nids, size_t *cap);
/* The length of the longest control token's text that s[0..n) starts with; 0 when none. */
size_t ag_tok_control_at(const ag_tokenizer *t, const uint8_t *s, size_t n);
/* Appends the bytes of ids (ag_tok_piece of each) to out; AG_E_RANGE on an id outside the
 * vocabulary. */
int ag_tok_decode(const ag_tokenizer *t, const uint32_t *ids, size_t n, ag_buf *out);

int32_t ag_tok_bos(const ag_tokenizer *t); /* -1 when none; Agora's own: 256 */
int32_t ag_tok_eos(const ag_tokenizer *t);
/* Whether id ends generation: eos, eot, and the tokens llama.cpp treats so (<|im_end|>,
 * <end_of_turn>, <|endoftext|>, </s>, FIM pad/repo/sep names, ...). */
int ag_tok_is_eog(const ag_tokenizer *t, uint32_t id);
/* Id of the token whose file string is exactly text (the last such id, as llama.cpp's
 * text_to_token), -1 when none. */
int32_t ag_tok_find(const ag_tokenizer *t, const char *text);

#endif
