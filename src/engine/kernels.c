/*
 * kernels.c — dot products, matmuls and their backward passes in three SIMD flavours that all
 * compute the order fixed in kernels.h. The vector paths are compiled with function-level
 * target attributes (no -march flags), so the binary runs anywhere and picks a path at run time.
 * Tile kernels compute several outputs at once (more independent fma chains in flight) but
 * each output keeps its own chain; edge tiles repeat a valid row/token and drop the result.
 * Does not: allocate, or split any single output's reduction across threads or lanes.
 */
#include "engine/kernels.h"

#include "core/err.h"
#include "core/util.h"
#include "engine/detmath.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include "engine/quant_avx2.h"
#include "engine/quant_avx512.h"
#include <immintrin.h>
#define AG_X86 1
#else
#define AG_X86 0
#endif

/* Tile loops have constant trip counts; fully unrolled, their accumulators live in registers. */
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif

/* ---------- run-time path selection ---------- */

static atomic_int simd_level = -1;

int ag_simd_best(void) {
#if AG_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return AG_SIMD_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return AG_SIMD_AVX2;
#endif
  return AG_SIMD_SCALAR;
}

const char *ag_simd_name(int level) {
  switch (level) {
  case AG_SIMD_SCALAR: return "scalar";
  case AG_SIMD_AVX2: return "avx2";
  case AG_SIMD_AVX512: return "avx512";
  default: return "unknown";
  }
}

int ag_simd_parse(const char *s) {
  if (!s) return -1;
  for (int l = 0; l <= 2; l++)
    if (!strcmp(s, ag_simd_name(l))) return l;
  return -1;
}

int ag_simd_get(void) {
  int l = atomic_load_explicit(&simd_level, memory_order_relaxed);
  if (l >= 0) return l;
  int best = ag_simd_best(), want = ag_simd_parse(getenv("AGORA_SIMD"));
  l = (want >= 0 && want <= best) ? want : best;
  atomic_store(&simd_level, l);
  return l;
}

int ag_simd_set(int level) {
  if (level < 0 || level > 2) return ag_fail(AG_E_INVALID, "unknown SIMD level %d", level);
  if (level > ag_simd_best())
    return ag_fail(AG_E_UNSUPPORTED, "this CPU has no %s", ag_simd_name(level));
  atomic_store(&simd_level, level);
  return 0;
}

size_t ag_mat_bytes(int type, size_t rows, size_t cols) {
  int blk = ag_dt_block(type);
  return blk ? rows * (cols / (size_t)blk) * ag_dt_block_bytes(type) : 0;
}

/* ---------- scalar reference ---------- */

static inline float tree16(const float *acc) {
  float s8[8], s4[4];
  for (int j = 0; j < 8; j++) s8[j] = acc[j] + acc[j + 8];
  for (int j = 0; j < 4; j++) s4[j] = s8[j] + s8[j + 4];
  float s20 = s4[0] + s4[2], s21 = s4[1] + s4[3];
  return s20 + s21;
}

static float dot_scalar(const float *a, const float *b, size_t n) {
  float acc[16] = {0};
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] = fmaf(a[i + j], b[i + j], acc[j]);
  for (size_t j = 0; i + j < n; j++) acc[j] = fmaf(a[i + j], b[i + j], acc[j]);
  return tree16(acc);
}

static inline float q8_scale(const uint8_t *blk) { return ag_f16_to_f32(ag_get_u16le(blk)); }

static float dot_q8_scalar(const uint8_t *w, const float *x, size_t n) {
  float acc[16] = {0};
  for (size_t g = 0; g < n / AG_Q8_GROUP; g++) {
    const uint8_t *blk = w + g * AG_Q8_BLOCK;
    float d = q8_scale(blk);
    const int8_t *q = (const int8_t *)(blk + 2);
    for (int j = 0; j < 32; j++) acc[j & 15] = fmaf((float)q[j] * d, x[g * 32 + j], acc[j & 15]);
  }
  return tree16(acc);
}

static void axpy_scalar(float *y, float a, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}

/* ---------- AVX2 ---------- */
#if AG_X86
#define T2 __attribute__((target("avx2,fma")))

T2 static inline float tree_avx2(__m256 lo, __m256 hi) {
  __m256 s8 = _mm256_add_ps(lo, hi);
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

T2 static inline __m256i mask8(size_t k) { /* lanes < k set */
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), idx);
}

/* fma on the lanes of mask only; other lanes keep acc exactly (even -0). */
T2 static inline __m256 fma_masked2(__m256 a, __m256 b, __m256 acc, __m256i m) {
  return _mm256_blendv_ps(acc, _mm256_fmadd_ps(a, b, acc), _mm256_castsi256_ps(m));
}

T2 static float dot_avx2(const float *a, const float *b, size_t n) {
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    lo = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), lo);
    hi = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), hi);
  }
  size_t k = n - i;
  if (k) {
    __m256i m0 = mask8(k), m1 = mask8(k > 8 ? k - 8 : 0);
    lo = fma_masked2(_mm256_maskload_ps(a + i, m0), _mm256_maskload_ps(b + i, m0), lo, m0);
    if (k > 8)
      hi = fma_masked2(_mm256_maskload_ps(a + i + 8, m1), _mm256_maskload_ps(b + i + 8, m1), hi,
                       m1);
  }
  return tree_avx2(lo, hi);
}

T2 static inline __m256 q8_widen2(const int8_t *q, __m256 d) {
  __m128i v = _mm_loadl_epi64((const __m128i *)q);
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)), d);
}

T2 static void axpy_avx2(float *y, float a, const float *x, size_t n) {
  __m256 va = _mm256_set1_ps(a);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}

/* ---------- AVX-512 ---------- */
#define T5 __attribute__((target("avx512f,avx2,fma")))

T5 static inline float tree512(__m512 v) {
  __m256 lo = _mm512_castps512_ps256(v);
  __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  __m256 s8 = _mm256_add_ps(lo, hi);
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

/* The same tree for four accumulators at once: the results of a, b, c, d in lanes 0..3.
 * Every addition is one of the spec's (s8, s4, s2, s1), just four outputs per instruction. */
T5 static inline __m128 tree512x4(__m512 a, __m512 b, __m512 c, __m512 d) {
  __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
  __m512 s4 = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
  __m512 s2 = _mm512_add_ps(s4, _mm512_permute_ps(s4, 0x4E));
  __m512 s1 = _mm512_add_ps(s2, _mm512_permute_ps(s2, 0xB1));
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(idx, s1));
}

T5 static inline void store4(float *dst, __m128 v, int n) {
  if (n >= 4) _mm_storeu_ps(dst, v);
  else {
    float t[4];
    _mm_storeu_ps(t, v);
    for (int i = 0; i < n; i++) dst[i] = t[i];
  }
}

T5 static float dot_avx512(const float *a, const float *b, size_t n) {
  __m512 acc = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
  if (i < n) {
    __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    acc = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc, m);
  }
  return tree512(acc);
}

T5 static inline __m512 q8_widen5(const int8_t *q, __m512 d) {
  __m128i v = _mm_loadu_si128((const __m128i *)q);
  return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)), d);
}

T5 static void axpy_avx512(float *y, float a, const float *x, size_t n) {
  __m512 va = _mm512_set1_ps(a);
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  if (i < n) {
    __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    __m512 yv = _mm512_maskz_loadu_ps(m, y + i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), yv));
  }
}
#endif

#if AG_X86
/* Attention scores and the weighted sum of values for up to 4 queries at once (the heads sharing
 * a key/value head; one for ag_dot_many and ag_axpy_many): each key row and each value row is
 * loaded once for all of them, 4 positions of scores at a time. Every output's operations are
 * ag_dot's and ag_axpy's, in their order. */
T5 static void dot_many4_avx512(const float *q, size_t qs, int nq, const float *k, size_t stride, int count,
                                size_t n, float *out, size_t os) {
  size_t full = n / 16 * 16;
  __mmask16 m = (__mmask16)((1u << (n - full)) - 1);
  int j = 0;
  for (; j + 4 <= count; j += 4) {
    __m512 acc[4][4];
    UNROLL
    for (int g = 0; g < 4; g++)
      UNROLL
      for (int u = 0; u < 4; u++) acc[g][u] = _mm512_setzero_ps();
    for (size_t i = 0; i < full; i += 16) {
      __m512 kv[4];
      UNROLL
      for (int u = 0; u < 4; u++) kv[u] = _mm512_loadu_ps(k + (size_t)(j + u) * stride + i);
      UNROLL
      for (int g = 0; g < 4; g++) {
        if (g < nq) {
          __m512 qv = _mm512_loadu_ps(q + (size_t)g * qs + i);
          UNROLL
          for (int u = 0; u < 4; u++) acc[g][u] = _mm512_fmadd_ps(qv, kv[u], acc[g][u]);
        }
      }
    }
    if (m) {
      __m512 kv[4];
      UNROLL
      for (int u = 0; u < 4; u++) kv[u] = _mm512_maskz_loadu_ps(m, k + (size_t)(j + u) * stride + full);
      UNROLL
      for (int g = 0; g < 4; g++) {
        if (g < nq) {
          __m512 qv = _mm512_maskz_loadu_ps(m, q + (size_t)g * qs + full);
          UNROLL
          for (int u = 0; u < 4; u++) acc[g][u] = _mm512_mask3_fmadd_ps(qv, kv[u], acc[g][u], m);
        }
      }
    }
    for (int g = 0; g < nq; g++)
      _mm_storeu_ps(out + (size_t)g * os + j, tree512x4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]));
  }
  for (; j < count; j++)
    for (int g = 0; g < nq; g++) out[(size_t)g * os + j] = dot_avx512(q + (size_t)g * qs, k + (size_t)j * stride, n);
}

