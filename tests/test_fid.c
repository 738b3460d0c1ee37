/* fmrt eval's Frechet distance (tools/fmrt/fid.c) against closed forms:
 *   equal sets: 0;
 *   commuting covariances S_a = Q diag(a) Q^T, S_b = Q diag(b) Q^T (one rotation Q):
 *     FID = |mu_a - mu_b|^2 + sum_k (sqrt(a_k) - sqrt(b_k))^2;
 *   and the statistics of a small set against a hand computation, and a file round
 *   trip. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fid.h"

#define D 6

/* Q: a product of Givens rotations, orthogonal. */
static void rotation(double *q)
{
    for (int i = 0; i < D * D; i++)
        q[i] = i % (D + 1) == 0;
    for (int p = 0; p + 1 < D; p++) {
        double c = cos(0.3 + p), s = sin(0.3 + p);
        for (int r = 0; r < D; r++) {
            double x = q[r * D + p], y = q[r * D + p + 1];
            q[r * D + p] = c * x - s * y;
            q[r * D + p + 1] = s * x + c * y;
        }
    }
}

/* s = Q diag(ev) Q^T, with mean mu. */
static void gaussian(cli_stats *s, const double *q, const double *ev, const double *mu)
{
    s->dim = D;
    s->n = 100;
    s->mean = calloc(D, sizeof(double));
    s->cov = calloc(D * D, sizeof(double));
    for (int i = 0; i < D; i++) {
        s->mean[i] = mu[i];
        for (int j = 0; j < D; j++)
            for (int k = 0; k < D; k++)
                s->cov[i * D + j] += q[i * D + k] * ev[k] * q[j * D + k];
    }
}

Test(fid, closed_form_for_commuting_covariances)
{
    if (!cli_fid_available())
        cr_skip_test("this build has no LAPACK");
    double q[D * D], a[D] = {4, 1, 0.25, 9, 2, 0}, b[D] = {1, 1, 1, 16, 0.5, 3};
    double ma[D] = {0, 1, 2, 3, 4, 5}, mb[D] = {0.5, 1, 2, 2, 4, 5};
    rotation(q);
    cli_stats sa, sb;
    gaussian(&sa, q, a, ma);
    gaussian(&sb, q, b, mb);
    /* a has a zero eigenvalue: round-off of size eps |S| in it becomes sqrt(eps |S|) ~ 1e-7
     * in the trace of the square root, hence 1e-6 rather than 1e-12 relative. */
    double want = 0.25 + 1, fid = -1, self = -1;
    for (int k = 0; k < D; k++)
        want += (sqrt(a[k]) - sqrt(b[k])) * (sqrt(a[k]) - sqrt(b[k]));
    cr_assert_eq(cli_fid(&sa, &sb, &fid), 0);
    cr_expect(fabs(fid - want) < 1e-6 * want, "fid %.12g, want %.12g", fid, want);
    cr_assert_eq(cli_fid(&sb, &sa, &fid), 0);
    cr_expect(fabs(fid - want) < 1e-6 * want, "symmetric: %.12g, want %.12g", fid, want);
    cr_assert_eq(cli_fid(&sa, &sa, &self), 0);
    cr_expect(self >= 0 && self < 1e-6, "a set against itself: %g", self);
    cli_stats_free(&sa);
    cli_stats_free(&sb);
}

Test(fid, statistics_and_file_round_trip)
{
    /* 4 vectors of dim 2: mean (1.5, 0), unbiased covariance by hand. */
    const float f[8] = {0, 1, 1, -1, 2, 1, 3, -1};
    cli_stats s, r;
    cr_assert_eq(cli_stats_compute(&s, f, 4, 2, 0xabcdu), 0);
    cr_expect_float_eq(s.mean[0], 1.5, 1e-15);
    cr_expect_float_eq(s.mean[1], 0.0, 1e-15);
    cr_expect_float_eq(s.cov[0], 5.0 / 3.0, 1e-15); /* (2.25 + .25 + .25 + 2.25) / 3 */
    cr_expect_float_eq(s.cov[3], 4.0 / 3.0, 1e-15);
    cr_expect_float_eq(s.cov[1], -2.0 / 3.0, 1e-15); /* (-1.5 + .5 + .5 - 1.5) / 3 */
    cr_expect_eq(s.cov[1], s.cov[2]);
    char path[] = "/tmp/fmrt_fid_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(cli_stats_save(&s, path), 0);
    cr_assert_eq(cli_stats_load(&r, path), 0);
    cr_expect_eq(r.n, 4);
    cr_expect_eq(r.cls_crc, 0xabcdu);
    cr_expect_eq(memcmp(r.cov, s.cov, 4 * sizeof(double)), 0);
    cr_expect_eq(memcmp(r.mean, s.mean, 2 * sizeof(double)), 0);
    unlink(path);
    cli_stats_free(&s);
    cli_stats_free(&r);
}
