/* Weights file to images in a handful of calls (sampler.h). */
#include "sampler.h"

#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "classifier_io.h"
#include "file.h"
#include "flow.h"
#include "weights_format.h"

static size_t round64(size_t b)
{
    return (b + 63) & ~(size_t)63;
}

static fm_status fail(fm_sampler *s, fm_status st, const char *what)
{
    snprintf(s->err, sizeof s->err, "%s", what);
    return st;
}

/* The config in the file's header (checked in full when the file is opened): the
 * fixed header of the file's version, 112 bytes (versions 1, 2) or 176 (version 3). */
static fm_status header_config(fm_sampler *s, const char *path)
{
    uint8_t h[FM_WEIGHTS_HEADER_MAX];
    size_t got = 0;
    int32_t v[FM_CONFIG_SLOTS];
    char msg[200];
    FM_TRY(fm_file_head(path, h, sizeof h, &got, &s->file_bytes, s->err, sizeof s->err));
    if (got < FM_WEIGHTS_HEADER_BYTES || memcmp(h + H_MAGIC, FM_WEIGHTS_MAGIC, 8) != 0)
        return fm_errorf(s->err, sizeof s->err, FM_ERR_FORMAT, "%s: not an fmrt weights file",
                         path);
    const uint32_t version = (uint32_t)h[H_VERSION] | (uint32_t)h[H_VERSION + 1] << 8 |
                             (uint32_t)h[H_VERSION + 2] << 16 | (uint32_t)h[H_VERSION + 3] << 24;
    const size_t hbytes = fm_weights_header_bytes(version);
    if (!hbytes)
        return fm_errorf(s->err, sizeof s->err, FM_ERR_FORMAT,
                         "%s: unknown weights format version %u, this build reads versions 1..%d",
                         path, (unsigned)version, FM_WEIGHTS_VERSION);
    if (got < hbytes)
        return fm_errorf(s->err, sizeof s->err, FM_ERR_FORMAT,
                         "%s: truncated: %zu bytes, the version %u weights header alone is %zu",
                         path, got, (unsigned)version, hbytes);
    fm_wf_config_read(h, version, v);
    fm_config_unpack(v, &s->cfg);
    if (fm_config_validate(&s->cfg, msg, sizeof msg) != FM_OK)
        return fm_errorf(s->err, sizeof s->err, FM_ERR_FORMAT, "%s: config: %s", path, msg);
    if (!fm_arch_by_id(s->cfg.arch)->velocity)
        return fm_errorf(s->err, sizeof s->err, FM_ERR_ARG, "%s: a %s, not a model to sample",
                         path, fm_arch_by_id(s->cfg.arch)->name);
    return FM_OK;
}

fm_status fm_sampler_bytes(fm_sampler *s, const fm_sampler_config *c, size_t *bytes)
{
    memset(s, 0, offsetof(fm_sampler, model));
    s->batch = c->batch ? c->batch : 16;
    if (!c->weights || s->batch < 1 || s->batch > 1024)
        return fail(s, FM_ERR_ARG, "sampler: a weights path and a batch in 1..1024 are needed");
    FM_TRY(header_config(s, c->weights));
    fm_plan plan;
    FM_TRY(fm_model_plan(&s->cfg, FM_MODE_SAMPLE, s->batch, &s->model, &plan, s->err,
                         sizeof s->err));
    /* The plan holds the model, the noise and the labels; the run adds its bytes. */
    const fm_config *f = &s->cfg;
    s->arena_bytes = plan.total_bytes + round64((size_t)s->batch * f->in_channels * f->image * f->image) +
                     (64 << 10);
    const char *name = c->backend ? c->backend : "auto";
    if (fm_backend_host_bytes(name, s->arena_bytes, c->threads, &s->host_bytes) != FM_OK)
        return fail(s, FM_ERR_ARG, "sampler: the backend's host memory overflows");
    if (s->host_bytes < FM_DEVICE_HOST_BYTES) /* a device backend's state and cache */
        s->host_bytes = FM_DEVICE_HOST_BYTES;
    *bytes = round64(s->file_bytes) + round64(s->host_bytes) + 128;
    return FM_OK;
}

/* The file into the block, parsed and checked against the model it describes. */
static fm_status read_weights(fm_sampler *s, const char *path, fm_arena *a)
{
    const uint8_t *data;
    size_t len;
    fm_config sized = s->cfg;
    FM_TRY(fm_file_read(path, a, &data, &len, s->err, sizeof s->err));
    FM_TRY(fm_weights_parse(data, len, &s->w, s->err, sizeof s->err));
    if (fm_weights_is_classifier(&s->w))
        return fm_errorf(s->err, sizeof s->err, FM_ERR_ARG, "%s: a classifier, not a model to "
                         "sample", path);
    if (!fm_config_equal(&s->w.cfg, &sized))
        return fail(s, FM_ERR_ARG, "sampler: the weights file changed since fm_sampler_bytes");
    return fm_model_check_weights(&s->w, FM_MODE_SAMPLE, 0, &s->model, s->err, sizeof s->err);
}

