/* NCCL side of data-parallel training (dist.h): cuda ranks average their gradient
 * block in device memory with one ncclAllReduce(ncclAvg) per step. Built with
 * FMRT_HAVE_NCCL; without it, cuda ranks get a clear error at attach time.
 *
 * On the cuda backend a tensor's bytes start at base + off in the backend's one
 * device allocation (backend.h), so NCCL reads and writes the block in place. The
 * backend's kernels run on its own stream: fm_sync before the all-reduce orders the
 * backward before it, and a stream synchronize after it orders it before AdamW. */
#include "dist.h"

#include <stdlib.h>
#include <string.h>

#ifdef FMRT_HAVE_NCCL
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>
#include <stdio.h>

typedef struct nccl_state {
    ncclComm_t comm;
    cudaStream_t stream;
} nccl_state;

static int nccl_fail(fm_dist *d, const char *what, const char *why)
{
    snprintf(d->err, sizeof d->err, "rank %d: %s failed: %s", d->rank, what, why);
    return 1;
}

int fm_dist_nccl_open(fm_dist *d, fm_backend *be)
{
    (void)be; /* the backend made its device current on this thread when it opened */
    nccl_state *s = calloc(1, sizeof *s);
    if (!s)
        return nccl_fail(d, "NCCL set-up", "out of host memory");
    d->nccl = s;
    ncclUniqueId id;
    if (d->rank == 0) {
        ncclResult_t r = ncclGetUniqueId(&id);
        if (r != ncclSuccess)
            return nccl_fail(d, "ncclGetUniqueId", ncclGetErrorString(r));
    }
    if (MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        return nccl_fail(d, "MPI_Bcast of the NCCL id", "MPI error");
    cudaError_t ce = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking);
    if (ce != cudaSuccess)
        return nccl_fail(d, "cudaStreamCreate", cudaGetErrorString(ce));
    ncclResult_t r = ncclCommInitRank(&s->comm, d->size, id, d->rank);
    if (r != ncclSuccess)
        return nccl_fail(d, "ncclCommInitRank", ncclGetErrorString(r));
    return 0;
}

int fm_dist_nccl_avg(fm_dist *d, fm_backend *be, const fm_tensor *grad)
{
    nccl_state *s = d->nccl;
    if (fm_sync(be) != FM_OK)
        return nccl_fail(d, "the backward before the all-reduce", fm_backend_error(be));
    float *g = (float *)((char *)grad->base + grad->off);
    ncclResult_t r = ncclAllReduce(g, g, d->nfloats, ncclFloat, ncclAvg, s->comm, s->stream);
    if (r != ncclSuccess)
        return nccl_fail(d, "ncclAllReduce", ncclGetErrorString(r));
    cudaError_t ce = cudaStreamSynchronize(s->stream);
    if (ce != cudaSuccess)
        return nccl_fail(d, "the all-reduce", cudaGetErrorString(ce));
    return 0;
}

void fm_dist_nccl_close(fm_dist *d)
{
    nccl_state *s = d->nccl;
    if (!s)
        return;
    if (s->comm)
        ncclCommDestroy(s->comm);
    if (s->stream)
        cudaStreamDestroy(s->stream);
    free(s);
    d->nccl = NULL;
}

#else /* no NCCL in this build */

#include <stdio.h>

int fm_dist_nccl_open(fm_dist *d, fm_backend *be)
{
    (void)be;
    snprintf(d->err, sizeof d->err,
             "rank %d: this fmrt was built without NCCL: cuda ranks need it (build with the "
             "CUDA toolkit's NCCL, or train with --backend cpu/opencl ranks over MPI)",
             d->rank);
    return 1;
}

int fm_dist_nccl_avg(fm_dist *d, fm_backend *be, const fm_tensor *grad)
{
    (void)be;
    (void)grad;
    snprintf(d->err, sizeof d->err, "rank %d: no NCCL in this build", d->rank);
    return 1;
}

void fm_dist_nccl_close(fm_dist *d)
{
    (void)d;
}

#endif
