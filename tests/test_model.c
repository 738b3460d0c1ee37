/* Model-level tests: a tiny U-Net learns a fixed batch, save -> load -> sample
 * reproduces the in-memory model's samples byte for byte, a checkpoint resumes a
 * run bit-identically, and the loader rejects mismatched files with clear
 * messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "classifier_io.h"
#include "flow.h"
#include "io.h"
#include "testutil.h"
#include "vae.h"

/* Small enough for a few hundred CPU steps in seconds: 8x8 images, two levels. */
static fm_config tiny_cfg(int classes)
{
    fm_config c = {.in_channels = 1, .image = 8, .base_channels = 8, .levels = 2,
                   .channel_mult = {1, 2}, .res_blocks = 1, .time_dim = 16, .heads = 2,
                   .groups = 4, .num_classes = classes};
    char msg[200];
    cr_assert_eq(fm_config_validate(&c, msg, sizeof msg), FM_OK, "%s", msg);
    return c;
}

/* The DiT of docs/spec/dit.md at the same 8x8 size: 16 tokens of width 16. */
static fm_config dit_cfg(int classes)
{
    fm_config c = {.arch = fm_arch_find("dit")->id, .in_channels = 1, .image = 8, .patch = 2, .hidden = 16,
                   .depth = 2, .heads = 2, .freq_dim = 16, .mlp_ratio = 4,
                   .num_classes = classes};
    char msg[200];
    cr_assert_eq(fm_config_validate(&c, msg, sizeof msg), FM_OK, "%s", msg);
    return c;
}

#define B 8

static fm_model *new_model(fm_backend *be, const fm_config *c, fm_mode mode, uint64_t seed)
{
    fm_model *m = calloc(1, sizeof *m);
    cr_assert_not_null(m);
    cr_assert_eq(fm_model_create(m, be, c, mode, B), FM_OK, "%s", be->err);
    cr_assert_eq(fm_model_init(m, seed), FM_OK, "%s", be->err);
    return m;
}

static fm_arena *scratch(void)
{
    static fm_arena a;
    static void *mem;
    if (!mem) {
        mem = aligned_alloc(64, 16 << 20);
        cr_assert_not_null(mem);
    }
    cr_assert_eq(fm_arena_init(&a, mem, 16 << 20, 0), FM_OK);
    return &a;
}

static void tmp_path(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, "%s/test_model_%d_%s.fmw", FMRT_BUILD_DIR, (int)getpid(), tag);
}

/* Read and parse a file into (leaked, per-process) host memory. */
static fm_weights read_weights(const char *path)
{
    static fm_arena a;
    static void *mem;
    if (!mem) {
        mem = aligned_alloc(64, 32 << 20);
        cr_assert_not_null(mem);
        cr_assert_eq(fm_arena_init(&a, mem, 32 << 20, 0), FM_OK);
    }
    const uint8_t *data;
    size_t len;
    char err[512];
    fm_weights w;
    cr_assert_eq(fm_file_read(path, &a, &data, &len, err, sizeof err), FM_OK, "%s", err);
    cr_assert_eq(fm_weights_parse(data, len, &w, err, sizeof err), FM_OK, "%s", err);
    return w;
}

/* Deterministic batch for step s: pixels from Philox, labels s + n mod 10. */
static void batch(fm_backend *be, const fm_tensor *x0, int32_t *y, uint64_t s)
{
    cr_assert_eq(fm_noise(be, x0, 1000 + s, 7), FM_OK, "%s", be->err);
    for (int n = 0; n < B; n++)
        y[n] = (int32_t)((s + (uint64_t)n) % 10);
}

static void train_steps(fm_model *m, const fm_train_opts *o, const fm_tensor *x0, uint64_t from,
                        uint64_t to)
{
    int32_t y[B];
    for (uint64_t s = from; s <= to; s++) {
        float loss;
        batch(m->be, x0, y, s);
        cr_assert_eq(fm_train_step(m, o, x0, m->cfg.num_classes ? y : NULL, s, &loss), FM_OK,
                     "%s", m->be->err);
    }
}

static float *download(fm_backend *be, const fm_tensor *t)
{
    float *h = malloc(fm_tensor_bytes(t));
    cr_assert_not_null(h);
    cr_assert_eq(fm_download(be, h, t), FM_OK);
    return h;
}

Test(model, tiny_net_learns_a_fixed_batch, .timeout = 600)
{
    fm_backend *be = tu_ref();
    fm_config c = tiny_cfg(0);
    fm_model *m = new_model(be, &c, FM_MODE_TRAIN, 1);
    fm_tensor x0 = tu_tensor(be, FM_F32, 4, B, 1, 8, 8), x1 = tu_tensor(be, FM_F32, 4, B, 1, 8, 8);
    fm_tensor t = tu_tensor(be, FM_F32, 1, B, 1, 1, 1), loss = tu_tensor(be, FM_F32, 1, 1, 1, 1, 1);
    tu_rand(be, &x0, 11, -1.0f, 1.0f);
    cr_assert_eq(fm_noise(be, &x1, 5, 0), FM_OK);
    tu_rand(be, &t, 12, 0.0f, 1.0f);
    fm_train_opts o = fm_train_defaults();
    o.lr = 1e-3f;
    float first = 0, mid = 0, last = 0;
    /* The same x0, x1 and t every step: the core of fm_train_step without its
     * fresh noise, then AdamW as fm_train_step applies it. */
    for (int step = 1; step <= 300; step++) {
        fm_arena_mark mark = fm_arena_get_mark(&be->arena, "step");
        cr_assert_eq(fm_fill(be, &m->grad, 0.0f), FM_OK);
        cr_assert_eq(fm_flow_loss_grad(m, &x0, &x1, &t, NULL, NULL, NULL, &loss), FM_OK, "%s",
                     be->err);
        float bc1 = 1.0f - powf(o.beta1, (float)step), bc2 = 1.0f - powf(o.beta2, (float)step);
        fm_call adam = {.op = FM_OP_ADAMW, .t = {m->flat, m->adam_m, m->adam_v, m->grad},
                        .f = {o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, bc1, bc2}};
        tu_run(be, &adam);
        fm_arena_reset(&be->arena, mark);
        float l;
        cr_assert_eq(fm_download(be, &l, &loss), FM_OK);
        cr_assert(isfinite(l), "loss %g at step %d", (double)l, step);
        if (step == 1)
            first = l;
        if (step == 50)
            mid = l;
        last = l;
    }
    printf("fixed batch: loss %.4f, %.4f after 50 steps, %.6f after 300\n", (double)first,
           (double)mid, (double)last);
    cr_expect_lt(last, 0.5f * first, "loss %g -> %g: did not halve", (double)first, (double)last);
    free(m);
}

/* Train-mode samples (kept activations) against a sampling model read from the saved
 * file (activations freed as they die; the DiT writes its residual stream in place). */
static void save_load_sample(fm_config c)
{
    fm_backend *be = tu_ref();
    fm_model *m = new_model(be, &c, FM_MODE_TRAIN, 3);
    fm_tensor x0 = tu_tensor(be, FM_F32, 4, B, 1, 8, 8);
    fm_train_opts o = fm_train_defaults();
    o.lr = 1e-3f;
    o.ema_decay = 0.9f; /* EMA and raw weights differ visibly after a few steps */
    train_steps(m, &o, &x0, 1, 5);

    char path[512], err[512];
    tmp_path(path, sizeof path, "w");
    fm_ckpt_state st = {.step = 5, .opts = {.seed = 3}};
    cr_assert_eq(fm_model_save(m, path, FM_WEIGHTS_KIND_WEIGHTS, &st, scratch(), err, sizeof err),
                 FM_OK, "%s", err);
    fm_weights w = read_weights(path);
    uint64_t v = 0;
    cr_expect(fm_weights_meta(&w, "step", &v) && v == 5);

    fm_tensor x = tu_tensor(be, FM_F32, 4, B, 1, 8, 8), y = tu_tensor(be, FM_I32, 1, B, 1, 1, 1);
    fm_tensor q = tu_tensor(be, FM_U8, 4, B, 1, 8, 8);
    int32_t yv[B] = {0, 1, 2, 3, 4, 5, 6, 7};
    tu_set_i32(be, &y, yv);
    fm_sample_opts so = {.steps = 6, .heun = 1, .guidance = 1, .cfg_scale = 2.0f};
    uint8_t a[2][B * 64], b[2][B * 64];
    const fm_tensor *blocks[2] = {&m->ema, &m->flat};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(fm_noise(be, &x, 9, 0), FM_OK);
        cr_assert_eq(fm_sample(m, blocks[k], &x, &y, &so), FM_OK, "%s", be->err);
        tu_run(be, &(fm_call){.op = FM_OP_QUANTIZE_U8, .t = {q, x}});
        cr_assert_eq(fm_download(be, a[k], &q), FM_OK);
    }
    /* A sampling model from the file: EMA by default, raw with use_raw. */
    for (int k = 0; k < 2; k++) {
        fm_model *s = calloc(1, sizeof *s);
        fm_ckpt_state got;
        cr_assert_eq(fm_model_create_from_weights(s, be, &w, FM_MODE_SAMPLE, B, k, &got, NULL, err,
                                                 sizeof err),
                     FM_OK, "%s", err);
        cr_expect_eq(got.step, 5);
        cr_assert_eq(fm_noise(be, &x, 9, 0), FM_OK);
        cr_assert_eq(fm_sample(s, &s->flat, &x, &y, &so), FM_OK, "%s", be->err);
        tu_run(be, &(fm_call){.op = FM_OP_QUANTIZE_U8, .t = {q, x}});
        cr_assert_eq(fm_download(be, b[k], &q), FM_OK);
        cr_expect_eq(memcmp(a[k], b[k], sizeof a[k]), 0, "%s samples differ after save/load",
                     k ? "raw" : "EMA");
        free(s);
    }
    cr_expect_neq(memcmp(a[0], a[1], sizeof a[0]), 0, "EMA and raw samples should differ");
    unlink(path);
    free(m);
}

