/* Host glue for ema.cl (f0 decay). */
#include "cl.h"

fm_status fm_cl_ema(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int n = (int)fm_tensor_numel(&c->t[0]);
    FM_TRY(fm_cl_kernel(be, "ema_update", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[0]));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[1]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    FM_TRY(fm_cl_arg_float(be, k, &a, c->f[0]));
    FM_TRY(fm_cl_arg_float(be, k, &a, 1.0f - c->f[0]));
    return fm_cl_run1d(be, k, (size_t)n);
}
