/* Data-parallel training over MPI (and NCCL for cuda ranks): the layer beside the
 * no-malloc library. It allocates, it talks to other processes, and the library
 * knows nothing of it: training calls one hook per step (fm_train_opts.grad_hook)
 * and this layer is that hook.
 *
 * R ranks each compute the gradient of their slice (B/R rows) of one global batch
 * of B rows. Each slice's loss is a mean over its rows, so the mean of the R slice
 * gradients is the gradient of the whole batch's mean loss: after the hook, every
 * rank holds the gradient a single rank would have computed for the global batch
 * (up to float summation order), and takes the same AdamW and EMA update.
 *
 * Transport: cuda ranks all-reduce the device gradient block with ncclAllReduce
 * (the NCCL id broadcast over MPI); every other backend stages the block through
 * host memory for MPI_Allreduce. The loss and a stop flag travel with it, so a
 * Ctrl-C seen by one rank ends every rank after the same step. */
#ifndef FMRT_DIST_H
#define FMRT_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

typedef struct fm_dist {
    int rank, size, local_rank; /* local_rank: the rank among this host's ranks */
    int mpi_started;            /* MPI_Init was ours: finalize at the end */
    int use_nccl;               /* cuda ranks: the block goes through NCCL */
    int local_stop;             /* this rank wants to stop (Ctrl-C): set by the caller */
    int stop;                   /* some rank wanted to stop: the hook's result */
    float *host;                /* staging: [P] gradients, then loss and stop flag */
    size_t nfloats;             /* P */
    void *nccl;                 /* NCCL state (dist/nccl.c) */
    char err[512];              /* the last error, one line */
} fm_dist;

/* 1 when this process was started by an MPI launcher (mpirun / srun with PMIx):
 * OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the environment. */
int fm_dist_launched(void);

/* MPI_Init (once) and the rank numbers. Nonzero with d->err on failure. */
int fm_dist_init(fm_dist *d);

/* Ready the hook for a gradient block of P floats on backend be: the host
 * staging buffer, or on the cuda backend the NCCL communicator. */
int fm_dist_attach(fm_dist *d, fm_backend *be, size_t nfloats);

/* fm_train_opts.grad_hook: user is the fm_dist. Replaces *grad and *loss by their
 * means over the ranks and sets d->stop if any rank's local_stop was set. */
fm_status fm_dist_grad_hook(void *user, fm_backend *be, const fm_tensor *grad, float *loss);

/* Rank 0's tensor t to every rank (MPI_Bcast through host memory). */
int fm_dist_bcast(fm_dist *d, fm_backend *be, const fm_tensor *t);

/* The drift check: the CRC-32 of t's bytes on every rank, all-gathered; nonzero
 * with d->err naming the first rank that differs from rank 0. */
int fm_dist_same(fm_dist *d, fm_backend *be, const fm_tensor *t, const char *what, uint64_t step);

/* Ends the whole job at once (another rank failed or this one did): MPI_Abort. */
void fm_dist_abort(fm_dist *d, int code);

/* Frees what attach took and calls MPI_Finalize when init started MPI. */
void fm_dist_close(fm_dist *d);

/* dist/nccl.c: the NCCL communicator of a cuda rank (without NCCL in the build,
 * nccl_open fails with a message saying so). */
int fm_dist_nccl_open(fm_dist *d, fm_backend *be);
int fm_dist_nccl_avg(fm_dist *d, fm_backend *be, const fm_tensor *grad);
void fm_dist_nccl_close(fm_dist *d);

#endif
