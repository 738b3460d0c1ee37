/* Model output in [-1, 1] to pixel bytes, one thread per element:
 *
 *   out = round(clamp((in + 1) 127.5, 0, 255))          out u8, in f32
 *
 * As kernels_ref/quantize_u8.c: roundf after the clamp (halves away from zero,
 * 127.5 -> 128); NaN -> 0 because CUDA's fmaxf, like C's, returns the non-NaN
 * argument. Twin of kernels_cl/quantize_u8.cl. */
#include "cuda.h"

static __global__ void quantize_u8_kernel(unsigned char *out, const float *in, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float y = (in[i] + 1.0f) * 127.5f;
    y = fminf(fmaxf(y, 0.0f), 255.0f);
    out[i] = (unsigned char)roundf(y);
}

/* t: out (u8), in (f32) */
extern "C" fm_status fm_cuda_quantize_u8(fm_backend *be, const fm_call *c)
{
    long long n = fm_tensor_numel(&c->t[0]);
    FM_CUDA_LAUNCH(quantize_u8_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_u8(&c->t[0]), fm_cuda_f32(&c->t[1]), n);
    return fm_cuda_launched(be, "quantize_u8");
}
