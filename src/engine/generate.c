#define _GNU_SOURCE
/*
 * generate.c — the sampler, token generation with a hash-chained top-k commitment, and the
 * receipt encoder, parser and verifier (see generate.h for the exact rules).
 * Does not: sign receipts (the network layer signs the receipt bytes with the miner's hotkey).
 */
#include "engine/generate.h"

#include "core/err.h"
#include "core/util.h"
#include "engine/detmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

void ag_sampling_defaults(ag_sampling *s) {
  *s = (ag_sampling){.temperature = 0.8f, .top_p = 0.95f, .top_k = 40, .stop = AG_TOK_EOT, .seed = 1};
}

int ag_sampling_check(const ag_sampling *s, int vocab) {
  if (!(s->temperature >= 0.0f && s->temperature <= 100.0f))
    return ag_fail(AG_E_ENGINE_SAMPLING, "temperature must be in [0, 100]");
  if (!(s->top_p > 0.0f && s->top_p <= 1.0f)) return ag_fail(AG_E_ENGINE_SAMPLING, "top-p must be in (0, 1]");
  if (s->top_k < 0 || s->top_k > vocab)
    return ag_fail(AG_E_ENGINE_SAMPLING, "top-k must be in 0..%d (0 = off)", vocab);
  if (s->stop < AG_STOP_EOG || s->stop >= vocab)
    return ag_fail(AG_E_ENGINE_SAMPLING, "stop token must be -1, -2 (end of generation) or a token id below %d", vocab);
  if (!(s->frequency_penalty >= -AG_PENALTY_MAX && s->frequency_penalty <= AG_PENALTY_MAX) ||
      !(s->presence_penalty >= -AG_PENALTY_MAX && s->presence_penalty <= AG_PENALTY_MAX))
    return ag_fail(AG_E_ENGINE_SAMPLING, "frequency and presence penalties must be in [-2, 2]");
  return 0;
}

static int has_penalty(const ag_sampling *s) {
  return s->frequency_penalty != 0.0f || s->presence_penalty != 0.0f;
}

int ag_is_stop(const ag_model *m, int32_t stop, uint32_t tok) {
  if (stop >= 0) return tok == (uint32_t)stop;
  return stop == AG_STOP_EOG && m->tok && ag_tok_is_eog(m->tok, tok);
}

int32_t ag_model_stop(const ag_model *m) { return m->gguf ? AG_STOP_EOG : AG_TOK_EOT; }

int ag_sample_scratch_init(ag_sample_scratch *s, int vocab) {
  s->w = ag_xmalloc(sizeof(float) * (size_t)vocab);
  s->idx = ag_xmalloc(sizeof(uint32_t) * (size_t)vocab);
  s->tmp = NULL; /* the ranking's buffers, made on its first use */
  s->cap = vocab;
  s->count = s->seen = NULL; /* the penalties' too */
  s->pen = NULL;
  s->nseen = s->counted = 0;
  return 0;
}

void ag_sample_scratch_free(ag_sample_scratch *s) {
  free(s->w);
  free(s->idx);
  free(s->tmp);
  free(s->count);
  free(s->seen);
  free(s->pen);
  memset(s, 0, sizeof *s);
}

/* ---------- penalties ---------- */

/* Counts outputs counted..i-1 of out into the scratch: the outputs a scratch counts only grow,
 * unless fresh (or i is behind them) starts the count again. */
static void count_outputs(ag_sample_scratch *s, int vocab, const uint32_t *out, int i, int fresh) {
  if (!s->count) {
    s->count = ag_xcalloc((size_t)vocab, sizeof *s->count);
    s->seen = ag_xmalloc(sizeof *s->seen * (size_t)vocab);
  }
  if (fresh || i < s->counted) {
    for (int j = 0; j < s->nseen; j++) s->count[s->seen[j]] = 0;
    s->nseen = s->counted = 0;
  }
  for (; s->counted < i; s->counted++) {
    uint32_t t = out[s->counted];
    if (!s->count[t]++) s->seen[s->nseen++] = t;
  }
}

