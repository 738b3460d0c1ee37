/* Host glue for groupnorm.cl: i0 groups, i1 act (forward), f0 eps. */
#include "cl.h"

/* The power of two covering want, capped at reduce_wg (<= 128, the kernels' local
 * arrays) and at the device's work-group limit. */
static size_t groupnorm_wg(fm_backend *be, int64_t want)
{
    size_t local = 1;
    while (local < fm_cl_of(be)->reduce_wg && (int64_t)local < want && local * 2 <= fm_cl_of(be)->max_wg)
        local *= 2;
    return local;
}

static fm_status groupnorm_launch(fm_backend *be, cl_kernel k, size_t groups, size_t local)
{
    size_t global = groups * local;
    return fm_cl_check(be,
                       clEnqueueNDRangeKernel(fm_cl_of(be)->queue, k, 1, NULL, &global, &local, 0,
                                              NULL, NULL),
                       "launch groupnorm kernel");
}

/* t: out, mean, rstd, in, gamma, beta */
fm_status fm_cl_groupnorm_fwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *in = &c->t[3];
    int64_t N = in->shape[0], C = in->shape[1], HW = in->shape[2] * in->shape[3], G = c->i[0];
    FM_TRY(fm_cl_kernel(be, "groupnorm_stats", &k));
    for (int i = 1; i < 4; i++) /* mean, rstd, in */
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)C));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)HW));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)G));
    FM_TRY(fm_cl_arg_float(be, k, &a, c->f[0]));
    FM_TRY(groupnorm_launch(be, k, (size_t)(N * G), groupnorm_wg(be, C / G * HW / 16)));

    a = 0;
    FM_TRY(fm_cl_kernel(be, "groupnorm_apply", &k));
    for (int i = 0; i < 6; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)C));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)HW));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)G));
    FM_TRY(fm_cl_arg_int(be, k, &a, c->i[1] == FM_GN_ACT_SILU));
    return fm_cl_run2d(be, k, (size_t)HW, (size_t)(N * C), 0);
}

/* t: din, dgamma, dbeta, dout, in, mean, rstd, gamma */
fm_status fm_cl_groupnorm_bwd(fm_backend *be, const fm_call *c)
{
    cl_kernel k;
    cl_uint a = 0;
    const fm_tensor *in = &c->t[4];
    int64_t N = in->shape[0], C = in->shape[1], HW = in->shape[2] * in->shape[3], G = c->i[0];
    int64_t NC = N * C, NG = N * G;
    size_t ws_bytes = (size_t)(2 * NC + 2 * NG) * sizeof(float);
    if (ws_bytes > fm_cl_of(be)->scratch_bytes)
        return fm_fail(be, FM_ERR_ARENA, "opencl: groupnorm_bwd needs %zu bytes of scratch, %zu",
                       ws_bytes, fm_cl_of(be)->scratch_bytes);

    FM_TRY(fm_cl_kernel(be, "groupnorm_bwd_plane", &k));
    FM_TRY(fm_cl_arg_scratch(be, k, &a, 0));
    for (int i = 3; i < 7; i++) /* dout, in, mean, rstd */
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)C));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)HW));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)G));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)NC));
    FM_TRY(groupnorm_launch(be, k, (size_t)NC, groupnorm_wg(be, HW / 16)));

    a = 0;
    FM_TRY(fm_cl_kernel(be, "groupnorm_bwd_reduce", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[1]));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[2]));
    FM_TRY(fm_cl_arg_scratch(be, k, &a, 0));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[7]));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)N));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)C));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)HW));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)G));
    FM_TRY(fm_cl_run1d(be, k, (size_t)(C + NG)));

    a = 0;
    FM_TRY(fm_cl_kernel(be, "groupnorm_bwd_din", &k));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[0]));
    for (int i = 3; i < 8; i++) /* dout, in, mean, rstd, gamma */
        FM_TRY(fm_cl_arg_tensor(be, k, &a, &c->t[i]));
    FM_TRY(fm_cl_arg_scratch(be, k, &a, 0));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)C));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)HW));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)G));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)NC));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)NG));
    return fm_cl_run2d(be, k, (size_t)HW, (size_t)NC, 0);
}
