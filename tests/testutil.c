#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TU_ARENA_BYTES (64u << 20)

fm_backend *tu_ref(void)
{
    static fm_backend be;
    static void *mem;
    if (!mem) {
        mem = aligned_alloc(64, TU_ARENA_BYTES);
        cr_assert_not_null(mem);
        fm_backend_config cfg = {.name = "ref", .mem = mem, .mem_bytes = TU_ARENA_BYTES};
        cr_assert_eq(fm_backend_open(&be, &cfg), FM_OK, "%s", be.err);
    }
    fm_arena_reset(&be.arena, (fm_arena_mark){"empty", 0});
    return &be;
}

fm_tensor tu_tensor(fm_backend *be, fm_dtype d, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    int64_t s[4] = {d0, d1, d2, d3};
    fm_tensor t = fm_tensor_desc(d, ndim, s);
    cr_assert_eq(fm_tensor_alloc(be, &t), FM_OK, "%s", be->err);
    cr_assert_eq(fm_fill(be, &t, 0.0f), FM_OK, "%s", be->err);
    return t;
}

void tu_set(fm_backend *be, const fm_tensor *t, const float *v) { cr_assert_eq(fm_upload(be, t, v), FM_OK); }
void tu_set_i32(fm_backend *be, const fm_tensor *t, const int32_t *v) { cr_assert_eq(fm_upload(be, t, v), FM_OK); }
void tu_get(fm_backend *be, const fm_tensor *t, float *v) { cr_assert_eq(fm_download(be, v, t), FM_OK); }

/* xorshift32: tests need reproducible values, not quality randomness. */
static uint32_t xs(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

void tu_rand(fm_backend *be, const fm_tensor *t, uint32_t seed, float lo, float hi)
{
    int64_t n = fm_tensor_numel(t);
    float *v = malloc((size_t)n * sizeof *v);
    uint32_t s = seed * 2654435761u + 1u;
    for (int64_t i = 0; i < n; i++)
        v[i] = lo + (hi - lo) * (float)(xs(&s) >> 8) * (1.0f / 16777216.0f);
    tu_set(be, t, v);
    free(v);
}

void tu_run(fm_backend *be, const fm_call *c)
{
    fm_status s = fm_run(be, c);
    cr_assert_eq(s, FM_OK, "%s failed: %s (%s)", fm_op_get_info(c->op)->name, fm_strerror(s), be->err);
}

void tu_expect_close(const float *got, const float *want, int64_t n, double atol, double rtol, const char *what)
{
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        cr_expect(d <= atol + rtol * fabs((double)want[i]), "%s[%lld]: got %.9g, want %.9g", what,
                  (long long)i, got[i], want[i]);
        if (d > atol + rtol * fabs((double)want[i]))
            return; /* one message is enough */
    }
}

/* L = sum_k <out_k, r_k> in double, after running the forward. */
static double loss_of(fm_backend *be, tu_grad_case *gc, float **r)
{
    tu_run(be, &gc->fwd);
    double L = 0;
    for (int k = 0; k < gc->n_out; k++) {
        const fm_tensor *o = &gc->fwd.t[gc->out_slot[k]];
        const float *v = fm_f32(o);
        for (int64_t e = 0; e < fm_tensor_numel(o); e++)
            L += (double)v[e] * (double)r[k][e];
    }
    return L;
}

double tu_gradcheck(fm_backend *be, tu_grad_case *gc, const char *label)
{
    double h = gc->h > 0 ? gc->h : 1e-2, worst = 0;
    float *r[2] = {0};
    for (int k = 0; k < gc->n_out; k++) {
        const fm_tensor *o = &gc->fwd.t[gc->out_slot[k]];
        int64_t n = fm_tensor_numel(o);
        r[k] = malloc((size_t)n * sizeof(float));
        uint32_t s = 977u + 31u * (uint32_t)k;
        for (int64_t e = 0; e < n; e++)
            r[k][e] = -1.0f + 2.0f * (float)(xs(&s) >> 8) * (1.0f / 16777216.0f);
        tu_set(be, &gc->bwd.t[gc->dout_slot[k]], r[k]);
    }
    /* Analytic: forward on clean inputs (saved statistics), zeroed grads, backward. */
    tu_run(be, &gc->fwd);
    for (int w = 0; w < gc->n_wrt; w++)
        cr_assert_eq(fm_fill(be, &gc->bwd.t[gc->grad_slot[w]], 0.0f), FM_OK);
    tu_run(be, &gc->bwd);

    for (int w = 0; w < gc->n_wrt; w++) {
        const fm_tensor *x = &gc->fwd.t[gc->in_slot[w]];
        int64_t n = fm_tensor_numel(x);
        float *g = malloc((size_t)n * sizeof(float));
        tu_get(be, &gc->bwd.t[gc->grad_slot[w]], g);
        float *xv = fm_f32(x);
        double num2 = 0, den2 = 0;
        for (int64_t e = 0; e < n; e++) {
            float x0 = xv[e];
            float xp = x0 + (float)h, xm = x0 - (float)h;
            xv[e] = xp;
            double Lp = loss_of(be, gc, r);
            xv[e] = xm;
            double Lm = loss_of(be, gc, r);
            xv[e] = x0;
            double gn = (Lp - Lm) / ((double)xp - (double)xm);
            num2 += (g[e] - gn) * (g[e] - gn);
            den2 += gn * gn;
        }
        double rel = sqrt(num2) / fmax(sqrt(den2), 1e-12);
        printf("gradcheck %s slot %d: rel %.3e (|g| %.3e, n %lld)\n", label, gc->in_slot[w], rel,
               sqrt(den2), (long long)n);
        fflush(stdout);
        if (rel > worst)
            worst = rel;
        free(g);
    }
    tu_run(be, &gc->fwd);
    for (int k = 0; k < gc->n_out; k++)
        free(r[k]);
    return worst;
}
