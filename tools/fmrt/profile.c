/* Per-op profile of a real run through the backend's op observer (fm_op_observer).
 *
 * Every call fm_run dispatches is timed (after fm_sync on both sides, so that a
 * device backend's queue holds only that kernel) and added to the row of its op and
 * shape: rows are what `fmrt bench` prints per op, forward and backward, with the
 * model's own shapes. Each row carries its work:
 *
 *   conv2d_fwd     2 N Co Ho Wo Ci K^2 flop (the direct convolution's count, also
 *                  when the backend runs Winograd: rates are then "effective")
 *   conv2d_bwd     the same per product computed: dw always, din when present
 *   linear_fwd     2 N O I;  linear_bwd: 2 N O I per product (dw, din when present)
 *   attention_fwd  4 N L^2 C (q^T k and A v over all heads);  _bwd: 8 N L^2 C
 *   any other op   bytes moved: each tensor read ('i') or written ('o') once, an
 *                  updated one ('a') twice -- the least traffic the op can have
 *
 * so a row's rate is GFLOP/s for the GEMM-shaped ops and GB/s for the rest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "profile.h"

static int64_t dim(const fm_tensor *t, int d)
{
    return t->ndim > d ? t->shape[d] : 1;
}

/* flop of a GEMM-shaped call (0 for the others, which are counted in bytes). */
static double call_flop(const fm_call *c)
{
    const fm_tensor *t = c->t;
    switch (c->op) {
    case FM_OP_CONV2D_FWD:
        return 2.0 * (double)fm_tensor_numel(&t[0]) *
               (double)(dim(&t[2], 1) * dim(&t[2], 2) * dim(&t[2], 3));
    case FM_OP_CONV2D_BWD:
        return 2.0 * (double)fm_tensor_numel(&t[3]) *
               (double)(dim(&t[5], 1) * dim(&t[5], 2) * dim(&t[5], 3)) *
               (1 + fm_tensor_present(&t[0]));
    case FM_OP_LINEAR_FWD: return 2.0 * (double)fm_tensor_numel(&t[0]) * (double)dim(&t[2], 1);
    case FM_OP_LINEAR_BWD:
        return 2.0 * (double)fm_tensor_numel(&t[3]) * (double)dim(&t[5], 1) *
               (1 + fm_tensor_present(&t[0]));
    case FM_OP_ATTENTION_FWD:
    case FM_OP_ATTENTION_BWD: {
        double L = (double)(dim(&t[0], 2) * dim(&t[0], 3));
        double f = 4.0 * (double)fm_tensor_numel(&t[0]) * L; /* numel = N C L */
        return c->op == FM_OP_ATTENTION_FWD ? f : 2 * f;
    }
    default: return 0;
    }
}

static double call_bytes(const fm_call *c)
{
    const fm_op_info *info = fm_op_get_info(c->op);
    double b = 0;
    for (int k = 0; k < info->ntensors; k++) {
        if (!fm_tensor_present(&c->t[k]))
            continue;
        char s = info->slots[k];
        b += (double)fm_tensor_bytes(&c->t[k]) * (s == 'a' || s == 'A' ? 2 : 1);
    }
    return b;
}

/* The row a call belongs to, in the model's terms:
 *   conv2d     "N64 64->128 14x14 k3 s1 p1" (input channels -> output channels at the
 *              input's size); backward adds "+din" when it computes the input gradient
 *   linear     "N64 128->128";  attention "N64 C128 7x7 h4"
 *   the rest   the shape of its largest tensor ("+silu": a fused group norm) */
