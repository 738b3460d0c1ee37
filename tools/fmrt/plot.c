/* fmrt plot LOSS.CSV [LOSS2.CSV ...] --out loss.svg [--smooth N] [--title T]
 *       [--ref "1:0.3532,2:0.2299,..."] [--steps-per-epoch N]
 *
 * A loss curve from the trainer's CSV log (step,epoch,loss,img_per_s), drawn as SVG:
 * axes with "nice" ticks (1, 2 or 5 x 10^k), labels, a light raw curve with a
 * moving average (window --smooth, default 50 steps) on top, one colour per file,
 * and optional reference points (e.g. the seed notebook's per-epoch losses, placed at
 * epoch x --steps-per-epoch). The y axis is logarithmic: a flow-matching loss falls
 * fast, then slowly, and a linear axis hides the slow part. The trajectory grid of a
 * sampling run is `fmrt sample --traj FILE.png`.
 *
 * Every number read is checked before it reaches the axes (steps below 2^53, losses
 * in (0, 1e100]), and the tick loops count integers, so no input makes the drawing
 * loop on an infinite or huge float. The SVG is built in memory and replaces --out
 * atomically: a full disk leaves the old file as it was. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_plot.h"
#include "commands.h"
#include "io.h"

#define MAX_LINE 256
#define MAX_ROWS (1 << 22)               /* ~120 MB of SVG; far above any trainer log */
#define MAX_BYTES ((long long)256 << 20) /* a larger file is not a trainer log */
/* Steps are integers, exact in a double below 2^53; so are epoch x steps-per-epoch. */
#define MAX_STEP 9007199254740992.0
/* Bounds the moving sum of up to 100000 losses, so it stays finite. */
#define MAX_LOSS 1e100
/* Above this many decades on the y axis only 10^k ticks, some decades apart. */
#define MAX_DECADES 10

/* ---- the log reader ------------------------------------------------------------------ */

typedef struct reader {
    cli_plot_log *lg;
    long long lineno;
    int cap;
} reader;

static int grow(reader *r)
{
    int cap = r->cap ? 2 * r->cap : 1024;
    double *a = realloc(r->lg->step, (size_t)cap * sizeof *a);
    if (a)
        r->lg->step = a;
    double *b = a ? realloc(r->lg->loss, (size_t)cap * sizeof *b) : NULL;
    if (!b)
        return cli_error("out of memory");
    r->lg->loss = b;
    r->cap = cap;
    return 0;
}

/* One line (no '\n'): the header, a row, or a row skipped for a non-finite loss. */
static int take_line(reader *r, const char *s, size_t n)
{
    const char *name = r->lg->name;
    long long ln = ++r->lineno;
    if (ln == 1 && n >= 5 && memcmp(s, "step,", 5) == 0)
        return 0;
    if (n >= MAX_LINE)
        return cli_error("%s:%lld: line longer than %d bytes", name, ln, MAX_LINE - 1);
    char line[MAX_LINE];
    memcpy(line, s, n);
    line[n] = 0;
    double st, ep, lo;
    if (sscanf(line, "%lf,%lf,%lf", &st, &ep, &lo) != 3)
        return cli_error("%s:%lld: expected 'step,epoch,loss,...'", name, ln);
    if (!(st >= 0 && st <= MAX_STEP))
        return cli_error("%s:%lld: step %g is not in 0..2^53", name, ln, st);
    if (!(isfinite(ep) && ep >= 0))
        return cli_error("%s:%lld: epoch %g is not a finite number >= 0", name, ln, ep);
    if (!isfinite(lo)) {
        r->lg->skipped++;
        return 0;
    }
    if (!(lo > 0 && lo <= MAX_LOSS))
        return cli_error("%s:%lld: loss %g is not in (0, 1e100] (the y axis is logarithmic)",
                         name, ln, lo);
    if (r->lg->n == MAX_ROWS)
        return cli_error("%s:%lld: more than %d rows", name, ln, MAX_ROWS);
    if (r->lg->n == r->cap && grow(r))
        return 1;
    r->lg->step[r->lg->n] = st;
    r->lg->loss[r->lg->n++] = lo;
    return 0;
}

