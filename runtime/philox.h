/* Philox4x32-10 (Salmon, Moraes, Dror, Shaw, SC'11 "Parallel random numbers: as
 * easy as 1, 2, 3"), single source for C, CUDA and OpenCL C, so that every backend
 * produces the same bits for the same key and counter. Known answers: tests/
 * test_rng.c checks the published Random123 vectors (kat_vectors).
 *
 * One round:  (L0, R0) = mulhilo(M0, c0), (L1, R1) = mulhilo(M1, c2)
 *             c' = (R1 ^ c1 ^ k0, L1, R0 ^ c3 ^ k1, L0);  k += (W0, W1)
 *
 * fmrt's streams (docs in ops.h, RNG op): element e of stream s under seed S uses
 *   key = (S & 0xffffffff, S >> 32), counter = (e & 0xffffffff, e >> 32, s, 0)
 * and keeps only the first two output words r0, r1:
 *   uniform u = (r0 >> 8) * 2^-24                                in [0, 1)
 *   normal  z = sqrt(-2 ln u1) cos(2 pi u2), u1 = ((r0 >> 8) + 1) * 2^-24 in (0, 1],
 *                                            u2 = (r1 >> 8) * 2^-24
 * One counter per element costs a little generation speed and buys trivially
 * parallel, order-free generation on every backend. */
#ifndef FMRT_PHILOX_H
#define FMRT_PHILOX_H

#if defined(__OPENCL_VERSION__)
typedef uint fm_u32;
typedef ulong fm_u64;
#define FM_PHILOX_FN static inline
#elif defined(__CUDACC__)
#include <math.h>
#include <stdint.h>
typedef uint32_t fm_u32;
typedef uint64_t fm_u64;
#define FM_PHILOX_FN static inline __host__ __device__
#else
#include <math.h>
#include <stdint.h>
typedef uint32_t fm_u32;
typedef uint64_t fm_u64;
#define FM_PHILOX_FN static inline
#endif

typedef struct fm_philox4 {
    fm_u32 v[4];
} fm_philox4;

FM_PHILOX_FN fm_philox4 fm_philox4x32_10(fm_philox4 c, fm_u32 k0, fm_u32 k1)
{
    for (int r = 0; r < 10; r++) {
        fm_u64 p0 = (fm_u64)0xD2511F53u * c.v[0];
        fm_u64 p1 = (fm_u64)0xCD9E8D57u * c.v[2];
        fm_u32 hi0 = (fm_u32)(p0 >> 32), lo0 = (fm_u32)p0;
        fm_u32 hi1 = (fm_u32)(p1 >> 32), lo1 = (fm_u32)p1;
        fm_philox4 n;
        n.v[0] = hi1 ^ c.v[1] ^ k0;
        n.v[1] = lo1;
        n.v[2] = hi0 ^ c.v[3] ^ k1;
        n.v[3] = lo0;
        c = n;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c;
}

/* The two words fmrt uses for element e of stream s under seed. */
FM_PHILOX_FN fm_philox4 fm_philox_element(fm_u64 seed, fm_u64 e, fm_u32 s)
{
    fm_philox4 c;
    c.v[0] = (fm_u32)e;
    c.v[1] = (fm_u32)(e >> 32);
    c.v[2] = s;
    c.v[3] = 0;
    return fm_philox4x32_10(c, (fm_u32)seed, (fm_u32)(seed >> 32));
}

#define FM_PHILOX_INV24 (1.0f / 16777216.0f)

FM_PHILOX_FN float fm_philox_uniform(fm_u64 seed, fm_u64 e, fm_u32 s)
{
    fm_philox4 r = fm_philox_element(seed, e, s);
    return (float)(r.v[0] >> 8) * FM_PHILOX_INV24;
}

/* Box-Muller from the first two words. logf/sqrtf/cosf are each backend's own,
 * so normals agree to a few ulps across backends, not bit for bit; the uniform
 * words they start from are identical. 2 pi is rounded to float once, here. */
#if defined(__OPENCL_VERSION__)
#define FM_PHILOX_LOG log
#define FM_PHILOX_SQRT sqrt
#define FM_PHILOX_COS cos
#else
#define FM_PHILOX_LOG logf
#define FM_PHILOX_SQRT sqrtf
#define FM_PHILOX_COS cosf
#endif
#define FM_PHILOX_TWO_PI 6.28318530717958647692f

FM_PHILOX_FN float fm_philox_normal(fm_u64 seed, fm_u64 e, fm_u32 s)
{
    fm_philox4 r = fm_philox_element(seed, e, s);
    float u1 = (float)((r.v[0] >> 8) + 1u) * FM_PHILOX_INV24;
    float u2 = (float)(r.v[1] >> 8) * FM_PHILOX_INV24;
    return FM_PHILOX_SQRT(-2.0f * FM_PHILOX_LOG(u1)) * FM_PHILOX_COS(FM_PHILOX_TWO_PI * u2);
}

#endif
