/* fmrt plot LOSS.CSV [LOSS2.CSV ...] --out loss.svg [--smooth N] [--title T]
 *       [--ref "1:0.3532,2:0.2299,..."] [--steps-per-epoch N]
 *
 * A loss curve from the trainer's CSV log (step,epoch,loss,img_per_s), drawn as SVG:
 * axes with "nice" ticks (1, 2 or 5 x 10^k), labels, a light raw curve with a
 * moving average (window --smooth, default 50 steps) on top, one colour per file,
 * and optional reference points (e.g. the seed notebook's per-epoch losses, placed at
 * epoch x --steps-per-epoch). The y axis is logarithmic: a flow-matching loss falls
 * fast, then slowly, and a linear axis hides the slow part. The trajectory grid of a
 * sampling run is `fmrt sample --traj FILE.png`. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_FILES 4
#define MAX_REF 64

typedef struct series {
    const char *path;
    double *step, *loss;
    int n;
} series;

static int read_csv(series *s)
{
    FILE *f = fopen(s->path, "r");
    if (!f)
        return cli_error("plot: cannot open %s: %s", s->path, strerror(errno));
    char line[256];
    int cap = 0, lineno = 0;
    s->n = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (lineno == 1 && strncmp(line, "step,", 5) == 0)
            continue;
        double st, ep, lo;
        if (sscanf(line, "%lf,%lf,%lf", &st, &ep, &lo) != 3 || !isfinite(lo) || lo <= 0) {
            fclose(f);
            return cli_error("plot: %s:%d: expected 'step,epoch,loss,...' with a positive loss", s->path,
                             lineno);
        }
        if (s->n == cap) {
            cap = cap ? 2 * cap : 1024;
            double *a = realloc(s->step, (size_t)cap * sizeof *a);
            if (a)
                s->step = a;
            double *b = a ? realloc(s->loss, (size_t)cap * sizeof *b) : NULL;
            if (!a || !b) {
                fclose(f);
                return cli_error("plot: out of memory");
            }
            s->loss = b;
        }
        s->step[s->n] = st;
        s->loss[s->n] = lo;
        s->n++;
    }
    fclose(f);
    if (s->n == 0)
        return cli_error("plot: %s has no data rows", s->path);
    return 0;
}

/* The largest "nice" step (1, 2, 5 x 10^k) giving at most `want` ticks over span. */
static double nice_step(double span, int want)
{
    double raw = span / want, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static const char *colours[MAX_FILES] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

int cmd_plot(int argc, char **argv)
{
    series s[MAX_FILES] = {0};
    int nfiles = 0, smooth = 50, spe = 0, nref = 0;
    const char *out = NULL, *title = "training loss", *ref = NULL;
    double refx[MAX_REF], refy[MAX_REF];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        if (strcmp(a, "--help") == 0) {
            printf("usage: fmrt plot LOSS.CSV [MORE.CSV ...] --out FILE.svg [--smooth N] [--title T]\n"
                   "                 [--ref EPOCH:LOSS,...] [--steps-per-epoch N]\n\n"
                   "Draws the loss curves of trainer CSV logs (fmrt train --log) as an SVG with\n"
                   "axes, ticks and labels; --ref adds reference points per epoch (placed at\n"
                   "epoch x --steps-per-epoch). Sampling trajectories: fmrt sample --traj.\n");
            return 0;
        } else if (a[0] != '-') {
            if (nfiles == MAX_FILES)
                return cli_usage_error("plot", "at most %d CSV files", MAX_FILES);
            s[nfiles++].path = a;
        } else if (i + 1 >= argc)
            return cli_usage_error("plot", "%s needs a value", a);
        else if (strcmp(a, "--out") == 0)
            out = argv[++i];
        else if (strcmp(a, "--title") == 0)
            title = argv[++i];
        else if (strcmp(a, "--ref") == 0)
            ref = argv[++i];
        else if (strcmp(a, "--smooth") == 0) {
            if (cli_int(a, argv[++i], 1, 100000, &v))
                return 2;
            smooth = (int)v;
        } else if (strcmp(a, "--steps-per-epoch") == 0) {
            if (cli_int(a, argv[++i], 1, 100000000, &v))
                return 2;
            spe = (int)v;
        } else
            return cli_usage_error("plot", "unknown option '%s'", a);
    }
    if (nfiles == 0 || !out)
        return cli_usage_error("plot", "needs at least one CSV file and --out FILE.svg");
    if (ref) {
        if (!spe)
            return cli_usage_error("plot", "--ref needs --steps-per-epoch");
        for (const char *p = ref; *p && nref < MAX_REF;) {
            char *end;
            double e = strtod(p, &end);
            if (*end != ':')
                return cli_usage_error("plot", "--ref: expected EPOCH:LOSS pairs, got '%s'", p);
            double l = strtod(end + 1, &end);
            if (!(l > 0) || (*end && *end != ','))
                return cli_usage_error("plot", "--ref: bad loss in '%s'", p);
            refx[nref] = e * spe;
            refy[nref++] = l;
            p = *end ? end + 1 : end;
        }
    }
    int rc = 1;
    for (int k = 0; k < nfiles; k++)
        if (read_csv(&s[k]))
            goto done;

    /* Data ranges; y on a log scale. */
    double x0 = 0, x1 = 1, y0 = INFINITY, y1 = 0;
    for (int k = 0; k < nfiles; k++)
        for (int i = 0; i < s[k].n; i++) {
            x1 = fmax(x1, s[k].step[i]);
            y0 = fmin(y0, s[k].loss[i]);
            y1 = fmax(y1, s[k].loss[i]);
        }
    for (int r = 0; r < nref; r++) {
        x1 = fmax(x1, refx[r]);
        y0 = fmin(y0, refy[r]);
        y1 = fmax(y1, refy[r]);
    }
    double ly0 = floor(log10(y0) * 4) / 4, ly1 = ceil(log10(y1) * 4) / 4;
    if (ly1 <= ly0)
        ly1 = ly0 + 1;
    double xs = nice_step(x1 - x0, 8);
    x1 = ceil(x1 / xs) * xs;

    const double W = 720, H = 440, L = 70, R = 20, T = 40, B = 55;
    FILE *f = fopen(out, "w");
    if (!f) {
        cli_error("plot: cannot write %s: %s", out, strerror(errno));
        goto done;
    }
#define PX(x) (L + ((x) - x0) / (x1 - x0) * (W - L - R))
#define PY(y) (T + (ly1 - log10(y)) / (ly1 - ly0) * (H - T - B))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
               "fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n", W / 2, title);
    /* x ticks and grid */
    for (double x = x0; x <= x1 + xs / 2; x += xs) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n", PX(x), T, PX(x),
                H - B);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%g</text>\n", PX(x), H - B + 16, x);
    }
    /* y ticks: 1, 2, 5 x 10^k inside the range */
    for (int e = (int)floor(ly0) - 1; e <= (int)ceil(ly1); e++)
        for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) {
            double y = m * pow(10, e);
            if (log10(y) < ly0 - 1e-9 || log10(y) > ly1 + 1e-9)
                continue;
            fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, PY(y),
                    W - R, PY(y));
            fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L - 6, PY(y) + 4, y);
        }
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"black\"/>\n",
            L, T, W - L - R, H - T - B);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">optimizer step</text>\n", (L + W - R) / 2,
            H - 12);
    fprintf(f, "<text transform=\"translate(18 %.0f) rotate(-90)\" text-anchor=\"middle\">loss (MSE of "
               "the velocity, log scale)</text>\n", (T + H - B) / 2);
    for (int k = 0; k < nfiles; k++) {
        /* raw, light */
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-opacity=\"0.25\" stroke-width=\"0.8\" points=\"",
                colours[k]);
        for (int i = 0; i < s[k].n; i++)
            fprintf(f, "%.1f,%.1f ", PX(s[k].step[i]), PY(s[k].loss[i]));
        fprintf(f, "\"/>\n");
        /* trailing moving average over `smooth` rows */
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colours[k]);
        double acc = 0;
        for (int i = 0; i < s[k].n; i++) {
            acc += s[k].loss[i];
            if (i >= smooth)
                acc -= s[k].loss[i - smooth];
            int w = i + 1 < smooth ? i + 1 : smooth;
            if (i + 1 >= smooth || s[k].n < smooth)
                fprintf(f, "%.1f,%.1f ", PX(s[k].step[i]), PY(acc / w));
        }
        fprintf(f, "\"/>\n");
        const char *name = strrchr(s[k].path, '/') ? strrchr(s[k].path, '/') + 1 : s[k].path;
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" fill=\"%s\">%s (mean of %d steps)</text>\n",
                W - R - 8, T + 18 + 16.0 * k, colours[k], name, smooth);
    }
    for (int r = 0; r < nref; r++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"black\"/>\n", PX(refx[r]), PY(refy[r]));
    if (nref)
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">&#9679; reference, per epoch</text>\n",
                W - R - 8, T + 18 + 16.0 * nfiles);
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
    if (fclose(f) != 0) {
        cli_error("plot: cannot write %s", out);
        goto done;
    }
    printf("wrote %s (%d curve%s)\n", out, nfiles, nfiles > 1 ? "s" : "");
    rc = 0;
done:
    for (int k = 0; k < nfiles; k++) {
        free(s[k].step);
        free(s[k].loss);
    }
    return rc;
}
