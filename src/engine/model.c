/*
 * model.c — configuration, weight layout, initialization, quantization and the forward pass
 * (inference with a KV cache, and the same row-wise code used by training).
 * Does not: allocate inside ag_infer_forward / ag_model_forward_rows (every buffer is carved
 * out of the state's single allocation when it is opened), or read files (checkpoint.c).
 */
#include "engine/model.h"

#include "core/err.h"
#include "core/util.h"
#include "engine/detmath.h"
#include "engine/jinja.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int ag_model_preset(const char *name, ag_model_config *c) {
  memset(c, 0, sizeof *c);
  c->rope_theta = 10000.0f;
  c->norm_eps = 1e-5f;
  c->tied = 1;
  if (!strcmp(name, "tiny")) {
    *c = (ag_model_config){32, 2, 4, 2, 64, 320, 32, 10000.0f, 1e-5f, 1};
  } else if (!strcmp(name, "nano")) {
    *c = (ag_model_config){192, 4, 6, 2, 512, 2048, 256, 10000.0f, 1e-5f, 1};
  } else if (!strcmp(name, "stories15m")) {
    *c = (ag_model_config){288, 6, 6, 6, 768, 32000, 256, 10000.0f, 1e-5f, 1};
  } else {
    return ag_fail(AG_E_NOTFOUND, "unknown model preset '%s' (tiny, nano, stories15m)", name);
  }
  return 0;
}

int ag_model_config_check(const ag_model_config *c) {
  if (c->dim < 2 || c->dim > 16384) return ag_fail(AG_E_INVALID, "dim %d out of range", c->dim);
  if (c->n_layers < 1 || c->n_layers > 256)
    return ag_fail(AG_E_INVALID, "n_layers %d out of range", c->n_layers);
  if (c->n_heads < 1 || c->n_heads > 1024 || (!c->head_dim && c->dim % c->n_heads) || ag_head_dim(c) % 2 ||
      ag_head_dim(c) > 1024 || ag_head_dim(c) < 2)
    return ag_fail(AG_E_INVALID, "dim %d must split into n_heads %d heads of even size", c->dim, c->n_heads);
  if (c->arch != AG_ARCH_LLAMA && c->arch != AG_ARCH_GEMMA3)
    return ag_fail(AG_E_INVALID, "unknown architecture %d", c->arch);
  if (c->swa_window < 0 || c->swa_pattern < 0 || (c->swa_window > 0) != (c->swa_pattern > 0))
    return ag_fail(AG_E_INVALID, "sliding window %d / pattern %d are inconsistent", c->swa_window, c->swa_pattern);
  if (c->swa_window && !(c->rope_theta_swa > 1.0f && isfinite(c->rope_theta_swa)))
    return ag_fail(AG_E_INVALID, "rope_theta_swa must be a finite number > 1");
  if (c->n_kv_heads < 1 || c->n_heads % c->n_kv_heads)
    return ag_fail(AG_E_INVALID, "n_kv_heads %d must divide n_heads %d", c->n_kv_heads, c->n_heads);
  if (c->hidden_dim < 1 || c->hidden_dim > 65536)
    return ag_fail(AG_E_INVALID, "hidden_dim %d out of range", c->hidden_dim);
  if (c->vocab_size < 1 || c->vocab_size > (1 << 20))
    return ag_fail(AG_E_INVALID, "vocab_size %d out of range", c->vocab_size);
  if (c->seq_len < 1 || c->seq_len > 65536)
    return ag_fail(AG_E_INVALID, "seq_len %d out of range", c->seq_len);
  if (!(c->rope_theta > 1.0f) || !isfinite(c->rope_theta))
    return ag_fail(AG_E_INVALID, "rope_theta must be a finite number > 1");
  if (!(c->norm_eps > 0.0f) || !(c->norm_eps < 1.0f))
    return ag_fail(AG_E_INVALID, "norm_eps must be in (0, 1)");
  if (c->tied != 0 && c->tied != 1) return ag_fail(AG_E_INVALID, "tied must be 0 or 1");
  if (ag_model_param_count(c) > (1ULL << 32))
    return ag_fail(AG_E_TOO_LARGE, "model has more than 2^32 parameters");
  return 0;
}

uint64_t ag_model_param_count(const ag_model_config *c) {
  ag_tensor_info info[AG_T_COUNT];
  ag_model_layout(c, AG_DT_F32, info);
  uint64_t n = 0;
  for (int i = 0; i < AG_T_COUNT; i++)
    if (info[i].present) n += (uint64_t)info[i].layers * info[i].rows * info[i].cols;
  return n;
}

