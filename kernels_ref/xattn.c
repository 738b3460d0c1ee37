/* Multi-head attention between token sequences (cross-attention, and the text encoder's
 * causal self-attention), rows token-major: q[N,Lq,C], k and v [N,Lk,C]. Head h of
 * d = C/heads columns reads columns h*d .. h*d+d-1 of each row, so for one (n, h) the
 * matrices q [Lq, d], k and v [Lk, d] are row-major with row stride C:
 *
 *   S[i,k]   = sum_j q[i,j] k[k,j] / sqrt(d) + bias[n,k]     (-inf where causal, k > i)
 *   att[i,k] = exp(S[i,k] - max_k S[i,.]) / sum_k' exp(...)   softmax over the keys kept
 *   o[i,j]   = sum_k att[i,k] v[k,j]          -> out column h*d + j
 *
 * A key whose score is -inf (bias -inf, or causal with k > i) is masked: its weight is
 * written as exactly 0. A query row that keeps no key has no softmax: refused.
 *
 * Backward, with dO = dout[i, h*d + j]:
 *   dA[i,k] = sum_j dO[i,j] v[k,j]            dv[k,j] = sum_i att[i,k] dO[i,j]
 *   dS[i,k] = att[i,k] (dA[i,k] - sum_k' att[i,k'] dA[i,k'])  (softmax Jacobian -> ds)
 *   dq[i,j] = sum_k dS[i,k] k[k,j] / sqrt(d)  dk[k,j] = sum_i dS[i,k] q[i,j] / sqrt(d)
 * (masked entries have att = 0, hence dS = 0: no gradient flows through them). dA is
 * formed in the ds row it becomes. Reductions are accumulated in double. */
#include <math.h>

#include "ref.h"

/* One (n, h) pair's matrices: row pointers advance by C (q, k, v, o) or by Lk (a, s). */
typedef struct xa_pair {
    const float *q, *k, *v, *bias, *dO;
    float *o, *a, *s, *dq, *dk, *dv;
} xa_pair;

typedef struct xa_dims {
    int64_t N, Lq, Lk, C, heads, d;
    int causal;
    double scale;
} xa_dims;

static xa_dims xa_geometry(const fm_tensor *q, const fm_tensor *k, const fm_call *c)
{
    xa_dims g = {q->shape[0], q->shape[1], k->shape[1], q->shape[2], c->i[0], 0, c->i[1], 0.0};
    g.d = g.C / g.heads;
    g.scale = 1.0 / sqrt((double)g.d);
    return g;
}

/* Row i of S into ar (masked keys -inf); returns the row's largest score (-inf: none
 * kept). */
static double scores(float *ar, const xa_pair *p, const xa_dims *g, int64_t i)
{
    double mx = -HUGE_VAL;
    for (int64_t kk = 0; kk < g->Lk; kk++) {
        double b = p->bias ? p->bias[kk] : 0.0;
        if ((g->causal && kk > i) || b == -HUGE_VAL) {
            ar[kk] = -INFINITY;
            continue;
        }
        double acc = 0.0;
        for (int64_t j = 0; j < g->d; j++)
            acc += (double)p->q[i * g->C + j] * p->k[kk * g->C + j];
        ar[kk] = (float)(acc * g->scale + b);
        if (ar[kk] > mx)
            mx = ar[kk];
    }
    return mx;
}

/* att and o of one pair; FM_ERR_ARG (message set) on a row that keeps no key. */
static fm_status forward_pair(fm_backend *be, const xa_pair *p, const xa_dims *g, int64_t n)
{
    for (int64_t i = 0; i < g->Lq; i++) {
        float *ar = p->a + i * g->Lk;
        double mx = scores(ar, p, g, i), sum = 0.0;
        if (mx == -HUGE_VAL)
            return fm_fail(be, FM_ERR_ARG,
                           "xattn: query %lld of sample %lld keeps no key (every one masked)",
                           (long long)i, (long long)n);
        for (int64_t kk = 0; kk < g->Lk; kk++) {
            double e = ar[kk] == -INFINITY ? 0.0 : exp(ar[kk] - mx);
            ar[kk] = (float)e;
            sum += e;
        }
        for (int64_t kk = 0; kk < g->Lk; kk++)
            ar[kk] = (float)(ar[kk] / sum);
        for (int64_t j = 0; j < g->d; j++) {
            double acc = 0.0;
            for (int64_t kk = 0; kk < g->Lk; kk++)
                acc += (double)ar[kk] * p->v[kk * g->C + j];
            p->o[i * g->C + j] = (float)acc;
        }
    }
    return FM_OK;
}