Test(model, save_load_sample_is_identical) { save_load_sample(tiny_cfg(10)); }
Test(model, dit_save_load_sample_is_identical) { save_load_sample(dit_cfg(10)); }

static void resume_case(int classes)
{
    fm_backend *be = tu_ref();
    fm_config c = tiny_cfg(classes);
    const uint64_t k = 4;
    fm_train_opts o = fm_train_defaults();
    o.lr = 1e-3f;
    o.seed = 77;
    fm_tensor x0 = tu_tensor(be, FM_F32, 4, B, 1, 8, 8);

    /* 2k steps straight. */
    fm_model *a = new_model(be, &c, FM_MODE_TRAIN, 77);
    train_steps(a, &o, &x0, 1, 2 * k);

    /* k steps, checkpoint, a fresh model from the file, k more. */
    fm_model *b = new_model(be, &c, FM_MODE_TRAIN, 77);
    train_steps(b, &o, &x0, 1, k);
    char path[512], err[512];
    tmp_path(path, sizeof path, "ckpt");
    fm_ckpt_state st = {.step = k, .epoch = 1, .cursor = 1, .batch = B,
                        /* 3 batches an epoch: step 4 = 1 x 3 + 1 */
                        .data_count = 3 * B + 1, .opts = o};
    st.opts.seed = 77;
    cr_assert_eq(fm_model_save(b, path, FM_WEIGHTS_KIND_CHECKPOINT, &st, scratch(), err,
                              sizeof err),
                 FM_OK, "%s", err);
    fm_weights w = read_weights(path);
    fm_model *r = calloc(1, sizeof *r);
    fm_ckpt_state got;
    int has_state = 0;
    cr_assert_eq(fm_model_create_from_weights(r, be, &w, FM_MODE_TRAIN, B, 0, &got, &has_state,
                                             err, sizeof err),
                 FM_OK, "%s", err);
    cr_assert(has_state);
    cr_expect_eq(got.step, k);
    cr_expect_eq(got.opts.seed, 77);
    cr_expect_eq(got.epoch, 1);
    cr_expect_eq(got.cursor, 1);
    cr_expect_eq(got.batch, B);
    cr_expect_eq(got.data_count, 3 * B + 1);
    cr_expect_eq(memcmp(&got.opts.lr, &o.lr, sizeof o.lr), 0);
    cr_expect_eq(memcmp(&got.opts.label_drop, &o.label_drop, sizeof o.label_drop), 0);
    train_steps(r, &o, &x0, k + 1, 2 * k);

    const char *names[4] = {"params", "ema", "adam_m", "adam_v"};
    const fm_tensor *pa[4] = {&a->flat, &a->ema, &a->adam_m, &a->adam_v};
    const fm_tensor *pr[4] = {&r->flat, &r->ema, &r->adam_m, &r->adam_v};
    for (int i = 0; i < 4; i++) {
        float *ha = download(be, pa[i]), *hr = download(be, pr[i]);
        cr_expect_eq(memcmp(ha, hr, fm_tensor_bytes(pa[i])), 0,
                     "%s differ between 2k straight steps and k + resume + k", names[i]);
        free(ha);
        free(hr);
    }
    unlink(path);
    free(a);
    free(b);
    free(r);
}

Test(model, resume_is_bit_identical) { resume_case(0); }
Test(model, resume_is_bit_identical_conditional) { resume_case(10); }

Test(model, loader_rejects_config_and_shape_mismatch)
{
    fm_backend *be = tu_ref();
    fm_config c = tiny_cfg(0);
    fm_model *m = new_model(be, &c, FM_MODE_SAMPLE, 1);
    char path[512], err[512];
    tmp_path(path, sizeof path, "rej");
    cr_assert_eq(fm_model_save(m, path, FM_WEIGHTS_KIND_WEIGHTS, NULL, scratch(), err, sizeof err),
                 FM_OK, "%s", err);
    fm_weights w = read_weights(path);

    /* Config mismatch: both configs in the message. */
    fm_config c2 = c;
    c2.base_channels = 16;
    fm_model *o = calloc(1, sizeof *o);
    cr_assert_eq(fm_model_create(o, be, &c2, FM_MODE_SAMPLE, B), FM_OK, "%s", be->err);
    cr_assert_eq(fm_model_load(o, &w, 0, NULL, NULL, err, sizeof err), FM_ERR_FORMAT);
    cr_expect(strstr(err, "config mismatch") && strstr(err, "base_channels=8") &&
                  strstr(err, "base_channels=16"),
              "message: %s", err);

    /* A sample-mode file has no raw weights. */
    cr_assert_eq(fm_model_load(m, &w, 1, NULL, NULL, err, sizeof err), FM_ERR_FORMAT);
    cr_expect(strstr(err, "no raw weights"), "message: %s", err);

    /* Same config, one tensor with another shape of the same size, and one missing. */
    fm_wtensor t[FM_MAX_PARAMS];
    float *host = download(be, &m->flat);
    for (int i = 0; i < m->nparams; i++) {
        memset(&t[i], 0, sizeof t[i]);
        snprintf(t[i].name, sizeof t[i].name, "%s", m->params[i].name);
        t[i].dtype = FM_F32;
        t[i].ndim = m->params[i].t.ndim;
        for (int d = 0; d < 4; d++)
            t[i].shape[d] = m->params[i].t.shape[d];
        t[i].data = host + m->params[i].offset;
        t[i].bytes = fm_tensor_bytes(&m->params[i].t);
    }
    int ci = -1;
    for (int i = 0; i < m->nparams; i++)
        if (strcmp(t[i].name, "conv_in.weight") == 0)
            ci = i;
    cr_assert_geq(ci, 0);
    t[ci].shape[0] = 4; /* 8x1x3x3 -> 4x2x3x3 */
    t[ci].shape[1] = 2;
    cr_assert_eq(fm_weights_save(path, FM_WEIGHTS_KIND_WEIGHTS, &c, t, m->nparams, NULL, 0,
                                 scratch(), err, sizeof err),
                 FM_OK, "%s", err);
    w = read_weights(path);
    cr_assert_eq(fm_model_load(m, &w, 0, NULL, NULL, err, sizeof err), FM_ERR_FORMAT);
    cr_expect(strstr(err, "conv_in.weight") && strstr(err, "8x1x3x3") && strstr(err, "4x2x3x3"),
              "message: %s", err);

    t[ci].shape[0] = 8;
    t[ci].shape[1] = 1;
    cr_assert_eq(fm_weights_save(path, FM_WEIGHTS_KIND_WEIGHTS, &c, t, m->nparams - 1, NULL, 0,
                                 scratch(), err, sizeof err),
                 FM_OK, "%s", err);
    w = read_weights(path);
    cr_assert_eq(fm_model_load(m, &w, 0, NULL, NULL, err, sizeof err), FM_ERR_FORMAT);
    cr_expect(strstr(err, "missing") && strstr(err, m->params[m->nparams - 1].name), "message: %s",
              err);

    /* A checkpoint needs a training model. */
    fm_ckpt_state st = {0};
    cr_expect_eq(fm_model_save(m, path, FM_WEIGHTS_KIND_CHECKPOINT, &st, scratch(), err,
                              sizeof err),
                 FM_ERR_ARG);
    unlink(path);
    free(host);
    free(m);
    free(o);
}

