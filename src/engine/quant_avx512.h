/*
 * quant_avx512.h — AVX-512 widening of GGUF blocks, 16 elements at a time (internal to the
 * engine: quant.c widens whole rows with it, kernels.c's decode tiles widen in registers).
 *
 * A block of type t holds nvec = block / 16 chunks of 16 elements. qb_prep computes each
 * chunk's scale ds[h] and offset ms[h] (the same fp32 operations as quant.c's scalar code);
 * qb_vec returns chunk h as q * ds[h] (+ ms[h] when the type has an offset), q the chunk's
 * integers already shifted (q - 8, q - 16, q - 32). For the K types the offset is stored
 * negated: x - y and x + (-y) are the same IEEE operation, so the bits equal the scalar
 * `(d * sc) * q - (dmin * mn)`. Scales are widened from binary16 with F16C, which is exact.
 */
#ifndef AG_ENGINE_QUANT_AVX512_H
#define AG_ENGINE_QUANT_AVX512_H

#if defined(__x86_64__)
#include "engine/kernels.h"

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define QB_T5 __attribute__((target("avx512f,avx512bw,avx2,fma,f16c")))

QB_T5 static inline float qb_h2f(const uint8_t *p) {
  uint16_t h;
  memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

static inline int qb_has_offset(int t) {
  return t == AG_DT_Q4_1 || t == AG_DT_Q5_1 || t == AG_DT_Q4_K || t == AG_DT_Q5_K;
}

static inline void qb_scale_min_k4(int j, const uint8_t *q, int *sc, int *mn) {
  if (j < 4) {
    *sc = q[j] & 63;
    *mn = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

/* Scales (and offsets) of the block at p, one per 16-element chunk. */
QB_T5 static inline void qb_prep(int t, const uint8_t *p, float *ds, float *ms) {
  switch (t) {
  case AG_DT_Q8:
  case AG_DT_Q4_0:
  case AG_DT_Q5_0:
    ds[0] = ds[1] = qb_h2f(p);
    return;
  case AG_DT_Q4_1:
  case AG_DT_Q5_1:
    ds[0] = ds[1] = qb_h2f(p);
    ms[0] = ms[1] = qb_h2f(p + 2);
    return;
  case AG_DT_Q4_K:
  case AG_DT_Q5_K: {
    float d = qb_h2f(p), dmin = qb_h2f(p + 2);
    for (int s = 0; s < 8; s++) {
      int sc, mn;
      qb_scale_min_k4(s, p + 4, &sc, &mn);
      ds[2 * s] = ds[2 * s + 1] = d * (float)sc;
      ms[2 * s] = ms[2 * s + 1] = -(dmin * (float)mn);
    }
    return;
  }
  case AG_DT_Q6_K: {
    float d = qb_h2f(p + 208);
    const int8_t *sc = (const int8_t *)(p + 192);
    for (int h = 0; h < 16; h++) { /* element 16h: n = h / 8, r = (h % 8) / 2, l = 16 (h % 2) */
      int n = h / 8, r = (h % 8) / 2;
      ds[h] = d * (float)sc[8 * n + (h % 2) + 2 * r];
    }
    return;
  }
  default: return;
  }
}

QB_T5 static inline __m512i qb_u8(const uint8_t *p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
}

/* The integers of chunk h of the block at p (16 lanes of int32, shifted). */
QB_T5 static inline __m512i qb_ints(int t, const uint8_t *p, int h) {
  const __m512i m4 = _mm512_set1_epi32(0xF);
  switch (t) {
  case AG_DT_Q8: return _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 2 + 16 * h)));
  case AG_DT_Q4_0: {
    __m512i v = qb_u8(p + 2);
    v = h ? _mm512_srli_epi32(v, 4) : _mm512_and_si512(v, m4);
    return _mm512_sub_epi32(v, _mm512_set1_epi32(8));
  }
  case AG_DT_Q4_1: {
    __m512i v = qb_u8(p + 4);
    return h ? _mm512_srli_epi32(v, 4) : _mm512_and_si512(v, m4);
  }
  case AG_DT_Q5_0:
  case AG_DT_Q5_1: {
    int o = t == AG_DT_Q5_0 ? 2 : 4;
    uint32_t qh;
    memcpy(&qh, p + o, 4);
    __m512i v = qb_u8(p + o + 4);
    v = h ? _mm512_srli_epi32(v, 4) : _mm512_and_si512(v, m4);
    v = _mm512_or_si512(v, _mm512_maskz_mov_epi32((__mmask16)(qh >> (16 * h)), _mm512_set1_epi32(16)));
    return t == AG_DT_Q5_0 ? _mm512_sub_epi32(v, _mm512_set1_epi32(16)) : v;
  }
  case AG_DT_Q4_K:
  case AG_DT_Q5_K: { /* sub-block s = h / 2 of 32; k = s / 2 selects 32 bytes of nibbles */
    int s = h / 2, k = s / 2, l0 = 16 * (h % 2);
    const uint8_t *q = p + (t == AG_DT_Q4_K ? 16 : 48) + 32 * k + l0;
    __m512i v = qb_u8(q);
    v = (s & 1) ? _mm512_srli_epi32(v, 4) : _mm512_and_si512(v, m4);
    if (t == AG_DT_Q5_K) {
      __m512i hb = qb_u8(p + 16 + l0);
      hb = _mm512_and_si512(_mm512_srli_epi32(hb, s), _mm512_set1_epi32(1));
      v = _mm512_add_epi32(v, _mm512_slli_epi32(hb, 4));
    }
    return v;
  }
  case AG_DT_Q6_K: {
    int n = h / 8, r = (h % 8) / 2, l0 = 16 * (h % 2);
    __m512i lo = qb_u8(p + 64 * n + l0 + 32 * (r & 1));
    lo = r >= 2 ? _mm512_srli_epi32(lo, 4) : _mm512_and_si512(lo, m4);
    __m512i hb = qb_u8(p + 128 + 32 * n + l0);
    hb = _mm512_and_si512(_mm512_srli_epi32(hb, 2 * r), _mm512_set1_epi32(3));
    return _mm512_sub_epi32(_mm512_or_si512(lo, _mm512_slli_epi32(hb, 4)), _mm512_set1_epi32(32));
  }
  default: return _mm512_setzero_si512();
  }
}