size_t ag_model_layout(const ag_model_config *c, int wtype, ag_tensor_info *t) {
  int C = c->dim, L = c->n_layers, KVD = ag_head_dim(c) * c->n_kv_heads, H = c->hidden_dim,
      V = c->vocab_size, QD = ag_head_dim(c) * c->n_heads;
  static const char *names[AG_T_COUNT] = {"tok_emb", "attn_norm", "wq", "wk", "wv", "wo",
                                          "ffn_norm", "w1", "w2", "w3", "final_norm", "out"};
  const int dims[AG_T_COUNT][4] = {
      /* layers, rows, cols, matrix */
      {1, V, C, 1}, {L, 1, C, 0}, {L, QD, C, 1}, {L, KVD, C, 1}, {L, KVD, C, 1}, {L, C, QD, 1},
      {L, 1, C, 0}, {L, H, C, 1}, {L, C, H, 1}, {L, H, C, 1}, {1, 1, C, 0}, {1, V, C, 1}};
  size_t off = 0;
  for (int i = 0; i < AG_T_COUNT; i++) {
    t[i].name = names[i];
    t[i].layers = dims[i][0];
    t[i].rows = dims[i][1];
    t[i].cols = dims[i][2];
    t[i].matrix = dims[i][3];
    t[i].present = !(i == AG_T_OUT && c->tied);
    int ty = t[i].matrix ? wtype : AG_DT_F32;
    t[i].bytes = t[i].present ? (size_t)t[i].layers * ag_mat_bytes(ty, (size_t)t[i].rows, (size_t)t[i].cols) : 0;
    off = (off + 63) / 64 * 64;
    t[i].offset = off;
    off += t[i].bytes;
  }
  return (off + 63) / 64 * 64;
}

void ag_model_bind(ag_model *m) {
  const ag_model_config *c = &m->cfg;
  int L = c->n_layers;
  ag_tensor_info *t = m->info;
#define AT(k) (m->blob + t[k].offset)
  m->tok_emb = (ag_mat){m->wtype, c->vocab_size, c->dim, AT(AG_T_TOK_EMB)};
  m->out = c->tied ? m->tok_emb : (ag_mat){m->wtype, c->vocab_size, c->dim, AT(AG_T_OUT)};
  m->attn_norm = (const float *)AT(AG_T_ATTN_NORM);
  m->ffn_norm = (const float *)AT(AG_T_FFN_NORM);
  m->final_norm = (const float *)AT(AG_T_FINAL_NORM);
  ag_mat *mats[7] = {m->wq, m->wk, m->wv, m->wo, m->w1, m->w2, m->w3};
  int kinds[7] = {AG_T_WQ, AG_T_WK, AG_T_WV, AG_T_WO, AG_T_W1, AG_T_W2, AG_T_W3};
  for (int k = 0; k < 7; k++) {
    size_t per = ag_mat_bytes(m->wtype, (size_t)t[kinds[k]].rows, (size_t)t[kinds[k]].cols);
    for (int l = 0; l < L; l++)
      mats[k][l] = (ag_mat){m->wtype, t[kinds[k]].rows, t[kinds[k]].cols, AT(kinds[k]) + (size_t)l * per};
  }
#undef AT
}

int ag_model_wrap(const ag_model_config *cfg, int wtype, uint8_t *blob, size_t len, int owned,
                  ag_model **out) {
  *out = NULL;
  int rc = ag_model_config_check(cfg);
  if (rc) return rc;
  if (wtype != AG_DT_F32 && wtype != AG_DT_Q8)
    return ag_fail(AG_E_UNSUPPORTED, "unknown weight type %d", wtype);
  if (wtype == AG_DT_Q8 && (cfg->dim % AG_Q8_GROUP || cfg->hidden_dim % AG_Q8_GROUP))
    return ag_fail(AG_E_UNSUPPORTED, "8-bit weights need dim and hidden_dim divisible by 32");
  ag_model *m = ag_xcalloc(1, sizeof *m);
  m->cfg = *cfg;
  m->wtype = wtype;
  size_t need = ag_model_layout(cfg, wtype, m->info);
  if (len < need) {
    free(m);
    return ag_fail(AG_E_TRUNCATED, "weights need %zu bytes, have %zu", need, len);
  }
  m->blob = blob;
  m->blob_len = need;
  m->blob_owned = owned;
  int L = cfg->n_layers;
  ag_mat *mats = ag_xcalloc((size_t)7 * L, sizeof(ag_mat));
  m->wq = mats, m->wk = mats + L, m->wv = mats + 2 * L, m->wo = mats + 3 * L;
  m->w1 = mats + 4 * L, m->w2 = mats + 5 * L, m->w3 = mats + 6 * L;
  ag_model_bind(m);
  *out = m;
  return 0;
}

static uint8_t *blob_alloc(size_t n) {
  void *p = NULL;
  if (posix_memalign(&p, 64, n ? n : 64)) abort();
  memset(p, 0, n);
  return p;
}