int cli_plot_parse(cli_plot *p, const char *name, const char *text, size_t len)
{
    if (p->nlogs == CLI_PLOT_MAX_FILES)
        return cli_error("at most %d logs", CLI_PLOT_MAX_FILES);
    /* Counted before reading, so cli_plot_free also frees a half-read log. */
    cli_plot_log *lg = &p->logs[p->nlogs++];
    *lg = (cli_plot_log){.name = name};
    reader r = {.lg = lg};
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if (take_line(&r, text + pos, n))
            return 1;
        pos += n + (nl != NULL);
    }
    if (lg->n == 0)
        return cli_error("%s has no data rows%s", name,
                         lg->skipped ? " with a finite loss" : "");
    return 0;
}

int cli_plot_ref(cli_plot *p, const char *spec, long long spe)
{
    if (spe < 1)
        return cli_error("--ref needs --steps-per-epoch >= 1");
    for (const char *q = spec; *q;) {
        if (p->nref == CLI_PLOT_MAX_REF)
            return cli_error("--ref: more than %d pairs", CLI_PLOT_MAX_REF);
        char *end;
        double e = strtod(q, &end);
        if (end == q || *end != ':')
            return cli_error("--ref: expected EPOCH:LOSS pairs, got '%s'", q);
        if (!(e >= 0 && e * (double)spe <= MAX_STEP))
            return cli_error(
                "--ref: epoch %g x --steps-per-epoch %lld is not in 0..2^53 steps", e, spe);
        const char *lq = end + 1;
        double l = strtod(lq, &end);
        if (end == lq || (*end && *end != ','))
            return cli_error("--ref: bad loss in '%s'", q);
        if (!(l > 0 && l <= MAX_LOSS))
            return cli_error("--ref: loss %g is not in (0, 1e100]", l);
        p->refx[p->nref] = e * (double)spe;
        p->refy[p->nref++] = l;
        q = *end ? end + 1 : end;
    }
    return 0;
}

void cli_plot_free(cli_plot *p)
{
    for (int k = 0; k < p->nlogs; k++) {
        free(p->logs[k].step);
        free(p->logs[k].loss);
        p->logs[k] = (cli_plot_log){0};
    }
    p->nlogs = 0;
}

/* ---- the axes -------------------------------------------------------------------------- */

/* The largest "nice" step (1, 2, 5 x 10^k) giving at most `want` ticks over span > 0. */
static double nice_step(double span, int want)
{
    double raw = span / want, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static void fit_x(cli_plot_axes *ax, double xmax)
{
    ax->x0 = 0;
    double xs = nice_step(xmax - ax->x0, 8);
    /* xs >= xmax / 8, so k <= 8: an integer count, not a loop on a float; the
     * clamp only guards against rounding. */
    double kf = ceil(xmax / xs);
    int k = kf < CLI_PLOT_MAX_TICKS - 1 ? (int)kf : CLI_PLOT_MAX_TICKS - 1;
    ax->x1 = k * xs;
    ax->nx = k + 1;
    for (int i = 0; i < ax->nx; i++)
        ax->xt[i] = ax->x0 + i * xs;
}

/* 1, 2, 5 x 10^e inside [ly0, ly1]; over more than MAX_DECADES decades only 10^e,
 * every `stride` decades. */
static void fit_y(cli_plot_axes *ax)
{
    int stride = 1, span = (int)ceil(ax->ly1 - ax->ly0);
    if (span > MAX_DECADES)
        stride = (span + MAX_DECADES - 1) / MAX_DECADES;
    ax->ny = 0;
    for (int e = (int)floor(ax->ly0) - 1; e <= (int)ceil(ax->ly1); e++)
        for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) {
            double y = m * pow(10, e);
            if (log10(y) < ax->ly0 - 1e-9 || log10(y) > ax->ly1 + 1e-9)
                continue;
            if (stride > 1 && (m != 1 || e % stride != 0))
                continue;
            if (ax->ny < CLI_PLOT_MAX_TICKS)
                ax->yt[ax->ny++] = y;
        }
}

