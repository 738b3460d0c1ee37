/* fmrt train --dist: see train_dist.h. */
#define _POSIX_C_SOURCE 200809L
#include "train_dist.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *train_dist_backend(const train_dist *t, const char *spec, char *buf, size_t len)
{
    /* "auto:N" gives N to whichever device backend auto picks; cpu and ref ignore it */
    if (t->on && t->size > 1 && spec && (strcmp(spec, "cuda") == 0 || strcmp(spec, "auto") == 0)) {
        snprintf(buf, len, "%s:%d", spec, t->local_rank);
        return buf;
    }
    return spec;
}

#ifdef FMRT_HAVE_DIST
#include "dist.h"

int train_dist_init(train_dist *t, int want, long long check)
{
    memset(t, 0, sizeof *t);
    t->size = 1;
    t->check = check;
    if (!want && !fm_dist_launched())
        return 0;
    fm_dist *d = calloc(1, sizeof *d);
    if (!d)
        return cli_error("--dist: out of memory");
    t->d = d;
    if (fm_dist_init(d))
        return cli_error("--dist: %s", d->err);
    t->on = 1;
    t->rank = d->rank;
    t->size = d->size;
    t->local_rank = d->local_rank;
    if (t->size > 1)
        snprintf(cli_prefix, sizeof cli_prefix, "fmrt train [rank %d]: ", t->rank);
    const char *ds = getenv("FMRT_TEST_DIE_STEP"), *dr = getenv("FMRT_TEST_DIE_RANK");
    if (ds && *ds) {
        t->die_step = strtoll(ds, NULL, 10);
        t->die_rank = dr ? atoi(dr) : 0;
    }
    return 0;
}

int train_dist_attach(train_dist *t, fm_model *m, fm_train_opts *o, int lb)
{
    if (!t->on)
        return 0;
    fm_dist *d = t->d;
    if (fm_dist_attach(d, m->be, (size_t)m->nfloats))
        return cli_error("--dist: %s", d->err);
    o->grad_hook = fm_dist_grad_hook;
    o->grad_user = d;
    o->shard = (int64_t)t->rank * lb;
    /* Every rank starts from rank 0's state: the same seed already gives the same
     * weights, and a resumed checkpoint the same tensors, but the broadcast makes
     * it so by construction (a rank whose file differed would drift silently). */
    const fm_tensor *state[] = {&m->flat, &m->ema, &m->adam_m, &m->adam_v};
    for (size_t i = 0; i < sizeof state / sizeof state[0]; i++)
        if (fm_dist_bcast(d, m->be, state[i]))
            return cli_error("--dist: %s", d->err);
    return 0;
}

int train_dist_after_step(train_dist *t, fm_model *m, uint64_t step, int *stop)
{
    if (!t->on)
        return 0;
    fm_dist *d = t->d;
    if (t->die_step && (long long)step == t->die_step && t->rank == t->die_rank)
        raise(SIGKILL);
    if (d->stop)
        *stop = 1;
    if (t->check <= 0 || step % (uint64_t)t->check != 0)
        return 0;
    if (fm_dist_same(d, m->be, &m->flat, "parameters", step) ||
        fm_dist_same(d, m->be, &m->ema, "EMA parameters", step))
        return cli_error("--dist: %s", d->err);
    return 0;
}

void train_dist_request_stop(train_dist *t, int local_stop)
{
    if (t->on)
        ((fm_dist *)t->d)->local_stop = local_stop;
}

void train_dist_fail(train_dist *t, int rc)
{
    if (t->on && t->size > 1)
        fm_dist_abort(t->d, rc);
}

void train_dist_close(train_dist *t)
{
    if (t->d)
        fm_dist_close(t->d);
    free(t->d);
    t->d = NULL;
}

#else /* built without MPI */

int train_dist_init(train_dist *t, int want, long long check)
{
    memset(t, 0, sizeof *t);
    t->size = 1;
    t->check = check;
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (want || (n && strcmp(n, "1") != 0))
        return cli_error("--dist: this fmrt was built without MPI (apt-get install "
                         "libopenmpi-dev, then rebuild)");
    return 0;
}

int train_dist_attach(train_dist *t, fm_model *m, fm_train_opts *o, int lb)
{
    (void)t, (void)m, (void)o, (void)lb;
    return 0;
}

int train_dist_after_step(train_dist *t, fm_model *m, uint64_t step, int *stop)
{
    (void)t, (void)m, (void)step, (void)stop;
    return 0;
}

void train_dist_request_stop(train_dist *t, int local_stop)
{
    (void)t, (void)local_stop;
}
void train_dist_fail(train_dist *t, int rc)
{
    (void)t, (void)rc;
}
void train_dist_close(train_dist *t)
{
    (void)t;
}

#endif
