/* libFuzzer harness: fmrt eval's statistics files (.fms, tools/fmrt/fid.h) and the
 * Frechet distance over what they hold.
 *
 * The input is written to a file and read by cli_stats_load (the reader works on
 * paths, as eval does). A file it accepts must hold what fid.h promises: dim in
 * 1..4096, n in 2..2^40, every value finite, |mu| <= CLI_STATS_MAX_MEAN, S
 * symmetric within CLI_STATS_TOL. Then the distance of the statistics to
 * themselves, where this build has LAPACK, is an answer (never an error: the
 * covariance passed the PSD check) that is finite and >= 0: a NaN or a negative
 * number reaching eval's output is a finding. */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "fid.h"
#include "fuzz.h"

static char g_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cli_quiet = 1;
    snprintf(g_path, sizeof g_path, "/tmp/fuzz_stats_XXXXXX");
    int fd = mkstemp(g_path);
    if (fd < 0)
        abort();
    close(fd);
    return 0;
}

static void check_stats(const cli_stats *s)
{
    const int D = s->dim;
    CHECK(D >= 1 && D <= 4096 && s->n >= 2 && s->n <= CLI_STATS_MAX_N);
    double vmax = 0;
    for (int i = 0; i < D; i++) {
        CHECK(isfinite(s->mean[i]) && fabs(s->mean[i]) <= CLI_STATS_MAX_MEAN);
        CHECK(s->cov[(size_t)i * D + i] >= 0);
        vmax = fmax(vmax, s->cov[(size_t)i * D + i]);
    }
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) {
            const double a = s->cov[(size_t)i * D + j], b = s->cov[(size_t)j * D + i];
            CHECK(isfinite(a) && fabs(a - b) <= CLI_STATS_TOL * vmax);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(g_path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    cli_stats s = {0};
    if (cli_stats_load(&s, g_path) != 0)
        return 0;
    check_stats(&s);
    double fid = -1;
    if (cli_fid_available()) {
        CHECK(cli_fid(&s, &s, &fid) == 0);
        CHECK(isfinite(fid) && fid >= 0);
    }
    cli_stats_free(&s);
    return 0;
}
