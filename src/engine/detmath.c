/*
 * detmath.c — deterministic exp/log/sin/cos, fp16 conversion and Philox (see detmath.h).
 * Range reduction is Cody-Waite with fma; polynomials are truncated Taylor series evaluated by
 * Horner's rule with explicit fma, so the operation sequence is fixed by this source alone.
 * Does not: handle rounding modes other than round-to-nearest (the engine never changes it).
 */
#include "engine/detmath.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

static inline uint32_t f2u(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static inline float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline uint64_t d2u(double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
}
static inline double u2d(uint64_t u) {
  double d;
  memcpy(&d, &u, 8);
  return d;
}

/* k = round(x / ln2) by the 1.5 * 2^23 trick (round to nearest even, exact); r = x - k ln2 with
 * ln2 split in a hi part of 11 significant bits (exact product) and a lo part; e^r on
 * |r| <= 0.347 by Taylor to degree 7 (truncation < 6e-9 relative); then scale by 2^k.
 * The body is compiled twice: generic (fmaf may be a libm call) and with the FMA instruction
 * inlined. fmaf is correctly rounded either way, so both return the same bits. */
#define EXPF_BODY                                                                             \
  if (x != x) return x;                                                                       \
  if (x > 88.72283f) return INFINITY;                                                         \
  if (x < -87.33654f) return 0.0f;                                                            \
  const float magic = 12582912.0f;                                                            \
  float kf = (x * 1.44269502f + magic) - magic;                                               \
  float r = fmaf(-kf, 0.693145752f, x);                                                       \
  r = fmaf(-kf, 1.42860677e-06f, r);                                                          \
  float p = 1.98412698e-04f;                                                                  \
  p = fmaf(p, r, 1.38888889e-03f);                                                            \
  p = fmaf(p, r, 8.33333333e-03f);                                                            \
  p = fmaf(p, r, 4.16666667e-02f);                                                            \
  p = fmaf(p, r, 1.66666667e-01f);                                                            \
  p = fmaf(p, r, 0.5f);                                                                       \
  p = fmaf(p, r, 1.0f);                                                                       \
  p = fmaf(p, r, 1.0f);                                                                       \
  int k = (int)kf;                                                                            \
  if (k > 127) return p * u2f((uint32_t)(127 + 127) << 23) * 2.0f;                            \
  return p * u2f((uint32_t)(k + 127) << 23);

#if defined(__x86_64__)
__attribute__((target("fma"))) static float expf_fma(float x) { EXPF_BODY }
#endif
static float expf_generic(float x) { EXPF_BODY }

static atomic_int have_fma = -1;

float ag_expf(float x) {
#if defined(__x86_64__)
  int f = atomic_load_explicit(&have_fma, memory_order_relaxed);
  if (f < 0) {
    __builtin_cpu_init();
    f = __builtin_cpu_supports("fma") ? 1 : 0;
    atomic_store_explicit(&have_fma, f, memory_order_relaxed);
  }
  if (f) return expf_fma(x);
#endif
  return expf_generic(x);
}

double ag_exp(double x) {
  if (x != x) return x;
  if (x > 709.0) return INFINITY;
  if (x < -708.0) return 0.0;
  const double magic = 6755399441055744.0; /* 1.5 * 2^52 */
  double kd = (x * 1.4426950408889634 + magic) - magic;
  double r = fma(-kd, 6.93147180369123816490e-01, x);
  r = fma(-kd, 1.90821492927058770002e-10, r);
  /* |r| <= 0.347: Taylor to degree 14 (truncation < 1e-18). */
  double p = 1.0 / 87178291200.0;
  static const double inv_fact[] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0,
                                    1.0 / 3628800.0,    1.0 / 362880.0,    1.0 / 40320.0,
                                    1.0 / 5040.0,       1.0 / 720.0,       1.0 / 120.0,
                                    1.0 / 24.0,         1.0 / 6.0,         0.5,
                                    1.0,                1.0};
  for (int i = 0; i < 14; i++) p = fma(p, r, inv_fact[i]);
  int k = (int)kd;
  return p * u2d((uint64_t)(k + 1023) << 52);
}

double ag_ln(double x) {
  if (!(x > 0)) return x == 0 ? -INFINITY : NAN;
  if (x == INFINITY) return x;
  uint64_t u = d2u(x);
  int e = (int)((u >> 52) & 0x7ff);
  if (e == 0) { /* subnormal: scale up */
    x *= 18014398509481984.0; /* 2^54 */
    u = d2u(x);
    e = (int)((u >> 52) & 0x7ff) - 54;
  }
  e -= 1022;
  double m = u2d((u & 0x000fffffffffffffULL) | 0x3fe0000000000000ULL); /* [0.5, 1) */
  if (m < 0.70710678118654752) {
    m *= 2.0;
    e -= 1;
  }
  /* ln m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716: odd series to s^25. */
  double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double p = 1.0 / 25.0;
  for (int k = 23; k >= 1; k -= 2) p = fma(p, s2, 1.0 / k);
  double lnm = 2.0 * s * p;
  return fma((double)e, 6.93147180369123816490e-01, fma((double)e, 1.90821492927058770002e-10, lnm));
}

