/* fmrt bench: honest numbers per backend.
 *
 *   gemm   the backend's SGEMM rate, measured once through LINEAR_FWD on a
 *          1024 x 1024 x 1024 problem (2.1 GFLOP): every other figure can be read
 *          as a fraction of it
 *   train  img/s of fm_train_step at a batch (default 128) per preset
 *   sample seconds to sample N images (default 64) with S Euler steps (default 50)
 *   ops    per op, forward and backward, with the model's own shapes: one profiled
 *          training step and a few profiled sampling steps (profile.c), each call's
 *          time, GFLOP/s (convs, linears, attention) or GB/s (the rest), its share of
 *          the run and of the SGEMM rate
 *
 * Each figure: warm-up runs, then repeats; the median, min and max are printed
 * (and written as JSON with --json FILE). --quick shortens every run, for smoke
 * tests; its numbers are not the targets' numbers. */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_backend.h"
#include "cli_config.h"
#include "cli_mem.h"
#include "commands.h"
#include "flow.h"
#include "fmrt.h"
#include "profile.h"

typedef struct stats {
    double median, min, max;
    int n;
} stats;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static stats summarise(double *v, int n)
{
    stats s = {0, 0, 0, n};
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return s;
}

typedef struct bench_opts {
    const char *backend;
    const char *presets[32];
    int npresets;
    int batch, sample_n, sample_steps, repeats, warmup, quick, tf32;
    int ops, top; /* per-op profiles (--no-ops: none); rows shown per profile */
    const char *json;
} bench_opts;

typedef struct result {
    char backend[48], what[48], preset[16], unit[16];
    stats s;      /* of the time per run, seconds */
    double value; /* the headline figure in `unit` (from the median) */
    double work;  /* GFLOP per run where known (0 otherwise) */
} result;

#define MAX_RESULTS 64
static result results[MAX_RESULTS];
static int nresults;

/* Profiles kept for the JSON file. */
typedef struct kept_profile {
    char backend[48], what[48], preset[16];
    double runs;
    cli_profile p;
} kept_profile;
#define MAX_PROFILES 16
static kept_profile *profiles[MAX_PROFILES];
static int nprofiles;

static void keep_profile(const char *be, const char *what, const char *preset, double runs,
                         const cli_profile *p)
{
    kept_profile *k = nprofiles < MAX_PROFILES ? malloc(sizeof *k) : NULL;
    if (!k)
        return;
    snprintf(k->backend, sizeof k->backend, "%s", be);
    snprintf(k->what, sizeof k->what, "%s", what);
    snprintf(k->preset, sizeof k->preset, "%s", preset);
    k->runs = runs;
    k->p = *p;
    profiles[nprofiles++] = k;
}

static void add_result(const char *be, const char *what, const char *preset, const char *unit,
                       stats s, double value, double work)
{
    if (nresults == MAX_RESULTS)
        return;
    result *r = &results[nresults++];
    snprintf(r->backend, sizeof r->backend, "%s", be);
    snprintf(r->what, sizeof r->what, "%s", what);
    snprintf(r->preset, sizeof r->preset, "%s", preset);
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    r->s = s;
    r->value = value;
    r->work = work;
    printf("%-8s %-22s %-11s %12.3f %-8s  (median %.4f s, min %.4f, max %.4f, n=%d)\n", be, what,
           preset, value, unit, s.median, s.min, s.max, s.n);
    fflush(stdout);
}

/* Time `fn` (warm-up + repeats) after which the backend is synchronised. */
typedef fm_status (*work_fn)(void *ctx);
static int timed(fm_backend *be, work_fn fn, void *ctx, int warmup, int repeats, stats *out)
{
    double t[64];
    if (repeats > 64)
        repeats = 64;
    for (int i = 0; i < warmup + repeats; i++) {
        double t0 = cli_now();
        if (fn(ctx) != FM_OK || fm_sync(be) != FM_OK)
            return cli_error("%s", be->err);
        if (i >= warmup)
            t[i - warmup] = cli_now() - t0;
    }
    *out = summarise(t, repeats);
    return 0;
}

/* ---- SGEMM rate ---------------------------------------------------------------------- */

