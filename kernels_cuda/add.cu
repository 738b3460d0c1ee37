/* Elementwise sum:  out = a + b;  backward: da = dout, db = dout (either absent).
 * One thread per element. Every thread loads its inputs before it stores, so out
 * may alias a or b, and a gradient may even alias dout (the copy is then a no-op
 * store of the same value). Twin of kernels_cl/add.cl. */
#include "cuda.h"

static __global__ void add_fwd_kernel(float *out, const float *a, const float *b, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = a[i], y = b[i];
    out[i] = x + y;
}

/* da, db may be NULL (absent); at least one is present. */
static __global__ void add_bwd_kernel(float *da, float *db, const float *dout, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float g = dout[i];
    if (da)
        da[i] = g;
    if (db)
        db[i] = g;
}

/* t: out, a, b */
extern "C" fm_status fm_cuda_add_fwd(fm_backend *be, const fm_call *c)
{
    long long n = fm_tensor_numel(&c->t[0]);
    FM_CUDA_LAUNCH(add_fwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(&c->t[0]), fm_cuda_f32(&c->t[1]), fm_cuda_f32(&c->t[2]), n);
    return fm_cuda_launched(be, "add_fwd");
}

/* t: da?, db?, dout */
extern "C" fm_status fm_cuda_add_bwd(fm_backend *be, const fm_call *c)
{
    float *da = fm_tensor_present(&c->t[0]) ? fm_cuda_f32(&c->t[0]) : NULL;
    float *db = fm_tensor_present(&c->t[1]) ? fm_cuda_f32(&c->t[1]) : NULL;
    if (!da && !db)
        return FM_OK;
    long long n = fm_tensor_numel(&c->t[2]);
    FM_CUDA_LAUNCH(add_bwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        da, db, fm_cuda_f32(&c->t[2]), n);
    return fm_cuda_launched(be, "add_bwd");
}
