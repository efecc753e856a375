/*
 * test_engine.c — reproducibility guarantees of the engine's kernels and model: identical bits
 * across SIMD paths, thread counts, batch sizes, and KV-cache decode vs batched prefill; q8
 * equals fp32 on dequantized weights; deterministic math; tokenizer round trips.
 */
#include "test.h"
#include "testutil.h"

#include "core/err.h"
#include "core/util.h"
#include "engine/detmath.h"
#include "engine/generate.h"
#include "engine/kernels.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

#include <math.h>

static void fill(float *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = ag_philox_normal(seed, i, 7);
}

static int levels[3], nlevels;
static void init_levels(void) {
  nlevels = 0;
  for (int l = 0; l <= ag_simd_best(); l++) levels[nlevels++] = l;
}

/* ag_expf as specified, written out with plain fmaf: every path must return these bits. */
static float expf_spec(float x) {
  if (x != x) return x;
  if (x > 88.72283f) return INFINITY;
  if (x < -87.33654f) return 0.0f;
  float kf = (x * 1.44269502f + 12582912.0f) - 12582912.0f;
  float r = fmaf(-kf, 0.693145752f, x);
  r = fmaf(-kf, 1.42860677e-06f, r);
  const float c[] = {1.38888889e-03f, 8.33333333e-03f, 4.16666667e-02f, 1.66666667e-01f, 0.5f, 1.0f, 1.0f};
  float p = 1.98412698e-04f;
  for (int i = 0; i < 7; i++) p = fmaf(p, r, c[i]);
  int k = (int)kf;
  uint32_t bits = (uint32_t)((k > 127 ? 254 : k + 127)) << 23;
  float s;
  memcpy(&s, &bits, 4);
  return k > 127 ? p * s * 2.0f : p * s;
}

TEST(detmath_values) {
  for (float x = -90.0f; x < 90.0f; x += 0.0371f) {
    float a = ag_expf(x), b = expf_spec(x);
    CHECK(memcmp(&a, &b, 4) == 0);
  }
  CHECK(ag_expf(0.0f) == 1.0f);
  CHECK(fabsf(ag_expf(1.0f) - 2.7182817f) < 1e-6f);
  CHECK(ag_expf(-100.0f) == 0.0f);
  CHECK(isinf(ag_expf(100.0f)));
  double s, c;
  ag_sincos(1.0, &s, &c);
  CHECK(fabs(s - 0.8414709848078965) < 1e-15 && fabs(c - 0.5403023058681398) < 1e-15);
  CHECK(fabs(ag_ln(10000.0) - 9.210340371976184) < 1e-14);
  for (uint32_t h = 0; h < 65536; h += 7) {
    float f = ag_f16_to_f32((uint16_t)h);
    if (f == f) CHECK_EQ(ag_f32_to_f16(f), h);
  }
  uint32_t a[4], b[4];
  ag_philox(42, 1, 2, a);
  ag_philox(42, 1, 2, b);
  CHECK_MEM(a, b, sizeof a);
  ag_philox(43, 1, 2, b);
  CHECK(memcmp(a, b, sizeof a) != 0);
}

TEST(softmax_swiglu_same_bits_every_path) {
  init_levels();
  float base[320], x[300], ref[300], h3[300], hg[300], hgref[300];
  fill(base, 320, 21);
  fill(h3, 300, 22);
  for (int i = 0; i < 320; i++) base[i] *= 30.0f; /* wide range: exp underflow and overflow */
  base[7] = NAN, base[8] = INFINITY, base[9] = -INFINITY, base[10] = -0.0f, base[11] = 95.0f;
  for (int n = 1; n <= 300; n += (n < 40 ? 1 : 17)) {
    for (int i = 0; i < nlevels; i++) {
      ag_simd_set(levels[i]);
      memcpy(x, base + 12, sizeof(float) * n); /* finite rows */
      ag_softmax_scaled(x, n, 0.125f);
      ag_swiglu(hg, base, h3, (size_t)n);       /* specials included */
      if (i == 0) {
        memcpy(ref, x, sizeof(float) * n);
        memcpy(hgref, hg, sizeof(float) * n);
      } else {
        CHECK_MEM(x, ref, sizeof(float) * n);
        CHECK_MEM(hg, hgref, sizeof(float) * n);
      }
    }
  }
  ag_simd_set(ag_simd_best());
}

