/* The architecture-independent part of a model (model.h): parameter table and
 * blocks, initialisation, input checks, and the arena marks around a forward and
 * its backward. What the network computes is its architecture's (m->arch). */
#include "model.h"
#include "text.h"

#include <stdio.h>
#include <string.h>

#include "philox.h"

int fm_model_layout(const fm_config *cfg, fm_param *params, int max, int64_t *nfloats)
{
    const fm_arch *a = fm_arch_by_id(cfg->arch);
    fm_layout b = {.params = params, .maxp = max};
    if (!a)
        return -1;
    a->layout(cfg, &b);
    if (nfloats)
        *nfloats = b.nfloats;
    return b.overflow ? -1 : b.np;
}

fm_tensor fm_model_view(const fm_model *m, const fm_tensor *block, int i)
{
    return fm_param_view(&m->params[i], block);
}

const fm_param *fm_model_find(const fm_model *m, const char *name)
{
    for (int i = 0; i < m->nparams; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return &m->params[i];
    return NULL;
}

/* The parameter table and the [P] blocks: ext, the parameter block in caller memory
 * (sample mode on ref), or NULL for zeroed blocks from the arena. */
static fm_status create_blocks(fm_model *m, const void *ext)
{
    fm_layout b = {.params = m->params, .maxp = FM_MAX_PARAMS};
    m->arch->layout(&m->cfg, &b);
    if (b.overflow)
        return fm_fail(m->be, FM_ERR_ARG, "model config has more than %d parameter tensors",
                       FM_MAX_PARAMS);
    m->nparams = b.np;
    m->nfloats = b.nfloats;
    fm_tensor *blocks[] = {&m->flat, &m->grad, &m->adam_m, &m->adam_v, &m->ema};
    int nblocks = m->mode == FM_MODE_TRAIN ? 5 : 1;
    for (int i = 0; i < nblocks; i++) {
        *blocks[i] = fm_tensor_1d(FM_F32, m->nfloats);
        if (ext) {
            /* The tensor API has no const base; the sampler only reads parameters. */
            blocks[i]->base = (void *)(uintptr_t)ext;
            continue;
        }
        FM_TRY(fm_tensor_alloc(m->be, blocks[i]));
        FM_TRY(fm_fill(m->be, blocks[i], 0.0f));
    }
    for (int i = 0; i < m->nparams; i++)
        m->params[i].t = fm_model_view(m, &m->flat, i);
    return FM_OK;
}

static fm_status create(fm_model *m, fm_backend *be, const fm_config *cfg, fm_mode mode, int batch,
                        const void *ext)
{
    char msg[200];
    memset(m, 0, offsetof(fm_model, state));
    if (fm_config_validate(cfg, msg, sizeof msg) != FM_OK)
        return fm_fail(be, FM_ERR_ARG, "model config: %s", msg);
    if (batch < 1)
        return fm_fail(be, FM_ERR_ARG, "model: batch %d must be >= 1", batch);
    m->arch = fm_arch_by_id(cfg->arch);
    m->cfg = *cfg;
    m->mode = mode;
    m->batch = batch;
    m->be = be;
    FM_TRY(create_blocks(m, ext));
    if (m->arch->create)
        FM_TRY(m->arch->create(m));
    m->persistent = fm_arena_get_mark(&be->arena, "persistent");
    return FM_OK;
}

fm_status fm_model_create(fm_model *m, fm_backend *be, const fm_config *cfg, fm_mode mode, int batch)
{
    return create(m, be, cfg, mode, batch, NULL);
}

fm_status fm_model_create_in_place(fm_model *m, fm_backend *be, const fm_config *cfg, int batch,
                                   const void *params)
{
    if (!params || (uintptr_t)params % sizeof(float) != 0)
        return fm_fail(be, FM_ERR_ARG, "model in place: parameters %s",
                       params ? "not 4-byte aligned" : "missing");
    /* Only the reference backend reads tensors through host pointers. */
    if (!be || !be->iface || strcmp(fm_backend_name(be), "ref") != 0)
        return fm_fail(be, FM_ERR_ARG, "model in place: needs the ref backend, not %s",
                       fm_backend_name(be));
    return create(m, be, cfg, FM_MODE_SAMPLE, batch, params);
}

/* Parameter i by its rule, uploaded in slices through a small stack buffer: the
 * library has no heap. */
static fm_status init_param(fm_model *m, int i, uint64_t seed)
{
    const fm_param *p = &m->params[i];
    const fm_init r = m->arch->init(m, i);
    int64_t n = fm_tensor_numel(&p->t);
    float buf[1024];
    for (int64_t s = 0; s < n; s += 1024) {
        int64_t k = n - s < 1024 ? n - s : 1024;
        for (int64_t j = 0; j < k; j++) {
            uint64_t e = (uint64_t)(s + j);
            switch (r.kind) {
            case FM_INIT_ZERO: buf[j] = 0.0f; break;
            case FM_INIT_ONE: buf[j] = 1.0f; break;
            case FM_INIT_UNIFORM:
                buf[j] = r.scale * (2.0f * fm_philox_uniform(seed, e, (uint32_t)i) - 1.0f);
                break;
            case FM_INIT_NORMAL: buf[j] = r.scale * fm_philox_normal(seed, e, (uint32_t)i); break;
            }
        }
        fm_tensor part = fm_tensor_slice(fm_tensor_reshape(p->t, 1, &n), s, k);
        FM_TRY(fm_upload(m->be, &part, buf));
    }
    return FM_OK;
}

fm_status fm_model_init(fm_model *m, uint64_t seed)
{
    for (int i = 0; i < m->nparams; i++)
        FM_TRY(init_param(m, i, seed));
    if (m->mode == FM_MODE_TRAIN)
        FM_TRY(fm_copy(m->be, &m->ema, &m->flat));
    return FM_OK;
}

void fm_model_release(fm_model *m)
{
    if (m->active)
        fm_arena_reset(&m->be->arena, m->act);
    m->active = 0;
}

/* The input: x [N <= batch, in_channels, image, image], or for an architecture of token
 * ids (fm_arch.tokens) y [N <= batch, text_ctx] i32; out the architecture's shape for N
 * (that of x when it has no out_shape). */
static fm_status check_inputs(fm_model *m, const fm_tensor *out, const fm_tensor *x,
                              const fm_tensor *y)
{
    const fm_config *c = &m->cfg;
    int64_t shape[4], N;
    char want_s[96];
    if (m->arch->tokens) {
        if (!y || y->ndim != 2 || y->dtype != FM_I32 || y->shape[1] != c->text_ctx ||
            y->shape[0] < 1 || y->shape[0] > m->batch)
            return fm_fail(m->be, FM_ERR_ARG, "model forward: %s's input y must be [N<=%d, %d] "
                           "token ids (i32)", m->arch->name, m->batch, c->text_ctx);
        N = y->shape[0];
    } else {
        if (!x || x->ndim != 4 || x->shape[1] != c->in_channels || x->shape[2] != c->image ||
            x->shape[3] != c->image || x->shape[0] < 1 || x->shape[0] > m->batch)
            return fm_fail(m->be, FM_ERR_ARG, "model forward: x must be [N<=%d, %d, %d, %d]",
                           m->batch, c->in_channels, c->image, c->image);
        N = x->shape[0];
    }
    fm_tensor want = m->arch->tokens ? (fm_tensor){0} : *x;
    if (m->arch->out_shape)
        want = fm_tensor_desc(FM_F32, m->arch->out_shape(c, N, shape), shape);
    if (!fm_tensor_same_shape(out, &want))
        return fm_fail(m->be, FM_ERR_ARG, "model forward: %s's output must be %s for N = %lld",
                       m->arch->name,
                       m->arch->velocity ? "the shape of x"
                                         : fm_tensor_shape_str(&want, want_s, sizeof want_s),
                       (long long)N);
    if (fm_config_conditional(c) && m->arch->velocity && (!y || y->ndim == 0))
        return fm_fail(m->be, FM_ERR_ARG, "model forward: a conditional model needs %s",
                       c->text_depth ? "token ids y" : "labels y");
    if (c->text_depth && m->arch->velocity &&
        (y->dtype != FM_I32 || fm_tensor_numel(y) != N * c->text_ctx))
        return fm_fail(m->be, FM_ERR_ARG, "model forward: a text model's y must be [%lld, %d] "
                       "token ids (i32)", (long long)N, c->text_ctx);
    return FM_OK;
}

fm_status fm_model_forward(fm_model *m, fm_mode mode, const fm_tensor *params,
                           const fm_tensor *out, const fm_tensor *x, const fm_tensor *t,
                           const fm_tensor *y)
{
    const int keep = mode == FM_MODE_TRAIN;
    if (keep && m->mode != FM_MODE_TRAIN)
        return fm_fail(m->be, FM_ERR_ARG, "model forward: a training forward needs a model "
                       "created for training");
    FM_TRY(check_inputs(m, out, x, y));
    fm_model_release(m);
    m->act = fm_arena_get_mark(&m->be->arena, "activations");
    m->x = x ? *x : (fm_tensor){0};
    m->t = t ? *t : (fm_tensor){0};
    m->y = y && fm_config_conditional(&m->cfg) ? *y : (fm_tensor){0};
    m->P = *params;
    m->active = 1;
    m->kept = keep;
    fm_status s = m->arch->forward(m, keep, params, out, x, t, y);
    if (s != FM_OK || !keep)
        fm_model_release(m);
    return s;
}

fm_status fm_model_backward(fm_model *m, const fm_tensor *dout)
{
    if (m->mode != FM_MODE_TRAIN || !m->active || !m->kept)
        return fm_fail(m->be, FM_ERR_ARG, "model backward: needs a training-mode forward first");
    fm_status s = m->arch->backward(m, dout);
    fm_model_release(m);
    return s;
}

void fm_config_null_cond(const fm_config *c, int32_t *row)
{
    if (c->text_depth > 0)
        fm_text_empty(c, row);
    else
        row[0] = c->num_classes;
}
