/* fmrt golden DIR [--backend NAME]: run a golden case folder (format of
 * docs/spec/README.md, "How the contract is checked") and print each tensor's
 * relative L2 error, ||got - want|| / ||want||, against the float64 reference.
 *
 * A flow case (U-Net, DiT) gives a config, parameters, x0, x1, t, y and the expected
 * xt, v, loss, every gradient, and Euler (4 steps) / Heun (3 steps) samples from x1
 * with guidance 2.0 on sample_y when the model is conditional.
 *
 * An autoencoder case (config arch=vae, docs/spec/vae.md, "The golden case") gives a
 * config, beta (its "# loss:" line), parameters, x and eps and the expected moments,
 * z = mu + exp(clamp(lv, -30, 20) / 2) eps, xhat = dec(z), rec, kl,
 * loss = rec + beta kl and every gradient of the loss.
 *
 * A text model's case (text_* fields, docs/spec/text.md) gives its y and sample_y as
 * token ids [N, text_ctx]; guidance's unconditional row is the empty prompt.
 *
 * A folder holds case.txt + case.bin, or the compact form of tests/data (which must
 * stay under 1 MiB): case.txt.gz, the same text gzip'd, and case.bin.gz, case.bin's
 * bytes by plane (byte 0 of every 4-byte value, then every byte 1, 2, 3) gzip'd. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_backend.h"
#include "cli_mem.h"
#include "commands.h"
#include "flow.h"
#include "size.h"
#include "vae.h"
#include <zlib.h>

#define MAX_ENTRIES 1024

typedef struct entry {
    char name[96];
    fm_dtype dtype;
    size_t off;
    int ndim;
    int64_t shape[4];
} entry;

typedef struct gcase {
    fm_config cfg;
    int batch, euler_steps, heun_steps;
    float cfg_scale;
    float beta; /* an autoencoder case's KL weight; NAN when the case gives none */
    int n;
    entry e[MAX_ENTRIES];
    unsigned char *bin;
    size_t binlen;
} gcase;

static const entry *find(const gcase *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->e[i].name, name) == 0)
            return &g->e[i];
    return NULL;
}

/* SIZE_MAX when the shape overflows: then it lies outside any case.bin, and the
 * bounds check in load_case refuses it instead of accepting a wrapped size. */
static size_t entry_bytes(const entry *e)
{
    size_t n = 4;
    for (int i = 0; i < e->ndim; i++)
        if (!fm_mul_size(n, (size_t)e->shape[i], &n))
            return SIZE_MAX;
    return n;
}

static int parse_shape(const char *s, entry *e)
{
    e->ndim = 0;
    while (*s && e->ndim < 4) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 1 || v > (1ll << 31))
            return 0;
        e->shape[e->ndim++] = v;
        s = *end == 'x' ? end + 1 : end;
        if (*end != 'x' && *end)
            return 0;
    }
    return *s == 0 && e->ndim > 0;
}

/* dir/name, or dir/name.gz when there is no dir/name: its path in path. */
static int case_file(const char *dir, const char *name, char *path, size_t len, int *gz)
{
    snprintf(path, len, "%s/%s", dir, name);
    *gz = 0;
    if (access(path, F_OK) == 0)
        return 0;
    snprintf(path, len, "%s/%s.gz", dir, name);
    if (access(path, F_OK) == 0)
        return *gz = 1, 0;
    snprintf(path, len, "%s/%s", dir, name);
    return cli_error("cannot open %s (nor %s.gz)", path, name);
}

/* case.bin.gz: inflated, then its byte planes put back into 4-byte values. At most
 * 1 GiB (a case is far smaller: more is a broken or hostile file). */