int ag_model_create(const ag_model_config *cfg, uint64_t seed, ag_tokenizer *tok, ag_model **out) {
  *out = NULL;
  int rc = ag_model_config_check(cfg);
  if (rc) return rc;
  if (tok && ag_tok_vocab(tok) != cfg->vocab_size)
    return ag_fail(AG_E_INVALID, "tokenizer has %d tokens but the model's vocabulary is %d",
                   ag_tok_vocab(tok), cfg->vocab_size);
  ag_tensor_info info[AG_T_COUNT];
  size_t len = ag_model_layout(cfg, AG_DT_F32, info);
  uint8_t *blob = blob_alloc(len);
  float resid_std = 0.02f / sqrtf(2.0f * (float)cfg->n_layers);
  for (int k = 0; k < AG_T_COUNT; k++) {
    if (!info[k].present) continue;
    float *p = (float *)(blob + info[k].offset);
    size_t n = info[k].bytes / sizeof(float);
    if (!info[k].matrix) {
      for (size_t i = 0; i < n; i++) p[i] = 1.0f;
      continue;
    }
    float std = (k == AG_T_WO || k == AG_T_W2) ? resid_std : 0.02f;
    for (size_t i = 0; i < n; i++) p[i] = ag_philox_normal(seed, i, (uint64_t)k) * std;
  }
  rc = ag_model_wrap(cfg, AG_DT_F32, blob, len, 1, out);
  if (rc) {
    free(blob);
    return rc;
  }
  (*out)->tok = tok;
  return 0;
}

static ag_tokenizer *tok_copy(const ag_tokenizer *t) {
  ag_tokenizer *c = NULL;
  if (t && ag_tok_clone(t, &c)) c = NULL;
  return c;
}

static int convert(const ag_model *m, int wtype, ag_model **out) {
  if (m->gguf) {
    *out = NULL;
    return ag_fail(AG_E_UNSUPPORTED, "a GGUF model computes from its own blocks and is not converted");
  }
  ag_tensor_info info[AG_T_COUNT];
  size_t len = ag_model_layout(&m->cfg, wtype, info);
  uint8_t *blob = blob_alloc(len);
  float *row = ag_xmalloc((size_t)AG_MAX(m->cfg.dim, m->cfg.hidden_dim) * sizeof(float));
  for (int k = 0; k < AG_T_COUNT; k++) {
    if (!info[k].present) continue;
    const uint8_t *src = m->blob + m->info[k].offset;
    uint8_t *dst = blob + info[k].offset;
    if (!info[k].matrix) {
      memcpy(dst, src, info[k].bytes);
      continue;
    }
    size_t rows = (size_t)info[k].layers * info[k].rows, cols = (size_t)info[k].cols;
    size_t sb = ag_mat_bytes(m->wtype, 1, cols), db = ag_mat_bytes(wtype, 1, cols);
    for (size_t r = 0; r < rows; r++) {
      ag_mat one = {m->wtype, 1, (int)cols, src + r * sb};
      ag_mat_row(&one, 0, row);
      if (wtype == AG_DT_Q8) ag_quantize_q8(row, cols, dst + r * db);
      else memcpy(dst + r * db, row, cols * sizeof(float));
    }
  }
  free(row);
  int rc = ag_model_wrap(&m->cfg, wtype, blob, len, 1, out);
  if (rc) {
    free(blob);
    return rc;
  }
  (*out)->tok = tok_copy(m->tok);
  return 0;
}

int ag_model_quantize(const ag_model *m, ag_model **out) {
  if (m->cfg.dim % AG_Q8_GROUP || m->cfg.hidden_dim % AG_Q8_GROUP) {
    *out = NULL;
    return ag_fail(AG_E_UNSUPPORTED, "8-bit weights need dim and hidden_dim divisible by 32");
  }
  return convert(m, AG_DT_Q8, out);
}

int ag_model_to_f32(const ag_model *m, ag_model **out) { return convert(m, AG_DT_F32, out); }

void ag_model_close(ag_model *m) {
  if (!m) return;
  if (m->blob_owned == 1) free(m->blob);
  if (m->blob_owned == 2 && m->map) munmap(m->map, m->map_len);
  if (m->blob_owned == 3) free(m->map);
  ag_tok_free(m->tok);
  free(m->wq);
  free(m->norms);
  free(m->chat_template);
  ag_jinja_free(m->chat);
  free(m);
}

float *ag_model_params(ag_model *m, size_t *n) {
  if (m->wtype != AG_DT_F32) return NULL;
  *n = m->blob_len / sizeof(float);
  return (float *)m->blob;
}

float *ag_rope_table(const ag_model_config *c) { return ag_rope_table_ex(c, c->rope_theta, NULL); }

