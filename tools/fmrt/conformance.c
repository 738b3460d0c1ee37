/* fmrt conformance [--backend NAME] [--op NAME] [--model LIST|all|none] [--batch N]
 *                  [--allow-unsupported]
 *
 * Runs the conformance table of model/conformance.h: every op (or one) on random
 * inputs, then the whole-model rows, each compared with the reference backend, and
 * prints one line per row plus a summary per backend.
 *
 * Exit status: 0 when every row passed; 1 when a row failed or errored, or when an
 * op is unsupported (the issue asks every row of a finished backend to pass; pass
 * --allow-unsupported while a backend is being completed), or when the backend
 * named by --backend cannot be opened; 2 for a usage error. Without --backend every
 * compiled backend other than ref is checked; one that cannot be opened prints
 * "skipped: <reason>" and does not fail the command. When none could be checked, ref
 * is compared with a second ref instance so the command still tests the table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_backend.h"
#include "cli_config.h"
#include "cli_mem.h"
#include "commands.h"
#include "conformance_model.h"

#define CMD "conformance"

typedef struct opts {
    const char *backend; /* NULL: every compiled backend but ref */
    const char *op;
    const char *model; /* a list of presets | all | none */
    int batch;
    int allow_unsupported;
} opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fmrt conformance [--backend NAME] [--op NAME] [--model LIST|all|none]\n"
            "                        [--batch N] [--allow-unsupported]\n\n"
            "Compares a backend with the reference: every op, forward and backward, on\n"
            "random inputs of several shapes (NMSE against a per-op tolerance), then the\n"
            "model's forward, one training step and 10-step Euler and Heun sampling runs,\n"
            "unconditional and conditional (10 classes, guidance 2; a NAME+text preset:\n"
            "empty prompts, and prompts with guidance against the empty prompt).\n\n"
            "  --backend NAME       backend to check (default: every compiled one but ref;\n"
            "                       'ref' checks ref against a second ref instance)\n"
            "  --op NAME            only this op ('conv2d_bwd') or family ('conv2d');\n"
            "                       model rows then default to none\n"
            "  --model LIST         presets of the whole-model rows, separated by commas: tiny,\n"
            "                       mnist, cifar-small, cifar (3 channels), latent, dit-tiny,\n"
            "                       dit, dit-cifar (3 channels), tiny+text, dit-tiny+text\n"
            "                       (conditioned on prompts: a small text encoder and\n"
            "                       cross-attention), vae-test (the autoencoder: encode,\n"
            "                       decode, its training step); or all, or none\n"
            "                       (default tiny)\n"
            "  --batch N            batch of the model rows (default 2)\n"
            "  --allow-unsupported  ops the backend lacks do not fail the command\n"
            "  --tf32               cuda: TF32 GEMMs, checked with the TF32 tolerances\n"
            "  --precision bf16     cpu (the default backend then): bfloat16 conv GEMMs,\n"
            "                       checked with the bf16 tolerances\n\n"
            "Exit status 1 on any failed, errored or (without --allow-unsupported)\n"
            "unsupported row.\n");
}

static void print_header(void)
{
    printf("%-15s %-30s %10s %10s %8s %-11s %s\n", "op", "shape", "max abs", "NMSE", "tol",
           "result", "note");
}

static void print_row(void *user, const fm_conf_row *r)
{
    (void)user;
    char ma[16] = "-", nm[16] = "-";
    if (!isnan(r->max_abs))
        snprintf(ma, sizeof ma, "%.3e", r->max_abs);
    if (!isnan(r->nmse))
        snprintf(nm, sizeof nm, "%.3e", r->nmse);
    printf("%-15s %-30s %10s %10s %8.0e %-11s %s\n", r->op, r->shape, ma, nm, r->tol,
           fm_conf_status_name(r->status), r->note);
    fflush(stdout);
}

static void summary_line(const char *name, const fm_conf_summary *s, double secs)
{
    printf("%s: %d rows: %d pass, %d fail, %d error, %d unsupported (%.1f s)\n", name,
           s->pass + s->fail + s->error + s->unsupported, s->pass, s->fail, s->error,
           s->unsupported, secs);
}

/* The presets of the whole-model rows (--model NAME or all): every preset of every
 * velocity model's architecture, in the table's order (mnist, tiny, cifar, ..., dit...),
 * each velocity architecture's conformance preset conditioned on prompts (tiny+text,
 * dit-tiny+text: conformance_model.h), then the conformance preset of each other
 * architecture that has one (vae-test). */
