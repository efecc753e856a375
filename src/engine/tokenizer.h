/*
 * tokenizer.h — byte-level BPE trained by the engine.
 *
 * Ids 0..255 are the 256 bytes, id 256 is <|endoftext|> (document separator, also the stop
 * token of generation), and id 257 + i is merge i (the concatenation of two earlier ids).
 * Encoding splits text into pre-tokens (an optional space followed by a run of letters, a run
 * of digits, a run of other non-space bytes, or a run of whitespace) and applies merges in rank
 * order inside each pre-token, so any byte string encodes and decodes back exactly.
 * Training is deterministic: most frequent pair first, ties to the smallest (left, right).
 * Does not: normalize text, or know about Unicode beyond bytes.
 */
#ifndef AG_ENGINE_TOKENIZER_H
#define AG_ENGINE_TOKENIZER_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

#define AG_TOK_EOT 256
#define AG_TOK_BASE 257
#define AG_TOK_MAX_VOCAB 65536

typedef struct ag_tokenizer ag_tokenizer;

/* Trains up to vocab_size - 257 merges on text. *out owned by caller (ag_tok_free). */
int ag_tok_train(const uint8_t *text, size_t len, int vocab_size, ag_tokenizer **out);
/* Builds a tokenizer from merge pairs (left, right) x n; validates every id. */
int ag_tok_from_merges(const uint32_t *pairs, size_t n, ag_tokenizer **out);
void ag_tok_free(ag_tokenizer *t); /* accepts NULL */

int ag_tok_vocab(const ag_tokenizer *t);
size_t ag_tok_n_merges(const ag_tokenizer *t);
/* Merge i as (left, right). */
void ag_tok_merge(const ag_tokenizer *t, size_t i, uint32_t *left, uint32_t *right);
/* The bytes of token id (borrowed, valid while t lives); <|endoftext|> has none. */
const uint8_t *ag_tok_piece(const ag_tokenizer *t, uint32_t id, size_t *len);

/* Appends the ids of s to *ids (grown with realloc; caller frees). */
int ag_tok_encode(const ag_tokenizer *t, const uint8_t *s, size_t n, uint32_t **ids, size_t *nids,
                  size_t *cap);
/* Appends the bytes of ids to out; AG_E_RANGE on an id outside the vocabulary. */
int ag_tok_decode(const ag_tokenizer *t, const uint32_t *ids, size_t n, ag_buf *out);

#endif