/* The penalized logit of a token output c >= 1 times: (l - c * f) - p, each operation rounded
 * in fp32 (OpenAI's rule; docs/engine.md "Sampling"). */
static inline float penalized(float l, uint32_t c, const ag_sampling *sp) {
  float a = (float)c * sp->frequency_penalty;
  float b = l - a;
  return b - sp->presence_penalty;
}

/* Applies the penalties for the counted outputs to row l in place. */
static void penalize(float *l, const ag_sample_scratch *s, const ag_sampling *sp) {
  for (int j = 0; j < s->nseen; j++) {
    uint32_t t = s->seen[j];
    l[t] = penalized(l[t], s->count[t], sp);
  }
}

/* a ranks before b: larger value first, then smaller id; NaN ranks last */
static inline int before(float va, uint32_t ia, float vb, uint32_t ib) {
  if (va != va) return 0;
  if (vb != vb) return 1;
  return va > vb || (va == vb && ia < ib);
}

/* Inserts (v, j) into the ranked list of n (< k, or == k replacing the last). */
static inline void topk_insert(float v, uint32_t j, int k, int *n, uint32_t *ids, float *vals) {
  int p = *n < k ? (*n)++ : k - 1;
  while (p > 0 && before(v, j, vals[p - 1], ids[p - 1])) {
    vals[p] = vals[p - 1];
    ids[p] = ids[p - 1];
    p--;
  }
  vals[p] = v;
  ids[p] = j;
}

static inline void topk_one(const float *l, int j, int k, int *n, uint32_t *ids, float *vals) {
  float v = l[j];
  if (*n == k && !before(v, (uint32_t)j, vals[k - 1], ids[k - 1])) return;
  topk_insert(v, (uint32_t)j, k, n, ids, vals);
}

#if defined(__x86_64__)
/* Skips blocks of 16 logits that are all below the current k-th value. The k-th value only
 * grows as the scan proceeds, so anything skipped would also be rejected one by one: the
 * result is exactly the scalar scan's. */
__attribute__((target("avx512f"))) static void topk_avx512(const float *l, int vocab, int k, int *n,
                                                           uint32_t *ids, float *vals, int j) {
  for (; j + 16 <= vocab; j += 16) {
    float thr = vals[k - 1];
    if (thr != thr) break; /* a NaN in the list: the scalar scan handles it */
    __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(l + j), _mm512_set1_ps(thr), _CMP_GE_OQ);
    while (m) {
      int b = __builtin_ctz(m);
      m &= (__mmask16)(m - 1);
      topk_one(l, j + b, k, n, ids, vals);
    }
    /* NaNs never pass >=, and rank last: rejected by the scalar scan too */
  }
  for (; j < vocab; j++) topk_one(l, j, k, n, ids, vals);
}
#endif

void ag_topk(const float *l, int vocab, int k, uint32_t *ids, float *vals) {
  int n = 0, j = 0;
  for (; j < vocab && n < k; j++) topk_one(l, j, k, &n, ids, vals);
#if defined(__x86_64__)
  if (ag_simd_get() == AG_SIMD_AVX512) {
    topk_avx512(l, vocab, k, &n, ids, vals, j);
    return;
  }
#endif
  for (; j < vocab; j++) {
    float v = l[j];
    /* fast reject: below the last kept value (NaN compares false and ranks last) */
    if (!(v >= vals[k - 1]) && vals[k - 1] == vals[k - 1]) continue;
    topk_one(l, j, k, &n, ids, vals);
  }
}

/* A logit's place in the ranking as an unsigned key: a smaller key ranks first. Larger values
 * get smaller keys; -0 and +0 are equal (as `before` has them); every NaN gets the largest key
 * (NaN ranks last). */
static inline uint32_t rank_key(float v) {
  if (v != v) return UINT32_MAX;
  if (v == 0.0f) v = 0.0f; /* -0 to +0 */
  uint32_t u;
  memcpy(&u, &v, 4);
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending in v */
  return ~u;
}

