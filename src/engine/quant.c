/*
 * quant.c — GGUF's block formats and their exact widening to fp32 (docs/engine.md, "Weight
 * types"). Every scale is an IEEE half (f16) read little-endian and widened exactly; q are the
 * block's small integers, widened exactly to float. The value of one element is the fp32
 * expression given for its type, evaluated left to right with one rounding per operation (no
 * contraction into fma), so every path below returns the same bits:
 *
 *   F16    32 bits of the half                     BF16  the 16 bits shifted left by 16
 *   Q8_0   32 per 34 B: d, q[32] int8              w = q * d
 *   Q4_0   32 per 18 B: d, nibbles[16]             w = (q - 8) * d      q = low nibble of byte j
 *                                                  for element j < 16, high nibble for j + 16
 *   Q4_1   32 per 20 B: d, m, nibbles[16]          w = q * d + m
 *   Q5_0   32 per 22 B: d, qh (u32), nibbles[16]   w = (q - 16) * d     q = nibble | bit j of qh
 *                                                  (element j) or bit j + 16 (element j + 16) << 4
 *   Q5_1   32 per 24 B: d, m, qh, nibbles[16]      w = q * d + m
 *   Q4_K   256 per 144 B: d, dmin, scales[12], nibbles[128]: eight sub-blocks of 32 with 6-bit
 *          (sc, mn) pairs; sub-block s is w = (d * sc) * q - (dmin * mn), q its nibbles (low
 *          nibbles of bytes 32k.. for s = 2k, high nibbles for s = 2k + 1)
 *   Q5_K   256 per 176 B: d, dmin, scales[12], qh[32], nibbles[128]: as Q4_K with a fifth bit
 *          from qh (bit s of qh[l] for element l of sub-block s)
 *   Q6_K   256 per 210 B: ql[128], qh[64], scales[16] int8, d: sixteen sub-blocks of 16,
 *          w = (d * sc) * (q - 32), q 6 bits from ql's nibble and two bits of qh
 *
 * These are llama.cpp's layouts (ggml-common.h) and value formulas, so the weights Agora
 * computes with are the ones the file's authors shipped.
 * Does not: quantize (models arrive quantized), or read the I-quant and ternary formats.
 */
#include "engine/kernels.h"

#include "core/util.h"
#include "engine/detmath.h"

#include <string.h>

#if defined(__x86_64__)
#include "engine/quant_avx2.h"
#include "engine/quant_avx512.h"
#define AG_X86 1
#else
#define AG_X86 0
#endif

static const struct {
  const char *name;
  int block;
  size_t bytes;
} dt_table[AG_DT_COUNT] = {
    [AG_DT_F32] = {"f32", 1, 4},       [AG_DT_Q8] = {"q8_0", 32, 34},
    [AG_DT_F16] = {"f16", 1, 2},       [AG_DT_BF16] = {"bf16", 1, 2},
    [AG_DT_Q4_0] = {"q4_0", 32, 18},   [AG_DT_Q4_1] = {"q4_1", 32, 20},
    [AG_DT_Q5_0] = {"q5_0", 32, 22},   [AG_DT_Q5_1] = {"q5_1", 32, 24},
    [AG_DT_Q4_K] = {"q4_k", 256, 144}, [AG_DT_Q5_K] = {"q5_k", 256, 176},
    [AG_DT_Q6_K] = {"q6_k", 256, 210},
};

int ag_dt_block(int type) { return type >= 0 && type < AG_DT_COUNT ? dt_table[type].block : 0; }
size_t ag_dt_block_bytes(int type) { return type >= 0 && type < AG_DT_COUNT ? dt_table[type].bytes : 0; }
const char *ag_dt_name(int type) { return type >= 0 && type < AG_DT_COUNT ? dt_table[type].name : "?"; }

