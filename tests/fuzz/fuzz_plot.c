/* libFuzzer harness: fmrt plot's log reader, --ref reader, axes and drawing.
 *
 * The input up to its first NUL byte is a trainer CSV log (cli_plot_parse, as
 * given: no NUL at its end, so ASan sees a read past it); the rest, if any, is a
 * --ref value (cli_plot_ref). The smoothing window and steps-per-epoch come from
 * the input's size. On success every value kept must be in the documented
 * ranges; then cli_plot_fit must give finite, bounded axes and cli_plot_svg a
 * finished SVG with no "nan" or "inf" in it, whatever the numbers were: a loop on
 * an unbounded float shows up as a libFuzzer timeout. */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_plot.h"
#include "fuzz.h"

#define MAX_STEP 9007199254740992.0

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cli_quiet = 1;
    return 0;
}

static void check_log(const cli_plot_log *lg)
{
    CHECK(lg->n >= 1 && lg->skipped >= 0);
    for (int i = 0; i < lg->n; i++) {
        CHECK(lg->step[i] >= 0 && lg->step[i] <= MAX_STEP);
        CHECK(lg->loss[i] > 0 && lg->loss[i] <= 1e100);
    }
}

static void check_axes(const cli_plot_axes *ax)
{
    CHECK(isfinite(ax->x0) && isfinite(ax->x1) && ax->x1 > ax->x0);
    CHECK(isfinite(ax->ly0) && isfinite(ax->ly1) && ax->ly1 > ax->ly0);
    CHECK(ax->nx >= 2 && ax->nx <= CLI_PLOT_MAX_TICKS);
    CHECK(ax->ny >= 0 && ax->ny <= CLI_PLOT_MAX_TICKS);
    for (int i = 0; i < ax->nx; i++)
        CHECK(isfinite(ax->xt[i]) && (i == 0 || ax->xt[i] > ax->xt[i - 1]));
    for (int i = 0; i < ax->ny; i++)
        CHECK(isfinite(ax->yt[i]) && ax->yt[i] > 0 && (i == 0 || ax->yt[i] > ax->yt[i - 1]));
}

static void draw(const cli_plot *p)
{
    cli_plot_axes ax;
    CHECK(cli_plot_fit(p, &ax) == 0);
    check_axes(&ax);
    char *svg;
    size_t len;
    CHECK(cli_plot_svg(p, &svg, &len) == 0);
    CHECK(len > 0 && memmem(svg, len, "</svg>\n", 7) == svg + len - 7);
    CHECK(!memmem(svg, len, "nan", 3) && !memmem(svg, len, "inf", 3));
    free(svg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t tlen = nul ? (size_t)(nul - data) : size;
    char *text = malloc(tlen ? tlen : 1), *ref = NULL;
    if (!text)
        return 0;
    memcpy(text, data, tlen);
    cli_plot p = {.smooth = 1 + (int)(size % 97), .title = "t"};
    int rc = cli_plot_parse(&p, "log.csv", text, tlen);
    CHECK(rc == 0 || rc == 1);
    CHECK(p.nlogs == 1);
    if (rc == 0)
        check_log(&p.logs[0]);
    if (nul) {
        size_t rlen = size - tlen - 1;
        ref = malloc(rlen + 1);
        if (ref) {
            memcpy(ref, nul + 1, rlen);
            ref[rlen] = 0;
            int rr = cli_plot_ref(&p, ref, 1 + (long long)(size % 1000) * 100000);
            CHECK((rr == 0 || rr == 1) && p.nref >= 0 && p.nref <= CLI_PLOT_MAX_REF);
            for (int r = 0; r < p.nref; r++)
                CHECK(p.refx[r] >= 0 && p.refx[r] <= MAX_STEP && p.refy[r] > 0 &&
                      p.refy[r] <= 1e100);
        }
    }
    if (rc == 0)
        draw(&p);
    cli_plot_free(&p);
    CHECK(p.nlogs == 0);
    free(text);
    free(ref);
    return 0;
}
