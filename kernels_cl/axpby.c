/* Host glue for axpby.cl (f0 a, f1 b). */
#include "cl.h"

fm_status fm_cl_axpby_fwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int n = (int)fm_tensor_numel(&c->t[0]);
    FM_TRY(fm_cl_kernel(be, "axpby_fwd", &k));
    for (int i = 0; i < 3; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    FM_TRY(fm_cl_arg_float(be, k, &a, c->f[0]));
    FM_TRY(fm_cl_arg_float(be, k, &a, c->f[1]));
    return fm_cl_run1d(be, k, (size_t)n);
}

fm_status fm_cl_axpby_bwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int has_dx = fm_tensor_present(&c->t[0]), has_dy = fm_tensor_present(&c->t[1]);
    int n = (int)fm_tensor_numel(&c->t[2]);
    if (!has_dx && !has_dy)
        return FM_OK;
    FM_TRY(fm_cl_kernel(be, "axpby_bwd", &k));
    for (int i = 0; i < 3; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    FM_TRY(fm_cl_arg_float(be, k, &a, c->f[0]));
    FM_TRY(fm_cl_arg_float(be, k, &a, c->f[1]));
    FM_TRY(fm_cl_arg_int(be, k, &a, has_dx));
    FM_TRY(fm_cl_arg_int(be, k, &a, has_dy));
    return fm_cl_run1d(be, k, (size_t)n);
}
