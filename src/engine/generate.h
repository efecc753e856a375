/*
 * generate.h — sampling, generation with a commitment, and receipt verification.
 *
 * Sampler (exact specification, docs/engine.md "Sampling"): for output index i the draw is
 * u = ag_philox_uniform(seed, i, AG_SAMPLE_STREAM). With penalties, each logit l_t whose token
 * t is c >= 1 times among outputs 0..i-1 becomes (l_t - (float)c * frequency) - presence first
 * (OpenAI's rule; the commitment keeps the raw logits). temperature 0 picks the first maximal logit.
 * Otherwise candidates are the top_k logits ordered by (logit descending, id ascending; with
 * top_k = 0 the whole vocabulary, so ordered when top_p < 1 and in id order when top_p = 1);
 * weights e_j = ag_expf((l_j - max) / temperature); with top_p < 1 the
 * candidates are cut after the shortest prefix whose running float sum reaches
 * top_p * (sum of all candidate weights); then the first candidate whose running sum exceeds
 * u * (sum of kept weights) is chosen. Every float operation is in a fixed order, and the
 * logits are bit-exact across machines, so a verifier reproduces every choice.
 *
 * Commitment (TOPLOC-spirited, exact): for each output index i the K largest logits of the
 * position that produced token i, as (id, float bits) ordered by (logit desc, id asc), are
 * chained: h_0 = H(params), h_{i+1} = H(h_i || i || token_i || entries), H = BLAKE2b-256 with
 * domain "agora/commit". The receipt carries the entries and h_n. Because our kernels are
 * bit-reproducible, verification compares bits exactly, with no tolerance.
 *
 * Receipt layout: docs/engine.md "Receipts". Ownership: results are written into caller
 * buffers (ag_buf is appended to; token arrays are caller-allocated with the stated capacity).
 */
#ifndef AG_ENGINE_GENERATE_H
#define AG_ENGINE_GENERATE_H

#include "core/buf.h"
#include "engine/model.h"

#include <stddef.h>
#include <stdint.h>

#define AG_SAMPLE_STREAM 0x73616d706c65ULL /* "sample" */
#define AG_COMMIT_DOMAIN "agora/commit"
#define AG_RECEIPT_MAGIC "AGRCPT01"     /* no penalties */
#define AG_RECEIPT_MAGIC_PEN "AGRCPT02" /* with a frequency or presence penalty */
#define AG_PENALTY_MAX 2.0f             /* OpenAI's range: -2..2 */
#define AG_COMMIT_K_DEFAULT 8
#define AG_COMMIT_K_MAX 64

typedef struct {
  float temperature; /* 0 = greedy; else in (0, 100] */
  float top_p;       /* (0, 1] */
  int32_t top_k;     /* 0 = off, else 1..V */
  int32_t stop;      /* stop token id (generation ends after emitting it), -1 = none,
                        AG_STOP_EOG = any end-of-generation token of the model */
  uint64_t seed;
  float frequency_penalty; /* -2..2: per earlier output of a token, taken off its logit */
  float presence_penalty;  /* -2..2: taken off the logit of a token output before */
} ag_sampling;

/* The stop rule of GGUF models: generation ends after any token the model's tokenizer marks
 * as end of generation (ag_tok_is_eog: eos, eot, <|im_end|>, <end_of_turn>, ...), a property
 * of the file, so a verifier applies the same rule. */
#define AG_STOP_EOG (-2)
/* Whether tok ends generation under stop for model m. */
int ag_is_stop(const ag_model *m, int32_t stop, uint32_t tok);
/* The stop rule a model's answers use: <|endoftext|> for Agora's own, AG_STOP_EOG for GGUF. */
int32_t ag_model_stop(const ag_model *m);

void ag_sampling_defaults(ag_sampling *s); /* temp 0.8, top_p 0.95, top_k 40, stop 256, seed 1,
                                              no penalties */
