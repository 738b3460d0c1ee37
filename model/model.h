/* A model: the part every architecture shares, and the interface each architecture
 * implements (fm_arch), chosen from one table (arch.c) by the config's arch id the way
 * runtime/registry.c chooses backends by name.
 *
 * Shared (model.c): the parameter table (fm_param, built by the architecture's layout
 * walk), the flat blocks, input checks, the arena marks of a forward and its inputs
 * for backward. Memory, all from the backend's one arena, in this order:
 *   params  P floats, one flat block; each parameter is a view into it, in the
 *           canonical order, so optimizer updates are single ops over P floats
 *   train:  grads, adam_m, adam_v, ema   (P floats each)
 *   then    the architecture's persistent constants (fm_arch.create), then
 *           per-call tensors (inputs, activations, gradients), released after
 *           each forward/backward with an arena mark. A sampling forward (no
 *           backward follows) frees each activation after its last use, so the
 *           arena holds little more than the live set (fm_plan.live_bytes).
 * Sizing is exact: fm_model_plan runs the same code on the "plan" backend, which
 * checks shapes and counts bytes but computes nothing.
 *
 * An architecture (unet.c, dit.c, classifier.c, one file each) names its config
 * fields and presets, checks their ranges, walks its layout, says how each parameter
 * starts, and runs forward and backward through the dispatch table with its own
 * activations kept in the model's state area. Adding one: README "Adding a model". */
#ifndef FMRT_MODEL_H
#define FMRT_MODEL_H

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "config.h"
#include "layout.h"

/* A forward for training keeps its activations for the backward that must follow;
 * one for sampling frees each after its last use. */
typedef enum fm_mode { FM_MODE_SAMPLE = 0, FM_MODE_TRAIN = 1 } fm_mode;

/* How parameter i starts (fm_model_init): every element of it is
 *   ZERO 0, ONE 1, UNIFORM scale (2 u - 1), NORMAL scale n,
 * u = fm_philox_uniform(seed, element, i), n = fm_philox_normal(seed, element, i):
 * one Philox stream per parameter, so the values do not depend on how the flat
 * block is laid out on a device. */
typedef enum fm_init_kind { FM_INIT_ZERO, FM_INIT_ONE, FM_INIT_UNIFORM, FM_INIT_NORMAL } fm_init_kind;
typedef struct fm_init {
    fm_init_kind kind;
    float scale;
} fm_init;

typedef struct fm_preset {
    const char *name; /* NULL ends a list */
    fm_config cfg;
} fm_preset;

/* Bytes of the architecture's own state inside fm_model (its module list and what
 * its backward needs from its forward); each architecture checks at compile time
 * that its state fits. */
#define FM_MODEL_STATE_BYTES (160 << 10)

typedef struct fm_model fm_model;

typedef struct fm_arch {
    const char *name;        /* config "arch=", --arch, and messages: "unet" */
    int id;                  /* what a weights file records (config slot 13) */
    uint32_t fields;         /* FM_FIELD() bits of the config fields it uses */
    const fm_preset *presets; /* the first is its default */
    const char *conformance; /* the (small) preset whose whole-model rows every backend
                                runs (tests/test_conformance.c); NULL: none */
    const char *conformance_rgb; /* likewise, a preset with in_channels 3 (colour) */
    int velocity;            /* 1: out = v(x, t, y), the shape of x (flow matching) */
    int tokens;              /* 1: its input is token ids y [N, text_ctx] (i32) alone, no
                                image x (a text encoder, arch clip): N comes from y, x and
                                t are absent (NULL), out is out_shape(N) */
    /* Ranges and consistency of the fields it uses, once the shared ones
     * (in_channels, num_classes) are checked; the message names the field. */
    fm_status (*check)(const fm_config *c, char *msg, size_t len);
    /* The parameter table in canonical order (fm_lay_*). */
    void (*layout)(const fm_config *c, fm_layout *b);
    /* Shape of the forward's output for n inputs; returns its ndim. NULL: the shape
     * of x (a velocity model's). */
    int (*out_shape)(const fm_config *c, int64_t n, int64_t shape[4]);
    fm_init (*init)(const fm_model *m, int i);
    /* Its state (m->state) and persistent constants, after the parameter blocks. NULL:
     * none. */
    fm_status (*create)(fm_model *m);
    /* out = net(x, t, y) with the parameter block P; keep: a training forward (keep
     * what backward reads); else free each activation after its last use. Inputs
     * are checked; m->x, m->t, m->y hold them. */
    fm_status (*forward)(fm_model *m, int keep, const fm_tensor *P, const fm_tensor *out,
                         const fm_tensor *x, const fm_tensor *t, const fm_tensor *y);
    /* Accumulate dL/dparams into m->grad from dout for the last (keep) forward. */
    fm_status (*backward)(fm_model *m, const fm_tensor *dout);
    /* Forward GFLOP per image (2 per multiply-add), for fmrt bench. */
    double (*gflop)(const fm_config *c);
} fm_arch;

