/*
 * checkpoint.h — the model file (docs/checkpoint-format.md): header, tokenizer, weights blob,
 * optional training state. The model id is BLAKE2b-256 with domain "agora/model" over every
 * byte before the training state, so it names config + tokenizer + weights, and is the same
 * whether or not the file carries optimizer state.
 *
 * Loading validates every size and offset against the file length before touching tensor
 * data and returns a precise AG_E_MODEL_* code; it never asserts on file contents.
 */
#ifndef AG_ENGINE_CHECKPOINT_H
#define AG_ENGINE_CHECKPOINT_H

#include "engine/model.h"
#include "engine/train.h"

#define AG_CKPT_MAGIC "AGORAMDL"
#define AG_CKPT_VERSION 1
#define AG_CKPT_TRAIN_MAGIC "AGTRAIN1"
#define AG_MODEL_ID_DOMAIN "agora/model"

typedef struct {
  int present;
  int64_t step;
  ag_train_config tc;
  const float *mom, *vel; /* blob layout; borrowed from the loaded model's mapping */
} ag_train_state;

/* Maps path privately (copy-on-write, so a loaded fp32 model can be trained in place).
 * *out owns the mapping; ts (may be NULL) borrows from it. Sets (*out)->id. */
int ag_model_load(const char *path, ag_model **out, ag_train_state *ts);
/* Parses a file image (copied; data may be freed after). */
int ag_model_load_mem(const void *data, size_t len, ag_model **out, ag_train_state *ts);
/* Serializes m (and ts when ts && ts->present) and writes path atomically; sets m->id. */
int ag_model_save(ag_model *m, const char *path, const ag_train_state *ts);
/* Serializes into out (appends). */
void ag_model_encode(const ag_model *m, const ag_train_state *ts, ag_buf *out);
/* Computes m->id from the model part. */
void ag_model_compute_id(ag_model *m);

#endif