/* Chunk h of the block at p as fp32, bit-identical to quant.c's scalar widening. */
QB_T5 static inline __m512 qb_vec(int t, const uint8_t *p, int h, float ds, float ms) {
  __m512 w = _mm512_mul_ps(_mm512_cvtepi32_ps(qb_ints(t, p, h)), _mm512_set1_ps(ds));
  return qb_has_offset(t) ? _mm512_add_ps(w, _mm512_set1_ps(ms)) : w;
}

/* The 4- and 5-bit 32-element types by table: a block's 16 (Q4) or 32 (Q5) possible weights
 * are computed once, k * d (+ m) for each integer k, and each element is looked up by its
 * integer (vpermps reads only an index's low 4 bits, vpermt2ps its low 5). k * d is exact in
 * fp32 (k has at most 5 bits, d 11), so fma(k, d, m) rounds once exactly as `k * d + m` does:
 * the lookup gives qb_vec's bits with a third of its arithmetic. */
static inline int qb_is_table(int t) {
  return t == AG_DT_Q4_0 || t == AG_DT_Q4_1 || t == AG_DT_Q5_0 || t == AG_DT_Q5_1;
}

/* tab[0] holds the values of k = 0..15 (Q4_1, Q5_1) or k - 8, k - 16 (Q4_0, Q5_0); tab[1] the
 * values of k = 16..31 for the Q5 types. */
QB_T5 static inline void qb_table(int t, const uint8_t *p, __m512 tab[2]) {
  const __m512 k0 = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512 sixteen = _mm512_set1_ps(16.0f);
  __m512 d = _mm512_set1_ps(qb_h2f(p));
  if (t == AG_DT_Q4_1 || t == AG_DT_Q5_1) {
    __m512 m = _mm512_set1_ps(qb_h2f(p + 2));
    tab[0] = tab[1] = _mm512_fmadd_ps(k0, d, m);
    if (t == AG_DT_Q5_1) tab[1] = _mm512_fmadd_ps(_mm512_add_ps(k0, sixteen), d, m);
  } else if (t == AG_DT_Q4_0) {
    tab[0] = tab[1] = _mm512_mul_ps(_mm512_sub_ps(k0, _mm512_set1_ps(8.0f)), d);
  } else {
    tab[0] = _mm512_mul_ps(_mm512_sub_ps(k0, sixteen), d);
    tab[1] = _mm512_mul_ps(k0, d);
  }
}

