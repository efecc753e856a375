/*
 * train.c — backward pass, AdamW and the training loop pieces (see train.h).
 * Every backward op reduces in a documented fixed order; threads split independent outputs:
 * matmul rows/tokens, and for attention one unit per (sequence, kv head) owns dq of its heads
 * and dk/dv of its positions, accumulating over (t ascending, head ascending).
 * Does not: allocate after ag_trainer_open, read files, or print.
 */
#include "engine/train.h"

#include "core/err.h"
#include "core/util.h"
#include "engine/detmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ag_train_defaults(ag_train_config *tc) {
  *tc = (ag_train_config){.batch = 8, .seq = 128, .accum = 1, .steps = 1000, .warmup = 50,
                          .lr = 1e-3f, .min_lr = 1e-4f, .wd = 0.1f, .beta1 = 0.9f,
                          .beta2 = 0.95f, .eps = 1e-8f, .clip = 1.0f, .seed = 1};
}

int ag_train_config_check(const ag_train_config *tc, const ag_model_config *mc) {
  if (tc->batch < 1 || tc->batch > 4096) return ag_fail(AG_E_INVALID, "batch must be in 1..4096");
  if (tc->seq < 1 || tc->seq > mc->seq_len)
    return ag_fail(AG_E_INVALID, "seq must be in 1..%d (the model's context)", mc->seq_len);
  if ((uint64_t)tc->batch * tc->seq > (1u << 20)) return ag_fail(AG_E_TOO_LARGE, "batch * seq too large");
  if (tc->accum < 1 || tc->accum > 4096) return ag_fail(AG_E_INVALID, "accum must be in 1..4096");
  if (tc->steps < 1) return ag_fail(AG_E_INVALID, "steps must be >= 1");
  if (tc->warmup < 0) return ag_fail(AG_E_INVALID, "warmup must be >= 0");
  if (!(tc->lr > 0 && tc->lr < 10) || !(tc->min_lr >= 0 && tc->min_lr <= tc->lr))
    return ag_fail(AG_E_INVALID, "need 0 < lr < 10 and 0 <= min_lr <= lr");
  if (!(tc->wd >= 0 && tc->wd < 1)) return ag_fail(AG_E_INVALID, "weight decay must be in [0, 1)");
  if (!(tc->beta1 >= 0 && tc->beta1 < 1 && tc->beta2 >= 0 && tc->beta2 < 1 && tc->eps > 0))
    return ag_fail(AG_E_INVALID, "need betas in [0, 1) and eps > 0");
  if (!(tc->clip >= 0)) return ag_fail(AG_E_INVALID, "clip must be >= 0");
  return 0;
}

float ag_train_lr(const ag_train_config *tc, int64_t step) {
  if (step < tc->warmup) return (float)((double)tc->lr * (double)(step + 1) / (double)tc->warmup);
  int64_t span = tc->steps - tc->warmup;
  double prog = span > 0 ? (double)(step - tc->warmup) / (double)span : 1.0;
  if (prog > 1.0) prog = 1.0;
  double s, c;
  ag_sincos(3.141592653589793 * prog, &s, &c);
  return (float)((double)tc->min_lr + 0.5 * (1.0 + c) * ((double)tc->lr - (double)tc->min_lr));
}

void ag_data_batch(const ag_tokens *d, uint64_t seed, uint64_t step, int micro, int B, int T,
                   uint32_t *in, uint32_t *tgt) {
  uint64_t span = d->n - (uint64_t)T - 1;
  for (int b = 0; b < B; b++) {
    uint64_t start = ag_philox_below(seed, step, (uint64_t)micro << 32 | (uint64_t)b, span + 1);
    for (int t = 0; t < T; t++) {
      in[(size_t)b * T + t] = d->tok[start + t];
      tgt[(size_t)b * T + t] = d->tok[start + t + 1];
    }
  }
}

