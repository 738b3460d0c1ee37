/* fmrt diff A B: how far two weights or checkpoint files of one model are apart,
 * tensor by tensor. For runs that should agree up to float summation order (two
 * backends, one rank against N ranks): rel = ||a - b||_2 / ||a||_2 over every float
 * of the tensors both files hold, and per tensor with --all. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_backend.h"
#include "cli_diff.h"
#include "cli_mem.h"
#include "commands.h"
#include "conf_rows.h"
#include "io.h"

#define CMD "diff"

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

/* rel L2 = sqrt(NMSE) of the conformance comparison (b against the reference a). */
static double rel(const fm_conf_cmp *c) { return sqrt(fm_conf_nmse(c)); }

/* Every float tensor of a against the tensor of that name in b. */
static int diff(const diff_opts *o, const fm_weights *wa, const fm_weights *wb)
{
    fm_conf_cmp tot = {0, 0, 0, 0};
    long long n = 0;
    int nt = 0;
    for (int i = 0; i < wa->ntensors; i++) {
        fm_wtensor ta, tb;
        if (fm_weights_tensor(wa, i, &ta) != FM_OK || ta.dtype != FM_F32)
            continue;
        int j = fm_weights_find(wb, ta.name);
        if (j < 0 || fm_weights_tensor(wb, j, &tb) != FM_OK)
            return cli_error("%s has %s, %s does not", o->a, ta.name, o->b);
        if (tb.dtype != FM_F32 || tb.bytes != ta.bytes ||
            memcmp(ta.shape, tb.shape, sizeof ta.shape) != 0)
            return cli_error("%s: shape or type differs between %s and %s", ta.name, o->a, o->b);
        int64_t cnt = (int64_t)(ta.bytes / sizeof(float));
        fm_conf_cmp c = fm_conf_compare(tb.data, ta.data, FM_F32, 0, cnt);
        if (o->all)
            printf("  %-40s max abs %.3e  rel %.3e\n", ta.name, c.max_abs, rel(&c));
        tot.se += c.se;
        tot.sr += c.sr;
        tot.max_abs = c.max_abs > tot.max_abs ? c.max_abs : tot.max_abs;
        tot.nonfinite += c.nonfinite;
        n += cnt;
        nt++;
    }
    printf("%d tensors, %lld floats: max abs %.3e  rel L2 %.3e\n", nt, n, tot.max_abs, rel(&tot));
    if (tot.nonfinite)
        return cli_error("%d non-finite values (NaN or inf) in the files", tot.nonfinite);
    if (o->have_tol && !(rel(&tot) <= o->tol))
        return cli_error("rel L2 %.3e is above --tol %.3e", rel(&tot), o->tol);
    return 0;
}

int cmd_diff(int argc, char **argv)
{
    diff_opts o;
    int rc = parse_diff_args(argc, argv, &o);
    if (rc == CLI_HELP) {
        printf("usage: fmrt diff A B [--tol X] [--all]\n\n"
               "Compares the float tensors of two weights or checkpoint files: max |a - b|\n"
               "and rel L2 = ||a - b|| / ||a|| over all of them (each with --all). With\n"
               "--tol, exits 1 when rel L2 is above X.\n");
        return 0;
    }
    if (rc)
        return rc;
    fm_weights wa, wb;
    cli_mem ma = {0}, mb = {0};
    rc = cli_load_weights(o.a, &wa, NULL, &ma) || cli_load_weights(o.b, &wb, NULL, &mb);
    if (rc == 0)
        rc = diff(&o, &wa, &wb);
    cli_mem_free(&ma);
    cli_mem_free(&mb);
    return rc;
}