fm_status fm_sampler_open(fm_sampler *s, const fm_sampler_config *c, void *mem, size_t bytes)
{
    fm_arena a;
    size_t need, off;
    FM_TRY(fm_sampler_bytes(s, c, &need));
    if (!mem || bytes < need || fm_arena_init(&a, mem, bytes, 0) != FM_OK)
        return fm_errorf(s->err, sizeof s->err, FM_ERR_ARG,
                         "sampler: %zu bytes of 64-byte aligned memory needed, %zu given", need,
                         bytes);
    FM_TRY(read_weights(s, c->weights, &a));
    size_t host = fm_arena_free_bytes(&a) & ~(size_t)63;
    FM_TRY(fm_arena_alloc(&a, host, &off));
    fm_backend_config bc = {.name = c->backend ? c->backend : "auto",
                            .mem = fm_arena_ptr(&a, off),
                            .mem_bytes = host,
                            .arena_bytes = s->arena_bytes,
                            .device_index = -1,
                            .threads = c->threads};
    if (fm_backend_open(&s->be, &bc) != FM_OK)
        return fail(s, FM_ERR_ARG, s->be.err);
    s->open = 1;
    if (fm_model_create_from_weights(&s->model, &s->be, &s->w, FM_MODE_SAMPLE, s->batch, 0, NULL,
                                     NULL, s->err, sizeof s->err) != FM_OK) {
        fm_sampler_close(s);
        return FM_ERR_FORMAT;
    }
    return FM_OK;
}

/* Noise, labels, the sampler, the pixels: tensors of this run only. */
static fm_status draw(fm_sampler *s, const fm_sample_request *r, uint8_t *pixels)
{
    fm_backend *be = &s->be;
    const fm_config *f = &s->cfg;
    fm_tensor x = fm_tensor_4d(FM_F32, r->n, f->in_channels, f->image, f->image);
    fm_tensor q = fm_tensor_4d(FM_U8, r->n, f->in_channels, f->image, f->image);
    fm_tensor y = fm_tensor_1d(FM_I32, r->n);
    FM_TRY(fm_tensor_alloc(be, &x));
    FM_TRY(fm_tensor_alloc(be, &y));
    FM_TRY(fm_tensor_alloc(be, &q));
    FM_TRY(fm_noise(be, &x, r->seed, 0));
    if (r->labels)
        FM_TRY(fm_upload(be, &y, r->labels));
    fm_sample_opts o = {.steps = r->steps ? r->steps : 50,
                        .heun = r->heun,
                        .guidance = r->labels != NULL,
                        .cfg_scale = r->guidance != 0.0f ? r->guidance : 2.0f};
    FM_TRY(fm_sample(&s->model, &s->model.flat, &x, r->labels ? &y : NULL, &o));
    FM_TRY(fm_run(be, &(fm_call){.op = FM_OP_QUANTIZE_U8, .t = {q, x}}));
    return fm_download(be, pixels, &q);
}

fm_status fm_sampler_run(fm_sampler *s, const fm_sample_request *r, uint8_t *pixels)
{
    if (!s->open)
        return fail(s, FM_ERR_ARG, "sampler: not open");
    if (!r || !pixels || r->n < 1 || r->n > s->batch)
        return fm_errorf(s->err, sizeof s->err, FM_ERR_ARG,
                         "sampler: n must be in 1..%d (the batch it was opened for)", s->batch);
    const int K = s->cfg.num_classes;
    if (r->labels && K == 0)
        return fail(s, FM_ERR_ARG, "sampler: an unconditional model takes no labels");
    for (int i = 0; r->labels && i < r->n; i++)
        if (r->labels[i] < 0 || r->labels[i] >= K)
            return fm_errorf(s->err, sizeof s->err, FM_ERR_ARG,
                             "sampler: label %d of image %d outside 0..%d", (int)r->labels[i], i,
                             K - 1);
    fm_arena_mark mark = fm_arena_get_mark(&s->be.arena, "sampler run");
    fm_status st = draw(s, r, pixels);
    fm_arena_reset(&s->be.arena, mark);
    if (st != FM_OK)
        snprintf(s->err, sizeof s->err, "%s", s->be.err);
    return st;
}

void fm_sampler_shape(const fm_sampler *s, int *channels, int *size)
{
    *channels = s->cfg.in_channels;
    *size = s->cfg.image;
}

void fm_sampler_close(fm_sampler *s)
{
    if (s->open)
        fm_backend_close(&s->be);
    s->open = 0;
}
