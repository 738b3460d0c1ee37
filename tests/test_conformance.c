/* Conformance suite: every compiled backend against the reference through
 * model/conformance.h (the same table `fmrt conformance` prints), plus checks that
 * the harness itself catches what it should (ref against ref is exact; a backend
 * with a wrong, lazy, NaN-writing or missing kernel fails or reports it).
 *
 * One Test per device backend, so everything of one backend runs in one process
 * (CLBlast compiles its GEMM kernels once per process: seconds on PoCL). A backend
 * not compiled in, or without a device, is skipped with its reason. Unsupported ops
 * fail the test (a finished backend has every op); while a backend is being
 * completed, FMRT_CONFORMANCE_ALLOW_UNSUPPORTED=1 reports them without failing. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance_model.h"
#include "backend_impl.h" /* broken backends built from the reference table */
#include "testutil.h"

typedef struct pair {
    fm_backend ref, be;
    void *rmem, *bmem, *hmem;
    fm_arena host;
    int ref_open, be_open;
} pair;

typedef struct tally {
    const char *backend;
    int verbose; /* print every row, not only the bad ones */
    int bad;     /* rows that fail the test */
    int unsupported;
    int allow_unsupported;
} tally;

static void on_row(void *user, const fm_conf_row *r)
{
    tally *t = user;
    int bad = r->status == FM_CONF_FAIL || r->status == FM_CONF_ERROR ||
              (r->status == FM_CONF_UNSUPPORTED && !t->allow_unsupported);
    t->bad += bad;
    t->unsupported += r->status == FM_CONF_UNSUPPORTED;
    if (t->verbose || bad)
        printf("%-7s %-15s %-30s %10.3e %10.3e %8.0e %-11s %s\n", t->backend, r->op, r->shape,
               r->max_abs, r->nmse, r->tol, fm_conf_status_name(r->status), r->note);
    fflush(stdout);
}

/* 2 (unconditional and conditional; a +text preset's: empty prompts, prompts) for a
 * velocity model's preset, 1 for an autoencoder's, which takes no labels. */
static int conditions(const char *preset)
{
    int n = fm_conformance_model_conditions(preset);
    cr_assert(n > 0, "unknown conformance preset %s", preset);
    return n;
}

/* Arena sizes for the op rows and the given model rows (largest of them). */
static void sizes(const char *const *presets, const int *batches, int n, size_t *device,
                  size_t *host)
{
    *device = *host = fm_conformance_ops_bytes();
    fm_model *scratch = malloc(sizeof *scratch);
    cr_assert(scratch);
    for (int i = 0; i < n; i++)
        for (int cond = 0; cond < conditions(presets[i]); cond++) {
            size_t d, h;
            char err[256];
            cr_assert_eq(fm_conformance_model_bytes(presets[i], batches[i], cond, scratch, &d, &h,
                                                    err, sizeof err),
                         FM_OK, "%s", err);
            *device = d > *device ? d : *device;
            *host = h > *host ? h : *host;
        }
    free(scratch);
}

static void *block(size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes);
    cr_assert(p, "cannot allocate %zu bytes", bytes);
    return p;
}

/* Open ref and `name` with `device` arena bytes each. `be_iface` non-NULL: open that
 * table directly (the deliberately broken backends below). slack: a host backend's
 * block is the arena plus that much (0: what fm_backend_host_bytes asks for, the
 * backend's full scratch). Returns 0, or fills why. */
