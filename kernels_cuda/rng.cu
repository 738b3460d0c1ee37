/* Counter-based random numbers (runtime/philox.h, the single source every backend
 * compiles): element e = flat index of out, stream s = low 32 bits of u1, seed =
 * u0; Philox4x32-10 with key (seed lo, seed hi) and counter (u2 + e lo, hi, s, 0),
 * u2 the first counter (0 but for a data-parallel rank's slice).
 *
 *   uniform  u = (r0 >> 8) 2^-24
 *   normal   z = sqrt(-2 ln u1) cos(2 pi u2),  u1 = ((r0 >> 8) + 1) 2^-24, u2 = (r1 >> 8) 2^-24
 *
 * One thread per element, no state: the uniform bits equal the ref backend's
 * exactly; normals differ only by the device's logf/sqrtf/cosf (a few ulps).
 * Twin of kernels_cl/rng.cl. */
#include "philox.h"
#include "cuda.h"

static __global__ void rng_uniform_kernel(float *out, long long n, unsigned long long seed,
                                          unsigned stream, unsigned long long first)
{
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= n)
        return;
    out[e] = fm_philox_uniform(seed, first + (fm_u64)e, stream);
}

static __global__ void rng_normal_kernel(float *out, long long n, unsigned long long seed,
                                         unsigned stream, unsigned long long first)
{
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= n)
        return;
    out[e] = fm_philox_normal(seed, first + (fm_u64)e, stream);
}

/* t: out (f32)   i0 FM_RNG_UNIFORM / FM_RNG_NORMAL, u0 seed, u1 stream, u2 first counter */
extern "C" fm_status fm_cuda_rng(fm_backend *be, const fm_call *c)
{
    long long n = fm_tensor_numel(&c->t[0]);
    float *out = fm_cuda_f32(&c->t[0]);
    unsigned long long seed = c->u[0];
    unsigned stream = (unsigned)c->u[1];
    unsigned long long first = c->u[2];
    cudaStream_t st = fm_cuda_of(be)->stream;
    switch (c->i[0]) {
    case FM_RNG_UNIFORM:
        FM_CUDA_LAUNCH(rng_uniform_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, st)(out, n, seed,
                                                                               stream, first);
        return fm_cuda_launched(be, "rng uniform");
    case FM_RNG_NORMAL:
        FM_CUDA_LAUNCH(rng_normal_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, st)(out, n, seed,
                                                                              stream, first);
        return fm_cuda_launched(be, "rng normal");
    default: return fm_fail(be, FM_ERR_ARG, "cuda: rng: unknown distribution %d", (int)c->i[0]);
    }
}
