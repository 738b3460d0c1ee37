/* Per-sample, per-channel bias broadcast over the image plane, p over the N*C planes
 * of L = H*W floats each:
 *
 *   out[p, i] = in[p, i] + bias[p]          (out may alias in)
 *   dbias[p]  = sum_i dout[p, i]            (=; din = dout needs no kernel)
 *
 * Forward: one thread per element. Backward: one block of FM_CUDA_THREADS per
 * plane; each thread sums a strided share of the plane (Kahan-compensated), then a
 * fixed warp-shuffle tree adds the 256 partials: deterministic, no atomics.
 * Twin of kernels_cl/bias_add.cl. */
#include "cuda.h"

static_assert(FM_CUDA_THREADS % 32 == 0 && FM_CUDA_THREADS <= 1024, "block = whole warps");

/* One thread per element; n = planes * plane. */
static __global__ void bias_add_fwd_kernel(float *out, const float *in, const float *bias,
                                           long long plane, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    out[i] = in[i] + bias[i / plane];
}

/* One block per plane (gridDim.x = planes). */
static __global__ void bias_add_bwd_kernel(float *dbias, const float *dout, long long plane)
{
    __shared__ float sh[FM_CUDA_THREADS / 32];
    const float *src = dout + (long long)blockIdx.x * plane;
    float acc = 0.0f, comp = 0.0f;
    for (long long i = threadIdx.x; i < plane; i += FM_CUDA_THREADS) {
        float y = src[i] - comp, t = acc + y;
        comp = (t - acc) - y;
        acc = t;
    }
    acc = fm_cuda_block_sum(acc, sh);
    if (threadIdx.x == 0)
        dbias[blockIdx.x] = acc;
}

/* t: out[N,C,H,W], in[N,C,H,W], bias[N,C] */
extern "C" fm_status fm_cuda_bias_add_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0];
    long long n = fm_tensor_numel(out), plane = out->shape[2] * out->shape[3];
    FM_CUDA_LAUNCH(bias_add_fwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(out), fm_cuda_f32(&c->t[1]), fm_cuda_f32(&c->t[2]), plane, n);
    return fm_cuda_launched(be, "bias_add_fwd");
}

/* t: dbias[N,C], dout[N,C,H,W] */
extern "C" fm_status fm_cuda_bias_add_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *dout = &c->t[1];
    long long planes = dout->shape[0] * dout->shape[1], plane = dout->shape[2] * dout->shape[3];
    /* one block per plane: planes * FM_CUDA_THREADS threads */
    FM_CUDA_LAUNCH(bias_add_bwd_kernel, fm_cuda_blocks(planes * FM_CUDA_THREADS), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(fm_cuda_f32(&c->t[0]), fm_cuda_f32(dout),
                                                    plane);
    return fm_cuda_launched(be, "bias_add_bwd");
}