static int open_pair(pair *p, const char *name, const fm_backend_iface *be_iface, size_t device,
                     size_t host, size_t slack, char *why, size_t whylen)
{
    memset(p, 0, sizeof *p);
    size_t rbytes = device + 4096;
    p->rmem = block(rbytes);
    fm_backend_config rc = {.name = "ref", .mem = p->rmem, .mem_bytes = rbytes, .device_index = -1};
    cr_assert_eq(fm_backend_open(&p->ref, &rc), FM_OK, "%s", p->ref.err);
    p->ref_open = 1;
    int is_ref = strcmp(name, "ref") == 0 || be_iface;
    size_t bbytes = is_ref ? device + 4096 : FM_DEVICE_HOST_BYTES;
    size_t hb = 0; /* host backends (cpu) carve the arena from the host block */
    if (!is_ref && fm_backend_host_bytes(name, device, 0, &hb) == FM_OK && hb > 0)
        bbytes = slack ? device + slack : hb;
    p->bmem = block(bbytes);
    fm_backend_config bc = {.name = name,
                            .mem = p->bmem,
                            .mem_bytes = bbytes,
                            .arena_bytes = device,
                            .device_index = -1};
    fm_status s;
    if (be_iface) {
        /* What fm_backend_open does for a registered name. */
        memset(&p->be, 0, sizeof p->be);
        p->be.iface = be_iface;
        s = be_iface->open(&p->be, &bc);
    } else {
        s = fm_backend_open(&p->be, &bc);
    }
    if (s != FM_OK) {
        snprintf(why, whylen, "%s", p->be.err);
        return 1;
    }
    p->be_open = 1;
    p->hmem = block(host);
    cr_assert_eq(fm_arena_init(&p->host, p->hmem, (host + 63) & ~(size_t)63, 0), FM_OK);
    return 0;
}

static void close_pair(pair *p)
{
    if (p->be_open)
        fm_backend_close(&p->be);
    if (p->ref_open)
        fm_backend_close(&p->ref);
    free(p->rmem);
    free(p->bmem);
    free(p->hmem);
}

/* Every op row, then the model rows, of one device backend. */
static void check_device(const char *name)
{
    if (!fm_backend_is_compiled(name))
        cr_skip_test("%s: not compiled into this build", name);
    /* Every architecture's conformance presets (tiny, dit-tiny, and in colour
     * cifar-small, dit-cifar) at batch 2, both unconditional and conditional, and a
     * velocity model's conditioned on prompts (tiny+text, dit-tiny+text: empty prompts,
     * then prompts); then mnist at batch 1, conditional (not under the sanitizers: its
     * rows there take longer than the rest of the suite, and tiny reaches the same
     * kernels; the plain build runs them). */
    const char *presets[24];
    char text[8][48];
    int batches[24], npresets = 0, ntext = 0;
    for (int i = 0; fm_arch_at(i) && npresets < 20; i++) {
        const char *both[2] = {fm_arch_at(i)->conformance, fm_arch_at(i)->conformance_rgb};
        for (int k = 0; k < 2; k++)
            if (both[k]) {
                presets[npresets] = both[k];
                batches[npresets++] = 2;
            }
        if (fm_arch_at(i)->velocity && fm_arch_at(i)->conformance && ntext < 8) {
            snprintf(text[ntext], sizeof text[ntext], "%s+text", fm_arch_at(i)->conformance);
            presets[npresets] = text[ntext++];
            batches[npresets++] = 2;
        }
    }
    const int narch = npresets;
#ifndef FMRT_SANITIZED_BUILD
    presets[npresets] = "mnist";
    batches[npresets++] = 1;
#endif
    size_t device, host;
    sizes(presets, batches, npresets, &device, &host);
    pair p;
    char why[FM_ERR_LEN];
    if (open_pair(&p, name, NULL, device, host, 0, why, sizeof why)) {
        close_pair(&p);
        cr_skip_test("%s: %s", name, why);
    }
    const char *allow = getenv("FMRT_CONFORMANCE_ALLOW_UNSUPPORTED");
    tally t = {
        .backend = name, .verbose = 1, .allow_unsupported = allow && strcmp(allow, "1") == 0};
    fm_conf_summary sum = {0};
    cr_expect_eq(fm_conformance_ops(&p.ref, &p.be, &p.host, NULL, on_row, &t, &sum), FM_OK);
    for (int i = 0; i < npresets; i++)
        for (int cond = i < narch ? 0 : 1; cond < conditions(presets[i]); cond++)
            cr_expect_eq(fm_conformance_model(&p.ref, &p.be, &p.host, presets[i], batches[i], cond,
                                              on_row, &t, &sum),
                         FM_OK, "%s", presets[i]);
    printf("%s: %d pass, %d fail, %d error, %d unsupported\n", name, sum.pass, sum.fail, sum.error,
           sum.unsupported);
    close_pair(&p);
    cr_expect_eq(t.bad, 0, "%s: %d rows failed (%d unsupported; see the table above)", name, t.bad,
                 t.unsupported);
}

Test(conformance, cpu, .timeout = 1800)
{
    check_device("cpu");
}

