/* Sum of all elements:  out[0] = sum_i in_i;  backward: din_i = dout[0].
 *
 * Forward in two passes, deterministic (no atomics): P blocks (P = n / 4096 rounded
 * up, clamped to 1..SUM_MAX_PARTIALS) each reduce a grid-strided share of in into
 * one partial in the scratch region; then one block reduces the P partials. Within
 * a thread the running sum is Kahan-compensated; across threads the order is a
 * fixed warp-shuffle tree. Float throughout. E.g. 128x64x28x28 = 6.4M elements:
 * 1024 blocks x 256 threads, ~24 elements per thread. The same two passes serve
 * MSE's forward: with b the terms are (in_i - b_i)^2 and the total is divided by n
 * (fm_cuda_reduce_sum). Twin of kernels_cl/sum.cl. */
#include "cuda.h"

static_assert(FM_CUDA_THREADS % 32 == 0 && FM_CUDA_THREADS <= 1024, "block = whole warps");

#define SUM_PER_THREAD 16
#define SUM_MAX_PARTIALS 1024

/* part[block] = sum of term(i), i = global thread id + k * total threads < n;
 * term(i) = in[i], or (in[i] - b[i])^2 when b is not NULL. */
static __global__ void sum_partial_kernel(float *part, const float *in, const float *b, long long n)
{
    __shared__ float sh[FM_CUDA_THREADS / 32];
    long long stride = (long long)gridDim.x * FM_CUDA_THREADS;
    float acc = 0.0f, comp = 0.0f;
    for (long long i = (long long)blockIdx.x * FM_CUDA_THREADS + threadIdx.x; i < n; i += stride) {
        float x = in[i];
        if (b) {
            float d = x - b[i];
            x = d * d;
        }
        float y = x - comp, t = acc + y;
        comp = (t - acc) - y;
        acc = t;
    }
    acc = fm_cuda_block_sum(acc, sh);
    if (threadIdx.x == 0)
        part[blockIdx.x] = acc;
}

/* out[0] = (sum of part[0..np)) / div (in double, as kernels_ref/mse.c); one block. */
static __global__ void sum_final_kernel(float *out, const float *part, int np, double div)
{
    __shared__ float sh[FM_CUDA_THREADS / 32];
    float acc = 0.0f, comp = 0.0f;
    for (int i = threadIdx.x; i < np; i += FM_CUDA_THREADS) {
        float y = part[i] - comp, t = acc + y;
        comp = (t - acc) - y;
        acc = t;
    }
    acc = fm_cuda_block_sum(acc, sh);
    if (threadIdx.x == 0)
        out[0] = div == 1.0 ? acc : (float)((double)acc / div);
}

static __global__ void sum_bwd_kernel(float *din, const float *dout, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    din[i] = dout[0];
}

fm_status fm_cuda_reduce_sum(fm_backend *be, float *out, const float *a, const float *b, long long n,
                             int mean, const char *what)
{
    fm_cuda *cu = fm_cuda_of(be);
    long long np = (n + (long long)FM_CUDA_THREADS * SUM_PER_THREAD - 1) /
                   ((long long)FM_CUDA_THREADS * SUM_PER_THREAD);
    if (np < 1)
        np = 1;
    if (np > SUM_MAX_PARTIALS)
        np = SUM_MAX_PARTIALS;
    if ((size_t)np * sizeof(float) > cu->scratch_bytes)
        return fm_fail(be, FM_ERR_ARENA, "cuda: %s: scratch of %zu bytes too small", what,
                       cu->scratch_bytes);
    float *part = fm_cuda_scratch(be, 0);
    /* np blocks, then one */
    FM_CUDA_LAUNCH(sum_partial_kernel, fm_cuda_blocks(np * FM_CUDA_THREADS), FM_CUDA_THREADS, 0, cu->stream)(
        part, a, b, n);
    FM_TRY(fm_cuda_launched(be, what));
    return fm_cuda_sum_final(be, out, part, np, mean ? (double)n : 1.0, what);
}

fm_status fm_cuda_sum_final(fm_backend *be, float *out, const float *part, long long np,
                            double div, const char *what)
{
    FM_CUDA_LAUNCH(sum_final_kernel, 1, FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        out, part, (int)np, div);
    return fm_cuda_launched(be, what);
}

/* t: out[1], in */
extern "C" fm_status fm_cuda_sum_fwd(fm_backend *be, const fm_call *c)
{
    return fm_cuda_reduce_sum(be, fm_cuda_f32(&c->t[0]), fm_cuda_f32(&c->t[1]), NULL,
                              fm_tensor_numel(&c->t[1]), 0, "sum_fwd");
}

/* t: din, dout[1] */
extern "C" fm_status fm_cuda_sum_bwd(fm_backend *be, const fm_call *c)
{
    long long n = fm_tensor_numel(&c->t[0]);
    FM_CUDA_LAUNCH(sum_bwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(&c->t[0]), fm_cuda_f32(&c->t[1]), n);
    return fm_cuda_launched(be, "sum_bwd");
}
