/* fmrt diff A B: how far two weights or checkpoint files of one model are apart,
 * tensor by tensor. For runs that should agree up to float summation order (two
 * backends, one rank against N ranks): rel = ||a - b||_2 / ||a||_2 over every float
 * of the tensors both files hold, and per tensor with --all.
 *
 * Every tensor of either file is accounted for: one only in A or only in B, or with
 * another shape or dtype, and another config, make the files differ in structure
 * (exit 1 with or without --tol: they are not the same model, and no number says how
 * far apart they are). Floats (f32, f16, bf16) are compared as numbers, u8 and i32
 * tensors exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_backend.h"
#include "cli_diff.h"
#include "cli_mem.h"
#include "commands.h"
#include "io.h"
#include "model.h"

#define CMD "diff"
/* Structural differences listed without --all (the rest are counted). */
#define LIST_MAX 10

typedef cli_diff_opts diff_opts;

int parse_diff_args(int argc, char **argv, diff_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return CLI_HELP;
        if (strcmp(a, "--all") == 0) {
            o->all = 1;
        } else if (strcmp(a, "--tol") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error(CMD, "--tol needs a value");
            if (cli_float("--tol", argv[++i], 0, 1e30, &o->tol))
                return 2;
            o->have_tol = 1;
        } else if (strncmp(a, "--", 2) == 0) {
            return cli_usage_error(CMD, "unknown option '%s'", a);
        } else if (!o->a || !o->b) {
            *(o->a ? &o->b : &o->a) = a;
        } else {
            return cli_usage_error(CMD, "unexpected argument '%s'", a);
        }
    }
    if (!o->b)
        return cli_usage_error(CMD, "give two files: fmrt diff A B");
    return 0;
}

/* What the comparison found, over the files or one tensor. */
typedef struct tally {
    double se, sa, max_abs; /* sum (a - b)^2, sum a^2, max |a - b| over floats */
    long long floats, ints, ints_differ, nonfinite;
    int tensors, structural, listed;
} tally;

static int is_float(fm_dtype d) { return d == FM_F32 || d == FM_F16 || d == FM_BF16; }