/* The cpu backend in a block with little room beyond its tensor arena: no GEMM packing
 * buffers (our own GEMM then runs unpacked) and a scratch too small for most conv tiles
 * (those convs run the reference kernel), as on a machine given a tight block. The ops
 * and the tiny model stay within the tolerances. */
Test(conformance, cpu_small_scratch, .timeout = 1800)
{
    if (!fm_backend_is_compiled("cpu"))
        cr_skip_test("cpu: not compiled into this build");
    const char *presets[] = {"tiny"};
    const int batches[] = {2};
    size_t device, host;
    sizes(presets, batches, 1, &device, &host);
    pair p;
    char why[FM_ERR_LEN];
    cr_assert_eq(open_pair(&p, "cpu", NULL, device, host, (size_t)256 << 10, why, sizeof why), 0,
                 "%s", why);
    printf("%s\n", fm_backend_describe(&p.be));
    tally t = {.backend = "cpu", .verbose = 0};
    fm_conf_summary sum = {0};
    cr_expect_eq(fm_conformance_ops(&p.ref, &p.be, &p.host, NULL, on_row, &t, &sum), FM_OK);
#ifndef FMRT_SANITIZED_BUILD /* (the op rows reach every fallback; the model's take minutes at -O0) */
    cr_expect_eq(fm_conformance_model(&p.ref, &p.be, &p.host, "tiny", 2, 1, on_row, &t, &sum),
                 FM_OK);
#endif
    close_pair(&p);
    cr_expect_eq(t.bad, 0, "cpu in a small block: %d rows failed", t.bad);
}

Test(conformance, opencl, .timeout = 1800)
{
    check_device("opencl");
}

Test(conformance, cuda, .timeout = 1800)
{
    check_device("cuda");
}

/* ---- the harness itself ------------------------------------------------------------- */

typedef struct exact_tally {
    int rows, not_exact;
} exact_tally;

static void on_exact_row(void *user, const fm_conf_row *r)
{
    exact_tally *t = user;
    t->rows++;
    if (r->status != FM_CONF_PASS || r->nmse != 0 || r->max_abs != 0) {
        t->not_exact++;
        printf("ref-vs-ref %s %s: %s nmse %.3e max %.3e %s\n", r->op, r->shape,
               fm_conf_status_name(r->status), r->nmse, r->max_abs, r->note);
    }
}

/* The reference is deterministic: two instances agree bit for bit, so every row passes
 * with NMSE 0. This runs the whole table (and the model path) without a device. */
Test(conformance, ref_against_ref_is_exact, .timeout = 600)
{
    const char *presets[] = {"tiny"};
    const int batches[] = {1};
    size_t device, host;
    sizes(presets, batches, 1, &device, &host);
    pair p;
    char why[FM_ERR_LEN];
    cr_assert_eq(open_pair(&p, "ref", NULL, device, host, 0, why, sizeof why), 0, "%s", why);
    exact_tally t = {0};
    fm_conf_summary sum = {0};
    cr_expect_eq(fm_conformance_ops(&p.ref, &p.be, &p.host, NULL, on_exact_row, &t, &sum), FM_OK);
    int op_rows = t.rows;
    cr_expect_geq(op_rows, 2 * FM_OP_COUNT, "at least two cases per op");
    cr_expect_eq(fm_conformance_model(&p.ref, &p.be, &p.host, "tiny", 1, 1, on_exact_row, &t, &sum),
                 FM_OK);
    cr_expect_eq(t.rows - op_rows, 7, "model_fwd, 2 samplers, loss, grads, params, ema");
    cr_expect_eq(t.not_exact, 0);
    cr_expect_eq(sum.pass, t.rows);
    /* Everything taken from the arenas was given back. */
    cr_expect_eq(p.host.used, 0u);
    cr_expect_eq(p.ref.arena.used, 0u);
    cr_expect_eq(p.be.arena.used, 0u);
    close_pair(&p);
}

