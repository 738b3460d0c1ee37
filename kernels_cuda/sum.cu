/* Sum of all elements:  out[0] = sum_i in_i;  backward: din_i = dout[0].
 *
 * Forward in two passes, deterministic (no atomics): P blocks (P = n / 4096 rounded
 * up, clamped to 1..SUM_MAX_PARTIALS) each reduce a grid-strided share of in into
 * one partial in the scratch region; then one block reduces the P partials. Within
 * a thread the running sum is Kahan-compensated; across threads the order is a
 * fixed warp-shuffle tree. Float throughout. E.g. 128x64x28x28 = 6.4M elements:
 * 1024 blocks x 256 threads, ~24 elements per thread. Twin of kernels_cl/sum.cl. */
#include "cuda.h"

static_assert(FM_CUDA_THREADS % 32 == 0 && FM_CUDA_THREADS <= 1024, "block = whole warps");

#define SUM_PER_THREAD 16
#define SUM_MAX_PARTIALS 1024

/* part[block] = sum of in[i], i = global thread id + k * total threads < n. */
static __global__ void sum_partial_kernel(float *part, const float *in, long long n)
{
    __shared__ float sh[FM_CUDA_THREADS / 32];
    long long stride = (long long)gridDim.x * FM_CUDA_THREADS;
    float acc = 0.0f, comp = 0.0f;
    for (long long i = (long long)blockIdx.x * FM_CUDA_THREADS + threadIdx.x; i < n; i += stride) {
        float y = in[i] - comp, t = acc + y;
        comp = (t - acc) - y;
        acc = t;
    }
    acc = fm_cuda_block_sum(acc, sh);
    if (threadIdx.x == 0)
        part[blockIdx.x] = acc;
}

/* out[0] = sum of part[0..np); one block. */
static __global__ void sum_final_kernel(float *out, const float *part, int np)
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
        out[0] = acc;
}

static __global__ void sum_bwd_kernel(float *din, const float *dout, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    din[i] = dout[0];
}

/* t: out[1], in */
extern "C" fm_status fm_cuda_sum_fwd(fm_backend *be, const fm_call *c)
{
    fm_cuda *cu = fm_cuda_of(be);
    long long n = fm_tensor_numel(&c->t[1]);
    long long np = (n + (long long)FM_CUDA_THREADS * SUM_PER_THREAD - 1) /
                   ((long long)FM_CUDA_THREADS * SUM_PER_THREAD);
    if (np < 1)
        np = 1;
    if (np > SUM_MAX_PARTIALS)
        np = SUM_MAX_PARTIALS;
    if ((size_t)np * sizeof(float) > cu->scratch_bytes)
        return fm_fail(be, FM_ERR_ARENA, "cuda: sum_fwd: scratch of %zu bytes too small",
                       cu->scratch_bytes);
    float *part = fm_cuda_scratch(be, 0);
    /* np blocks, then one */
    sum_partial_kernel<<<fm_cuda_blocks(np * FM_CUDA_THREADS), FM_CUDA_THREADS, 0, cu->stream>>>(
        part, fm_cuda_f32(&c->t[1]), n);
    fm_status s = fm_cuda_launched(be, "sum_fwd partial");
    if (s != FM_OK)
        return s;
    sum_final_kernel<<<fm_cuda_blocks(FM_CUDA_THREADS), FM_CUDA_THREADS, 0, cu->stream>>>(
        fm_cuda_f32(&c->t[0]), part, (int)np);
    return fm_cuda_launched(be, "sum_fwd final");
}

/* t: din, dout[1] */
extern "C" fm_status fm_cuda_sum_bwd(fm_backend *be, const fm_call *c)
{
    long long n = fm_tensor_numel(&c->t[0]);
    sum_bwd_kernel<<<fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream>>>(
        fm_cuda_f32(&c->t[0]), fm_cuda_f32(&c->t[1]), n);
    return fm_cuda_launched(be, "sum_bwd");
}