/* Rows [p0, p1) of a RoPE table (row p: (cos, sin) of p x freq_i for each pair i). */
static void rope_rows(const ag_model_config *c, float theta, const float *freq_div, float *t, int p0, int p1) {
  int HD = ag_head_dim(c), half = HD / 2;
  double lt = ag_ln((double)theta);
  for (int i = 0; i < half; i++) {
    double freq = ag_exp(-((double)(2 * i) / (double)HD) * lt);
    if (freq_div) freq /= (double)freq_div[i];
    for (int p = p0; p < p1; p++) {
      double s, co;
      ag_sincos((double)p * freq, &s, &co);
      t[((size_t)p * half + i) * 2] = (float)co;
      t[((size_t)p * half + i) * 2 + 1] = (float)s;
    }
  }
}

float *ag_rope_table_ex(const ag_model_config *c, float theta, const float *freq_div) {
  float *t = ag_xmalloc((size_t)c->seq_len * (size_t)(ag_head_dim(c) / 2) * 2 * sizeof(float));
  rope_rows(c, theta, freq_div, t, 0, c->seq_len);
  return t;
}

/* ---------- forward building blocks ---------- */

float ag_silu(float x) { return x / (1.0f + ag_expf(-x)); }

float ag_gelu(float x) {
  /* tanh(u) = 1 - 2 / (exp(2u) + 1), exact at the extremes (exp overflow gives 1, 0 gives -1) */
  float u = 0.7978845608f * (x + 0.044715f * x * x * x);
  float th = 1.0f - 2.0f / (ag_expf(2.0f * u) + 1.0f);
  return 0.5f * x * (1.0f + th);
}

float ag_rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
  float ss = ag_dot(x, x, (size_t)n);
  float rinv = 1.0f / sqrtf(ss / (float)n + eps);
  for (int i = 0; i < n; i++) out[i] = (x[i] * rinv) * w[i];
  return rinv;
}

/* Rotates pair i of each head by the table's angle: pairs are (2i, 2i + 1), or (i, i + HD/2)
 * with neox. */
static void rope_row(float *v, int nheads, int HD, const float *tab, int neox) {
  int half = HD / 2, st = neox ? 1 : 2, off = neox ? half : 1;
  for (int h = 0; h < nheads; h++) {
    float *p = v + h * HD;
    for (int i = 0; i < half; i++) {
      float c = tab[2 * i], s = tab[2 * i + 1], a = p[st * i], b = p[st * i + off];
      float ac = a * c, bs = b * s, as = a * s, bc = b * c;
      p[st * i] = ac - bs;
      p[st * i + off] = as + bc;
    }
  }
}

typedef struct {
  const ag_model *m;
  const ag_fwd_io *io;
  const float *q, *kc, *vc;
  float *att, *ao;
  int window; /* > 0: a row sees only its last window positions */
  int sg;     /* query heads of one KV head taken together (1..grp): they read its keys and values once */
} att_ctx;

/* Items are (row, KV head, a run of sg of its query heads): scores, softmax and the weighted sum
 * of those heads of one row. Each head's operations are the same whatever sg is. */
static void att_run(void *vctx, size_t b, size_t e) {
  const att_ctx *a = vctx;
  const ag_model_config *c = &a->m->cfg;
  int NH = c->n_heads, HD = ag_head_dim(c), QD = NH * HD, KVH = c->n_kv_heads, KVD = HD * KVH, grp = NH / KVH;
  int nsub = (grp + a->sg - 1) / a->sg;
  int cap = a->io->cap, rps = a->io->rows_per_seq;
  float scale = 1.0f / sqrtf((float)HD);
  for (size_t it = b; it < e; it++) {
    int n = (int)(it / ((size_t)KVH * nsub)), r = (int)(it % ((size_t)KVH * nsub)), g = r / nsub;
    int h0 = g * grp + (r % nsub) * a->sg, nq = AG_MIN(a->sg, (g + 1) * grp - h0);
    int s = n / rps, p = a->io->pos0 + n % rps;
    int p0 = a->window > 0 && p + 1 > a->window ? p + 1 - a->window : 0, cnt = p + 1 - p0;
    const float *qv = a->q + (size_t)n * QD + h0 * HD;
    size_t at = a->io->kv_heads_major ? (((size_t)s * KVH + g) * cap + p0) * HD : ((size_t)s * cap + p0) * KVD + g * HD,
           stride = a->io->kv_heads_major ? (size_t)HD : (size_t)KVD;
    const float *kb = a->kc + at, *vb = a->vc + at;
    float *sc = a->att + ((size_t)n * NH + h0) * cap;
    ag_dot_many_g(qv, (size_t)HD, nq, kb, stride, cnt, (size_t)HD, sc, (size_t)cap);
    for (int h = 0; h < nq; h++) ag_softmax_scaled(sc + (size_t)h * cap, cnt, scale);
    float *o = a->ao + (size_t)n * QD + h0 * HD;
    memset(o, 0, (size_t)nq * HD * sizeof(float));
    ag_axpy_many_g(o, (size_t)HD, sc, (size_t)cap, nq, vb, stride, cnt, (size_t)HD);
  }
}

