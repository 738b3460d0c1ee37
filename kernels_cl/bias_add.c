/* Host glue for bias_add.cl's backward, a reduction per plane (the forward is
 * elementwise: elementwise.c). */
#include "cl.h"

/* One work-group per plane; its size the power of two covering L, capped at reduce_wg
 * (128 on a GPU, 16 on a CPU device; cl.h) and at the device limit, so small planes do
 * not idle 128 work-items. */
fm_status fm_cl_bias_add_bwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *dout = &c->t[1];
    size_t planes = (size_t)(dout->shape[0] * dout->shape[1]);
    int L = (int)(dout->shape[2] * dout->shape[3]);
    size_t local = 1;
    while (local < fm_cl_of(be)->reduce_wg && local < (size_t)L &&
           local * 2 <= fm_cl_of(be)->max_wg)
        local *= 2;
    size_t global = planes * local;
    FM_TRY(fm_cl_kernel(be, "bias_add_bwd", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[0]));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, dout));
    FM_TRY(fm_cl_arg_int(be, k, &a, L));
    return fm_cl_check(
        be, clEnqueueNDRangeKernel(fm_cl_of(be)->queue, k, 1, NULL, &global, &local, 0, NULL, NULL),
        "launch bias_add_bwd");
}