/* Writes to idx all of 0..vocab-1 in the order of `before` (logit desc, id asc, NaN last):
 * a stable least-significant-digit radix sort of the keys (11, 11 and 10 bits) of ids taken in
 * ascending order, so equal keys keep ascending ids. The order is total, so this is the one
 * permutation any correct sort gives; a comparison sort of 262,144 logits took 40 ms a
 * token. tmp holds 3 x vocab entries. */
static void rank_all(const float *l, int vocab, uint32_t *idx, uint32_t *tmp) {
  enum { B0 = 11, B1 = 11, N0 = 1 << B0, N1 = 1 << B1, N2 = 1 << (32 - B0 - B1) };
  uint32_t c0[N0] = {0}, c1[N1] = {0}, c2[N2] = {0};
  size_t n = (size_t)vocab;
  uint32_t *keys = tmp;
  for (size_t j = 0; j < n; j++) {
    uint32_t k = rank_key(l[j]);
    keys[j] = k;
    c0[k & (N0 - 1)]++;
    c1[(k >> B0) & (N1 - 1)]++;
    c2[k >> (B0 + B1)]++;
  }
  uint32_t s0 = 0, s1 = 0, s2 = 0; /* counts to first places */
  for (size_t d = 0; d < N0; d++) s0 += c0[d], c0[d] = s0 - c0[d];
  for (size_t d = 0; d < N1; d++) s1 += c1[d], c1[d] = s1 - c1[d];
  for (size_t d = 0; d < N2; d++) s2 += c2[d], c2[d] = s2 - c2[d];
  uint32_t *k1 = tmp + n, *i1 = idx; /* sorted by the low digit */
  for (size_t j = 0; j < n; j++) {
    uint32_t k = keys[j];
    uint32_t at = c0[k & (N0 - 1)]++;
    k1[at] = k, i1[at] = (uint32_t)j;
  }
  uint32_t *k2 = keys, *i2 = tmp + 2 * n; /* then by the middle one (keys are free now) */
  for (size_t j = 0; j < n; j++) {
    uint32_t k = k1[j];
    uint32_t at = c1[(k >> B0) & (N1 - 1)]++;
    k2[at] = k, i2[at] = i1[j];
  }
  for (size_t j = 0; j < n; j++) idx[c2[k2[j] >> (B0 + B1)]++] = i2[j];
}

/* Samples with the top n logits already ranked in (ids, vals) when n > 0 (n >= top_k, and
 * n >= 1 for greedy); otherwise ranks what it needs itself. Same result either way. */
static uint32_t sample_ranked(const float *l, int vocab, const ag_sampling *sp, uint64_t i,
                              ag_sample_scratch *sc, const uint32_t *rids, const float *rvals, int rn) {
  if (sp->temperature == 0.0f) {
    if (rn > 0) return rids[0];
    uint32_t best = 0;
    for (int j = 1; j < vocab; j++)
      if (before(l[j], (uint32_t)j, l[best], best)) best = (uint32_t)j;
    return best;
  }
  float u = ag_philox_uniform(sp->seed, i, AG_SAMPLE_STREAM);
  int n;
  float mx;
  if (sp->top_k > 0) {
    n = sp->top_k;
    if (rn >= n) {
      memcpy(sc->idx, rids, sizeof(uint32_t) * (size_t)n);
      memcpy(sc->w, rvals, sizeof(float) * (size_t)n);
    } else {
      ag_topk(l, vocab, n, sc->idx, sc->w);
    }
    mx = l[sc->idx[0]];
  } else {
    n = vocab;
    uint32_t best = 0;
    for (int j = 1; j < vocab; j++)
      if (before(l[j], (uint32_t)j, l[best], best)) best = (uint32_t)j;
    mx = l[best];
    if (sp->top_p < 1.0f) { /* ranked; without a cut, in id order */
      if (!sc->tmp) sc->tmp = ag_xmalloc(sizeof(uint32_t) * 3 * (size_t)sc->cap);
      rank_all(l, vocab, sc->idx, sc->tmp);
    } else {
      for (int j = 0; j < vocab; j++) sc->idx[j] = (uint32_t)j;
    }
  }
  float tot = 0.0f;
  for (int j = 0; j < n; j++) {
    float lv = l[sc->idx[j]];
    sc->w[j] = lv == lv ? ag_expf((lv - mx) / sp->temperature) : 0.0f;
    tot += sc->w[j];
  }
  int keep = n;
  if (sp->top_p < 1.0f) {
    float lim = sp->top_p * tot, cum = 0.0f;
    for (int j = 0; j < n; j++) {
      cum += sc->w[j];
      if (cum >= lim) {
        keep = j + 1;
        tot = cum;
        break;
      }
    }
  }
  float r = u * tot, cum = 0.0f;
  for (int j = 0; j < keep; j++) {
    cum += sc->w[j];
    if (r < cum) return sc->idx[j];
  }
  return sc->idx[keep - 1];
}