typedef struct {
  float *hg;
  const float *h1, *h3;
} swi_ctx;

static void swi_run(void *v, size_t b, size_t e) {
  const swi_ctx *s = v;
  ag_swiglu(s->hg + b, s->h1 + b, s->h3 + b, e - b);
}

#define L_PTR(base, stride, l) ((base) ? (base) + (size_t)(l) * (stride) : NULL)

typedef struct {
  float *hg;
  const float *h1, *h3;
} geglu_ctx;

static void geglu_run(void *v, size_t b, size_t e) {
  const geglu_ctx *g = v;
  for (size_t i = b; i < e; i++) g->hg[i] = ag_gelu(g->h1[i]) * g->h3[i];
}

/* In place: each of nh vectors of HD is replaced by its RMSNorm with weight w (HD). */
static void head_norm(float *v, int nh, int HD, const float *w, float eps) {
  for (int h = 0; h < nh; h++) ag_rmsnorm(v + (size_t)h * HD, v + (size_t)h * HD, w, HD, eps);
}

void ag_model_forward_rows(const ag_model *m, ag_pool *pool, ag_fwd_io *io) {
  const ag_model_config *c = &m->cfg;
  int C = c->dim, NH = c->n_heads, HD = ag_head_dim(c), KVH = c->n_kv_heads, KVD = HD * KVH,
      QD = NH * HD, H = c->hidden_dim, N = io->N, half = HD / 2;
  int gemma = c->arch == AG_ARCH_GEMMA3;
  float *x = io->x;
  for (int n = 0; n < N; n++) ag_mat_row(&m->tok_emb, (int)io->tokens[n], x + (size_t)n * C);
  if (m->emb_scale != 0.0f)
    for (size_t i = 0; i < (size_t)N * C; i++) x[i] = x[i] * m->emb_scale;
  for (int l = 0; l < c->n_layers; l++) {
    float *xin = L_PTR(io->xin, io->xin_s, l), *xn1 = L_PTR(io->xn1, io->xn1_s, l),
          *rinv1 = L_PTR(io->rinv1, io->rinv1_s, l), *q = L_PTR(io->q, io->q_s, l),
          *kc = L_PTR(io->kc, io->kc_s, l), *vc = L_PTR(io->vc, io->vc_s, l),
          *att = L_PTR(io->att, io->att_s, l), *ao = L_PTR(io->ao, io->ao_s, l),
          *xmid = L_PTR(io->xmid, io->xmid_s, l), *xn2 = L_PTR(io->xn2, io->xn2_s, l),
          *rinv2 = L_PTR(io->rinv2, io->rinv2_s, l), *h1 = L_PTR(io->h1, io->h1_s, l),
          *h3 = L_PTR(io->h3, io->h3_s, l), *hg = L_PTR(io->hg, io->hg_s, l);
    int swa = c->swa_pattern > 0 && (l + 1) % c->swa_pattern != 0;
    const float *rope = swa && io->rope_swa ? io->rope_swa : io->rope;
    if (xin) memcpy(xin, x, (size_t)N * C * sizeof(float));
    for (int n = 0; n < N; n++)
      rinv1[n] = ag_rmsnorm(xn1 + (size_t)n * C, x + (size_t)n * C, m->attn_norm + (size_t)l * C, C, c->norm_eps);
    float *ks = io->tmp, *vs = io->tmp + (size_t)N * KVD; /* (N, KVD) staging */
    ag_mm_job jobs[3] = {{&m->wq[l], xn1, q}, {&m->wk[l], xn1, ks}, {&m->wv[l], xn1, vs}};
    ag_matmul_multi(pool, jobs, 3, N);
    for (int n = 0; n < N; n++) {
      int s = n / io->rows_per_seq, p = io->pos0 + n % io->rows_per_seq;
      const float *tab = rope + (size_t)p * half * 2;
      if (m->q_norm) {
        head_norm(q + (size_t)n * QD, NH, HD, m->q_norm + (size_t)l * HD, c->norm_eps);
        head_norm(ks + (size_t)n * KVD, KVH, HD, m->k_norm + (size_t)l * HD, c->norm_eps);
      }
      rope_row(q + (size_t)n * QD, NH, HD, tab, c->rope_neox);
      rope_row(ks + (size_t)n * KVD, KVH, HD, tab, c->rope_neox);
      if (io->kv_heads_major) {
        for (int g = 0; g < KVH; g++) {
          size_t at = (((size_t)s * KVH + g) * io->cap + p) * HD;
          memcpy(kc + at, ks + (size_t)n * KVD + g * HD, (size_t)HD * sizeof(float));
          memcpy(vc + at, vs + (size_t)n * KVD + g * HD, (size_t)HD * sizeof(float));
        }
      } else {
        memcpy(kc + ((size_t)s * io->cap + p) * KVD, ks + (size_t)n * KVD, (size_t)KVD * sizeof(float));
        memcpy(vc + ((size_t)s * io->cap + p) * KVD, vs + (size_t)n * KVD, (size_t)KVD * sizeof(float));
      }
    }
    /* 2 * HD multiply-adds per visible position; tiny attention stays on this thread */
    size_t att_macs = (size_t)N * NH * (size_t)(io->pos0 + io->rows_per_seq) * (size_t)HD * 2;
    ag_pool *ap = att_macs < (1u << 17) ? NULL : pool;
    /* a KV head's query heads together, unless that leaves a thread without work (decode) */
    int grp = NH / KVH, sg = grp, nt = ag_pool_threads(ap);
    while (sg > 1 && (size_t)N * KVH * (size_t)((grp + sg - 1) / sg) < (size_t)nt) sg = (sg + 1) / 2;
    att_ctx ac = {m, io, q, kc, vc, att, ao, swa ? c->swa_window : 0, sg};
    ag_pool_run(ap, (size_t)N * KVH * (size_t)((grp + sg - 1) / sg), 1, att_run, &ac);
    float *t = io->tmp; /* (N, C) */
    ag_matmul(pool, t, ao, &m->wo[l], N);
    if (m->post_attn_norm)
      for (int n = 0; n < N; n++)
        ag_rmsnorm(t + (size_t)n * C, t + (size_t)n * C, m->post_attn_norm + (size_t)l * C, C, c->norm_eps);
    for (size_t i = 0; i < (size_t)N * C; i++) x[i] = x[i] + t[i];
    if (xmid) memcpy(xmid, x, (size_t)N * C * sizeof(float));
    for (int n = 0; n < N; n++)
      rinv2[n] = ag_rmsnorm(xn2 + (size_t)n * C, x + (size_t)n * C, m->ffn_norm + (size_t)l * C, C, c->norm_eps);
    ag_mm_job fj[2] = {{&m->w1[l], xn2, h1}, {&m->w3[l], xn2, h3}};
    ag_matmul_multi(pool, fj, 2, N);
    if (gemma) {
      geglu_ctx gg = {hg, h1, h3};
      ag_pool_run(pool, (size_t)N * H, 4096, geglu_run, &gg);
    } else {
      swi_ctx sw = {hg, h1, h3};
      ag_pool_run(pool, (size_t)N * H, 4096, swi_run, &sw);
    }
    ag_matmul(pool, t, hg, &m->w2[l], N);
    if (m->post_ffn_norm)
      for (int n = 0; n < N; n++)
        ag_rmsnorm(t + (size_t)n * C, t + (size_t)n * C, m->post_ffn_norm + (size_t)l * C, C, c->norm_eps);
    for (size_t i = 0; i < (size_t)N * C; i++) x[i] = x[i] + t[i];
  }
  for (int n = 0; n < N; n++)
    io->rinvf[n] = ag_rmsnorm(io->xf + (size_t)n * C, x + (size_t)n * C, m->final_norm, C, c->norm_eps);
}

