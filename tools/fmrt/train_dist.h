/* fmrt train's data-parallel side (--dist): the ranks, the gradient hook, the
 * start-up broadcast and the drift check, over dist/ (MPI, NCCL). In a build
 * without MPI the same calls exist and --dist fails with one clear line. */
#ifndef FMRT_TRAIN_DIST_H
#define FMRT_TRAIN_DIST_H

#include <stdint.h>

#include "flow.h"

typedef struct train_dist {
    int on; /* a --dist run (also with one rank) */
    int rank, size, local_rank;
    long long check; /* drift check every this many steps */
    /* Test hook (tests/dist.sh): rank FMRT_TEST_DIE_RANK kills itself (SIGKILL)
     * after step FMRT_TEST_DIE_STEP, as a crashed or lost rank would end. */
    long long die_step;
    int die_rank;
    void *d; /* fm_dist, when on */
} train_dist;

/* want: --dist given. Starts MPI when asked or when an MPI launcher started this
 * process; otherwise a one-rank run with on = 0. Prints and returns nonzero on error. */
int train_dist_init(train_dist *t, int want, long long check);

/* The backend of a rank: with several ranks, "cuda" and "auto" (the default) become
 * "cuda:LOCAL_RANK" and "auto:LOCAL_RANK", one GPU per rank; a named device is
 * kept. buf holds the result. */
const char *train_dist_backend(const train_dist *t, const char *spec, char *buf, size_t len);

/* After the model exists: hook and shard into *o (local batch lb), rank 0's
 * parameters, EMA and AdamW moments to every rank, and a first drift check. */
int train_dist_attach(train_dist *t, fm_model *m, fm_train_opts *o, int lb);

/* After step `step`: the drift check every t->check steps; *stop becomes 1 when
 * some rank asked to stop. local_stop: this rank's Ctrl-C, sent with the next step. */
int train_dist_after_step(train_dist *t, fm_model *m, uint64_t step, int *stop);
void train_dist_request_stop(train_dist *t, int local_stop);

/* A rank failed with rc: end every rank (MPI_Abort) so none waits forever. */
void train_dist_fail(train_dist *t, int rc);
void train_dist_close(train_dist *t);

#endif