typedef struct gemm_ctx {
    fm_backend *be;
    fm_call call;
} gemm_ctx;

static fm_status gemm_once(void *p)
{
    gemm_ctx *g = p;
    return fm_run(g->be, &g->call);
}

static int bench_gemm(const bench_opts *o, const char *spec, double *rate)
{
    const int M = o->quick ? 256 : 1024;
    fm_backend be;
    cli_mem mem;
    size_t bytes = 3 * ((size_t)M * M * 4 + 256);
    if (cli_open_backend(&be, spec, bytes, &mem))
        return 1;
    fm_tensor out = fm_tensor_2d(FM_F32, M, M), in = out, w = out;
    int rc = 1;
    if (fm_tensor_alloc(&be, &out) || fm_tensor_alloc(&be, &in) || fm_tensor_alloc(&be, &w) ||
        fm_fill(&be, &in, 0.5f) || fm_fill(&be, &w, 0.25f)) {
        cli_error("%s", be.err);
        goto done;
    }
    gemm_ctx g = {&be, {.op = FM_OP_LINEAR_FWD, .t = {out, in, w}}};
    stats s;
    /* At least one warm-up even with --quick: the first call of a device backend
     * compiles its GEMM kernels (CLBlast: seconds on PoCL), which is no GEMM rate;
     * and at least 20 repeats: one GEMM takes milliseconds, and a median of 3 moved by
     * 2x when a core was briefly busy elsewhere */
    if (timed(&be, gemm_once, &g, o->warmup > 0 ? o->warmup : 1, o->repeats > 20 ? o->repeats : 20,
              &s) == 0) {
        double gflop = 2.0 * M * M * M / 1e9;
        add_result(fm_backend_name(&be), "sgemm (linear_fwd)", "-", "GFLOP/s", s, gflop / s.median,
                   gflop);
        *rate = gflop / s.median;
        rc = 0;
    }
done:
    fm_backend_close(&be);
    cli_mem_free(&mem);
    return rc;
}

/* ---- training and sampling --------------------------------------------------------- */

typedef struct model_ctx {
    fm_model *m;
    fm_train_opts topt;
    fm_tensor x;
    int32_t *labels;
    uint64_t step;
    fm_sample_opts sopt;
    uint64_t seed;
} model_ctx;

static fm_status train_once(void *p)
{
    model_ctx *c = p;
    float loss;
    return fm_train_step(c->m, &c->topt, &c->x, c->m->cfg.num_classes ? c->labels : NULL, ++c->step,
                         &loss);
}

static fm_status sample_once(void *p)
{
    model_ctx *c = p;
    fm_status s = fm_noise(c->m->be, &c->x, c->seed, 0);
    return s != FM_OK ? s : fm_sample(c->m, &c->m->flat, &c->x, NULL, &c->sopt);
}

/* Forward GFLOP of one image (2 per multiply-add), as its architecture counts it. A
 * training step is about 3x (backward: two products per layer). */
static double forward_gflop(const fm_model *m)
{
    return m->arch->gflop(&m->cfg);
}

/* One profiled run of fn (after the timed ones, so warm): the table, kept for JSON. */
static int profile_run(const bench_opts *o, fm_backend *be, work_fn fn, void *ctx, const char *what,
                       const char *preset, double runs, double sgemm)
{
    static cli_profile p;
    cli_profile_begin(&p, be);
    fm_status s = fn(ctx);
    if (cli_profile_end(&p, be) || s != FM_OK)
        return cli_error("%s", be->err);
    char title[128];
    snprintf(title, sizeof title, "%s, %s, %s: per op, per %s", fm_backend_name(be), preset, what,
             runs > 1 ? "step" : "run");
    cli_profile_print(&p, title, runs, sgemm, o->top);
    keep_profile(fm_backend_name(be), what, preset, runs, &p);
    return 0;
}

/* One preset on one backend: what its training and sampling halves share. */
typedef struct preset_run {
    const bench_opts *o;
    const char *preset;
    fm_config cfg;
    fm_backend be;
    model_ctx c;
    double sgemm, gf; /* the backend's SGEMM GFLOP/s; forward GFLOP per image */
} preset_run;