/* ds (dA, then the Jacobian product in place) and dv of one pair. */
static void backward_ds_dv(const xa_pair *p, const xa_dims *g)
{
    for (int64_t i = 0; i < g->Lq; i++) {
        const float *ar = p->a + i * g->Lk;
        float *sr = p->s + i * g->Lk;
        double dot = 0.0;
        for (int64_t kk = 0; kk < g->Lk; kk++) {
            double acc = 0.0;
            for (int64_t j = 0; j < g->d; j++)
                acc += (double)p->dO[i * g->C + j] * p->v[kk * g->C + j];
            sr[kk] = (float)acc;
            dot += (double)ar[kk] * sr[kk];
        }
        for (int64_t kk = 0; kk < g->Lk; kk++)
            sr[kk] = (float)(ar[kk] * (sr[kk] - dot));
    }
    for (int64_t kk = 0; kk < g->Lk; kk++)
        for (int64_t j = 0; j < g->d; j++) {
            double acc = 0.0;
            for (int64_t i = 0; i < g->Lq; i++)
                acc += (double)p->a[i * g->Lk + kk] * p->dO[i * g->C + j];
            p->dv[kk * g->C + j] = (float)acc;
        }
}

/* dq and dk of one pair from its ds. */
static void backward_dq_dk(const xa_pair *p, const xa_dims *g)
{
    for (int64_t i = 0; i < g->Lq; i++)
        for (int64_t j = 0; j < g->d; j++) {
            double acc = 0.0;
            for (int64_t kk = 0; kk < g->Lk; kk++)
                acc += (double)p->s[i * g->Lk + kk] * p->k[kk * g->C + j];
            p->dq[i * g->C + j] = (float)(acc * g->scale);
        }
    for (int64_t kk = 0; kk < g->Lk; kk++)
        for (int64_t j = 0; j < g->d; j++) {
            double acc = 0.0;
            for (int64_t i = 0; i < g->Lq; i++)
                acc += (double)p->s[i * g->Lk + kk] * p->q[i * g->C + j];
            p->dk[kk * g->C + j] = (float)(acc * g->scale);
        }
}

/* Element offsets of pair (n, h): into q-like rows, k-like rows, and att-like blocks. */
static int64_t off_q(const xa_dims *g, int64_t n, int64_t h)
{
    return n * g->Lq * g->C + h * g->d;
}
static int64_t off_k(const xa_dims *g, int64_t n, int64_t h)
{
    return n * g->Lk * g->C + h * g->d;
}
static int64_t off_a(const xa_dims *g, int64_t n, int64_t h)
{
    return (n * g->heads + h) * g->Lq * g->Lk;
}

/* t: out, att, q, k, v, bias?   i0 heads, i1 causal */
fm_status fm_ref_xattn_fwd(fm_backend *be, const fm_call *c)
{
    const xa_dims g = xa_geometry(&c->t[2], &c->t[3], c);
    const float *bias = fm_tensor_present(&c->t[5]) ? fm_f32(&c->t[5]) : NULL;
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t h = 0; h < g.heads; h++) {
            xa_pair p = {.q = fm_f32(&c->t[2]) + off_q(&g, n, h),
                         .k = fm_f32(&c->t[3]) + off_k(&g, n, h),
                         .v = fm_f32(&c->t[4]) + off_k(&g, n, h),
                         .bias = bias ? bias + n * g.Lk : NULL,
                         .o = fm_f32(&c->t[0]) + off_q(&g, n, h),
                         .a = fm_f32(&c->t[1]) + off_a(&g, n, h)};
            FM_TRY(forward_pair(be, &p, &g, n));
        }
    return FM_OK;
}

/* t: dq, dk, dv, ds, dout, q, k, v, att   i0 heads */
fm_status fm_ref_xattn_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const xa_dims g = xa_geometry(&c->t[5], &c->t[6], c);
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t h = 0; h < g.heads; h++) {
            xa_pair p = {.dq = fm_f32(&c->t[0]) + off_q(&g, n, h),
                         .dk = fm_f32(&c->t[1]) + off_k(&g, n, h),
                         .dv = fm_f32(&c->t[2]) + off_k(&g, n, h),
                         .s = fm_f32(&c->t[3]) + off_a(&g, n, h),
                         .dO = fm_f32(&c->t[4]) + off_q(&g, n, h),
                         .q = fm_f32(&c->t[5]) + off_q(&g, n, h),
                         .k = fm_f32(&c->t[6]) + off_k(&g, n, h),
                         .v = fm_f32(&c->t[7]) + off_k(&g, n, h),
                         .a = fm_f32(&c->t[8]) + off_a(&g, n, h)};
            backward_ds_dv(&p, &g);
            backward_dq_dk(&p, &g);
        }
    return FM_OK;
}