static void call_key(const fm_call *c, char *key, size_t len)
{
    const fm_tensor *t = c->t;
    switch (c->op) {
    case FM_OP_CONV2D_FWD:
    case FM_OP_CONV2D_BWD: {
        const fm_tensor *in = c->op == FM_OP_CONV2D_FWD ? &t[1] : &t[4],
                        *w = c->op == FM_OP_CONV2D_FWD ? &t[2] : &t[5];
        snprintf(key, len, "N%lld %lld->%lld %lldx%lld k%lld s%d p%d%s", (long long)dim(in, 0),
                 (long long)dim(w, 1), (long long)dim(w, 0), (long long)dim(in, 2),
                 (long long)dim(in, 3), (long long)dim(w, 2), (int)c->i[0], (int)c->i[1],
                 c->op == FM_OP_CONV2D_BWD && fm_tensor_present(&t[0]) ? " +din" : "");
        return;
    }
    case FM_OP_LINEAR_FWD:
    case FM_OP_LINEAR_BWD: {
        const fm_tensor *w = c->op == FM_OP_LINEAR_FWD ? &t[2] : &t[5];
        snprintf(key, len, "N%lld %lld->%lld%s",
                 (long long)dim(c->op == FM_OP_LINEAR_FWD ? &t[1] : &t[4], 0), (long long)dim(w, 1),
                 (long long)dim(w, 0),
                 c->op == FM_OP_LINEAR_BWD && fm_tensor_present(&t[0]) ? " +din" : "");
        return;
    }
    case FM_OP_ATTENTION_FWD:
    case FM_OP_ATTENTION_BWD: {
        const fm_tensor *o = c->op == FM_OP_ATTENTION_FWD ? &t[0] : &t[2];
        snprintf(key, len, "N%lld C%lld %lldx%lld h%d", (long long)dim(o, 0), (long long)dim(o, 1),
                 (long long)dim(o, 2), (long long)dim(o, 3), (int)c->i[0]);
        return;
    }
    default: break;
    }
    const fm_op_info *info = fm_op_get_info(c->op);
    const fm_tensor *big = NULL;
    for (int i = 0; i < info->ntensors; i++)
        if (fm_tensor_present(&t[i]) && (!big || fm_tensor_numel(&t[i]) > fm_tensor_numel(big)))
            big = &t[i];
    char sh[64] = "-";
    if (big)
        fm_tensor_shape_str(big, sh, sizeof sh);
    snprintf(key, len, "%s%s", sh, c->op == FM_OP_GROUPNORM_FWD && c->i[1] ? " +silu" : "");
}

static void observe(void *user, fm_backend *be, const fm_call *c, int after, fm_status s)
{
    cli_profile *p = user;
    if (p->failed || fm_sync(be) != FM_OK) {
        p->failed = 1;
        return;
    }
    double now = cli_now();
    if (!after) {
        p->t0 = now;
        return;
    }
    if (s != FM_OK)
        return;
    char key[CLI_PROFILE_KEY];
    call_key(c, key, sizeof key);
    cli_profile_row *r = NULL;
    for (int i = 0; i < p->nrows && !r; i++)
        if (p->rows[i].op == c->op && strcmp(p->rows[i].shape, key) == 0)
            r = &p->rows[i];
    if (!r) {
        if (p->nrows == CLI_PROFILE_ROWS) {
            p->dropped++;
            return;
        }
        r = &p->rows[p->nrows++];
        memset(r, 0, sizeof *r);
        r->op = c->op;
        snprintf(r->shape, sizeof r->shape, "%s", key);
    }
    r->calls++;
    r->seconds += now - p->t0;
    double flop = call_flop(c);
    r->flop += flop;
    r->bytes += flop > 0 ? 0 : call_bytes(c);
    p->op_seconds += now - p->t0;
}

void cli_profile_begin(cli_profile *p, fm_backend *be)
{
    memset(p, 0, sizeof *p);
    be->observer = observe;
    be->observer_user = p;
    p->wall = cli_now();
}

int cli_profile_end(cli_profile *p, fm_backend *be)
{
    fm_status s = fm_sync(be);
    p->wall = cli_now() - p->wall;
    be->observer = NULL;
    be->observer_user = NULL;
    return s != FM_OK || p->failed;
}

static int by_time(const void *a, const void *b)
{
    double x = ((const cli_profile_row *)a)->seconds, y = ((const cli_profile_row *)b)->seconds;
    return x > y ? -1 : x < y;
}

