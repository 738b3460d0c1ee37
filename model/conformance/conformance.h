/* Conformance: a backend against the reference, op by op and for the whole model.
 *
 * One descriptor per (op, shape case) serves every caller (CLBlast's "one descriptor
 * per routine"): the Criterion suite (tests/test_conformance.c) and `fmrt conformance`
 * run the same table and print the same rows. Comparison follows ggml's
 * test-backend-ops: normalised error
 *
 *     NMSE = sum (x - r)^2 / sum r^2        (plain sum (x - r)^2 when sum r^2 == 0)
 *
 * with x the backend's result and r the reference's, accumulated in double; a NaN or
 * Inf in either result fails the row whatever its NMSE. An op the backend lacks
 * (NULL kernel, or FM_ERR_UNSUPPORTED from the call) gives an "unsupported" row:
 * whether that counts as a failure is the caller's decision.
 *
 * Memory: no allocation. Both backends must be open with room for the tensors (op
 * rows need well under 1 MiB; model rows the bytes fm_conformance_model_bytes gives);
 * `host` is a host arena for staging downloads (and the two fm_model descriptions of
 * the model rows). Everything taken from the three arenas is released before
 * returning. */
#ifndef FMRT_CONFORMANCE_H
#define FMRT_CONFORMANCE_H

#include <stddef.h>

#include "backend.h"

typedef enum fm_conf_status {
    FM_CONF_PASS = 0,
    FM_CONF_FAIL,        /* ran, but the error is above tolerance or not finite */
    FM_CONF_UNSUPPORTED, /* the backend has no kernel for an op this row needs */
    FM_CONF_ERROR,       /* a call failed on either backend (message in note) */
} fm_conf_status;

typedef struct fm_conf_row {
    char op[32];    /* "conv2d_bwd", "model_fwd", "train_grads", ... */
    char shape[64]; /* "3x3x7x7 K3 s2 p1", "tiny b2 cond" */
    double max_abs; /* largest |x - r| over the compared tensors */
    double nmse;    /* worst NMSE over the compared tensors */
    double tol;     /* NMSE tolerance of the row */
    int status;     /* fm_conf_status */
    char note[128]; /* worst tensor, or why it did not run (cut to fit) */
} fm_conf_row;

/* Totals over rows; the run functions add to them (zero it once before). */
typedef struct fm_conf_summary {
    int pass, fail, unsupported, error;
} fm_conf_summary;

typedef void (*fm_conf_report)(void *user, const fm_conf_row *row);

const char *fm_conf_status_name(int status); /* "pass", "FAIL", "unsupported", "ERROR" */

/* Does the op table have entries for `name`: an op name ("conv2d_bwd") or an op
 * family ("conv2d" = conv2d_fwd and conv2d_bwd)? */
int fm_conformance_has_op(const char *name);

/* Every descriptor (or those of `only_op`, as above; NULL = all): random inputs
 * uploaded identically to `ref` and `be`, the op run on both, every written or
 * updated tensor compared. One row per descriptor to `cb` (may be NULL). Returns
 * FM_OK when every row could be formed (failures are rows, not statuses);
 * FM_ERR_ARG for an unknown only_op, FM_ERR_ARENA when `host` is too small. */
fm_status fm_conformance_ops(fm_backend *ref, fm_backend *be, fm_arena *host, const char *only_op,
                             fm_conf_report cb, void *user, fm_conf_summary *sum);

/* Bytes the op rows need in each backend's arena and in the host arena. */
size_t fm_conformance_ops_bytes(void);

#endif
