/*
 * train.h — training: forward with saved activations, backward, gradient clipping, AdamW,
 * cosine schedule with warm-up, gradient accumulation, and the counter-based data order.
 *
 * Reproducibility: gradients are reduced in the fixed orders of kernels.h (weight gradients are
 * per-element fma chains over tokens in order, micro-batches continue the same chains), the
 * global gradient norm sums fixed 4096-element chunks in order, and batch b of micro-batch k of
 * step s starts at a Philox(seed, s, k << 32 | b) offset. So the same model, data, seed and
 * steps give bit-identical weights for any thread count or SIMD path.
 *
 * Ownership: the trainer borrows the model (fp32, writable blob) and owns its gradients,
 * optimizer moments and activations, all carved from one allocation at open.
 */
#ifndef AG_ENGINE_TRAIN_H
#define AG_ENGINE_TRAIN_H

#include "engine/model.h"

#include <stdint.h>

typedef struct {
  int32_t batch;   /* B sequences per micro-batch */
  int32_t seq;     /* T tokens per sequence (<= seq_len) */
  int32_t accum;   /* micro-batches per optimizer step */
  int32_t steps;   /* total optimizer steps of the schedule */
  int32_t warmup;  /* linear warm-up steps */
  float lr;        /* peak learning rate */
  float min_lr;    /* floor of the cosine */
  float wd;        /* decoupled weight decay (matrices only) */
  float beta1, beta2, eps;
  float clip;      /* global gradient-norm clip; 0 = off */
  uint64_t seed;   /* data order */
} ag_train_config;

void ag_train_defaults(ag_train_config *tc);
int ag_train_config_check(const ag_train_config *tc, const ag_model_config *mc);
/* Learning rate at step (0-based). */
float ag_train_lr(const ag_train_config *tc, int64_t step);

/* A token stream (borrowed). */
typedef struct {
  const uint16_t *tok;
  size_t n;
} ag_tokens;

/* Inputs and targets (B, T) for micro-batch `micro` of `step` (requires n > T + 1). */
void ag_data_batch(const ag_tokens *d, uint64_t seed, uint64_t step, int micro, int B, int T,
                   uint32_t *in, uint32_t *tgt);

typedef struct ag_trainer ag_trainer;

int ag_trainer_open(ag_model *m, const ag_train_config *tc, int threads, ag_trainer **out);
void ag_trainer_close(ag_trainer *t);

/* Zeroes the gradients. */
void ag_trainer_zero_grad(ag_trainer *t);
/* Forward + backward of one micro-batch (B, T); gradients accumulate scaled by grad_scale
 * (e.g. 1 / (B * T * accum)); *loss is the mean loss over the B*T targets. */
int ag_trainer_fwd_bwd(ag_trainer *t, const uint32_t *in, const uint32_t *tgt, float grad_scale,
                       double *loss);
/* Forward only: mean loss over (B, T) (for validation). */
int ag_trainer_loss(ag_trainer *t, const uint32_t *in, const uint32_t *tgt, double *loss);
/* One optimizer step over `accum` micro-batches from d; returns mean loss and grad norm. */
int ag_trainer_step(ag_trainer *t, const ag_tokens *d, double *loss, float *gnorm);
/* Mean validation loss over up to max_batches consecutive (B, T) windows of d. */
int ag_trainer_eval(ag_trainer *t, const ag_tokens *d, int max_batches, double *loss);

/* Gradient buffer in blob layout (floats, padding included). */
float *ag_trainer_grads(ag_trainer *t, size_t *n);
/* Optimizer state for checkpoints: step count and moment buffers (blob layout). */
int64_t ag_trainer_step_count(const ag_trainer *t);
void ag_trainer_set_step_count(ag_trainer *t, int64_t step);
float *ag_trainer_moment(ag_trainer *t, int which /* 0 = m, 1 = v */);
const float *ag_trainer_logits(const ag_trainer *t); /* (B*T, V) after ag_trainer_loss */
const ag_train_config *ag_trainer_config(const ag_trainer *t);

/* FLOPs of one training token (forward + backward, matmuls and attention). */
double ag_train_flops_per_token(const ag_model_config *c, int T);

#endif