TEST(topk_same_every_path) {
  init_levels();
  float l[1000];
  fill(l, 1000, 31);
  for (int i = 0; i < 1000; i += 97) l[i] = l[3]; /* ties */
  l[500] = NAN;
  uint32_t ids[3][50];
  float vals[3][50];
  for (int i = 0; i < nlevels; i++) {
    ag_simd_set(levels[i]);
    ag_topk(l, 1000, 40, ids[i], vals[i]);
    if (i) CHECK(!memcmp(ids[i], ids[0], 40 * sizeof(uint32_t)) && !memcmp(vals[i], vals[0], 40 * sizeof(float)));
  }
  for (int j = 1; j < 40; j++) CHECK(vals[0][j] < vals[0][j - 1] || (vals[0][j] == vals[0][j - 1] && ids[0][j] > ids[0][j - 1]));
  ag_simd_set(ag_simd_best());
}

/* The sampler as specified (docs/engine.md "Sampling") for top_k = 0, top_p < 1, written
 * plainly: the whole vocabulary ranked by a comparison sort (logit desc, id asc, NaN last). */
static const float *ref_l;
static int ref_before(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  float vx = ref_l[x], vy = ref_l[y];
  int nx = vx != vx, ny = vy != vy;
  if (nx != ny) return nx - ny;
  if (!nx && vx != vy) return vx > vy ? -1 : 1;
  return (x > y) - (x < y);
}

static uint32_t ref_sample_top_p(const float *l, int V, const ag_sampling *sp, uint64_t i) {
  float u = ag_philox_uniform(sp->seed, i, AG_SAMPLE_STREAM);
  uint32_t *idx = ag_xmalloc(sizeof(uint32_t) * (size_t)V);
  float *w = ag_xmalloc(sizeof(float) * (size_t)V);
  for (int j = 0; j < V; j++) idx[j] = (uint32_t)j;
  ref_l = l;
  qsort(idx, (size_t)V, sizeof *idx, ref_before);
  float mx = l[idx[0]], tot = 0.0f;
  for (int j = 0; j < V; j++) {
    float lv = l[idx[j]];
    w[j] = lv == lv ? ag_expf((lv - mx) / sp->temperature) : 0.0f;
    tot += w[j];
  }
  int keep = V;
  float lim = sp->top_p * tot, cum = 0.0f;
  for (int j = 0; j < V; j++) {
    cum += w[j];
    if (cum >= lim) {
      keep = j + 1;
      tot = cum;
      break;
    }
  }
  float r = u * tot;
  uint32_t got = idx[keep - 1];
  cum = 0.0f;
  for (int j = 0; j < keep; j++) {
    cum += w[j];
    if (r < cum) {
      got = idx[j];
      break;
    }
  }
  free(idx);
  free(w);
  return got;
}

/* top_p without top_k ranks the whole vocabulary (a radix sort since 2026-12-07): it must pick
 * what the comparison sort picks, ties, signed zeros, NaN and -inf included. */
TEST(top_p_over_the_whole_vocabulary_picks_as_the_specification) {
  const int sizes[] = {7, 1000, 70001};
  int same = 0, total = 0;
  for (int si = 0; si < 3; si++) {
    int V = sizes[si];
    float *l = ag_xmalloc(sizeof(float) * (size_t)V);
    ag_sample_scratch sc;
    ag_sample_scratch_init(&sc, V);
    for (int shape = 0; shape < 3; shape++) {
      /* 0: normal; 1: few distinct values (each tied many times); 2: mostly -0 and +0 (equal) */
      const float few[] = {2.0f, 0.5f, 0.0f, -0.0f, -1.0f, -INFINITY, NAN};
      for (int j = 0; j < V; j++) {
        uint64_t r = (uint64_t)(ag_philox_uniform(77 + shape, (uint64_t)j, 3) * 7.0f);
        l[j] = shape == 0 ? 4.0f * ag_philox_normal(5 + si, (uint64_t)j, 7)
             : shape == 1 ? few[r % 7]
                          : r == 6 ? 1e-3f : r & 1 ? -0.0f : 0.0f;
      }
      for (uint64_t seed = 1; seed <= (V > 10000 ? 4 : 40); seed++) {
        ag_sampling sp;
        ag_sampling_defaults(&sp);
        sp.top_k = 0, sp.top_p = 0.5f + 0.0123f * (float)seed, sp.seed = seed;
        sp.temperature = 0.7f;
        for (uint64_t i = 0; i < 3; i++) {
          uint32_t a = ag_sample(l, V, &sp, i, NULL, &sc), b = ref_sample_top_p(l, V, &sp, i);
          same += a == b;
          total++;
        }
      }
    }
    ag_sample_scratch_free(&sc);
    free(l);
  }
  CHECK_EQ(same, total);
}

