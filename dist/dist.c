/* MPI side of data-parallel training (dist.h). */
#include "dist.h"

#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32.h"

static int fail(fm_dist *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, sizeof d->err, fmt, ap);
    va_end(ap);
    return 1;
}

/* An MPI call's error as a line of d->err. */
static int mpi_ok(fm_dist *d, int rc, const char *what)
{
    if (rc == MPI_SUCCESS)
        return 0;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return fail(d, "rank %d: %s failed: %s", d->rank, what, msg);
}

int fm_dist_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

/* The rank among the ranks of this host: MPI-3's shared-memory split. */
static int local_rank(fm_dist *d, int *out)
{
    MPI_Comm node;
    if (mpi_ok(d,
               MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL,
                                   &node),
               "MPI_Comm_split_type"))
        return 1;
    int rc = mpi_ok(d, MPI_Comm_rank(node, out), "MPI_Comm_rank");
    MPI_Comm_free(&node);
    return rc;
}

int fm_dist_init(fm_dist *d)
{
    memset(d, 0, sizeof *d);
    int started = 0;
    MPI_Initialized(&started);
    if (!started) {
        if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
            return fail(d, "MPI_Init failed: is this process started by mpirun?");
        d->mpi_started = 1;
    }
    /* Errors come back as return codes, so each rank can name what failed. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (mpi_ok(d, MPI_Comm_rank(MPI_COMM_WORLD, &d->rank), "MPI_Comm_rank") ||
        mpi_ok(d, MPI_Comm_size(MPI_COMM_WORLD, &d->size), "MPI_Comm_size"))
        return 1;
    return local_rank(d, &d->local_rank);
}

int fm_dist_attach(fm_dist *d, fm_backend *be, size_t nfloats)
{
    d->nfloats = nfloats;
    if (strcmp(fm_backend_name(be), "cuda") == 0) {
        d->use_nccl = 1;
        return fm_dist_nccl_open(d, be);
    }
    /* [P] gradients, the loss and the stop flag: one all-reduce per step. */
    d->host = malloc(sizeof(float) * (nfloats + 2));
    if (!d->host)
        return fail(d, "rank %d: cannot allocate the %zu-float staging buffer", d->rank, nfloats);
    return 0;
}

/* Loss and stop flag alone (the cuda path's gradients went through NCCL). */
static int reduce_scalars(fm_dist *d, float *loss)
{
    float v[2] = {*loss, d->local_stop ? 1.0f : 0.0f};
    if (mpi_ok(d, MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
               "MPI_Allreduce of the loss"))
        return 1;
    *loss = v[0] / (float)d->size;
    d->stop = v[1] > 0;
    return 0;
}

/* Host path: download, all-reduce [grad, loss, stop] in place, scale, upload. */
static int reduce_host(fm_dist *d, fm_backend *be, const fm_tensor *grad, float *loss)
{
    const size_t P = d->nfloats;
    if (fm_download(be, d->host, grad) != FM_OK)
        return fail(d, "rank %d: reading the gradients: %s", d->rank, fm_backend_error(be));
    d->host[P] = *loss;
    d->host[P + 1] = d->local_stop ? 1.0f : 0.0f;
    /* MPI counts are int: P < 2^31 floats (8 GiB of gradients) */
    if (mpi_ok(
            d,
            MPI_Allreduce(MPI_IN_PLACE, d->host, (int)(P + 2), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce of the gradients"))
        return 1;
    const float inv = 1.0f / (float)d->size; /* exact for power-of-two rank counts */
    for (size_t i = 0; i <= P; i++)
        d->host[i] *= inv;
    *loss = d->host[P];
    d->stop = d->host[P + 1] > 0;
    if (fm_upload(be, grad, d->host) != FM_OK)
        return fail(d, "rank %d: writing the gradients: %s", d->rank, fm_backend_error(be));
    return 0;
}

fm_status fm_dist_grad_hook(void *user, fm_backend *be, const fm_tensor *grad, float *loss)
{
    fm_dist *d = user;
    if ((size_t)fm_tensor_numel(grad) != d->nfloats)
        return fm_fail(be, FM_ERR_ARG, "dist: gradient block of %lld floats, attached for %zu",
                       (long long)fm_tensor_numel(grad), d->nfloats);
    int rc = d->use_nccl ? fm_dist_nccl_avg(d, be, grad) || reduce_scalars(d, loss)
                         : reduce_host(d, be, grad, loss);
    return rc ? fm_fail(be, FM_ERR_DRIVER, "%s", d->err) : FM_OK;
}

/* t's bytes in a host buffer the caller frees (NULL with d->err on failure). */
static void *host_copy(fm_dist *d, fm_backend *be, const fm_tensor *t, size_t *bytes)
{
    *bytes = (size_t)fm_tensor_numel(t) * fm_dtype_size(t->dtype);
    void *h = malloc(*bytes ? *bytes : 1);
    if (!h) {
        fail(d, "rank %d: cannot allocate %zu bytes", d->rank, *bytes);
        return NULL;
    }
    if (fm_download(be, h, t) != FM_OK) {
        fail(d, "rank %d: reading a tensor: %s", d->rank, fm_backend_error(be));
        free(h);
        return NULL;
    }
    return h;
}

int fm_dist_bcast(fm_dist *d, fm_backend *be, const fm_tensor *t)
{
    size_t bytes;
    unsigned char *h = host_copy(d, be, t, &bytes);
    if (!h)
        return 1;
    int rc = 0;
    /* in pieces of at most 1 GiB: MPI counts are int */
    for (size_t off = 0; off < bytes && rc == 0; off += (size_t)1 << 30) {
        size_t n = bytes - off < ((size_t)1 << 30) ? bytes - off : (size_t)1 << 30;
        rc = mpi_ok(d, MPI_Bcast(h + off, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
    }
    if (rc == 0 && fm_upload(be, t, h) != FM_OK)
        rc = fail(d, "rank %d: writing a tensor: %s", d->rank, fm_backend_error(be));
    free(h);
    return rc;
}

int fm_dist_same(fm_dist *d, fm_backend *be, const fm_tensor *t, const char *what, uint64_t step)
{
    size_t bytes;
    void *h = host_copy(d, be, t, &bytes);
    if (!h)
        return 1;
    unsigned crc = fm_crc32(0, h, bytes);
    free(h);
    unsigned *all = malloc(sizeof(unsigned) * (size_t)d->size);
    if (!all)
        return fail(d, "rank %d: cannot allocate %d checksums", d->rank, d->size);
    int rc = mpi_ok(d, MPI_Allgather(&crc, 1, MPI_UNSIGNED, all, 1, MPI_UNSIGNED, MPI_COMM_WORLD),
                    "MPI_Allgather of the checksums");
    for (int r = 1; rc == 0 && r < d->size; r++)
        if (all[r] != all[0])
            rc = fail(d,
                      "step %llu: the ranks drifted apart: rank %d's %s (crc 0x%08x) differ "
                      "from rank 0's (crc 0x%08x)",
                      (unsigned long long)step, r, what, all[r], all[0]);
    free(all);
    return rc;
}

void fm_dist_abort(fm_dist *d, int code)
{
    (void)d;
    fflush(NULL);
    MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
}

void fm_dist_close(fm_dist *d)
{
    if (d->use_nccl)
        fm_dist_nccl_close(d);
    free(d->host);
    d->host = NULL;
    if (d->mpi_started)
        MPI_Finalize();
    d->mpi_started = 0;
}
