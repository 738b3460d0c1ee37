/* Mean squared error, the flow-matching loss (a, b of any equal element count n):
 *
 *   loss = (1/n) sum_i (a_i - b_i)^2
 *   da_i = s (a_i - b_i),  db_i = -da_i,   s = 2 dloss / n  (f0 dloss; either absent)
 *
 * Forward in two passes like sum.cu, deterministic (no atomics): P blocks (n / 4096
 * rounded up, clamped to 1..MSE_MAX_PARTIALS) each reduce a grid-strided share of
 * the squared differences into one partial in scratch (Kahan within a thread, a
 * fixed warp-shuffle tree across threads); one block adds the P partials and
 * divides by n. Backward: one thread per element, s rounded to float on the host
 * exactly as kernels_ref/mse.c does. Twin of kernels_cl/mse.cl. */
#include "cuda.h"

static_assert(FM_CUDA_THREADS % 32 == 0 && FM_CUDA_THREADS <= 1024, "block = whole warps");

#define MSE_PER_THREAD 16
#define MSE_MAX_PARTIALS 1024

/* part[block] = sum of (a_i - b_i)^2, i = global thread id + k * total threads < n. */
static __global__ void mse_partial_kernel(float *part, const float *a, const float *b,
                                          long long n)
{
    __shared__ float sh[FM_CUDA_THREADS / 32];
    long long stride = (long long)gridDim.x * FM_CUDA_THREADS;
    float acc = 0.0f, comp = 0.0f;
    for (long long i = (long long)blockIdx.x * FM_CUDA_THREADS + threadIdx.x; i < n; i += stride) {
        float d = a[i] - b[i];
        float y = d * d - comp, t = acc + y;
        comp = (t - acc) - y;
        acc = t;
    }
    acc = fm_cuda_block_sum(acc, sh);
    if (threadIdx.x == 0)
        part[blockIdx.x] = acc;
}

/* loss[0] = (sum of part[0..np)) / n; one block. */
static __global__ void mse_final_kernel(float *loss, const float *part, int np, long long n)
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
        loss[0] = (float)((double)acc / (double)n);
}

/* da, db may be NULL (absent); s = 2 dloss / n. */
static __global__ void mse_bwd_kernel(float *da, float *db, const float *a, const float *b,
                                      float s, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float g = s * (a[i] - b[i]);
    if (da)
        da[i] = g;
    if (db)
        db[i] = -g;
}

/* t: loss[1], a, b */
extern "C" fm_status fm_cuda_mse_fwd(fm_backend *be, const fm_call *c)
{
    fm_cuda *cu = fm_cuda_of(be);
    long long n = fm_tensor_numel(&c->t[1]);
    long long np = (n + (long long)FM_CUDA_THREADS * MSE_PER_THREAD - 1) /
                   ((long long)FM_CUDA_THREADS * MSE_PER_THREAD);
    if (np < 1)
        np = 1;
    if (np > MSE_MAX_PARTIALS)
        np = MSE_MAX_PARTIALS;
    if ((size_t)np * sizeof(float) > cu->scratch_bytes)
        return fm_fail(be, FM_ERR_ARENA, "cuda: mse_fwd: scratch of %zu bytes too small",
                       cu->scratch_bytes);
    float *part = fm_cuda_scratch(be, 0);
    /* np blocks, then one */
    mse_partial_kernel<<<fm_cuda_blocks(np * FM_CUDA_THREADS), FM_CUDA_THREADS, 0, cu->stream>>>(
        part, fm_cuda_f32(&c->t[1]), fm_cuda_f32(&c->t[2]), n);
    fm_status s = fm_cuda_launched(be, "mse_fwd partial");
    if (s != FM_OK)
        return s;
    mse_final_kernel<<<fm_cuda_blocks(FM_CUDA_THREADS), FM_CUDA_THREADS, 0, cu->stream>>>(
        fm_cuda_f32(&c->t[0]), part, (int)np, n);
    return fm_cuda_launched(be, "mse_fwd final");
}

/* t: da?, db?, a, b   f0 dloss */
extern "C" fm_status fm_cuda_mse_bwd(fm_backend *be, const fm_call *c)
{
    float *da = fm_tensor_present(&c->t[0]) ? fm_cuda_f32(&c->t[0]) : NULL;
    float *db = fm_tensor_present(&c->t[1]) ? fm_cuda_f32(&c->t[1]) : NULL;
    if (!da && !db)
        return FM_OK;
    long long n = fm_tensor_numel(&c->t[2]);
    float s = 2.0f * c->f[0] / (float)n;
    mse_bwd_kernel<<<fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream>>>(
        da, db, fm_cuda_f32(&c->t[2]), fm_cuda_f32(&c->t[3]), s, n);
    return fm_cuda_launched(be, "mse_bwd");
}