TEST(dot_same_bits_every_path) {
  init_levels();
  float a[300], b[300];
  fill(a, 300, 1);
  fill(b, 300, 2);
  a[5] = -0.0f;
  for (size_t n = 0; n <= 300; n += (n < 40 ? 1 : 13)) {
    float ref = 0;
    for (int i = 0; i < nlevels; i++) {
      CHECK_OK(ag_simd_set(levels[i]));
      float v = ag_dot(a, b, n);
      if (i == 0) ref = v;
      else CHECK(memcmp(&v, &ref, 4) == 0);
    }
  }
  ag_simd_set(ag_simd_best());
}

/* Attention for the query heads of one KV head at once (ag_dot_many_g, ag_axpy_many_g) has, for
 * each head, the bits of the single kernels (ag_dot for each score; ag_axpy for each position,
 * in order), on every path: 1 to 9 heads, head sizes with and without a tail, counts with and
 * without a remainder of 4, keys at a stride. */
TEST(grouped_attention_same_bits_as_one_head_at_a_time) {
  init_levels();
  enum { MAXQ = 9, MAXN = 80, MAXC = 37, STRIDE = 96 };
  float q[MAXQ * MAXN], k[MAXC * STRIDE], p[MAXQ * MAXC], o0[MAXQ * MAXN];
  fill(q, MAXQ * MAXN, 3);
  fill(k, MAXC * STRIDE, 4);
  fill(p, MAXQ * MAXC, 5);
  fill(o0, MAXQ * MAXN, 6);
  static const size_t ns[] = {16, 20, 64, 80};
  static const int counts[] = {0, 1, 3, 4, 9, 37};
  for (int i = 0; i < nlevels; i++) {
    CHECK_OK(ag_simd_set(levels[i]));
    for (size_t a = 0; a < AG_ARRAY_LEN(ns); a++)
      for (size_t b = 0; b < AG_ARRAY_LEN(counts); b++)
        for (int nq = 1; nq <= MAXQ; nq++) {
          size_t n = ns[a];
          int cnt = counts[b];
          float got[MAXQ * MAXC], og[MAXQ * MAXN];
          memcpy(og, o0, sizeof og);
          ag_dot_many_g(q, n, nq, k, STRIDE, cnt, n, got, MAXC);
          ag_axpy_many_g(og, n, p, MAXC, nq, k, STRIDE, cnt, n);
          for (int g = 0; g < nq; g++) {
            for (int j = 0; j < cnt; j++) {
              float want = ag_dot(q + (size_t)g * n, k + (size_t)j * STRIDE, n);
              CHECK(memcmp(&got[g * MAXC + j], &want, 4) == 0);
            }
            float ow[MAXN];
            memcpy(ow, o0 + (size_t)g * n, n * sizeof(float));
            for (int j = 0; j < cnt; j++) ag_axpy(ow, p[g * MAXC + j], k + (size_t)j * STRIDE, n);
            CHECK(memcmp(og + (size_t)g * n, ow, n * sizeof(float)) == 0);
          }
        }
  }
  ag_simd_set(ag_simd_best());
}

