/* Exponential moving average of the weights:  ema = decay ema + (1 - decay) param
 * (decay = f0). One thread per element; keep = 1 - decay is rounded to float once,
 * on the host, exactly as kernels_ref/ema.c does. Twin of kernels_cl/ema.cl. */
#include "cuda.h"

static __global__ void ema_kernel(float *ema, const float *param, float decay, float keep,
                                  long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float e = ema[i], p = param[i];
    ema[i] = decay * e + keep * p;
}

/* t: ema, param   f0 decay */
extern "C" fm_status fm_cuda_ema(fm_backend *be, const fm_call *c)
{
    long long n = fm_tensor_numel(&c->t[0]);
    float decay = c->f[0], keep = 1.0f - decay;
    FM_CUDA_LAUNCH(ema_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(&c->t[0]), fm_cuda_f32(&c->t[1]), decay, keep, n);
    return fm_cuda_launched(be, "ema");
}