/* ---------- inference state ---------- */

#define LOGIT_ROWS AG_INFER_LOGIT_ROWS

struct ag_infer {
  const ag_model *m;
  ag_pool *pool;
  int max_t, pos;
  float *mem;
  size_t mem_bytes;
  float *kc, *vc;  /* (L, KVH, S, HD): each KV head's positions together */
  float *x, *xn1, *rinv1, *q, *att, *ao, *xn2, *rinv2, *h1, *h3, *hg, *tmp, *xf, *rinvf;
  float *logits;   /* (logit_rows, V) */
  int logit_rows;  /* at most LOGIT_ROWS, and at most 16 MiB of logits for large vocabularies */
  float *rope;     /* (S, HD/2, 2) */
  float *rope_swa; /* (S, HD/2, 2) sliding-window layers' table, or NULL */
  int rope_upto;   /* the tables' rows [0, rope_upto) are filled */
};

int ag_infer_open(const ag_model *m, int max_t, int threads, ag_infer **out) {
  *out = NULL;
  const ag_model_config *c = &m->cfg;
  if (max_t < 1) return ag_fail(AG_E_INVALID, "max_t must be >= 1");
  if (max_t > c->seq_len) max_t = c->seq_len;
  size_t C = (size_t)c->dim, L = (size_t)c->n_layers, S = (size_t)c->seq_len, NH = (size_t)c->n_heads,
         HD = (size_t)ag_head_dim(c), KVD = HD * (size_t)c->n_kv_heads, QD = HD * NH,
         H = (size_t)c->hidden_dim, V = (size_t)c->vocab_size, T = (size_t)max_t;
  /* sizes table: every buffer is carved out of one allocation */
  size_t LR = AG_MIN(T, (size_t)LOGIT_ROWS);
  LR = AG_MIN(LR, AG_MAX((size_t)8, ((size_t)4 << 20) / V)); /* only speed depends on it */
  size_t sizes[] = {L * S * KVD, L * S * KVD, T * C, T * C, T, T * QD, T * NH * S, T * QD, T * C, T,
                    T * H, T * H, T * H, T * AG_MAX(C, 2 * KVD), T * C, T, LR * V, S * HD,
                    c->swa_window ? S * HD : 0};
  size_t total = 0;
  for (size_t i = 0; i < AG_ARRAY_LEN(sizes); i++) total += (sizes[i] + 15) / 16 * 16;
  ag_infer *s = ag_xcalloc(1, sizeof *s);
  int rc = ag_pool_open(&s->pool, threads);
  if (rc) {
    free(s);
    return rc;
  }
  /* mapped, not allocated: the kernel's pages are zero (the caches must start so) and made on
   * first use, so a state for a 4,096-token context costs only what a request touches (zeroing
   * SmolLM2's 189 MB cache took 50 ms of every `agora infer`) */
  void *mem = mmap(NULL, total * sizeof(float), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    ag_pool_close(s->pool);
    free(s);
    return ag_fail(AG_E_NOMEM, "cannot map %zu MB for an inference state", total * sizeof(float) >> 20);
  }
  s->mem = mem;
  s->mem_bytes = total * sizeof(float);
  float **ptrs[] = {&s->kc, &s->vc, &s->x, &s->xn1, &s->rinv1, &s->q, &s->att, &s->ao, &s->xn2,
                    &s->rinv2, &s->h1, &s->h3, &s->hg, &s->tmp, &s->xf, &s->rinvf, &s->logits, &s->rope,
                    &s->rope_swa};
  float *p = s->mem;
  for (size_t i = 0; i < AG_ARRAY_LEN(sizes); i++) {
    *ptrs[i] = p;
    p += (sizes[i] + 15) / 16 * 16;
  }
  if (!c->swa_window) s->rope_swa = NULL;
  s->rope_upto = 0; /* the RoPE tables are filled as positions are reached (forward_impl) */
  s->m = m;
  s->max_t = max_t;
  s->logit_rows = (int)LR;
  *out = s;
  return 0;
}