/* Element i of a float tensor as a double (f16 and bf16 widen exactly). */
static double float_at(const fm_wtensor *t, int64_t i)
{
    if (t->dtype == FM_F32) {
        float f;
        memcpy(&f, (const uint8_t *)t->data + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const uint8_t *)t->data + 2 * i, 2);
    if (t->dtype == FM_BF16) {
        uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Element i of a u8 or i32 tensor. */
static int64_t int_at(const fm_wtensor *t, int64_t i)
{
    if (t->dtype == FM_U8)
        return ((const uint8_t *)t->data)[i];
    int32_t v;
    memcpy(&v, (const uint8_t *)t->data + 4 * i, 4);
    return v;
}

static int64_t count(const fm_wtensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

/* ta against tb, same shape and dtype, into *c (zeroed by the caller). */
static void compare(const fm_wtensor *ta, const fm_wtensor *tb, tally *c)
{
    int64_t n = count(ta);
    for (int64_t i = 0; i < n; i++) {
        if (!is_float(ta->dtype)) {
            c->ints_differ += int_at(ta, i) != int_at(tb, i);
            continue;
        }
        double a = float_at(ta, i), b = float_at(tb, i), d = fabs(a - b);
        if (!isfinite(a) || !isfinite(b)) {
            c->nonfinite++;
            continue;
        }
        c->se += d * d;
        c->sa += a * a;
        c->max_abs = d > c->max_abs ? d : c->max_abs;
    }
    *(is_float(ta->dtype) ? &c->floats : &c->ints) += n;
}

/* "rel L2 X", or "A is all zero: abs L2 X" where ||a|| = 0 (no relative size). */
static void l2_text(const tally *c, char *buf, size_t len)
{
    if (c->floats == 0)
        snprintf(buf, len, "no floats compared");
    else if (c->sa > 0)
        snprintf(buf, len, "rel L2 %.3e", sqrt(c->se / c->sa));
    else
        snprintf(buf, len, "A is all zero: abs L2 %.3e", sqrt(c->se));
}

static void shape_text(const fm_wtensor *t, char *buf, size_t len)
{
    size_t k = (size_t)snprintf(buf, len, "%s [", fm_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    if (k < len)
        snprintf(buf + k, len - k, "]");
}

/* One structural difference: counted, and listed (all of them with --all). */
static void structural(const diff_opts *o, tally *tot, const char *fmt, const char *name,
                       const char *x, const char *y)
{
    tot->structural++;
    if (!o->all && tot->listed >= LIST_MAX)
        return;
    tot->listed++;
    printf(fmt, name, x, y);
}

/* Tensor i of wa against its namesake in wb. */
static void diff_tensor(const diff_opts *o, const fm_wtensor *ta, const fm_weights *wb,
                        tally *tot)
{
    fm_wtensor tb;
    char sa[96], sb[96], l2[64];
    int j = fm_weights_find(wb, ta->name);
    shape_text(ta, sa, sizeof sa);
    if (j < 0 || fm_weights_tensor(wb, j, &tb) != FM_OK) {
        structural(o, tot, "  only in A: %s %s%s\n", ta->name, sa, "");
        return;
    }
    shape_text(&tb, sb, sizeof sb);
    int same_shape = tb.ndim == ta->ndim && memcmp(ta->shape, tb.shape, sizeof ta->shape) == 0;
    if (!same_shape || tb.dtype != ta->dtype)
        structural(o, tot, "  differs: %s is %s in A, %s in B\n", ta->name, sa, sb);
    /* f32 against f16 of one shape is still compared: what the narrowing cost. */
    if (!same_shape || (tb.dtype != ta->dtype && !(is_float(ta->dtype) && is_float(tb.dtype))))
        return;
    tally c = {0};
    compare(ta, &tb, &c);
    if (o->all && is_float(ta->dtype)) {
        l2_text(&c, l2, sizeof l2);
        printf("  %-40s max abs %.3e  %s\n", ta->name, c.max_abs, l2);
    } else if (c.ints_differ) {
        printf("  %-40s %lld of %lld entries differ (%s)\n", ta->name, c.ints_differ, c.ints,
               fm_dtype_name(ta->dtype));
    }
    tot->se += c.se;
    tot->sa += c.sa;
    tot->max_abs = c.max_abs > tot->max_abs ? c.max_abs : tot->max_abs;
    tot->floats += c.floats;
    tot->ints += c.ints;
    tot->ints_differ += c.ints_differ;
    tot->nonfinite += c.nonfinite;
    tot->tensors++;
}

/* The configs, and B's tensors that A lacks. */
static void diff_rest(const diff_opts *o, const fm_weights *wa, const fm_weights *wb, tally *tot)
{
    char ca[512], cb[512], s[96];
    fm_config_format(&wa->cfg, ca, sizeof ca);
    fm_config_format(&wb->cfg, cb, sizeof cb);
    if (strcmp(ca, cb) != 0) {
        tot->structural++;
        tot->listed++;
        printf("  config of A: %s\n  config of B: %s\n", ca, cb);
    }
    for (int j = 0; j < wb->ntensors; j++) {
        fm_wtensor tb;
        if (fm_weights_tensor(wb, j, &tb) == FM_OK && fm_weights_find(wa, tb.name) < 0) {
            shape_text(&tb, s, sizeof s);
            structural(o, tot, "  only in B: %s %s%s\n", tb.name, s, "");
        }
    }
}

int cli_diff_weights(const diff_opts *o, const fm_weights *wa, const fm_weights *wb)
{
    tally tot = {0};
    char l2[64];
    for (int i = 0; i < wa->ntensors; i++) {
        fm_wtensor ta;
        if (fm_weights_tensor(wa, i, &ta) == FM_OK)
            diff_tensor(o, &ta, wb, &tot);
    }
    diff_rest(o, wa, wb, &tot);
    if (tot.structural > tot.listed)
        printf("  ... %d more structural differences (--all lists them)\n",
               tot.structural - tot.listed);
    l2_text(&tot, l2, sizeof l2);
    printf("%d tensors compared, %lld floats: max abs %.3e  %s", tot.tensors, tot.floats,
           tot.max_abs, l2);
    if (tot.ints)
        printf("; %lld of %lld integer entries differ", tot.ints_differ, tot.ints);
    printf("\n");
    if (tot.structural)
        return cli_error("%s and %s differ in structure (%d differences in tensors, shapes, "
                         "dtypes or config, listed above): not the same model",
                         o->a, o->b, tot.structural);
    if (tot.nonfinite)
        return cli_error("%lld non-finite values (NaN or inf) in the files", tot.nonfinite);
    double dist = tot.sa > 0 ? sqrt(tot.se / tot.sa) : sqrt(tot.se);
    if (o->have_tol && !(dist <= o->tol))
        return cli_error("%s %.3e is above --tol %.3e",
                         tot.sa > 0 ? "rel L2" : "abs L2 (A is all zero)", dist, o->tol);
    if (o->have_tol && tot.ints_differ)
        return cli_error("%lld integer entries differ: --tol applies to floats, integers must "
                         "be equal",
                         tot.ints_differ);
    return 0;
}

int cmd_diff(int argc, char **argv)
{
    diff_opts o;
    int rc = parse_diff_args(argc, argv, &o);
    if (rc == CLI_HELP) {
        printf("usage: fmrt diff A B [--tol X] [--all]\n\n"
               "Compares two weights or checkpoint files, every tensor of either: float\n"
               "tensors (f32, f16, bf16) as numbers, max |a - b| and rel L2 = ||a - b|| / ||a||\n"
               "over all of them (each with --all; \"A is all zero: abs L2\" where ||a|| = 0);\n"
               "u8 and i32 tensors entry by entry. A tensor only in A or only in B, one of\n"
               "another shape or dtype, and another config are listed: the files differ in\n"
               "structure, and the exit status is 1 with or without --tol.\n"
               "With --tol, also exits 1 when rel L2 is above X or an integer entry differs.\n");
        return 0;
    }
    if (rc)
        return rc;
    fm_weights wa, wb;
    cli_mem ma = {0}, mb = {0};
    rc = cli_load_weights(o.a, &wa, NULL, &ma) || cli_load_weights(o.b, &wb, NULL, &mb);
    if (rc == 0)
        rc = cli_diff_weights(&o, &wa, &wb);
    cli_mem_free(&ma);
    cli_mem_free(&mb);
    return rc;
}