static int read_bin_gz(const char *path, unsigned char **data, size_t *len)
{
    gzFile z = gzopen(path, "rb");
    if (!z)
        return cli_error("cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    int got = 0;
    while (buf) {
        got = gzread(z, buf + n, (unsigned)(cap - n < (1u << 30) ? cap - n : (1u << 30)));
        if (got <= 0)
            break;
        n += (size_t)got;
        if (n == cap) {
            unsigned char *more = cap < ((size_t)1 << 30) ? realloc(buf, cap * 2) : NULL;
            if (!more) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = more, cap *= 2;
        }
    }
    int zerr = Z_OK;
    const char *zmsg = got < 0 ? gzerror(z, &zerr) : "";
    gzclose(z);
    if (!buf)
        return cli_error("%s: more than 1 GiB inflated, or out of memory", path);
    if (got < 0 || n % 4) {
        free(buf);
        return got < 0 ? cli_error("%s: %s", path, zmsg)
                       : cli_error("%s: %zu bytes inflated, not whole 4-byte values", path, n);
    }
    unsigned char *out = malloc(n ? n : 1);
    if (!out) {
        free(buf);
        return cli_error("out of memory");
    }
    const size_t v = n / 4; /* plane b holds byte b of values 0 .. v-1 */
    for (size_t i = 0; i < v; i++)
        for (int b = 0; b < 4; b++)
            out[4 * i + b] = buf[(size_t)b * v + i];
    free(buf);
    *data = out;
    *len = n;
    return 0;
}

static int load_case(const char *dir, gcase *g)
{
    char path[1024], line[1024], msg[256];
    int gz;
    if (case_file(dir, "case.txt", path, sizeof path, &gz))
        return 1;
    gzFile f = gzopen(path, "rb"); /* reads a plain case.txt as it is */
    if (!f)
        return cli_error("cannot open %s", path);
    memset(&g->cfg, 0, sizeof g->cfg);
    g->batch = 0;
    g->euler_steps = 4;
    g->heun_steps = 3;
    g->cfg_scale = 2.0f;
    g->beta = NAN;
    g->n = 0;
    while (gzgets(f, line, sizeof line)) {
        line[strcspn(line, "\r\n")] = 0;
        if (strncmp(line, "# config ", 9) == 0) {
            for (char *tok = strtok(line + 9, " "); tok; tok = strtok(NULL, " ")) {
                char *eq = strchr(tok, '=');
                if (!eq)
                    continue;
                *eq = 0;
                const char *key = tok, *val = eq + 1;
                if (strcmp(key, "batch") == 0)
                    g->batch = atoi(val);
                else if (strcmp(key, "image") == 0)
                    g->cfg.image = atoi(val); /* "28x28": square images */
                else if (fm_config_set(&g->cfg, key, val, msg, sizeof msg) != FM_OK) {
                    gzclose(f);
                    return cli_error("%s: %s", path, msg);
                }
            }
        } else if (strncmp(line, "# sampler:", 10) == 0) {
            const char *c = strstr(line, "cfg_scale=");
            if (c)
                g->cfg_scale = strtof(c + 10, NULL);
        } else if (strncmp(line, "# loss:", 7) == 0) {
            const char *b = strstr(line, "beta=");
            if (b)
                g->beta = strtof(b + 5, NULL);
        } else if (line[0] && line[0] != '#') {
            entry *e = &g->e[g->n];
            char dt[8], shape[64];
            unsigned long long off;
            if (g->n == MAX_ENTRIES || sscanf(line, "%95s %7s %llu %63s", e->name, dt, &off, shape) != 4 ||
                !parse_shape(shape, e)) {
                gzclose(f);
                return cli_error("%s: bad line '%s'", path, line);
            }
            e->off = off;
            e->dtype = strcmp(dt, "i32") == 0 ? FM_I32 : FM_F32;
            g->n++;
        }
    }
    gzclose(f);
    if (fm_config_validate(&g->cfg, msg, sizeof msg) != FM_OK || g->batch < 1)
        return cli_error("%s: config: %s", path, g->batch < 1 ? "batch missing" : msg);
    if (case_file(dir, "case.bin", path, sizeof path, &gz) ||
        (gz ? read_bin_gz(path, &g->bin, &g->binlen) : cli_read_file(path, &g->bin, &g->binlen)))
        return 1;
    for (int i = 0; i < g->n; i++) {
        const entry *e = &g->e[i];
        if (e->off > g->binlen || entry_bytes(e) > g->binlen - e->off)
            return cli_error("%s: tensor %s lies outside the %zu-byte file", path, e->name,
                             g->binlen);
        /* A case is computed in float64 from finite inputs: a NaN or inf in it is a
         * broken case, not a backend's error to report row by row. */
        size_t bad = e->dtype == FM_F32 ? fm_f32_nonfinite(g->bin + e->off, entry_bytes(e) / 4, NULL) : 0;
        if (bad)
            return cli_error("%s: tensor %s: %zu of its %zu values are not finite (NaN "
                             "or inf)", path, e->name, bad, entry_bytes(e) / 4);
    }
    return 0;
}

static int upload_entry(fm_backend *be, const gcase *g, const char *name, const fm_tensor *t)
{
    const entry *e = find(g, name);
    if (!e)
        return cli_error("case has no tensor %s", name);
    if (entry_bytes(e) != fm_tensor_bytes(t))
        return cli_error("%s has %zu bytes, the model expects %zu", name, entry_bytes(e),
                         fm_tensor_bytes(t));
    if (fm_upload(be, t, g->bin + e->off) != FM_OK)
        return cli_error("%s", be->err);
    return 0;
}

/* Every parameter of m from the case's param.<name>. */
static int upload_params(fm_backend *be, const gcase *g, const fm_model *m)
{
    for (int i = 0; i < m->nparams; i++) {
        char name[96];
        snprintf(name, sizeof name, "param.%s", m->params[i].name);
        if (upload_entry(be, g, name, &m->params[i].t))
            return 1;
    }
    return 0;
}

typedef struct tally {
    int pass, fail;
    double worst_grad;
    char worst_name[96];
} tally;

/* rel = ||got - want|| / ||want|| in double over the n host values got (||got|| when
 * want is all 0); prints one row. */
static void compare_host(const gcase *g, const char *name, const float *got, size_t n, double tol,
                         tally *ty)
{
    const entry *e = find(g, name);
    if (!e) {
        printf("%-34s %12s %10s  missing in case\n", name, "-", "-");
        ty->fail++;
        return;
    }
    if (entry_bytes(e) != n * 4) {
        printf("%-34s shape mismatch\n", name);
        ty->fail++;
        return;
    }
    const unsigned char *w = g->bin + e->off;
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        float want;
        memcpy(&want, w + 4 * i, 4);
        double d = (double)got[i] - want;
        num += d * d;
        den += (double)want * want;
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    int ok = rel <= tol && isfinite(rel);
    /* An exact 0 in the case (a key projection's bias gradient): the absolute error. */
    printf("%-34s %12.3e %10.0e  %s%s\n", name, rel, tol, ok ? "pass" : "FAIL",
           den > 0 ? "" : " (absolute: the case is 0)");
    if (ok)
        ty->pass++;
    else
        ty->fail++;
    if (strncmp(name, "grad.", 5) == 0 && rel > ty->worst_grad) {
        ty->worst_grad = rel;
        snprintf(ty->worst_name, sizeof ty->worst_name, "%s", name);
    }
}

/* compare_host on the device tensor t. */
static void compare(fm_backend *be, const gcase *g, const char *name, const fm_tensor *t, double tol,
                    tally *ty)
{
    size_t n = (size_t)fm_tensor_numel(t);
    float *got = malloc(n * sizeof *got);
    if (!got || fm_download(be, got, t) != FM_OK) {
        printf("%-34s read failure\n", name);
        ty->fail++;
        free(got);
        return;
    }
    compare_host(g, name, got, n, tol, ty);
    free(got);
}

/* Every gradient of m against the case's grad.<name>. */
static void compare_grads(fm_backend *be, const gcase *g, fm_model *m, double tol, tally *ty)
{
    for (int i = 0; i < m->nparams; i++) {
        char name[96];
        fm_tensor gv = fm_model_view(m, &m->grad, i);
        snprintf(name, sizeof name, "grad.%s", m->params[i].name);
        compare(be, g, name, &gv, tol, ty);
    }
}

/* A flow case (U-Net, DiT): forward, loss and gradients of fm_flow_loss_grad, then
 * both samplers. */
/* The last line of a case: its counts and worst gradient; 1 when a tensor failed. */
static int summary(const tally *ty)
{
    printf("golden: %d passed, %d failed; worst gradient %s %.3e\n", ty->pass, ty->fail,
           ty->worst_name, ty->worst_grad);
    return ty->fail ? 1 : 0;
}

static int close_case(fm_backend *be, cli_mem *mem, fm_model *m, int rc)
{
    fm_backend_close(be);
    cli_mem_free(mem);
    free(m);
    return rc;
}

static int run_flow_case(const gcase *g, const char *backend)
{
    fm_model *m = malloc(sizeof *m);
    fm_plan plan;
    char msg[FM_ERR_LEN];
    if (!m)
        return cli_error("out of memory");
    /* Memory: the training state and step, a sampler run's working set on top, and
     * this command's own nine batch tensors. */
    fm_plan sp;
    if (fm_model_plan(&g->cfg, FM_MODE_TRAIN, g->batch, m, &plan, msg, sizeof msg) != FM_OK ||
        fm_model_plan(&g->cfg, FM_MODE_SAMPLE, g->batch, m, &sp, msg, sizeof msg) != FM_OK) {
        free(m);
        return cli_error("plan: %s", msg);
    }
    size_t image = (size_t)g->batch * g->cfg.in_channels * g->cfg.image * g->cfg.image * 4;
    size_t bytes = plan.total_bytes + (sp.total_bytes - sp.state_bytes) + 9 * (image + 64);
    fm_backend be;
    cli_mem mem;
    if (cli_open_backend(&be, backend, bytes, &mem) != 0) {
        free(m);
        return 1;
    }
    int rc = 1;
    tally ty = {0};
    const int N = g->batch, C = g->cfg.in_channels, S = g->cfg.image;
    fm_tensor x0 = fm_tensor_4d(FM_F32, N, C, S, S), x1 = x0, xt = x0, v = x0, xs = x0;
    /* y, sample_y: labels [N] or a text model's token ids [N, text_ctx] */
    const int cond = fm_config_conditional(&g->cfg);
    fm_tensor t = fm_tensor_1d(FM_F32, N), sy;
    fm_tensor y = fm_tensor_1d(FM_I32, (int64_t)N * fm_config_cond_width(&g->cfg));
    sy = y;
    fm_tensor loss = fm_tensor_1d(FM_F32, 1);
    fm_tensor *all[] = {&x0, &x1, &xt, &v, &xs, &t, &y, &sy, &loss};
    if (fm_model_create(m, &be, &g->cfg, FM_MODE_TRAIN, N) != FM_OK)
        goto fail;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (fm_tensor_alloc(&be, all[i]) != FM_OK)
            goto fail;
    if (upload_params(&be, g, m))
        goto done;
    if (upload_entry(&be, g, "input.x0", &x0) || upload_entry(&be, g, "input.x1", &x1) ||
        upload_entry(&be, g, "input.t", &t) ||
        (cond && (upload_entry(&be, g, "input.y", &y) || upload_entry(&be, g, "input.sample_y", &sy))))
        goto done;
    if (fm_fill(&be, &m->grad, 0.0f) != FM_OK ||
        fm_flow_loss_grad(m, &x0, &x1, &t, cond ? &y : NULL, &xt, &v, &loss) != FM_OK)
        goto fail;
    printf("golden %s on %s: %s\n",
           g->cfg.text_depth ? "(text)" : cond ? "(conditional)" : "(unconditional)",
           fm_backend_describe(&be), "relative L2 error ||got - want|| / ||want||");
    printf("%-34s %12s %10s  %s\n", "tensor", "rel error", "tolerance", "result");
    compare(&be, g, "output.xt", &xt, 1e-5, &ty);
    compare(&be, g, "output.v", &v, 1e-5, &ty);
    compare(&be, g, "output.loss", &loss, 1e-5, &ty);
    compare_grads(&be, g, m, 1e-4, &ty);
    const char *samplers[2] = {"output.euler4", "output.heun3"};
    for (int k = 0; k < 2; k++) {
        fm_sample_opts o = {.steps = k ? g->heun_steps : g->euler_steps, .heun = k,
                            .guidance = cond, .cfg_scale = g->cfg_scale};
        if (fm_copy(&be, &xs, &x1) != FM_OK || fm_sample(m, &m->flat, &xs, cond ? &sy : NULL, &o) != FM_OK)
            goto fail;
        compare(&be, g, samplers[k], &xs, 1e-4, &ty);
    }
    rc = summary(&ty);
    goto done;
fail:
    cli_error("%s", be.err);
done:
    return close_case(&be, &mem, m, rc);
}

/* An autoencoder case (docs/spec/vae.md): fm_vae_loss_grad with the case's eps and
 * beta gives moments = enc(x), z = mu + exp(clamp(lv, -30, 20) / 2) eps,
 * xhat = dec(z), the losses rec = (1/N) sum (xhat - x)^2,
 * kl = (1/N) sum 0.5 (mu^2 + exp(lv') - 1 - lv') and loss = rec + beta kl, and every
 * gradient of loss; each is compared with the case. */
static int run_vae_case(const gcase *g, const char *backend)
{
    fm_model *m;
    fm_plan plan;
    char msg[FM_ERR_LEN];
    if (!(isfinite(g->beta) && g->beta >= 0))
        return cli_error("an autoencoder case needs a line '# loss: beta=B' (B >= 0)");
    if (!(m = malloc(sizeof *m)))
        return cli_error("out of memory");
    if (fm_model_plan(&g->cfg, FM_MODE_TRAIN, g->batch, m, &plan, msg, sizeof msg) != FM_OK) {
        free(m);
        return cli_error("plan: %s", msg);
    }
    const int N = g->batch, C = g->cfg.in_channels, S = g->cfg.image, Z = g->cfg.latent_channels;
    int64_t ls[4];
    fm_vae_latent_shape(&g->cfg, N, ls); /* [N, Z, s, s] */
    /* Memory: the training step, this command's own six batch tensors (the moments
     * are twice a latent, the losses three floats), and 64 KiB for a device whose
     * arena aligns beyond the plan backend's 64 bytes (cuda: 256; the margin fmrt
     * train and sample keep). */
    size_t image = (size_t)N * C * S * S * 4, latent = (size_t)(ls[0] * ls[1] * ls[2] * ls[3]) * 4;
    size_t bytes = plan.total_bytes + 2 * image + 4 * latent + 6 * 256 + (64 << 10);
    fm_backend be;
    cli_mem mem;
    if (cli_open_backend(&be, backend, bytes, &mem) != 0) {
        free(m);
        return 1;
    }
    int rc = 1;
    tally ty = {0};
    float l3[3]; /* the losses: loss, rec, kl */
    fm_tensor x = fm_tensor_4d(FM_F32, N, C, S, S), xhat = x;
    fm_tensor eps = fm_tensor_4d(FM_F32, ls[0], ls[1], ls[2], ls[3]), z = eps;
    fm_tensor moments = fm_tensor_4d(FM_F32, N, 2 * Z, ls[2], ls[3]);
    fm_tensor losses = fm_tensor_1d(FM_F32, 3);
    fm_tensor *all[] = {&x, &xhat, &eps, &z, &moments, &losses};
    if (fm_model_create(m, &be, &g->cfg, FM_MODE_TRAIN, N) != FM_OK)
        goto fail;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (fm_tensor_alloc(&be, all[i]) != FM_OK)
            goto fail;
    if (upload_params(&be, g, m) || upload_entry(&be, g, "input.x", &x) ||
        upload_entry(&be, g, "input.eps", &eps))
        goto done;
    if (fm_fill(&be, &m->grad, 0.0f) != FM_OK ||
        fm_vae_loss_grad(m, g->beta, &x, &eps, &xhat, &moments, &z, &losses) != FM_OK)
        goto fail;
    if (fm_download(&be, l3, &losses) != FM_OK)
        goto fail;
    printf("golden (autoencoder, beta %g) on %s: %s\n", g->beta, fm_backend_describe(&be),
           "relative L2 error ||got - want|| / ||want||");
    printf("%-34s %12s %10s  %s\n", "tensor", "rel error", "tolerance", "result");
    compare(&be, g, "output.moments", &moments, 1e-5, &ty);
    compare(&be, g, "output.z", &z, 1e-5, &ty);
    compare(&be, g, "output.xhat", &xhat, 1e-5, &ty);
    compare_host(g, "output.rec", &l3[1], 1, 1e-5, &ty);
    compare_host(g, "output.kl", &l3[2], 1, 1e-5, &ty);
    compare_host(g, "output.loss", &l3[0], 1, 1e-5, &ty);
    compare_grads(&be, g, m, 1e-4, &ty);
    rc = summary(&ty);
    goto done;
fail:
    cli_error("%s", be.err);
done:
    return close_case(&be, &mem, m, rc);
}

int cmd_golden(int argc, char **argv)
{
    const char *dir = NULL, *backend = "ref";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: fmrt golden DIR [--backend NAME]\n\n"
                   "Runs a golden case folder (case.txt + case.bin, or the compact\n"
                   "case.txt.gz + case.bin.gz) and prints each tensor's\n"
                   "relative L2 error against it: forward, loss, every gradient, Euler and Heun\n"
                   "(an autoencoder case: moments, z, xhat, rec, kl, loss, every gradient).\n"
                   "Tolerances: 1e-5 for the forward tensors and losses; 1e-4 for gradients and\n"
                   "samplers.\n");
            return 0;
        } else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc)
            backend = argv[++i];
        else if (argv[i][0] == '-')
            return cli_usage_error("golden", "unknown option '%s'", argv[i]);
        else if (!dir)
            dir = argv[i];
        else
            return cli_usage_error("golden", "one case folder only ('%s')", argv[i]);
    }
    if (!dir)
        return cli_usage_error("golden", "missing case folder");
    gcase *g = calloc(1, sizeof *g);
    if (!g)
        return cli_error("out of memory");
    int rc = load_case(dir, g);
    if (rc == 0)
        rc = fm_vae_is(&g->cfg) ? run_vae_case(g, backend) : run_flow_case(g, backend);
    free(g->bin);
    free(g);
    return rc;
}