Test(conformance, every_op_has_two_cases)
{
    pair p;
    char why[FM_ERR_LEN];
    size_t bytes = fm_conformance_ops_bytes();
    cr_assert_eq(open_pair(&p, "ref", NULL, bytes, bytes, 0, why, sizeof why), 0, "%s", why);
    for (int op = 0; op < FM_OP_COUNT; op++) {
        const char *name = fm_op_get_info((fm_op)op)->name;
        cr_expect(fm_conformance_has_op(name), "no conformance entry for %s", name);
        exact_tally t = {0};
        cr_expect_eq(fm_conformance_ops(&p.ref, &p.be, &p.host, name, on_exact_row, &t, NULL),
                     FM_OK);
        cr_expect_geq(t.rows, 2, "%s has %d cases", name, t.rows);
    }
    cr_expect(fm_conformance_has_op("conv2d"), "a family name selects fwd and bwd");
    cr_expect(!fm_conformance_has_op("conv"));
    cr_expect_eq(fm_conformance_ops(&p.ref, &p.be, &p.host, "nope", NULL, NULL, NULL), FM_ERR_ARG);
    close_pair(&p);
}

/* A reference backend with a few kernels broken on purpose. */
static fm_kernel_fn broken_table[FM_OP_COUNT];

/* silu_fwd: right except one element off by 0.05 (NMSE ~2e-8 over 1001 elements). */
static fm_status off_by_a_little(fm_backend *be, const fm_call *c)
{
    fm_status s = fm_backend_ref.kernels[c->op](be, c);
    fm_f32(&c->t[0])[0] += 0.05f;
    return s;
}

/* silu_bwd: claims success without writing its output. */
static fm_status lazy(fm_backend *be, const fm_call *c)
{
    (void)be;
    (void)c;
    return FM_OK;
}

/* linear_fwd: one NaN. */
static fm_status writes_nan(fm_backend *be, const fm_call *c)
{
    fm_status s = fm_backend_ref.kernels[c->op](be, c);
    fm_f32(&c->t[0])[1] = NAN;
    return s;
}

/* conv2d_fwd: not written yet (a device backend's stub). */
static fm_status stub(fm_backend *be, const fm_call *c)
{
    return fm_fail(be, FM_ERR_UNSUPPORTED, "broken: %s not implemented yet",
                   fm_op_get_info(c->op)->name);
}

/* embed_bwd: "=" instead of "+=" on the accumulated table. */
static fm_status overwrites(fm_backend *be, const fm_call *c)
{
    fm_backend_ref.fill(be, &c->t[0], 0.0f);
    return fm_backend_ref.kernels[c->op](be, c);
}

typedef struct broken_tally {
    int status_of[FM_OP_COUNT][3]; /* per op: fail, unsupported, pass counts */
    int other_bad;
} broken_tally;

static void on_broken_row(void *user, const fm_conf_row *r)
{
    broken_tally *t = user;
    fm_op op = fm_op_from_name(r->op);
    if (op == FM_OP_COUNT) {
        /* A model row: the stubbed conv2d_fwd makes every stage unsupported. */
        if (r->status != FM_CONF_UNSUPPORTED || !strstr(r->note, "conv2d_fwd"))
            t->other_bad++;
        return;
    }
    int k = r->status == FM_CONF_FAIL ? 0 : r->status == FM_CONF_UNSUPPORTED ? 1 : 2;
    if (r->status == FM_CONF_ERROR)
        t->other_bad++;
    t->status_of[op][k]++;
    if (op == FM_OP_LINEAR_FWD && !strstr(r->note, "non-finite"))
        t->other_bad++;
}

