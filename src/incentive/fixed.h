/*
 * fixed.h — the fixed-point arithmetic of Yuma consensus, bit-for-bit as subtensor computes it
 * with substrate-fixed v0.6.0 (encointer/substrate-fixed, tag v0.6.0).
 *
 * Types (all are plain integers holding the raw bits; value = raw / 2^frac):
 *   ag_fx    I32F32: int64_t, 32 fractional bits, resolution 2^-32. All epoch math uses it.
 *   ag_fx64  I64F64: __int128, 64 fractional bits. Only stake normalization and the bonds
 *            moving-average ratio go through it.
 *   (I96F32 appears only inside ag_fx_to_rao, U64F64/U96F32 are not needed by the epoch.)
 *
 * Semantics reproduced from substrate-fixed:
 *   - add/sub/mul/div saturate on overflow (ag_fx_add, _sub, _mul, _div);
 *   - multiplication floors (the wide product is shifted right arithmetically: toward -inf);
 *   - division truncates toward zero (Rust integer division on the widened numerator);
 *   - checked variants report overflow (and division by zero) instead of saturating;
 *   - ag_fx_safe_div is subtensor's safe_div: checked_div or 0 (x/0 = 0, overflow = 0);
 *   - fixed -> integer and fixed -> narrower fixed conversions drop bits (floor);
 *   - ag_fx_round rounds to nearest with ties away from zero (fixed's round());
 *   - ag_fx_exp is subtensor's exp_safe: input clamped to [-20, 20], then substrate-fixed's
 *     Taylor series (terms 2..31, each floor(term*x)/i), inverted for negative input, with its
 *     special cases exp(0) = 1 and exp(1) = e truncated to 23 fractional bits.
 *
 * Integer only: nothing here (or anywhere in src/incentive) uses floating point. Every function
 * is pure and total (no input makes it trap); none allocates.
 *
 * Deliberately not here: the transcendental functions the epoch does not use (ln, sqrt,
 * pow), Rust's debug-mode overflow panics (we always take the release/saturating path that the
 * runtime takes), and any other fixed format.
 */
#ifndef AG_INCENTIVE_FIXED_H
#define AG_INCENTIVE_FIXED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int64_t ag_fx;    /* I32F32 raw bits */
typedef __int128 ag_fx64; /* I64F64 raw bits */

#define AG_FX_FRAC 32
#define AG_FX_ONE ((ag_fx)1 << 32)
#define AG_FX_HALF ((ag_fx)1 << 31)
#define AG_FX_MAX INT64_MAX
#define AG_FX_MIN INT64_MIN
#define AG_FX_U16_MAX ((ag_fx)65535 << 32) /* I32F32::from(u16::MAX) */

/* I32F32 from an integer, saturating (|v| >= 2^31 saturates). */
static inline ag_fx ag_fx_from_int(int64_t v) {
  if (v > INT32_MAX) return AG_FX_MAX;
  if (v < INT32_MIN) return AG_FX_MIN;
  return (ag_fx)v * AG_FX_ONE;
}

static inline ag_fx ag_fx_add(ag_fx a, ag_fx b) {
  ag_fx r;
  if (__builtin_add_overflow(a, b, &r)) return a < 0 ? AG_FX_MIN : AG_FX_MAX;
  return r;
}

static inline ag_fx ag_fx_sub(ag_fx a, ag_fx b) {
  ag_fx r;
  if (__builtin_sub_overflow(a, b, &r)) return a < b ? AG_FX_MIN : AG_FX_MAX;
  return r;
}

/* floor(a*b / 2^32); returns false (and leaves *r alone) when it does not fit. Signed right
 * shift of __int128 is arithmetic on GCC and Clang (documented implementation behaviour),
 * which is exactly the floor substrate-fixed's `(a*b<<32) >> 64` performs. */
static inline bool ag_fx_mul_checked(ag_fx a, ag_fx b, ag_fx *r) {
  __int128 p = (__int128)a * (__int128)b;
  __int128 q = p >> AG_FX_FRAC;
  if (q > INT64_MAX || q < INT64_MIN) return false;
  *r = (ag_fx)q;
  return true;
}

static inline ag_fx ag_fx_mul(ag_fx a, ag_fx b) {
  ag_fx r;
  if (ag_fx_mul_checked(a, b, &r)) return r;
  return ((a < 0) != (b < 0)) ? AG_FX_MIN : AG_FX_MAX;
}

/* trunc(a * 2^32 / b) toward zero; false on b == 0 or when the quotient does not fit. On
 * x86-64 the common case (a >= 0, b > 0, a quotient of at most 64 bits) is one 128-by-64-bit
 * divq, whose floor is the truncation here; the rest takes the 128-bit division (a library
 * call). Both give the same bits (test_yuma compares them). */
static inline bool ag_fx_div_checked(ag_fx a, ag_fx b, ag_fx *r) {
  if (b == 0) return false;
#if defined(__x86_64__)
  if (a >= 0 && b > 0 && ((uint64_t)a >> AG_FX_FRAC) < (uint64_t)b) {
    uint64_t q, rem;
    __asm__("divq %4" : "=a"(q), "=d"(rem) : "a"((uint64_t)a << AG_FX_FRAC), "d"((uint64_t)a >> AG_FX_FRAC), "rm"((uint64_t)b));
    if (q > (uint64_t)INT64_MAX) return false;
    *r = (ag_fx)q;
    return true;
  }
#endif
  __int128 q = ((__int128)a * ((__int128)1 << AG_FX_FRAC)) / (__int128)b;
  if (q > INT64_MAX || q < INT64_MIN) return false;
  *r = (ag_fx)q;
  return true;
}