/* matmul: every path, every T, threads 1 and 2, f32 and q8 (== f32 of dequantized) */
TEST(matmul_same_bits_every_path_batch_thread) {
  init_levels();
  int rows = 37, cols = 96, T = 7;
  float *w = ag_xmalloc(sizeof(float) * rows * cols), *x = ag_xmalloc(sizeof(float) * T * cols);
  fill(w, (size_t)rows * cols, 3);
  fill(x, (size_t)T * cols, 4);
  uint8_t *q = ag_xmalloc(ag_mat_bytes(AG_DT_Q8, rows, cols));
  ag_quantize_q8(w, (size_t)rows * cols, q);
  float *wd = ag_xmalloc(sizeof(float) * rows * cols);
  ag_dequantize_q8(q, (size_t)rows * cols, wd);
  float ref[7 * 37], refq[7 * 37], out[7 * 37];
  for (int t = 0; t < T; t++)
    for (int r = 0; r < rows; r++) {
      ag_simd_set(AG_SIMD_SCALAR);
      ref[t * rows + r] = ag_dot(w + r * cols, x + t * cols, cols);
      refq[t * rows + r] = ag_dot(wd + r * cols, x + t * cols, cols);
    }
  ag_mat mf = {AG_DT_F32, rows, cols, w}, mq = {AG_DT_Q8, rows, cols, q};
  for (int th = 1; th <= 2; th++) {
    ag_pool *pool;
    CHECK_OK(ag_pool_open(&pool, th));
    for (int i = 0; i < nlevels; i++) {
      ag_simd_set(levels[i]);
      for (int tt = 1; tt <= T; tt++) {
        ag_matmul(pool, out, x, &mf, tt);
        CHECK_MEM(out, ref, sizeof(float) * tt * rows);
        ag_matmul(pool, out, x, &mq, tt);
        CHECK_MEM(out, refq, sizeof(float) * tt * rows);
      }
      /* decode-style: one token at a time from row t */
      for (int t = 0; t < T; t++) {
        ag_matmul(pool, out, x + t * cols, &mf, 1);
        CHECK_MEM(out, ref + t * rows, sizeof(float) * rows);
      }
    }
    ag_pool_close(pool);
  }
  ag_simd_set(ag_simd_best());
  free(w), free(x), free(q), free(wd);
}

/* Random blocks of a GGUF type: random quant bytes, every f16 scale field a finite small value. */
static void random_blocks(int type, size_t nblocks, uint8_t *out, uint64_t seed) {
  size_t bb = ag_dt_block_bytes(type);
  for (size_t i = 0; i < nblocks * bb; i++) out[i] = (uint8_t)ag_philox_below(seed, i, 9, 256);
  for (size_t b = 0; b < nblocks; b++) {
    uint8_t *p = out + b * bb;
    /* offsets of the f16 fields: d (and m/dmin) at 0 and 2, Q6_K's d at 208, BF16/F16 values */
    int offs[2] = {0, 2}, n = 2;
    if (type == AG_DT_Q8 || type == AG_DT_Q4_0 || type == AG_DT_Q5_0) n = 1;
    if (type == AG_DT_Q6_K) offs[0] = 208, n = 1;
    if (type == AG_DT_F16 || type == AG_DT_BF16) n = 0;
    for (int k = 0; k < n; k++) {
      uint16_t h = ag_f32_to_f16(0.01f * ag_philox_normal(seed, b * 2 + (size_t)k, 11));
      p[offs[k]] = (uint8_t)h, p[offs[k] + 1] = (uint8_t)(h >> 8);
    }
    if (type == AG_DT_F16) {
      uint16_t h = ag_f32_to_f16(ag_philox_normal(seed, b, 12));
      p[0] = (uint8_t)h, p[1] = (uint8_t)(h >> 8);
    }
    if (type == AG_DT_BF16) p[1] = (uint8_t)(0x3c + (p[1] & 3)); /* finite, moderate */
  }
}

/* Every GGUF block type: a matmul equals the fp32 matmul of the scalar dequantization, bit for
 * bit, on every path, T and thread count (kernels.h); the widening is the same on every path. */