T5 static void axpy_many4_avx512(float *o, size_t os, const float *p, size_t ps, int nq, const float *v, size_t stride,
                                 int count, size_t n) {
  for (size_t i0 = 0; i0 < n; i0 += 64) {
    __mmask16 mk[4];
    UNROLL
    for (int u = 0; u < 4; u++) {
      long left = (long)n - (long)(i0 + 16 * (size_t)u);
      mk[u] = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
    }
    __m512 acc[4][4];
    UNROLL
    for (int g = 0; g < 4; g++)
      UNROLL
      for (int u = 0; u < 4; u++)
        acc[g][u] = g < nq ? _mm512_maskz_loadu_ps(mk[u], o + (size_t)g * os + i0 + 16 * u) : _mm512_setzero_ps();
    for (int j = 0; j < count; j++) {
      const float *vr = v + (size_t)j * stride + i0;
      __m512 vv[4];
      UNROLL
      for (int u = 0; u < 4; u++) vv[u] = _mm512_maskz_loadu_ps(mk[u], vr + 16 * u);
      UNROLL
      for (int g = 0; g < 4; g++) {
        if (g < nq) {
          __m512 a = _mm512_set1_ps(p[(size_t)g * ps + (size_t)j]);
          UNROLL
          for (int u = 0; u < 4; u++) acc[g][u] = _mm512_fmadd_ps(a, vv[u], acc[g][u]);
        }
      }
    }
    for (int g = 0; g < nq; g++)
      UNROLL
      for (int u = 0; u < 4; u++) _mm512_mask_storeu_ps(o + (size_t)g * os + i0 + 16 * u, mk[u], acc[g][u]);
  }
}

T2 static void dot_many_avx2(const float *q, const float *k, size_t stride, int count, size_t n, float *out);
T2 static void dot_many4_avx2(const float *q, size_t qs, int nq, const float *k, size_t stride, int count, size_t n,
                              float *out, size_t os);
T2 static void axpy_many4_avx2(float *o, size_t os, const float *p, size_t ps, int nq, const float *v, size_t stride,
                               int count, size_t n);
T2 static void axpy_many_avx2(float *o, const float *p, const float *v, size_t stride, int count, size_t n);
#endif

void ag_dot_many(const float *q, const float *k, size_t stride, int count, size_t n, float *out) {
#if AG_X86
  int l = ag_simd_get();
  if (l == AG_SIMD_AVX512) {
    dot_many4_avx512(q, 0, 1, k, stride, count, n, out, 0);
    return;
  }
  if (l == AG_SIMD_AVX2) {
    dot_many_avx2(q, k, stride, count, n, out);
    return;
  }
#endif
  for (int j = 0; j < count; j++) out[j] = ag_dot(q, k + (size_t)j * stride, n);
}

void ag_dot_many_g(const float *q, size_t qs, int nq, const float *k, size_t stride, int count, size_t n, float *out,
                   size_t os) {
  for (int g0 = 0; g0 < nq; g0 += 4) {
    int m = AG_MIN(4, nq - g0);
#if AG_X86
    if (ag_simd_get() == AG_SIMD_AVX512) {
      dot_many4_avx512(q + (size_t)g0 * qs, qs, m, k, stride, count, n, out + (size_t)g0 * os, os);
      continue;
    }
    if (ag_simd_get() == AG_SIMD_AVX2) {
      dot_many4_avx2(q + (size_t)g0 * qs, qs, m, k, stride, count, n, out + (size_t)g0 * os, os);
      continue;
    }
#endif
    for (int g = g0; g < g0 + m; g++) ag_dot_many(q + (size_t)g * qs, k, stride, count, n, out + (size_t)g * os);
  }
}

void ag_axpy_many_g(float *o, size_t os, const float *p, size_t ps, int nq, const float *v, size_t stride, int count,
                    size_t n) {
  for (int g0 = 0; g0 < nq; g0 += 4) {
    int m = AG_MIN(4, nq - g0);
#if AG_X86
    if (ag_simd_get() == AG_SIMD_AVX512) {
      axpy_many4_avx512(o + (size_t)g0 * os, os, p + (size_t)g0 * ps, ps, m, v, stride, count, n);
      continue;
    }
    if (ag_simd_get() == AG_SIMD_AVX2) {
      axpy_many4_avx2(o + (size_t)g0 * os, os, p + (size_t)g0 * ps, ps, m, v, stride, count, n);
      continue;
    }
#endif
    for (int g = g0; g < g0 + m; g++) ag_axpy_many(o + (size_t)g * os, p + (size_t)g * ps, v, stride, count, n);
  }
}

void ag_axpy_many(float *o, const float *p, const float *v, size_t stride, int count, size_t n) {
#if AG_X86
  int l = ag_simd_get();
  if (l == AG_SIMD_AVX512) {
    axpy_many4_avx512(o, 0, p, 0, 1, v, stride, count, n);
    return;
  }
  if (l == AG_SIMD_AVX2) {
    axpy_many_avx2(o, p, v, stride, count, n);
    return;
  }
#endif
  for (int j = 0; j < count; j++) ag_axpy(o, p[j], v + (size_t)j * stride, n);
}

#if AG_X86
/* ag_expf on 16 lanes with exactly the scalar operation sequence (detmath.c): same bits. */
T5 static inline __m512 expf512(__m512 x) {
  const __m512 magic = _mm512_set1_ps(12582912.0f);
  __m512 kf = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269502f)), magic), magic);
  __m512 r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(0.693145752f), x);
  r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(1.42860677e-06f), r);
  __m512 p = _mm512_set1_ps(1.98412698e-04f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.38888889e-03f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.33333333e-03f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.16666667e-02f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.66666667e-01f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  __m512i k = _mm512_cvttps_epi32(kf);
  __mmask16 big = _mm512_cmpgt_epi32_mask(k, _mm512_set1_epi32(127));
  __m512i kc = _mm512_min_epi32(k, _mm512_set1_epi32(127));
  __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(kc, _mm512_set1_epi32(127)), 23));
  __m512 res = _mm512_mul_ps(p, scale);
  res = _mm512_mask_mul_ps(res, big, res, _mm512_set1_ps(2.0f));
  res = _mm512_mask_mov_ps(res, _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.72283f), _CMP_GT_OQ),
                           _mm512_set1_ps(INFINITY));
  res = _mm512_mask_mov_ps(res, _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33654f), _CMP_LT_OQ),
                           _mm512_setzero_ps());
  return _mm512_mask_mov_ps(res, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

T5 static void softmax_avx512(float *x, int n, float scale) {
  __m512 sv = _mm512_set1_ps(scale), mv = _mm512_set1_ps(-INFINITY);
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + j), sv);
    _mm512_storeu_ps(x + j, v);
    mv = _mm512_max_ps(v, mv); /* NaN in v keeps mv */
  }
  float mx = _mm512_reduce_max_ps(mv);
  for (; j < n; j++) {
    x[j] = x[j] * scale;
    mx = x[j] > mx ? x[j] : mx;
  }
  __m512 m = _mm512_set1_ps(mx);
  for (j = 0; j + 16 <= n; j += 16) _mm512_storeu_ps(x + j, expf512(_mm512_sub_ps(_mm512_loadu_ps(x + j), m)));
  if (j < n) {
    __mmask16 k = (__mmask16)((1u << (n - j)) - 1);
    _mm512_mask_storeu_ps(x + j, k, expf512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), m)));
  }
  float sum = 0.0f;
  for (j = 0; j < n; j++) sum += x[j];
  __m512 s = _mm512_set1_ps(sum);
  for (j = 0; j + 16 <= n; j += 16) _mm512_storeu_ps(x + j, _mm512_div_ps(_mm512_loadu_ps(x + j), s));
  for (; j < n; j++) x[j] = x[j] / sum;
}

T5 static void swiglu_avx512(float *hg, const float *h1, const float *h3, size_t n) {
  size_t i = 0;
  const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    __m512 a = _mm512_loadu_ps(h1 + i);
    __m512 e = expf512(_mm512_sub_ps(zero, a));
    __m512 sl = _mm512_div_ps(a, _mm512_add_ps(one, e));
    _mm512_storeu_ps(hg + i, _mm512_mul_ps(sl, _mm512_loadu_ps(h3 + i)));
  }
  for (; i < n; i++) hg[i] = (h1[i] / (1.0f + ag_expf(-h1[i]))) * h3[i];
}
#endif