/* Rows of the same op added together (shape "all"), sorted by time. */
static int by_op(const cli_profile *p, cli_profile_row *out)
{
    int n = 0;
    for (int i = 0; i < p->nrows; i++) {
        int j = 0;
        while (j < n && out[j].op != p->rows[i].op)
            j++;
        if (j == n) {
            memset(&out[n], 0, sizeof out[n]);
            out[n].op = p->rows[i].op;
            snprintf(out[n].shape, sizeof out[n].shape, "(all shapes)");
            n++;
        }
        out[j].calls += p->rows[i].calls;
        out[j].seconds += p->rows[i].seconds;
        out[j].flop += p->rows[i].flop;
        out[j].bytes += p->rows[i].bytes;
    }
    qsort(out, (size_t)n, sizeof *out, by_time);
    return n;
}

static void print_row(const cli_profile_row *r, double total, double runs, double sgemm)
{
    double per_run = r->seconds / runs;
    char rate[48];
    if (r->flop > 0) {
        double g = r->flop / r->seconds / 1e9;
        if (sgemm > 0)
            snprintf(rate, sizeof rate, "%8.1f GFLOP/s %4.0f%%", g, 100 * g / sgemm);
        else
            snprintf(rate, sizeof rate, "%8.1f GFLOP/s      ", g);
    } else
        snprintf(rate, sizeof rate, "%8.2f GB/s         ", r->bytes / r->seconds / 1e9);
    printf("  %5.1f%% %10.3f ms %6.3g %10.1f us  %s  %-15s %s\n", 100 * r->seconds / total,
           1e3 * per_run, r->calls / runs, 1e6 * r->seconds / (double)r->calls, rate,
           fm_op_get_info(r->op)->name, r->shape);
}

void cli_profile_print(const cli_profile *p, const char *title, double runs, double sgemm, int top)
{
    static cli_profile_row ops[FM_OP_COUNT];
    static cli_profile_row rows[CLI_PROFILE_ROWS];
    double total = p->op_seconds > 0 ? p->op_seconds : 1e-30;
    printf(
        "\n%s: %.3f s wall for %g run(s), ops %.1f%% of it (the rest: memory moves, host code)\n",
        title, p->wall, runs, 100 * p->op_seconds / (p->wall > 0 ? p->wall : 1e-30));
    printf("  %6s %13s %6s %13s  %-22s  %-15s %s\n", "share", "per run", "calls", "per call",
           "rate", "op", "shapes");
    int n = by_op(p, ops);
    for (int i = 0; i < n; i++)
        print_row(&ops[i], total, runs, sgemm);
    memcpy(rows, p->rows, (size_t)p->nrows * sizeof *rows);
    qsort(rows, (size_t)p->nrows, sizeof *rows, by_time);
    int shown = top < p->nrows ? top : p->nrows;
    printf("  the %d costliest (op, shape) rows of %d:\n", shown, p->nrows);
    for (int i = 0; i < shown; i++)
        print_row(&rows[i], total, runs, sgemm);
    if (p->dropped)
        printf("  (%d calls of shapes beyond the first %d are not in the table)\n", p->dropped,
               CLI_PROFILE_ROWS);
    fflush(stdout);
}

void cli_profile_json(const cli_profile *p, FILE *f, const char *backend, const char *what,
                      const char *preset, double runs, int *first)
{
    for (int i = 0; i < p->nrows; i++) {
        const cli_profile_row *r = &p->rows[i];
        fprintf(f, "%s", *first ? "" : ",\n");
        *first = 0;
        fprintf(f,
                "    {\"backend\": \"%s\", \"what\": \"%s\", \"preset\": \"%s\", \"op\": \"%s\", "
                "\"shape\": \"%s\", \"calls_per_run\": %.6g, \"seconds_per_run\": %.6g, "
                "\"gflop_per_run\": %.6g, \"gbytes_per_run\": %.6g}",
                backend, what, preset, fm_op_get_info(r->op)->name, r->shape, r->calls / runs,
                r->seconds / runs, r->flop / runs / 1e9, r->bytes / runs / 1e9);
    }
}