/* Samples output i of row l with the penalties of outputs 0..i-1 (a penalized copy of the row
 * in the scratch; the ranking of the raw row cannot be reused). */
static uint32_t sample_penalized(const float *l, int vocab, const ag_sampling *sp, uint64_t i,
                                 const uint32_t *prev, int fresh, ag_sample_scratch *sc) {
  count_outputs(sc, vocab, prev, (int)i, fresh);
  if (!sc->pen) sc->pen = ag_xmalloc(sizeof(float) * (size_t)vocab);
  memcpy(sc->pen, l, sizeof(float) * (size_t)vocab);
  penalize(sc->pen, sc, sp);
  return sample_ranked(sc->pen, vocab, sp, i, sc, NULL, NULL, 0);
}

uint32_t ag_sample(const float *l, int vocab, const ag_sampling *sp, uint64_t i,
                   const uint32_t *prev, ag_sample_scratch *sc) {
  if (has_penalty(sp) && i > 0) return sample_penalized(l, vocab, sp, i, prev, 1, sc);
  return sample_ranked(l, vocab, sp, i, sc, NULL, NULL, 0);
}

/* One ranking pass serves both the commitment (first K) and top-k sampling. */
static int rank_size(const ag_sampling *sp, int commit_k) {
  return sp->top_k > commit_k ? sp->top_k : commit_k;
}

/* ---------- commitment chain ---------- */

static void put_f32(ag_buf *b, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  ag_buf_put_u32le(b, u);
}

/* The receipt header up to and including the prompt: also the input of h_0. */
static void encode_params(ag_buf *b, const uint8_t model_id[AG_HASH_LEN], const ag_sampling *sp,
                          int commit_k, const uint32_t *prompt, int n_prompt, int n_out) {
  int pen = has_penalty(sp);
  ag_buf_put(b, pen ? AG_RECEIPT_MAGIC_PEN : AG_RECEIPT_MAGIC, 8);
  ag_buf_put(b, model_id, AG_HASH_LEN);
  ag_buf_put_u64le(b, sp->seed);
  put_f32(b, sp->temperature);
  put_f32(b, sp->top_p);
  ag_buf_put_u32le(b, (uint32_t)sp->top_k);
  ag_buf_put_u32le(b, (uint32_t)sp->stop);
  if (pen) {
    put_f32(b, sp->frequency_penalty);
    put_f32(b, sp->presence_penalty);
  }
  ag_buf_put_u32le(b, (uint32_t)commit_k);
  ag_buf_put_u32le(b, (uint32_t)n_prompt);
  ag_buf_put_u32le(b, (uint32_t)n_out);
  for (int i = 0; i < n_prompt; i++) ag_buf_put_u32le(b, prompt[i]);
}

#define PARAMS_FIXED 68     /* bytes before the counts (AGRCPT01) */
#define PARAMS_FIXED_PEN 76 /* the same with the two penalties (AGRCPT02) */

static void chain_step(uint8_t h[AG_HASH_LEN], uint32_t i, uint32_t token, const uint32_t *ids,
                       const float *vals, int k, ag_buf *entries) {
  uint8_t tmp[8 + 8 * AG_COMMIT_K_MAX];
  ag_put_u32le(tmp, i);
  ag_put_u32le(tmp + 4, token);
  for (int j = 0; j < k; j++) {
    uint32_t bits;
    memcpy(&bits, &vals[j], 4);
    ag_put_u32le(tmp + 8 + 8 * j, ids[j]);
    ag_put_u32le(tmp + 12 + 8 * j, bits);
  }
  ag_hash2(AG_COMMIT_DOMAIN, h, AG_HASH_LEN, tmp, 8 + 8 * (size_t)k, h);
  if (entries) ag_buf_put(entries, tmp + 8, 8 * (size_t)k);
}

