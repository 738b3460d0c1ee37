/* Host glue for add.cl. */
#include "cl.h"

fm_status fm_cl_add_fwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int n = (int)fm_tensor_numel(&c->t[0]);
    FM_TRY(fm_cl_kernel(be, "add_fwd", &k));
    for (int i = 0; i < 3; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    return fm_cl_run1d(be, k, (size_t)n);
}

fm_status fm_cl_add_bwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int has_da = fm_tensor_present(&c->t[0]), has_db = fm_tensor_present(&c->t[1]);
    int n = (int)fm_tensor_numel(&c->t[2]);
    if (!has_da && !has_db)
        return FM_OK;
    FM_TRY(fm_cl_kernel(be, "add_bwd", &k));
    for (int i = 0; i < 3; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    FM_TRY(fm_cl_arg_int(be, k, &a, has_da));
    FM_TRY(fm_cl_arg_int(be, k, &a, has_db));
    return fm_cl_run1d(be, k, (size_t)n);
}
