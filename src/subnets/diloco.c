/* diloco.c — a training round's computations (diloco.h). */
#include "subnets/diloco.h"

#include "core/codec.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/util.h"
#include "incentive/training.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- data ---------------------------------------------------------------------------------- */

int ag_diloco_data_load(const ag_model *m, ag_diloco_data *d) {
  memset(d, 0, sizeof *d);
  if (!m->tok) return ag_fail(AG_E_MODEL_NO_TOKENIZER, "the checkpoint has no tokenizer");
  ag_corpus c;
  ag_corpus_init(&c);
  int rc = ag_corpus_add_fortunes(&c, AG_FORTUNES_DIR);
  if (!rc && c.n < 100)
    rc = ag_fail(AG_E_ENGINE_DATA, "the fortunes corpus (package fortunes) is not installed");
  if (!rc) rc = ag_corpus_tokenize(&c, m->tok, 10, &d->train, &d->ntrain, &d->val, &d->nval);
  ag_corpus_free(&c);
  return rc;
}

void ag_diloco_data_free(ag_diloco_data *d) {
  free(d->train);
  free(d->val);
  memset(d, 0, sizeof *d);
}

static size_t shard_at(const char *domain, const ag_diloco_data *d, uint16_t netuid, uint64_t round,
                       const uint8_t key[32], uint64_t window) {
  uint8_t in[42], h[32];
  ag_put_u16le(in, netuid);
  ag_put_u64le(in + 2, round);
  memcpy(in + 10, key, 32);
  ag_hash(domain, in, sizeof in, h);
  if (d->ntrain <= window + 1) return 0;
  return (size_t)(ag_get_u64le(h) % (d->ntrain - window));
}

size_t ag_diloco_shard(const ag_diloco_data *d, uint16_t netuid, uint64_t round,
                       const uint8_t hotkey[32], uint64_t window) {
  return shard_at("agora/tshard", d, netuid, round, hotkey, window);
}

size_t ag_diloco_random_shard(const ag_diloco_data *d, uint16_t netuid, uint64_t round,
                              const uint8_t block_hash[32], uint64_t window) {
  return shard_at("agora/trandom", d, netuid, round, block_hash, window);
}

static float *params_of(ag_model *m) {
  size_t n;
  return ag_model_params(m, &n);
}

/* The checkpoint's weights as fp32, into dst (n floats). */
static int weights_f32(const ag_model *ckpt, float *dst, size_t n) {
  ag_model *f = NULL;
  int rc = 0;
  if (ckpt->wtype == AG_DT_F32) {
    if (ckpt->blob_len != n * sizeof(float)) return ag_fail(AG_E_PG_SHAPE, "the checkpoint changed shape");
    memcpy(dst, ckpt->blob, n * sizeof(float));
    return 0;
  }
  if ((rc = ag_model_to_f32(ckpt, &f))) return rc;
  size_t fn;
  float *p = ag_model_params(f, &fn);
  if (fn != n) rc = ag_fail(AG_E_PG_SHAPE, "the checkpoint changed shape");
  else memcpy(dst, p, n * sizeof(float));
  ag_model_close(f);
  return rc;
}

static void inner_config(ag_train_config *tc, uint64_t seed) {
  ag_train_defaults(tc);
  tc->batch = AG_DILOCO_BATCH;
  tc->seq = AG_DILOCO_SEQ;
  tc->accum = 1;
  tc->steps = 1 << 30;
  tc->warmup = 0;
  tc->lr = tc->min_lr = AG_DILOCO_LR;
  tc->clip = 1.0f;
  tc->seed = seed;
}

/* ---- trainer ---------------------------------------------------------------------------------- */

struct ag_dworker {
  ag_model *m;
  ag_trainer *t;
  float *start, *delta, *ef;
  size_t n;
  double encode_s; /* how long the last round's encoding took, kept free before a deadline */
};

int ag_dworker_open(const ag_model *ckpt, int threads, uint64_t seed, ag_dworker **out) {
  ag_dworker *w = ag_xcalloc(1, sizeof *w);
  ag_train_config tc;
  inner_config(&tc, seed);
  int rc = ag_model_to_f32(ckpt, &w->m);
  if (!rc) rc = ag_trainer_open(w->m, &tc, threads, &w->t);
  if (rc) {
    ag_dworker_close(w);
    return rc;
  }
  ag_model_params(w->m, &w->n);
  w->start = ag_xcalloc(w->n, sizeof(float));
  w->delta = ag_xcalloc(w->n, sizeof(float));
  w->ef = ag_xcalloc(w->n, sizeof(float));
  *out = w;
  return 0;
}

void ag_dworker_close(ag_dworker *w) {
  if (!w) return;
  ag_trainer_close(w->t);
  ag_model_close(w->m);
  free(w->start);
  free(w->delta);
  free(w->ef);
  free(w);
}

