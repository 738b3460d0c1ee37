/* Host glue for xattn.cl: attention between token sequences as plain kernels, one
 * work-item per element written (or per row of the softmax):
 *
 *   forward   att = qk(q, k, bias) scaled and masked;  softmax rows;  out = av(att, v)
 *   backward  ds = qk(dout, v);  softmax_bwd rows (ds = att (ds - rowsum(att ds)));
 *             dv = atx(att, dout);  dq = av(ds, k) / sqrt(d);  dk = atx(ds, q) / sqrt(d)
 *
 * Every kernel takes its tensors, then Lq, Lk, C, heads, flags (bit 0 causal, bit 1
 * bias present), scale and its work-item count. */
#include <math.h>

#include "cl.h"

typedef struct xa_geo {
    int Lq, Lk, C, heads, flags;
    size_t N;
} xa_geo;

/* Kernel `name` over n work-items with tensors t[0..nt) and the shared scalars. */
static fm_status xa_launch(fm_backend *be, const char *name, const fm_tensor *const *t, int nt,
                           const xa_geo *g, float scale, size_t n)
{
    cl_kernel k;
    cl_uint a = 0;
    if (n > 0x7fffffff)
        return fm_fail(be, FM_ERR_ARG, "opencl: %s: %zu work-items beyond 2^31", name, n);
    FM_TRY(fm_cl_kernel(be, name, &k));
    for (int i = 0; i < nt; i++)
        FM_TRY(fm_cl_arg_tensor(be, k, &a, t[i]));
    const int v[5] = {g->Lq, g->Lk, g->C, g->heads, g->flags};
    for (int i = 0; i < 5; i++)
        FM_TRY(fm_cl_arg_int(be, k, &a, v[i]));
    FM_TRY(fm_cl_arg_float(be, k, &a, scale));
    FM_TRY(fm_cl_arg_int(be, k, &a, (int)n));
    return fm_cl_run1d(be, k, n);
}

static xa_geo xa_geometry(const fm_tensor *q, const fm_tensor *k, int heads, int flags)
{
    xa_geo g = {.Lq = (int)q->shape[1],
                .Lk = (int)k->shape[1],
                .C = (int)q->shape[2],
                .heads = heads,
                .flags = flags,
                .N = (size_t)q->shape[0]};
    return g;
}

static float xa_scale(const xa_geo *g)
{
    return (float)(1.0 / sqrt((double)(g->C / g->heads)));
}

/* t: out, att, q, k, v, bias?   i0 heads, i1 causal */
fm_status fm_cl_xattn_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0], *att = &c->t[1], *q = &c->t[2], *k = &c->t[3];
    const fm_tensor *v = &c->t[4], *bias = &c->t[5];
    const xa_geo g =
        xa_geometry(q, k, c->i[0], (c->i[1] ? 1 : 0) | (fm_tensor_present(bias) ? 2 : 0));
    size_t rows = g.N * (size_t)g.heads * (size_t)g.Lq;
    const fm_tensor *qk[] = {att, q, k, bias}, *sm[] = {att}, *av[] = {out, att, v};
    FM_TRY(xa_launch(be, "xattn_qk", qk, 4, &g, xa_scale(&g), rows * (size_t)g.Lk));
    FM_TRY(xa_launch(be, "xattn_softmax", sm, 1, &g, 1.0f, rows));
    return xa_launch(be, "xattn_av", av, 3, &g, 1.0f, g.N * (size_t)g.Lq * (size_t)g.C);
}

/* t: dq, dk, dv, ds, dout, q, k, v, att   i0 heads */
fm_status fm_cl_xattn_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *dq = &c->t[0], *dk = &c->t[1], *dv = &c->t[2], *ds = &c->t[3];
    const fm_tensor *dout = &c->t[4], *q = &c->t[5], *k = &c->t[6], *v = &c->t[7];
    const fm_tensor *att = &c->t[8], none = {.ndim = 0};
    const xa_geo g = xa_geometry(q, k, c->i[0], 0);
    const float scale = xa_scale(&g);
    size_t rows = g.N * (size_t)g.heads * (size_t)g.Lq;
    size_t nq = g.N * (size_t)g.Lq * (size_t)g.C, nk = g.N * (size_t)g.Lk * (size_t)g.C;
    const fm_tensor *da[] = {ds, dout, v, &none}, *sb[] = {ds, att};
    const fm_tensor *tv[] = {dv, att, dout}, *tq[] = {dq, ds, k}, *tk[] = {dk, ds, q};
    FM_TRY(xa_launch(be, "xattn_qk", da, 4, &g, 1.0f, rows * (size_t)g.Lk));
    FM_TRY(xa_launch(be, "xattn_softmax_bwd", sb, 2, &g, 1.0f, rows));
    FM_TRY(xa_launch(be, "xattn_atx", tv, 3, &g, 1.0f, nk));
    FM_TRY(xa_launch(be, "xattn_av", tq, 3, &g, scale, nq));
    return xa_launch(be, "xattn_atx", tk, 3, &g, scale, nk);
}
