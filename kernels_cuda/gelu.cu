/* GELU, form 0 (tanh): out = 0.5 x (1 + th), th = tanh(k (x + c x^3)), k = sqrt(2/pi),
 * c = 0.044715;  din = dout (0.5 (1 + th) + 0.5 x (1 - th^2) k (1 + 3c x^2)).
 * Form 1 (quick): out = x s, din = dout (s + 1.702 x s (1 - s)), s = 1 / (1 + e^(-1.702 x)).
 * th is computed as 1 - 2 / (1 + e^(2a)), which gives exactly +-1 once e^(2a) overflows
 * or underflows: the derivative multiplies an error of th by about x a' (875 at
 * x = -20), and PoCL's tanh(-301) is one ulp short of -1 (NMSE 8e-10 against the
 * reference); the cpu backend uses the same form.
 * Elementwise, one thread per element; out may alias in. Twin of kernels_cl/gelu.cl. */
#include "cuda.h"

#define GELU_K 0.7978845608028654f
#define GELU_C 0.044715f
#define GELU_Q 1.702f

static __device__ inline float gelu_tanh(float x)
{
    return 1.0f - 2.0f / (1.0f + expf(2.0f * GELU_K * (x + GELU_C * x * x * x)));
}

static __device__ inline float gelu_quick_s(float x)
{
    return 1.0f / (1.0f + expf(-GELU_Q * x));
}

static __global__ void gelu_fwd_kernel(float *out, const float *in, long long n, int form)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = in[i];
    out[i] = form == 1 ? x * gelu_quick_s(x) : 0.5f * x * (1.0f + gelu_tanh(x));
}

static __global__ void gelu_bwd_kernel(float *din, const float *dout, const float *in, long long n,
                                       int form)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = in[i];
    if (form == 1) {
        float s = gelu_quick_s(x);
        din[i] = dout[i] * (s + GELU_Q * x * s * (1.0f - s));
        return;
    }
    float th = gelu_tanh(x);
    float da = GELU_K * (1.0f + 3.0f * GELU_C * x * x);
    din[i] = dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * da);
}

extern "C" fm_status fm_cuda_gelu_fwd(fm_backend *be, const fm_call *c)
{
    long long n = fm_tensor_numel(&c->t[0]);
    FM_CUDA_LAUNCH(gelu_fwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(&c->t[0]), fm_cuda_f32(&c->t[1]), n, c->i[0]);
    return fm_cuda_launched(be, "gelu_fwd");
}

extern "C" fm_status fm_cuda_gelu_bwd(fm_backend *be, const fm_call *c)
{
    long long n = fm_tensor_numel(&c->t[0]);
    FM_CUDA_LAUNCH(gelu_bwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(&c->t[0]), fm_cuda_f32(&c->t[1]), fm_cuda_f32(&c->t[2]), n, c->i[0]);
    return fm_cuda_launched(be, "gelu_bwd");
}
