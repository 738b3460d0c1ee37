/* Embedding lookup:
 *
 *   out[n, j] = table[idx[n], j]                      out[N,D], table[R,D], idx[N] i32
 *   dtable[r, j] += sum_{n : idx[n] = r} dout[n, j]   scatter-add
 *
 * Forward: one thread per out element. Backward, deterministic without atomics:
 * one thread per (r, j) of the table scans the N indices (N is the batch, small)
 * and adds the matching dout rows in increasing n, starting from the stored value,
 * which is exactly kernels_ref/embed.c's order, so the results agree bit for bit.
 * Indices are not checked (ops.h: device backends clamp nothing); in the backward
 * an index outside 0..R-1 matches no row and is ignored. Twin of kernels_cl/embed.cl. */
#include "cuda.h"

/* n = N * D */
static __global__ void embed_fwd_kernel(float *out, const float *table, const int *idx,
                                        long long D, long long n)
{
    long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n)
        return;
    long long s = k / D, j = k - s * D;
    out[k] = table[(long long)idx[s] * D + j];
}

/* n = R * D; N indices */
static __global__ void embed_bwd_kernel(float *dtable, const float *dout, const int *idx,
                                        long long N, long long D, long long n)
{
    long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n)
        return;
    long long r = k / D, j = k - r * D;
    float acc = dtable[k];
    int hit = 0;
    for (long long s = 0; s < N; s++) {
        if (idx[s] == r) {
            acc += dout[s * D + j];
            hit = 1;
        }
    }
    if (hit)
        dtable[k] = acc;
}

/* t: out[N,D], table[R,D], idx[N] */
extern "C" fm_status fm_cuda_embed_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0];
    long long n = fm_tensor_numel(out);
    FM_CUDA_LAUNCH(embed_fwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(out), fm_cuda_f32(&c->t[1]), fm_cuda_i32(&c->t[2]), out->shape[1], n);
    return fm_cuda_launched(be, "embed_fwd");
}

/* t: dtable[R,D], dout[N,D], idx[N] */
extern "C" fm_status fm_cuda_embed_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *dtable = &c->t[0], *dout = &c->t[1];
    long long n = fm_tensor_numel(dtable);
    FM_CUDA_LAUNCH(embed_bwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(dtable), fm_cuda_f32(dout), fm_cuda_i32(&c->t[2]), dout->shape[0],
        dtable->shape[1], n);
    return fm_cuda_launched(be, "embed_bwd");
}