void ag_sincos(double x, double *s, double *c) {
  /* k = round(x * 2/pi); r = x - k*pi/2 in two parts (Cody-Waite with fma). */
  const double magic = 6755399441055744.0;
  double kd = (x * 0.63661977236758134 + magic) - magic;
  double r = fma(-kd, 1.5707963267341256e+00, x);
  r = fma(-kd, 6.07710050650619224932e-11, r);
  double r2 = r * r;
  /* Taylor on |r| <= pi/4: sin to degree 21, cos to degree 20. */
  /* explicit coefficient tables keep the operation sequence obvious */
  static const double sc[] = {-1.0 / 121645100408832000.0, 1.0 / 355687428096000.0,
                              -1.0 / 1307674368000.0,      1.0 / 6227020800.0,
                              -1.0 / 39916800.0,           1.0 / 362880.0,
                              -1.0 / 5040.0,               1.0 / 120.0,
                              -1.0 / 6.0,                  1.0};
  static const double cc[] = {-1.0 / 6402373705728000.0, 1.0 / 20922789888000.0,
                              -1.0 / 87178291200.0,      1.0 / 479001600.0,
                              -1.0 / 3628800.0,          1.0 / 40320.0,
                              -1.0 / 720.0,              1.0 / 24.0,
                              -0.5,                      1.0};
  double ps = 1.0 / 51090942171709440000.0;
  for (int i = 0; i < 10; i++) ps = fma(ps, r2, sc[i]);
  double pc = 1.0 / 2432902008176640000.0;
  for (int i = 0; i < 10; i++) pc = fma(pc, r2, cc[i]);
  double sn = r * ps, cs = pc;
  long k = (long)kd;
  switch (k & 3) {
  case 0: *s = sn; *c = cs; break;
  case 1: *s = cs; *c = -sn; break;
  case 2: *s = -sn; *c = -cs; break;
  default: *s = -cs; *c = sn; break;
  }
}

float ag_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0) {
    if (m == 0) return u2f(sign);
    /* subnormal: m * 2^-24, exact in float */
    float v = (float)m * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  if (e == 31) return u2f(sign | 0x7f800000u | (m << 13));
  return u2f(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t ag_f32_to_f16(float f) {
  uint32_t u = f2u(f);
  uint32_t sign = (u >> 16) & 0x8000;
  uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (a > 0x7f800000u ? 0x200 : 0));
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
  if (a < 0x38800000u) { /* below 2^-14: subnormal half, value = round(|f| * 2^24) units */
    float v = u2f(a) * 16777216.0f; /* exact: scaling by a power of two */
    /* round half to even on the integer */
    uint32_t q = (uint32_t)v;
    float frac = v - (float)q;
    if (frac > 0.5f || (frac == 0.5f && (q & 1))) q++;
    return (uint16_t)(sign | q);
  }
  uint32_t e = ((a >> 23) - 112) << 10, m = (a >> 13) & 0x3ff;
  uint32_t rest = a & 0x1fff;
  uint32_t h = e | m;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return (uint16_t)(sign | h);
}

void ag_philox(uint64_t seed, uint64_t c0, uint64_t c1, uint32_t out[4]) {
  uint32_t x0 = (uint32_t)c0, x1 = (uint32_t)(c0 >> 32), x2 = (uint32_t)c1,
           x3 = (uint32_t)(c1 >> 32);
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)0xD2511F53u * x0, p1 = (uint64_t)0xCD9E8D57u * x2;
    uint32_t y0 = (uint32_t)(p1 >> 32) ^ x1 ^ k0, y1 = (uint32_t)p1;
    uint32_t y2 = (uint32_t)(p0 >> 32) ^ x3 ^ k1, y3 = (uint32_t)p0;
    x0 = y0, x1 = y1, x2 = y2, x3 = y3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = x0, out[1] = x1, out[2] = x2, out[3] = x3;
}

float ag_philox_uniform(uint64_t seed, uint64_t c0, uint64_t c1) {
  uint32_t o[4];
  ag_philox(seed, c0, c1, o);
  return (float)(o[0] >> 8) * 5.9604644775390625e-08f; /* 2^-24 */
}

uint64_t ag_philox_below(uint64_t seed, uint64_t c0, uint64_t c1, uint64_t n) {
  /* Rejection on a 64-bit draw; retries use the other words, then further counters. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  for (uint64_t i = 0;; i++) {
    uint32_t o[4];
    ag_philox(seed, c0, c1 ^ (i << 48), o);
    uint64_t v = (uint64_t)o[0] << 32 | o[1];
    if (v < limit) return v % n;
    v = (uint64_t)o[2] << 32 | o[3];
    if (v < limit) return v % n;
  }
}

float ag_philox_normal(uint64_t seed, uint64_t c0, uint64_t c1) {
  uint32_t o[4];
  ag_philox(seed, c0, c1, o);
  double u1 = ((double)(((uint64_t)o[0] << 21) | (o[1] >> 11)) + 1.0) * (1.0 / 9007199254740993.0);
  double u2 = (double)(((uint64_t)o[2] << 21) | (o[3] >> 11)) * (1.0 / 9007199254740992.0);
  double s, c;
  ag_sincos(6.283185307179586 * u2, &s, &c);
  return (float)(sqrt(-2.0 * ag_ln(u1)) * c);
}
