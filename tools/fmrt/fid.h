/* Feature statistics and the Frechet distance of fmrt eval.
 *
 * A set of n feature vectors f_i (dim D, the classifier's penultimate layer) is
 * summarised by its mean mu and covariance S = 1/(n-1) sum (f_i - mu)(f_i - mu)^T,
 * both in double. The Frechet distance between two Gaussians (Dowson & Landau 1982;
 * "FID" in Heusel et al. 2017 with Inception features) is
 *
 *   FID = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))
 *
 * S_a S_b is not symmetric, but it is similar to M = R S_b R with R = S_a^(1/2)
 * (R^-1 M R = S_a S_b), so tr((S_a S_b)^(1/2)) = sum_k sqrt(lambda_k(M)) for the
 * eigenvalues of the symmetric positive semi-definite M. Two symmetric eigen-
 * decompositions (LAPACK dsyevd from the BLAS package the cpu backend links) give
 * R and then the lambda_k; round-off below zero is clamped to 0. A distance below
 * -1e-6 (|mu_a - mu_b|^2 + tr S_a + tr S_b), or not finite, is an error: no
 * covariances give it.
 *
 * Tool code: it allocates (the library never does). */
#ifndef FMRT_FID_H
#define FMRT_FID_H

#include <stddef.h>
#include <stdint.h>

/* What a statistics file records beside the numbers (FMRTFID2): lines "key=value",
 * e.g. "classifier=cifar-cls.fmw\ndata=/abs/cifar\nsplit=test"; no control character
 * but '\n', at most CLI_STATS_INFO - 1 bytes. */
#define CLI_STATS_INFO 8192

typedef struct cli_stats {
    int dim;                   /* D */
    int64_t n;                 /* vectors summarised, >= 2 */
    uint32_t cls_crc;          /* CRC of the classifier file whose features these are */
    double *mean;              /* [D], malloc'd */
    double *cov;               /* [D, D], malloc'd, symmetric */
    char info[CLI_STATS_INFO]; /* the record (above), NUL-terminated; "" for none */
} cli_stats;

/* mean and covariance of feat[n, dim] (float, row-major); n >= 2. 0 or 1 (printed). */
int cli_stats_compute(cli_stats *s, const float *feat, int64_t n, int dim, uint32_t cls_crc);
void cli_stats_free(cli_stats *s);

/* 1 when this build has LAPACK (FID can be computed). */
int cli_fid_available(void);
/* The Frechet distance of a and b (same dim). 0 or 1 (printed). */
int cli_fid(const cli_stats *a, const cli_stats *b, double *fid);

/* Statistics files, little-endian, written crash-safely:
 *   "FMRTFID2", u32 dim, u32 classifier CRC, u64 n, u32 info bytes L, u32 0, the
 *   info (L bytes, no NUL), f64 mean[dim], f64 cov[dim*dim], u32 CRC-32 of everything
 *   before it;
 *   "FMRTFID1" (files before the record, e.g. the shipped mnist-test.fms): the same
 *   without L, the 0 and the info; read, never written.
 * A read checks the sizes and the CRC, then that the numbers are statistics of
 * classifier features, each refusal naming the value (and the info's bytes):
 *   dim 1..4096, n 2..CLI_STATS_MAX_N;
 *   every value finite, |mu_k| <= CLI_STATS_MAX_MEAN and |S_ij| <= its square (the
 *   features are SiLU outputs of a float32 layer, O(10) for a trained classifier:
 *   1e6 is far beyond them, and keeps |mu_a - mu_b|^2 and the traces in double far
 *   from overflow and from swamping the FID's other terms);
 *   S_ii >= 0; symmetric, |S_ij - S_ji| <= CLI_STATS_TOL max_k S_kk;
 *   positive semi-definite, lambda_min >= -CLI_STATS_TOL lambda_max (dsyevd; not
 *   checked in a build without LAPACK, which computes no FID).
 * cli_stats_load_dim also requires dim == dim (> 0; 0: any), naming both. */
#define CLI_STATS_MAGIC "FMRTFID2"
#define CLI_STATS_MAGIC_V1 "FMRTFID1"
#define CLI_STATS_MAX_N ((int64_t)1 << 40)
#define CLI_STATS_MAX_MEAN 1e6
#define CLI_STATS_TOL 1e-9
int cli_stats_save(const cli_stats *s, const char *path);
int cli_stats_load(cli_stats *s, const char *path);
int cli_stats_load_dim(cli_stats *s, const char *path, int dim);
/* 1 when the file at path, or the bytes p[0..len), start with either magic. */
int cli_is_stats_file(const char *path);
int cli_is_stats_magic(const unsigned char *p, size_t len);
/* The value of line "key=value" of s->info into buf (len bytes); 0 when absent. */
int cli_stats_info(const cli_stats *s, const char *key, char *buf, size_t len);

#endif
