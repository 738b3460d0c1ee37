/* Host glue for softmax_xent.cl: the forward's per-row pass, then sum.cl's sum_final
 * over the N loss terms it leaves at the start of the scratch region. */
#include "cl.h"

/* Work-group of sum_final: the power of two covering n, capped at reduce_wg (a power
 * of two <= 128, sum.cl's local array) and the device's limit. */
static size_t final_wg(fm_backend *be, int n)
{
    size_t local = 1;
    while (local < fm_cl_of(be)->reduce_wg && (int)local < n && local * 2 <= fm_cl_of(be)->max_wg)
        local *= 2;
    return local;
}

/* loss[0] = (sum of the N terms in scratch) / N, in one work-group. */
static fm_status reduce_terms(fm_backend *be, const fm_tensor *loss, int N)
{
    cl_kernel k;
    cl_uint a = 0;
    size_t local = final_wg(be, N);
    FM_TRY(fm_cl_kernel(be, "sum_final", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, loss));
    FM_TRY(fm_cl_arg_scratch(be, k, &a, 0));
    FM_TRY(fm_cl_arg_int(be, k, &a, N));
    FM_TRY(fm_cl_arg_float(be, k, &a, (float)N));
    return fm_cl_check(
        be, clEnqueueNDRangeKernel(fm_cl_of(be)->queue, k, 1, NULL, &local, &local, 0, NULL, NULL),
        "launch softmax_xent loss reduction");
}

/* t: loss[1], probs[N,K], logits[N,K], labels[N] */
fm_status fm_cl_softmax_xent_fwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int N = (int)c->t[2].shape[0], K = (int)c->t[2].shape[1];
    if ((size_t)N * sizeof(float) > fm_cl_of(be)->scratch_bytes)
        return fm_fail(be, FM_ERR_ARENA, "opencl: softmax_xent: %d rows exceed the scratch", N);
    FM_TRY(fm_cl_kernel(be, "softmax_xent_rows", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[1]));
    FM_TRY(fm_cl_arg_scratch(be, k, &a, 0));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[2]));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[3]));
    FM_TRY(fm_cl_arg_int(be, k, &a, N));
    FM_TRY(fm_cl_arg_int(be, k, &a, K));
    FM_TRY(fm_cl_run1d(be, k, (size_t)N));
    return reduce_terms(be, &c->t[0], N);
}

/* t: dlogits[N,K], probs[N,K], labels[N]   f0 dloss; scale rounded to float as the
 * reference does. */
fm_status fm_cl_softmax_xent_bwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    int N = (int)c->t[1].shape[0], K = (int)c->t[1].shape[1];
    FM_TRY(fm_cl_kernel(be, "softmax_xent_bwd", &k));
    for (int i = 0; i < 3; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, N));
    FM_TRY(fm_cl_arg_int(be, k, &a, K));
    FM_TRY(fm_cl_arg_float(be, k, &a, c->f[0] / (float)N));
    return fm_cl_run1d(be, k, (size_t)N * (size_t)K);
}