int cli_plot_fit(const cli_plot *p, cli_plot_axes *ax)
{
    /* Inputs were checked on the way in: steps and reference x in [0, 2^53], losses
     * in (0, 1e100]. So every span below is finite, and > 0 by the minimums. */
    double x1 = 1, y0 = INFINITY, y1 = 0;
    for (int k = 0; k < p->nlogs; k++)
        for (int i = 0; i < p->logs[k].n; i++) {
            x1 = fmax(x1, p->logs[k].step[i]);
            y0 = fmin(y0, p->logs[k].loss[i]);
            y1 = fmax(y1, p->logs[k].loss[i]);
        }
    for (int r = 0; r < p->nref; r++) {
        x1 = fmax(x1, p->refx[r]);
        y0 = fmin(y0, p->refy[r]);
        y1 = fmax(y1, p->refy[r]);
    }
    if (!(y0 > 0 && y0 <= y1 && y1 <= MAX_LOSS && x1 <= MAX_STEP))
        return cli_error("nothing to plot");
    ax->ly0 = floor(log10(y0) * 4) / 4;
    ax->ly1 = ceil(log10(y1) * 4) / 4;
    if (ax->ly1 <= ax->ly0) /* all losses equal: one decade around them */
        ax->ly1 = ax->ly0 + 1;
    fit_x(ax, x1);
    fit_y(ax);
    return 0;
}

/* ---- drawing --------------------------------------------------------------------------- */

static const double W = 720, H = 440, L = 70, R = 20, T = 40, B = 55;
static const char *colours[CLI_PLOT_MAX_FILES] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

/* Pixel coordinates stay finite: a moving sum that cancelled to 0 or below (huge
 * losses, then tiny ones) must not print "inf" or "nan" into the SVG. */
static double clamp_px(double v)
{
    return v >= -1e4 && v <= 1e4 ? v : v > 1e4 ? 1e4 : -1e4;
}

static double px(const cli_plot_axes *ax, double x)
{
    return clamp_px(L + (x - ax->x0) / (ax->x1 - ax->x0) * (W - L - R));
}

static double py(const cli_plot_axes *ax, double y)
{
    return clamp_px(T + (ax->ly1 - log10(y)) / (ax->ly1 - ax->ly0) * (H - T - B));
}

/* Text from the command line or a file name, escaped so the SVG stays well-formed. */
static void put_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '&' || c == '<' || c == '>' || c == '"')
            fputs(c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : "&quot;", f);
        else
            fputc(c < 0x20 ? '?' : c, f);
    }
}

static void draw_frame(FILE *f, const cli_plot *p, const cli_plot_axes *ax)
{
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
            "fill=\"white\"/>\n",
            W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">", W / 2);
    put_text(f, p->title);
    fputs("</text>\n", f);
    for (int i = 0; i < ax->nx; i++) {
        double x = px(ax, ax->xt[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n", x,
                T, x, H - B);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%g</text>\n", x, H - B + 16,
                ax->xt[i]);
    }
    for (int i = 0; i < ax->ny; i++) {
        double y = py(ax, ax->yt[i]);
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L,
                y, W - R, y);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L - 6, y + 4,
                ax->yt[i]);
    }
    fprintf(f,
            "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
            "stroke=\"black\"/>\n",
            L, T, W - L - R, H - T - B);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">optimizer step</text>\n",
            (L + W - R) / 2, H - 12);
    fprintf(
        f,
        "<text transform=\"translate(18 %.0f) rotate(-90)\" text-anchor=\"middle\">loss (MSE of "
        "the velocity, log scale)</text>\n",
        (T + H - B) / 2);
}