static const char *presets[40];
static char text_names[8][48];
static int NPRESETS;

static void list_presets(void)
{
    NPRESETS = cli_velocity_presets(presets, 30);
    for (int i = 0, k = 0; fm_arch_at(i) && k < 8; i++)
        if (fm_arch_at(i)->velocity && fm_arch_at(i)->conformance) {
            snprintf(text_names[k], sizeof text_names[k], "%s+text", fm_arch_at(i)->conformance);
            presets[NPRESETS++] = text_names[k++];
        }
    for (int i = 0; fm_arch_at(i) && NPRESETS < 40; i++)
        if (!fm_arch_at(i)->velocity && fm_arch_at(i)->conformance)
            presets[NPRESETS++] = fm_arch_at(i)->conformance;
}

/* Row sets of a preset: unconditional and conditional for a velocity model (a text
 * one's: empty prompts, and prompts), the first only for an autoencoder (no labels). */
static int conditions(const char *preset)
{
    int n = fm_conformance_model_conditions(preset);
    return n ? n : 1;
}

/* Whether --model LIST ("all", or names separated by commas) asks for preset. */
static int wants(const char *list, const char *preset)
{
    if (strcmp(list, "all") == 0)
        return 1;
    size_t n = strlen(preset);
    for (const char *p = list; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
        if (strncmp(p, preset, n) == 0 && (p[n] == ',' || p[n] == 0))
            return 1;
    }
    return 0;
}

/* Arena bytes for the rows asked: the ops' and, per preset, the model's. */
static int sizes(const opts *o, size_t *device, size_t *host)
{
    *device = *host = fm_conformance_ops_bytes();
    fm_model *scratch = NULL;
    for (int p = 0; p < NPRESETS; p++) {
        if (!wants(o->model, presets[p]))
            continue;
        if (!scratch && !(scratch = malloc(sizeof *scratch)))
            return cli_error("cannot allocate the planner's model description");
        for (int cond = 0; cond < conditions(presets[p]); cond++) {
            size_t d, h;
            char err[256];
            if (fm_conformance_model_bytes(presets[p], o->batch, cond, scratch, &d, &h, err,
                                           sizeof err) != FM_OK) {
                free(scratch);
                return cli_error("sizing the %s model rows: %s", presets[p], err);
            }
            *device = d > *device ? d : *device;
            *host = h > *host ? h : *host;
        }
    }
    free(scratch);
    return 0;
}

/* Open a backend quietly: on failure *why holds the reason. */
static int open_quiet(fm_backend *be, const char *name, size_t arena, cli_mem *mem,
                      const char **why)
{
    /* ref's and cpu's arena is the host block; device backends keep small state there. */
    size_t host;
    if (fm_backend_host_bytes(name, arena, cli_threads, &host) != FM_OK) {
        *why = "the arena does not fit in the address space";
        return 1;
    }
    if (host == 0) /* device backends keep only small state on the host */
        host = FM_DEVICE_HOST_BYTES;
    host = (host + 63) & ~(size_t)63;
    mem->ptr = aligned_alloc(64, host);
    mem->bytes = host;
    if (!mem->ptr) {
        *why = "out of host memory";
        return 1;
    }
    fm_backend_config cfg = {.name = name, .mem = mem->ptr, .mem_bytes = host, .arena_bytes = arena,
                             .device_index = -1, .flags = cli_backend_flags,
                             .threads = cli_threads};
    if (fm_backend_open(be, &cfg) != FM_OK) {
        *why = be->err;
        return 1;
    }
    return 0;
}

