/* Channel concatenation of two NCHW images (per sample, a's Ca*H*W floats then b's
 * Cb*H*W floats):
 *
 *   out[n, j] = j < asz ? a[n, j] : b[n, j - asz]     asz = Ca*H*W, bsz = Cb*H*W
 *   backward: the split, da[n, j] = dout[n, j], db[n, j] = dout[n, asz + j]
 *
 * One thread per element of the concatenated tensor, in both directions. Either
 * gradient may be absent; the channel split then follows from the present one, as
 * in kernels_ref/concat.c. Twin of kernels_cl/concat.cl. */
#include "cuda.h"

/* n = N * (asz + bsz) */
static __global__ void concat_fwd_kernel(float *out, const float *a, const float *b,
                                         long long asz, long long bsz, long long n)
{
    long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n)
        return;
    long long row = asz + bsz, s = k / row, j = k - s * row;
    out[k] = j < asz ? a[s * asz + j] : b[s * bsz + (j - asz)];
}

/* da, db may be NULL (absent); n = N * (asz + bsz) */
static __global__ void concat_bwd_kernel(float *da, float *db, const float *dout, long long asz,
                                         long long bsz, long long n)
{
    long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n)
        return;
    long long row = asz + bsz, s = k / row, j = k - s * row;
    if (j < asz) {
        if (da)
            da[s * asz + j] = dout[k];
    } else if (db) {
        db[s * bsz + (j - asz)] = dout[k];
    }
}

/* t: out[N,Ca+Cb,H,W], a[N,Ca,H,W], b[N,Cb,H,W] */
extern "C" fm_status fm_cuda_concat_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0], *a = &c->t[1], *b = &c->t[2];
    long long plane = out->shape[2] * out->shape[3], n = fm_tensor_numel(out);
    FM_CUDA_LAUNCH(concat_fwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(out), fm_cuda_f32(a), fm_cuda_f32(b), a->shape[1] * plane,
        b->shape[1] * plane, n);
    return fm_cuda_launched(be, "concat_fwd");
}

/* t: da?[N,Ca,H,W], db?[N,Cb,H,W], dout[N,Ca+Cb,H,W] */
extern "C" fm_status fm_cuda_concat_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *da = &c->t[0], *db = &c->t[1], *dout = &c->t[2];
    int has_a = fm_tensor_present(da), has_b = fm_tensor_present(db);
    if (!has_a && !has_b)
        return FM_OK;
    long long cout = dout->shape[1], plane = dout->shape[2] * dout->shape[3];
    long long ca = has_a ? da->shape[1] : cout - db->shape[1];
    long long n = fm_tensor_numel(dout);
    FM_CUDA_LAUNCH(concat_bwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        has_a ? fm_cuda_f32(da) : NULL, has_b ? fm_cuda_f32(db) : NULL, fm_cuda_f32(dout),
        ca * plane, (cout - ca) * plane, n);
    return fm_cuda_launched(be, "concat_bwd");
}