/* Training: a model in train mode at batch B. Nonzero (printed) on failure. */
static int bench_train(preset_run *p)
{
    const bench_opts *o = p->o;
    const fm_config *cfg = &p->cfg;
    int B = o->batch;
    if (fm_model_create(p->c.m, &p->be, cfg, FM_MODE_TRAIN, B) || fm_model_init(p->c.m, 1))
        return cli_error("%s", p->be.err);
    p->gf = forward_gflop(p->c.m);
    p->c.x = fm_tensor_4d(FM_F32, B, cfg->in_channels, cfg->image, cfg->image);
    if (fm_tensor_alloc(&p->be, &p->c.x) || fm_noise(&p->be, &p->c.x, 7, 1))
        return cli_error("%s", p->be.err);
    stats s;
    if (timed(&p->be, train_once, &p->c, o->warmup, o->quick ? 1 : o->repeats, &s))
        return 1;
    char what[48];
    snprintf(what, sizeof what, "train b%d", B);
    add_result(fm_backend_name(&p->be), what, p->preset, "img/s", s, B / s.median, 3 * p->gf * B);
    if (o->ops && profile_run(o, &p->be, train_once, &p->c, what, p->preset, 1, p->sgemm))
        return 1;
    return 0;
}

/* Sampling: N digits, S Euler steps, in a sample-mode model (its own memory). */
static int bench_sample(preset_run *p)
{
    const bench_opts *o = p->o;
    const fm_config *cfg = &p->cfg;
    const double gf = p->gf, sgemm = p->sgemm;
    int N = o->sample_n;
    fm_arena_reset(&p->be.arena, (fm_arena_mark){"empty", 0});
    if (fm_model_create(p->c.m, &p->be, cfg, FM_MODE_SAMPLE, N) || fm_model_init(p->c.m, 1))
        return cli_error("%s", p->be.err);
    p->c.x = fm_tensor_4d(FM_F32, N, cfg->in_channels, cfg->image, cfg->image);
    p->c.sopt = (fm_sample_opts){.steps = o->sample_steps};
    if (fm_tensor_alloc(&p->be, &p->c.x))
        return cli_error("%s", p->be.err);
    stats s;
    if (timed(&p->be, sample_once, &p->c, o->quick ? 0 : (o->warmup > 0 ? 1 : 0), o->quick ? 1 : 3,
              &s))
        return 1;
    char what[48];
    snprintf(what, sizeof what, "sample %dx%d euler", N, o->sample_steps);
    add_result(fm_backend_name(&p->be), what, p->preset, "s", s, s.median,
               gf * N * o->sample_steps);
    double rate = gf * N * o->sample_steps / s.median;
    printf(
        "%-8s %-22s %-11s %12.1f %-8s  (%.3f GFLOP per image forward; %.0f%% of the SGEMM rate)\n",
        fm_backend_name(&p->be), "sample throughput", p->preset, rate, "GFLOP/s", gf,
        sgemm > 0 ? 100 * rate / sgemm : 0.0);
    if (o->ops) {
        /* A few Euler steps, each one forward at batch N: the table is per step. */
        int steps = o->sample_steps < 5 ? o->sample_steps : 5;
        p->c.sopt.steps = steps;
        snprintf(what, sizeof what, "sample n%d euler", N);
        if (profile_run(o, &p->be, sample_once, &p->c, what, p->preset, steps, sgemm))
            return 1;
    }
    return 0;
}

static int bench_model(const bench_opts *o, const char *spec, const char *preset, double sgemm)
{
    preset_run p = {.o = o, .preset = preset, .sgemm = sgemm};
    fm_plan tp, sp;
    if (fm_config_preset(&p.cfg, preset) != FM_OK)
        return cli_error("unknown preset '%s'", preset);
    int B = o->batch, N = o->sample_n;
    if (cli_plan(&p.cfg, FM_MODE_TRAIN, B, &tp) || cli_plan(&p.cfg, FM_MODE_SAMPLE, N, &sp))
        return 1;
    size_t image =
        (size_t)(B > N ? B : N) * p.cfg.in_channels * p.cfg.image * p.cfg.image * 4 + 256;
    /* the training model, then (after a reset) the sampling one: room for the larger */
    size_t bytes = (tp.total_bytes > sp.total_bytes ? tp.total_bytes : sp.total_bytes) + image;
    cli_mem mem;
    if (cli_open_backend(&p.be, spec, bytes, &mem))
        return 1;
    fm_model *m = malloc(sizeof *m);
    int32_t *labels = calloc((size_t)B, sizeof *labels);
    int rc = 1;
    p.c = (model_ctx){.m = m, .topt = fm_train_defaults(), .labels = labels, .seed = 1};
    if (!m || !labels)
        cli_error("out of memory");
    else if (bench_train(&p) == 0 && bench_sample(&p) == 0)
        rc = 0;
    free(m);
    free(labels);
    fm_backend_close(&p.be);
    cli_mem_free(&mem);
    return rc;
}