#if AG_X86
/* AVX2 versions of the attention and SwiGLU helpers: same per-element operations. */
T2 static void dot_many_avx2(const float *q, const float *k, size_t stride, int count, size_t n, float *out) {
  size_t full = n / 16 * 16, kk = n - full;
  __m256i m0 = mask8(kk), m1 = mask8(kk > 8 ? kk - 8 : 0);
  int j = 0;
  for (; j + 2 <= count; j += 2) {
    __m256 lo[2], hi[2];
    UNROLL
    for (int u = 0; u < 2; u++) lo[u] = hi[u] = _mm256_setzero_ps();
    for (size_t i = 0; i < full; i += 16) {
      __m256 ql = _mm256_loadu_ps(q + i), qh = _mm256_loadu_ps(q + i + 8);
      UNROLL
      for (int u = 0; u < 2; u++) {
        const float *kr = k + (size_t)(j + u) * stride + i;
        lo[u] = _mm256_fmadd_ps(ql, _mm256_loadu_ps(kr), lo[u]);
        hi[u] = _mm256_fmadd_ps(qh, _mm256_loadu_ps(kr + 8), hi[u]);
      }
    }
    if (kk) {
      __m256 ql = _mm256_maskload_ps(q + full, m0), qh = _mm256_maskload_ps(q + full + 8, m1);
      UNROLL
      for (int u = 0; u < 2; u++) {
        const float *kr = k + (size_t)(j + u) * stride + full;
        lo[u] = fma_masked2(ql, _mm256_maskload_ps(kr, m0), lo[u], m0);
        if (kk > 8) hi[u] = fma_masked2(qh, _mm256_maskload_ps(kr + 8, m1), hi[u], m1);
      }
    }
    out[j] = tree_avx2(lo[0], hi[0]);
    out[j + 1] = tree_avx2(lo[1], hi[1]);
  }
  for (; j < count; j++) out[j] = dot_avx2(q, k + (size_t)j * stride, n);
}

T2 static void axpy_many_avx2(float *o, const float *p, const float *v, size_t stride, int count, size_t n) {
  size_t i0 = 0;
  for (; i0 + 32 <= n; i0 += 32) {
    __m256 acc[4];
    UNROLL
    for (int u = 0; u < 4; u++) acc[u] = _mm256_loadu_ps(o + i0 + 8 * u);
    for (int j = 0; j < count; j++) {
      __m256 a = _mm256_set1_ps(p[j]);
      const float *vr = v + (size_t)j * stride + i0;
      UNROLL
      for (int u = 0; u < 4; u++) acc[u] = _mm256_fmadd_ps(a, _mm256_loadu_ps(vr + 8 * u), acc[u]);
    }
    UNROLL
    for (int u = 0; u < 4; u++) _mm256_storeu_ps(o + i0 + 8 * u, acc[u]);
  }
  for (; i0 < n; i0++) {
    float a = o[i0];
    for (int j = 0; j < count; j++) a = fmaf(p[j], v[(size_t)j * stride + i0], a);
    o[i0] = a;
  }
}

/* The grouped kernels for AVX2 (ag_dot_many_g, ag_axpy_many_g): up to 4 queries per key or
 * value row, one position at a time (16 registers hold no more), each output as the single
 * kernels make it. */
T2 static void dot_many4_avx2(const float *q, size_t qs, int nq, const float *k, size_t stride, int count, size_t n,
                              float *out, size_t os) {
  size_t full = n / 16 * 16, kk = n - full;
  __m256i m0 = mask8(kk), m1 = mask8(kk > 8 ? kk - 8 : 0);
  for (int j = 0; j < count; j++) {
    const float *kr = k + (size_t)j * stride;
    __m256 lo[4], hi[4];
    UNROLL
    for (int g = 0; g < 4; g++) lo[g] = hi[g] = _mm256_setzero_ps();
    for (size_t i = 0; i < full; i += 16) {
      __m256 kl = _mm256_loadu_ps(kr + i), kh = _mm256_loadu_ps(kr + i + 8);
      UNROLL
      for (int g = 0; g < 4; g++) {
        if (g < nq) {
          lo[g] = _mm256_fmadd_ps(_mm256_loadu_ps(q + (size_t)g * qs + i), kl, lo[g]);
          hi[g] = _mm256_fmadd_ps(_mm256_loadu_ps(q + (size_t)g * qs + i + 8), kh, hi[g]);
        }
      }
    }
    if (kk) {
      __m256 kl = _mm256_maskload_ps(kr + full, m0), kh = _mm256_maskload_ps(kr + full + 8, m1);
      UNROLL
      for (int g = 0; g < 4; g++) {
        if (g < nq) {
          lo[g] = fma_masked2(_mm256_maskload_ps(q + (size_t)g * qs + full, m0), kl, lo[g], m0);
          if (kk > 8) hi[g] = fma_masked2(_mm256_maskload_ps(q + (size_t)g * qs + full + 8, m1), kh, hi[g], m1);
        }
      }
    }
    for (int g = 0; g < nq; g++) out[(size_t)g * os + j] = tree_avx2(lo[g], hi[g]);
  }
}

T2 static void axpy_many4_avx2(float *o, size_t os, const float *p, size_t ps, int nq, const float *v, size_t stride,
                               int count, size_t n) {
  size_t i0 = 0;
  for (; i0 + 16 <= n; i0 += 16) {
    __m256 lo[4], hi[4];
    UNROLL
    for (int g = 0; g < 4; g++) {
      lo[g] = g < nq ? _mm256_loadu_ps(o + (size_t)g * os + i0) : _mm256_setzero_ps();
      hi[g] = g < nq ? _mm256_loadu_ps(o + (size_t)g * os + i0 + 8) : _mm256_setzero_ps();
    }
    for (int j = 0; j < count; j++) {
      const float *vr = v + (size_t)j * stride + i0;
      __m256 vl = _mm256_loadu_ps(vr), vh = _mm256_loadu_ps(vr + 8);
      UNROLL
      for (int g = 0; g < 4; g++) {
        if (g < nq) {
          __m256 a = _mm256_set1_ps(p[(size_t)g * ps + (size_t)j]);
          lo[g] = _mm256_fmadd_ps(a, vl, lo[g]);
          hi[g] = _mm256_fmadd_ps(a, vh, hi[g]);
        }
      }
    }
    for (int g = 0; g < nq; g++) {
      _mm256_storeu_ps(o + (size_t)g * os + i0, lo[g]);
      _mm256_storeu_ps(o + (size_t)g * os + i0 + 8, hi[g]);
    }
  }
  for (int g = 0; g < nq; g++)
    for (size_t i = i0; i < n; i++) {
      float a = o[(size_t)g * os + i];
      for (int j = 0; j < count; j++) a = fmaf(p[(size_t)g * ps + (size_t)j], v[(size_t)j * stride + i], a);
      o[(size_t)g * os + i] = a;
    }
}

T2 static inline __m256 expf256(__m256 x) {
  const __m256 magic = _mm256_set1_ps(12582912.0f);
  __m256 kf = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269502f)), magic), magic);
  __m256 r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(0.693145752f), x);
  r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(1.42860677e-06f), r);
  __m256 p = _mm256_set1_ps(1.98412698e-04f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.38888889e-03f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.33333333e-03f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.16666667e-02f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.66666667e-01f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  __m256i k = _mm256_cvttps_epi32(kf);
  __m256 big = _mm256_castsi256_ps(_mm256_cmpgt_epi32(k, _mm256_set1_epi32(127)));
  __m256i kc = _mm256_min_epi32(k, _mm256_set1_epi32(127));
  __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(kc, _mm256_set1_epi32(127)), 23));
  __m256 res = _mm256_mul_ps(p, scale);
  res = _mm256_blendv_ps(res, _mm256_mul_ps(res, _mm256_set1_ps(2.0f)), big);
  res = _mm256_blendv_ps(res, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(88.72283f), _CMP_GT_OQ));
  res = _mm256_blendv_ps(res, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(-87.33654f), _CMP_LT_OQ));
  return _mm256_blendv_ps(res, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

T2 static void softmax_avx2(float *x, int n, float scale) {
  float mx = -INFINITY;
  for (int j = 0; j < n; j++) {
    x[j] = x[j] * scale;
    mx = x[j] > mx ? x[j] : mx;
  }
  __m256 m = _mm256_set1_ps(mx);
  int j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, expf256(_mm256_sub_ps(_mm256_loadu_ps(x + j), m)));
  for (; j < n; j++) x[j] = ag_expf(x[j] - mx);
  float sum = 0.0f;
  for (j = 0; j < n; j++) sum += x[j];
  __m256 s = _mm256_set1_ps(sum);
  for (j = 0; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, _mm256_div_ps(_mm256_loadu_ps(x + j), s));
  for (; j < n; j++) x[j] = x[j] / sum;
}

T2 static void swiglu_avx2(float *hg, const float *h1, const float *h3, size_t n) {
  size_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    __m256 a = _mm256_loadu_ps(h1 + i);
    __m256 e = expf256(_mm256_sub_ps(zero, a));
    __m256 sl = _mm256_div_ps(a, _mm256_add_ps(one, e));
    _mm256_storeu_ps(hg + i, _mm256_mul_ps(sl, _mm256_loadu_ps(h3 + i)));
  }
  for (; i < n; i++) hg[i] = (h1[i] / (1.0f + ag_expf(-h1[i]))) * h3[i];
}
#endif

