/* Host glue for mse.cl (the backward); the forward reuses sum.c's reduction. */
#include "cl.h"

/* loss = sum (a - b)^2 / n through sum.cl's two-pass reduction. */
fm_status fm_cl_mse_fwd(fm_backend *be, const fm_call *c)
{
    return fm_cl_reduce_sum(be, &c->t[0], &c->t[1], &c->t[2], (float)fm_tensor_numel(&c->t[1]));
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
