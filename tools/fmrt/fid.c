/* Feature statistics, the Frechet distance through LAPACK, statistics files. */
#include "fid.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crc32.h"
#include "io.h"

#define HEAD_V1 24 /* magic 8, dim 4, classifier CRC 4, n 8 */
#define HEAD 32    /* FMRTFID2: + info bytes 4, zero 4 */

void cli_stats_free(cli_stats *s)
{
    free(s->mean);
    free(s->cov);
    s->mean = s->cov = NULL;
}

static int stats_alloc(cli_stats *s, int dim)
{
    s->dim = dim;
    s->mean = calloc((size_t)dim, sizeof(double));
    s->cov = calloc((size_t)dim * (size_t)dim, sizeof(double));
    if (!s->mean || !s->cov) {
        cli_stats_free(s);
        return cli_error("cannot allocate feature statistics of dimension %d", dim);
    }
    return 0;
}

/* Two passes (mean, then the centred products), so no large mean cancels. */
int cli_stats_compute(cli_stats *s, const float *feat, int64_t n, int dim, uint32_t cls_crc)
{
    if (n < 2)
        return cli_error("feature statistics need at least 2 images, not %lld", (long long)n);
    if (stats_alloc(s, dim))
        return 1;
    s->n = n;
    s->cls_crc = cls_crc;
    s->info[0] = 0;
    double *c = malloc(sizeof(double) * (size_t)dim);
    if (!c) {
        cli_stats_free(s);
        return cli_error("cannot allocate feature statistics of dimension %d", dim);
    }
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < dim; k++)
            s->mean[k] += feat[i * dim + k];
    for (int k = 0; k < dim; k++)
        s->mean[k] /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < dim; k++)
            c[k] = feat[i * dim + k] - s->mean[k];
        for (int r = 0; r < dim; r++)
            for (int k = 0; k <= r; k++)
                s->cov[r * dim + k] += c[r] * c[k];
    }
    for (int r = 0; r < dim; r++)
        for (int k = 0; k <= r; k++)
            s->cov[k * dim + r] = s->cov[r * dim + k] /= (double)(n - 1);
    free(c);
    return 0;
}

/* ---- the Frechet distance ----------------------------------------------------------- */

#ifdef FMRT_HAVE_LAPACK
/* LAPACK's symmetric eigensolver (divide and conquer), Fortran calling convention;
 * the trailing lengths are gfortran's hidden CHARACTER arguments. */
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                    double *w, double *work, const int *lwork, int *iwork, const int *liwork,
                    int *info, size_t jobz_len, size_t uplo_len);

/* Eigenvalues w (ascending) and, with vectors, eigenvectors in the columns of a
 * (column-major: a symmetric row-major matrix reads the same). a is overwritten. */
static int eigh(double *a, double *w, int n, int vectors)
{
    int lwork = 1 + 6 * n + 2 * n * n, liwork = 3 + 5 * n, info = 0;
    double *work = malloc(sizeof(double) * (size_t)lwork);
    int *iwork = malloc(sizeof(int) * (size_t)liwork);
    if (!work || !iwork) {
        free(work);
        free(iwork);
        return cli_error("cannot allocate the eigensolver's workspace (n = %d)", n);
    }
    dsyevd_(vectors ? "V" : "N", "L", &n, a, &n, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work);
    free(iwork);
    if (info != 0)
        return cli_error("LAPACK dsyevd failed (info %d): the covariance is not a finite "
                         "symmetric matrix",
                         info);
    return 0;
}

/* The eigenvalues (*w, ascending) of the symmetric s (n x n), and in *v its copy
 * overwritten by the eigenvectors when `vectors`; both malloc'd (freed by the caller
 * also on failure). 0 or 1 (printed). */
static int eig_copy(const double *s, int n, int vectors, double **v, double **w)
{
    size_t nn = (size_t)n * (size_t)n;
    *v = malloc(sizeof(double) * nn);
    *w = malloc(sizeof(double) * (size_t)n);
    if (!*v || !*w)
        return cli_error("cannot allocate a %d x %d matrix", n, n);
    memcpy(*v, s, sizeof(double) * nn);
    return eigh(*v, *w, n, vectors);
}