static void softmax_scalar(float *x, int n, float scale) {
  float mx = -INFINITY;
  for (int j = 0; j < n; j++) {
    x[j] = x[j] * scale;
    mx = x[j] > mx ? x[j] : mx;
  }
  float sum = 0.0f;
  for (int j = 0; j < n; j++) {
    x[j] = ag_expf(x[j] - mx);
    sum += x[j];
  }
  for (int j = 0; j < n; j++) x[j] = x[j] / sum;
}

void ag_softmax_scaled(float *x, int n, float scale) {
#if AG_X86
  int l = ag_simd_get();
  if (l == AG_SIMD_AVX512) {
    softmax_avx512(x, n, scale);
    return;
  }
  if (l == AG_SIMD_AVX2) {
    softmax_avx2(x, n, scale);
    return;
  }
#endif
  softmax_scalar(x, n, scale);
}

void ag_swiglu(float *hg, const float *h1, const float *h3, size_t n) {
#if AG_X86
  int l = ag_simd_get();
  if (l == AG_SIMD_AVX512) {
    swiglu_avx512(hg, h1, h3, n);
    return;
  }
  if (l == AG_SIMD_AVX2) {
    swiglu_avx2(hg, h1, h3, n);
    return;
  }
#endif
  for (size_t i = 0; i < n; i++) hg[i] = (h1[i] / (1.0f + ag_expf(-h1[i]))) * h3[i];
}

/* ---------- public single-vector ops ---------- */

float ag_dot(const float *a, const float *b, size_t n) {
#if AG_X86
  int l = ag_simd_get();
  if (l == AG_SIMD_AVX512) return dot_avx512(a, b, n);
  if (l == AG_SIMD_AVX2) return dot_avx2(a, b, n);
#endif
  return dot_scalar(a, b, n);
}

void ag_axpy(float *y, float a, const float *x, size_t n) {
#if AG_X86
  int l = ag_simd_get();
  if (l == AG_SIMD_AVX512) {
    axpy_avx512(y, a, x, n);
    return;
  }
  if (l == AG_SIMD_AVX2) {
    axpy_avx2(y, a, x, n);
    return;
  }
#endif
  axpy_scalar(y, a, x, n);
}

void ag_mat_row(const ag_mat *w, int r, float *out) {
  size_t n = (size_t)w->cols;
  ag_dequantize(w->type, (const uint8_t *)w->data + (size_t)r * ag_mat_bytes(w->type, 1, n), n, out);
}

/* ---------- forward matmul ---------- */

/* One tile: rows r[0..R) of W against tokens x[0..TT); writes out[t*ostride + ri]. */
typedef struct {
  const ag_mat *w;
  const float *x;
  float *out;
  int T;
  int q8;          /* rows are Q8 blocks, widened inside the tile loops */
  const float *wf; /* else when not NULL: rows wf_r0.. already widened to fp32 here */
  int wf_r0;
} mm_ctx;

static inline const void *wrow_c(const mm_ctx *c, int r) {
  const ag_mat *w = c->w;
  if (c->wf) return c->wf + (size_t)(r - c->wf_r0) * w->cols;
  if (c->q8) return (const uint8_t *)w->data + (size_t)r * (w->cols / AG_Q8_GROUP) * AG_Q8_BLOCK;
  return (const float *)w->data + (size_t)r * w->cols;
}

static void mm_rows_scalar(const mm_ctx *c, int r0, int r1) {
  size_t n = (size_t)c->w->cols, rows = (size_t)c->w->rows;
  for (int t = 0; t < c->T; t++)
    for (int r = r0; r < r1; r++) {
      const void *wr = wrow_c(c, r);
      float v = c->q8 ? dot_q8_scalar(wr, c->x + (size_t)t * n, n)
                                       : dot_scalar(wr, c->x + (size_t)t * n, n);
      c->out[(size_t)t * rows + r] = v;
    }
}

#if AG_X86
/* Decode reads each matrix once, 8 rows side by side, and the hardware prefetcher does not
 * follow 8 interleaved streams well (a Q8_0 matrix streamed at 5 GB/s where a plain read loop
 * gets 22). So each block step also prefetches its share of the group of 8 rows that starts
 * AG_DECODE_AHEAD rows further on, in address order: then the kernel runs as fast out of
 * memory as out of L2. Only speed depends on it, never a bit. */
#define AG_DECODE_AHEAD 8
#define AG_DECODE_AHEAD_F32 24 /* fp32 rows: further ahead, into L2 (T0 streamed at 12 GB/s, T1 at 22) */
#define AG_PF_HINT_F32 _MM_HINT_T1
#define AG_PF_HINT _MM_HINT_T0

/* Cache lines of a group of g rows of rb bytes that each of nb block steps prefetches. */
static inline int prefetch_lines(int g, size_t rb, size_t nb) {
  return (int)(((size_t)g * rb + 64 * nb - 1) / (64 * nb));
}

/* Block step b's share of the group that starts at pf (plain SSE: inlined into every path). */
__attribute__((always_inline)) static inline void prefetch_share(const uint8_t *pf, size_t b, int lines) {
  for (int i = 0; i < lines; i++) _mm_prefetch((const char *)(pf + (b * (size_t)lines + (size_t)i) * 64), AG_PF_HINT);
}

/* AVX2: lanes 0-7 in lo, 8-15 in hi; tile 4 rows x 1 token, or 2 rows x 2 tokens. */
T2 static void mm_rows_avx2(const mm_ctx *c, int r0, int r1) {
  const ag_mat *w = c->w;
  size_t n = (size_t)w->cols, rows = (size_t)w->rows;
  int q8 = c->q8;
  size_t full = n / 16 * 16, k = n - full;
  __m256i m0 = mask8(k), m1 = mask8(k > 8 ? k - 8 : 0);
  if (c->T == 1) {
    for (int r = r0; r < r1; r += 4) {
      const void *wp[4];
      UNROLL
      for (int i = 0; i < 4; i++) wp[i] = wrow_c(c, r + i < r1 ? r + i : r);
      __m256 lo[4], hi[4];
      UNROLL
      for (int i = 0; i < 4; i++) lo[i] = hi[i] = _mm256_setzero_ps();
      const float *x = c->x;
      if (q8) {
        for (size_t g = 0; g < n / 32; g++)
          for (int h = 0; h < 2; h++) {
            __m256 xl = _mm256_loadu_ps(x + g * 32 + h * 16), xh = _mm256_loadu_ps(x + g * 32 + h * 16 + 8);
            UNROLL
            for (int i = 0; i < 4; i++) {
              const uint8_t *b = (const uint8_t *)wp[i] + g * AG_Q8_BLOCK;
              __m256 d = _mm256_set1_ps(q8_scale(b));
              const int8_t *q = (const int8_t *)(b + 2) + h * 16;
              lo[i] = _mm256_fmadd_ps(q8_widen2(q, d), xl, lo[i]);
              hi[i] = _mm256_fmadd_ps(q8_widen2(q + 8, d), xh, hi[i]);
            }
          }
      } else {
        for (size_t j = 0; j < full; j += 16) {
          __m256 xl = _mm256_loadu_ps(x + j), xh = _mm256_loadu_ps(x + j + 8);
          UNROLL
          for (int i = 0; i < 4; i++) {
            const float *a = (const float *)wp[i] + j;
            _mm_prefetch((const char *)(a + AG_DECODE_AHEAD_F32 * n), AG_PF_HINT_F32);
            lo[i] = _mm256_fmadd_ps(_mm256_loadu_ps(a), xl, lo[i]);
            hi[i] = _mm256_fmadd_ps(_mm256_loadu_ps(a + 8), xh, hi[i]);
          }
        }
        if (k) {
          __m256 xl = _mm256_maskload_ps(x + full, m0), xh = _mm256_maskload_ps(x + full + 8, m1);
          UNROLL
          for (int i = 0; i < 4; i++) {
            const float *a = (const float *)wp[i] + full;
            lo[i] = fma_masked2(_mm256_maskload_ps(a, m0), xl, lo[i], m0);
            hi[i] = fma_masked2(_mm256_maskload_ps(a + 8, m1), xh, hi[i], m1);
          }
        }
      }
      for (int i = 0; i < 4 && r + i < r1; i++) c->out[r + i] = tree_avx2(lo[i], hi[i]);
    }
    return;
  }
  for (int t = 0; t < c->T; t += 2) {
    const float *xs[2] = {c->x + (size_t)t * n, c->x + (size_t)(t + 1 < c->T ? t + 1 : t) * n};
    for (int r = r0; r < r1; r += 2) {
      const void *wp[2] = {wrow_c(c, r), wrow_c(c, r + 1 < r1 ? r + 1 : r)};
      __m256 lo[2][2], hi[2][2];
      UNROLL
      for (int i = 0; i < 2; i++)
        UNROLL
        for (int u = 0; u < 2; u++) lo[i][u] = hi[i][u] = _mm256_setzero_ps();
      if (q8) {
        for (size_t g = 0; g < n / 32; g++)
          for (int h = 0; h < 2; h++) {
            __m256 wl[2], wh[2];
            UNROLL
            for (int i = 0; i < 2; i++) {
              const uint8_t *b = (const uint8_t *)wp[i] + g * AG_Q8_BLOCK;
              __m256 d = _mm256_set1_ps(q8_scale(b));
              const int8_t *q = (const int8_t *)(b + 2) + h * 16;
              wl[i] = q8_widen2(q, d);
              wh[i] = q8_widen2(q + 8, d);
            }
            UNROLL
            for (int u = 0; u < 2; u++) {
              __m256 xl = _mm256_loadu_ps(xs[u] + g * 32 + h * 16), xh = _mm256_loadu_ps(xs[u] + g * 32 + h * 16 + 8);
              UNROLL
              for (int i = 0; i < 2; i++) {
                lo[i][u] = _mm256_fmadd_ps(wl[i], xl, lo[i][u]);
                hi[i][u] = _mm256_fmadd_ps(wh[i], xh, hi[i][u]);
              }
            }
          }
      } else {
        for (size_t j = 0; j < full; j += 16)
          UNROLL
          for (int u = 0; u < 2; u++) {
            __m256 xl = _mm256_loadu_ps(xs[u] + j), xh = _mm256_loadu_ps(xs[u] + j + 8);
            UNROLL
            for (int i = 0; i < 2; i++) {
              const float *a = (const float *)wp[i] + j;
              lo[i][u] = _mm256_fmadd_ps(_mm256_loadu_ps(a), xl, lo[i][u]);
              hi[i][u] = _mm256_fmadd_ps(_mm256_loadu_ps(a + 8), xh, hi[i][u]);
            }
          }
        if (k)
          UNROLL
          for (int u = 0; u < 2; u++) {
            __m256 xl = _mm256_maskload_ps(xs[u] + full, m0), xh = _mm256_maskload_ps(xs[u] + full + 8, m1);
            UNROLL
            for (int i = 0; i < 2; i++) {
              const float *a = (const float *)wp[i] + full;
              lo[i][u] = fma_masked2(_mm256_maskload_ps(a, m0), xl, lo[i][u], m0);
              hi[i][u] = fma_masked2(_mm256_maskload_ps(a + 8, m1), xh, hi[i][u], m1);
            }
          }
      }
      for (int u = 0; u < 2 && t + u < c->T; u++)
        for (int i = 0; i < 2 && r + i < r1; i++)
          c->out[(size_t)(t + u) * rows + r + i] = tree_avx2(lo[i][u], hi[i][u]);
    }
  }
}

