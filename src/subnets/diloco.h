/*
 * diloco.h — the computations of a training subnet round (docs/subnet-training.md), shared
 * by trainers, validators, tests and benchmarks so that all of them do them the same way:
 *
 *   data      the default corpus of Debian text (fortunes), tokenized with the checkpoint's
 *             tokenizer, every 10th document held out for validation;
 *   shard     trainer (hotkey) gets, in round r, the train_window tokens starting at
 *             BLAKE2b("agora/tshard", netuid | round | hotkey) mod (train tokens - window);
 *   inner     H AdamW steps (batch 8 × 64 tokens, lr 2e-3, no warm-up, clip 1) from the
 *             checkpoint, optimizer moments kept across rounds; pseudo-gradient = start - end;
 *   compress  error feedback e = e + delta, then the top-k pgrad blob of e (pgrad.h);
 *   score     Templar's test: the loss change the pseudo-gradient alone brings on the
 *             trainer's own shard versus on a random shard drawn after submissions closed,
 *             after a copy test (top-k index overlap with an earlier submission);
 *   aggregate mean of the chosen pseudo-gradients in uid order, then an outer Nesterov step
 *             m = mu m + a; w = w - lr (a + mu m), in fp32, in a fixed order, one thread.
 * The engine is bit-reproducible, so every validator gets the same scores and the same bytes.
 */
#ifndef AG_SUBNETS_DILOCO_H
#define AG_SUBNETS_DILOCO_H

#include "engine/engine.h"
#include "engine/pgrad.h"

#include <stddef.h>
#include <stdint.h>

#define AG_DILOCO_BATCH 8
#define AG_DILOCO_SEQ 64
#define AG_DILOCO_LR 2e-3f
#define AG_DILOCO_EVAL_BATCHES 2 /* of BATCH × SEQ tokens, per shard scored */
#define AG_DILOCO_VAL_BATCHES 8  /* of the validation stream, for a proposal's val_loss */

typedef struct {
  uint16_t *train, *val;
  size_t ntrain, nval;
} ag_diloco_data;

/* The subnet's data for the tokenizer of m. AG_E_ENGINE_DATA when the corpus is missing. */
int ag_diloco_data_load(const ag_model *m, ag_diloco_data *d);
void ag_diloco_data_free(ag_diloco_data *d);

/* Start of the trainer's shard in d->train (the shard is window tokens long). */
size_t ag_diloco_shard(const ag_diloco_data *d, uint16_t netuid, uint64_t round,
                       const uint8_t hotkey[32], uint64_t window);
/* Start of the random shard validators score against: keyed by the hash of the block that
 * closed the submissions, which no trainer knew. */
size_t ag_diloco_random_shard(const ag_diloco_data *d, uint16_t netuid, uint64_t round,
                              const uint8_t block_hash[32], uint64_t window);

/* A trainer's persistent state: an fp32 working copy, its AdamW trainer, the error buffer. */
typedef struct ag_dworker ag_dworker;

int ag_dworker_open(const ag_model *ckpt, int threads, uint64_t seed, ag_dworker **out);
void ag_dworker_close(ag_dworker *w);
/* One round: starts from ckpt (same shape as at open), runs steps AdamW steps on shard, adds
 * the pseudo-gradient to the error buffer (the buffer is reset when ckpt's shape differs),
 * and appends the compressed blob for h to out. *loss = mean inner loss of the last step. */
int ag_dworker_round(ag_dworker *w, const ag_model *ckpt, const ag_tokens *shard, int steps,
                     const ag_pgrad_hdr *h, ag_buf *out, double *loss);
/* The same, stopping early so as to finish by deadline_s (ag_mono_s's clock; 0: no deadline):
 * a step is not begun when the last one, that long again, and the last round's encoding would
 * end past it, but the first always is. *done gets the steps run. A slow machine thus still hands in fewer steps' work
 * before the commit window closes, rather than nothing. */
int ag_dworker_round_until(ag_dworker *w, const ag_model *ckpt, const ag_tokens *shard, int steps, double deadline_s,
                           int *done, const ag_pgrad_hdr *h, ag_buf *out, double *loss);
/* The uncompressed pseudo-gradient of the last round (n floats), for benchmarks. */
const float *ag_dworker_delta(const ag_dworker *w, size_t *n);

/* A validator's scorer: an fp32 copy of the checkpoint and a trainer for forward passes. */
typedef struct ag_dscorer ag_dscorer;

typedef struct {
  double own_before, own_after, rnd_before, rnd_after;
  double own_gain, rnd_gain; /* before - after */
  uint64_t score;            /* 0 when the submission fails the test; see ag_dscore_of */
} ag_dscore;

int ag_dscorer_open(const ag_model *ckpt, int threads, ag_dscorer **out);
void ag_dscorer_close(ag_dscorer *s);
/* Loss of the checkpoint itself on a shard (seeded batches; cached by callers). */
int ag_dscorer_base_loss(ag_dscorer *s, const ag_tokens *shard, uint64_t seed, double *loss);
/* Checks the blob against expect, applies it alone to the checkpoint and measures the loss on
 * own and rnd (own_before and rnd_before must be filled by the caller from base_loss). */
int ag_dscorer_score(ag_dscorer *s, const uint8_t *blob, size_t len, const ag_pgrad_hdr *expect,
                     const ag_tokens *own, const ag_tokens *rnd, uint64_t seed, ag_dscore *out);
/* The integer score of a measurement, in millionths of a nat: own_gain plus what it gains on
 * its own shard beyond the random one, or 0 when own_gain < AG_DILOCO_MIN_GAIN (no training
 * signal: noise, an empty update) or the random shard gets worse by more than
 * AG_DILOCO_MAX_HARM. Copies are caught before this (ag_pgrad_overlap >= AG_DILOCO_COPY_OVERLAP
 * with an earlier submission). Integer so that the proposals of honest validators agree. */
#define AG_DILOCO_MIN_GAIN 0.01
#define AG_DILOCO_MAX_HARM 0.02
#define AG_DILOCO_COPY_OVERLAP 0.5
/* ...or a cosine similarity of the decoded values at least this with an earlier submission,
 * one of the previous round's aggregated blobs or their sum (a stale copy or a blend). */
#define AG_DILOCO_COPY_COSINE 0.9
uint64_t ag_dscore_of(const ag_dscore *d);

/* Next checkpoint: base weights (fp32 or q8 ckpt) minus the outer Nesterov step of the mean of
 * blobs (all checked against expect by the caller), with momentum mom_in (NULL = zeros). The
 * file (fp32 weights, momentum as the training state) is appended to file; id gets its model
 * id, file_hash the BLAKE2b-256("agora/blob") of the file bytes. */
int ag_diloco_aggregate(const ag_model *base, const float *mom_in, const uint8_t *const *blobs,
                        const size_t *lens, int n, const ag_pgrad_hdr *expect, float lr, float mu,
                        ag_buf *file, uint8_t id[32], uint8_t file_hash[32]);

/* A fresh fp32 model (seeded init) with a copy of like's tokenizer, vocabulary and context:
 * the first checkpoint of a subnet that trains from scratch. Its shape is like's, or when dim
 * is not 0: dim, layers, heads of 32, half as many kv heads, hidden 8/3 dim (multiple of 32). */
int ag_diloco_init_model(const ag_model *like, uint64_t seed, int dim, int layers, ag_model **out);

/* Mean loss of m on up to max_batches batches of the validation stream. */
int ag_diloco_val_loss(const ag_model *m, const ag_diloco_data *d, int max_batches, int threads,
                       double *loss);

#endif
