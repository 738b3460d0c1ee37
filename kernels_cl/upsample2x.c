/* Host glue for upsample2x.cl. */
#include "cl.h"

fm_status fm_cl_upsample2x_fwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *in = &c->t[1];
    int n = (int)fm_tensor_numel(&c->t[0]);
    FM_TRY(fm_cl_kernel(be, "upsample2x_fwd", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[0]));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, in));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)in->shape[2]));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)in->shape[3]));
    return fm_cl_run1d(be, k, (size_t)n);
}

fm_status fm_cl_upsample2x_bwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *din = &c->t[0];
    int n = (int)fm_tensor_numel(din);
    FM_TRY(fm_cl_kernel(be, "upsample2x_bwd", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, din));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[1]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)din->shape[2]));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)din->shape[3]));
    return fm_cl_run1d(be, k, (size_t)n);
}