struct ag_trainer {
  ag_model *m;
  ag_train_config tc;
  ag_pool *pool;
  int B, T, N;
  int64_t step;
  float *mem;
  float *grads, *mom, *vel; /* blob layout */
  size_t nblob;
  /* saved activations */
  float *xin, *xn1, *rinv1, *q, *kc, *vc, *att, *ao, *xmid, *xn2, *rinv2, *h1, *h3, *hg;
  float *x, *tmp, *xf, *rinvf, *logits, *rope;
  /* activation gradients */
  float *dx, *dxn, *dt, *dq, *dk, *dv, *dao, *dh1, *dh3, *dhg, *dp;
  uint32_t *in, *tgt;
  double *row_loss;
};

int ag_trainer_open(ag_model *m, const ag_train_config *tc, int threads, ag_trainer **out) {
  *out = NULL;
  if (m->gguf || m->cfg.arch != AG_ARCH_LLAMA || m->cfg.head_dim)
    return ag_fail(AG_E_UNSUPPORTED, "training works on Agora's own models, not on a GGUF file as published");
  if (m->wtype != AG_DT_F32)
    return ag_fail(AG_E_UNSUPPORTED, "training needs fp32 weights (this model is 8-bit)");
  int rc = ag_train_config_check(tc, &m->cfg);
  if (rc) return rc;
  const ag_model_config *c = &m->cfg;
  size_t B = (size_t)tc->batch, T = (size_t)tc->seq, N = B * T, C = (size_t)c->dim,
         L = (size_t)c->n_layers, NH = (size_t)c->n_heads, HD = C / NH,
         KVH = (size_t)c->n_kv_heads, KVD = HD * KVH, H = (size_t)c->hidden_dim,
         V = (size_t)c->vocab_size, S = (size_t)c->seq_len, P = m->blob_len / sizeof(float);
  size_t sizes[] = {P, P, P,
                    L * N * C, L * N * C, L * N, L * N * C, L * N * KVD, L * N * KVD,
                    L * N * NH * T, L * N * C, L * N * C, L * N * C, L * N, L * N * H, L * N * H,
                    L * N * H, N * C, N * AG_MAX(C, 2 * KVD), N * C, N, N * V, S * HD,
                    N * C, N * C, N * C, N * C, N * KVD, N * KVD, N * C, N * H, N * H, N * H,
                    B * KVH * T};
  size_t total = 0;
  for (size_t i = 0; i < AG_ARRAY_LEN(sizes); i++) total += (sizes[i] + 15) / 16 * 16;
  if (total > ((size_t)1 << 34) / sizeof(float))
    return ag_fail(AG_E_TOO_LARGE, "training buffers would need %zu MB", total * 4 >> 20);
  ag_trainer *t = ag_xcalloc(1, sizeof *t);
  rc = ag_pool_open(&t->pool, threads);
  if (rc) {
    free(t);
    return rc;
  }
  void *mem = NULL;
  if (posix_memalign(&mem, 64, total * sizeof(float))) abort();
  memset(mem, 0, total * sizeof(float));
  t->mem = mem;
  float **ptrs[] = {&t->grads, &t->mom, &t->vel, &t->xin, &t->xn1, &t->rinv1, &t->q, &t->kc,
                    &t->vc, &t->att, &t->ao, &t->xmid, &t->xn2, &t->rinv2, &t->h1, &t->h3,
                    &t->hg, &t->x, &t->tmp, &t->xf, &t->rinvf, &t->logits, &t->rope, &t->dx,
                    &t->dxn, &t->dt, &t->dq, &t->dk, &t->dv, &t->dao, &t->dh1, &t->dh3, &t->dhg,
                    &t->dp};
  float *p = t->mem;
  for (size_t i = 0; i < AG_ARRAY_LEN(sizes); i++) {
    *ptrs[i] = p;
    p += (sizes[i] + 15) / 16 * 16;
  }
  float *tab = ag_rope_table(c);
  memcpy(t->rope, tab, S * HD * sizeof(float));
  free(tab);
  t->in = ag_xmalloc(2 * N * sizeof(uint32_t));
  t->tgt = t->in + N;
  t->row_loss = ag_xmalloc(N * sizeof(double));
  t->m = m;
  t->tc = *tc;
  t->B = (int)B, t->T = (int)T, t->N = (int)N;
  t->nblob = P;
  *out = t;
  return 0;
}