TEST(block_types_matmul_equals_dequantized_every_path) {
  init_levels();
  int rows = 37, cols = 512, T = 5;
  float *x = ag_xmalloc(sizeof(float) * T * cols), *wd = ag_xmalloc(sizeof(float) * rows * cols),
        *wd2 = ag_xmalloc(sizeof(float) * rows * cols);
  fill(x, (size_t)T * cols, 4);
  float ref[5 * 37], out[5 * 37];
  for (int type = AG_DT_F16; type < AG_DT_COUNT; type++) {
    size_t bytes = ag_mat_bytes(type, (size_t)rows, (size_t)cols);
    CHECK(bytes > 0);
    uint8_t *q = ag_xmalloc(bytes);
    random_blocks(type, bytes / ag_dt_block_bytes(type), q, (uint64_t)type);
    ag_simd_set(AG_SIMD_SCALAR);
    ag_dequantize(type, q, (size_t)rows * cols, wd);
    int finite = 1;
    for (size_t i = 0; i < (size_t)rows * cols; i++) finite &= isfinite(wd[i]) != 0;
    CHECK(finite);
    for (int t = 0; t < T; t++)
      for (int r = 0; r < rows; r++) ref[t * rows + r] = ag_dot(wd + r * cols, x + t * cols, cols);
    ag_mat m = {type, rows, cols, q};
    for (int th = 1; th <= 2; th++) {
      ag_pool *pool;
      CHECK_OK(ag_pool_open(&pool, th));
      for (int i = 0; i < nlevels; i++) {
        ag_simd_set(levels[i]);
        ag_dequantize(type, q, (size_t)rows * cols, wd2);
        CHECK_MEM(wd2, wd, sizeof(float) * rows * cols);
        for (int tt = 1; tt <= T; tt++) {
          ag_matmul(pool, out, x, &m, tt);
          if (memcmp(out, ref, sizeof(float) * tt * rows))
            fprintf(stderr, "  %s: path %s, %d threads, T %d differs\n", ag_dt_name(type), ag_simd_name(levels[i]), th, tt);
          CHECK_MEM(out, ref, sizeof(float) * tt * rows);
        }
      }
      ag_pool_close(pool);
    }
    free(q);
  }
  ag_simd_set(ag_simd_best());
  free(x), free(wd), free(wd2);
}

TEST(matmul_backward_same_bits_every_path_thread) {
  init_levels();
  int rows = 21, cols = 83, T = 9;
  float *w = ag_xmalloc(sizeof(float) * rows * cols), *x = ag_xmalloc(sizeof(float) * T * cols),
        *dy = ag_xmalloc(sizeof(float) * T * rows);
  fill(w, (size_t)rows * cols, 5);
  fill(x, (size_t)T * cols, 6);
  fill(dy, (size_t)T * rows, 7);
  float *dx_ref = ag_xmalloc(sizeof(float) * T * cols), *dw_ref = ag_xmalloc(sizeof(float) * rows * cols);
  float *dx = ag_xmalloc(sizeof(float) * T * cols), *dw = ag_xmalloc(sizeof(float) * rows * cols);
  /* the specified order, written out plainly */
  for (int t = 0; t < T; t++)
    for (int c = 0; c < cols; c++) {
      float a = 0.0f;
      for (int r = 0; r < rows; r++) a = fmaf(dy[t * rows + r], w[r * cols + c], a);
      dx_ref[t * cols + c] = a;
    }
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) {
      float a = 0.5f;
      for (int t = 0; t < T; t++) a = fmaf(dy[t * rows + r], x[t * cols + c], a);
      dw_ref[r * cols + c] = a;
    }
  for (int th = 1; th <= 2; th++) {
    ag_pool *pool;
    CHECK_OK(ag_pool_open(&pool, th));
    for (int i = 0; i < nlevels; i++) {
      ag_simd_set(levels[i]);
      ag_matmul_bwd_x(pool, dx, dy, w, T, rows, cols);
      CHECK_MEM(dx, dx_ref, sizeof(float) * T * cols);
      for (int k = 0; k < rows * cols; k++) dw[k] = 0.5f;
      ag_matmul_bwd_w(pool, dw, dy, x, T, rows, cols);
      CHECK_MEM(dw, dw_ref, sizeof(float) * rows * cols);
    }
    ag_pool_close(pool);
  }
  ag_simd_set(ag_simd_best());
  free(w), free(x), free(dy), free(dx_ref), free(dw_ref), free(dx), free(dw);
}

static ag_model *tiny_model(int q8) {
  ag_model_config cfg;
  ag_model_preset("tiny", &cfg);
  ag_model *m = NULL;
  CHECK_OK(ag_model_create(&cfg, 11, NULL, &m));
  if (!q8) return m;
  ag_model *q = NULL;
  CHECK_OK(ag_model_quantize(m, &q));
  ag_model_close(m);
  return q;
}