/* Raw curve (light), trailing moving average over p->smooth rows, legend line. */
static void draw_log(FILE *f, const cli_plot *p, const cli_plot_axes *ax, int k)
{
    const cli_plot_log *s = &p->logs[k];
    const int smooth = p->smooth;
    fprintf(f,
            "<polyline fill=\"none\" stroke=\"%s\" stroke-opacity=\"0.25\" stroke-width=\"0.8\" "
            "points=\"",
            colours[k]);
    for (int i = 0; i < s->n; i++)
        fprintf(f, "%.1f,%.1f ", px(ax, s->step[i]), py(ax, s->loss[i]));
    fprintf(f, "\"/>\n");
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colours[k]);
    double acc = 0;
    for (int i = 0; i < s->n; i++) {
        acc += s->loss[i];
        if (i >= smooth)
            acc -= s->loss[i - smooth];
        int w = i + 1 < smooth ? i + 1 : smooth;
        if (i + 1 >= smooth || s->n < smooth)
            fprintf(f, "%.1f,%.1f ", px(ax, s->step[i]), py(ax, acc / w));
    }
    fprintf(f, "\"/>\n");
    const char *name = strrchr(s->name, '/') ? strrchr(s->name, '/') + 1 : s->name;
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" fill=\"%s\">", W - R - 8,
            T + 18 + 16.0 * k, colours[k]);
    put_text(f, name);
    fprintf(f, " (mean of %d steps)</text>\n", smooth);
}

static void draw(FILE *f, const cli_plot *p, const cli_plot_axes *ax)
{
    draw_frame(f, p, ax);
    for (int k = 0; k < p->nlogs; k++)
        draw_log(f, p, ax, k);
    for (int r = 0; r < p->nref; r++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"black\"/>\n", px(ax, p->refx[r]),
                py(ax, p->refy[r]));
    if (p->nref)
        fprintf(
            f,
            "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">&#9679; reference, per epoch</text>\n",
            W - R - 8, T + 18 + 16.0 * p->nlogs);
    fprintf(f, "</svg>\n");
}

int cli_plot_svg(const cli_plot *p, char **svg, size_t *len)
{
    *svg = NULL;
    *len = 0;
    cli_plot_axes ax;
    if (p->smooth < 1 || !p->title)
        return cli_error("needs a title and --smooth >= 1");
    if (cli_plot_fit(p, &ax))
        return 1;
    FILE *f = open_memstream(svg, len);
    if (!f)
        return cli_error("out of memory");
    draw(f, p, &ax);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(*svg);
        *svg = NULL;
        return cli_error("out of memory");
    }
    return 0;
}

/* ---- the command ----------------------------------------------------------------------- */

typedef struct plot_args {
    const char *paths[CLI_PLOT_MAX_FILES], *out, *ref;
    int nfiles;
    long long spe;
} plot_args;

static int usage(void)
{
    printf("usage: fmrt plot LOSS.CSV [MORE.CSV ...] --out FILE.svg [--smooth N] [--title T]\n"
           "                 [--ref EPOCH:LOSS,...] [--steps-per-epoch N]\n\n"
           "Draws the loss curves of trainer CSV logs (fmrt train --log) as an SVG with\n"
           "axes, ticks and labels; --ref adds reference points per epoch (placed at\n"
           "epoch x --steps-per-epoch). Sampling trajectories: fmrt sample --traj.\n"
           "Steps must be in 0..2^53 and losses in (0, 1e100]; rows with a NaN or inf\n"
           "loss are skipped and counted on stderr. --out is replaced atomically: on a\n"
           "failed write the old file stays as it was. It must end in .svg (any case) or\n"
           "have no extension.\n");
    return CLI_HELP;
}

