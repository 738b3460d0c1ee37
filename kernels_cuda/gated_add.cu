/* Gated residual over tokens [B,T,D], gate g[B,D] broadcast over the T tokens:
 *   out = x + g[b,j] h                  one thread per element (out may alias x)
 *   dh  = g[b,j] dout,  dg[b,j] = sum_t h dout
 * Backward: one thread per column (b, j) looping over the T tokens (neighbouring
 * threads read neighbouring columns; Kahan-compensated, deterministic, no atomics).
 * Twin of kernels_cl/gated_add.cl. */
#include "cuda.h"

static __global__ void gated_add_fwd_kernel(float *out, const float *x, const float *g,
                                            const float *h, long long TD, int D, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    out[i] = x[i] + g[i / TD * D + i % D] * h[i];
}

/* dh, dg may be NULL (absent). */
static __global__ void gated_add_bwd_kernel(float *dh, float *dg, const float *dout,
                                            const float *g, const float *h, int T, int D,
                                            long long cols)
{
    long long col = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= cols)
        return;
    long long b = col / D, j = col % D;
    float gv = g[col], acc = 0.0f, comp = 0.0f;
    for (int t = 0; t < T; t++) {
        long long e = (b * T + t) * D + j;
        float dy = dout[e];
        if (dh)
            dh[e] = gv * dy;
        float y = h[e] * dy - comp, s = acc + y;
        comp = (s - acc) - y;
        acc = s;
    }
    if (dg)
        dg[col] = acc;
}

/* t: out, x[B,T,D], g[B,D], h */
extern "C" fm_status fm_cuda_gated_add_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *x = &c->t[1];
    long long n = fm_tensor_numel(x);
    FM_CUDA_LAUNCH(gated_add_fwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0,
                   fm_cuda_of(be)->stream)(fm_cuda_f32(&c->t[0]), fm_cuda_f32(x),
                                           fm_cuda_f32(&c->t[2]), fm_cuda_f32(&c->t[3]),
                                           x->shape[1] * x->shape[2], (int)x->shape[2], n);
    return fm_cuda_launched(be, "gated_add_fwd");
}

/* t: dh?, dg?, dout[B,T,D], g[B,D], h */
extern "C" fm_status fm_cuda_gated_add_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *dout = &c->t[2];
    float *dh = fm_tensor_present(&c->t[0]) ? fm_cuda_f32(&c->t[0]) : NULL;
    float *dg = fm_tensor_present(&c->t[1]) ? fm_cuda_f32(&c->t[1]) : NULL;
    long long cols = dout->shape[0] * dout->shape[2];
    if (!dh && !dg)
        return FM_OK;
    FM_CUDA_LAUNCH(gated_add_bwd_kernel, fm_cuda_blocks(cols), FM_CUDA_THREADS, 0,
                   fm_cuda_of(be)->stream)(dh, dg, fm_cuda_f32(dout), fm_cuda_f32(&c->t[3]),
                                           fm_cuda_f32(&c->t[4]), (int)dout->shape[1],
                                           (int)dout->shape[2], cols);
    return fm_cuda_launched(be, "gated_add_bwd");
}