/* Logits of every position: prefill (max_t = S) vs decode (max_t = 1) vs chunks of 5,
 * 1 vs 2 threads, every SIMD path, fp32 and q8. */
TEST(logits_decode_equals_prefill_threads_paths) {
  init_levels();
  for (int q8 = 0; q8 <= 1; q8++) {
    ag_model *m = tiny_model(q8);
    int V = m->cfg.vocab_size, n = m->cfg.seq_len;
    uint32_t toks[64];
    for (int i = 0; i < n; i++) toks[i] = (uint32_t)((i * 37 + 5) % V);
    float *ref = ag_xmalloc(sizeof(float) * n * V), *got = ag_xmalloc(sizeof(float) * n * V);
    test_logits cref = {ref, V}, cgot = {got, V};
    ag_simd_set(AG_SIMD_SCALAR);
    ag_infer *s;
    CHECK_OK(ag_infer_open(m, n, 1, &s));
    CHECK_OK(ag_infer_forward(s, toks, n, NULL, test_keep_logits, &cref));
    ag_infer_close(s);
    for (int i = 0; i < nlevels; i++)
      for (int th = 1; th <= 2; th++) {
        ag_simd_set(levels[i]);
        int chunks[3] = {1, 5, n};
        for (int k = 0; k < 3; k++) {
          CHECK_OK(ag_infer_open(m, chunks[k], th, &s));
          memset(got, 0, sizeof(float) * n * V);
          if (chunks[k] == 1) {
            float *last = ag_xmalloc(sizeof(float) * V);
            for (int p = 0; p < n; p++) {
              CHECK_OK(ag_infer_forward(s, toks + p, 1, last, NULL, NULL));
              memcpy(got + (size_t)p * V, last, sizeof(float) * V);
            }
            free(last);
          } else {
            CHECK_OK(ag_infer_forward(s, toks, n, NULL, test_keep_logits, &cgot));
          }
          for (int p = 0; p < n; p++)
            if (memcmp(got + (size_t)p * V, ref + (size_t)p * V, sizeof(float) * V)) {
              fprintf(stderr, "  mismatch q8=%d path=%s threads=%d chunk=%d pos=%d\n", q8,
                      ag_simd_name(levels[i]), th, chunks[k], p);
              CHECK(0);
              break;
            }
          ag_infer_close(s);
        }
      }
    ag_simd_set(ag_simd_best());
    free(ref), free(got);
    ag_model_close(m);
  }
}

/* A KV cache exported (the format agora ask keeps its prompt in: per layer, keys then values,
 * position by position with the KV heads side by side) imports into a fresh state that then
 * decodes the same bits; the format is position-major whatever the state holds inside (the
 * first positions of a longer export are a shorter export's). */
TEST(kv_cache_export_is_position_major_and_round_trips) {
  ag_model *m = tiny_model(0);
  int V = m->cfg.vocab_size, n = 12;
  uint32_t toks[12], next = 7;
  for (int i = 0; i < n; i++) toks[i] = (uint32_t)((i * 29 + 3) % V);
  ag_infer *a, *b;
  CHECK_OK(ag_infer_open(m, n, 1, &a));
  CHECK_OK(ag_infer_open(m, n, 1, &b));
  CHECK_OK(ag_infer_forward(a, toks, n, NULL, NULL, NULL));
  size_t nf = ag_infer_kv_floats(a, n), nf5 = ag_infer_kv_floats(a, 5);
  float *kv = ag_xmalloc(nf * sizeof(float)), *kv5 = ag_xmalloc(nf5 * sizeof(float));
  CHECK_OK(ag_infer_kv_export(a, n, kv));
  CHECK_OK(ag_infer_kv_export(a, 5, kv5));
  size_t row = nf / (2 * (size_t)m->cfg.n_layers) / (size_t)n; /* floats of one position */
  CHECK(m->cfg.n_kv_heads > 1);
  for (int blk = 0; blk < 2 * m->cfg.n_layers; blk++)
    CHECK(!memcmp(kv5 + (size_t)blk * 5 * row, kv + (size_t)blk * n * row, 5 * row * sizeof(float)));
  CHECK_OK(ag_infer_kv_import(b, n, kv));
  CHECK_EQ(ag_infer_pos(b), n);
  float *la = ag_xmalloc(sizeof(float) * V), *lb = ag_xmalloc(sizeof(float) * V);
  CHECK_OK(ag_infer_forward(a, &next, 1, la, NULL, NULL));
  CHECK_OK(ag_infer_forward(b, &next, 1, lb, NULL, NULL));
  CHECK(!memcmp(la, lb, sizeof(float) * V));
  free(kv), free(kv5), free(la), free(lb);
  ag_infer_close(a);
  ag_infer_close(b);
  ag_model_close(m);
}