static int parse_args(int argc, char **argv, cli_plot *p, plot_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        long long v;
        if (strcmp(s, "--help") == 0)
            return usage();
        else if (s[0] != '-') {
            if (a->nfiles == CLI_PLOT_MAX_FILES)
                return cli_usage_error("plot", "at most %d CSV files", CLI_PLOT_MAX_FILES);
            a->paths[a->nfiles++] = s;
        } else if (i + 1 >= argc)
            return cli_usage_error("plot", "%s needs a value", s);
        else if (strcmp(s, "--out") == 0)
            a->out = argv[++i];
        else if (strcmp(s, "--title") == 0)
            p->title = argv[++i];
        else if (strcmp(s, "--ref") == 0)
            a->ref = argv[++i];
        else if (strcmp(s, "--smooth") == 0) {
            if (cli_int(s, argv[++i], 1, 100000, &v))
                return 2;
            p->smooth = (int)v;
        } else if (strcmp(s, "--steps-per-epoch") == 0) {
            if (cli_int(s, argv[++i], 1, 100000000, &a->spe))
                return 2;
        } else
            return cli_usage_error("plot", "unknown option '%s'", s);
    }
    if (a->nfiles == 0 || !a->out)
        return cli_usage_error("plot", "needs at least one CSV file and --out FILE.svg");
    if (cli_check_ext("--out", a->out, ".svg", "plot writes SVG"))
        return 2;
    if (a->ref && !a->spe)
        return cli_usage_error("plot", "--ref needs --steps-per-epoch");
    return a->ref && cli_plot_ref(p, a->ref, a->spe) ? 2 : 0;
}

/* Read and parse one log; refuses files too large to be a trainer log. */
static int read_log(cli_plot *p, const char *path)
{
    struct stat si;
    if (stat(path, &si) != 0)
        return cli_error("cannot open %s: %s", path, strerror(errno));
    if (S_ISREG(si.st_mode) && (long long)si.st_size > MAX_BYTES)
        return cli_error("%s is larger than %lld MiB, not a trainer log", path,
                         MAX_BYTES >> 20);
    unsigned char *text;
    size_t len;
    if (cli_read_file(path, &text, &len))
        return 1;
    int rc = cli_plot_parse(p, path, (const char *)text, len);
    free(text);
    const cli_plot_log *lg = &p->logs[p->nlogs - 1];
    /* A note, not an error: cli_error for the prefix and the escaping of the name. */
    if (rc == 0 && lg->skipped)
        cli_error("%s: skipped %lld rows with a non-finite loss", path, lg->skipped);
    return rc;
}

static int write_svg(const cli_plot *p, const char *out)
{
    char *svg;
    size_t len;
    if (cli_plot_svg(p, &svg, &len))
        return 1;
    const void *chunk = svg;
    char err[512];
    fm_status st = fm_file_write_atomic(out, &chunk, &len, 1, err, sizeof err);
    free(svg);
    return st == FM_OK ? 0 : cli_error("%s", err);
}

int cmd_plot(int argc, char **argv)
{
    cli_plot p = {.smooth = 50, .title = "training loss"};
    plot_args a = {0};
    int rc = parse_args(argc, argv, &p, &a);
    if (rc)
        return rc == CLI_HELP ? 0 : rc;
    /* --out checked before reading: a bad name, or one of the logs it would destroy. */
    cli_files outs = {0}, ins = {0};
    cli_files_add(&outs, "--out", a.out);
    for (int k = 0; k < a.nfiles; k++)
        cli_files_add(&ins, a.paths[k], a.paths[k]);
    if (cli_check_outputs(&outs, &ins))
        return 1;
    signal(SIGXFSZ, SIG_IGN); /* an over-long file shows up as EFBIG, not a kill */
    rc = 1;
    for (int k = 0; k < a.nfiles; k++)
        if (read_log(&p, a.paths[k]))
            goto done;
    if (write_svg(&p, a.out))
        goto done;
    printf("wrote %s (%d curve%s)\n", a.out, a.nfiles, a.nfiles > 1 ? "s" : "");
    rc = 0;
done:
    cli_plot_free(&p);
    return rc;
}
