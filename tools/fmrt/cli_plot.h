/* fmrt plot without its files (plot.c; tests/fuzz/fuzz_plot.c runs these on any input).
 * cli_plot_parse adds one trainer CSV log (step,epoch,loss,...; text[0..len), no NUL
 * needed) as p->logs[p->nlogs], named `name` in messages and the legend. A row whose
 * step is not in 0..2^53, whose epoch is not finite and >= 0 or whose loss is not in
 * (0, 1e100] is refused with one message (see cli_quiet); a NaN/inf loss is skipped and
 * counted. cli_plot_ref adds --ref EPOCH:LOSS pairs the same way. cli_plot_fit picks
 * the axes: finite spans > 0 and at most CLI_PLOT_MAX_TICKS ticks per axis, whatever
 * was read. cli_plot_svg draws the SVG into malloc'd memory. Each returns 0 or 1. */
#ifndef FMRT_CLI_PLOT_H
#define FMRT_CLI_PLOT_H

#include <stddef.h>

#define CLI_PLOT_MAX_FILES 4
#define CLI_PLOT_MAX_REF 64
#define CLI_PLOT_MAX_TICKS 32
typedef struct cli_plot_log {
    const char *name;
    double *step, *loss; /* n rows, malloc'd (cli_plot_free) */
    int n;
    long long skipped; /* rows with a non-finite loss */
} cli_plot_log;
typedef struct cli_plot {
    cli_plot_log logs[CLI_PLOT_MAX_FILES];
    int nlogs, nref, smooth; /* smooth: moving-average window, >= 1 */
    double refx[CLI_PLOT_MAX_REF], refy[CLI_PLOT_MAX_REF];
    const char *title;
} cli_plot;
typedef struct cli_plot_axes {
    double x0, x1, ly0, ly1; /* x range; log10 of the y range */
    double xt[CLI_PLOT_MAX_TICKS], yt[CLI_PLOT_MAX_TICKS];
    int nx, ny;
} cli_plot_axes;
int cli_plot_parse(cli_plot *p, const char *name, const char *text, size_t len);
int cli_plot_ref(cli_plot *p, const char *spec, long long steps_per_epoch);
int cli_plot_fit(const cli_plot *p, cli_plot_axes *ax);
int cli_plot_svg(const cli_plot *p, char **svg, size_t *len);
void cli_plot_free(cli_plot *p);

#endif