int ag_generate(ag_infer *s, const uint32_t *prompt, int n_prompt, int max_new,
                const ag_sampling *sp, int commit_k, ag_gen_out *out, ag_buf *receipt,
                ag_token_fn on_token, void *ctx) {
  const ag_model *m = ag_infer_model(s);
  out->n = 0;
  int V = m->cfg.vocab_size;
  int rc = ag_sampling_check(sp, V);
  if (rc) return rc;
  if (commit_k < 1 || commit_k > AG_COMMIT_K_MAX || commit_k > V)
    return ag_fail(AG_E_ENGINE_SAMPLING, "commit_k must be in 1..%d", AG_MIN(AG_COMMIT_K_MAX, V));
  if (n_prompt < 1) return ag_fail(AG_E_INVALID, "the prompt must have at least one token");
  if (max_new < 0) return ag_fail(AG_E_INVALID, "negative token count");
  if ((int64_t)n_prompt + max_new - 1 > m->cfg.seq_len)
    return ag_fail(AG_E_ENGINE_CONTEXT, "prompt (%d tokens) plus %d new tokens exceed the context of %d",
                   n_prompt, max_new, m->cfg.seq_len);
  ag_infer_reset(s);
  float *logits = ag_xmalloc(sizeof(float) * (size_t)V);
  ag_sample_scratch sc;
  ag_sample_scratch_init(&sc, V);
  int rk = rank_size(sp, commit_k);
  uint32_t *ids = ag_xmalloc(sizeof(uint32_t) * (size_t)rk);
  float *vals = ag_xmalloc(sizeof(float) * (size_t)rk);
  ag_buf entries;
  ag_buf_init(&entries);
  rc = ag_infer_forward(s, prompt, n_prompt, logits, NULL, NULL);
  uint8_t h[AG_HASH_LEN];
  int n = 0;
  if (!rc) {
    ag_buf hp;
    ag_buf_init(&hp);
    encode_params(&hp, m->id, sp, commit_k, prompt, n_prompt, 0);
    /* n_out is not known yet: h_0 covers the header with n_out = 0 (documented) */
    ag_hash(AG_COMMIT_DOMAIN, hp.data, hp.len, h);
    ag_buf_free(&hp);
    int pen = has_penalty(sp);
    for (; n < max_new; n++) {
      ag_topk(logits, V, rk, ids, vals); /* the commitment's, of the raw logits */
      uint32_t tok;
      if (pen && n > 0) {
        count_outputs(&sc, V, out->tokens, n, 0);
        penalize(logits, &sc, sp); /* in place: the row is not needed after this */
        tok = sample_ranked(logits, V, sp, (uint64_t)n, &sc, NULL, NULL, 0);
      } else {
        tok = sample_ranked(logits, V, sp, (uint64_t)n, &sc, ids, vals, rk);
      }
      chain_step(h, (uint32_t)n, tok, ids, vals, commit_k, &entries);
      out->tokens[n] = tok;
      int stop = ag_is_stop(m, sp->stop, tok) || (on_token && on_token(ctx, tok));
      if (stop || n + 1 == max_new) {
        n++;
        break;
      }
      rc = ag_infer_forward(s, &tok, 1, logits, NULL, NULL);
      if (rc) break;
    }
  }
  out->n = n;
  if (!rc) {
    memcpy(out->commitment, h, AG_HASH_LEN);
    if (receipt) {
      encode_params(receipt, m->id, sp, commit_k, prompt, n_prompt, n);
      for (int i = 0; i < n; i++) ag_buf_put_u32le(receipt, out->tokens[i]);
      ag_buf_put(receipt, entries.data, entries.len);
      ag_buf_put(receipt, h, AG_HASH_LEN);
    }
  }
  ag_buf_free(&entries);
  ag_sample_scratch_free(&sc);
  free(ids);
  free(vals);
  free(logits);
  return rc;
}

