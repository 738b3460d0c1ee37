/* Host glue for timeemb.cl: q = 10000^(-1/(half-1)) in double, passed as hi + lo. */
#include <math.h>

#include "cl.h"

static void timeemb_q(int64_t half, float *hi, float *lo)
{
    double q = exp(-log(10000.0) / (double)(half - 1));
    *hi = (float)q;
    *lo = (float)(q - (double)*hi);
}

/* t: out[N,D], t[N] */
fm_status fm_cl_timeemb_fwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *out = &c->t[0];
    int64_t N = out->shape[0], half = out->shape[1] / 2;
    float qh, ql;
    timeemb_q(half, &qh, &ql);
    FM_TRY(fm_cl_kernel(be, "timeemb_fwd", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, out));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[1]));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)N));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)half));
    FM_TRY(fm_cl_arg_float(be, k, &a, qh));
    FM_TRY(fm_cl_arg_float(be, k, &a, ql));
    return fm_cl_run1d(be, k, (size_t)(N * half));
}

/* t: dt[N], dout[N,D], t[N]; one work-group per sample. */
fm_status fm_cl_timeemb_bwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *dout = &c->t[1];
    int64_t N = dout->shape[0], half = dout->shape[1] / 2;
    float qh, ql;
    timeemb_q(half, &qh, &ql);
    size_t local = 1;
    while (local < 128 && (int64_t)local < half && local * 2 <= fm_cl_of(be)->max_wg)
        local *= 2;
    size_t global = (size_t)N * local;
    FM_TRY(fm_cl_kernel(be, "timeemb_bwd", &k));
    for (int i = 0; i < 3; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)half));
    FM_TRY(fm_cl_arg_float(be, k, &a, qh));
    FM_TRY(fm_cl_arg_float(be, k, &a, ql));
    return fm_cl_check(be,
                       clEnqueueNDRangeKernel(fm_cl_of(be)->queue, k, 1, NULL, &global, &local, 0,
                                              NULL, NULL),
                       "launch timeemb_bwd");
}