TEST(context_overflow_and_bad_ids_are_errors) {
  ag_model *m = tiny_model(0);
  ag_infer *s;
  CHECK_OK(ag_infer_open(m, 4, 1, &s));
  uint32_t toks[40] = {0};
  CHECK_EQ(ag_infer_forward(s, toks, 33, NULL, NULL, NULL), AG_E_ENGINE_CONTEXT);
  toks[0] = 320;
  CHECK_EQ(ag_infer_forward(s, toks, 1, NULL, NULL, NULL), AG_E_RANGE);
  CHECK_EQ(ag_infer_pos(s), 0);
  ag_infer_close(s);
  ag_model_close(m);
}

TEST(tokenizer_train_round_trip) {
  const char *text = "the cat sat on the mat. the cat ate the rat! 12345 12345\n\n  indented   spaces\n";
  ag_buf corpus;
  ag_buf_init(&corpus);
  for (int i = 0; i < 50; i++) ag_buf_puts(&corpus, text);
  ag_tokenizer *t = NULL;
  CHECK_OK(ag_tok_train(corpus.data, corpus.len, 300, &t));
  CHECK(ag_tok_vocab(t) > 257);
  /* deterministic */
  ag_tokenizer *t2 = NULL;
  CHECK_OK(ag_tok_train(corpus.data, corpus.len, 300, &t2));
  CHECK_EQ(ag_tok_n_merges(t), ag_tok_n_merges(t2));
  for (size_t i = 0; i < ag_tok_n_merges(t); i++) {
    uint32_t a, b, c, d;
    ag_tok_merge(t, i, &a, &b);
    ag_tok_merge(t2, i, &c, &d);
    CHECK(a == c && b == d);
  }
  uint32_t *ids = NULL;
  size_t n = 0, cap = 0;
  CHECK_OK(ag_tok_encode(t, (const uint8_t *)text, strlen(text), &ids, &n, &cap));
  CHECK(n < strlen(text) / 2);
  ag_buf out;
  ag_buf_init(&out);
  CHECK_OK(ag_tok_decode(t, ids, n, &out));
  CHECK(out.len == strlen(text) && !memcmp(out.data, text, out.len));
  /* every byte value, random bytes */
  uint8_t bytes[2048];
  for (int i = 0; i < 2048; i++) bytes[i] = (uint8_t)(ag_philox_below(9, (uint64_t)i, 0, 256));
  for (int i = 0; i < 256; i++) bytes[i] = (uint8_t)i;
  n = 0;
  CHECK_OK(ag_tok_encode(t, bytes, sizeof bytes, &ids, &n, &cap));
  ag_buf_reset(&out);
  CHECK_OK(ag_tok_decode(t, ids, n, &out));
  CHECK(out.len == sizeof bytes && !memcmp(out.data, bytes, sizeof bytes));
  uint32_t bad = 5000;
  CHECK_EQ(ag_tok_decode(t, &bad, 1, &out), AG_E_RANGE);
  free(ids);
  ag_buf_free(&out);
  ag_buf_free(&corpus);
  ag_tok_free(t);
  ag_tok_free(t2);
}

TEST_MAIN(detmath_values, dot_same_bits_every_path, grouped_attention_same_bits_as_one_head_at_a_time, topk_same_every_path,
          top_p_over_the_whole_vocabulary_picks_as_the_specification, softmax_swiglu_same_bits_every_path, matmul_same_bits_every_path_batch_thread,
          block_types_matmul_equals_dequantized_every_path,
          matmul_backward_same_bits_every_path_thread, logits_decode_equals_prefill_threads_paths,
          kv_cache_export_is_position_major_and_round_trips,
          context_overflow_and_bad_ids_are_errors, tokenizer_train_round_trip)
