/* Classifier weights files; see classifier_io.h. */
#include "classifier_io.h"

#include "checkpoint.h"

#include <stdio.h>
#include <string.h>

int fm_weights_is_classifier(const fm_weights *w)
{
    uint64_t v = 0;
    const fm_arch *a = fm_arch_by_id(w->cfg.arch);
    return (a && strcmp(a->name, "classifier") == 0) ||
           (fm_weights_meta(w, FM_MODEL_KEY, &v) && v == FM_MODEL_CLASSIFIER);
}

fm_status fm_classifier_file_config(const fm_weights *w, fm_config *cfg, char *err, size_t errlen)
{
    char msg[200];
    const fm_arch *a = fm_arch_by_id(w->cfg.arch);
    if (!fm_weights_is_classifier(w)) {
        snprintf(err, errlen, "not a classifier weights file (arch %s)", a ? a->name : "?");
        return FM_ERR_FORMAT;
    }
    if (!a || strcmp(a->name, "classifier") != 0) { /* before the architecture record */
        fm_config_preset(cfg, "classifier");
        return FM_OK;
    }
    *cfg = w->cfg;
    if (fm_config_validate(cfg, msg, sizeof msg) != FM_OK) {
        snprintf(err, errlen, "the classifier's config: %s", msg);
        return FM_ERR_FORMAT;
    }
    return FM_OK;
}

fm_status fm_classifier_texts(const fm_weights *w, fm_text *data, fm_text *classes, char *err,
                              size_t errlen)
{
    fm_ckpt_state st;
    fm_status s = fm_ckpt_state_read(w, &st, err, errlen);
    *data = s == FM_OK ? st.data : (fm_text){0};
    *classes = s == FM_OK ? st.classes : (fm_text){0};
    return s;
}

size_t fm_classifier_save_scratch(const fm_config *cfg)
{
    return fm_weights_save_scratch(FM_CLS_NPARAMS + 2, 0) +
           (size_t)fm_classifier_param_count(cfg) * sizeof(float) + 4 * FM_ARENA_MIN_ALIGN;
}

#ifndef FMRT_NO_FILES
/* The directory of c's parameters over the host copy `host` of the flat block. */
static void directory(const fm_model *c, const float *host, fm_wtensor *t)
{
    for (int i = 0; i < c->nparams; i++)
        fm_wtensor_of_param(&t[i], "", &c->params[i], host); /* short canonical names */
}

static fm_status save(fm_model *c, const char *path, const fm_text *data, const fm_text *classes,
                      fm_arena *scratch)
{
    size_t off;
    if (fm_arena_alloc(scratch, (size_t)c->nfloats * sizeof(float), &off) != FM_OK)
        return fm_fail(c->be, FM_ERR_ARENA, "classifier save: scratch holds no %lld floats",
                       (long long)c->nfloats);
    float *host = fm_arena_ptr(scratch, off);
    FM_TRY(fm_download(c->be, host, &c->flat));
    fm_wtensor t[FM_CLS_NPARAMS + 2];
    directory(c, host, t);
    int nt = c->nparams;
    nt += fm_text_tensor(&t[nt], "text.data", data);
    nt += fm_text_tensor(&t[nt], "text.classes", classes);
    return fm_weights_save(path, FM_WEIGHTS_KIND_WEIGHTS, &c->cfg, t, nt, NULL, 0, scratch,
                           c->be->err, sizeof c->be->err);
}

fm_status fm_classifier_save(fm_model *c, const char *path, const fm_text *data,
                             const fm_text *classes, fm_arena *scratch)
{
    fm_arena_mark mark = fm_arena_get_mark(scratch, "classifier save");
    fm_status s = save(c, path, data, classes, scratch);
    fm_arena_reset(scratch, mark);
    return s;
}
#endif

/* Every tensor of w is one of c's parameters or the run's u8 record (text.*): a file
 * with more was written for another network, and the features FID compares would not
 * be its own. */
static fm_status check_strays(fm_model *c, const fm_weights *w)
{
    for (int i = 0; i < w->ntensors; i++) {
        fm_wtensor t;
        int known = fm_weights_tensor(w, i, &t) == FM_OK ? 0 : -1;
        for (int k = 0; known == 0 && k < c->nparams; k++)
            known = strcmp(t.name, c->params[k].name) == 0;
        if (known == 0 && t.dtype == FM_U8)
            known = strcmp(t.name, "text.data") == 0 || strcmp(t.name, "text.classes") == 0;
        if (known < 0)
            return fm_fail(c->be, FM_ERR_FORMAT, "tensor %d: cannot read its directory entry", i);
        if (!known)
            return fm_fail(c->be, FM_ERR_FORMAT,
                           "tensor '%s' is not part of this model (the classifier's %d tensors)",
                           t.name, c->nparams);
    }
    return FM_OK;
}

/* The file's shape is c's: C, S and K (K by fm_classifier_classes, so an older file's
 * num_classes 0 is the 10 of a new one). */
static fm_status check_config(fm_model *c, const fm_weights *w)
{
    fm_config f;
    char err[256], a[128], b[128];
    if (fm_classifier_file_config(w, &f, err, sizeof err) != FM_OK)
        return fm_fail(c->be, FM_ERR_FORMAT, "%s", err);
    if (f.in_channels == c->cfg.in_channels && f.image == c->cfg.image &&
        fm_classifier_classes(&f) == fm_classifier_classes(&c->cfg))
        return FM_OK;
    fm_config_format(&f, a, sizeof a);
    fm_config_format(&c->cfg, b, sizeof b);
    return fm_fail(c->be, FM_ERR_FORMAT, "the file's classifier is %s, the model created for it %s",
                   a, b);
}

fm_status fm_classifier_load(fm_model *c, const fm_weights *w)
{
    FM_TRY(check_config(c, w));
    FM_TRY(check_strays(c, w));
    for (int i = 0; i < c->nparams; i++) {
        const fm_param *p = &c->params[i];
        fm_wtensor t;
        FM_TRY(fm_weights_expect(w, p->name, FM_F32, p->t.ndim, p->t.shape, &t, c->be->err,
                                 sizeof c->be->err));
        if (fm_f32_nonfinite(t.data, t.bytes / sizeof(float), NULL))
            return fm_fail(c->be, FM_ERR_FORMAT, "tensor '%s' holds NaN or inf", p->name);
        /* The payload is 4-aligned in a 64-aligned image (fm_file_read). */
        FM_TRY(fm_upload(c->be, &p->t, t.data));
    }
    return FM_OK;
}