/* A file's config is only range-checked field by field; the planner must turn a
 * config whose tensors overflow into an error. The largest attention of a valid
 * config (image 4096, one level, 262144 channels and heads) has 2^66 elements;
 * its element count used to overflow int64_t (undefined behaviour) inside
 * fm_tensor_numel. Same bytes as tests/fuzz/regress/checkpoint/plan-attention-overflow. */
Test(model, plan_refuses_a_config_whose_sizes_overflow)
{
    fm_config c = {.in_channels = 1, .image = 4096, .base_channels = 4096, .levels = 1,
                   .channel_mult = {64}, .res_blocks = 1, .time_dim = 4, .heads = 262144,
                   .groups = 1, .num_classes = 0};
    char msg[200], err[512];
    cr_assert_eq(fm_config_validate(&c, msg, sizeof msg), FM_OK, "%s", msg);
    fm_model *scratch_model = malloc(sizeof *scratch_model);
    cr_assert_not_null(scratch_model);
    fm_plan p;
    for (int mode = 0; mode < 2; mode++) {
        err[0] = 0;
        fm_status s = fm_model_plan(&c, (fm_mode)mode, 1, scratch_model, &p, err, sizeof err);
        cr_expect_eq(s, FM_ERR_ARENA, "mode %d: status %d (%s)", mode, s, err);
        cr_expect(strstr(err, "overflows") != NULL, "mode %d: message: %s", mode, err);
    }
    free(scratch_model);
}

/* Issue #7: the sampling arena of the mnist preset at batch 64 stays within 1.25x of
 * the live-set lower bound the plan backend measures on the same run (parameters plus
 * the most activations alive at one time), with and without classifier-free guidance
 * (--classes 10: two forwards per velocity). A memory regression check, not a timing:
 * the figures are deterministic. Training plans must still be above their bound. */
Test(model, mnist_sample_arena_within_1_25x_of_live_set)
{
    fm_model *scratch_model = malloc(sizeof *scratch_model);
    void *track = malloc(FM_MODEL_PLAN_TRACK_BYTES);
    cr_assert(scratch_model && track);
    char err[512];
    for (int k = 0; k <= 10; k += 10) {
        fm_config c;
        cr_assert_eq(fm_config_preset(&c, "mnist"), FM_OK);
        c.num_classes = k;
        fm_plan sp, tp;
        cr_assert_eq(fm_model_plan_live(&c, FM_MODE_SAMPLE, 64, scratch_model, track,
                                       FM_MODEL_PLAN_TRACK_BYTES, &sp, err, sizeof err),
                     FM_OK, "%s", err);
        cr_expect_gt(sp.live_bytes, sp.params_bytes, "classes %d: bound %zu", k, sp.live_bytes);
        cr_expect_leq(sp.live_bytes, sp.total_bytes, "classes %d: bound %zu above arena %zu", k,
                      sp.live_bytes, sp.total_bytes);
        cr_expect_leq((double)sp.total_bytes, 1.25 * (double)sp.live_bytes,
                      "classes %d: sample arena %zu is %.3fx the live set %zu", k, sp.total_bytes,
                      (double)sp.total_bytes / (double)sp.live_bytes, sp.live_bytes);
        cr_assert_eq(fm_model_plan_live(&c, FM_MODE_TRAIN, 8, scratch_model, track,
                                       FM_MODEL_PLAN_TRACK_BYTES, &tp, err, sizeof err),
                     FM_OK, "%s", err);
        cr_expect(tp.live_bytes > tp.state_bytes && tp.live_bytes <= tp.total_bytes,
                  "classes %d: train bound %zu, state %zu, arena %zu", k, tp.live_bytes,
                  tp.state_bytes, tp.total_bytes);
    }
    /* Too little tracker memory is an error that names what it needs. */
    fm_config c;
    fm_config_preset(&c, "tiny");
    fm_plan p;
    cr_expect_eq(fm_model_plan_live(&c, FM_MODE_SAMPLE, 1, scratch_model, track, 4096, &p, err,
                                   sizeof err),
                 FM_ERR_ARENA);
    cr_expect(strstr(err, "give the plan backend") != NULL, "%s", err);
    free(track);
    free(scratch_model);
}

/* ---- numerical faults: fm_grad_check and the guard inside fm_train_step ------------- */

/* fault_step scales dL/dv by +inf at that step: every gradient turns NaN/inf while the
 * loss stays finite. The step must fail naming the step and a parameter, before AdamW
 * and EMA touch anything; the same step run again without the fault must then give
 * exactly the state of a run that never saw it. */
Test(model, nonfinite_gradient_stops_before_the_update)
{
    fm_backend *be = tu_ref();
    fm_config c = tiny_cfg(0);
    fm_train_opts o = fm_train_defaults();
    o.lr = 1e-3f;
    o.seed = 5;
    fm_tensor x0 = tu_tensor(be, FM_F32, 4, B, 1, 8, 8);
    fm_model *a = new_model(be, &c, FM_MODE_TRAIN, 5), *b = new_model(be, &c, FM_MODE_TRAIN, 5);
    train_steps(a, &o, &x0, 1, 3);
    train_steps(b, &o, &x0, 1, 2);

    const fm_tensor *blocks[4] = {&b->flat, &b->ema, &b->adam_m, &b->adam_v};
    float *before[4];
    for (int i = 0; i < 4; i++)
        before[i] = download(be, blocks[i]);
    fm_train_opts bad = o;
    bad.fault_step = 3;
    int32_t y[B];
    float loss = -1;
    batch(be, &x0, y, 3);
    cr_assert_eq(fm_train_step(b, &bad, &x0, NULL, 3, &loss), FM_ERR_NUMERIC, "%s", be->err);
    char want[96];
    snprintf(want, sizeof want, "step 3: non-finite gradient in %s (loss ", b->params[0].name);
    cr_expect(strstr(be->err, want) != NULL, "message: %s", be->err);
    cr_expect(isfinite(loss), "the loss itself is finite: %g", (double)loss);
    for (int i = 0; i < 4; i++) {
        float *now = download(be, blocks[i]);
        cr_expect_eq(memcmp(now, before[i], fm_tensor_bytes(blocks[i])), 0,
                     "block %d changed by the failed step", i);
        free(now);
        free(before[i]);
    }

    /* A retry without the fault continues as if nothing had happened. */
    train_steps(b, &o, &x0, 3, 3);
    float *ha = download(be, &a->flat), *hb = download(be, &b->flat);
    cr_expect_eq(memcmp(ha, hb, fm_tensor_bytes(&a->flat)), 0, "weights differ after the retry");
    free(ha);
    free(hb);
    free(a);
    free(b);
}

/* ---- data parallelism: fm_train_opts.shard and grad_hook ---------------------------- */

/* What the hook saw; it then fails the step, which must leave the weights as they were. */
typedef struct captured {
    float *grad, loss;
    int calls;
} captured;

static fm_status capture_hook(void *user, fm_backend *be, const fm_tensor *grad, float *loss)
{
    captured *c = user;
    c->grad = download(be, grad);
    c->loss = *loss;
    c->calls++;
    return fm_fail(be, FM_ERR_ARG, "captured");
}

/* The gradient of rows shard .. shard + n of the global batch (x, y: the whole batch). */
static captured half_step(fm_backend *be, const fm_config *c, const float *x, const int32_t *y,
                          int n, int shard)
{
    fm_model *m = calloc(1, sizeof *m);
    cr_assert_not_null(m);
    cr_assert_eq(fm_model_create(m, be, c, FM_MODE_TRAIN, n), FM_OK, "%s", be->err);
    cr_assert_eq(fm_model_init(m, 5), FM_OK, "%s", be->err);
    fm_tensor xs = tu_tensor(be, FM_F32, 4, n, 1, 8, 8);
    cr_assert_eq(fm_upload(be, &xs, x + (size_t)shard * 64), FM_OK);
    captured got = {0};
    fm_train_opts o = fm_train_defaults();
    o.seed = 11;
    o.shard = shard;
    o.grad_hook = capture_hook;
    o.grad_user = &got;
    float *before = download(be, &m->flat), loss;
    cr_assert_eq(fm_train_step(m, &o, &xs, y + shard, 4, &loss), FM_ERR_ARG);
    float *after = download(be, &m->flat);
    cr_expect_eq(memcmp(before, after, fm_tensor_bytes(&m->flat)), 0,
                 "a failed hook left the weights changed");
    cr_expect_eq(got.calls, 1, "hook called %d times in one step", got.calls);
    free(before);
    free(after);
    free(m);
    return got;
}

