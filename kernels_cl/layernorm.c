/* Host glue for layernorm.cl: f0 eps; optional shift/scale (forward), dshift/dscale
 * and scale (backward) passed with has_ flags; i0 form as `one` (m = one + scale: 1
 * adaLN, 0 affine). */
#include "cl.h"

/* One work-group per row: the power of two covering D / 4, capped at reduce_wg (<= 128,
 * the kernels' local arrays) and at the device limit. */
static fm_status ln_rows(fm_backend *be, cl_kernel k, size_t rows, int64_t D)
{
    size_t local = 1;
    while (local < fm_cl_of(be)->reduce_wg && (int64_t)local * 4 < D &&
           local * 2 <= fm_cl_of(be)->max_wg)
        local *= 2;
    size_t global = rows * local;
    return fm_cl_check(
        be, clEnqueueNDRangeKernel(fm_cl_of(be)->queue, k, 1, NULL, &global, &local, 0, NULL, NULL),
        "launch layernorm kernel");
}

/* t: out, mean, rstd, in[B,T,D], shift?, scale?   f0 eps, i0 form */
fm_status fm_cl_layernorm_fwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *in = &c->t[3];
    FM_TRY(fm_cl_kernel(be, "layernorm_fwd", &k));
    for (int i = 0; i < 6; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)in->shape[1]));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)in->shape[2]));
    FM_TRY(fm_cl_arg_float(be, k, &a, c->f[0]));
    FM_TRY(fm_cl_arg_int(be, k, &a, fm_tensor_present(&c->t[4])));
    FM_TRY(fm_cl_arg_int(be, k, &a, fm_tensor_present(&c->t[5])));
    FM_TRY(fm_cl_arg_float(be, k, &a, c->i[0] == FM_LN_AFFINE ? 0.0f : 1.0f));
    return ln_rows(be, k, (size_t)(in->shape[0] * in->shape[1]), in->shape[2]);
}

/* dshift, dscale: one work-item per column (b, j). */
static fm_status ln_bwd_mod(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *in = &c->t[4];
    FM_TRY(fm_cl_kernel(be, "layernorm_bwd_mod", &k));
    for (int i = 1; i < 7; i++) /* dshift, dscale, dout, in, mean, rstd */
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    for (int d = 0; d < 3; d++)
        FM_TRY(fm_cl_arg_int(be, k, &a, (int)in->shape[d]));
    FM_TRY(fm_cl_arg_int(be, k, &a, fm_tensor_present(&c->t[1])));
    FM_TRY(fm_cl_arg_int(be, k, &a, fm_tensor_present(&c->t[2])));
    return fm_cl_run1d(be, k, (size_t)(in->shape[0] * in->shape[2]));
}

/* t: din, dshift?, dscale?, dout, in[B,T,D], mean, rstd, scale?   i0 form */
fm_status fm_cl_layernorm_bwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *in = &c->t[4];
    if (fm_tensor_present(&c->t[1]) || fm_tensor_present(&c->t[2]))
        FM_TRY(ln_bwd_mod(be, c));
    FM_TRY(fm_cl_kernel(be, "layernorm_bwd_din", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[0]));
    for (int i = 3; i < 8; i++) /* dout, in, mean, rstd, scale */
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)in->shape[1]));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)in->shape[2]));
    FM_TRY(fm_cl_arg_int(be, k, &a, fm_tensor_present(&c->t[7])));
    FM_TRY(fm_cl_arg_float(be, k, &a, c->i[0] == FM_LN_AFFINE ? 0.0f : 1.0f));
    return ln_rows(be, k, (size_t)(in->shape[0] * in->shape[1]), in->shape[2]);
}
