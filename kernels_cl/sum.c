/* Host glue for sum.cl: a two-pass reduction through the scratch region, for SUM_FWD,
 * MSE_FWD and REPARAM_FWD's KL (whose first pass, reparam.cl's, also writes z). SUM_BWD,
 * MSE_BWD and REPARAM_BWD are elementwise: elementwise.c. */
#include "cl.h"

/* Work-group size of the reduction kernels: the largest power of two <= 128 the
 * device allows (the kernels' local arrays hold 128). */
static size_t sum_wg(fm_backend *be)
{
    size_t w = 128;
    while (w > 1 && w > fm_cl_of(be)->max_wg)
        w >>= 1;
    return w;
}

static fm_status sum_launch(fm_backend *be, cl_kernel k, size_t groups, size_t local)
{
    size_t global = groups * local;
    return fm_cl_check(
        be, clEnqueueNDRangeKernel(fm_cl_of(be)->queue, k, 1, NULL, &global, &local, 0, NULL, NULL),
        "launch sum kernel");
}

/* Partials for n terms: about 16 terms per work-item, at most 1024 partials (4 KiB of
 * scratch). */
static size_t sum_groups(int n, size_t wg)
{
    size_t groups = ((size_t)n + wg * 16 - 1) / (wg * 16);
    if (groups < 1)
        groups = 1;
    return groups > 1024 ? 1024 : groups;
}

/* The second pass: out[0] = (sum of the `groups` partials at scratch 0) / div. */
static fm_status sum_final(fm_backend *be, const fm_tensor *out, size_t groups, size_t wg,
                           float div)
{
    cl_kernel k;
    cl_uint arg = 0;
    FM_TRY(fm_cl_kernel(be, "sum_final", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &arg, out));
    FM_TRY(fm_cl_arg_scratch(be, k, &arg, 0));
    FM_TRY(fm_cl_arg_int(be, k, &arg, (int)groups));
    FM_TRY(fm_cl_arg_float(be, k, &arg, div));
    return sum_launch(be, k, 1, wg);
}

/* out[0] = sum_i term_i / div, term_i = a_i or (a_i - b_i)^2 when b is given: SUM_FWD
 * (div 1) and MSE_FWD (div n). */
static fm_status reduce_sum(fm_backend *be, const fm_tensor *out, const fm_tensor *a,
                            const fm_tensor *b, float div)
{
    cl_kernel k;
    cl_uint arg = 0;
    int n = (int)fm_tensor_numel(a);
    size_t wg = sum_wg(be), groups = sum_groups(n, wg);
    fm_tensor none = {0};
    FM_TRY(fm_cl_kernel(be, "sum_partial", &k));
    FM_TRY(fm_cl_arg_scratch(be, k, &arg, 0));
    FM_TRY(fm_cl_arg_tensor(be, k, &arg, a));
    FM_TRY(fm_cl_arg_tensor(be, k, &arg, b ? b : &none));
    FM_TRY(fm_cl_arg_int(be, k, &arg, b != NULL));
    FM_TRY(fm_cl_arg_int(be, k, &arg, n));
    FM_TRY(sum_launch(be, k, groups, wg));
    return sum_final(be, out, groups, wg, div);
}

fm_status fm_cl_sum_fwd(fm_backend *be, const fm_call *c)
{
    return reduce_sum(be, &c->t[0], &c->t[1], NULL, 1.0f);
}

/* loss = sum (a - b)^2 / n through the same reduction (its backward: elementwise.c). */
fm_status fm_cl_mse_fwd(fm_backend *be, const fm_call *c)
{
    return reduce_sum(be, &c->t[0], &c->t[1], &c->t[2], (float)fm_tensor_numel(&c->t[1]));
}

/* t: z, kl[1], mom[N,2Z,h,w], eps?. reparam.cl's first pass writes z and the partials
 * of sum 0.5 (mu^2 + exp(lv) - 1 - lv); kl = their sum / N. */
fm_status fm_cl_reparam_fwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint arg = 0;
    const fm_tensor *mom = &c->t[2];
    int n = (int)fm_tensor_numel(&c->t[0]), zl = (int)(n / mom->shape[0]);
    size_t wg = sum_wg(be), groups = sum_groups(n, wg);
    FM_TRY(fm_cl_kernel(be, "reparam_fwd", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &arg, &c->t[0]));
    FM_TRY(fm_cl_arg_scratch(be, k, &arg, 0));
    FM_TRY(fm_cl_arg_tensor(be, k, &arg, mom));
    FM_TRY(fm_cl_arg_tensor(be, k, &arg, &c->t[3]));
    FM_TRY(fm_cl_arg_int(be, k, &arg, n));
    FM_TRY(fm_cl_arg_int(be, k, &arg, zl));
    FM_TRY(fm_cl_arg_int(be, k, &arg, fm_tensor_present(&c->t[3])));
    FM_TRY(sum_launch(be, k, groups, wg));
    return sum_final(be, &c->t[1], groups, wg, (float)mom->shape[0]);
}
