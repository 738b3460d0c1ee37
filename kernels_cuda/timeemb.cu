/* Sinusoidal time embedding of t[N] into out[N,D], half = D/2 (D even, >= 4):
 *
 *   f_i = exp(-ln(10000) i / (half - 1)),  a_i = 1000 t f_i,  i = 0..half-1
 *   out[n] = [sin a_0 .. sin a_{half-1}, cos a_0 .. cos a_{half-1}]
 *   dt[n]  = sum_i 1000 f_i (cos a_i dout[n,i] - sin a_i dout[n,half+i])    (=)
 *
 * Precision choice: f_i, a_i, sin and cos are computed in DOUBLE, with the same
 * expression order as kernels_ref/timeemb.c. a_0 = 1000 t reaches 1000 rad, where a
 * float angle keeps only ~6e-5 rad, i.e. errors of ~1e-4 in sin/cos; in double the
 * device matches the reference to the final float rounding. The cost is N x D
 * double sincos (e.g. 128 x 256), negligible even at consumer GPUs' 1/64 FP64 rate.
 *
 * Forward: one thread per (n, i), writing both halves. Backward: one block per
 * sample; each thread accumulates a strided share of i in double (the terms reach
 * 1000 |dout| with cancellation between them), then a fixed double warp-shuffle
 * tree: deterministic, no atomics. Twin of kernels_cl/timeemb.cl. */
#include "cuda.h"

static_assert(FM_CUDA_THREADS % 32 == 0 && FM_CUDA_THREADS <= 1024, "block = whole warps");

static __device__ double timeemb_freq(long long i, long long half)
{
    return exp(-log(10000.0) * (double)i / (double)(half - 1));
}

/* One thread per (n, i); n_items = N * half. */
static __global__ void timeemb_fwd_kernel(float *out, const float *t, long long half,
                                          long long n_items)
{
    long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n_items)
        return;
    long long n = k / half, i = k - n * half;
    double a = 1000.0 * t[n] * timeemb_freq(i, half);
    double s, co;
    sincos(a, &s, &co);
    out[n * 2 * half + i] = (float)s;
    out[n * 2 * half + half + i] = (float)co;
}

/* One block per sample (gridDim.x = N). */
static __global__ void timeemb_bwd_kernel(float *dt, const float *dout, const float *t,
                                          long long half)
{
    __shared__ double sh[FM_CUDA_THREADS / 32];
    long long n = blockIdx.x;
    const float *g = dout + n * 2 * half;
    double tn = t[n], acc = 0.0;
    for (long long i = threadIdx.x; i < half; i += FM_CUDA_THREADS) {
        double f = timeemb_freq(i, half);
        double a = 1000.0 * tn * f;
        double s, co;
        sincos(a, &s, &co);
        acc += 1000.0 * f * (co * g[i] - s * g[half + i]);
    }
    acc = fm_cuda_block_sum(acc, sh);
    if (threadIdx.x == 0)
        dt[n] = (float)acc;
}

/* t: out[N,D], t[N] */
extern "C" fm_status fm_cuda_timeemb_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0];
    long long half = out->shape[1] / 2, items = out->shape[0] * half;
    FM_CUDA_LAUNCH(timeemb_fwd_kernel, fm_cuda_blocks(items), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(out), fm_cuda_f32(&c->t[1]), half, items);
    return fm_cuda_launched(be, "timeemb_fwd");
}

/* t: dt[N], dout[N,D], t[N] */
extern "C" fm_status fm_cuda_timeemb_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *dout = &c->t[1];
    long long N = dout->shape[0];
    /* one block per sample */
    FM_CUDA_LAUNCH(timeemb_bwd_kernel, fm_cuda_blocks(N * FM_CUDA_THREADS), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(fm_cuda_f32(&c->t[0]), fm_cuda_f32(dout),
                                                   fm_cuda_f32(&c->t[2]), dout->shape[1] / 2);
    return fm_cuda_launched(be, "timeemb_bwd");
}
