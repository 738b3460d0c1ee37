/* Tokens to image, p x p patches of C channels on a gh x gw grid (gw = W/p):
 *   img[b, c, i*p + pi, j*p + pj] = tok[b, i*gw + j, (pi*p + pj)*C + c]
 * Forward: one thread per image element; backward: one per token element (the inverse
 * gather). Both write contiguously. Twin of kernels_cl/unpatchify.cl. */
#include "cuda.h"

/* Offset within one sample of the token element of image element (c, y, x). */
static __device__ long long unpatchify_tok(int c, int y, int x, int C, int W, int p)
{
    return ((long long)(y / p) * (W / p) + x / p) * p * p * C + ((y % p) * p + x % p) * C + c;
}

static __global__ void unpatchify_fwd_kernel(float *out, const float *in, int C, int H, int W,
                                             int p, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    long long per = (long long)C * H * W, b = i / per;
    int e = (int)(i % per), x = e % W, y = e / W % H, c = e / (W * H);
    out[i] = in[b * per + unpatchify_tok(c, y, x, C, W, p)];
}

static __global__ void unpatchify_bwd_kernel(float *din, const float *dout, int C, int H, int W,
                                             int p, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    long long per = (long long)C * H * W, b = i / per;
    int e = (int)(i % per), P = p * p * C;
    int t = e / P, q = e % P, c = q % C, pi = q / C / p, pj = q / C % p;
    int y = t / (W / p) * p + pi, x = t % (W / p) * p + pj;
    din[i] = dout[b * per + ((long long)c * H + y) * W + x];
}

/* t: out[B,C,H,W], in[B,T,p*p*C]   i0 p */
extern "C" fm_status fm_cuda_unpatchify_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *o = &c->t[0];
    long long n = fm_tensor_numel(o);
    FM_CUDA_LAUNCH(unpatchify_fwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0,
                   fm_cuda_of(be)->stream)(fm_cuda_f32(o), fm_cuda_f32(&c->t[1]), (int)o->shape[1],
                                           (int)o->shape[2], (int)o->shape[3], c->i[0], n);
    return fm_cuda_launched(be, "unpatchify_fwd");
}

/* t: din[B,T,p*p*C], dout[B,C,H,W]   i0 p */
extern "C" fm_status fm_cuda_unpatchify_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *d = &c->t[1];
    long long n = fm_tensor_numel(d);
    FM_CUDA_LAUNCH(unpatchify_bwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0,
                   fm_cuda_of(be)->stream)(fm_cuda_f32(&c->t[0]), fm_cuda_f32(d), (int)d->shape[1],
                                           (int)d->shape[2], (int)d->shape[3], c->i[0], n);
    return fm_cuda_launched(be, "unpatchify_bwd");
}