/* Two ranks' slices of one global batch (shard 0 and B/2), their gradients and losses
 * averaged, are the whole batch's on one rank: the noise, t and label dropout of
 * each slice are the global rows' (the RNG's first counter), and the hook sees the
 * gradient before the update. Only the summation order differs. */
Test(model, shards_averaged_by_the_hook_are_the_whole_batch)
{
    fm_backend *be = tu_ref();
    fm_config c = tiny_cfg(10);
    fm_tensor x0 = tu_tensor(be, FM_F32, 4, B, 1, 8, 8);
    int32_t y[B];
    batch(be, &x0, y, 4);
    float *x = download(be, &x0);
    captured whole = half_step(be, &c, x, y, B, 0);
    captured h0 = half_step(be, &c, x, y, B / 2, 0), h1 = half_step(be, &c, x, y, B / 2, B / 2);
    int64_t P = 0;
    fm_param params[FM_MAX_PARAMS];
    fm_model_layout(&c, params, FM_MAX_PARAMS, &P);
    double dd = 0, ww = 0;
    for (int64_t i = 0; i < P; i++) {
        double avg = 0.5 * ((double)h0.grad[i] + h1.grad[i]), d = avg - whole.grad[i];
        dd += d * d;
        ww += (double)whole.grad[i] * whole.grad[i];
    }
    cr_expect(sqrt(dd / ww) < 1e-6, "averaged slice gradients: rel L2 %.3g", sqrt(dd / ww));
    float lavg = 0.5f * (h0.loss + h1.loss);
    cr_expect(fabsf(lavg - whole.loss) <= 1e-6f * whole.loss, "loss %.9g vs %.9g", (double)lavg,
              (double)whole.loss);
    free(x);
    free(whole.grad);
    free(h0.grad);
    free(h1.grad);
}

/* The locator: NaN in one parameter's gradient and inf in a later one name the first;
 * a non-finite loss is reported as such; two finite gradients whose sum overflows
 * are reported as an overflow. */
Test(model, grad_check_names_the_first_bad_tensor)
{
    fm_backend *be = tu_ref();
    fm_config c = tiny_cfg(10);
    fm_model *m = new_model(be, &c, FM_MODE_TRAIN, 1);
    cr_assert_gt(m->nparams, 20);
    cr_assert_eq(fm_fill(be, &m->grad, 0.25f), FM_OK);
    cr_expect_eq(fm_grad_check(m, 9, 0.5f), FM_OK, "%s", be->err);

    cr_expect_eq(fm_grad_check(m, 9, NAN), FM_ERR_NUMERIC);
    cr_expect(strstr(be->err, "step 9: non-finite loss") != NULL, "message: %s", be->err);

    float *g = download(be, &m->grad);
    const int first = 17, later = 20;
    g[m->params[later].offset] = INFINITY;
    g[m->params[first].offset + fm_tensor_numel(&m->params[first].t) - 1] = NAN;
    cr_assert_eq(fm_upload(be, &m->grad, g), FM_OK);
    cr_expect_eq(fm_grad_check(m, 12, 0.1234f), FM_ERR_NUMERIC);
    char want[96];
    snprintf(want, sizeof want, "step 12: non-finite gradient in %s (loss 0.1234)",
             m->params[first].name);
    cr_expect_str_eq(be->err, want);

    for (int64_t i = 0; i < m->nfloats; i++)
        g[i] = 0.0f;
    g[m->params[first].offset] = 3e38f;
    g[m->params[later].offset] = 3e38f;
    cr_assert_eq(fm_upload(be, &m->grad, g), FM_OK);
    cr_expect_eq(fm_grad_check(m, 4, 1.0f), FM_ERR_NUMERIC);
    cr_expect(strstr(be->err, "step 4: the gradient sum overflows") != NULL, "message: %s",
              be->err);
    free(g);
    free(m);
}

/* Modules in a parameter table: the params of one module are consecutive and share
 * its "enc.N." / "mid.N." / "dec.N." prefix (Down and Up have a conv, so every
 * module has at least one parameter). */
static int count_modules(const fm_param *p, int np)
{
    int nm = 0;
    const char *last = "";
    size_t last_len = 0;
    for (int i = 0; i < np; i++) {
        const char *n = p[i].name;
        if (strncmp(n, "enc.", 4) && strncmp(n, "mid.", 4) && strncmp(n, "dec.", 4))
            continue;
        size_t len = (size_t)(strchr(n + 4, '.') - n);
        if (len != last_len || strncmp(n, last, len) != 0)
            nm++;
        last = n;
        last_len = len;
    }
    return nm;
}

/* The layout's walk without a table (params NULL) counts, so that validation can
 * refuse a config the model's tables cannot hold; it must agree with the table that
 * fm_model_layout fills for every level count and res_blocks up to the maxima, with
 * and without class embedding and ResBlock skip convs. A table larger than
 * FM_MAX_PARAMS lets the layout count the configs that validation refuses; the
 * U-Net's module table (unet.c) holds 96 modules. */
Test(model, layout_counts_match_fm_model_layout)
{
    static fm_param params[4 * FM_MAX_PARAMS];
    static const int mults[3][FM_MAX_LEVELS] = {{1, 2, 2, 4}, {1, 1, 1, 1}, {4, 2, 1, 2}};
    int checked = 0, refused = 0;
    for (int L = 1; L <= FM_MAX_LEVELS; L++)
        for (int R = 1; R <= FM_MAX_RES_BLOCKS; R++)
            for (int mi = 0; mi < 3; mi++)
                for (int k = 0; k <= 10; k += 10) {
                    fm_config c = {.in_channels = 1, .image = 8, .base_channels = 8, .levels = L,
                                   .res_blocks = R, .time_dim = 16, .heads = 2, .groups = 4,
                                   .num_classes = k};
                    memcpy(c.channel_mult, mults[mi], sizeof c.channel_mult);
                    int64_t P;
                    int64_t Pc;
                    int np = fm_model_layout(&c, params, 4 * FM_MAX_PARAMS, &P);
                    int cp = fm_model_layout(&c, NULL, 0, &Pc);
                    cr_expect_eq(cp, np, "L %d R %d mult %d K %d: params", L, R, mi, k);
                    cr_expect_eq(Pc, P, "L %d R %d mult %d K %d: floats", L, R, mi, k);
                    char msg[200];
                    int fits = np <= FM_MAX_PARAMS && count_modules(params, np) <= 96;
                    cr_expect_eq(fm_config_validate(&c, msg, sizeof msg) == FM_OK, fits,
                                 "L %d R %d mult %d K %d (%d params): %s", L, R, mi, k, np, msg);
                    checked++;
                    refused += !fits;
                }
    cr_expect_eq(checked, FM_MAX_LEVELS * FM_MAX_RES_BLOCKS * 6);
    cr_expect_gt(refused, 0, "the largest configs overflow the tables");
}

/* Issue 12: a value out of range is reported with its range, a divisibility rule
 * only for a value in range, and a config too big for the model's tables by the
 * field and the count, before anything is built. */