/* R = V diag(sqrt(max(lambda, 0))) V^T of the symmetric PSD s (n x n) into r. */
static int sqrt_psd(const double *s, double *r, int n)
{
    double *v, *w;
    int rc = eig_copy(s, n, 1, &v, &w);
    if (rc == 0) {
        /* column k of V is v[k * n .. k * n + n) */
        for (int k = 0; k < n; k++)
            w[k] = w[k] > 0 ? sqrt(w[k]) : 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int k = 0; k < n; k++)
                    acc += v[k * n + i] * w[k] * v[k * n + j];
                r[i * n + j] = acc;
            }
    }
    free(v);
    free(w);
    return rc;
}

/* c = a b for n x n row-major matrices. */
static void matmul(double *c, const double *a, const double *b, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int k = 0; k < n; k++)
                acc += a[i * n + k] * b[k * n + j];
            c[i * n + j] = acc;
        }
}

/* tr((S_a S_b)^(1/2)) = sum sqrt(eig(R S_b R)), R = S_a^(1/2). */
static int trace_sqrt_product(const double *sa, const double *sb, int n, double *tr)
{
    size_t nn = (size_t)n * (size_t)n;
    /* calloc: zeroed, so no path reads an unset element (and gcc -O2 can see it) */
    double *r = calloc(nn, sizeof(double)), *t = calloc(nn, sizeof(double));
    double *m = calloc(nn, sizeof(double)), *w = calloc((size_t)n, sizeof(double));
    int rc = !r || !t || !m || !w ? cli_error("cannot allocate %d x %d matrices", n, n) : 0;
    if (rc == 0)
        rc = sqrt_psd(sa, r, n);
    if (rc == 0) {
        matmul(t, r, sb, n);
        matmul(m, t, r, n);
        /* symmetric up to round-off: make it exactly so for the solver */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++)
                m[i * n + j] = m[j * n + i] = 0.5 * (m[i * n + j] + m[j * n + i]);
        rc = eigh(m, w, n, 0);
    }
    *tr = 0;
    for (int k = 0; rc == 0 && k < n; k++)
        *tr += w[k] > 0 ? sqrt(w[k]) : 0;
    free(r);
    free(t);
    free(m);
    free(w);
    return rc;
}

int cli_fid_available(void) { return 1; }

/* PSD within round-off: lambda_min >= -CLI_STATS_TOL lambda_max (the eigenvalues of
 * a covariance are >= 0; a sum of n products in double, then dsyevd, errs by about
 * (n + D) eps |S| ~ 1e-12 |S|, far inside the tolerance). *lmin, *lmax set. */
static int psd_check(const double *c, int n, double *lmin, double *lmax)
{
    double *a, *w;
    int rc = eig_copy(c, n, 0, &a, &w);
    if (rc == 0) {
        *lmin = w[0]; /* ascending */
        *lmax = w[n - 1];
        rc = *lmin < -CLI_STATS_TOL * (*lmax > 0 ? *lmax : 0) ? -1 : 0;
    }
    free(a);
    free(w);
    return rc;
}

int cli_fid(const cli_stats *a, const cli_stats *b, double *fid)
{
    if (a->dim != b->dim)
        return cli_error("feature statistics of dimension %d and %d cannot be compared", a->dim,
                         b->dim);
    int n = a->dim;
    double d2 = 0, tra = 0, trb = 0, trs;
    for (int k = 0; k < n; k++) {
        double d = a->mean[k] - b->mean[k];
        d2 += d * d;
        tra += a->cov[k * n + k];
        trb += b->cov[k * n + k];
    }
    if (trace_sqrt_product(a->cov, b->cov, n, &trs))
        return 1;
    *fid = d2 + tra + trb - 2 * trs;
    /* Two equal sets give 0 up to round-off of the terms' size; anything further below
     * zero, or not finite, means the inputs were no covariances (the loader checks
     * them, so this guards computed statistics too). */
    const double scale = d2 + tra + trb;
    if (!isfinite(*fid) || *fid < -1e-6 * scale)
        return cli_error("the Frechet distance came out %g (|mu_a - mu_b|^2 %g, tr S_a %g, "
                         "tr S_b %g): the statistics are not valid covariances",
                         *fid, d2, tra, trb);
    if (*fid < 0)
        *fid = 0;
    return 0;
}
#else
int cli_fid_available(void) { return 0; }

/* Without LAPACK no FID is computed, so no eigenvalues are needed either. */
static int psd_check(const double *c, int n, double *lmin, double *lmax)
{
    (void)c;
    (void)n;
    *lmin = *lmax = 0;
    return 0;
}

