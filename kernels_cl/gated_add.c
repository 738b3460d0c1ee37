/* Host glue for gated_add.cl's backward (one work-item per column; the forward is
 * elementwise: elementwise.c). */
#include "cl.h"

/* t: dh?, dg?, dout[B,T,D], g[B,D], h */
fm_status fm_cl_gated_add_bwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *dout = &c->t[2];
    int B = (int)dout->shape[0], T = (int)dout->shape[1], D = (int)dout->shape[2];
    if (!fm_tensor_present(&c->t[0]) && !fm_tensor_present(&c->t[1]))
        return FM_OK;
    FM_TRY(fm_cl_kernel(be, "gated_add_bwd", &k));
    for (int i = 0; i < 5; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, B));
    FM_TRY(fm_cl_arg_int(be, k, &a, T));
    FM_TRY(fm_cl_arg_int(be, k, &a, D));
    FM_TRY(fm_cl_arg_int(be, k, &a, fm_tensor_present(&c->t[0])));
    FM_TRY(fm_cl_arg_int(be, k, &a, fm_tensor_present(&c->t[1])));
    return fm_cl_run1d(be, k, (size_t)B * (size_t)D);
}