/* Elements 0..15 (h = 0) and 16..31 (h = 1) of a table type's block at p, from its table. */
QB_T5 static inline void qb_lookup(int t, const uint8_t *p, const __m512 tab[2], __m512 *w0, __m512 *w1) {
  if (t == AG_DT_Q4_0 || t == AG_DT_Q4_1) {
    __m512i raw = qb_u8(p + (t == AG_DT_Q4_0 ? 2 : 4));
    *w0 = _mm512_permutexvar_ps(raw, tab[0]);
    *w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(raw, 4), tab[0]);
    return;
  }
  int o = t == AG_DT_Q5_0 ? 2 : 4;
  uint32_t qh;
  memcpy(&qh, p + o, 4);
  __m512i raw = qb_u8(p + o + 4), sixteen = _mm512_set1_epi32(16);
  __m512i i0 = _mm512_mask_or_epi32(_mm512_and_si512(raw, _mm512_set1_epi32(0xF)), (__mmask16)qh,
                                    _mm512_and_si512(raw, _mm512_set1_epi32(0xF)), sixteen);
  __m512i i1 = _mm512_mask_or_epi32(_mm512_srli_epi32(raw, 4), (__mmask16)(qh >> 16), _mm512_srli_epi32(raw, 4),
                                    sixteen);
  *w0 = _mm512_permutex2var_ps(tab[0], i0, tab[1]);
  *w1 = _mm512_permutex2var_ps(tab[0], i1, tab[1]);
}

/* Q4_K and Q5_K by table too: sub-block s (elements 32s..32s+31) has ds = d * sc and
 * ms = -(dmin * mn) as in qb_prep; ds has at most 17 significant bits and k at most 5, so k * ds
 * is exact and fma(k, ds, ms) has the bits of `ds * k + ms`. w0, w1: its elements 0..15, 16..31. */
QB_T5 static inline void qb_k_lookup(int t, const uint8_t *p, int s, float d, float dmin, __m512 *w0, __m512 *w1) {
  const __m512 k0 = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  int sc, mn;
  qb_scale_min_k4(s, p + 4, &sc, &mn);
  __m512 ds = _mm512_set1_ps(d * (float)sc), ms = _mm512_set1_ps(-(dmin * (float)mn));
  __m512 tab0 = _mm512_fmadd_ps(k0, ds, ms);
  const uint8_t *q = p + (t == AG_DT_Q4_K ? 16 : 48) + 32 * (s / 2);
  __m512i r0 = qb_u8(q), r1 = qb_u8(q + 16);
  if (s & 1) r0 = _mm512_srli_epi32(r0, 4), r1 = _mm512_srli_epi32(r1, 4);
  if (t == AG_DT_Q4_K) {
    *w0 = _mm512_permutexvar_ps(r0, tab0);
    *w1 = _mm512_permutexvar_ps(r1, tab0);
    return;
  }
  __m512 tab1 = _mm512_fmadd_ps(_mm512_add_ps(k0, _mm512_set1_ps(16.0f)), ds, ms);
  const __m512i m4 = _mm512_set1_epi32(0xF), bit = _mm512_set1_epi32(16);
  __m512i h0 = _mm512_and_si512(_mm512_slli_epi32(_mm512_srli_epi32(qb_u8(p + 16), s), 4), bit);
  __m512i h1 = _mm512_and_si512(_mm512_slli_epi32(_mm512_srli_epi32(qb_u8(p + 32), s), 4), bit);
  *w0 = _mm512_permutex2var_ps(tab0, _mm512_or_si512(_mm512_and_si512(r0, m4), h0), tab1);
  *w1 = _mm512_permutex2var_ps(tab0, _mm512_or_si512(_mm512_and_si512(r1, m4), h1), tab1);
}
#endif

#endif
