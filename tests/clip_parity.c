/* A standalone CLIP text encoder (arch clip) against transformers.CLIPTextModel:
 *
 *   clip_parity WEIGHTS.fmw CASE_DIR BACKEND [TOL]
 *
 * CASE_DIR (scripts/reference/clip_parity.py) holds case.txt (n, ctx, width and one
 * "ids ..." line per row) and expected.f32 (transformers' last_hidden_state [n, ctx,
 * width], then pooler_output [n, width], computed in float64). The weights (fmrt
 * convert of the case's model.safetensors) run on BACKEND through fm_clip_encode; every
 * value must lie within TOL (default 1e-4) of transformers' times max(1, the largest
 * |value| of its tensor). Prints the worst absolute and relative errors of both.
 *
 *   clip_parity --grad
 *
 * The backward of a small random clip model on ref (fm_text_bwd_states) against
 * central differences of its forward, L = sum H * R for a fixed R: every 3rd parameter,
 * relative error at most 1e-2 (float32 differences; about 1e-3 is usual). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_backend.h"
#include "clip.h"

#define MAXN 64
#define MAXL 256

typedef struct clip_case {
    int n, ctx, width;
    int32_t ids[MAXN * MAXL];
    int rows;
} clip_case;

static int read_case(const char *dir, clip_case *c)
{
    char path[4096], line[8192];
    snprintf(path, sizeof path, "%s/case.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return fprintf(stderr, "cannot open %s\n", path), 1;
    memset(c, 0, sizeof *c);
    while (fgets(line, sizeof line, f)) {
        int v;
        if (sscanf(line, "n %d", &v) == 1)
            c->n = v;
        else if (sscanf(line, "ctx %d", &v) == 1)
            c->ctx = v;
        else if (sscanf(line, "width %d", &v) == 1)
            c->width = v;
        else if (strncmp(line, "ids ", 4) == 0 && c->rows < MAXN && c->ctx > 0 && c->ctx <= MAXL) {
            char *p = line + 4, *end;
            for (int k = 0; k < c->ctx; k++, p = end) {
                c->ids[c->rows * c->ctx + k] = (int32_t)strtol(p, &end, 10);
                if (end == p) {
                    fclose(f);
                    return fprintf(stderr, "%s: row %d has fewer than %d ids\n", path, c->rows,
                                   c->ctx),
                           1;
                }
            }
            c->rows++;
        }
    }
    fclose(f);
    if (c->n < 1 || c->n > MAXN || c->rows != c->n || c->width < 1)
        return fprintf(stderr, "%s: n %d, %d rows of ids, width %d\n", path, c->n, c->rows,
                       c->width),
               1;
    return 0;
}

/* Worst |got - want| and |got - want| / max|want| over n values; 0 when within tol. */
static int compare(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double worst = 0, scale = 0, rel = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= worst)) /* NaN counts as worst */
            worst = d, at = i;
        if (fabs(want[i]) > 1e-3 * scale)
            rel = fmax(rel, d / fabs(want[i]));
    }
    int ok = worst <= tol * fmax(1.0, scale);
    printf("%-7s %zu values: max |diff| %.3e at %zu (%g vs %g), max |ref| %.3g, max |diff| / "
           "max |ref| %.3e, max elementwise rel %.3e%s\n",
           what, n, worst, at, (double)got[at], (double)want[at], scale, worst / fmax(scale, 1e-30),
           rel, ok ? "" : "  FAIL");
    return !ok;
}

/* fm_tensor's host floats on ref. */
static float *host(const fm_tensor *t)
{
    return (float *)(void *)((char *)t->base + t->off);
}