int cli_fid(const cli_stats *a, const cli_stats *b, double *fid)
{
    (void)a;
    (void)b;
    *fid = NAN;
    return cli_error("FID needs LAPACK, and this build has none (install libopenblas-dev and "
                     "rebuild)");
}
#endif

/* ---- files ------------------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int cli_stats_save(const cli_stats *s, const char *path)
{
    uint8_t head[HEAD], tail[4];
    uint64_t n = (uint64_t)s->n;
    size_t nm = sizeof(double) * (size_t)s->dim, nc = nm * (size_t)s->dim;
    const char *end = memchr(s->info, 0, sizeof s->info);
    size_t ni = end ? (size_t)(end - s->info) : sizeof s->info - 1;
    memcpy(head, CLI_STATS_MAGIC, 8);
    put32(head + 8, (uint32_t)s->dim);
    put32(head + 12, s->cls_crc);
    put32(head + 16, (uint32_t)n);
    put32(head + 20, (uint32_t)(n >> 32));
    put32(head + 24, (uint32_t)ni);
    put32(head + 28, 0);
    uint32_t crc = fm_crc32(0, head, HEAD);
    crc = fm_crc32(fm_crc32(fm_crc32(crc, s->info, ni), s->mean, nm), s->cov, nc);
    put32(tail, crc);
    const void *chunks[5] = {head, s->info, s->mean, s->cov, tail};
    size_t sizes[5] = {HEAD, ni, nm, nc, 4};
    char err[768];
    if (fm_file_write_atomic(path, chunks, sizes, 5, err, sizeof err) != FM_OK)
        return cli_error("%s", err);
    return 0;
}

int cli_is_stats_magic(const unsigned char *p, size_t len)
{
    return len >= 8 &&
           (memcmp(p, CLI_STATS_MAGIC, 8) == 0 || memcmp(p, CLI_STATS_MAGIC_V1, 8) == 0);
}

int cli_is_stats_file(const char *path)
{
    return cli_file_has_magic(path, CLI_STATS_MAGIC, 8) ||
           cli_file_has_magic(path, CLI_STATS_MAGIC_V1, 8);
}

int cli_stats_info(const cli_stats *s, const char *key, char *buf, size_t len)
{
    const size_t kl = strlen(key);
    for (const char *at = s->info; *at;) {
        const char *nl = strchr(at, '\n'), *end = nl ? nl : at + strlen(at);
        if ((size_t)(end - at) > kl && memcmp(at, key, kl) == 0 && at[kl] == '=' &&
            (size_t)(end - at) - kl - 1 < len) {
            snprintf(buf, len, "%.*s", (int)((size_t)(end - at) - kl - 1), at + kl + 1);
            return 1;
        }
        at = nl ? nl + 1 : end;
    }
    return 0;
}

/* The record of an FMRTFID2 file (p[0..len) holds at least its header): its length
 * in range and within the file, no control character but '\n' (as text.* of a
 * weights file: UTF-8 paths pass); into s->info. *head:
 * where the numbers start. */
static int parse_info(const uint8_t *p, size_t len, const char *path, cli_stats *s, size_t *head)
{
    const uint32_t ni = get32(p + 24);
    if (ni >= CLI_STATS_INFO || get32(p + 28) != 0 || (size_t)ni > len - HEAD - 4)
        return cli_error("%s: bad header: a record of %u bytes (expected < %d) or a reserved "
                         "field not 0",
                         path, ni, CLI_STATS_INFO);
    for (uint32_t k = 0; k < ni; k++)
        if ((p[HEAD + k] < 0x20 && p[HEAD + k] != '\n') || p[HEAD + k] == 0x7f)
            return cli_error("%s: the record's byte %u is a control character", path, k);
    memcpy(s->info, p + HEAD, ni);
    s->info[ni] = 0;
    *head = HEAD + ni;
    return 0;
}

/* The header of a file of len bytes: dim and n (and an FMRTFID2 file's record),
 * checked against len; *head: where the mean starts. */