struct fm_model {
    const fm_arch *arch;
    fm_config cfg;
    fm_mode mode;             /* TRAIN: grads, moments and EMA exist */
    int batch;                /* largest batch the activations are planned for */
    fm_backend *be;
    int nparams;
    fm_param params[FM_MAX_PARAMS];
    int64_t nfloats;          /* P */
    fm_tensor flat;           /* [P] parameters */
    fm_tensor grad, adam_m, adam_v, ema; /* [P] each, train mode only */
    fm_arena_mark persistent; /* everything above lives below this mark */
    /* The last forward: its inputs and parameter block (backward reads them), and
     * where its activations start. */
    fm_tensor x, t, y, P;
    int active, kept;
    /* Parameters [frozen_first, frozen_first + frozen_count) stay as they are: training
     * leaves them out of the update, and a backward may skip what only they need (a
     * frozen text encoder, docs/spec/text.md). */
    int frozen_first, frozen_count;
    fm_arena_mark act;
    alignas(max_align_t) unsigned char state[FM_MODEL_STATE_BYTES];
};

static inline int fm_model_frozen(const fm_model *m, int i)
{
    return i >= m->frozen_first && i < m->frozen_first + m->frozen_count;
}

/* Whether a model takes a conditioning input y: class labels [N] (num_classes > 0) or a
 * prompt's token ids [N, text_ctx] (a text encoder). */
static inline int fm_config_conditional(const fm_config *c)
{
    return c->num_classes > 0 || c->text_depth > 0;
}

/* The int32 values of one sample's conditioning input: 1 (a label) or text_ctx (ids). */
static inline int fm_config_cond_width(const fm_config *c)
{
    return c->text_depth > 0 ? c->text_ctx : 1;
}
/* The "no condition" row (fm_config_cond_width values): the class model's row K, the
 * text model's empty prompt [BOS, EOS, PAD, ...] (docs/spec/text.md). */
void fm_config_null_cond(const fm_config *c, int32_t *row);

/* ---- the architecture table (arch.c) ---------------------------------------------------- */

/* The architecture called name, or with this id; NULL when unknown. */
const fm_arch *fm_arch_find(const char *name);
const fm_arch *fm_arch_by_id(int id);
/* Architecture i of the table (0, 1, ...), NULL past the end. */
const fm_arch *fm_arch_at(int i);
/* "unet, dit, classifier": for messages. */
const char *fm_arch_names(void);

/* The named preset of any architecture (every architecture's first is its default):
 * "mnist", "tiny", "cifar", "cifar-small", "latent" (U-Nets), "dit", "dit-tiny", "dit-cifar",
 * "classifier". All unconditional: set num_classes for a conditional model.
 * FM_ERR_ARG for an unknown name. */
fm_status fm_config_preset(fm_config *c, const char *name);
/* "mnist, tiny, cifar, ..., classifier": for messages. */
const char *fm_preset_names(void);
/* A known architecture, none of the other architectures' fields set, every field in
 * range and consistent, and the model fits its tables. Message names the field. */
fm_status fm_config_validate(const fm_config *c, char *msg, size_t len);
/* Set one field from text. "arch" takes an architecture's name; a change of
 * architecture starts from its default preset (the old one's fields would be
 * refused), so it comes before the other fields ("arch=dit patch=4 ..."). */
fm_status fm_config_set(fm_config *c, const char *key, const char *value, char *msg, size_t len);
/* "in_channels=1 image=28 base_channels=64 channel_mult=1,2,2 ..." (another
 * architecture than the U-Net starts with "arch=<name>"). */
int fm_config_format(const fm_config *c, char *buf, size_t len);
/* The FM_CONFIG_SLOTS int32 slots of a weights file's config block and back: each
 * field the architecture uses in its slot, the id in slot 13, every other slot 0.
 * unpack leaves fields it cannot place (unknown id) at 0; validation then names it. */