static int gradcheck(void)
{
    enum { N = 2, L = 6, D = 8 };
    fm_config c;
    char msg[256];
    fm_config_preset(&c, "clip-tiny");
    c.text_ctx = L, c.text_width = D, c.text_heads = 2, c.text_ff = 12, c.text_depth = 2;
    static fm_model m;
    fm_plan plan;
    if (fm_config_validate(&c, msg, sizeof msg) != FM_OK ||
        fm_model_plan(&c, FM_MODE_TRAIN, N, &m, &plan, msg, sizeof msg) != FM_OK)
        return fprintf(stderr, "clip gradcheck: %s\n", msg), 1;
    size_t bytes = plan.total_bytes + (1 << 16);
    void *mem = malloc(bytes);
    fm_backend be;
    fm_backend_config bc = {.name = "ref", .mem = mem, .mem_bytes = bytes};
    int64_t hs[3] = {N, L, D};
    fm_tensor y = fm_tensor_2d(FM_I32, N, L), H = fm_tensor_desc(FM_F32, 3, hs), R = H;
    const int32_t ids[N * L] = {256, 3, 9, 257, 258, 258, 256, 70, 71, 72, 73, 257};
    float r[N * L * D], h[N * L * D];
    for (int i = 0; i < N * L * D; i++)
        r[i] = cosf(0.7f * (float)i);
    if (!mem || fm_backend_open(&be, &bc) != FM_OK)
        return fprintf(stderr, "clip gradcheck: cannot open ref\n"), 1;
    if (fm_model_create(&m, &be, &c, FM_MODE_TRAIN, N) != FM_OK || fm_model_init(&m, 3) != FM_OK)
        return fprintf(stderr, "clip gradcheck: %s\n", be.err), 1;
    /* Every parameter moved away from its init (layer norms 1 and 0, small embeddings),
     * so that no term is degenerate. */
    float *P = host(&m.flat), *G = host(&m.grad);
    for (int64_t i = 0; i < m.nfloats; i++)
        P[i] += 0.5f * sinf(1.3f * (float)i);
    if (fm_tensor_alloc(&be, &y) != FM_OK || fm_tensor_alloc(&be, &H) != FM_OK ||
        fm_tensor_alloc(&be, &R) != FM_OK || fm_upload(&be, &y, ids) != FM_OK ||
        fm_upload(&be, &R, r) != FM_OK || fm_fill(&be, &m.grad, 0.0f) != FM_OK ||
        fm_model_forward(&m, FM_MODE_TRAIN, &m.flat, &H, NULL, NULL, &y) != FM_OK ||
        fm_model_backward(&m, &R) != FM_OK)
        return fprintf(stderr, "clip gradcheck: %s\n", be.err), 1;
    double worst = 0;
    int64_t at = 0, checked = 0;
    for (int64_t i = 0; i < m.nfloats; i += 3, checked++) {
        double sum[2];
        const float old = P[i], eps = 1e-3f;
        for (int k = 0; k < 2; k++) {
            P[i] = old + (k ? -eps : eps);
            if (fm_model_forward(&m, FM_MODE_SAMPLE, &m.flat, &H, NULL, NULL, &y) != FM_OK ||
                fm_download(&be, h, &H) != FM_OK)
                return fprintf(stderr, "clip gradcheck: %s\n", be.err), 1;
            sum[k] = 0;
            for (int e = 0; e < N * L * D; e++)
                sum[k] += (double)h[e] * r[e];
        }
        const double step = (double)(old + eps) - (double)(old - eps);
        P[i] = old;
        double num = (sum[0] - sum[1]) / step, e = fabs(num - G[i]) / fmax(1.0, fabs(num));
        if (e > worst)
            worst = e, at = i;
    }
    fm_backend_close(&be);
    free(mem);
    printf("clip gradcheck on ref: %lld of %lld parameters, worst relative error %.3e (parameter "
           "element %lld)%s\n",
           (long long)checked, (long long)m.nfloats, worst, (long long)at,
           worst <= 1e-2 ? "" : "  FAIL");
    return worst > 1e-2;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--grad") == 0)
        return gradcheck();
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: clip_parity WEIGHTS.fmw CASE_DIR BACKEND [TOL]\n"
                        "       clip_parity --grad\n");
        return 2;
    }
    const char *wpath = argv[1], *dir = argv[2], *backend = argv[3];
    double tol = argc == 5 ? atof(argv[4]) : 1e-4;
    static clip_case c;
    if (read_case(dir, &c))
        return 1;
    const size_t nh = (size_t)c.n * c.ctx * c.width, np = (size_t)c.n * c.width;
    float *want = malloc((nh + np) * sizeof(float)), *got = malloc((nh + np) * sizeof(float));
    char path[4096];
    snprintf(path, sizeof path, "%s/expected.f32", dir);
    FILE *f = fopen(path, "rb");
    if (!want || !got || !f || fread(want, sizeof(float), nh + np, f) != nh + np) {
        fprintf(stderr, "cannot read %zu floats from %s\n", nh + np, path);
        return 1;
    }
    fclose(f);

    fm_weights w;
    size_t bytes;
    cli_mem wmem = {0};
    cli_sampler s = {0};
    if (cli_load_weights(wpath, &w, &bytes, &wmem) || cli_check_weights(wpath, &w, FM_MODE_SAMPLE, 0))
        return 1;
    if (!fm_clip_is(&w.cfg) || w.cfg.text_ctx != c.ctx || w.cfg.text_width != c.width) {
        fprintf(stderr, "%s is not a clip model of ctx %d and width %d\n", wpath, c.ctx, c.width);
        return 1;
    }
    if (cli_open_sampler(wpath, &wmem, &w, backend, c.n, 0, (nh + np) * 4 + (1 << 16), &s))
        return 1;
    fm_backend *be = &s.be;
    fm_tensor ids = fm_tensor_2d(FM_I32, c.n, c.ctx);
    int64_t hs[3] = {c.n, c.ctx, c.width};
    fm_tensor H = fm_tensor_desc(FM_F32, 3, hs), pooled = fm_tensor_2d(FM_F32, c.n, c.width);
    double t0 = cli_now();
    if (fm_tensor_alloc(be, &ids) != FM_OK || fm_tensor_alloc(be, &H) != FM_OK ||
        fm_tensor_alloc(be, &pooled) != FM_OK || fm_upload(be, &ids, c.ids) != FM_OK ||
        fm_clip_encode(s.m, &s.m->flat, &ids, &H, &pooled) != FM_OK ||
        fm_download(be, got, &H) != FM_OK || fm_download(be, got + nh, &pooled) != FM_OK) {
        fprintf(stderr, "clip forward on %s: %s\n", backend, be->err);
        cli_close_sampler(&s);
        return 1;
    }
    double t1 = cli_now();
    printf("%s on %s: %d rows of %d tokens, width %d, %d layers: forward %.3f s\n", wpath,
           fm_backend_name(be), c.n, c.ctx, c.width, s.m->cfg.text_depth, t1 - t0);
    int bad = compare("hidden", got, want, nh, tol);
    bad |= compare("pooled", got + nh, want + nh, np, tol);
    cli_close_sampler(&s);
    free(want);
    free(got);
    if (bad)
        printf("FAIL: above the tolerance %g (times max(1, max |ref|))\n", tol);
    return bad;
}