void ag_trainer_close(ag_trainer *t) {
  if (!t) return;
  ag_pool_close(t->pool);
  free(t->mem);
  free(t->in);
  free(t->row_loss);
  free(t);
}

float *ag_trainer_grads(ag_trainer *t, size_t *n) {
  *n = t->nblob;
  return t->grads;
}
int64_t ag_trainer_step_count(const ag_trainer *t) { return t->step; }
void ag_trainer_set_step_count(ag_trainer *t, int64_t s) { t->step = s; }
float *ag_trainer_moment(ag_trainer *t, int which) { return which ? t->vel : t->mom; }
const float *ag_trainer_logits(const ag_trainer *t) { return t->logits; }
const ag_train_config *ag_trainer_config(const ag_trainer *t) { return &t->tc; }
void ag_trainer_zero_grad(ag_trainer *t) { memset(t->grads, 0, t->nblob * sizeof(float)); }

static void forward(ag_trainer *t, const uint32_t *in) {
  const ag_model_config *c = &t->m->cfg;
  size_t N = (size_t)t->N, C = (size_t)c->dim, NH = (size_t)c->n_heads,
         KVD = C / NH * (size_t)c->n_kv_heads, H = (size_t)c->hidden_dim, T = (size_t)t->T;
  ag_fwd_io io = {0};
  io.N = t->N;
  io.rows_per_seq = t->T;
  io.pos0 = 0;
  io.cap = t->T;
  io.tokens = in;
  io.x = t->x;
  io.xin = t->xin, io.xin_s = N * C;
  io.xn1 = t->xn1, io.xn1_s = N * C;
  io.rinv1 = t->rinv1, io.rinv1_s = N;
  io.q = t->q, io.q_s = N * C;
  io.kc = t->kc, io.kc_s = N * KVD;
  io.vc = t->vc, io.vc_s = N * KVD;
  io.att = t->att, io.att_s = N * NH * T;
  io.ao = t->ao, io.ao_s = N * C;
  io.xmid = t->xmid, io.xmid_s = N * C;
  io.xn2 = t->xn2, io.xn2_s = N * C;
  io.rinv2 = t->rinv2, io.rinv2_s = N;
  io.h1 = t->h1, io.h1_s = N * H;
  io.h3 = t->h3, io.h3_s = N * H;
  io.hg = t->hg, io.hg_s = N * H;
  io.tmp = t->tmp, io.xf = t->xf, io.rinvf = t->rinvf, io.rope = t->rope;
  ag_model_forward_rows(t->m, t->pool, &io);
  ag_matmul(t->pool, t->logits, t->xf, &t->m->out, t->N);
}

/* Softmax cross-entropy per row; turns logits into dlogits * scale when scale != 0. */
typedef struct {
  ag_trainer *t;
  const uint32_t *tgt;
  float scale;
} ce_ctx;

static void ce_run(void *v, size_t b, size_t e) {
  ce_ctx *c = v;
  size_t V = (size_t)c->t->m->cfg.vocab_size;
  for (size_t n = b; n < e; n++) {
    float *l = c->t->logits + n * V;
    float mx = -INFINITY;
    for (size_t j = 0; j < V; j++) mx = fmaxf(mx, l[j]);
    double sum = 0.0;
    float lt = l[c->tgt[n]];
    if (c->scale == 0.0f) {
      for (size_t j = 0; j < V; j++) sum += (double)ag_expf(l[j] - mx);
    } else {
      for (size_t j = 0; j < V; j++) {
        l[j] = ag_expf(l[j] - mx);
        sum += (double)l[j];
      }
      float sf = (float)sum;
      for (size_t j = 0; j < V; j++) l[j] = (l[j] / sf - (j == c->tgt[n] ? 1.0f : 0.0f)) * c->scale;
    }
    c->t->row_loss[n] = ag_ln(sum) + (double)mx - (double)lt;
  }
}