#define MM_TT 6
/* AVX-512 prefill and training on fp32 rows: tiles of 4 rows x MM_TT tokens, 24 accumulators
 * and 4 weight vectors in registers, so each weight vector loaded (the stream that comes from
 * L2) feeds MM_TT FMAs. Each output is still ag_dot's 16 lanes in column order, then the tree:
 * the tile's shape changes no bit. */
T5 static void mm_f32_tiles_avx512(const mm_ctx *c, int r0, int r1) {
  size_t n = (size_t)c->w->cols, rows = (size_t)c->w->rows, full = n / 16 * 16;
  __mmask16 m = (__mmask16)((1u << (n - full)) - 1);
  for (int t = 0; t < c->T; t += MM_TT) {
    const float *xs[MM_TT];
    UNROLL
    for (int u = 0; u < MM_TT; u++) xs[u] = c->x + (size_t)(t + u < c->T ? t + u : t) * n;
    for (int r = r0; r < r1; r += 4) {
      const float *wp[4];
      UNROLL
      for (int i = 0; i < 4; i++) wp[i] = wrow_c(c, r + i < r1 ? r + i : r);
      __m512 acc[4][MM_TT];
      UNROLL
      for (int i = 0; i < 4; i++)
        UNROLL
        for (int u = 0; u < MM_TT; u++) acc[i][u] = _mm512_setzero_ps();
      for (size_t j = 0; j < full; j += 16) {
        __m512 wv[4];
        UNROLL
        for (int i = 0; i < 4; i++) wv[i] = _mm512_loadu_ps(wp[i] + j);
        UNROLL
        for (int u = 0; u < MM_TT; u++) {
          __m512 xv = _mm512_loadu_ps(xs[u] + j);
          UNROLL
          for (int i = 0; i < 4; i++) acc[i][u] = _mm512_fmadd_ps(wv[i], xv, acc[i][u]);
        }
      }
      if (m) {
        __m512 wv[4];
        UNROLL
        for (int i = 0; i < 4; i++) wv[i] = _mm512_maskz_loadu_ps(m, wp[i] + full);
        UNROLL
        for (int u = 0; u < MM_TT; u++) {
          __m512 xv = _mm512_maskz_loadu_ps(m, xs[u] + full);
          UNROLL
          for (int i = 0; i < 4; i++) acc[i][u] = _mm512_mask3_fmadd_ps(wv[i], xv, acc[i][u], m);
        }
      }
      for (int u = 0; u < MM_TT && t + u < c->T; u++)
        store4(c->out + (size_t)(t + u) * rows + r, tree512x4(acc[0][u], acc[1][u], acc[2][u], acc[3][u]), r1 - r);
    }
  }
}

/* AVX-512: tile 8 rows x 1 token for decode (fp32 or Q8 rows), 4 rows x MM_TT tokens for
 * prefill and training (fp32 rows). */
T5 static void mm_rows_avx512(const mm_ctx *c, int r0, int r1) {
  const ag_mat *w = c->w;
  size_t n = (size_t)w->cols;
  int q8 = c->q8;
  size_t full = n / 16 * 16;
  __mmask16 m = (__mmask16)((1u << (n - full)) - 1);
  if (c->T == 1) {
    const float *x = c->x;
    for (int r = r0; r < r1; r += 8) {
      const void *wp[8];
      UNROLL
      for (int i = 0; i < 8; i++) wp[i] = wrow_c(c, r + i < r1 ? r + i : r);
      __m512 acc[8];
      UNROLL
      for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
      if (q8) {
        for (size_t g = 0; g < n / 32; g++) {
          __m512 x0 = _mm512_loadu_ps(x + g * 32), x1 = _mm512_loadu_ps(x + g * 32 + 16);
          UNROLL
          for (int i = 0; i < 8; i++) {
            const uint8_t *b = (const uint8_t *)wp[i] + g * AG_Q8_BLOCK;
            __m512 d = _mm512_set1_ps(q8_scale(b));
            const int8_t *q = (const int8_t *)(b + 2);
            acc[i] = _mm512_fmadd_ps(q8_widen5(q, d), x0, acc[i]);
            acc[i] = _mm512_fmadd_ps(q8_widen5(q + 16, d), x1, acc[i]);
          }
        }
      } else {
        for (size_t j = 0; j < full; j += 16) {
          __m512 xv = _mm512_loadu_ps(x + j);
          UNROLL
          for (int i = 0; i < 8; i++) {
            _mm_prefetch((const char *)((const float *)wp[i] + j + AG_DECODE_AHEAD_F32 * n), AG_PF_HINT_F32);
            acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps((const float *)wp[i] + j), xv, acc[i]);
          }
        }
        if (m) {
          __m512 xv = _mm512_maskz_loadu_ps(m, x + full);
          UNROLL
          for (int i = 0; i < 8; i++)
            acc[i] = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(m, (const float *)wp[i] + full), xv, acc[i], m);
        }
      }
      store4(c->out + r, tree512x4(acc[0], acc[1], acc[2], acc[3]), r1 - r);
      if (r + 4 < r1) store4(c->out + r + 4, tree512x4(acc[4], acc[5], acc[6], acc[7]), r1 - r - 4);
    }
    return;
  }
  /* T > 1: the rows are fp32 here (mm_rows widens Q8 and the block types for a batch) */
  mm_f32_tiles_avx512(c, r0, r1);
}
#endif

#if AG_X86
/* Decode (T = 1) on block types: 8 rows at a time, each block widened in registers (qb_vec)
 * and multiplied into its row's 16 lanes in increasing column order, i.e. exactly ag_dot of
 * the widened row; then the spec's tree. The type is a constant in each instance below. */
__attribute__((always_inline)) QB_T5 static inline void decode_blocks(const mm_ctx *c, int r0, int r1,
                                                                    const int t) {
  const ag_mat *w = c->w;
  const int blk = ag_dt_block(t), nvec = blk / 16;
  size_t nb = (size_t)w->cols / (size_t)blk, bb = ag_dt_block_bytes(t), rb = nb * bb;
  const float *x = c->x;
  for (int r = r0; r < r1; r += 8) {
    const uint8_t *wp[8];
    UNROLL
    for (int i = 0; i < 8; i++) wp[i] = (const uint8_t *)w->data + (size_t)(r + i < r1 ? r + i : r) * rb;
    __m512 acc[8];
    UNROLL
    for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
    float ds[8][16], ms[8][16];
    const uint8_t *pf = wp[0] + AG_DECODE_AHEAD * rb;
    int pf_lines = prefetch_lines(8, rb, nb);
    for (size_t b = 0; b < nb; b++) {
      prefetch_share(pf, b, pf_lines);
      if (t == AG_DT_Q4_K || t == AG_DT_Q5_K) {
        float d[8], dmin[8];
        UNROLL
        for (int i = 0; i < 8; i++) d[i] = qb_h2f(wp[i] + b * bb), dmin[i] = qb_h2f(wp[i] + b * bb + 2);
        for (int sb = 0; sb < 8; sb++) {
          __m512 x0 = _mm512_loadu_ps(x + b * (size_t)blk + 32 * (size_t)sb), x1 = _mm512_loadu_ps(x + b * (size_t)blk + 32 * (size_t)sb + 16);
          UNROLL
          for (int i = 0; i < 8; i++) {
            __m512 w0, w1;
            qb_k_lookup(t, wp[i] + b * bb, sb, d[i], dmin[i], &w0, &w1);
            acc[i] = _mm512_fmadd_ps(w0, x0, acc[i]);
            acc[i] = _mm512_fmadd_ps(w1, x1, acc[i]);
          }
        }
        continue;
      }
      UNROLL
      for (int i = 0; i < 8; i++) qb_prep(t, wp[i] + b * bb, ds[i], ms[i]);
      UNROLL
      for (int h = 0; h < nvec; h++) {
        __m512 xv = _mm512_loadu_ps(x + b * (size_t)blk + 16 * (size_t)h);
        UNROLL
        for (int i = 0; i < 8; i++)
          acc[i] = _mm512_fmadd_ps(qb_vec(t, wp[i] + b * bb, h, ds[i][h], ms[i][h]), xv, acc[i]);
      }
    }
    store4(c->out + r, tree512x4(acc[0], acc[1], acc[2], acc[3]), r1 - r);
    if (r + 4 < r1) store4(c->out + r + 4, tree512x4(acc[4], acc[5], acc[6], acc[7]), r1 - r - 4);
  }
}

