/*
 * fixed.c — the non-inline parts of the fixed-point library: substrate-fixed's exp (and
 * subtensor's exp_safe/sigmoid_safe wrappers around it) and the I64F64 operations.
 *
 * Integer only. Deliberately not here: anything the epoch does not need.
 */
#include "incentive/fixed.h"

/* substrate-fixed's E is an I9F23 constant (consts::E >> 103), widened to I32F32: e truncated
 * to 23 fractional bits (2.71828174...). exp(1) returns exactly this value. */
#define FX_E ((ag_fx)22802600 << 9)

bool ag_fx_exp_raw(ag_fx x, ag_fx *out) {
  if (x == 0) {
    *out = AG_FX_ONE;
    return true;
  }
  if (x == AG_FX_ONE) {
    *out = FX_E;
    return true;
  }
  bool neg = x < 0;
  if (neg) {
    if (x == AG_FX_MIN) return false; /* checked_neg */
    x = -x;
  }
  ag_fx result, term = x;
  if (__builtin_add_overflow(x, AG_FX_ONE, &result)) return false;
  /* for i in 2..frac_nbits (2..31): term = term*x / i; result += term (all checked). x > 0
   * here, so term >= 0 and the fixed division term / I32F32(i), trunc(term*2^32 / (i*2^32)),
   * is the plain integer quotient term / i (which cannot overflow). */
  /* Unrolled so that every divisor is a constant (the compiler turns term / i into a
   * multiply and shift, with the same result).
   * Once a term is 0 every later one is (floor(0 * x) / i = 0), so the loop stops there. */
#define EXP_STEP(i)                                                                              \
  if (!ag_fx_mul_checked(term, x, &term)) return false;                                         \
  term = (ag_fx)((uint64_t)term / (i));                                                          \
  if (__builtin_add_overflow(result, term, &result)) return false;                               \
  if (!term) goto done;
  EXP_STEP(2) EXP_STEP(3) EXP_STEP(4) EXP_STEP(5) EXP_STEP(6) EXP_STEP(7) EXP_STEP(8)
  EXP_STEP(9) EXP_STEP(10) EXP_STEP(11) EXP_STEP(12) EXP_STEP(13) EXP_STEP(14) EXP_STEP(15)
  EXP_STEP(16) EXP_STEP(17) EXP_STEP(18) EXP_STEP(19) EXP_STEP(20) EXP_STEP(21) EXP_STEP(22)
  EXP_STEP(23) EXP_STEP(24) EXP_STEP(25) EXP_STEP(26) EXP_STEP(27) EXP_STEP(28) EXP_STEP(29)
  EXP_STEP(30) EXP_STEP(31)
#undef EXP_STEP
done:
  if (neg && !ag_fx_div_checked(AG_FX_ONE, result, &result)) return false;
  *out = result;
  return true;
}

ag_fx ag_fx_exp(ag_fx x) {
  const ag_fx lo = -20 * AG_FX_ONE, hi = 20 * AG_FX_ONE;
  if (x < lo) x = lo;
  else if (hi < x) x = hi;
  ag_fx r;
  if (ag_fx_exp_raw(x, &r)) return r;
  return x <= 0 ? 0 : AG_FX_MAX; /* unreachable inside [-20, 20]; kept as in exp_safe */
}

/* Four exp_safe series side by side. Inside the clamp [-20, 20] nothing overflows (the largest
 * term, 20^20/20!, is below 2^26, times 20 below 2^31), but every step is still checked, and
 * a group with any overflow is computed again one by one, so the result is ag_fx_exp's in
 * every case. */
static void exp4(const ag_fx *in, ag_fx *out) {
  const ag_fx lo = -20 * AG_FX_ONE, hi = 20 * AG_FX_ONE;
  ag_fx x[4], term[4], res[4];
  bool neg[4], bad = false;
  for (int l = 0; l < 4; l++) {
    ag_fx v = in[l] < lo ? lo : in[l] > hi ? hi : in[l];
    neg[l] = v < 0;
    x[l] = neg[l] ? -v : v;
    term[l] = x[l];
    res[l] = x[l] + AG_FX_ONE;
  }
#define EXP4_STEP(i)                                                                             \
  {                                                                                              \
    uint64_t any = 0;                                                                            \
    for (int l = 0; l < 4; l++) {                                                                \
      bad |= !ag_fx_mul_checked(term[l], x[l], &term[l]);                                        \
      term[l] = (ag_fx)((uint64_t)term[l] / (i));                                                \
      bad |= __builtin_add_overflow(res[l], term[l], &res[l]);                                   \
      any |= (uint64_t)term[l];                                                                  \
    }                                                                                            \
    if (!any) goto done;                                                                         \
  }
  EXP4_STEP(2) EXP4_STEP(3) EXP4_STEP(4) EXP4_STEP(5) EXP4_STEP(6) EXP4_STEP(7) EXP4_STEP(8)
  EXP4_STEP(9) EXP4_STEP(10) EXP4_STEP(11) EXP4_STEP(12) EXP4_STEP(13) EXP4_STEP(14)
  EXP4_STEP(15) EXP4_STEP(16) EXP4_STEP(17) EXP4_STEP(18) EXP4_STEP(19) EXP4_STEP(20)
  EXP4_STEP(21) EXP4_STEP(22) EXP4_STEP(23) EXP4_STEP(24) EXP4_STEP(25) EXP4_STEP(26)
  EXP4_STEP(27) EXP4_STEP(28) EXP4_STEP(29) EXP4_STEP(30) EXP4_STEP(31)
#undef EXP4_STEP
done:
  for (int l = 0; l < 4; l++) {
    if (bad) out[l] = ag_fx_exp(in[l]);
    else if (x[l] == 0) out[l] = AG_FX_ONE;
    else if (!neg[l] && x[l] == AG_FX_ONE) out[l] = FX_E;
    else if (!neg[l]) out[l] = res[l];
    else if (!ag_fx_div_checked(AG_FX_ONE, res[l], &out[l])) out[l] = ag_fx_exp(in[l]);
  }
}

