/* Host glue for silu.cl: tensors become (buffer, element offset) argument pairs. */
#include "cl.h"

fm_status fm_cl_silu_fwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int n = (int)fm_tensor_numel(&c->t[0]);
    FM_TRY(fm_cl_kernel(be, "silu_fwd", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[0]));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[1]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    return fm_cl_run1d(be, k, (size_t)n);
}

fm_status fm_cl_silu_bwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int n = (int)fm_tensor_numel(&c->t[0]);
    FM_TRY(fm_cl_kernel(be, "silu_bwd", &k));
    for (int i = 0; i < 3; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    return fm_cl_run1d(be, k, (size_t)n);
}