Test(model, config_messages_name_the_problem)
{
    static const struct {
        const char *key, *value, *want;
    } cases[] = {
        {"image", "4100", "image 4100 out of range 1..4096"},
        {"image", "30", "image 30 must be divisible by 2^(levels-1) = 4"},
        {"base_channels", "2", "base_channels 2 out of range 4..4096"},
        {"base_channels", "36", "base_channels 36 must be a multiple of groups 8"},
        {"groups", "0", "groups 0 out of range 1..1024"},
        {"time_dim", "0", "time_dim 0 out of range 1..65536"},
        {"heads", "0", "heads 0 out of range 1..128 (the middle width)"},
        {"heads", "3", "heads 3 must divide the middle width 128"},
        {"res_blocks", "9", "res_blocks 9 out of range 1..8"},
    };
    char msg[200];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fm_config c;
        cr_assert_eq(fm_config_preset(&c, "mnist"), FM_OK);
        cr_assert_eq(fm_config_set(&c, cases[i].key, cases[i].value, msg, sizeof msg), FM_OK);
        msg[0] = 0;
        cr_expect_eq(fm_config_validate(&c, msg, sizeof msg), FM_ERR_ARG, "%s", cases[i].want);
        cr_expect_str_eq(msg, cases[i].want);
    }
    fm_config c;
    cr_assert_eq(fm_config_preset(&c, "mnist"), FM_OK);
    c.base_channels = 5;
    c.groups = 5;
    c.heads = 5;
    cr_expect_eq(fm_config_validate(&c, msg, sizeof msg), FM_ERR_ARG);
    cr_expect_str_eq(msg, "base_channels 5 must be even (sinusoidal embedding)");

    /* res_blocks 7 on mnist: its count is the layout's, named with the limit. */
    static fm_param params[4 * FM_MAX_PARAMS];
    cr_assert_eq(fm_config_preset(&c, "mnist"), FM_OK);
    c.res_blocks = 7;
    int np = fm_model_layout(&c, params, 4 * FM_MAX_PARAMS, NULL);
    char want[200];
    snprintf(want, sizeof want,
             "res_blocks 7 with 3 levels needs %d parameter tensors, more than the %d this build "
             "supports (FM_MAX_PARAMS)", np, FM_MAX_PARAMS);
    cr_expect_eq(fm_config_validate(&c, msg, sizeof msg), FM_ERR_ARG);
    cr_expect_str_eq(msg, want);
    /* The model refuses it with the same words, not an overflow of its tables. */
    fm_model *m = calloc(1, sizeof *m);
    cr_assert_not_null(m);
    fm_backend *be = tu_ref();
    cr_expect_eq(fm_model_create(m, be, &c, FM_MODE_SAMPLE, 1), FM_ERR_ARG);
    cr_expect(strstr(be->err, want) != NULL, "%s", be->err);
    free(m);
}

/* Issue 12: AdamW with a beta outside [0, 1) names the beta and its range rather
 * than the bias correction it spoils; a correction <= 0 with good betas (step 0)
 * still names the corrections, with their values. */
Test(model, adamw_names_a_bad_beta)
{
    fm_backend *be = tu_ref();
    fm_tensor t[4];
    for (int i = 0; i < 4; i++)
        t[i] = tu_tensor(be, FM_F32, 1, 3, 1, 1, 1);
    static const struct {
        float b1, b2, bc1, bc2;
        const char *want;
    } cases[] = {
        {1.0f, 0.999f, 0.0f, 0.001f, "beta1 1 is outside [0, 1)"},
        {0.9f, 1.5f, 0.1f, -0.5f, "beta2 1.5 is outside [0, 1)"},
        {-0.1f, 0.999f, 1.1f, 0.001f, "beta1 -0.1 is outside [0, 1)"},
        {NAN, 0.999f, 0.1f, 0.001f, "beta1 nan is outside [0, 1)"},
        {0.9f, 0.999f, 0.0f, 0.0f,
         "bias corrections f5 = 1 - beta1^step = 0 and f6 = 1 - beta2^step = 0 must be > 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fm_call c = {.op = FM_OP_ADAMW, .t = {t[0], t[1], t[2], t[3]},
                     .f = {1e-3f, cases[i].b1, cases[i].b2, 1e-8f, 0.01f, cases[i].bc1,
                           cases[i].bc2}};
        cr_expect_eq(fm_run(be, &c), FM_ERR_ARG, "%s", cases[i].want);
        cr_expect(strstr(be->err, cases[i].want) != NULL, "message '%s' lacks '%s'", be->err,
                  cases[i].want);
    }
}

/* ---- hostile files ------------------------------------------------------------------ */

/* A checkpoint of the tiny model, its bytes in malloc'd memory. */
static uint8_t *tiny_checkpoint(size_t *len, fm_ckpt_state *st)
{
    fm_backend *be = tu_ref();
    fm_config c = tiny_cfg(10);
    fm_model *m = new_model(be, &c, FM_MODE_TRAIN, 3);
    *st = (fm_ckpt_state){.step = 5, .epoch = 1, .cursor = 2, .batch = B,
                          .data_count = 3 * B, /* 3 batches an epoch: 5 = 1 x 3 + 2 */
                          .opts = fm_train_defaults()};
    st->opts.seed = 3;
    char path[512], err[512];
    tmp_path(path, sizeof path, "hostile");
    cr_assert_eq(fm_model_save(m, path, FM_WEIGHTS_KIND_CHECKPOINT, st, scratch(), err,
                              sizeof err), FM_OK, "%s", err);
    free(m);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    uint8_t *buf = aligned_alloc(64, (*len + 63) & ~(size_t)63);
    cr_assert(buf && fread(buf, 1, *len, f) == *len);
    fclose(f);
    unlink(path);
    return buf;
}

