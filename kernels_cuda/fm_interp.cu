/* The flow-matching path, one t per sample (each sample = per contiguous floats):
 *
 *   xt = (1 - t) x0 + t x1,   v = x1 - x0
 *   dx0 = (1 - t) dxt - dv,   dx1 = t dxt + dv     (absent dxt / dv count as zero,
 *                                                   absent dx0 / dx1 are skipped)
 *
 * One thread per element; s = i / per picks t. Each thread loads all its inputs
 * before its first store, so any output may share memory with the same element of
 * an input. Twin of kernels_cl/fm_interp.cl. */
#include "cuda.h"

static __global__ void fm_interp_fwd_kernel(float *xt, float *v, const float *x0,
                                            const float *x1, const float *t, long long per,
                                            long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float ts = t[i / per], a = x0[i], b = x1[i];
    xt[i] = (1.0f - ts) * a + ts * b;
    v[i] = b - a;
}

/* Any of dx0, dx1, dxt, dv may be NULL (absent); dx0 or dx1 is present. */
static __global__ void fm_interp_bwd_kernel(float *dx0, float *dx1, const float *dxt,
                                            const float *dv, const float *t, long long per,
                                            long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float ts = t[i / per];
    float gxt = dxt ? dxt[i] : 0.0f;
    float gv = dv ? dv[i] : 0.0f;
    if (dx0)
        dx0[i] = (1.0f - ts) * gxt - gv;
    if (dx1)
        dx1[i] = ts * gxt + gv;
}

static float *f32_or_null(const fm_tensor *t)
{
    return fm_tensor_present(t) ? fm_cuda_f32(t) : NULL;
}

/* t: xt, v, x0[N,...], x1, t[N]; N from t (the images need only equal counts) */
extern "C" fm_status fm_cuda_fm_interp_fwd(fm_backend *be, const fm_call *c)
{
    long long N = fm_tensor_numel(&c->t[4]), n = fm_tensor_numel(&c->t[2]);
    FM_CUDA_LAUNCH(fm_interp_fwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(&c->t[0]), fm_cuda_f32(&c->t[1]), fm_cuda_f32(&c->t[2]),
        fm_cuda_f32(&c->t[3]), fm_cuda_f32(&c->t[4]), n / N, n);
    return fm_cuda_launched(be, "fm_interp_fwd");
}

/* t: dx0?, dx1?, dxt?, dv?, t[N]; the size from whichever of dx0, dx1 is present */
extern "C" fm_status fm_cuda_fm_interp_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *shape = fm_tensor_present(&c->t[0])   ? &c->t[0]
                             : fm_tensor_present(&c->t[1]) ? &c->t[1]
                                                           : NULL;
    if (!shape)
        return FM_OK;
    long long N = fm_tensor_numel(&c->t[4]), n = fm_tensor_numel(shape);
    FM_CUDA_LAUNCH(fm_interp_bwd_kernel, fm_cuda_blocks(n), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        f32_or_null(&c->t[0]), f32_or_null(&c->t[1]), f32_or_null(&c->t[2]),
        f32_or_null(&c->t[3]), fm_cuda_f32(&c->t[4]), n / N, n);
    return fm_cuda_launched(be, "fm_interp_bwd");
}