/* Saturating division. substrate-fixed panics on b == 0; we return 0 there (callers never
 * divide by zero; the choice only keeps this total). */
static inline ag_fx ag_fx_div(ag_fx a, ag_fx b) {
  ag_fx r;
  if (b == 0) return 0;
  if (ag_fx_div_checked(a, b, &r)) return r;
  return ((a < 0) != (b < 0)) ? AG_FX_MIN : AG_FX_MAX;
}

/* subtensor's safe_div: a / b, or 0 when b == 0 or the quotient overflows. */
static inline ag_fx ag_fx_safe_div(ag_fx a, ag_fx b) {
  ag_fx r;
  return ag_fx_div_checked(a, b, &r) ? r : 0;
}

static inline ag_fx ag_fx_min(ag_fx a, ag_fx b) { return a < b ? a : b; }
static inline ag_fx ag_fx_max(ag_fx a, ag_fx b) { return a > b ? a : b; }
/* subtensor's clamp_value: min(high) first, then max(low). */
static inline ag_fx ag_fx_clamp(ag_fx v, ag_fx lo, ag_fx hi) {
  return ag_fx_max(ag_fx_min(v, hi), lo);
}

/* Integer part, floor (fixed's to_num), saturated into [0, 65535]. */
static inline uint16_t ag_fx_to_u16(ag_fx x) {
  if (x < 0) return 0;
  int64_t i = x >> AG_FX_FRAC;
  return i > 65535 ? 65535 : (uint16_t)i;
}

/* u16 storage of a proportion: floor(x * 65535), saturated (fixed_proportion_to_u16). */
static inline uint16_t ag_fx_to_u16_prop(ag_fx x) { return ag_fx_to_u16(ag_fx_mul(x, AG_FX_U16_MAX)); }

/* A stored u16 proportion read back as v/65535 (u16_proportion_to_fixed): floor(v*2^32/65535). */
static inline ag_fx ag_fx_from_u16_prop(uint16_t v) {
  return ag_fx_safe_div((ag_fx)v << AG_FX_FRAC, AG_FX_U16_MAX);
}

/* Round half away from zero (fixed's round()), saturating at the ends. */
static inline ag_fx ag_fx_round(ag_fx x) {
  __int128 r;
  if (x >= 0)
    r = (((__int128)x + AG_FX_HALF) >> AG_FX_FRAC) << AG_FX_FRAC;
  else
    r = -(((-(__int128)x + AG_FX_HALF) >> AG_FX_FRAC) << AG_FX_FRAC);
  if (r > INT64_MAX) return AG_FX_MAX - (AG_FX_MAX & (AG_FX_ONE - 1)); /* largest integer */
  if (r < INT64_MIN) return AG_FX_MIN;
  return (ag_fx)r;
}

/* Token amount of a proportion: floor(I96F32(x) * E) as u64, saturating (negative -> 0). With
 * 32 fractional bits this is floor(x_raw * E / 2^32). */
static inline uint64_t ag_fx_to_rao(ag_fx x, uint64_t e) {
  if (x <= 0) return 0;
  unsigned __int128 p = (unsigned __int128)(uint64_t)x * e;
  p >>= AG_FX_FRAC;
  return p > UINT64_MAX ? UINT64_MAX : (uint64_t)p;
}

/* exp_safe (see the file comment). */
ag_fx ag_fx_exp(ag_fx x);

/* ag_fx_exp of each of x[0..n) into out (the same bits): the series are computed four at a
 * time, independent of one another, so that the CPU overlaps their chains of multiplies. */
void ag_fx_exp_n(const ag_fx *x, ag_fx *out, size_t n);

/* substrate-fixed exp without the clamp: returns false where it returns Err (overflow). */
bool ag_fx_exp_raw(ag_fx x, ag_fx *out);

/* subtensor's sigmoid_safe: 1 / (1 + exp_safe(-rho * (x - kappa))). */
ag_fx ag_fx_sigmoid(ag_fx x, ag_fx rho, ag_fx kappa);

/* ---- I64F64 ---- */

#define AG_FX64_ONE ((ag_fx64)1 << 64)

static inline ag_fx64 ag_fx64_from_u64(uint64_t v) { return (ag_fx64)((unsigned __int128)v << 64); }

/* I64F64 addition, saturating. */
ag_fx64 ag_fx64_add(ag_fx64 a, ag_fx64 b);

/* I64F64 a / b truncated toward zero, or 0 on b == 0 or overflow (safe_div). Exact for every
 * input: the 192-bit numerator is divided by long division when it does not fit 128 bits. */
ag_fx64 ag_fx64_safe_div(ag_fx64 a, ag_fx64 b);

/* I64F64 -> I32F32: drop 32 fractional bits (floor), saturate the integer part. */
ag_fx ag_fx64_to_fx(ag_fx64 a);

/* I64F64 -> u64: floor, saturating (negative -> 0). */
uint64_t ag_fx64_to_u64(ag_fx64 a);

#endif
