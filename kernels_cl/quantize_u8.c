/* Host glue for quantize_u8.cl (out is u8: its offset argument counts bytes). */
#include "cl.h"

fm_status fm_cl_quantize_u8(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int n = (int)fm_tensor_numel(&c->t[0]);
    FM_TRY(fm_cl_kernel(be, "quantize_u8_fwd", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[0]));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[1]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    return fm_cl_run1d(be, k, (size_t)n);
}