Test(conformance, broken_kernels_are_caught)
{
    static fm_backend_iface broken;
    broken = fm_backend_ref;
    broken.name = "broken";
    memcpy(broken_table, fm_backend_ref.kernels, sizeof broken_table);
    broken_table[FM_OP_SILU_FWD] = off_by_a_little;
    broken_table[FM_OP_SILU_BWD] = lazy;
    broken_table[FM_OP_LINEAR_FWD] = writes_nan;
    broken_table[FM_OP_CONV2D_FWD] = stub;
    broken_table[FM_OP_EMBED_BWD] = overwrites;
    broken.kernels = broken_table;

    const char *presets[] = {"tiny"};
    const int batches[] = {1};
    size_t device, host;
    sizes(presets, batches, 1, &device, &host);
    pair p;
    char why[FM_ERR_LEN];
    cr_assert_eq(open_pair(&p, "broken", &broken, device, host, 0, why, sizeof why), 0, "%s", why);
    broken_tally t = {0};
    fm_conf_summary sum = {0};
    cr_expect_eq(fm_conformance_ops(&p.ref, &p.be, &p.host, NULL, on_broken_row, &t, &sum), FM_OK);
    const fm_op wrong[] = {FM_OP_SILU_FWD, FM_OP_SILU_BWD, FM_OP_LINEAR_FWD, FM_OP_EMBED_BWD};
    for (int op = 0; op < FM_OP_COUNT; op++) {
        int is_wrong = 0;
        for (size_t k = 0; k < sizeof wrong / sizeof wrong[0]; k++)
            is_wrong |= wrong[k] == (fm_op)op;
        const char *name = fm_op_get_info((fm_op)op)->name;
        if (is_wrong)
            cr_expect(t.status_of[op][0] > 0 && t.status_of[op][2] == 0,
                      "%s: every case should fail (%d failed, %d passed)", name, t.status_of[op][0],
                      t.status_of[op][2]);
        else if (op == FM_OP_CONV2D_FWD)
            cr_expect(t.status_of[op][1] > 0 && t.status_of[op][0] + t.status_of[op][2] == 0,
                      "conv2d_fwd should be unsupported");
        else
            cr_expect(t.status_of[op][0] + t.status_of[op][1] == 0, "%s should pass", name);
    }
    cr_expect_eq(t.other_bad, 0);
    cr_expect_eq(sum.error, 0);

    /* Model rows stop at the first unsupported call, stage by stage, and free all. */
    memset(&sum, 0, sizeof sum);
    cr_expect_eq(
        fm_conformance_model(&p.ref, &p.be, &p.host, "tiny", 1, 0, on_broken_row, &t, &sum), FM_OK);
    cr_expect_eq(sum.unsupported, 4, "model_fwd, two samplers, train_loss");
    cr_expect_eq(sum.pass + sum.fail + sum.error, 0);
    cr_expect_eq(t.other_bad, 0);
    cr_expect_eq(p.host.used, 0u);
    cr_expect_eq(p.be.arena.used, 0u);
    close_pair(&p);
}

/* ---- non-finite inputs -------------------------------------------------------------- */

/* SILU_FWD over NaN, +-inf and values beyond exp's range: no undefined behaviour in
 * the vector exp (run under UBSan in scripts/sanitize.sh), NaN stays NaN, finite
 * inputs give what ref gives within the conformance tolerance. */
static void silu_nonfinite(const char *name)
{
    if (!fm_backend_is_compiled(name))
        cr_skip_test("%s: not compiled into this build", name);
    pair p;
    char why[FM_ERR_LEN];
    if (open_pair(&p, name, NULL, 1 << 20, 1 << 20, 0, why, sizeof why)) {
        close_pair(&p);
        cr_skip_test("%s: %s", name, why);
    }
    enum { N = 4096 }; /* long enough for the vector loop and its tail */
    static float in[N], got[N];
    const float special[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 88.5f, -87.5f,
                             3.4e38f, -3.4e38f, 0.0f, -0.0f, 1.0f};
    const int ns = (int)(sizeof special / sizeof special[0]);
    for (int i = 0; i < N; i++)
        in[i] = special[i % ns];
    fm_tensor x = fm_tensor_1d(FM_F32, N), y = fm_tensor_1d(FM_F32, N);
    cr_assert_eq(fm_tensor_alloc(&p.be, &x), FM_OK);
    cr_assert_eq(fm_tensor_alloc(&p.be, &y), FM_OK);
    cr_assert_eq(fm_upload(&p.be, &x, in), FM_OK);
    fm_call c = {.op = FM_OP_SILU_FWD, .t = {y, x}};
    cr_assert_eq(fm_run(&p.be, &c), FM_OK, "%s", p.be.err);
    cr_assert_eq(fm_download(&p.be, got, &y), FM_OK);
    for (int i = 0; i < N; i++) {
        float v = in[i], want = v / (1.0f + expf(-v));
        if (isnan(v))
            cr_expect(isnan(got[i]), "%s: silu(nan) = %g, not nan", name, (double)got[i]);
        else if (isfinite(want))
            cr_expect(fabsf(got[i] - want) <= 1e-5f * fabsf(want) + 1e-30f,
                      "%s: silu(%g) = %g, want %g", name, (double)v, (double)got[i],
                      (double)want);
    }
    close_pair(&p);
}

Test(conformance, silu_nonfinite_ref) { silu_nonfinite("ref"); }
Test(conformance, silu_nonfinite_cpu) { silu_nonfinite("cpu"); }
