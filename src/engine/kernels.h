/*
 * kernels.h — the engine's reproducible numeric kernels.
 *
 * The reduction order is part of the specification (docs/engine.md, "Reduction order"):
 *
 *  - ag_dot(a, b, n): 16 partial sums, lane j accumulates a[i]*b[i] for i ≡ j (mod 16) in
 *    increasing i with fma (acc = fma(a[i], b[i], acc)), starting from +0; then the fixed tree
 *    s8[j] = acc[j] + acc[j+8], s4[j] = s8[j] + s8[j+4], s2[j] = s4[j] + s4[j+2],
 *    result = s2[0] + s2[1].
 *  - Forward matmul out[t][r] = ag_dot(W[r], x[t], cols); for quantized weights each weight is
 *    first widened to fp32 by ag_dequantize (a fixed sequence of fp32 operations per element,
 *    quant.c), so a quantized matmul equals the fp32 matmul of the dequantized weights bit for
 *    bit, for every type, SIMD path, thread count and number of tokens T.
 *  - Backward and "axpy" kernels are per-element fma chains in a fixed index order
 *    (documented at each function); SIMD lanes only ever hold distinct output elements.
 *
 * The AVX-512, AVX2 and scalar paths implement exactly these orders, so they return identical
 * bits; the path is picked at run time (cpuid) and can be forced with ag_simd_set() or the
 * environment variable AGORA_SIMD=scalar|avx2|avx512. Threads (ag_pool) split outputs only.
 * Nothing here allocates.
 */
#ifndef AG_ENGINE_KERNELS_H
#define AG_ENGINE_KERNELS_H

#include "engine/pool.h"

#include <stddef.h>
#include <stdint.h>

enum { AG_SIMD_SCALAR = 0, AG_SIMD_AVX2 = 1, AG_SIMD_AVX512 = 2 };

/* Best level this CPU supports. */
int ag_simd_best(void);
/* Current level (first call applies AGORA_SIMD, else the best). */
int ag_simd_get(void);
/* Forces a level; AG_E_UNSUPPORTED if the CPU lacks it. Process-wide. */
int ag_simd_set(int level);
const char *ag_simd_name(int level);
/* Parses "scalar"/"avx2"/"avx512"; -1 if unknown. */
int ag_simd_parse(const char *s);

/* Tensor element types. F32 and Q8 are the ones Agora's own checkpoints store (their values are
 * part of that format); the others are GGUF's block formats, used in place from a mapped file
 * (quant.c documents every block layout and its exact fp32 dequantization). Q8 is GGUF's Q8_0. */
enum {
  AG_DT_F32 = 0, AG_DT_Q8 = 1, AG_DT_F16 = 2, AG_DT_BF16 = 3, AG_DT_Q4_0 = 4, AG_DT_Q4_1 = 5,
  AG_DT_Q5_0 = 6, AG_DT_Q5_1 = 7, AG_DT_Q4_K = 8, AG_DT_Q5_K = 9, AG_DT_Q6_K = 10, AG_DT_COUNT
};
#define AG_Q8_GROUP 32
#define AG_Q8_BLOCK 34 /* bytes per group: f16 scale (little-endian) + 32 int8 */

/* Elements per block and bytes per block of a type (1 and 4 for F32); 0 for an unknown type. */
int ag_dt_block(int type);
size_t ag_dt_block_bytes(int type);
const char *ag_dt_name(int type);
/* Widens n elements (n a multiple of the block) of type to fp32, exactly as quant.c specifies:
 * the same bits on every SIMD path. */
void ag_dequantize(int type, const void *src, size_t n, float *out);

/* A weight matrix (rows x cols), row-major. Borrowed data; block types need cols to be a
 * multiple of their block (ag_dt_block) and cols <= AG_MAT_MAX_COLS. */
#define AG_MAT_MAX_COLS 32768
typedef struct {
  int type;
  int rows, cols;
  const void *data;
} ag_mat;

size_t ag_mat_bytes(int type, size_t rows, size_t cols);

float ag_dot(const float *a, const float *b, size_t n);
/* y[i] = fma(a, x[i], y[i]) for each i. */
void ag_axpy(float *y, float a, const float *x, size_t n);
/* out[j] = ag_dot(q, k + j * stride, n) for j < count (attention scores). */
void ag_dot_many(const float *q, const float *k, size_t stride, int count, size_t n, float *out);
/* For j = 0 .. count-1 in order: o[i] = fma(p[j], v[j * stride + i], o[i]) (attention output);
 * the same bits as count calls of ag_axpy. */
void ag_axpy_many(float *o, const float *p, const float *v, size_t stride, int count, size_t n);
/* The same for nq queries sharing the keys and values (the query heads of one KV head): query g
 * at q + g * qs, its scores at out + g * os; its output at o + g * os from its probabilities at
 * p + g * ps. Each query's results have the bits of the single calls; the keys and values are
 * read once for up to 4 queries. */
void ag_dot_many_g(const float *q, size_t qs, int nq, const float *k, size_t stride, int count, size_t n, float *out,
                   size_t os);
void ag_axpy_many_g(float *o, size_t os, const float *p, size_t ps, int nq, const float *v, size_t stride, int count,
                    size_t n);
/* Attention softmax of one row, in place: x[j] *= scale; m = max (NaN ignored);
 * e[j] = ag_expf(x[j] - m); sum = e[0] + e[1] + ... in order (float); x[j] = e[j] / sum. */
void ag_softmax_scaled(float *x, int n, float scale);
/* hg[i] = (h1[i] / (1 + ag_expf(-h1[i]))) * h3[i] (SwiGLU). */
void ag_swiglu(float *hg, const float *h1, const float *h3, size_t n);
/* One row of W (row r) widened to fp32 (used for embedding lookup). */
void ag_mat_row(const ag_mat *w, int r, float *out);

/* out (T, w->rows) = x (T, w->cols) · Wᵀ, i.e. out[t][r] = ag_dot(W[r], x[t]). */
typedef struct {
  const ag_mat *w;
  const float *x;
  float *out;
} ag_mm_job;
/* Runs several independent matmuls over the same T in one pool pass. */
void ag_matmul_multi(ag_pool *p, const ag_mm_job *jobs, int njobs, int T);
void ag_matmul(ag_pool *p, float *out, const float *x, const ag_mat *w, int T);

/* dx (T, cols): dx[t][c] = fma chain over r = 0..rows-1 of dy[t][r] * W[r][c], from +0.
 * W is fp32 (rows, cols). Overwrites dx. */
void ag_matmul_bwd_x(ag_pool *p, float *dx, const float *dy, const float *w, int T, int rows,
                     int cols);
/* dW (rows, cols) += continuing per-element fma chain over t = 0..T-1 of dy[t][r] * x[t][c]. */
void ag_matmul_bwd_w(ag_pool *p, float *dw, const float *dy, const float *x, int T, int rows,
                     int cols);

/* Quantizes n fp32 values (n % 32 == 0) into q8 blocks: scale = f16(max|w| / 127), rounded to
 * nearest even; q = round-half-away(w / scale) clamped to [-127, 127]. */
void ag_quantize_q8(const float *w, size_t n, uint8_t *out);
void ag_dequantize_q8(const uint8_t *in, size_t n, float *out);

#endif