/* The 32-element types: scales read and broadcast where they are used, nothing through memory. */
__attribute__((always_inline)) QB_T5 static inline void decode_blocks32(const mm_ctx *c, int r0, int r1,
                                                                      const int t) {
  const ag_mat *w = c->w;
  size_t nb = (size_t)w->cols / 32, bb = ag_dt_block_bytes(t), rb = nb * bb;
  const int off = qb_has_offset(t);
  const float *x = c->x;
  for (int r = r0; r < r1; r += 8) {
    const uint8_t *wp[8];
    UNROLL
    for (int i = 0; i < 8; i++) wp[i] = (const uint8_t *)w->data + (size_t)(r + i < r1 ? r + i : r) * rb;
    __m512 acc[8];
    UNROLL
    for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
    const uint8_t *pf = wp[0] + AG_DECODE_AHEAD * rb;
    int pf_lines = prefetch_lines(8, rb, nb);
    for (size_t b = 0; b < nb; b++) {
      __m512 x0 = _mm512_loadu_ps(x + 32 * b), x1 = _mm512_loadu_ps(x + 32 * b + 16);
      prefetch_share(pf, b, pf_lines);
      UNROLL
      for (int i = 0; i < 8; i++) {
        const uint8_t *q = wp[i] + b * bb;
        if (qb_is_table(t)) {
          __m512 tab[2], w0, w1;
          qb_table(t, q, tab);
          qb_lookup(t, q, tab, &w0, &w1);
          acc[i] = _mm512_fmadd_ps(w0, x0, acc[i]);
          acc[i] = _mm512_fmadd_ps(w1, x1, acc[i]);
          continue;
        }
        float d = qb_h2f(q), m = off ? qb_h2f(q + 2) : 0.0f;
        acc[i] = _mm512_fmadd_ps(qb_vec(t, q, 0, d, m), x0, acc[i]);
        acc[i] = _mm512_fmadd_ps(qb_vec(t, q, 1, d, m), x1, acc[i]);
      }
    }
    store4(c->out + r, tree512x4(acc[0], acc[1], acc[2], acc[3]), r1 - r);
    if (r + 4 < r1) store4(c->out + r + 4, tree512x4(acc[4], acc[5], acc[6], acc[7]), r1 - r - 4);
  }
}

#define DECODE_TYPE32(name, T)                                                                \
  QB_T5 static void decode_##name(const mm_ctx *c, int r0, int r1) { decode_blocks32(c, r0, r1, T); }
#define DECODE_TYPE(name, T)                                                                  \
  QB_T5 static void decode_##name(const mm_ctx *c, int r0, int r1) { decode_blocks(c, r0, r1, T); }
DECODE_TYPE32(q8_0, AG_DT_Q8)
DECODE_TYPE32(q4_0, AG_DT_Q4_0)
DECODE_TYPE32(q4_1, AG_DT_Q4_1)
DECODE_TYPE32(q5_0, AG_DT_Q5_0)
DECODE_TYPE32(q5_1, AG_DT_Q5_1)
DECODE_TYPE(q4_k, AG_DT_Q4_K)
DECODE_TYPE(q5_k, AG_DT_Q5_K)
DECODE_TYPE(q6_k, AG_DT_Q6_K)

/* AVX2 decode (T = 1) of the block types: 4 rows at a time, each block widened in
 * registers 8 elements at a time (qb2_vec8); a row's 16 lanes are two registers, lanes 0..7
 * (elements 0..7 and 16..23 of each block) and 8..15 (elements 8..15 and 24..31), each fed in
 * increasing column order: exactly ag_dot of the widened row, then the spec's tree. */
__attribute__((always_inline)) QB2_T static inline void decode2_blocks32(const mm_ctx *c, int r0, int r1,
                                                                       const int t) {
  const ag_mat *w = c->w;
  size_t nb = (size_t)w->cols / 32, bb = ag_dt_block_bytes(t), rb = nb * bb;
  const float *x = c->x;
  for (int r = r0; r < r1; r += 4) {
    const uint8_t *wp[4];
    UNROLL
    for (int i = 0; i < 4; i++) wp[i] = (const uint8_t *)w->data + (size_t)(r + i < r1 ? r + i : r) * rb;
    __m256 lo[4], hi[4];
    UNROLL
    for (int i = 0; i < 4; i++) lo[i] = hi[i] = _mm256_setzero_ps();
    const uint8_t *pf = wp[0] + AG_DECODE_AHEAD * rb;
    int pf_lines = prefetch_lines(4, rb, nb);
    for (size_t b = 0; b < nb; b++) {
      prefetch_share(pf, b, pf_lines);
      const float *xb = x + 32 * b;
      __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8), x2 = _mm256_loadu_ps(xb + 16),
             x3 = _mm256_loadu_ps(xb + 24);
      UNROLL
      for (int i = 0; i < 4; i++) {
        const uint8_t *q = wp[i] + b * bb;
        __m256 d, m;
        qb2_scales(t, q, &d, &m);
        lo[i] = _mm256_fmadd_ps(qb2_vec8(t, q, 0, d, m), x0, lo[i]);
        hi[i] = _mm256_fmadd_ps(qb2_vec8(t, q, 1, d, m), x1, hi[i]);
        lo[i] = _mm256_fmadd_ps(qb2_vec8(t, q, 2, d, m), x2, lo[i]);
        hi[i] = _mm256_fmadd_ps(qb2_vec8(t, q, 3, d, m), x3, hi[i]);
      }
    }
    for (int i = 0; i < 4 && r + i < r1; i++) c->out[r + i] = tree_avx2(lo[i], hi[i]);
  }
}

/* The K types the same way: a block's scales once per row, then its 32 chunks of 8 in order
 * (chunk 2k feeds lanes 0..7, chunk 2k + 1 lanes 8..15). */
__attribute__((always_inline)) QB2_T static inline void decode2_kblocks(const mm_ctx *c, int r0, int r1, const int t) {
  const ag_mat *w = c->w;
  size_t nb = (size_t)w->cols / 256, bb = ag_dt_block_bytes(t), rb = nb * bb;
  const float *x = c->x;
  for (int r = r0; r < r1; r += 4) {
    const uint8_t *wp[4];
    UNROLL
    for (int i = 0; i < 4; i++) wp[i] = (const uint8_t *)w->data + (size_t)(r + i < r1 ? r + i : r) * rb;
    __m256 lo[4], hi[4];
    UNROLL
    for (int i = 0; i < 4; i++) lo[i] = hi[i] = _mm256_setzero_ps();
    const uint8_t *pf = wp[0] + AG_DECODE_AHEAD * rb;
    int pf_lines = prefetch_lines(4, rb, nb);
    for (size_t b = 0; b < nb; b++) {
      prefetch_share(pf, b, pf_lines);
      float ds[4][16], ns[4][16];
      UNROLL
      for (int i = 0; i < 4; i++) qb2_k_scales(t, wp[i] + b * bb, ds[i], ns[i]);
      for (int k = 0; k < 16; k++) {
        __m256 x0 = _mm256_loadu_ps(x + 256 * b + 16 * (size_t)k), x1 = _mm256_loadu_ps(x + 256 * b + 16 * (size_t)k + 8);
        UNROLL
        for (int i = 0; i < 4; i++) {
          lo[i] = _mm256_fmadd_ps(qb2_k_vec8(t, wp[i] + b * bb, 2 * k, ds[i], ns[i]), x0, lo[i]);
          hi[i] = _mm256_fmadd_ps(qb2_k_vec8(t, wp[i] + b * bb, 2 * k + 1, ds[i], ns[i]), x1, hi[i]);
        }
      }
    }
    for (int i = 0; i < 4 && r + i < r1; i++) c->out[r + i] = tree_avx2(lo[i], hi[i]);
  }
}

#define DECODE2_KTYPE(name, T)                                                                 \
  QB2_T static void decode2_##name(const mm_ctx *c, int r0, int r1) { decode2_kblocks(c, r0, r1, T); }