static int parse_head(const uint8_t *p, size_t len, const char *path, cli_stats *s, size_t *head)
{
    const int v2 = len >= HEAD + 4 && memcmp(p, CLI_STATS_MAGIC, 8) == 0;
    if (!v2 && (len < HEAD_V1 + 4 || memcmp(p, CLI_STATS_MAGIC_V1, 8) != 0))
        return cli_error("%s: not a feature statistics file (magic %s)", path, CLI_STATS_MAGIC);
    uint32_t dim = get32(p + 8);
    uint64_t n = get32(p + 16) | (uint64_t)get32(p + 20) << 32;
    s->info[0] = 0;
    *head = HEAD_V1;
    if (v2 && parse_info(p, len, path, s, head))
        return 1;
    if (dim < 1 || dim > 4096)
        return cli_error("%s: bad header: dimension %u, expected 1..4096", path, dim);
    if (n < 2 || n > CLI_STATS_MAX_N)
        return cli_error("%s: bad header: %llu images summarised, expected 2..2^40 (a covariance "
                         "needs 2)",
                         path, (unsigned long long)n);
    size_t want = *head + sizeof(double) * ((size_t)dim + (size_t)dim * dim) + 4;
    if (len != want)
        return cli_error("%s: %zu bytes, a file of dimension %u has %zu", path, len, dim, want);
    if (fm_crc32(0, p, len - 4) != get32(p + len - 4))
        return cli_error("%s: CRC mismatch: the file is damaged", path);
    s->n = (int64_t)n;
    s->cls_crc = get32(p + 12);
    return stats_alloc(s, (int)dim);
}

/* The mean: finite, |mu_k| <= CLI_STATS_MAX_MEAN. */
static int check_mean(const cli_stats *s, const char *path)
{
    for (int k = 0; k < s->dim; k++)
        if (!isfinite(s->mean[k]) || fabs(s->mean[k]) > CLI_STATS_MAX_MEAN)
            return cli_error("%s: mean[%d] = %g is %s", path, k, s->mean[k],
                             isfinite(s->mean[k]) ? "outside +-1e6 (classifier features are "
                                                    "SiLU outputs of order 10)"
                                                  : "not finite");
    return 0;
}

/* The covariance: finite, |c_ij| <= CLI_STATS_MAX_MEAN^2, variances >= 0, symmetric
 * (|c_ij - c_ji| <= tol * scale, scale = the largest variance), PSD within tol. */
static int check_cov(const cli_stats *s, const char *path)
{
    const int d = s->dim;
    const double *c = s->cov, cmax = CLI_STATS_MAX_MEAN * CLI_STATS_MAX_MEAN;
    double scale = 0, lmin = 0, lmax = 0;
    for (int i = 0; i < d * d; i++)
        if (!isfinite(c[i]) || fabs(c[i]) > cmax)
            return cli_error("%s: covariance[%d][%d] = %g is %s", path, i / d, i % d, c[i],
                             isfinite(c[i]) ? "outside +-1e12 (the square of the features' "
                                              "bound, 1e6)"
                                            : "not finite");
    for (int k = 0; k < d; k++) {
        if (c[k * d + k] < 0)
            return cli_error("%s: variance covariance[%d][%d] = %g is negative", path, k, k,
                             c[k * d + k]);
        scale = fmax(scale, c[k * d + k]);
    }
    for (int i = 0; i < d; i++)
        for (int j = 0; j < i; j++)
            if (fabs(c[i * d + j] - c[j * d + i]) > CLI_STATS_TOL * scale)
                return cli_error("%s: covariance not symmetric: [%d][%d] = %.17g, [%d][%d] = "
                                 "%.17g",
                                 path, i, j, c[i * d + j], j, i, c[j * d + i]);
    int rc = psd_check(c, d, &lmin, &lmax);
    if (rc < 0)
        return cli_error("%s: covariance not positive semi-definite: smallest eigenvalue %g, "
                         "largest %g",
                         path, lmin, lmax);
    return rc;
}

int cli_stats_load_dim(cli_stats *s, const char *path, int dim)
{
    unsigned char *data = NULL;
    size_t len = 0;
    if (cli_read_file(path, &data, &len))
        return 1;
    size_t head = 0;
    int rc = parse_head(data, len, path, s, &head);
    if (rc == 0 && dim > 0 && s->dim != dim)
        rc = cli_error("%s: features of dimension %d, fmrt's classifier has %d: not statistics "
                       "of this classifier",
                       path, s->dim, dim);
    if (rc == 0) {
        size_t nm = sizeof(double) * (size_t)s->dim, nc = nm * (size_t)s->dim;
        memcpy(s->mean, data + head, nm);
        memcpy(s->cov, data + head + nm, nc);
        rc = check_mean(s, path);
        if (rc == 0)
            rc = check_cov(s, path);
    }
    if (rc)
        cli_stats_free(s);
    free(data);
    return rc;
}

int cli_stats_load(cli_stats *s, const char *path) { return cli_stats_load_dim(s, path, 0); }