int ag_sampling_check(const ag_sampling *s, int vocab); /* AG_E_ENGINE_SAMPLING + message */

/* Scratch for the sampler: V floats and V uint32, and 3V uint32 more once top_p < 1 with
 * top_k = 0 ranks the whole vocabulary (caller-owned). With penalties, the counts of the
 * outputs so far and a penalized copy of a row of logits, made on first use. */
typedef struct {
  float *w;
  uint32_t *idx;
  uint32_t *tmp;
  int cap;
  uint32_t *count; /* count[t]: outputs 0..counted-1 equal to t */
  uint32_t *seen;  /* the distinct tokens among them, nseen */
  float *pen;      /* a row's logits with the penalties applied */
  int nseen, counted;
} ag_sample_scratch;
int ag_sample_scratch_init(ag_sample_scratch *s, int vocab);
void ag_sample_scratch_free(ag_sample_scratch *s);

/* Samples output i from its logits; prev holds outputs 0..i-1 (may be NULL without penalties). */
uint32_t ag_sample(const float *logits, int vocab, const ag_sampling *sp, uint64_t i,
                   const uint32_t *prev, ag_sample_scratch *scratch);
/* The k largest logits as (id, value) ordered by (value desc, id asc); NaN sorts lowest. */
void ag_topk(const float *logits, int vocab, int k, uint32_t *ids, float *vals);

/* Called after each generated token; nonzero stops generation early. */
typedef int (*ag_token_fn)(void *ctx, uint32_t token);

typedef struct {
  uint32_t *tokens; /* caller-owned, capacity max_new */
  int n;            /* tokens generated */
  uint8_t commitment[AG_HASH_LEN];
} ag_gen_out;

/* Generates up to max_new tokens after prompt (n_prompt >= 1) with a fresh KV cache in s,
 * writing the receipt into receipt (may be NULL) with commit_k entries per position.
 * AG_E_ENGINE_CONTEXT if n_prompt + max_new - 1 exceeds the context. */
int ag_generate(ag_infer *s, const uint32_t *prompt, int n_prompt, int max_new,
                const ag_sampling *sp, int commit_k, ag_gen_out *out, ag_buf *receipt,
                ag_token_fn on_token, void *ctx);

/* A decoded receipt (borrows the receipt bytes). */
typedef struct {
  uint8_t model_id[AG_HASH_LEN];
  ag_sampling sp;
  int commit_k;
  int n_prompt, n_out;
  const uint8_t *prompt, *out, *entries; /* little-endian u32 arrays / (id, f32) pairs */
  uint8_t commitment[AG_HASH_LEN];
} ag_receipt;

int ag_receipt_parse(const uint8_t *data, size_t len, ag_receipt *r);
static inline uint32_t ag_receipt_prompt(const ag_receipt *r, int i) {
  const uint8_t *p = r->prompt + 4 * (size_t)i;
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint32_t ag_receipt_out(const ag_receipt *r, int i) {
  const uint8_t *p = r->out + 4 * (size_t)i;
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

typedef struct {
  int checked;       /* positions checked */
  int first_bad;     /* output index of the first mismatch, -1 if none */
  double seconds;    /* time spent in the prefill */
} ag_verify_report;

/* Re-runs ONE batched prefill over prompt + output with model m and checks, position by
 * position, the committed top-k logits (bit-exact), the sampled token, the stop rule and
 * finally the commitment hash. 0 = honest; else AG_E_RECEIPT_* (with ag_errmsg detail). */
int ag_receipt_verify(const ag_model *m, const uint8_t *data, size_t len, int threads,
                      ag_verify_report *rep);
/* The same with a caller's open state (a validator keeps one per model and thread; its max_t
 * sets the prefill batch); the state's KV cache is reset first. */
int ag_receipt_verify_state(ag_infer *s, const uint8_t *data, size_t len, ag_verify_report *rep);

#endif
