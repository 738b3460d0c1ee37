/* Host glue for concat.cl. */
#include "cl.h"

fm_status fm_cl_concat_fwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *out = &c->t[0];
    int64_t plane = out->shape[2] * out->shape[3];
    int n = (int)fm_tensor_numel(out);
    FM_TRY(fm_cl_kernel(be, "concat_fwd", &k));
    for (int i = 0; i < 3; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)(c->t[1].shape[1] * plane)));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)(c->t[2].shape[1] * plane)));
    return fm_cl_run1d(be, k, (size_t)n);
}

/* An absent gradient's channel count follows from dout's (as in the reference). */
fm_status fm_cl_concat_bwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *da = &c->t[0], *db = &c->t[1], *dout = &c->t[2];
    int has_a = fm_tensor_present(da), has_b = fm_tensor_present(db);
    if (!has_a && !has_b)
        return FM_OK;
    int64_t cout = dout->shape[1], plane = dout->shape[2] * dout->shape[3];
    int64_t ca = has_a ? da->shape[1] : cout - db->shape[1];
    int n = (int)fm_tensor_numel(dout);
    FM_TRY(fm_cl_kernel(be, "concat_bwd", &k));
    for (int i = 0; i < 3; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)(ca * plane)));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)((cout - ca) * plane)));
    FM_TRY(fm_cl_arg_int(be, k, &a, has_a));
    FM_TRY(fm_cl_arg_int(be, k, &a, has_b));
    return fm_cl_run1d(be, k, (size_t)n);
}
