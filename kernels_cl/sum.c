/* Host glue for sum.cl: a two-pass reduction through the scratch region, for SUM_FWD
 * and MSE_FWD (SUM_BWD is elementwise: elementwise.c). */
#include "cl.h"

/* Work-group size of the reduction kernels: the largest power of two <= 128 the
 * device allows (the kernels' local arrays hold 128). */
static size_t sum_wg(fm_backend *be)
{
    size_t w = 128;
    while (w > 1 && w > fm_cl_of(be)->max_wg)
        w >>= 1;
    return w;
}

static fm_status sum_launch(fm_backend *be, cl_kernel k, size_t groups, size_t local)
{
    size_t global = groups * local;
    return fm_cl_check(
        be, clEnqueueNDRangeKernel(fm_cl_of(be)->queue, k, 1, NULL, &global, &local, 0, NULL, NULL),
        "launch sum kernel");
}

/* out[0] = sum_i term_i / div, term_i = a_i or (a_i - b_i)^2 when b is given: SUM_FWD
 * (div 1) and MSE_FWD (div n). */
static fm_status reduce_sum(fm_backend *be, const fm_tensor *out, const fm_tensor *a,
                            const fm_tensor *b, float div)
{
    cl_kernel k;
    cl_uint arg = 0;
    int n = (int)fm_tensor_numel(a);
    size_t wg = sum_wg(be);
    /* About 16 elements per work-item, at most 1024 partials (4 KiB of scratch). */
    size_t groups = ((size_t)n + wg * 16 - 1) / (wg * 16);
    if (groups < 1)
        groups = 1;
    if (groups > 1024)
        groups = 1024;
    fm_tensor none = {0};
    FM_TRY(fm_cl_kernel(be, "sum_partial", &k));
    FM_TRY(fm_cl_arg_scratch(be, k, &arg, 0));
    FM_TRY(fm_cl_arg_tensor(be, k, &arg, a));
    FM_TRY(fm_cl_arg_tensor(be, k, &arg, b ? b : &none));
    FM_TRY(fm_cl_arg_int(be, k, &arg, b != NULL));
    FM_TRY(fm_cl_arg_int(be, k, &arg, n));
    FM_TRY(sum_launch(be, k, groups, wg));
    arg = 0;
    FM_TRY(fm_cl_kernel(be, "sum_final", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &arg, out));
    FM_TRY(fm_cl_arg_scratch(be, k, &arg, 0));
    FM_TRY(fm_cl_arg_int(be, k, &arg, (int)groups));
    FM_TRY(fm_cl_arg_float(be, k, &arg, div));
    return sum_launch(be, k, 1, wg);
}

fm_status fm_cl_sum_fwd(fm_backend *be, const fm_call *c)
{
    return reduce_sum(be, &c->t[0], &c->t[1], NULL, 1.0f);
}

/* loss = sum (a - b)^2 / n through the same reduction (its backward: elementwise.c). */
fm_status fm_cl_mse_fwd(fm_backend *be, const fm_call *c)
{
    return reduce_sum(be, &c->t[0], &c->t[1], &c->t[2], (float)fm_tensor_numel(&c->t[1]));
}
