/* Helpers every architecture's file builds its forward and backward from (unet.c,
 * dit.c, classifier.c): dispatch calls by value, parameter and gradient views, new
 * tensors from the arena, and freeing a dead activation when sampling. All inline:
 * an architecture depends on the runtime and on nothing else in model/. Internal to
 * model/. */
#ifndef FMRT_BUILD_H
#define FMRT_BUILD_H

#include "model.h"

/* The architecture's state inside the model (static-assert its size against
 * FM_MODEL_STATE_BYTES where the type is defined). */
#define FM_MODEL_STATE(m, type) ((type *)(void *)(m)->state)

/* One dispatch-table call: fm_do(be, (fm_call){.op = FM_OP_SILU_FWD, .t = {out, in}}). */
static inline fm_status fm_do(fm_backend *be, fm_call call)
{
    return fm_run(be, &call);
}

/* Parameter i of m inside the block P (m->flat, m->ema, ...), and its gradient. */
static inline fm_tensor fm_w(const fm_model *m, const fm_tensor *P, int i)
{
    return fm_param_view(&m->params[i], P);
}

static inline fm_tensor fm_g(const fm_model *m, int i)
{
    return fm_param_view(&m->params[i], &m->grad);
}

/* *t = a new f32 tensor of shape d0.. (ndim of them) from the arena. */
static inline fm_status fm_new(fm_backend *be, fm_tensor *t, int ndim, int64_t d0, int64_t d1,
                               int64_t d2, int64_t d3)
{
    int64_t shape[4] = {d0, d1, d2, d3};
    *t = fm_tensor_desc(FM_F32, ndim, shape);
    return fm_tensor_alloc(be, t);
}

static inline fm_status fm_new4(fm_backend *be, fm_tensor *t, int64_t n, int64_t c, int64_t h,
                                int64_t w)
{
    return fm_new(be, t, 4, n, c, h, w);
}

static inline fm_status fm_new2(fm_backend *be, fm_tensor *t, int64_t rows, int64_t cols)
{
    return fm_new(be, t, 2, rows, cols, 1, 1);
}

/* *t = a new tensor shaped (and typed) like `like`. */
static inline fm_status fm_new_like(fm_backend *be, fm_tensor *t, fm_tensor like)
{
    *t = like;
    return fm_tensor_alloc(be, t);
}

/* A sampling forward frees each activation right after its last use, so the arena
 * holds about the live set; a training forward (keep) leaves them for backward. */
static inline fm_status fm_dead(fm_backend *be, int keep, const fm_tensor *t)
{
    return keep ? FM_OK : fm_tensor_free(be, t);
}

#endif