static float get_f32(const uint8_t *p) {
  uint32_t u = ag_get_u32le(p);
  float f;
  memcpy(&f, &u, 4);
  return f;
}

int ag_receipt_parse(const uint8_t *d, size_t len, ag_receipt *r) {
  memset(r, 0, sizeof *r);
  int pen = len >= 8 && !memcmp(d, AG_RECEIPT_MAGIC_PEN, 8);
  size_t fixed = pen ? PARAMS_FIXED_PEN : PARAMS_FIXED;
  if (len < fixed || (!pen && memcmp(d, AG_RECEIPT_MAGIC, 8)))
    return ag_fail(AG_E_RECEIPT_FORMAT, "not an inference receipt (bad magic or too short)");
  memcpy(r->model_id, d + 8, AG_HASH_LEN);
  r->sp.seed = ag_get_u64le(d + 40);
  r->sp.temperature = get_f32(d + 48);
  r->sp.top_p = get_f32(d + 52);
  r->sp.top_k = (int32_t)ag_get_u32le(d + 56);
  r->sp.stop = (int32_t)ag_get_u32le(d + 60);
  if (pen) {
    r->sp.frequency_penalty = get_f32(d + 64);
    r->sp.presence_penalty = get_f32(d + 68);
    /* one encoding per sampling: without penalties a receipt is AGRCPT01 */
    if (!has_penalty(&r->sp)) return ag_fail(AG_E_RECEIPT_FORMAT, "an AGRCPT02 receipt without penalties (it must be AGRCPT01)");
  }
  uint32_t k = ag_get_u32le(d + fixed - 4);
  if (len < fixed + 8) return ag_fail(AG_E_RECEIPT_FORMAT, "receipt is truncated");
  uint32_t np = ag_get_u32le(d + fixed), no = ag_get_u32le(d + fixed + 4);
  if (k < 1 || k > AG_COMMIT_K_MAX) return ag_fail(AG_E_RECEIPT_FORMAT, "commit_k %u out of range", k);
  if (np < 1 || np > 1000000 || no > 1000000)
    return ag_fail(AG_E_RECEIPT_FORMAT, "token counts out of range");
  uint64_t need = fixed + 8 + 4ULL * np + 4ULL * no + 8ULL * k * no + AG_HASH_LEN;
  if (len != need)
    return ag_fail(AG_E_RECEIPT_FORMAT, "receipt has %zu bytes, its counts say %llu", len, (unsigned long long)need);
  r->commit_k = (int)k;
  r->n_prompt = (int)np;
  r->n_out = (int)no;
  r->prompt = d + fixed + 8;
  r->out = r->prompt + 4ULL * np;
  r->entries = r->out + 4ULL * no;
  memcpy(r->commitment, d + len - AG_HASH_LEN, AG_HASH_LEN);
  return 0;
}

typedef struct {
  const ag_model *m;
  const ag_receipt *r;
  int V;
  int base; /* position of the first output's logits */
  uint8_t h[AG_HASH_LEN];
  int checked, bad, err;
  int rk, maxrows;
  /* per row of a chunk: ranking and sampled token, computed in parallel */
  uint32_t *ids;  /* (maxrows, rk) */
  float *vals;    /* (maxrows, rk) */
  uint32_t *got;  /* (maxrows) */
  ag_sample_scratch *sc; /* one per thread slot: slot t samples rows t, t + nsc, ... */
  const uint32_t *prev;  /* the outputs, when the sampling has penalties */
  int nsc;
  int pos0, rows;
  const float *logits;
  ag_pool *pool;
} vctx;