/* Composed in memory, then written crash-safely like every output (cli_write_file). */
static int write_json(const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return cli_error("cannot compose %s: out of memory", path);
    fprintf(f, "{\n  \"fmrt\": \"%s\",\n  \"results\": [\n", FMRT_VERSION);
    for (int i = 0; i < nresults; i++) {
        const result *r = &results[i];
        fprintf(
            f,
            "    {\"backend\": \"%s\", \"what\": \"%s\", \"preset\": \"%s\", \"value\": %.6g, "
            "\"unit\": \"%s\", \"median_s\": %.6g, \"min_s\": %.6g, \"max_s\": %.6g, \"runs\": %d, "
            "\"gflop_per_run\": %.6g}%s\n",
            r->backend, r->what, r->preset, r->value, r->unit, r->s.median, r->s.min, r->s.max,
            r->s.n, r->work, i + 1 < nresults ? "," : "");
    }
    fprintf(f, "  ],\n  \"ops\": [\n");
    int first = 1;
    for (int i = 0; i < nprofiles; i++)
        cli_profile_json(&profiles[i]->p, f, profiles[i]->backend, profiles[i]->what,
                         profiles[i]->preset, profiles[i]->runs, &first);
    fprintf(f, "\n  ]\n}\n");
    int rc = fclose(f) == 0 ? cli_write_file(path, buf, len) : cli_error("cannot compose %s", path);
    free(buf);
    return rc;
}

static void usage(void)
{
    printf("usage: fmrt bench [--backend NAME|all] [--preset NAME|all]\n"
           "                  [--batch 128]\n"
           "                  [--sample-n 64] [--sample-steps 50] [--repeats 5] [--warmup 1]\n"
           "                  [--json FILE] [--quick] [--tf32] [--no-ops] [--top 12]\n"
           "                  [--threads N] [--precision f32|bf16]\n\n"
           "Measures each backend's SGEMM rate (LINEAR_FWD, 1024^3), training img/s at a batch\n"
           "and the time to sample N images with S Euler steps, per preset: median, min and\n"
           "max over repeats after warm-up. Then per op (forward and backward, the model's own\n"
           "shapes): one profiled training step and min(S, 5) profiled sampling steps, each op's\n"
           "share of the time, time per call and GFLOP/s (as a share of SGEMM) or GB/s; --top K\n"
           "(op, shape) rows per profile, --no-ops skips them. --quick: tiny sizes for a smoke\n"
           "test. --tf32: TF32 tensor-core GEMMs on cuda (strict float32 is the default).\n");
}

/* argv into o. Returns 0, CLI_HELP for --help (the caller prints the usage) or 2
 * for a usage error (printed); --tf32 takes effect here. */