DECODE2_KTYPE(q4_k, AG_DT_Q4_K)
DECODE2_KTYPE(q5_k, AG_DT_Q5_K)
DECODE2_KTYPE(q6_k, AG_DT_Q6_K)

#define DECODE2_TYPE(name, T)                                                                  \
  QB2_T static void decode2_##name(const mm_ctx *c, int r0, int r1) { decode2_blocks32(c, r0, r1, T); }
DECODE2_TYPE(q8_0, AG_DT_Q8)
DECODE2_TYPE(q4_0, AG_DT_Q4_0)
DECODE2_TYPE(q4_1, AG_DT_Q4_1)
DECODE2_TYPE(q5_0, AG_DT_Q5_0)
DECODE2_TYPE(q5_1, AG_DT_Q5_1)

static void (*decode2_fn(int t))(const mm_ctx *, int, int) {
  switch (t) {
  case AG_DT_Q8: return decode2_q8_0;
  case AG_DT_Q4_0: return decode2_q4_0;
  case AG_DT_Q4_1: return decode2_q4_1;
  case AG_DT_Q5_0: return decode2_q5_0;
  case AG_DT_Q5_1: return decode2_q5_1;
  case AG_DT_Q4_K: return decode2_q4_k;
  case AG_DT_Q5_K: return decode2_q5_k;
  case AG_DT_Q6_K: return decode2_q6_k;
  default: return NULL;
  }
}

/* The decode instance for a type, or NULL (F32, F16, BF16 take the other paths). */
static void (*decode_fn(int t))(const mm_ctx *, int, int) {
  switch (t) {
  case AG_DT_Q8: return decode_q8_0;
  case AG_DT_Q4_0: return decode_q4_0;
  case AG_DT_Q4_1: return decode_q4_1;
  case AG_DT_Q5_0: return decode_q5_0;
  case AG_DT_Q5_1: return decode_q5_1;
  case AG_DT_Q4_K: return decode_q4_k;
  case AG_DT_Q5_K: return decode_q5_k;
  case AG_DT_Q6_K: return decode_q6_k;
  default: return NULL;
  }
}
#endif

static void mm_rows_block(const mm_ctx *c, int r0, int r1) {
#if AG_X86
  int l = ag_simd_get();
  if (l == AG_SIMD_AVX512) {
    mm_rows_avx512(c, r0, r1);
    return;
  }
  if (l == AG_SIMD_AVX2) {
    mm_rows_avx2(c, r0, r1);
    return;
  }
#endif
  mm_rows_scalar(c, r0, r1);
}

/* Cache blocking: the kernels walk tokens in the outer loop, so rows are handed to them in
 * blocks of about 128 KB of weights, which then stay in L2 while every token passes. */
static void mm_rows(const mm_ctx *c, int r0, int r1) {
  int ty = c->w->type;
#if AG_X86
  if (c->T == 1 && ag_simd_get() == AG_SIMD_AVX512 && decode_fn(ty)) {
    decode_fn(ty)(c, r0, r1);
    return;
  }
  if (c->T == 1 && ag_simd_get() == AG_SIMD_AVX2 && decode2_fn(ty)) {
    decode2_fn(ty)(c, r0, r1);
    return;
  }
#endif
  /* Q8 keeps its fused tiles on the scalar path; on AVX2 and AVX-512 a batch widens rows once
   * (F16C scales) and reuses them for every token, like the other block types */
  int widen = ty != AG_DT_F32 && (ty != AG_DT_Q8 || (c->T > 1 && ag_simd_get() >= AG_SIMD_AVX2));
  if (widen) {
    /* Block types: widen a group of rows into this thread's buffer (ag_dequantize, the exact
     * values the spec names), then run the fp32 tiles on them. */
    static _Thread_local float buf[AG_MAT_MAX_COLS] __attribute__((aligned(64)));
    size_t cols = (size_t)c->w->cols, rb = ag_mat_bytes(ty, 1, cols);
    int step = (int)AG_MAX((size_t)1, AG_ARRAY_LEN(buf) / cols);
    if (step > 8) step = step / 8 * 8;
    for (int r = r0; r < r1; r += step) {
      int e = AG_MIN(r + step, r1);
      ag_dequantize(ty, (const uint8_t *)c->w->data + (size_t)r * rb, (size_t)(e - r) * cols, buf);
      mm_ctx cc = *c;
      cc.wf = buf;
      cc.wf_r0 = r;
      cc.q8 = 0;
      mm_rows_block(&cc, r, e);
    }
    return;
  }
  if (c->T == 1) {
    mm_rows_block(c, r0, r1);
    return;
  }
  size_t rb = (size_t)131072 / AG_MAX((size_t)1, ag_mat_bytes(c->w->type, 1, (size_t)c->w->cols));
  int step = (int)AG_MAX((size_t)8, rb / 8 * 8);
  for (int r = r0; r < r1; r += step) mm_rows_block(c, r, AG_MIN(r + step, r1));
}

typedef struct {
  const ag_mm_job *jobs;
  int njobs, T;
} multi_ctx;

#define MM_GRAIN 16

/* Items are MM_GRAIN-row blocks of all jobs laid end to end. */
static void multi_run(void *vctx, size_t b, size_t e) {
  const multi_ctx *mc = vctx;
  size_t base = 0;
  for (int j = 0; j < mc->njobs; j++) {
    size_t blocks = ((size_t)mc->jobs[j].w->rows + MM_GRAIN - 1) / MM_GRAIN;
    size_t lo = AG_MAX(b, base), hi = AG_MIN(e, base + blocks);
    if (lo < hi) {
      mm_ctx c = {mc->jobs[j].w, mc->jobs[j].x, mc->jobs[j].out, mc->T, mc->jobs[j].w->type == AG_DT_Q8, NULL, 0};
      int r0 = (int)((lo - base) * MM_GRAIN);
      int r1 = (int)AG_MIN((hi - base) * MM_GRAIN, (size_t)mc->jobs[j].w->rows);
      mm_rows(&c, r0, r1);
    }
    base += blocks;
  }
}

/* Below this many multiply-adds a matmul runs on the calling thread: waking a worker costs
 * more than it saves. Only speed depends on it, never a result bit. */
#define MM_MIN_PARALLEL (1u << 18)

void ag_matmul_multi(ag_pool *p, const ag_mm_job *jobs, int njobs, int T) {
  size_t total = 0, macs = 0;
  for (int j = 0; j < njobs; j++) {
    total += ((size_t)jobs[j].w->rows + MM_GRAIN - 1) / MM_GRAIN;
    macs += (size_t)jobs[j].w->rows * (size_t)jobs[j].w->cols * (size_t)T;
  }
  multi_ctx mc = {jobs, njobs, T};
  ag_pool_run(macs < MM_MIN_PARALLEL ? NULL : p, total, 1, multi_run, &mc);
}

void ag_matmul(ag_pool *p, float *out, const float *x, const ag_mat *w, int T) {
  ag_mm_job j = {w, x, out};
  ag_matmul_multi(p, &j, 1, T);
}

/* ---------- backward ---------- */

typedef struct {
  float *d;
  const float *dy, *m;
  int T, rows, cols;
} bwd_ctx;

/* dx[t][c] = chain over r of dy[t][r] * W[r][c]; items are tokens. */
static void bwd_x_scalar(const bwd_ctx *c, size_t t0, size_t t1) {
  for (size_t t = t0; t < t1; t++) {
    float *dx = c->d + t * c->cols;
    const float *dy = c->dy + t * c->rows;
    for (int k = 0; k < c->cols; k++) dx[k] = 0.0f;
    for (int r = 0; r < c->rows; r++) axpy_scalar(dx, dy[r], c->m + (size_t)r * c->cols, c->cols);
  }
}
/* dW[r][c] += chain over t of dy[t][r] * x[t][c]; items are rows r. */
static void bwd_w_scalar(const bwd_ctx *c, size_t r0, size_t r1) {
  for (size_t r = r0; r < r1; r++) {
    float *dw = c->d + r * c->cols;
    for (int t = 0; t < c->T; t++) axpy_scalar(dw, c->dy[(size_t)t * c->rows + r], c->m + (size_t)t * c->cols, c->cols);
  }
}

#if AG_X86
/* Tiles of 4 tokens x 64 columns; lanes are distinct output elements. */
T5 static void bwd_x_avx512(const bwd_ctx *c, size_t t0, size_t t1) {
  int C = c->cols;
  for (size_t t = t0; t < t1; t += 4) {
    size_t tt[4];
    UNROLL
    for (int u = 0; u < 4; u++) tt[u] = t + u < t1 ? t + u : t;
    for (int c0 = 0; c0 < C; c0 += 64) {
      __mmask16 mk[4];
      UNROLL
      for (int v = 0; v < 4; v++) {
        int left = C - (c0 + 16 * v);
        mk[v] = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
      }
      __m512 acc[4][4];
      UNROLL
      for (int u = 0; u < 4; u++)
        UNROLL
        for (int v = 0; v < 4; v++) acc[u][v] = _mm512_setzero_ps();
      for (int r = 0; r < c->rows; r++) {
        const float *wr = c->m + (size_t)r * C + c0;
        __m512 wv[4];
        UNROLL
        for (int v = 0; v < 4; v++) wv[v] = _mm512_maskz_loadu_ps(mk[v], wr + 16 * v);
        UNROLL
        for (int u = 0; u < 4; u++) {
          __m512 a = _mm512_set1_ps(c->dy[tt[u] * c->rows + r]);
          UNROLL
          for (int v = 0; v < 4; v++) acc[u][v] = _mm512_fmadd_ps(a, wv[v], acc[u][v]);
        }
      }
      for (int u = 0; u < 4 && t + u < t1; u++)
        UNROLL
        for (int v = 0; v < 4; v++)
          _mm512_mask_storeu_ps(c->d + tt[u] * C + c0 + 16 * v, mk[v], acc[u][v]);
    }
  }
}