static void rank_rows(void *v, size_t b, size_t e) {
  vctx *c = v;
  for (size_t t = b; t < e; t++)
    for (size_t k = t; k < (size_t)c->rows; k += (size_t)c->nsc) {
      int i = c->pos0 + (int)k - c->base;
      if (i < 0) continue;
      const float *l = c->logits + k * (size_t)c->V;
      uint32_t *ids = c->ids + k * (size_t)c->rk;
      float *vals = c->vals + k * (size_t)c->rk;
      ag_topk(l, c->V, c->rk, ids, vals);
      if (c->prev && i > 0) /* rows of a slot come in increasing order: its counts only grow */
        c->got[k] = sample_penalized(l, c->V, &c->r->sp, (uint64_t)i, c->prev, 0, &c->sc[t]);
      else
        c->got[k] = sample_ranked(l, c->V, &c->r->sp, (uint64_t)i, &c->sc[t], ids, vals, c->rk);
    }
}

static int verify_chunk(void *v, int pos0, int rows, const float *logits) {
  vctx *c = v;
  const ag_receipt *r = c->r;
  c->pos0 = pos0;
  c->rows = rows;
  c->logits = logits;
  ag_pool_run(c->pool, (size_t)AG_MIN(rows, c->nsc), 1, rank_rows, c);
  for (int k = 0; k < rows; k++) {
    int i = pos0 + k - c->base;
    if (i < 0) continue;
    const uint32_t *ids = c->ids + (size_t)k * c->rk;
    const float *vals = c->vals + (size_t)k * c->rk;
    const uint8_t *e = r->entries + 8ULL * r->commit_k * i;
    for (int j = 0; j < r->commit_k; j++) {
      uint32_t bits;
      memcpy(&bits, &vals[j], 4);
      if (ag_get_u32le(e + 8 * j) != ids[j] || ag_get_u32le(e + 8 * j + 4) != bits) {
        c->bad = i;
        c->err = ag_fail(AG_E_RECEIPT_LOGITS, "committed top-%d logits differ at output %d (entry %d)",
                         r->commit_k, i, j);
        return 1;
      }
    }
    uint32_t want = ag_receipt_out(r, i);
    if (c->got[k] != want) {
      c->bad = i;
      c->err = ag_fail(AG_E_RECEIPT_TOKEN, "output %d is token %u but the model samples %u", i, want, c->got[k]);
      return 1;
    }
    if (ag_is_stop(c->m, r->sp.stop, want) && i + 1 != r->n_out) {
      c->bad = i;
      c->err = ag_fail(AG_E_RECEIPT_TOKEN, "output %d is the stop token but generation went on", i);
      return 1;
    }
    chain_step(c->h, (uint32_t)i, want, ids, vals, r->commit_k, NULL);
    c->checked++;
  }
  return 0;
}

static int verify_impl(const ag_model *m, ag_infer *state, const uint8_t *data, size_t len,
                       int threads, ag_verify_report *rep);

int ag_receipt_verify(const ag_model *m, const uint8_t *data, size_t len, int threads,
                      ag_verify_report *rep) {
  return verify_impl(m, NULL, data, len, threads, rep);
}

int ag_receipt_verify_state(ag_infer *s, const uint8_t *data, size_t len, ag_verify_report *rep) {
  return verify_impl(ag_infer_model(s), s, data, len, 0, rep);
}

