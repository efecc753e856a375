/*
 * intent.h — plain language to a previewable action (docs/agents.md "agora ask").
 *
 * Two halves, and only the first uses a model:
 *  1. ag_intent_decode: an instruct model reads the sentence and fills a closed form, decoded
 *     greedily under a grammar that admits only {"actions":[...]} with 1..4 actions from a
 *     fixed list, whose every name is a word of the sentence (or "me", "none"), every amount a
 *     number of the sentence (or "all", "none"), every unit one the sentence states, and a
 *     prompt a piece of the sentence. Nothing the model writes can name an address or an amount
 *     the sentence does not contain. Greedy decoding with bit-exact kernels: the same sentence
 *     and model give the same intent on every machine.
 *  2. ag_intent_resolve: deterministic code turns that intent into actions (addresses, base
 *     units) or questions: names resolve only through the wallet's keys and the address book,
 *     amounts parse as exact decimals with their unit, and anything missing, unknown or vague
 *     ("all") is a question, never a guess.
 */
#ifndef AG_SUBNETS_INTENT_H
#define AG_SUBNETS_INTENT_H

#include "core/buf.h"
#include "engine/model.h"

#include <jansson.h>
#include <stdint.h>

#define AG_INTENT_MAX_ACTIONS 4
#define AG_INTENT_MAX_SENTENCE 500 /* bytes; longer is refused before the model */

typedef struct ag_intent_model ag_intent_model;

/* Loads the model (a GGUF instruct model, or Agora's own) with threads engine threads;
 * cache_dir (NULL: none) keeps the prompt's fixed part computed once per model (a file of
 * about 40 MB for SmolLM2), so a new process starts from it. */
int ag_intent_open(const char *model_path, int threads, const char *cache_dir, ag_intent_model **out);
void ag_intent_close(ag_intent_model *im);

typedef struct {
  int prompt_tokens;  /* fed for this sentence (after the cached prefix) */
  int cached_tokens;  /* reused from the previous call */
  int sampled;        /* tokens chosen by the model under the grammar */
  int forced;         /* tokens the grammar fixed */
  int prefix_loaded;  /* the prompt's fixed part came from the cache file */
  double seconds;
} ag_intent_stats;

/* The intent of sentence as JSON text in out (appended; valid by construction). Refuses empty,
 * over-long or non-text sentences (AG_E_INVALID with a message) without running the model. */
int ag_intent_decode(ag_intent_model *im, const char *sentence, ag_buf *out, ag_intent_stats *st);

/* The grammar alone, without a model (tests and fuzzing): writes to out the intent the grammar
 * for sentence gives when, at each byte where it allows several, the choice byte choices[i]
 * (mod the number allowed; 0 once they run out) picks one in byte order. 0 with a complete
 * intent; AG_E_INVALID for a sentence decode refuses. */
int ag_intent_grammar_sample(const char *sentence, const uint8_t *choices, size_t n, ag_buf *out);

/* The completion the model continues for sentence: instructions, the examples as
 * request/JSON pairs, the sentence (appended to out). */
void ag_intent_prompt_text(const char *sentence, ag_buf *out);

/* A name the resolver may use: a wallet key or an address-book entry. */
typedef struct {
  const char *name;
  uint8_t pk[32];
  int is_key; /* a key of this wallet (it can sign), else a contact */
} ag_intent_name;

typedef struct {
  const ag_intent_name *names;
  int n;
  const char *me; /* the --from key's name, or NULL when none was given */
  uint8_t me_pk[32];
} ag_intent_book;

/* Turns intent (the decoder's JSON) for sentence into *actions (array; empty when it must ask)
 * and *questions (array of strings). Every address comes from book, every amount from the
 * sentence. New references. */
int ag_intent_resolve(const json_t *intent, const char *sentence, const ag_intent_book *book, json_t **actions,
                      json_t **questions);

#endif