static void rms_bwd(float *dx, float *dw, const float *dy, const float *x, const float *rinv,
                    const float *w, float *g, int N, int C) {
  for (int n = 0; n < N; n++) {
    const float *dyr = dy + (size_t)n * C, *xr = x + (size_t)n * C;
    float *gr = g + (size_t)n * C, *dxr = dx + (size_t)n * C, r = rinv[n];
    for (int i = 0; i < C; i++) gr[i] = dyr[i] * w[i];
    float d = ag_dot(gr, xr, (size_t)C);
    float coef = (r * r * r) * d / (float)C;
    for (int i = 0; i < C; i++) dxr[i] = dxr[i] + (r * gr[i] - coef * xr[i]);
  }
  for (int n = 0; n < N; n++) {
    const float *dyr = dy + (size_t)n * C, *xr = x + (size_t)n * C;
    for (int i = 0; i < C; i++) dw[i] = fmaf(dyr[i], xr[i] * rinv[n], dw[i]);
  }
}

static void rope_bwd_row(float *d, int nheads, int HD, const float *tab) {
  int half = HD / 2;
  for (int h = 0; h < nheads; h++) {
    float *p = d + h * HD;
    for (int i = 0; i < half; i++) {
      float c = tab[2 * i], s = tab[2 * i + 1], a = p[2 * i], b = p[2 * i + 1];
      float ac = a * c, bs = b * s, as = a * s, bc = b * c;
      p[2 * i] = ac + bs;
      p[2 * i + 1] = bc - as;
    }
  }
}

typedef struct {
  ag_trainer *t;
  int l;
} attb_ctx;

/* Units are (sequence b, kv head g). */
static void attb_run(void *v, size_t ub, size_t ue) {
  attb_ctx *a = v;
  ag_trainer *t = a->t;
  const ag_model_config *c = &t->m->cfg;
  int C = c->dim, NH = c->n_heads, HD = C / NH, KVH = c->n_kv_heads, KVD = HD * KVH,
      grp = NH / KVH, T = t->T;
  size_t N = (size_t)t->N;
  float scale = 1.0f / sqrtf((float)HD);
  const float *q = t->q + (size_t)a->l * N * C, *kc = t->kc + (size_t)a->l * N * KVD,
              *vc = t->vc + (size_t)a->l * N * KVD, *att = t->att + (size_t)a->l * N * NH * T;
  for (size_t u = ub; u < ue; u++) {
    int b = (int)(u / KVH), g = (int)(u % KVH);
    float *dp = t->dp + u * T;
    for (int tt = 0; tt < T; tt++) {
      size_t n = (size_t)b * T + tt;
      for (int h = g * grp; h < (g + 1) * grp; h++) {
        const float *p = att + (n * NH + h) * T, *dout = t->dao + n * C + h * HD,
                    *qv = q + n * C + h * HD;
        float *dqv = t->dq + n * C + h * HD;
        float s = 0.0f;
        ag_dot_many(dout, vc + (size_t)b * T * KVD + g * HD, (size_t)KVD, tt + 1, (size_t)HD, dp);
        for (int j = 0; j <= tt; j++) s = fmaf(p[j], dp[j], s);
        memset(dqv, 0, (size_t)HD * sizeof(float));
        for (int j = 0; j <= tt; j++) {
          float ds = (p[j] * (dp[j] - s)) * scale;
          size_t kv = ((size_t)b * T + j) * KVD + g * HD;
          ag_axpy(dqv, ds, kc + kv, (size_t)HD);
          ag_axpy(t->dk + kv, ds, qv, (size_t)HD);
          ag_axpy(t->dv + kv, p[j], dout, (size_t)HD);
        }
      }
    }
  }
}

static float *gptr(ag_trainer *t, int kind, int l) {
  const ag_tensor_info *in = &t->m->info[kind];
  return t->grads + in->offset / sizeof(float) + (size_t)l * in->rows * in->cols;
}

static const float *wptr(ag_trainer *t, int kind, int l) {
  const ag_tensor_info *in = &t->m->info[kind];
  return (const float *)(t->m->blob + in->offset) + (size_t)l * in->rows * in->cols;
}