/* Rewrite the file's trailing CRC-32 after a patch, and parse it again. */
static fm_weights reparse(uint8_t *buf, size_t len)
{
    uint32_t crc = (uint32_t)crc32(0L, buf, (uInt)(len - 4));
    for (int i = 0; i < 4; i++)
        buf[len - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
    fm_weights w;
    char err[512];
    cr_assert_eq(fm_weights_parse(buf, len, &w, err, sizeof err), FM_OK, "%s", err);
    return w;
}

/* Metadata entry `key`: its key renamed to newkey (NULL: kept), its value set. */
static void patch_meta(uint8_t *buf, size_t len, const char *key, const char *newkey,
                       uint64_t value)
{
    fm_weights w = reparse(buf, len);
    for (int i = 0; i < w.nmeta; i++) {
        uint8_t *e = buf + (w.meta - buf) + (size_t)i * FM_WEIGHTS_META_BYTES;
        if (strncmp((const char *)e, key, FM_WEIGHTS_KEY) != 0)
            continue;
        if (newkey) {
            memset(e, 0, FM_WEIGHTS_KEY);
            memcpy(e, newkey, strlen(newkey));
        }
        for (int b = 0; b < 8; b++)
            e[FM_WEIGHTS_KEY + b] = (uint8_t)(value >> (8 * b));
        return;
    }
    cr_assert_fail("no metadata key %s", key);
}

static uint64_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Every checkpoint field is required and held to its flag's rule; the reproducers of
 * the issue (ema_decay NaN, lr 0 or -1, eps -1 or inf, label_drop NaN, betas out of
 * range, missing keys, epoch 2^64 - 1) each give one message naming the field. */
Test(model, checkpoint_state_is_checked)
{
    size_t len;
    fm_ckpt_state st0, st;
    uint8_t *good = tiny_checkpoint(&len, &st0);
    uint8_t *buf = malloc(len);
    cr_assert_not_null(buf);
    const struct {
        const char *key, *newkey;
        uint64_t value;
        const char *want;
    } cases[] = {
        {"ema_decay", NULL, float_bits(NAN), "ema_decay nan is outside [0, 1]"},
        {"lr", NULL, float_bits(0.0f), "lr 0 is outside (0, 10]"},
        {"lr", NULL, float_bits(-1.0f), "lr -1 is outside (0, 10]"},
        {"eps", NULL, float_bits(-1.0f), "eps -1 is outside (0, 1]"},
        {"eps", NULL, float_bits(INFINITY), "eps inf is outside (0, 1]"},
        {"label_drop", NULL, float_bits(NAN), "label_drop nan is outside [0, 1]"},
        {"beta1", NULL, float_bits(1.0f), "beta1 1 is outside [0, 1)"},
        {"beta2", NULL, float_bits(-0.5f), "beta2 -0.5 is outside [0, 1)"},
        {"weight_decay", NULL, 1ull << 40, "weight_decay = 0x10000000000 is not a float32"},
        {"lr", "lR", float_bits(1e-4f), "checkpoint metadata 'lr' is missing"},
        {"step", "stop", 5, "checkpoint metadata 'step' is missing"},
        {"epoch", NULL, UINT64_MAX, "metadata disagree: step 5 is not epoch"},
        {"cursor", NULL, 3, "metadata disagree"},
        {"batch", NULL, 0, "batch = 0 is outside 1..1024"},
        {"data_count", NULL, 1ull << 40, "data_count = 1099511627776 is outside"},
        {"seed", NULL, UINT64_MAX, "seed = 18446744073709551615 is outside"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(buf, good, len);
        patch_meta(buf, len, cases[i].key, cases[i].newkey, cases[i].value);
        fm_weights w = reparse(buf, len);
        cr_expect_eq(fm_ckpt_state_read(&w, &st, err, sizeof err), FM_ERR_FORMAT, "%s: accepted",
                     cases[i].key);
        cr_expect(strstr(err, cases[i].want) != NULL, "%s: '%s' lacks '%s'", cases[i].key, err,
                  cases[i].want);
    }
    /* The loader runs the same check before uploading anything. */
    memcpy(buf, good, len);
    patch_meta(buf, len, "ema_decay", NULL, float_bits(NAN));
    fm_weights w = reparse(buf, len);
    fm_model *m = calloc(1, sizeof *m);
    cr_assert_not_null(m);
    cr_expect_eq(fm_model_create_from_weights(m, tu_ref(), &w, FM_MODE_TRAIN, B, 0, &st, NULL, err,
                                             sizeof err), FM_ERR_FORMAT);
    cr_expect(strstr(err, "ema_decay nan") != NULL, "%s", err);
    /* The untouched file reads back as saved. */
    w = reparse(good, len);
    cr_expect_eq(fm_ckpt_state_read(&w, &st, err, sizeof err), FM_OK, "%s", err);
    cr_expect(st.step == st0.step && st.epoch == st0.epoch && st.cursor == st0.cursor &&
              st.data_count == st0.data_count && st.opts.lr == st0.opts.lr &&
              st.opts.ema_decay == st0.opts.ema_decay &&
              st.opts.label_drop == st0.opts.label_drop);
    free(m);
    free(buf);
    free(good);
}

/* A NaN or inf parameter is refused with the tensor's name and the count, and a
 * negative AdamW second moment too, instead of sampling black images. */
Test(model, loader_refuses_nonfinite_values)
{
    size_t len;
    fm_ckpt_state st;
    uint8_t *buf = tiny_checkpoint(&len, &st);
    fm_weights w = reparse(buf, len);
    fm_wtensor t;
    char err[512];
    fm_model *scratch_m = calloc(1, sizeof *scratch_m);
    cr_assert_not_null(scratch_m);
    /* Two bad values in the EMA conv_in.weight (the canonical tensor). */
    cr_assert_eq(fm_weights_tensor(&w, fm_weights_find(&w, "conv_in.weight"), &t), FM_OK);
    float bad[2] = {NAN, -INFINITY};
    memcpy(buf + ((const uint8_t *)t.data - buf), bad, sizeof bad);
    w = reparse(buf, len);
    cr_expect_eq(fm_model_check_weights(&w, FM_MODE_SAMPLE, 0, scratch_m, err, sizeof err),
                 FM_ERR_FORMAT);
    cr_expect(strstr(err, "tensor 'conv_in.weight': 2 of its 72 values are not finite") != NULL,
              "%s", err);
    /* The raw copy is fine: sampling the raw weights works. */
    cr_expect_eq(fm_model_check_weights(&w, FM_MODE_SAMPLE, 1, scratch_m, err, sizeof err), FM_OK,
                 "%s", err);
    /* A negative second moment. */
    uint8_t *good = tiny_checkpoint(&len, &st);
    w = reparse(good, len);
    cr_assert_eq(fm_weights_tensor(&w, fm_weights_find(&w, "adam_v"), &t), FM_OK);
    float neg = -1.0f;
    memcpy(good + ((const uint8_t *)t.data - good) + 4 * 7, &neg, sizeof neg);
    w = reparse(good, len);
    cr_expect_eq(fm_model_check_weights(&w, FM_MODE_TRAIN, 0, scratch_m, err, sizeof err),
                 FM_ERR_FORMAT);
    cr_expect(strstr(err, "tensor 'adam_v': 1 of its") != NULL && strstr(err, "negative"), "%s",
              err);
    free(scratch_m);
    free(buf);
    free(good);
}

/* A header can claim a config whose parameters need far more memory than the file
 * holds (time_dim 65535: ~17 GB); the tensor directory is checked against the
 * config's layout, so the claim fails before anything is planned or allocated. */
Test(model, header_cannot_size_more_than_the_file)
{
    size_t len;
    fm_ckpt_state st;
    uint8_t *buf = tiny_checkpoint(&len, &st);
    const size_t time_dim_at = 24 + 4 * 9; /* docs/weights-format.md: config slot 9 */
    for (int b = 0; b < 4; b++)
        buf[time_dim_at + (size_t)b] = (uint8_t)(65535u >> (8 * b));
    fm_weights w = reparse(buf, len);
    cr_assert_eq(w.cfg.time_dim, 65535);
    fm_model *s = calloc(1, sizeof *s);
    cr_assert_not_null(s);
    int64_t nfloats = 0;
    cr_assert(fm_model_layout(&w.cfg, s->params, FM_MAX_PARAMS, &nfloats) > 0);
    cr_expect_gt((double)nfloats * 4, 1e9, "the claim: %lld floats", (long long)nfloats);
    cr_expect_lt((double)len, 1e7);
    char err[512];
    for (int mode = 0; mode < 2; mode++) {
        cr_expect_eq(fm_model_check_weights(&w, (fm_mode)mode, 0, s, err, sizeof err),
                     FM_ERR_FORMAT);
        cr_expect(strstr(err, "model expects f32") != NULL && strstr(err, "65535"), "%s", err);
    }
    free(s);
    free(buf);
}

/* An infinite weight (put there without the loader, which refuses NaN and
 * inf) makes the sampler stop at the first non-finite state, naming the step, rather
 * than hand back an image that quantises to black. */
Test(model, sampling_stops_on_a_nonfinite_state)
{
    fm_backend *be = tu_ref();
    fm_config c = tiny_cfg(0);
    fm_model *m = new_model(be, &c, FM_MODE_SAMPLE, 5);
    const fm_param *p = fm_model_find(m, "conv_out.bias");
    cr_assert_not_null(p);
    float big = INFINITY;
    fm_tensor v = p->t;
    v.shape[0] = 1;
    cr_assert_eq(fm_upload(be, &v, &big), FM_OK, "%s", be->err);
    fm_tensor x = tu_tensor(be, FM_F32, 4, 2, 1, 8, 8);
    cr_assert_eq(fm_noise(be, &x, 1, 0), FM_OK);
    fm_sample_opts o = {.steps = 4};
    cr_expect_eq(fm_sample(m, &m->flat, &x, NULL, &o), FM_ERR_NUMERIC);
    cr_expect(strstr(be->err, "sampling step 1 produced non-finite values") != NULL, "%s",
              be->err);
    free(m);
}

/* 20 AdamW steps of classifier c on one batch x with labels y: the loss halves.
 * Returns how many of the last step's argmax logits were right. */
static int learns(fm_model *c, const fm_cls_opts *o, const fm_tensor *x, const int32_t *y)
{
    float first = 0, last = 0;
    int ok = 0;
    for (int s = 1; s <= 20; s++) {
        cr_assert_eq(fm_classifier_train_step(c, o, x, y, (uint64_t)s, &last, &ok), FM_OK, "%s",
                     c->be->err);
        if (s == 1)
            first = last;
    }
    cr_expect_lt(last, 0.5f * first, "loss %g -> %g", (double)first, (double)last);
    return ok;
}

/* The classifier: a fixed batch's loss falls under AdamW, and a saved and
 * reloaded classifier gives the same logits; a U-Net file is refused. */
Test(model, classifier_learns_and_round_trips)
{
    fm_backend *be = tu_ref();
    fm_model *c = calloc(2, sizeof *c);
    cr_assert_eq(fm_classifier_create(&c[0], be, NULL, 4, FM_MODE_TRAIN), FM_OK, "%s", be->err);
    cr_assert_eq(fm_classifier_init(&c[0], 7), FM_OK);
    cr_expect_eq(fm_classifier_param_count(NULL), 426122);
    fm_tensor x = tu_tensor(be, FM_F32, 4, 4, 1, 28, 28);
    fm_tensor lg = tu_tensor(be, FM_F32, 2, 4, 10, 1, 1);
    fm_tensor f = tu_tensor(be, FM_F32, 2, 4, 128, 1, 1);
    tu_rand(be, &x, 3, -1.0f, 1.0f);
    int32_t y[4] = {1, 7, 3, 0};
    fm_cls_opts o = fm_cls_defaults();
    learns(&c[0], &o, &x, y);
    char path[512];
    tmp_path(path, sizeof path, "cls");
    cr_assert_eq(fm_classifier_save(&c[0], path, NULL, NULL, scratch()), FM_OK, "%s", be->err);
    fm_weights w = read_weights(path);
    cr_assert_eq(fm_classifier_create(&c[1], be, NULL, 4, FM_MODE_SAMPLE), FM_OK, "%s", be->err);
    cr_assert_eq(fm_classifier_load(&c[1], &w), FM_OK, "%s", be->err);
    float a[40], b[40];
    cr_assert_eq(fm_classifier_forward(&c[0], &x, &f, &lg), FM_OK, "%s", be->err);
    tu_get(be, &lg, a);
    cr_assert_eq(fm_classifier_forward(&c[1], &x, NULL, &lg), FM_OK, "%s", be->err);
    tu_get(be, &lg, b);
    cr_expect_eq(memcmp(a, b, sizeof a), 0, "logits differ after save/load");
    cr_expect_eq(fm_classifier_count_correct(a, y, 4, 10), 4);
    unlink(path);
    fm_model *m = calloc(1, sizeof *m);
    fm_config cfg = tiny_cfg(0);
    cr_assert_eq(fm_model_create(m, be, &cfg, FM_MODE_SAMPLE, 1), FM_OK, "%s", be->err);
    tmp_path(path, sizeof path, "unet");
    char err[512];
    fm_ckpt_state st = {0};
    cr_assert_eq(fm_model_save(m, path, FM_WEIGHTS_KIND_WEIGHTS, &st, scratch(), err, sizeof err),
                 FM_OK, "%s", err);
    w = read_weights(path);
    cr_expect_eq(fm_classifier_load(&c[1], &w), FM_ERR_FORMAT);
    unlink(path);
    free(m);
    free(c);
}

/* The directory entries of m's parameters over host (a copy of m's flat block). */
static int param_dir(const fm_model *m, const float *host, fm_wtensor *t)
{
    for (int i = 0; i < m->nparams; i++)
        cr_assert_eq(fm_wtensor_of_param(&t[i], "", &m->params[i], host), 0);
    return m->nparams;
}

/* Issue 30: every tensor of a file is used, or the file is refused with the first
 * stray name. A DiT file whose config says depth 1 but which holds two blocks used to
 * sample with block 1 dropped; an unknown blocks.2.* was ignored. */
Test(model, loader_refuses_tensors_that_are_not_the_models)
{
    fm_backend *be = tu_ref();
    fm_config c2 = dit_cfg(0), c1 = c2;
    c1.depth = 1;
    fm_model *m = new_model(be, &c2, FM_MODE_SAMPLE, 3);
    float *host = download(be, &m->flat);
    fm_wtensor *t = calloc(FM_MAX_PARAMS + 4, sizeof *t);
    fm_model *s = calloc(1, sizeof *s);
    cr_assert(t && s);
    int n = param_dir(m, host, t);
    char path[512], err[512];
    tmp_path(path, sizeof path, "stray");
    /* Depth 2's tensors under depth=1: block 1 is a stranger. */
    cr_assert_eq(fm_weights_save(path, FM_WEIGHTS_KIND_WEIGHTS, &c1, t, n, NULL, 0, scratch(), err,
                                 sizeof err),
                 FM_OK, "%s", err);
    fm_weights w = read_weights(path);
    for (int mode = 0; mode < 2; mode++) {
        cr_expect_eq(fm_model_check_weights(&w, (fm_mode)mode, 0, s, err, sizeof err),
                     FM_ERR_FORMAT);
        cr_expect(strstr(err, "tensor 'blocks.1.") && strstr(err, "is not part of this model") &&
                      strstr(err, "depth=1"),
                  "%s", err);
    }
    /* The right config takes every tensor; one more, of any name, is refused. */
    const char *extra[4] = {"blocks.2.attn.qkv.weight", "adam_m", "raw.blocks.7.mlp.fc1.bias",
                            "text.data"};
    for (int k = 0; k < 4; k++) {
        t[n] = t[0];
        snprintf(t[n].name, sizeof t[n].name, "%s", extra[k]);
        cr_assert_eq(fm_weights_save(path, FM_WEIGHTS_KIND_WEIGHTS, &c2, t, n + 1, NULL, 0,
                                     scratch(), err, sizeof err),
                     FM_OK, "%s", err);
        w = read_weights(path);
        cr_expect_eq(fm_model_check_weights(&w, FM_MODE_SAMPLE, 0, s, err, sizeof err),
                     FM_ERR_FORMAT, "%s", extra[k]);
        cr_expect(strstr(err, extra[k]) && strstr(err, "is not part of this model"), "%s: %s",
                  extra[k], err);
    }
    cr_assert_eq(fm_weights_save(path, FM_WEIGHTS_KIND_WEIGHTS, &c2, t, n, NULL, 0, scratch(), err,
                                 sizeof err),
                 FM_OK, "%s", err);
    w = read_weights(path);
    cr_expect_eq(fm_model_check_weights(&w, FM_MODE_SAMPLE, 0, s, err, sizeof err), FM_OK, "%s",
                 err);
    cr_expect_eq(fm_model_load(m, &w, 0, NULL, NULL, err, sizeof err), FM_OK, "%s", err);
    unlink(path);
    free(s);
    free(t);
    free(host);
    free(m);
}

/* A classifier takes its shape from its config: 3x16x16 RGB with 3 classes learns a
 * batch, has the parameters of its formula, round-trips with its record (text.data,
 * text.classes), and a file of one shape is refused by a model of another (both
 * named); out-of-range shapes are refused by validation, naming the field. */
Test(model, classifier_of_any_shape)
{
    fm_backend *be = tu_ref();
    fm_model *c = calloc(2, sizeof *c);
    fm_config cfg, other;
    char msg[256];
    cr_assert_eq(fm_classifier_config(&cfg, 3, 16, 3, msg, sizeof msg), FM_OK, "%s", msg);
    /* 16 (27 + 1) + 32 (144 + 1) + 64 (288 + 1) + 128 (64 16 + 1) + 3 (128 + 1) */
    cr_expect_eq(fm_classifier_param_count(&cfg), 448 + 4640 + 18496 + 131200 + 387);
    cr_assert_eq(fm_classifier_create(&c[0], be, &cfg, 3, FM_MODE_TRAIN), FM_OK, "%s", be->err);
    cr_assert_eq(fm_classifier_init(&c[0], 5), FM_OK);
    fm_tensor x = tu_tensor(be, FM_F32, 4, 3, 3, 16, 16);
    fm_tensor lg = tu_tensor(be, FM_F32, 2, 3, 3, 1, 1);
    tu_rand(be, &x, 4, -1.0f, 1.0f);
    int32_t y[3] = {2, 0, 1};
    fm_cls_opts o = fm_cls_defaults();
    int ok = learns(&c[0], &o, &x, y);
    cr_expect_eq(ok, 3);
    int32_t bad[3] = {0, 3, 1};
    float last = 0;
    cr_expect_eq(fm_classifier_train_step(&c[0], &o, &x, bad, 21, &last, NULL), FM_ERR_ARG);
    cr_expect(strstr(be->err, "label 3 of item 1 outside 0..2") != NULL, "%s", be->err);
    char path[512], err[256];
    tmp_path(path, sizeof path, "cls3");
    fm_text data = {"data=/x/y", 9}, names = {"red\ngreen\nblue", 14}, d2, n2;
    cr_assert_eq(fm_classifier_save(&c[0], path, &data, &names, scratch()), FM_OK, "%s", be->err);
    fm_weights w = read_weights(path);
    cr_assert_eq(fm_classifier_file_config(&w, &other, err, sizeof err), FM_OK, "%s", err);
    cr_expect(fm_config_equal(&other, &cfg));
    cr_assert_eq(fm_classifier_texts(&w, &d2, &n2, err, sizeof err), FM_OK, "%s", err);
    cr_expect(d2.n == 9 && memcmp(d2.s, "data=/x/y", 9) == 0);
    cr_expect(n2.n == 14 && memcmp(n2.s, "red\ngreen\nblue", 14) == 0);
    cr_assert_eq(fm_classifier_create(&c[1], be, &cfg, 3, FM_MODE_SAMPLE), FM_OK, "%s", be->err);
    cr_assert_eq(fm_classifier_load(&c[1], &w), FM_OK, "%s", be->err);
    float a[9], b[9];
    cr_assert_eq(fm_classifier_forward(&c[0], &x, NULL, &lg), FM_OK, "%s", be->err);
    tu_get(be, &lg, a);
    cr_assert_eq(fm_classifier_forward(&c[1], &x, NULL, &lg), FM_OK, "%s", be->err);
    tu_get(be, &lg, b);
    cr_expect_eq(memcmp(a, b, sizeof a), 0, "logits differ after save/load");
    cr_expect_eq(fm_classifier_count_correct(a, y, 3, 3), 3);
    /* The preset's model refuses the file, naming both shapes. */
    cr_assert_eq(fm_classifier_create(&c[1], be, NULL, 1, FM_MODE_SAMPLE), FM_OK, "%s", be->err);
    cr_expect_eq(fm_classifier_load(&c[1], &w), FM_ERR_FORMAT);
    cr_expect(strstr(be->err, "in_channels=3 image=16 num_classes=3") != NULL, "%s", be->err);
    unlink(path);
    cr_expect_eq(fm_classifier_config(&other, 2, 16, 3, msg, sizeof msg), FM_ERR_ARG);
    cr_expect(strstr(msg, "in_channels 2") != NULL, "%s", msg);
    cr_expect_eq(fm_classifier_config(&other, 1, 30, 3, msg, sizeof msg), FM_ERR_ARG);
    cr_expect(strstr(msg, "image 30") != NULL, "%s", msg);
    cr_expect_eq(fm_classifier_config(&other, 1, 260, 3, msg, sizeof msg), FM_ERR_ARG);
    cr_expect_eq(fm_classifier_config(&other, 1, 16, 1, msg, sizeof msg), FM_ERR_ARG);
    cr_expect(strstr(msg, "num_classes 1") != NULL, "%s", msg);
    cr_expect_eq(fm_classifier_config(&other, 1, 16, 257, msg, sizeof msg), FM_ERR_ARG);
    /* num_classes 0 (every older file) is the default 10. */
    fm_config_preset(&other, "classifier");
    cr_expect_eq(fm_classifier_classes(&other), 10);
    free(c);
}

/* The classifier's loader has the same rule. */
Test(model, classifier_loader_refuses_a_stray_tensor)
{
    fm_backend *be = tu_ref();
    fm_model *c = calloc(1, sizeof *c);
    cr_assert_eq(fm_classifier_create(c, be, NULL, 1, FM_MODE_SAMPLE), FM_OK, "%s", be->err);
    cr_assert_eq(fm_classifier_init(c, 7), FM_OK);
    float *host = download(be, &c->flat);
    fm_wtensor t[FM_CLS_NPARAMS + 1];
    int n = param_dir(c, host, t);
    t[n] = t[0];
    snprintf(t[n].name, sizeof t[n].name, "fc3.weight");
    char path[512], err[512];
    tmp_path(path, sizeof path, "clsstray");
    cr_assert_eq(fm_weights_save(path, FM_WEIGHTS_KIND_WEIGHTS, &c->cfg, t, n + 1, NULL, 0,
                                 scratch(), err, sizeof err),
                 FM_OK, "%s", err);
    fm_weights w = read_weights(path);
    cr_expect_eq(fm_classifier_load(c, &w), FM_ERR_FORMAT);
    cr_expect(strstr(be->err, "tensor 'fc3.weight' is not part of this model") != NULL, "%s",
              be->err);
    unlink(path);
    free(host);
    free(c);
}

/* ---- the autoencoder (docs/spec/vae.md) ------------------------------------------------ */

static double vae_loss_at(fm_model *m, float beta, const fm_tensor *x, const fm_tensor *eps,
                          const fm_tensor *losses)
{
    float l[3];
    cr_assert_eq(fm_fill(m->be, &m->grad, 0.0f), FM_OK);
    cr_assert_eq(fm_vae_loss_grad(m, beta, x, eps, NULL, NULL, NULL, losses), FM_OK, "%s",
                 m->be->err);
    cr_assert_eq(fm_download(m->be, l, losses), FM_OK);
    cr_assert(fabsf(l[0] - (l[1] + beta * l[2])) <= 1e-5f * fabsf(l[0]), "loss %g rec %g kl %g",
              (double)l[0], (double)l[1], (double)l[2]);
    return l[0];
}

/* Central differences of the loss against the analytic gradient, one element of every
 * fourth parameter tensor (all kinds of layer are among them). */
Test(model, vae_gradient_matches_finite_differences, .timeout = 300)
{
    fm_backend *be = tu_ref();
    fm_config c;
    cr_assert_eq(fm_config_preset(&c, "vae-test"), FM_OK);
    fm_model *m = new_model(be, &c, FM_MODE_TRAIN, 3);
    int64_t zs[4];
    fm_vae_latent_shape(&c, 2, zs);
    fm_tensor x = tu_tensor(be, FM_F32, 4, 2, 3, 8, 8);
    fm_tensor eps = tu_tensor(be, FM_F32, 4, zs[0], zs[1], zs[2], zs[3]);
    fm_tensor losses = tu_tensor(be, FM_F32, 1, 3, 1, 1, 1);
    tu_rand(be, &x, 21, -1.0f, 1.0f);
    cr_assert_eq(fm_noise(be, &eps, 22, 0), FM_OK);
    const float beta = 0.5f;
    vae_loss_at(m, beta, &x, &eps, &losses);
    float *g = download(be, &m->grad), *p = download(be, &m->flat);
    double worst = 0;
    for (int i = 0; i < m->nparams; i += 4) {
        const int64_t e = m->params[i].offset + fm_tensor_numel(&m->params[i].t) / 2;
        const float h = 1e-2f, keep = p[e];
        double lp, lm;
        p[e] = keep + h;
        cr_assert_eq(fm_upload(be, &m->flat, p), FM_OK);
        lp = vae_loss_at(m, beta, &x, &eps, &losses);
        p[e] = keep - h;
        cr_assert_eq(fm_upload(be, &m->flat, p), FM_OK);
        lm = vae_loss_at(m, beta, &x, &eps, &losses);
        p[e] = keep;
        const double fd = (lp - lm) / (2.0 * h), err = fabs(fd - g[e]) / (fabs(g[e]) + 1e-2);
        worst = fmax(worst, err);
        cr_expect_lt(err, 0.05, "%s[%lld]: analytic %g, differences %g", m->params[i].name,
                     (long long)(e - m->params[i].offset), (double)g[e], fd);
    }
    printf("vae finite differences: worst relative error %.3g\n", worst);
    free(g), free(p), free(m);
}

Test(model, vae_learns_encodes_and_decodes, .timeout = 300)
{
    fm_backend *be = tu_ref();
    fm_config c;
    cr_assert_eq(fm_config_preset(&c, "vae-test"), FM_OK);
    fm_model *m = new_model(be, &c, FM_MODE_TRAIN, 4);
    fm_tensor x = tu_tensor(be, FM_F32, 4, B, 3, 8, 8), xr = tu_tensor(be, FM_F32, 4, B, 3, 8, 8);
    int64_t zs[4];
    fm_vae_latent_shape(&c, B, zs);
    fm_tensor z = tu_tensor(be, FM_F32, 4, zs[0], zs[1], zs[2], zs[3]);
    tu_rand(be, &x, 31, -1.0f, 1.0f);
    fm_train_opts o = fm_train_defaults();
    o.lr = 2e-3f;
    fm_vae_loss first = {0}, last = {0};
    for (uint64_t s = 1; s <= 150; s++) {
        cr_assert_eq(fm_vae_train_step(m, &o, 1e-3f, &x, s, &last), FM_OK, "%s", be->err);
        if (s == 1)
            first = last;
    }
    printf("vae fixed batch: rec %.4f kl %.4f -> rec %.4f kl %.4f\n", (double)first.rec,
           (double)first.kl, (double)last.rec, (double)last.kl);
    cr_expect_lt(last.rec, 0.5f * first.rec, "rec %g -> %g", (double)first.rec, (double)last.rec);
    /* encode then decode with a scale: the same as decoding the unscaled means */
    cr_assert_eq(fm_vae_encode(m, &m->flat, &x, 2.0f, &z), FM_OK, "%s", be->err);
    cr_assert_eq(fm_vae_decode(m, &m->flat, &z, 2.0f, &xr), FM_OK, "%s", be->err);
    float *a = download(be, &x), *b = download(be, &xr);
    double se = 0;
    for (int64_t i = 0; i < fm_tensor_numel(&x); i++)
        se += (double)(a[i] - b[i]) * (a[i] - b[i]);
    cr_expect_lt(se / B, 1.5 * first.rec, "reconstruction error %g per image", se / B);
    cr_expect_eq(fm_vae_decode(m, &m->flat, &x, 1.0f, &xr), FM_ERR_ARG, "an image is no latent");
    free(a), free(b), free(m);
}