static int verify_impl(const ag_model *m, ag_infer *state, const uint8_t *data, size_t len,
                       int threads, ag_verify_report *rep) {
  ag_verify_report dummy;
  if (!rep) rep = &dummy;
  memset(rep, 0, sizeof *rep);
  rep->first_bad = -1;
  ag_receipt r;
  int rc = ag_receipt_parse(data, len, &r);
  if (rc) return rc;
  if (memcmp(r.model_id, m->id, AG_HASH_LEN))
    return ag_fail(AG_E_RECEIPT_MODEL, "the receipt names another model");
  int V = m->cfg.vocab_size;
  rc = ag_sampling_check(&r.sp, V);
  if (rc) return ag_fail(AG_E_RECEIPT_FORMAT, "receipt sampling parameters: %s", ag_errmsg(rc));
  if (r.commit_k > V) return ag_fail(AG_E_RECEIPT_FORMAT, "commit_k exceeds the vocabulary");
  if (r.n_out == 0) return ag_fail(AG_E_RECEIPT_FORMAT, "receipt has no output tokens");
  int total = r.n_prompt + r.n_out - 1;
  if (total > m->cfg.seq_len) return ag_fail(AG_E_ENGINE_CONTEXT, "receipt exceeds the model's context");
  uint32_t *toks = ag_xmalloc(sizeof(uint32_t) * (size_t)total);
  for (int i = 0; i < r.n_prompt; i++) toks[i] = ag_receipt_prompt(&r, i);
  for (int i = 0; i + 1 < r.n_out; i++) toks[r.n_prompt + i] = ag_receipt_out(&r, i);
  /* outputs 0..n_out-2 follow the prompt in toks: what the penalties count */
  for (int i = 0; i < total; i++)
    if (toks[i] >= (uint32_t)V) {
      free(toks);
      return ag_fail(AG_E_RECEIPT_FORMAT, "token id %u outside the vocabulary", toks[i]);
    }
  if (ag_receipt_out(&r, r.n_out - 1) >= (uint32_t)V) {
    free(toks);
    return ag_fail(AG_E_RECEIPT_FORMAT, "token id outside the vocabulary");
  }
  int maxrows = AG_MIN(total, AG_INFER_LOGIT_ROWS); /* rows per logits batch, at most */
  vctx c;
  memset(&c, 0, sizeof c);
  c.m = m, c.r = &r, c.V = V, c.base = r.n_prompt - 1, c.bad = -1, c.rk = rank_size(&r.sp, r.commit_k);
  c.maxrows = maxrows;
  c.prev = has_penalty(&r.sp) ? toks + r.n_prompt : NULL;
  c.ids = ag_xmalloc(sizeof(uint32_t) * (size_t)c.rk * (size_t)maxrows);
  c.vals = ag_xmalloc(sizeof(float) * (size_t)c.rk * (size_t)maxrows);
  c.got = ag_xmalloc(sizeof(uint32_t) * (size_t)maxrows);
  ag_buf hp;
  ag_buf_init(&hp);
  /* h_0 as at generation time (n_out = 0 in the hashed header) */
  ag_sampling sp = r.sp;
  uint32_t *pr = toks;
  encode_params(&hp, r.model_id, &sp, r.commit_k, pr, r.n_prompt, 0);
  ag_hash(AG_COMMIT_DOMAIN, hp.data, hp.len, c.h);
  ag_buf_free(&hp);
  ag_infer *s = state;
  if (s) ag_infer_reset(s);
  else rc = ag_infer_open(m, AG_MIN(total, 256), threads, &s);
  if (!rc) {
    double t0 = ag_mono_s();
    c.pool = ag_infer_pool(s);
    /* sampling scratch, one per thread (a whole vocabulary's worth each when top_k = 0): only
     * needed beyond the ranked prefix, with a temperature */
    c.nsc = ag_pool_threads(c.pool);
    c.sc = ag_xcalloc((size_t)c.nsc, sizeof(ag_sample_scratch));
    for (int k = 0; k < c.nsc && r.sp.temperature != 0.0f; k++)
      ag_sample_scratch_init(&c.sc[k], r.sp.top_k > 0 ? r.sp.top_k : V);
    /* positions before the last prompt token need no logits */
    if (r.n_prompt > 1) rc = ag_infer_forward(s, toks, r.n_prompt - 1, NULL, NULL, NULL);
    if (!rc) rc = ag_infer_forward_chunks(s, toks + r.n_prompt - 1, total - (r.n_prompt - 1), verify_chunk, &c);
    rep->seconds = ag_mono_s() - t0;
    if (rc == AG_E_CANCELLED) rc = c.err;
  }
  if (!state) ag_infer_close(s);
  rep->checked = c.checked;
  rep->first_bad = c.bad;
  if (!rc && memcmp(c.h, r.commitment, AG_HASH_LEN)) {
    rc = ag_fail(AG_E_RECEIPT_COMMIT, "the commitment hash does not match the re-executed logits");
  }
  for (int k = 0; k < c.nsc; k++) ag_sample_scratch_free(&c.sc[k]);
  free(c.sc);
  free(c.ids);
  free(c.vals);
  free(c.got);
  free(toks);
  return rc;
}
