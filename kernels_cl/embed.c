/* Host glue for embed.cl (idx is i32: its offset argument counts ints). */
#include "cl.h"

fm_status fm_cl_embed_fwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *out = &c->t[0];
    int N = (int)out->shape[0], D = (int)out->shape[1];
    FM_TRY(fm_cl_kernel(be, "embed_fwd", &k));
    for (int i = 0; i < 3; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, N));
    FM_TRY(fm_cl_arg_int(be, k, &a, D));
    return fm_cl_run1d(be, k, (size_t)N * (size_t)D);
}

fm_status fm_cl_embed_bwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *dtable = &c->t[0], *dout = &c->t[1];
    int R = (int)dtable->shape[0], N = (int)dout->shape[0], D = (int)dout->shape[1];
    FM_TRY(fm_cl_kernel(be, "embed_bwd", &k));
    for (int i = 0; i < 3; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, R));
    FM_TRY(fm_cl_arg_int(be, k, &a, N));
    FM_TRY(fm_cl_arg_int(be, k, &a, D));
    return fm_cl_run1d(be, k, (size_t)R * (size_t)D);
}