static inline float h2f(const uint8_t *p) { return ag_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

/* The 6-bit (scale, min) of sub-block j of a Q4_K/Q5_K block's 12 scale bytes. */
static inline void scale_min_k4(int j, const uint8_t *q, int *sc, int *mn) {
  if (j < 4) {
    *sc = q[j] & 63;
    *mn = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

/* ---------- scalar reference, one block ---------- */

static void deq_q4_0(const uint8_t *b, float *y) {
  float d = h2f(b);
  const uint8_t *qs = b + 2;
  for (int j = 0; j < 16; j++) {
    y[j] = (float)((qs[j] & 0xF) - 8) * d;
    y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
  }
}

static void deq_q4_1(const uint8_t *b, float *y) {
  float d = h2f(b), m = h2f(b + 2);
  const uint8_t *qs = b + 4;
  for (int j = 0; j < 16; j++) {
    y[j] = (float)(qs[j] & 0xF) * d + m;
    y[j + 16] = (float)(qs[j] >> 4) * d + m;
  }
}

static void deq_q5_0(const uint8_t *b, float *y) {
  float d = h2f(b);
  uint32_t qh = ag_get_u32le(b + 2);
  const uint8_t *qs = b + 6;
  for (int j = 0; j < 16; j++) {
    int h0 = (int)((qh >> j) << 4 & 0x10), h1 = (int)((qh >> (j + 12)) & 0x10);
    y[j] = (float)(((qs[j] & 0xF) | h0) - 16) * d;
    y[j + 16] = (float)(((qs[j] >> 4) | h1) - 16) * d;
  }
}

static void deq_q5_1(const uint8_t *b, float *y) {
  float d = h2f(b), m = h2f(b + 2);
  uint32_t qh = ag_get_u32le(b + 4);
  const uint8_t *qs = b + 8;
  for (int j = 0; j < 16; j++) {
    int h0 = (int)((qh >> j) << 4 & 0x10), h1 = (int)((qh >> (j + 12)) & 0x10);
    y[j] = (float)((qs[j] & 0xF) | h0) * d + m;
    y[j + 16] = (float)((qs[j] >> 4) | h1) * d + m;
  }
}

static void deq_q8_0(const uint8_t *b, float *y) {
  float d = h2f(b);
  const int8_t *q = (const int8_t *)(b + 2);
  for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d;
}

static void deq_q4_k(const uint8_t *b, float *y) {
  float d = h2f(b), dmin = h2f(b + 2);
  const uint8_t *sc = b + 4, *q = b + 16;
  for (int k = 0; k < 4; k++, q += 32) {
    int s0, m0, s1, m1;
    scale_min_k4(2 * k, sc, &s0, &m0);
    scale_min_k4(2 * k + 1, sc, &s1, &m1);
    float d0 = d * (float)s0, n0 = dmin * (float)m0, d1 = d * (float)s1, n1 = dmin * (float)m1;
    for (int l = 0; l < 32; l++) y[64 * k + l] = d0 * (float)(q[l] & 0xF) - n0;
    for (int l = 0; l < 32; l++) y[64 * k + 32 + l] = d1 * (float)(q[l] >> 4) - n1;
  }
}

static void deq_q5_k(const uint8_t *b, float *y) {
  float d = h2f(b), dmin = h2f(b + 2);
  const uint8_t *sc = b + 4, *qh = b + 16, *q = b + 48;
  for (int k = 0; k < 4; k++, q += 32) {
    int s0, m0, s1, m1;
    scale_min_k4(2 * k, sc, &s0, &m0);
    scale_min_k4(2 * k + 1, sc, &s1, &m1);
    float d0 = d * (float)s0, n0 = dmin * (float)m0, d1 = d * (float)s1, n1 = dmin * (float)m1;
    for (int l = 0; l < 32; l++)
      y[64 * k + l] = d0 * (float)((q[l] & 0xF) + ((qh[l] >> (2 * k) & 1) << 4)) - n0;
    for (int l = 0; l < 32; l++)
      y[64 * k + 32 + l] = d1 * (float)((q[l] >> 4) + ((qh[l] >> (2 * k + 1) & 1) << 4)) - n1;
  }
}

static void deq_q6_k(const uint8_t *b, float *y) {
  const uint8_t *ql = b, *qh = b + 128;
  const int8_t *sc = (const int8_t *)(b + 192);
  float d = h2f(b + 208);
  for (int n = 0; n < 2; n++, ql += 64, qh += 32, sc += 8, y += 128)
    for (int l = 0; l < 32; l++) {
      int is = l / 16;
      int q1 = ((ql[l] & 0xF) | ((qh[l] >> 0 & 3) << 4)) - 32;
      int q2 = ((ql[l + 32] & 0xF) | ((qh[l] >> 2 & 3) << 4)) - 32;
      int q3 = ((ql[l] >> 4) | ((qh[l] >> 4 & 3) << 4)) - 32;
      int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6 & 3) << 4)) - 32;
      y[l] = d * (float)sc[is] * (float)q1;
      y[l + 32] = d * (float)sc[is + 2] * (float)q2;
      y[l + 64] = d * (float)sc[is + 4] * (float)q3;
      y[l + 96] = d * (float)sc[is + 6] * (float)q4;
    }
}