T5 static void bwd_w_avx512(const bwd_ctx *c, size_t r0, size_t r1) {
  int C = c->cols;
  for (size_t r = r0; r < r1; r += 4) {
    size_t rr[4];
    UNROLL
    for (int i = 0; i < 4; i++) rr[i] = r + i < r1 ? r + i : r;
    for (int c0 = 0; c0 < C; c0 += 64) {
      __mmask16 mk[4];
      UNROLL
      for (int v = 0; v < 4; v++) {
        int left = C - (c0 + 16 * v);
        mk[v] = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
      }
      __m512 acc[4][4];
      UNROLL
      for (int i = 0; i < 4; i++)
        UNROLL
        for (int v = 0; v < 4; v++) acc[i][v] = _mm512_maskz_loadu_ps(mk[v], c->d + rr[i] * C + c0 + 16 * v);
      for (int t = 0; t < c->T; t++) {
        const float *xr = c->m + (size_t)t * C + c0;
        __m512 xv[4];
        UNROLL
        for (int v = 0; v < 4; v++) xv[v] = _mm512_maskz_loadu_ps(mk[v], xr + 16 * v);
        const float *dy = c->dy + (size_t)t * c->rows;
        UNROLL
        for (int i = 0; i < 4; i++) {
          __m512 a = _mm512_set1_ps(dy[rr[i]]);
          UNROLL
          for (int v = 0; v < 4; v++) acc[i][v] = _mm512_fmadd_ps(a, xv[v], acc[i][v]);
        }
      }
      for (int i = 0; i < 4 && r + i < r1; i++)
        UNROLL
        for (int v = 0; v < 4; v++) _mm512_mask_storeu_ps(c->d + rr[i] * C + c0 + 16 * v, mk[v], acc[i][v]);
    }
  }
}

/* AVX2: tiles of 2 x 32 columns; the column tail is done by the scalar chain (same order). */
T2 static void bwd_x_avx2(const bwd_ctx *c, size_t t0, size_t t1) {
  int C = c->cols, full = C / 32 * 32;
  for (size_t t = t0; t < t1; t += 2) {
    size_t tt[2] = {t, t + 1 < t1 ? t + 1 : t};
    for (int c0 = 0; c0 < full; c0 += 32) {
      __m256 acc[2][4];
      UNROLL
      for (int u = 0; u < 2; u++)
        UNROLL
        for (int v = 0; v < 4; v++) acc[u][v] = _mm256_setzero_ps();
      for (int r = 0; r < c->rows; r++) {
        const float *wr = c->m + (size_t)r * C + c0;
        __m256 wv[4];
        UNROLL
        for (int v = 0; v < 4; v++) wv[v] = _mm256_loadu_ps(wr + 8 * v);
        UNROLL
        for (int u = 0; u < 2; u++) {
          __m256 a = _mm256_set1_ps(c->dy[tt[u] * c->rows + r]);
          UNROLL
          for (int v = 0; v < 4; v++) acc[u][v] = _mm256_fmadd_ps(a, wv[v], acc[u][v]);
        }
      }
      for (int u = 0; u < 2 && t + u < t1; u++)
        UNROLL
        for (int v = 0; v < 4; v++) _mm256_storeu_ps(c->d + tt[u] * C + c0 + 8 * v, acc[u][v]);
    }
    for (int u = 0; u < 2 && t + u < t1; u++)
      for (int k = full; k < C; k++) {
        float a = 0.0f;
        for (int r = 0; r < c->rows; r++) a = fmaf(c->dy[tt[u] * c->rows + r], c->m[(size_t)r * C + k], a);
        c->d[tt[u] * C + k] = a;
      }
  }
}

T2 static void bwd_w_avx2(const bwd_ctx *c, size_t r0, size_t r1) {
  int C = c->cols, full = C / 32 * 32;
  for (size_t r = r0; r < r1; r += 2) {
    size_t rr[2] = {r, r + 1 < r1 ? r + 1 : r};
    for (int c0 = 0; c0 < full; c0 += 32) {
      __m256 acc[2][4];
      UNROLL
      for (int i = 0; i < 2; i++)
        UNROLL
        for (int v = 0; v < 4; v++) acc[i][v] = _mm256_loadu_ps(c->d + rr[i] * C + c0 + 8 * v);
      for (int t = 0; t < c->T; t++) {
        const float *xr = c->m + (size_t)t * C + c0;
        __m256 xv[4];
        UNROLL
        for (int v = 0; v < 4; v++) xv[v] = _mm256_loadu_ps(xr + 8 * v);
        UNROLL
        for (int i = 0; i < 2; i++) {
          __m256 a = _mm256_set1_ps(c->dy[(size_t)t * c->rows + rr[i]]);
          UNROLL
          for (int v = 0; v < 4; v++) acc[i][v] = _mm256_fmadd_ps(a, xv[v], acc[i][v]);
        }
      }
      for (int i = 0; i < 2 && r + i < r1; i++)
        UNROLL
        for (int v = 0; v < 4; v++) _mm256_storeu_ps(c->d + rr[i] * C + c0 + 8 * v, acc[i][v]);
    }
    for (int i = 0; i < 2 && r + i < r1; i++)
      for (int k = full; k < C; k++) {
        float a = c->d[rr[i] * C + k];
        for (int t = 0; t < c->T; t++) a = fmaf(c->dy[(size_t)t * c->rows + rr[i]], c->m[(size_t)t * C + k], a);
        c->d[rr[i] * C + k] = a;
      }
  }
}
#endif

static void bwd_x_run(void *v, size_t b, size_t e) {
#if AG_X86
  int l = ag_simd_get();
  if (l == AG_SIMD_AVX512) {
    bwd_x_avx512(v, b, e);
    return;
  }
  if (l == AG_SIMD_AVX2) {
    bwd_x_avx2(v, b, e);
    return;
  }
#endif
  bwd_x_scalar(v, b, e);
}

static void bwd_w_run(void *v, size_t b, size_t e) {
#if AG_X86
  int l = ag_simd_get();
  if (l == AG_SIMD_AVX512) {
    bwd_w_avx512(v, b, e);
    return;
  }
  if (l == AG_SIMD_AVX2) {
    bwd_w_avx2(v, b, e);
    return;
  }
#endif
  bwd_w_scalar(v, b, e);
}

void ag_matmul_bwd_x(ag_pool *p, float *dx, const float *dy, const float *w, int T, int rows,
                     int cols) {
  bwd_ctx c = {dx, dy, w, T, rows, cols};
  ag_pool_run(p, (size_t)T, 4, bwd_x_run, &c);
}

void ag_matmul_bwd_w(ag_pool *p, float *dw, const float *dy, const float *x, int T, int rows,
                     int cols) {
  bwd_ctx c = {dw, dy, x, T, rows, cols};
  ag_pool_run(p, (size_t)rows, 4, bwd_w_run, &c);
}

/* ---------- quantization ---------- */

void ag_quantize_q8(const float *w, size_t n, uint8_t *out) {
  for (size_t g = 0; g < n / AG_Q8_GROUP; g++) {
    const float *x = w + g * AG_Q8_GROUP;
    uint8_t *blk = out + g * AG_Q8_BLOCK;
    float amax = 0.0f;
    for (int j = 0; j < AG_Q8_GROUP; j++) amax = fmaxf(amax, fabsf(x[j]));
    uint16_t dh = ag_f32_to_f16(amax / 127.0f);
    float d = ag_f16_to_f32(dh);
    blk[0] = (uint8_t)dh;
    blk[1] = (uint8_t)(dh >> 8);
    for (int j = 0; j < AG_Q8_GROUP; j++) {
      float v = d > 0.0f ? x[j] / d : 0.0f;
      float a = fabsf(v), f = floorf(a);
      float q = (a - f >= 0.5f) ? f + 1.0f : f;
      if (q > 127.0f) q = 127.0f;
      int qi = (int)q;
      if (v < 0) qi = -qi;
      blk[2 + j] = (uint8_t)(int8_t)qi;
    }
  }
}

void ag_dequantize_q8(const uint8_t *in, size_t n, float *out) {
  for (size_t g = 0; g < n / AG_Q8_GROUP; g++) {
    const uint8_t *blk = in + g * AG_Q8_BLOCK;
    float d = q8_scale(blk);
    const int8_t *q = (const int8_t *)(blk + 2);
    for (int j = 0; j < AG_Q8_GROUP; j++) out[g * AG_Q8_GROUP + j] = (float)q[j] * d;
  }
}
