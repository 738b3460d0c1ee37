/* Nearest-neighbour 2x upsampling of NCHW images, p over the N*C planes:
 *
 *   out[p, y, x] = in[p, y/2, x/2]                       out [N,C,2H,2W], in [N,C,H,W]
 *   din[p, y, x] = (dout[p,2y,2x] + dout[p,2y,2x+1]) + (dout[p,2y+1,2x] + dout[p,2y+1,2x+1])
 *
 * Gather form, one thread per written element (no atomics); the backward adds the
 * 2x2 block in the reference's order, so it matches kernels_ref bit for bit.
 * Twin of kernels_cl/upsample2x.cl. */
#include "cuda.h"

/* One thread per out element; n = planes * 2h * 2w. */
static __global__ void upsample2x_fwd_kernel(float *out, const float *in, long long h,
                                             long long w, long long n)
{
    long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= n)
        return;
    long long wo = 2 * w, plane_out = 4 * h * w;
    long long p = o / plane_out, r = o - p * plane_out;
    long long y = r / wo, x = r - y * wo;
    out[o] = in[p * h * w + (y / 2) * w + x / 2];
}

/* One thread per din element; n = planes * h * w. */
static __global__ void upsample2x_bwd_kernel(float *din, const float *dout, long long h,
                                             long long w, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    long long wo = 2 * w, plane = h * w;
    long long p = i / plane, r = i - p * plane;
    long long y = r / w, x = r - y * w;
    const float *blk = dout + p * 4 * plane + (2 * y) * wo + 2 * x;
    din[i] = (blk[0] + blk[1]) + (blk[wo] + blk[wo + 1]);
}

/* t: out[N,C,2H,2W], in[N,C,H,W] */
extern "C" fm_status fm_cuda_upsample2x_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *in = &c->t[1];
    long long n = fm_tensor_numel(&c->t[0]);
    FM_CUDA_LAUNCH(upsample2x_fwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(&c->t[0]), fm_cuda_f32(in), in->shape[2], in->shape[3], n);
    return fm_cuda_launched(be, "upsample2x_fwd");
}

/* t: din[N,C,H,W], dout[N,C,2H,2W] */
extern "C" fm_status fm_cuda_upsample2x_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *din = &c->t[0];
    long long n = fm_tensor_numel(din);
    FM_CUDA_LAUNCH(upsample2x_bwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(din), fm_cuda_f32(&c->t[1]), din->shape[2], din->shape[3], n);
    return fm_cuda_launched(be, "upsample2x_bwd");
}