typedef void (*deq_fn)(const uint8_t *, float *);

static void deq_scalar(int type, const uint8_t *src, size_t n, float *out) {
  switch (type) {
  case AG_DT_F32: memcpy(out, src, n * sizeof(float)); return;
  case AG_DT_F16:
    for (size_t i = 0; i < n; i++) out[i] = h2f(src + 2 * i);
    return;
  case AG_DT_BF16:
    for (size_t i = 0; i < n; i++) {
      uint32_t u = (uint32_t)(src[2 * i] | src[2 * i + 1] << 8) << 16;
      memcpy(out + i, &u, 4);
    }
    return;
  default: break;
  }
  static const deq_fn fns[AG_DT_COUNT] = {
      [AG_DT_Q8] = deq_q8_0,   [AG_DT_Q4_0] = deq_q4_0, [AG_DT_Q4_1] = deq_q4_1,
      [AG_DT_Q5_0] = deq_q5_0, [AG_DT_Q5_1] = deq_q5_1, [AG_DT_Q4_K] = deq_q4_k,
      [AG_DT_Q5_K] = deq_q5_k, [AG_DT_Q6_K] = deq_q6_k,
  };
  int blk = dt_table[type].block;
  size_t bb = dt_table[type].bytes;
  for (size_t i = 0; i < n / (size_t)blk; i++) fns[type](src + i * bb, out + i * (size_t)blk);
}

/* ---------- AVX-512: the same expressions, 16 elements per instruction ---------- */
#if AG_X86
QB_T5 static void deq_avx512(int t, const uint8_t *src, size_t nb, float *y) {
  int blk = ag_dt_block(t), nvec = blk / 16;
  size_t bb = ag_dt_block_bytes(t);
  float ds[16], ms[16];
  for (size_t i = 0; i < nb; i++, src += bb, y += blk) {
    if (qb_is_table(t)) {
      __m512 tab[2], w0, w1;
      qb_table(t, src, tab);
      qb_lookup(t, src, tab, &w0, &w1);
      _mm512_storeu_ps(y, w0);
      _mm512_storeu_ps(y + 16, w1);
      continue;
    }
    qb_prep(t, src, ds, ms);
    for (int h = 0; h < nvec; h++) _mm512_storeu_ps(y + 16 * h, qb_vec(t, src, h, ds[h], ms[h]));
  }
}

/* AVX2: the same expressions, 8 elements per instruction. */
QB2_T static void deq_avx2(int t, const uint8_t *src, size_t nb, float *y) {
  size_t bb = ag_dt_block_bytes(t);
  if (!qb2_is32(t)) {
    for (size_t i = 0; i < nb; i++, src += bb, y += 256) qb2_k_block(t, src, y);
    return;
  }
  for (size_t i = 0; i < nb; i++, src += bb, y += 32) {
    __m256 d, m;
    qb2_scales(t, src, &d, &m);
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, qb2_vec8(t, src, k, d, m));
  }
}
#endif

void ag_dequantize(int type, const void *src, size_t n, float *out) {
#if AG_X86
  if (ag_simd_get() == AG_SIMD_AVX512 && ag_dt_block(type) >= 32) {
    deq_avx512(type, src, n / (size_t)ag_dt_block(type), out);
    return;
  }
  if (ag_simd_get() == AG_SIMD_AVX2 && qb2_widens(type)) {
    deq_avx2(type, src, n / (size_t)ag_dt_block(type), out);
    return;
  }
#endif
  deq_scalar(type, src, n, out);
}