static int parse_bench_args(int argc, char **argv, bench_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        if (strcmp(a, "--help") == 0) {
            return CLI_HELP;
        } else if (strcmp(a, "--quick") == 0)
            o->quick = 1;
        else if (strcmp(a, "--no-ops") == 0)
            o->ops = 0;
        else if (strcmp(a, "--tf32") == 0)
            cli_backend_flags |= FM_BACKEND_TF32;
        else if (i + 1 >= argc)
            return cli_usage_error("bench", "unknown option or missing value '%s'", a);
        else if (strcmp(a, "--backend") == 0)
            o->backend = argv[++i];
        else if (strcmp(a, "--preset") == 0) {
            const char *p = argv[++i];
            const char *all[32];
            int nall = cli_velocity_presets(all, 32);
            o->npresets = 0;
            for (int k = 0; k < nall; k++)
                if (strcmp(p, "all") == 0 || strcmp(p, all[k]) == 0)
                    o->presets[o->npresets++] = all[k];
            if (o->npresets == 0)
                return cli_usage_error("bench", "--preset: '%s' is not a velocity model's "
                                                "preset or all",
                                       p);
        } else if (strcmp(a, "--json") == 0)
            o->json = argv[++i];
        else if (strcmp(a, "--batch") == 0) {
            if (cli_int(a, argv[++i], 1, 1024, &v))
                return 2;
            o->batch = (int)v;
        } else if (strcmp(a, "--sample-n") == 0) {
            if (cli_int(a, argv[++i], 1, 1024, &v))
                return 2;
            o->sample_n = (int)v;
        } else if (strcmp(a, "--sample-steps") == 0) {
            if (cli_int(a, argv[++i], 1, 10000, &v))
                return 2;
            o->sample_steps = (int)v;
        } else if (strcmp(a, "--repeats") == 0) {
            if (cli_int(a, argv[++i], 1, 64, &v))
                return 2;
            o->repeats = (int)v;
        } else if (strcmp(a, "--top") == 0) {
            if (cli_int(a, argv[++i], 0, CLI_PROFILE_ROWS, &v))
                return 2;
            o->top = (int)v;
        } else if (strcmp(a, "--warmup") == 0) {
            if (cli_int(a, argv[++i], 0, 64, &v))
                return 2;
            o->warmup = (int)v;
        } else
            return cli_usage_error("bench", "unknown option '%s'", a);
    }
    return 0;
}

/* Every figure of one backend; with --backend all, one that cannot be opened is
 * skipped (not a failure). Returns nonzero when a figure failed. */
static int bench_backend(const bench_opts *o, const char *name)
{
    fm_backend probe;
    cli_mem pm;
    if (strcmp(o->backend, "all") == 0 && cli_open_backend(&probe, name, 1 << 20, &pm)) {
        printf("%-8s skipped (cannot open)\n", name);
        return 0;
    }
    if (strcmp(o->backend, "all") == 0) {
        fm_backend_close(&probe);
        cli_mem_free(&pm);
    }
    double sgemm = 0;
    int bad = bench_gemm(o, name, &sgemm);
    for (int p = 0; p < o->npresets; p++)
        bad |= bench_model(o, name, o->presets[p], sgemm);
    return bad;
}

int cmd_bench(int argc, char **argv)
{
    bench_opts o = {.backend = "all",
                    .presets = {"tiny", "mnist"},
                    .npresets = 2,
                    .batch = 128,
                    .sample_n = 64,
                    .sample_steps = 50,
                    .repeats = 5,
                    .warmup = 1,
                    .ops = 1,
                    .top = 12};
    int rc = parse_bench_args(argc, argv, &o);
    if (rc == CLI_HELP) {
        usage();
        return 0;
    }
    if (rc)
        return rc;
    o.backend = cli_precision_backend(o.backend);
    cli_files outs = {0}, none = {0};
    cli_files_add(&outs, "--json", o.json); /* before minutes of timing, not after */
    if (cli_check_outputs(&outs, &none))
        return 1;
    if (o.quick) {
        o.batch = o.batch > 8 ? 8 : o.batch;
        o.sample_n = o.sample_n > 4 ? 4 : o.sample_n;
        o.sample_steps = o.sample_steps > 2 ? 2 : o.sample_steps;
        o.repeats = 1;
        o.warmup = 0;
    }
    const char *names[8];
    int nb = 0;
    if (strcmp(o.backend, "all") == 0) {
        for (const char *const *n = fm_backend_compiled(); *n && nb < 8; n++)
            names[nb++] = *n;
    } else
        names[nb++] = o.backend;
    int bad = 0;
    printf("%-8s %-22s %-11s %12s %-8s\n", "backend", "what", "preset", "value", "unit");
    for (int b = 0; b < nb; b++)
        bad |= bench_backend(&o, names[b]);
    if (o.json && write_json(o.json))
        return 1;
    return bad ? 1 : 0;
}