void ag_infer_close(ag_infer *s) {
  if (!s) return;
  ag_pool_close(s->pool);
  munmap(s->mem, s->mem_bytes);
  free(s);
}

void ag_infer_reset(ag_infer *s) { s->pos = 0; }
void ag_infer_rewind(ag_infer *s, int pos) {
  if (pos >= 0 && pos < s->pos) s->pos = pos;
}

size_t ag_infer_kv_floats(const ag_infer *s, int n) {
  const ag_model_config *c = &s->m->cfg;
  return 2 * (size_t)c->n_layers * (size_t)n * (size_t)ag_head_dim(c) * (size_t)c->n_kv_heads;
}

/* The cache of positions [0, n), keys then values, layer by layer, each position's KV heads
 * side by side (dir 0: out of the state, which holds each KV head's positions together). */
static int kv_copy(ag_infer *s, int n, float *buf, int in) {
  const ag_model_config *c = &s->m->cfg;
  if (n < 0 || n > c->seq_len || (!in && n > s->pos))
    return ag_fail(AG_E_RANGE, "%d cached positions asked for; %d are held, the context is %d", n, s->pos, c->seq_len);
  size_t L = (size_t)c->n_layers, S = (size_t)c->seq_len, HD = (size_t)ag_head_dim(c), KVH = (size_t)c->n_kv_heads,
         KVD = HD * KVH;
  size_t row = (size_t)n * KVD;
  for (size_t l = 0; l < L; l++)
    for (int kv = 0; kv < 2; kv++) {
      float *st = (kv ? s->vc : s->kc) + l * S * KVD, *b = buf + (kv * L + l) * row;
      for (size_t g = 0; g < KVH; g++)
        for (size_t p = 0; p < (size_t)n; p++) {
          float *cell = st + (g * S + p) * HD, *flat = b + p * KVD + g * HD;
          memcpy(in ? cell : flat, in ? flat : cell, HD * sizeof(float));
        }
    }
  if (in) s->pos = n;
  return 0;
}

