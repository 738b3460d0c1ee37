/* SiLU: out = x sigmoid(x);  backward: din = dout s (1 + x (1 - s)), s = sigmoid(x).
 * Elementwise, one thread per element; out may alias in. Twin of kernels_cl/silu.cl. */
#include "cuda.h"

__global__ void silu_fwd_kernel(float *out, const float *in, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    out[i] = fm_cuda_silu(in[i]);
}

__global__ void silu_bwd_kernel(float *din, const float *dout, const float *in, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = in[i];
    float s = 1.0f / (1.0f + expf(-x));
    din[i] = dout[i] * s * (1.0f + x * (1.0f - s));
}

extern "C" fm_status fm_cuda_silu_fwd(fm_backend *be, const fm_call *c)
{
    long long n = fm_tensor_numel(&c->t[0]);
    FM_CUDA_LAUNCH(silu_fwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(&c->t[0]), fm_cuda_f32(&c->t[1]), n);
    return fm_cuda_launched(be, "silu_fwd");
}

extern "C" fm_status fm_cuda_silu_bwd(fm_backend *be, const fm_call *c)
{
    long long n = fm_tensor_numel(&c->t[0]);
    FM_CUDA_LAUNCH(silu_bwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(&c->t[0]), fm_cuda_f32(&c->t[1]), fm_cuda_f32(&c->t[2]), n);
    return fm_cuda_launched(be, "silu_bwd");
}