typedef struct {
  ag_trainer *t;
  int l;
} swb_ctx;

static void swb_run(void *v, size_t b, size_t e) {
  swb_ctx *s = v;
  ag_trainer *t = s->t;
  size_t off = (size_t)s->l * t->N * t->m->cfg.hidden_dim;
  const float *h1 = t->h1 + off, *h3 = t->h3 + off;
  for (size_t i = b; i < e; i++) {
    float sg = 1.0f / (1.0f + ag_expf(-h1[i]));
    float si = h1[i] * sg;
    float dsi = sg * (1.0f + h1[i] * (1.0f - sg));
    t->dh3[i] = t->dhg[i] * si;
    t->dh1[i] = (t->dhg[i] * h3[i]) * dsi;
  }
}

static void add_into(float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++) a[i] = a[i] + b[i];
}

static void backward(ag_trainer *t, const uint32_t *in) {
  ag_model *m = t->m;
  const ag_model_config *c = &m->cfg;
  int N = t->N, C = c->dim, NH = c->n_heads, HD = C / NH, KVH = c->n_kv_heads, KVD = HD * KVH,
      H = c->hidden_dim, V = c->vocab_size, T = t->T, half = HD / 2;
  size_t NC = (size_t)N * C;
  ag_pool *pool = t->pool;
  /* classifier */
  float *dwout = c->tied ? gptr(t, AG_T_TOK_EMB, 0) : gptr(t, AG_T_OUT, 0);
  const float *wout = c->tied ? wptr(t, AG_T_TOK_EMB, 0) : wptr(t, AG_T_OUT, 0);
  ag_matmul_bwd_x(pool, t->dxn, t->logits, wout, N, V, C);
  ag_matmul_bwd_w(pool, dwout, t->logits, t->xf, N, V, C);
  /* final norm: x (after last layer) -> xf */
  memset(t->dx, 0, NC * sizeof(float));
  rms_bwd(t->dx, gptr(t, AG_T_FINAL_NORM, 0), t->dxn, t->x, t->rinvf, m->final_norm, t->dt, N, C);
  for (int l = c->n_layers - 1; l >= 0; l--) {
    size_t lNC = (size_t)l * NC, lNH = (size_t)l * N * H;
    /* FFN */
    ag_matmul_bwd_x(pool, t->dhg, t->dx, wptr(t, AG_T_W2, l), N, C, H);
    ag_matmul_bwd_w(pool, gptr(t, AG_T_W2, l), t->dx, t->hg + lNH, N, C, H);
    swb_ctx sw = {t, l};
    ag_pool_run(pool, (size_t)N * H, 4096, swb_run, &sw);
    ag_matmul_bwd_x(pool, t->dxn, t->dh1, wptr(t, AG_T_W1, l), N, H, C);
    ag_matmul_bwd_x(pool, t->dt, t->dh3, wptr(t, AG_T_W3, l), N, H, C);
    add_into(t->dxn, t->dt, NC);
    ag_matmul_bwd_w(pool, gptr(t, AG_T_W1, l), t->dh1, t->xn2 + lNC, N, H, C);
    ag_matmul_bwd_w(pool, gptr(t, AG_T_W3, l), t->dh3, t->xn2 + lNC, N, H, C);
    rms_bwd(t->dx, gptr(t, AG_T_FFN_NORM, l), t->dxn, t->xmid + lNC, t->rinv2 + (size_t)l * N,
            m->ffn_norm + (size_t)l * C, t->dt, N, C);
    /* attention output projection */
    ag_matmul_bwd_x(pool, t->dao, t->dx, wptr(t, AG_T_WO, l), N, C, C);
    ag_matmul_bwd_w(pool, gptr(t, AG_T_WO, l), t->dx, t->ao + lNC, N, C, C);
    /* attention */
    memset(t->dk, 0, (size_t)N * KVD * sizeof(float));
    memset(t->dv, 0, (size_t)N * KVD * sizeof(float));
    attb_ctx ab = {t, l};
    ag_pool_run(pool, (size_t)t->B * KVH, 1, attb_run, &ab);
    for (int n = 0; n < N; n++) {
      const float *tab = t->rope + (size_t)(n % T) * half * 2;
      rope_bwd_row(t->dq + (size_t)n * C, NH, HD, tab);
      rope_bwd_row(t->dk + (size_t)n * KVD, KVH, HD, tab);
    }
    /* q, k, v projections */
    ag_matmul_bwd_x(pool, t->dxn, t->dq, wptr(t, AG_T_WQ, l), N, C, C);
    ag_matmul_bwd_x(pool, t->dt, t->dk, wptr(t, AG_T_WK, l), N, KVD, C);
    add_into(t->dxn, t->dt, NC);
    ag_matmul_bwd_x(pool, t->dt, t->dv, wptr(t, AG_T_WV, l), N, KVD, C);
    add_into(t->dxn, t->dt, NC);
    ag_matmul_bwd_w(pool, gptr(t, AG_T_WQ, l), t->dq, t->xn1 + lNC, N, C, C);
    ag_matmul_bwd_w(pool, gptr(t, AG_T_WK, l), t->dk, t->xn1 + lNC, N, KVD, C);
    ag_matmul_bwd_w(pool, gptr(t, AG_T_WV, l), t->dv, t->xn1 + lNC, N, KVD, C);
    rms_bwd(t->dx, gptr(t, AG_T_ATTN_NORM, l), t->dxn, t->xin + lNC, t->rinv1 + (size_t)l * N,
            m->attn_norm + (size_t)l * C, t->dt, N, C);
  }
  /* embedding: rows in token order */
  float *demb = gptr(t, AG_T_TOK_EMB, 0);
  for (int n = 0; n < N; n++) add_into(demb + (size_t)in[n] * C, t->dx + (size_t)n * C, (size_t)C);
}