/* Check one backend; returns 0 all passed, 1 some row failed, -1 skipped. */
static int check_backend(const opts *o, const char *name, int explicit_backend)
{
    size_t device, hostb;
    if (sizes(o, &device, &hostb))
        return 1;
    fm_backend ref, be;
    cli_mem rmem = {0}, bmem = {0}, hmem = {0};
    const char *why = "";
    if (open_quiet(&be, name, device, &bmem, &why)) {
        if (explicit_backend)
            cli_error("cannot open backend %s: %s", name, why);
        else
            printf("%s: skipped: %s\n", name, why);
        cli_mem_free(&bmem);
        return explicit_backend ? 1 : -1;
    }
    if (open_quiet(&ref, "ref", device, &rmem, &why)) {
        cli_error("cannot open the reference backend: %s", why);
        fm_backend_close(&be);
        cli_mem_free(&bmem);
        cli_mem_free(&rmem);
        return 1;
    }
    fm_arena host;
    if (cli_host_arena(&host, hostb, &hmem)) {
        fm_backend_close(&ref);
        fm_backend_close(&be);
        cli_mem_free(&bmem);
        cli_mem_free(&rmem);
        return 1;
    }
    printf("== %s (%s) against ref ==\n", name, fm_backend_describe(&be));
    print_header();
    fm_conf_summary sum = {0};
    double t0 = cli_now();
    fm_status s = fm_conformance_ops(&ref, &be, &host, o->op, print_row, NULL, &sum);
    if (s == FM_OK && strcmp(o->model, "none") != 0) {
        for (int p = 0; p < NPRESETS && s == FM_OK; p++) {
            if (!wants(o->model, presets[p]))
                continue;
            for (int cond = 0; cond < conditions(presets[p]) && s == FM_OK; cond++)
                s = fm_conformance_model(&ref, &be, &host, presets[p], o->batch, cond, print_row,
                                         NULL, &sum);
        }
    }
    summary_line(name, &sum, cli_now() - t0);
    int bad = s != FM_OK || sum.fail > 0 || sum.error > 0 ||
              (sum.unsupported > 0 && !o->allow_unsupported);
    if (sum.unsupported > 0 && !o->allow_unsupported)
        printf("%s: %d unsupported rows count as failures (--allow-unsupported to accept them)\n",
               name, sum.unsupported);
    fm_backend_close(&ref);
    fm_backend_close(&be);
    cli_mem_free(&hmem);
    cli_mem_free(&rmem);
    cli_mem_free(&bmem);
    return bad;
}

int cmd_conformance(int argc, char **argv)
{
    list_presets();
    opts o = {.backend = NULL, .op = NULL, .model = NULL, .batch = 2, .allow_unsupported = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--tf32") == 0) {
            cli_backend_flags |= FM_BACKEND_TF32;
            continue;
        }
        if (strcmp(a, "--allow-unsupported") == 0) {
            o.allow_unsupported = 1;
            continue;
        }
        if (strcmp(a, "--backend") != 0 && strcmp(a, "--op") != 0 && strcmp(a, "--model") != 0 &&
            strcmp(a, "--batch") != 0)
            return cli_usage_error(CMD, "unknown option '%s'", a);
        if (i + 1 >= argc)
            return cli_usage_error(CMD, "%s needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "--backend") == 0) {
            o.backend = v;
        } else if (strcmp(a, "--op") == 0) {
            if (!fm_conformance_has_op(v))
                return cli_usage_error(CMD, "--op: no conformance entries for '%s'", v);
            o.op = v;
        } else if (strcmp(a, "--model") == 0) {
            /* Every name of the list is known (the list's length: the names it matched). */
            int known = strcmp(v, "all") == 0 || strcmp(v, "none") == 0;
            size_t len = 0;
            for (int p = 0; p < NPRESETS; p++)
                len += wants(v, presets[p]) ? strlen(presets[p]) + 1 : 0;
            if (!known && len != strlen(v) + 1)
                return cli_usage_error(CMD, "--model: '%s' is not a list of the velocity "
                                            "models' presets and vae-test, or all or none", v);
            o.model = v;
        } else {
            long long b;
            if (cli_int("--batch", v, 1, 64, &b))
                return 2;
            o.batch = (int)b;
        }
    }
    if (!o.model)
        o.model = o.op ? "none" : "tiny";
    o.backend = cli_precision_backend(o.backend);
    if (o.backend && cli_precision_check(o.backend))
        return 1;

    if (o.backend)
        return check_backend(&o, o.backend, 1) > 0;
    int bad = 0, ran = 0;
    for (const char *const *n = fm_backend_compiled(); *n; n++) {
        if (strcmp(*n, "ref") == 0)
            continue;
        int r = check_backend(&o, *n, 0);
        bad |= r > 0;
        ran += r >= 0;
    }
    if (!ran) {
        printf("no backend besides ref could be checked: comparing ref with itself\n");
        bad |= check_backend(&o, "ref", 1) > 0;
    }
    return bad;
}