int ag_dworker_round(ag_dworker *w, const ag_model *ckpt, const ag_tokens *shard, int steps,
                     const ag_pgrad_hdr *h, ag_buf *out, double *loss) {
  int done;
  return ag_dworker_round_until(w, ckpt, shard, steps, 0, &done, h, out, loss);
}

int ag_dworker_round_until(ag_dworker *w, const ag_model *ckpt, const ag_tokens *shard, int steps, double deadline_s,
                           int *done, const ag_pgrad_hdr *h, ag_buf *out, double *loss) {
  *done = 0;
  if (h->n != w->n) return ag_fail(AG_E_PG_SHAPE, "the header names %llu parameters, the model has %zu",
                                   (unsigned long long)h->n, w->n);
  if (shard->n <= AG_DILOCO_SEQ + 1) return ag_fail(AG_E_ENGINE_DATA, "the shard is too short");
  int rc = weights_f32(ckpt, w->start, w->n);
  if (rc) return rc;
  float *p = params_of(w->m);
  memcpy(p, w->start, w->n * sizeof(float));
  double l = 0, last = 0;
  for (int s = 0; s < steps; s++) {
    double t0 = ag_mono_s();
    if (s && deadline_s > 0 && t0 + last + w->encode_s > deadline_s) break;
    float gn;
    if ((rc = ag_trainer_step(w->t, shard, &l, &gn))) return rc;
    last = ag_mono_s() - t0;
    (*done)++;
  }
  for (size_t i = 0; i < w->n; i++) {
    w->delta[i] = w->start[i] - p[i];
    w->ef[i] += w->delta[i];
  }
  if (loss) *loss = l;
  double te = ag_mono_s();
  rc = ag_pgrad_encode(h, w->ef, out);
  w->encode_s = ag_mono_s() - te;
  return rc;
}

const float *ag_dworker_delta(const ag_dworker *w, size_t *n) {
  if (n) *n = w->n;
  return w->delta;
}

/* ---- scorer ----------------------------------------------------------------------------------- */

struct ag_dscorer {
  ag_model *m;
  ag_trainer *t;
  float *base;
  size_t n;
  uint32_t *in, *tg;
};

int ag_dscorer_open(const ag_model *ckpt, int threads, ag_dscorer **out) {
  ag_dscorer *s = ag_xcalloc(1, sizeof *s);
  ag_train_config tc;
  inner_config(&tc, 0);
  int rc = ag_model_to_f32(ckpt, &s->m);
  if (!rc) rc = ag_trainer_open(s->m, &tc, threads, &s->t);
  if (rc) {
    ag_dscorer_close(s);
    return rc;
  }
  float *p = ag_model_params(s->m, &s->n);
  s->base = ag_xmalloc(s->n * sizeof(float));
  memcpy(s->base, p, s->n * sizeof(float));
  s->in = ag_xmalloc(sizeof(uint32_t) * AG_DILOCO_BATCH * AG_DILOCO_SEQ);
  s->tg = ag_xmalloc(sizeof(uint32_t) * AG_DILOCO_BATCH * AG_DILOCO_SEQ);
  *out = s;
  return 0;
}

void ag_dscorer_close(ag_dscorer *s) {
  if (!s) return;
  ag_trainer_close(s->t);
  ag_model_close(s->m);
  free(s->base);
  free(s->in);
  free(s->tg);
  free(s);
}

static int shard_loss(ag_dscorer *s, const ag_tokens *shard, uint64_t seed, double *loss) {
  if (shard->n <= AG_DILOCO_SEQ + 1) return ag_fail(AG_E_ENGINE_DATA, "the shard is too short");
  double sum = 0;
  for (int b = 0; b < AG_DILOCO_EVAL_BATCHES; b++) {
    double l;
    ag_data_batch(shard, seed, 0, b, AG_DILOCO_BATCH, AG_DILOCO_SEQ, s->in, s->tg);
    int rc = ag_trainer_loss(s->t, s->in, s->tg, &l);
    if (rc) return rc;
    sum += l;
  }
  *loss = sum / AG_DILOCO_EVAL_BATCHES;
  return 0;
}

int ag_dscorer_base_loss(ag_dscorer *s, const ag_tokens *shard, uint64_t seed, double *loss) {
  memcpy(params_of(s->m), s->base, s->n * sizeof(float));
  return shard_loss(s, shard, seed, loss);
}