static int check_ids(const ag_trainer *t, const uint32_t *in, const uint32_t *tgt) {
  for (int n = 0; n < t->N; n++)
    if (in[n] >= (uint32_t)t->m->cfg.vocab_size || tgt[n] >= (uint32_t)t->m->cfg.vocab_size)
      return ag_fail(AG_E_RANGE, "token id out of the vocabulary in the training batch");
  return 0;
}

static double mean_loss(const ag_trainer *t) {
  double s = 0.0;
  for (int n = 0; n < t->N; n++) s += t->row_loss[n];
  return s / (double)t->N;
}

int ag_trainer_fwd_bwd(ag_trainer *t, const uint32_t *in, const uint32_t *tgt, float grad_scale,
                       double *loss) {
  int rc = check_ids(t, in, tgt);
  if (rc) return rc;
  forward(t, in);
  ce_ctx cc = {t, tgt, grad_scale};
  ag_pool_run(t->pool, (size_t)t->N, 16, ce_run, &cc);
  *loss = mean_loss(t);
  backward(t, in);
  return 0;
}

int ag_trainer_loss(ag_trainer *t, const uint32_t *in, const uint32_t *tgt, double *loss) {
  int rc = check_ids(t, in, tgt);
  if (rc) return rc;
  forward(t, in);
  ce_ctx cc = {t, tgt, 0.0f};
  ag_pool_run(t->pool, (size_t)t->N, 16, ce_run, &cc);
  *loss = mean_loss(t);
  return 0;
}

/* ---------- optimizer ---------- */

#define NORM_CHUNK 4096

typedef struct {
  ag_trainer *t;
  float lr, bc1, bc2, gscale;
  size_t off, end; /* float range of one tensor */
  int decay;
} adam_ctx;

static void adam_run(void *v, size_t b, size_t e) {
  adam_ctx *a = v;
  ag_trainer *t = a->t;
  float *p = (float *)t->m->blob;
  float b1 = t->tc.beta1, b2 = t->tc.beta2, ob1 = 1.0f - b1, ob2 = 1.0f - b2, eps = t->tc.eps,
        wd = t->tc.wd;
  for (size_t i = a->off + b; i < a->off + e; i++) {
    float g = t->grads[i] * a->gscale;
    t->mom[i] = b1 * t->mom[i] + ob1 * g;
    t->vel[i] = b2 * t->vel[i] + ob2 * (g * g);
    float mh = t->mom[i] / a->bc1, vh = t->vel[i] / a->bc2;
    float upd = mh / (sqrtf(vh) + eps);
    if (a->decay) upd = upd + wd * p[i];
    p[i] = p[i] - a->lr * upd;
  }
}

