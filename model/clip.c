/* The standalone text encoder of clip.h as an architecture (fm_arch_clip): model/text.c's
 * encoder alone, its token states H the model's output. Its API is clip_api.c's. */
#include "clip.h"

#include <stdio.h>
#include <string.h>

#include "build.h"
#include "text.h"

typedef struct clip_state {
    fm_text_state text;
    fm_tensor pooled; /* where fm_clip_encode wants the pooled vector (absent: not wanted) */
} clip_state;
_Static_assert(sizeof(clip_state) <= FM_MODEL_STATE_BYTES, "clip_state outgrew FM_MODEL_STATE_BYTES");

static clip_state *state(fm_model *m) { return FM_MODEL_STATE(m, clip_state); }

#define BAD(...) return (snprintf(msg, len, __VA_ARGS__), FM_ERR_ARG)

static fm_status check(const fm_config *c, char *msg, size_t len)
{
    if (c->text_depth == 0)
        BAD("text_depth 0: arch=clip is a text encoder, with 1..%d layers", FM_TEXT_MAX_DEPTH);
    return fm_text_check(c, msg, len);
}

#undef BAD

static void layout(const fm_config *c, fm_layout *b)
{
    fm_text_lay_encoder(b, c);
}

static int out_shape(const fm_config *c, int64_t n, int64_t shape[4])
{
    shape[0] = n;
    shape[1] = c->text_ctx;
    shape[2] = c->text_width;
    return 3;
}

/* docs/spec/text.md's init (every parameter is the encoder's). */
static fm_init init(const fm_model *m, int i)
{
    fm_init r = {FM_INIT_ZERO, 0};
    fm_text_init(m, i, &r);
    return r;
}

static fm_status create(fm_model *m)
{
    memset(state(m), 0, sizeof(clip_state));
    return fm_text_create(m, &state(m)->text, 0);
}

static double gflop(const fm_config *c)
{
    return fm_text_gflop(c);
}

static fm_status forward(fm_model *m, int keep, const fm_tensor *P, const fm_tensor *out,
                         const fm_tensor *x, const fm_tensor *t, const fm_tensor *y)
{
    (void)x, (void)t;
    clip_state *s = state(m);
    fm_blk_ctx c = {m, m->be, P, (int)y->shape[0], keep};
    FM_TRY(fm_text_fwd(&c, &s->text, y));
    FM_TRY(fm_copy(m->be, out, &s->text.H));
    if (fm_tensor_present(&s->pooled))
        FM_TRY(fm_copy(m->be, &s->pooled, &s->text.pooled));
    return FM_OK;
}

static fm_status backward(fm_model *m, const fm_tensor *dH)
{
    return fm_text_bwd_states(m, &state(m)->text, *dH);
}

void fm_clip_want_pooled(fm_model *m, const fm_tensor *pooled)
{
    state(m)->pooled = pooled ? *pooled : (fm_tensor){0};
}

/* OpenAI CLIP's text transformer (ViT-B/32, ViT-B/16: the same text tower), and the
 * default encoder of docs/spec/text.md as a model of its own. */
static const fm_preset presets[] = {
    {"clip", {.text_tokenizer = 2, .text_vocab = 49408, .text_ctx = 77, .text_width = 512,
              .text_depth = 12, .text_heads = 8, .text_ff = 2048}},
    {"clip-tiny", {.text_tokenizer = 1, .text_vocab = 259, .text_ctx = 32, .text_width = 64,
                   .text_depth = 2, .text_heads = 4, .text_ff = 256}},
    {NULL, {0}},
};

const fm_arch fm_arch_clip = {
    .name = "clip",
    .id = 4,
    .fields = FM_TEXT_FIELDS,
    .presets = presets,
    .velocity = 0,
    .tokens = 1,
    .check = check,
    .layout = layout,
    .out_shape = out_shape,
    .init = init,
    .create = create,
    .forward = forward,
    .backward = backward,
    .gflop = gflop,
};
