/* Host glue for adamw.cl: f0 lr, f1 beta1, f2 beta2, f3 eps, f4 wd, f5 bc1, f6 bc2. */
#include "cl.h"

fm_status fm_cl_adamw(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int n = (int)fm_tensor_numel(&c->t[0]);
    FM_TRY(fm_cl_kernel(be, "adamw_update", &k));
    for (int i = 0; i < 4; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    for (int i = 0; i < 7; i++)
        FM_TRY(fm_cl_arg_float(be, k, &a, c->f[i]));
    return fm_cl_run1d(be, k, (size_t)n);
}
