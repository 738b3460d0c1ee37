/* Scaled sum:  out = a x + b y  (a = f0, b = f1);  backward: dx = a dout, dy = b dout.
 * One thread per element, inputs loaded before the store: out may alias x or y.
 * Either gradient may be absent. Twin of kernels_cl/axpby.cl. */
#include "cuda.h"

static __global__ void axpby_fwd_kernel(float *out, const float *x, const float *y, float a,
                                        float b, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float xv = x[i], yv = y[i];
    out[i] = a * xv + b * yv;
}

/* dx, dy may be NULL (absent); at least one is present. */
static __global__ void axpby_bwd_kernel(float *dx, float *dy, const float *dout, float a,
                                        float b, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float g = dout[i];
    if (dx)
        dx[i] = a * g;
    if (dy)
        dy[i] = b * g;
}

/* t: out, x, y   f0 a, f1 b */
extern "C" fm_status fm_cuda_axpby_fwd(fm_backend *be, const fm_call *c)
{
    long long n = fm_tensor_numel(&c->t[0]);
    FM_CUDA_LAUNCH(axpby_fwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(&c->t[0]), fm_cuda_f32(&c->t[1]), fm_cuda_f32(&c->t[2]), c->f[0], c->f[1], n);
    return fm_cuda_launched(be, "axpby_fwd");
}

/* t: dx?, dy?, dout   f0 a, f1 b */
extern "C" fm_status fm_cuda_axpby_bwd(fm_backend *be, const fm_call *c)
{
    float *dx = fm_tensor_present(&c->t[0]) ? fm_cuda_f32(&c->t[0]) : NULL;
    float *dy = fm_tensor_present(&c->t[1]) ? fm_cuda_f32(&c->t[1]) : NULL;
    if (!dx && !dy)
        return FM_OK;
    long long n = fm_tensor_numel(&c->t[2]);
    FM_CUDA_LAUNCH(axpby_bwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        dx, dy, fm_cuda_f32(&c->t[2]), c->f[0], c->f[1], n);
    return fm_cuda_launched(be, "axpby_bwd");
}
