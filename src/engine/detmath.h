/*
 * detmath.h — deterministic elementary functions and the counter-based PRNG of the engine.
 *
 * libm's expf/sinf/cosf/powf are not specified bit for bit and differ between libm versions
 * and CPUs, so a validator on another machine could compute another logit. Everything here
 * uses only IEEE-754 operations that are correctly rounded everywhere (+, -, *, /, sqrt, fma)
 * and integer bit manipulation, so every function returns the same bits on every machine.
 * Accuracy: ag_expf within 2 ulp; the double versions within a few ulp of double, which is
 * far below float precision (they feed float tables such as RoPE's).
 *
 * The PRNG is Philox-4x32-10 (Salmon et al., SC'11): a keyed bijection of a 128-bit counter,
 * so draw i of stream s for seed k is random access, never depends on earlier draws, and is the
 * same for the sampler of a miner and of a validator.
 */
#ifndef AG_ENGINE_DETMATH_H
#define AG_ENGINE_DETMATH_H

#include <stdint.h>

/* e^x in float. Results below FLT_MIN are flushed to +0 (x < -87.33654); x > 88.72283 gives
 * +inf; NaN gives NaN. */
float ag_expf(float x);
/* Double precision e^x, ln x (x > 0), sin and cos (|x| < 2^20), all deterministic. */
double ag_exp(double x);
double ag_ln(double x);
void ag_sincos(double x, double *s, double *c);

/* IEEE binary16 <-> binary32: exact widening; narrowing rounds to nearest even. */
float ag_f16_to_f32(uint16_t h);
uint16_t ag_f32_to_f16(float f);

/* Philox-4x32-10: out = philox(key = seed, counter = (c0, c1)). */
void ag_philox(uint64_t seed, uint64_t c0, uint64_t c1, uint32_t out[4]);
/* A uniform float in [0, 1) with 24 random bits, from draw (c0, c1) of seed. */
float ag_philox_uniform(uint64_t seed, uint64_t c0, uint64_t c1);
/* A uniform integer in [0, n) (n > 0) without modulo bias, from draw (c0, c1) of seed. */
uint64_t ag_philox_below(uint64_t seed, uint64_t c0, uint64_t c1, uint64_t n);
/* A standard normal float from draw (c0, c1) (Box-Muller over deterministic log/sincos). */
float ag_philox_normal(uint64_t seed, uint64_t c0, uint64_t c1);

#endif