int ag_infer_kv_export(const ag_infer *s, int n, float *out) { return kv_copy((ag_infer *)s, n, out, 0); }
int ag_infer_kv_import(ag_infer *s, int n, const float *in) { return kv_copy(s, n, (float *)in, 1); }
int ag_infer_pos(const ag_infer *s) { return s->pos; }
ag_pool *ag_infer_pool(ag_infer *s) { return s->pool; }
size_t ag_infer_bytes(const ag_infer *s) { return s->mem_bytes; }

static int forward_impl(ag_infer *s, const uint32_t *tokens, int n, float *last_logits,
                        ag_logits_fn fn, ag_logits_chunk_fn chunk, void *ctx);

int ag_infer_forward(ag_infer *s, const uint32_t *tokens, int n, float *last_logits,
                     ag_logits_fn fn, void *ctx) {
  return forward_impl(s, tokens, n, last_logits, fn, NULL, ctx);
}

int ag_infer_forward_chunks(ag_infer *s, const uint32_t *tokens, int n, ag_logits_chunk_fn chunk,
                            void *ctx) {
  return forward_impl(s, tokens, n, NULL, NULL, chunk, ctx);
}

static int forward_impl(ag_infer *s, const uint32_t *tokens, int n, float *last_logits,
                        ag_logits_fn fn, ag_logits_chunk_fn chunk, void *ctx) {
  const ag_model_config *c = &s->m->cfg;
  if (n < 0) return ag_fail(AG_E_INVALID, "negative token count");
  if (n > c->seq_len - s->pos)
    return ag_fail(AG_E_ENGINE_CONTEXT, "%d tokens do not fit: context is %d and %d are used", n, c->seq_len, s->pos);
  for (int i = 0; i < n; i++)
    if (tokens[i] >= (uint32_t)c->vocab_size)
      return ag_fail(AG_E_RANGE, "token id %u is outside the vocabulary (%d)", tokens[i], c->vocab_size);
  size_t C = (size_t)c->dim, V = (size_t)c->vocab_size;
  size_t KVD = (size_t)ag_head_dim(c) * (size_t)c->n_kv_heads, S = (size_t)c->seq_len;
  if (s->pos + n > s->rope_upto) { /* a whole context's tables: 60-100 ms of a Gemma 3 process */
    rope_rows(c, c->rope_theta, s->m->rope_freqs, s->rope, s->rope_upto, s->pos + n);
    if (s->rope_swa) rope_rows(c, c->rope_theta_swa, NULL, s->rope_swa, s->rope_upto, s->pos + n);
    s->rope_upto = s->pos + n;
  }
  for (int done = 0; done < n;) {
    int k = AG_MIN(s->max_t, n - done);
    ag_fwd_io io = {0};
    io.N = k;
    io.rows_per_seq = k;
    io.pos0 = s->pos;
    io.cap = c->seq_len;
    io.tokens = tokens + done;
    io.x = s->x;
    io.xn1 = s->xn1, io.rinv1 = s->rinv1, io.q = s->q, io.att = s->att, io.ao = s->ao;
    io.kc = s->kc, io.kc_s = S * KVD, io.vc = s->vc, io.vc_s = S * KVD, io.kv_heads_major = 1;
    io.xn2 = s->xn2, io.rinv2 = s->rinv2, io.h1 = s->h1, io.h3 = s->h3, io.hg = s->hg;
    io.tmp = s->tmp, io.xf = s->xf, io.rinvf = s->rinvf, io.rope = s->rope, io.rope_swa = s->rope_swa;
    ag_model_forward_rows(s->m, s->pool, &io);
    int base = s->pos;
    s->pos += k;
    if (chunk || fn) {
      for (int r0 = 0; r0 < k; r0 += s->logit_rows) {
        int kk = AG_MIN(s->logit_rows, k - r0);
        ag_matmul(s->pool, s->logits, s->xf + (size_t)r0 * C, &s->m->out, kk);
        if (chunk && chunk(ctx, base + r0, kk, s->logits)) return AG_E_CANCELLED;
        for (int i = 0; fn && i < kk; i++)
          if (fn(ctx, base + r0 + i, s->logits + (size_t)i * V)) return AG_E_CANCELLED;
        if (done + r0 + kk == n && last_logits)
          memcpy(last_logits, s->logits + (size_t)(kk - 1) * V, V * sizeof(float));
      }
    } else if (done + k == n && last_logits) {
      ag_matmul(s->pool, last_logits, s->xf + (size_t)(k - 1) * C, &s->m->out, 1);
    }
    done += k;
  }
  return 0;
}

const ag_model *ag_infer_model(const ag_infer *s) { return s->m; }