int ag_dscorer_score(ag_dscorer *s, const uint8_t *blob, size_t len, const ag_pgrad_hdr *expect,
                     const ag_tokens *own, const ag_tokens *rnd, uint64_t seed, ag_dscore *out) {
  float *p = params_of(s->m);
  memcpy(p, s->base, s->n * sizeof(float));
  int rc = ag_pgrad_apply(blob, len, expect, -1.0f, p);
  if (!rc) rc = shard_loss(s, own, seed, &out->own_after);
  if (!rc) rc = shard_loss(s, rnd, seed, &out->rnd_after);
  memcpy(p, s->base, s->n * sizeof(float));
  if (rc) return rc;
  out->own_gain = out->own_before - out->own_after;
  out->rnd_gain = out->rnd_before - out->rnd_after;
  out->score = ag_dscore_of(out);
  return 0;
}

uint64_t ag_dscore_of(const ag_dscore *d) {
  if (!isfinite(d->own_gain) || !isfinite(d->rnd_gain)) return 0;
  if (d->own_gain < AG_DILOCO_MIN_GAIN || d->rnd_gain < -AG_DILOCO_MAX_HARM) return 0;
  double specific = d->own_gain > d->rnd_gain ? d->own_gain - d->rnd_gain : 0;
  return (uint64_t)((d->own_gain + specific) * 1e6);
}

/* ---- aggregation -------------------------------------------------------------------------------- */

int ag_diloco_aggregate(const ag_model *base, const float *mom_in, const uint8_t *const *blobs,
                        const size_t *lens, int n, const ag_pgrad_hdr *expect, float lr, float mu,
                        ag_buf *file, uint8_t id[32], uint8_t file_hash[32]) {
  ag_model *w;
  int rc = ag_model_to_f32(base, &w);
  if (rc) return rc;
  size_t np;
  float *p = ag_model_params(w, &np);
  float *a = ag_xcalloc(np, sizeof(float)), *m = ag_xcalloc(np, sizeof(float)),
        *zero = ag_xcalloc(np, sizeof(float));
  if (mom_in) memcpy(m, mom_in, np * sizeof(float));
  if (expect->n != np) rc = ag_fail(AG_E_PG_SHAPE, "the pseudo-gradients do not fit the checkpoint");
  float inv = n > 0 ? 1.0f / (float)n : 0;
  for (int i = 0; !rc && i < n; i++) rc = ag_pgrad_apply(blobs[i], lens[i], expect, inv, a);
  if (!rc) {
    for (size_t j = 0; j < np; j++) {
      m[j] = mu * m[j] + a[j];
      p[j] = p[j] - lr * (a[j] + mu * m[j]);
      if (!isfinite(p[j])) {
        rc = ag_fail(AG_E_PG_NONFINITE, "the outer step overflowed at parameter %zu", j);
        break;
      }
    }
  }
  if (!rc) {
    ag_train_state ts;
    memset(&ts, 0, sizeof ts);
    ts.present = 1;
    ts.step = 0;
    inner_config(&ts.tc, 0);
    ts.mom = m;
    ts.vel = zero;
    size_t start = file->len;
    ag_model_encode(w, &ts, file);
    ag_model_compute_id(w);
    memcpy(id, w->id, 32);
    ag_hash(AG_BLOB_DOMAIN, file->data + start, file->len - start, file_hash);
  }
  free(a);
  free(m);
  free(zero);
  ag_model_close(w);
  return rc;
}

int ag_diloco_val_loss(const ag_model *m, const ag_diloco_data *d, int max_batches, int threads,
                       double *loss) {
  ag_model *f;
  int rc = ag_model_to_f32(m, &f);
  if (rc) return rc;
  ag_train_config tc;
  inner_config(&tc, 0);
  ag_trainer *t;
  if (!(rc = ag_trainer_open(f, &tc, threads, &t))) {
    ag_tokens v = {d->val, d->nval};
    rc = ag_trainer_eval(t, &v, max_batches, loss);
    ag_trainer_close(t);
  }
  ag_model_close(f);
  return rc;
}

int ag_diloco_init_model(const ag_model *like, uint64_t seed, int dim, int layers, ag_model **out) {
  ag_tokenizer *tok = NULL;
  if (like->tok) {
    int rc = ag_tok_clone(like->tok, &tok); /* the pre-tokenizer comes along */
    if (rc) return rc;
  }
  ag_model_config cfg = like->cfg;
  if (dim > 0) {
    cfg.dim = dim;
    cfg.n_layers = layers > 0 ? layers : cfg.n_layers;
    cfg.n_heads = dim >= 64 ? dim / 32 : 1;
    cfg.n_kv_heads = cfg.n_heads % 2 == 0 ? cfg.n_heads / 2 : cfg.n_heads;
    cfg.hidden_dim = (dim * 8 / 3 + 31) / 32 * 32;
  }
  int rc = ag_model_config_check(&cfg);
  if (rc) {
    ag_tok_free(tok);
    return rc;
  }
  rc = ag_model_create(&cfg, seed, tok, out);
  if (rc) return rc;
  /* the id is the content hash of the file the model would be saved as */
  ag_model_compute_id(*out);
  return 0;
}