static double pow_int(double b, int64_t e) {
  double r = 1.0;
  while (e > 0) {
    if (e & 1) r *= b;
    b *= b;
    e >>= 1;
  }
  return r;
}

int ag_trainer_step(ag_trainer *t, const ag_tokens *d, double *loss, float *gnorm) {
  int B = t->B, T = t->T, acc = t->tc.accum;
  if (d->n < (size_t)T + 2) return ag_fail(AG_E_INVALID, "training data has too few tokens");
  ag_trainer_zero_grad(t);
  float gs = 1.0f / ((float)B * (float)T * (float)acc);
  double lsum = 0.0;
  for (int k = 0; k < acc; k++) {
    ag_data_batch(d, t->tc.seed, (uint64_t)t->step, k, B, T, t->in, t->tgt);
    double l;
    int rc = ag_trainer_fwd_bwd(t, t->in, t->tgt, gs, &l);
    if (rc) return rc;
    lsum += l;
  }
  *loss = lsum / acc;
  /* global norm: fixed chunks summed in order */
  double ss = 0.0;
  for (size_t o = 0; o < t->nblob; o += NORM_CHUNK) {
    size_t len = AG_MIN((size_t)NORM_CHUNK, t->nblob - o);
    ss += (double)ag_dot(t->grads + o, t->grads + o, len);
  }
  float norm = (float)sqrt(ss);
  *gnorm = norm;
  if (!isfinite(norm)) return ag_fail(AG_E_INTERNAL, "gradient is not finite at step %lld", (long long)t->step);
  float scale = (t->tc.clip > 0 && norm > t->tc.clip) ? t->tc.clip / norm : 1.0f;
  int64_t s1 = t->step + 1;
  adam_ctx ac = {t, ag_train_lr(&t->tc, t->step), (float)(1.0 - pow_int(t->tc.beta1, s1)),
                 (float)(1.0 - pow_int(t->tc.beta2, s1)), scale, 0, 0, 0};
  for (int k = 0; k < AG_T_COUNT; k++) {
    const ag_tensor_info *in = &t->m->info[k];
    if (!in->present) continue;
    ac.off = in->offset / sizeof(float);
    ac.decay = in->matrix;
    ag_pool_run(t->pool, in->bytes / sizeof(float), 4096, adam_run, &ac);
  }
  t->step++;
  return 0;
}

int ag_trainer_eval(ag_trainer *t, const ag_tokens *d, int max_batches, double *loss) {
  int B = t->B, T = t->T;
  size_t per = (size_t)B * T;
  size_t avail = d->n > 1 ? (d->n - 1) / per : 0;
  if (avail == 0) return ag_fail(AG_E_INVALID, "validation data has fewer than %zu tokens", per + 1);
  size_t nb = AG_MIN(avail, (size_t)max_batches);
  double s = 0.0;
  for (size_t k = 0; k < nb; k++) {
    for (size_t i = 0; i < per; i++) {
      t->in[i] = d->tok[k * per + i];
      t->tgt[i] = d->tok[k * per + i + 1];
    }
    double l;
    int rc = ag_trainer_loss(t, t->in, t->tgt, &l);
    if (rc) return rc;
    s += l;
  }
  *loss = s / (double)nb;
  return 0;
}

double ag_train_flops_per_token(const ag_model_config *c, int T) {
  double C = c->dim, L = c->n_layers, KVD = (double)c->dim / c->n_heads * c->n_kv_heads,
         H = c->hidden_dim, V = c->vocab_size;
  double mm = L * (2 * C * C + 2 * C * KVD + 3 * C * H) + V * C; /* multiply-adds per token */
  double attn = L * C * (double)T;                               /* q·k and p·v, causal mean */
  return 6.0 * (mm + attn);
}
