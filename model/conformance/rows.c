/* Conformance rows: tolerances, comparison and reporting, shared by the op rows and
 * the whole-model rows. See conformance.h for the contract. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "conf_rows.h"

/* A whole-model forward row: its loss or its output. */
static int forward_row(const char *op)
{
    return strncmp(op, "unet", 4) == 0 || strncmp(op, "model_fwd", 9) == 0 ||
           strncmp(op, "train_loss", 10) == 0;
}

/* bfloat16 convs (cpu): see TOL_BF16_* */
static double tol_bf16(const char *op, double tol)
{
    if (tol == TOL_FWD && forward_row(op))
        return TOL_BF16_FWD;
    if (strncmp(op, "train_grads", 11) == 0)
        return TOL_BF16_GRAD;
    if (tol == TOL_STEP)
        return TOL_BF16_STEP;
    if (strncmp(op, "conv2d", 6) == 0)
        return tol > TOL_BF16_CONV ? tol : TOL_BF16_CONV;
    return tol;
}

/* The tolerance a row gets on `be`: the float32 one unless `be` runs TF32 GEMMs. */
double fm_conf_tol(const fm_backend *be, const char *op, double tol)
{
    if (be->flags & FM_BACKEND_BF16)
        return tol_bf16(op, tol);
    if (!(be->flags & FM_BACKEND_TF32))
        return tol;
    if (tol == TOL_FWD && forward_row(op))
        return TOL_TF32_FWD;
    if (tol == TOL_STEP)
        return TOL_TF32_STEP;
    if (strncmp(op, "conv2d", 6) == 0 || strncmp(op, "linear", 6) == 0 ||
        strncmp(op, "attention", 9) == 0 || strncmp(op, "xattn", 5) == 0)
        return tol > TOL_TF32_GEMM ? tol : TOL_TF32_GEMM;
    return tol;
}

/* ---- rows and comparison ---------------------------------------------------------- */

const char *fm_conf_status_name(int status)
{
    switch (status) {
    case FM_CONF_PASS: return "pass";
    case FM_CONF_FAIL: return "FAIL";
    case FM_CONF_UNSUPPORTED: return "unsupported";
    default: return "ERROR";
    }
}

void fm_conf_emit(fm_conf_report cb, void *user, fm_conf_summary *sum, fm_conf_row *row)
{
    /* "worst: <first tensor>" would mislead when nothing differs at all. */
    if (row->status == FM_CONF_PASS && row->nmse == 0 && row->max_abs == 0 &&
        strncmp(row->note, "worst", 5) == 0)
        snprintf(row->note, sizeof row->note, "identical");
    if (sum) {
        switch (row->status) {
        case FM_CONF_PASS: sum->pass++; break;
        case FM_CONF_FAIL: sum->fail++; break;
        case FM_CONF_UNSUPPORTED: sum->unsupported++; break;
        default: sum->error++; break;
        }
    }
    if (cb)
        cb(user, row);
}

void fm_conf_row_init(fm_conf_row *row, const char *op, const char *shape, double tol)
{
    memset(row, 0, sizeof *row);
    snprintf(row->op, sizeof row->op, "%s", op);
    snprintf(row->shape, sizeof row->shape, "%s", shape);
    row->tol = tol;
    row->status = FM_CONF_PASS;
}

/* A failed call on one side: unsupported (the backend lacks an op) or an error. */
void fm_conf_row_failed(fm_conf_row *row, fm_status s, const char *who, const char *msg)
{
    row->status = s == FM_ERR_UNSUPPORTED ? FM_CONF_UNSUPPORTED : FM_CONF_ERROR;
    row->max_abs = row->nmse = NAN;
    /* "who: message", cut to the column (snprintf would warn about the truncation we
     * want). */
    const char *text = msg && msg[0] ? msg : fm_strerror(s);
    int named = strncmp(text, who, strlen(who)) == 0; /* "opencl: ..." already says who */
    const char *parts[3] = {named ? "" : who, named ? "" : ": ", text};
    size_t k = 0;
    for (int p = 0; p < 3; p++)
        for (const char *c = parts[p]; *c && k + 1 < sizeof row->note; c++)
            row->note[k++] = *c;
    row->note[k] = 0;
}

static double as_double(const void *p, fm_dtype d, int64_t e)
{
    switch (d) {
    case FM_I32: return (double)((const int32_t *)p)[e];
    case FM_U8: return (double)((const uint8_t *)p)[e];
    default: return (double)((const float *)p)[e];
    }
}

fm_conf_cmp fm_conf_compare(const void *x, const void *r, fm_dtype d, int64_t off, int64_t n)
{
    fm_conf_cmp c = {0, 0, 0, 0};
    for (int64_t e = off; e < off + n; e++) {
        double a = as_double(x, d, e), b = as_double(r, d, e);
        if (!isfinite(a) || !isfinite(b)) {
            c.nonfinite++;
            continue;
        }
        double diff = a - b;
        c.se += diff * diff;
        c.sr += b * b;
        if (fabs(diff) > c.max_abs)
            c.max_abs = fabs(diff);
    }
    return c;
}

double fm_conf_nmse(const fm_conf_cmp *c)
{
    return c->sr > 0 ? c->se / c->sr : c->se;
}

/* Fold one tensor's errors into the row: the worst NMSE and its tensor's name in the
 * note; a non-finite value fails the row and keeps its note. */
void fm_conf_row_add(fm_conf_row *row, const fm_conf_cmp *c, const char *what, int *first)
{
    double e = fm_conf_nmse(c);
    int sticky = strncmp(row->note, "non-finite", 10) == 0;
    if (c->max_abs > row->max_abs)
        row->max_abs = c->max_abs;
    if (c->nonfinite && !sticky)
        snprintf(row->note, sizeof row->note, "non-finite values in %s (%d)", what, c->nonfinite);
    else if (!sticky && (*first || e > row->nmse))
        snprintf(row->note, sizeof row->note, "worst: %s", what);
    if (*first || e > row->nmse)
        row->nmse = e;
    *first = 0;
    if (c->nonfinite || !(e <= row->tol))
        row->status = FM_CONF_FAIL;
}

fm_status fm_conf_host_alloc(fm_arena *host, size_t bytes, void **p)
{
    size_t off;
    fm_status s = fm_arena_alloc(host, bytes, &off);
    *p = s == FM_OK ? fm_arena_ptr(host, off) : NULL;
    return s;
}