void ag_fx_exp_n(const ag_fx *x, ag_fx *out, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) exp4(x + i, out + i);
  for (; i < n; i++) out[i] = ag_fx_exp(x[i]);
}

ag_fx ag_fx_sigmoid(ag_fx x, ag_fx rho, ag_fx kappa) {
  ag_fx offset = ag_fx_sub(x, kappa);
  ag_fx neg_rho = ag_fx_mul(rho, -AG_FX_ONE);
  ag_fx e = ag_fx_exp(ag_fx_mul(neg_rho, offset));
  return ag_fx_safe_div(AG_FX_ONE, ag_fx_add(e, AG_FX_ONE));
}

/* ---- I64F64 ---- */

#define I128_MAX ((__int128)(~(unsigned __int128)0 >> 1))
#define I128_MIN (-I128_MAX - 1)

ag_fx64 ag_fx64_add(ag_fx64 a, ag_fx64 b) {
  ag_fx64 r;
  if (__builtin_add_overflow(a, b, &r)) return a < 0 ? I128_MIN : I128_MAX;
  return r;
}

/* floor((num << 64) / d) for d != 0, as a 192-by-128-bit long division. Returns false when the
 * quotient needs more than 128 bits. */
static bool udiv_shl64(unsigned __int128 num, unsigned __int128 d, unsigned __int128 *q_out) {
  /* Fast paths: the 192-bit numerator fits 128 bits, or both operands are whole numbers. */
  if ((num >> 64) == 0) {
    *q_out = (num << 64) / d;
    return true;
  }
  if ((uint64_t)num == 0 && (uint64_t)d == 0) {
    /* (n*2^64 * 2^64) / (m*2^64) = n*2^64 / m, and n < 2^64 here */
    *q_out = ((num >> 64) << 64) / (d >> 64);
    return true;
  }
  unsigned __int128 r = 0, q = 0;
  bool overflow = false;
  for (int i = 191; i >= 0; i--) {
    unsigned bit = i >= 64 ? (unsigned)((num >> (i - 64)) & 1) : 0;
    bool carry = (r >> 127) != 0;
    r = (r << 1) | bit;
    if (q >> 127) overflow = true;
    q <<= 1;
    if (carry || r >= d) {
      r -= d; /* wraps correctly when carry: the true remainder was r + 2^128 */
      q |= 1;
    }
  }
  *q_out = q;
  return !overflow;
}

ag_fx64 ag_fx64_safe_div(ag_fx64 a, ag_fx64 b) {
  if (b == 0) return 0;
  bool neg = (a < 0) != (b < 0);
  unsigned __int128 ua = a < 0 ? -(unsigned __int128)a : (unsigned __int128)a;
  unsigned __int128 ub = b < 0 ? -(unsigned __int128)b : (unsigned __int128)b;
  unsigned __int128 q;
  if (!udiv_shl64(ua, ub, &q)) return 0;
  if (neg) {
    if (q > (unsigned __int128)I128_MAX + 1) return 0;
    return (ag_fx64)(0 - q);
  }
  if (q > (unsigned __int128)I128_MAX) return 0;
  return (ag_fx64)q;
}

ag_fx ag_fx64_to_fx(ag_fx64 a) {
  ag_fx64 q = a >> 32; /* arithmetic: floor */
  if (q > INT64_MAX) return AG_FX_MAX;
  if (q < INT64_MIN) return AG_FX_MIN;
  return (ag_fx)q;
}

uint64_t ag_fx64_to_u64(ag_fx64 a) {
  if (a < 0) return 0;
  return (uint64_t)(a >> 64); /* a < 2^127, so the integer part fits */
}
