/* Host glue for mse.cl: a two-pass reduction through the scratch region. */
#include "cl.h"

/* The largest power of two <= 128 the device allows (the kernels' local arrays). */
static size_t mse_wg(fm_backend *be)
{
    size_t w = 128;
    while (w > 1 && w > fm_cl_of(be)->max_wg)
        w >>= 1;
    return w;
}

static fm_status mse_launch(fm_backend *be, cl_kernel k, size_t groups, size_t local)
{
    size_t global = groups * local;
    return fm_cl_check(be,
                       clEnqueueNDRangeKernel(fm_cl_of(be)->queue, k, 1, NULL, &global, &local, 0,
                                              NULL, NULL),
                       "launch mse kernel");
}

fm_status fm_cl_mse_fwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int n = (int)fm_tensor_numel(&c->t[1]);
    size_t wg = mse_wg(be);
    size_t groups = ((size_t)n + wg * 16 - 1) / (wg * 16);
    if (groups < 1)
        groups = 1;
    if (groups > 1024)
        groups = 1024;
    FM_TRY(fm_cl_kernel(be, "mse_partial", &k));
    FM_TRY(fm_cl_arg_scratch(be, k, &a, 0));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[1]));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[2]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    FM_TRY(mse_launch(be, k, groups, wg));
    a = 0;
    FM_TRY(fm_cl_kernel(be, "mse_final", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[0]));
    FM_TRY(fm_cl_arg_scratch(be, k, &a, 0));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)groups));
    FM_TRY(fm_cl_arg_float(be, k, &a, (float)n));
    return mse_launch(be, k, 1, wg);
}

fm_status fm_cl_mse_bwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int has_da = fm_tensor_present(&c->t[0]), has_db = fm_tensor_present(&c->t[1]);
    int n = (int)fm_tensor_numel(&c->t[2]);
    if (!has_da && !has_db)
        return FM_OK;
    FM_TRY(fm_cl_kernel(be, "mse_bwd", &k));
    for (int i = 0; i < 4; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    FM_TRY(fm_cl_arg_float(be, k, &a, 2.0f * c->f[0] / (float)n));
    FM_TRY(fm_cl_arg_int(be, k, &a, has_da));
    FM_TRY(fm_cl_arg_int(be, k, &a, has_db));
    return fm_cl_run1d(be, k, (size_t)n);
}
