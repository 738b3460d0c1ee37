/* AdamW (PyTorch's torch.optim.AdamW), one thread per element, g the gradient:
 *
 *   p = p - lr wd p
 *   m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
 *   p = p - lr (m / bc1) / (sqrt(v / bc2) + eps)
 *
 * f0 lr, f1 b1, f2 b2, f3 eps, f4 wd, f5 bc1 = 1 - b1^step, f6 bc2 = 1 - b2^step
 * (precomputed by the caller). The expressions follow kernels_ref/adamw.c term by
 * term; sqrtf and the divisions are IEEE-exact under nvcc's defaults (-prec-sqrt,
 * -prec-div), so only FMA contraction can move a result by an ulp. Twin of
 * kernels_cl/adamw.cl. */
#include "cuda.h"

typedef struct adamw_cu_hp {
    float lr, b1, b2, eps, wd, bc1, bc2;
} adamw_cu_hp;

static __global__ void adamw_kernel(float *p, float *m, float *v, const float *g, adamw_cu_hp h,
                                    long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float gi = g[i], p0 = p[i];
    float pi = p0 - h.lr * h.wd * p0;
    float mi = h.b1 * m[i] + (1.0f - h.b1) * gi;
    float vi = h.b2 * v[i] + (1.0f - h.b2) * gi * gi;
    float mhat = mi / h.bc1;
    float vhat = vi / h.bc2;
    p[i] = pi - h.lr * mhat / (sqrtf(vhat) + h.eps);
    m[i] = mi;
    v[i] = vi;
}

/* t: param, m, v, grad (equal element counts) */
extern "C" fm_status fm_cuda_adamw(fm_backend *be, const fm_call *c)
{
    long long n = fm_tensor_numel(&c->t[0]);
    adamw_cu_hp h = {c->f[0], c->f[1], c->f[2], c->f[3], c->f[4], c->f[5], c->f[6]};
    FM_CUDA_LAUNCH(adamw_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(&c->t[0]), fm_cuda_f32(&c->t[1]), fm_cuda_f32(&c->t[2]),
        fm_cuda_f32(&c->t[3]), h, n);
    return fm_cuda_launched(be, "adamw");
}
