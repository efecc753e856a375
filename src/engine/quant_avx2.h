/*
 * quant_avx2.h — AVX2 widening of the GGUF block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and the
 * K types Q4_K, Q5_K, Q6_K), 8 elements at a time (internal to the engine: quant.c widens whole rows with it, kernels.c's
 * AVX2 decode tile widens in registers). Each element is quant.c's scalar formula, one rounding
 * per operation in the same order (`q * d`, then `+ m`), so the bits equal the scalar widening;
 * scales are widened from binary16 with F16C, which is exact. Every AVX2 CPU has F16C.
 */
#ifndef AG_ENGINE_QUANT_AVX2_H
#define AG_ENGINE_QUANT_AVX2_H

#if defined(__x86_64__)
#include "engine/kernels.h"

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define QB2_T __attribute__((target("avx2,fma,f16c")))

static inline int qb2_is32(int t) {
  return t == AG_DT_Q8 || t == AG_DT_Q4_0 || t == AG_DT_Q4_1 || t == AG_DT_Q5_0 || t == AG_DT_Q5_1;
}

/* The types this header widens. */
static inline int qb2_widens(int t) { return qb2_is32(t) || t == AG_DT_Q4_K || t == AG_DT_Q5_K || t == AG_DT_Q6_K; }

static inline int qb2_has_offset(int t) { return t == AG_DT_Q4_1 || t == AG_DT_Q5_1; }

QB2_T static inline float qb2_h2f(const uint8_t *p) {
  uint16_t h;
  memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

/* Elements 8k .. 8k+7 (k = 0..3) of the block at p as fp32; d and m are its scale and offset
 * broadcast. A 4/5-bit element e is the low nibble of byte e for e < 16, the high nibble of
 * byte e - 16 above, with bit e of qh as its fifth bit. */
QB2_T static inline __m256 qb2_vec8(int t, const uint8_t *p, int k, __m256 d, __m256 m) {
  if (t == AG_DT_Q8)
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 2 + 8 * k)))), d);
  int o = t == AG_DT_Q4_0 ? 2 : t == AG_DT_Q4_1 ? 4 : t == AG_DT_Q5_0 ? 6 : 8;
  __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + o + 8 * (k & 1))));
  v = k >= 2 ? _mm256_srli_epi32(v, 4) : _mm256_and_si256(v, _mm256_set1_epi32(0xF));
  if (t == AG_DT_Q5_0 || t == AG_DT_Q5_1) {
    uint32_t qh;
    memcpy(&qh, p + (t == AG_DT_Q5_0 ? 2 : 4), 4);
    __m256i bits = _mm256_srlv_epi32(_mm256_set1_epi32((int)(qh >> (8 * k))), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    v = _mm256_or_si256(v, _mm256_slli_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(1)), 4));
  }
  if (t == AG_DT_Q4_0) v = _mm256_sub_epi32(v, _mm256_set1_epi32(8));
  if (t == AG_DT_Q5_0) v = _mm256_sub_epi32(v, _mm256_set1_epi32(16));
  __m256 w = _mm256_mul_ps(_mm256_cvtepi32_ps(v), d);
  return qb2_has_offset(t) ? _mm256_add_ps(w, m) : w;
}

QB2_T static inline __m256i qb2_u8(const uint8_t *p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)); }

/* The K types, a 256-element block at p, by quant.c's scalar formulas and operation order:
 * `(d * sc) * q - (dmin * mn)` for Q4_K/Q5_K sub-blocks of 32, `(d * sc) * (q - 32)` for
 * Q6_K's sub-blocks of 16. qb2_k_scales computes the block's ds[g] = d * sc and
 * ns[g] = dmin * mn (g: sub-block of 32, or of 16 for Q6_K); qb2_k_vec8 its elements
 * 8i .. 8i+7 (i = 0..31) from them. */
QB2_T static inline void qb2_k_scales(int t, const uint8_t *p, float ds[16], float ns[16]) {
  if (t == AG_DT_Q6_K) {
    float d = qb2_h2f(p + 208);
    const int8_t *sc = (const int8_t *)(p + 192);
    for (int g = 0; g < 16; g++) ds[g] = d * (float)sc[g];
    return;
  }
  float d = qb2_h2f(p), dmin = qb2_h2f(p + 2);
  const uint8_t *sc = p + 4;
  for (int s = 0; s < 8; s++) {
    int scv, mnv;
    if (s < 4) {
      scv = sc[s] & 63;
      mnv = sc[s + 4] & 63;
    } else {
      scv = (sc[s + 4] & 0xF) | ((sc[s - 4] >> 6) << 4);
      mnv = (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4);
    }
    ds[s] = d * (float)scv;
    ns[s] = dmin * (float)mnv;
  }
}


QB2_T static inline __m256 qb2_k_vec8(int t, const uint8_t *p, int i, const float *ds, const float *ns) {
  const __m256i m4 = _mm256_set1_epi32(0xF);
  if (t == AG_DT_Q6_K) { /* element 8i = 128 n + 32 j + 8 c: quarter j of half n, chunk c */
    int n = i / 16, j = (i / 4) % 4, c = i % 4;
    const uint8_t *ql = p + 64 * n, *qh = p + 128 + 32 * n;
    __m256i lo = qb2_u8(ql + 32 * (j & 1) + 8 * c);
    lo = j >= 2 ? _mm256_srli_epi32(lo, 4) : _mm256_and_si256(lo, m4);
    __m256i hb = _mm256_and_si256(_mm256_srli_epi32(qb2_u8(qh + 8 * c), 2 * j), _mm256_set1_epi32(3));
    __m256i q = _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hb, 4)), _mm256_set1_epi32(32));
    return _mm256_mul_ps(_mm256_set1_ps(ds[8 * n + c / 2 + 2 * j]), _mm256_cvtepi32_ps(q));
  }
  int s = i / 4, c = i % 4;
  __m256i v = qb2_u8(p + (t == AG_DT_Q4_K ? 16 : 48) + 32 * (s / 2) + 8 * c);
  v = (s & 1) ? _mm256_srli_epi32(v, 4) : _mm256_and_si256(v, m4);
  if (t == AG_DT_Q5_K)
    v = _mm256_add_epi32(
        v, _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(qb2_u8(p + 16 + 8 * c), s), _mm256_set1_epi32(1)), 4));
  return _mm256_sub_ps(_mm256_mul_ps(_mm256_set1_ps(ds[s]), _mm256_cvtepi32_ps(v)), _mm256_set1_ps(ns[s]));
}

/* A whole K block at p into y[0..256). */
QB2_T static inline void qb2_k_block(int t, const uint8_t *p, float *y) {
  float ds[16], ns[16];
  qb2_k_scales(t, p, ds, ns);
  for (int i = 0; i < 32; i++) _mm256_storeu_ps(y + 8 * i, qb2_k_vec8(t, p, i, ds, ns));
}

/* The scale and offset of the block at p, broadcast (the offset is 0 for types without one). */
QB2_T static inline void qb2_scales(int t, const uint8_t *p, __m256 *d, __m256 *m) {
  *d = _mm256_set1_ps(qb2_h2f(p));
  *m = qb2_has_offset(t) ? _mm256_set1_ps(qb2_h2f(p + 2)) : _mm256_setzero_ps();
}
#endif

#endif
