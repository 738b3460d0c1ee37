/* Host glue for rng.cl: i0 distribution, u0 seed (64 bits), u1 stream (low 32 bits),
 * u2 first counter. */
#include "cl.h"

fm_status fm_cl_rng(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int n = (int)fm_tensor_numel(&c->t[0]);
    cl_ulong seed = (cl_ulong)c->u[0];
    cl_uint stream = (cl_uint)c->u[1];
    cl_ulong first = (cl_ulong)c->u[2];
    if (c->i[0] != FM_RNG_UNIFORM && c->i[0] != FM_RNG_NORMAL)
        return fm_fail(be, FM_ERR_ARG, "rng: unknown distribution %d", (int)c->i[0]);
    FM_TRY(fm_cl_kernel(be, "rng_fill", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[0]));
    FM_TRY(fm_cl_arg_int(be, k, &a, n));
    FM_TRY(fm_cl_check(be, clSetKernelArg(k, a++, sizeof seed, &seed), "set seed argument"));
    FM_TRY(fm_cl_check(be, clSetKernelArg(k, a++, sizeof stream, &stream), "set stream argument"));
    FM_TRY(fm_cl_check(be, clSetKernelArg(k, a++, sizeof first, &first), "set first argument"));
    FM_TRY(fm_cl_arg_int(be, k, &a, c->i[0] == FM_RNG_NORMAL));
    return fm_cl_run1d(be, k, (size_t)n);
}
