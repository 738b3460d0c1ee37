/* Mean squared error, the flow-matching loss (a, b of any equal element count n):
 *
 *   loss = (1/n) sum_i (a_i - b_i)^2
 *   da_i = s (a_i - b_i),  db_i = -da_i,   s = 2 dloss / n  (f0 dloss; either absent)
 *
 * Forward: sum.cu's deterministic two-pass reduction over the squared differences,
 * divided by n in double (fm_cuda_reduce_sum). Backward: one thread per element, s
 * rounded to float on the host exactly as kernels_ref/mse.c does. Twin of kernels_cl/mse.cl. */
#include "cuda.h"

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
    return fm_cuda_reduce_sum(be, fm_cuda_f32(&c->t[0]), fm_cuda_f32(&c->t[1]), fm_cuda_f32(&c->t[2]),
                              fm_tensor_numel(&c->t[1]), 1, "mse_fwd");
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
    FM_CUDA_LAUNCH(mse_bwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        da, db, fm_cuda_f32(&c->t[2]), fm_cuda_f32(&c->t[3]), s, n);
    return fm_cuda_launched(be, "mse_bwd");
}
