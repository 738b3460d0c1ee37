/* Vectorisable float maths for the cpu kernels: branch-free, no calls, so that gcc and
 * clang turn the loops that use them into SIMD code.
 *
 * fm_cpu_expf (Cephes expf): x = n ln2 + r with n = round(x / ln2), |r| <= ln2/2;
 * e^r by a degree-6 polynomial (relative error ~1.5 ulp); 2^n by building the float's
 * exponent field. x is clamped to [-87, 88] first, so n + 127 stays in 1..254 and the
 * exponent shift is defined. Above ln(FLT_MAX) = 88.7228 the result is +inf, as expf
 * gives (a saturated e^88 = 1.65e38 there would make silu(x) = x / (1 + e^-x) of
 * x = -3e38 come out as -2 instead of -0); between 88 and 88.7228 it is e^88, and
 * below -87 it is e^-87 = 1.6e-38 instead of a subnormal or 0: both are absorbed by
 * the 1 + e of a sigmoid. The clamps are written so that a NaN fails their test and
 * takes the bound (x < 88 is false for NaN); the NaN is put back at the end (x != x
 * selects it), so e^NaN = NaN propagates as expf's does. The clamps and the blends
 * they become vectorise only without -ftrapping-math (kernels_cpu is built with
 * -fno-trapping-math: no code here reads the floating-point exception flags). */
#ifndef FMRT_KERNELS_CPU_VMATH_H
#define FMRT_KERNELS_CPU_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Before a loop whose iterations are independent although the compiler cannot prove
 * that its pointers do not overlap (many output streams into one scratch buffer). */
#if defined(__clang__)
#define FM_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define FM_IVDEP _Pragma("GCC ivdep")
#else
#define FM_IVDEP
#endif

static inline float fm_cpu_expf(float x)
{
    const float in = x;
    x = x < 88.0f ? x : 88.0f;   /* NaN -> 88 */
    x = x > -87.0f ? x : -87.0f;
    /* round to nearest by the 1.5 * 2^23 trick (|t| < 2^22; no floorf call, so the
     * loop stays vectorisable without SSE4.1) */
    float t = x * 1.44269504088896341f;
    float fn = (t + 12582912.0f) - 12582912.0f;
    int32_t n = (int32_t)fn;
    float r = x - fn * 0.693359375f; /* ln2 = C1 + C2, C1 exact in few bits */
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits = (uint32_t)(n + 127) << 23; /* n + 127 in 1..254 */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float e = in > 88.7228394f ? INFINITY : p * scale;
    return in != in ? in : e;
}

/* SiLU of one value with that exp: SILU_FWD and GROUPNORM_FWD's SiLU post-op share it. */
static inline float fm_cpu_silu(float x) { return x / (1.0f + fm_cpu_expf(-x)); }

/* x rounded to bfloat16 (float32's top 16 bits: 8 exponent bits, 7 mantissa bits, a
 * relative error of at most 2^-9), to nearest, ties to even: add 0x7fff plus the lowest
 * kept bit, then truncate. A NaN stays a (quiet) NaN; values that round past FLT_MAX
 * become infinity, as in the hardware's VCVTNEPS2BF16. */
static inline uint16_t fm_cpu_to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint16_t r = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    return x != x ? (uint16_t)((u >> 16) | 0x40u) : r;
}

/* And back: a bfloat16 is a float32's top half, so widening is exact. */
static inline float fm_cpu_from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#endif
