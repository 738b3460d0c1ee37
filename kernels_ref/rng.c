/* Counter-based random numbers (philox.h): element e (the flat index in out) of
 * stream s under seed S is Philox4x32-10 with key (S lo, S hi) and counter
 * (u2 + e lo, hi, s, 0), u2 the first counter (0 but for a data-parallel rank's
 * slice). Only the first two output words r0, r1 are used:
 *
 *   uniform  u = (r0 >> 8) 2^-24                                  in [0, 1)
 *   normal   z = sqrt(-2 ln u1) cos(2 pi u2),
 *            u1 = ((r0 >> 8) + 1) 2^-24 in (0, 1],  u2 = (r1 >> 8) 2^-24 in [0, 1)
 *
 * u1 > 0, so the log is finite and |z| <= sqrt(2 * 24 ln 2) ~ 5.77. Box-Muller's
 * second normal (the sine) is dropped so that every element owns one counter and
 * the result does not depend on how a backend splits the work.
 * i0 distribution, u0 seed (64 bits), u1 stream (low 32 bits used), u2 first counter. */
#include "philox.h"
#include "ref.h"

static void rng_uniform(float *out, int64_t n, uint64_t seed, uint32_t stream, uint64_t first)
{
    for (int64_t e = 0; e < n; e++)
        out[e] = fm_philox_uniform(seed, first + (uint64_t)e, stream);
}

static void rng_normal(float *out, int64_t n, uint64_t seed, uint32_t stream, uint64_t first)
{
    for (int64_t e = 0; e < n; e++)
        out[e] = fm_philox_normal(seed, first + (uint64_t)e, stream);
}

/* RNG: out (f32); i0 FM_RNG_UNIFORM / FM_RNG_NORMAL, u0 seed, u1 stream, u2 first counter */
fm_status fm_ref_rng(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0];
    int64_t n = fm_tensor_numel(out);
    uint64_t seed = c->u[0];
    uint32_t stream = (uint32_t)c->u[1];
    switch (c->i[0]) {
    case FM_RNG_UNIFORM:
        rng_uniform(fm_f32(out), n, seed, stream, c->u[2]);
        return FM_OK;
    case FM_RNG_NORMAL:
        rng_normal(fm_f32(out), n, seed, stream, c->u[2]);
        return FM_OK;
    default:
        return fm_fail(be, FM_ERR_ARG, "rng: unknown distribution %d", (int)c->i[0]);
    }
}
