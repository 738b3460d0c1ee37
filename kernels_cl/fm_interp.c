/* Host glue for fm_interp.cl; N is numel(t), per-sample size numel / N. */
#include "cl.h"

fm_status fm_cl_fm_interp_fwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int64_t N = fm_tensor_numel(&c->t[4]), n = fm_tensor_numel(&c->t[2]);
    FM_TRY(fm_cl_kernel(be, "fm_interp_fwd", &k));
    for (int i = 0; i < 5; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)n));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)(n / N)));
    return fm_cl_run1d(be, k, (size_t)n);
}

fm_status fm_cl_fm_interp_bwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int has[4];
    const fm_tensor *shape = NULL;
    for (int i = 0; i < 4; i++)
        has[i] = fm_tensor_present(&c->t[i]);
    if (has[0])
        shape = &c->t[0];
    else if (has[1])
        shape = &c->t[1];
    else
        return FM_OK; /* no dx0, no dx1: nothing to write */
    int64_t N = fm_tensor_numel(&c->t[4]), n = fm_tensor_numel(shape);
    FM_TRY(fm_cl_kernel(be, "fm_interp_bwd", &k));
    for (int i = 0; i < 5; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)n));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)(n / N)));
    for (int i = 0; i < 4; i++)
        FM_TRY(fm_cl_arg_int(be, k, &a, has[i]));
    return fm_cl_run1d(be, k, (size_t)n);
}