void fm_config_pack(const fm_config *c, int32_t v[FM_CONFIG_SLOTS]);
void fm_config_unpack(const int32_t v[FM_CONFIG_SLOTS], fm_config *c);
/* Whether slot i carries a field of c's architecture (unpack reads only those). */
int fm_config_slot_used(const fm_config *c, int i);
#define FM_CONFIG_SLOT_ARCH 13

/* ---- the model (model.c) ---------------------------------------------------------------- */

/* Parameter table of cfg (no memory): the count, or -1 when it exceeds max. params
 * NULL: count only. cfg's architecture must be known (validated). */
int fm_model_layout(const fm_config *cfg, fm_param *params, int max, int64_t *nfloats);

/* Allocate parameters (and, for training, gradients, AdamW moments and EMA) in
 * be's arena. Contents are zero; call fm_model_init or load weights. */
fm_status fm_model_create(fm_model *m, fm_backend *be, const fm_config *cfg, fm_mode mode, int batch);
/* Sample mode on the ref backend with the parameters left where they are: m->flat
 * points at `params` (P floats in canonical order, 4-byte aligned; e.g. a const
 * weights image in flash, see fm_weights_contiguous) and takes no arena memory,
 * so the arena needs fm_plan.total_bytes minus the rounded params_bytes. The
 * block is never written (sampling only reads parameters) and must outlive m. */
fm_status fm_model_create_in_place(fm_model *m, fm_backend *be, const fm_config *cfg, int batch,
                                   const void *params);
/* Every parameter as its architecture's init rule says (fm_init), drawn on the host
 * and uploaded; ema starts equal to the weights. */
fm_status fm_model_init(fm_model *m, uint64_t seed);
const fm_param *fm_model_find(const fm_model *m, const char *name);
/* Parameter i's view inside another [P] block (grads, ema). */
fm_tensor fm_model_view(const fm_model *m, const fm_tensor *block, int i);

/* out = net(x[N,Cin,H,W], t[N], y[N] i32 or absent), N <= batch; out's shape is the
 * architecture's (velocity models: that of x). An architecture of token ids
 * (fm_arch.tokens, a text encoder) takes y [N, text_ctx] i32 alone (x, t NULL).
 * `params` selects the weights: m->flat (raw) or m->ema. mode TRAIN (a model created
 * for training): the activations stay allocated for fm_model_backward, which must come
 * before the next forward; SAMPLE: each is freed after its last use. */
fm_status fm_model_forward(fm_model *m, fm_mode mode, const fm_tensor *params,
                           const fm_tensor *out, const fm_tensor *x, const fm_tensor *t,
                           const fm_tensor *y);
/* Accumulate dL/dparams into m->grad from dout = dL/dout, for the last (TRAIN)
 * forward. Releases the activations. */
fm_status fm_model_backward(fm_model *m, const fm_tensor *dout);
/* Release activations without a backward (e.g. after an evaluation forward). */
void fm_model_release(fm_model *m);

/* ---- planning (plan.c) ------------------------------------------------------------------ */

/* Exact arena bytes for cfg, mode and batch, measured by running one training step
 * (train) or a 2-step Heun sampler with guidance (sample) on the "plan" backend.
 * `scratch` is caller memory for the model description used while planning. */
typedef struct fm_plan {
    int64_t nparams;      /* parameter count P */
    size_t params_bytes;  /* 4 P */
    size_t state_bytes;   /* persistent: params (+ grads, AdamW m and v, EMA) */
    size_t total_bytes;   /* high-water mark of the whole arena */
    size_t live_bytes;    /* fm_model_plan_live only (else 0): the most bytes live at one
                             time (fm_plan_live_bytes), params and state included; a
                             lower bound for total_bytes, whose excess is placement */
} fm_plan;
fm_status fm_model_plan(const fm_config *cfg, fm_mode mode, int batch, fm_model *scratch,
                        fm_plan *out, char *err, size_t errlen);
/* fm_model_plan that also measures live_bytes, with `mem` (mem_bytes, caller memory)
 * for the plan backend's allocation tracker: FM_MODEL_PLAN_TRACK_BYTES is ample for
 * any config (at most a few thousand allocations per forward). */
#define FM_MODEL_PLAN_TRACK_BYTES ((size_t)4 << 20)
fm_status fm_model_plan_live(const fm_config *cfg, fm_mode mode, int batch, fm_model *scratch,
                             void *mem, size_t mem_bytes, fm_plan *out, char *err, size_t errlen);

#endif
