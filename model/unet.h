/* The U-Net of docs/spec/unet.md, built only from dispatch-table calls.
 *
 * Memory (all from the backend's one arena, in this order):
 *   params  P floats, one flat block; each parameter is a view into it, in the
 *           canonical order, so optimizer updates are single ops over P floats
 *   train:  grads, adam_m, adam_v, ema   (P floats each)
 *   then    per-call tensors (inputs, activations, gradients), released after
 *           each forward/backward with an arena mark. A sampling forward (no
 *           backward follows) also frees each activation right after its last use
 *           (fm_tensor_free) and runs each norm + SiLU as one fused GROUPNORM_FWD,
 *           so the arena holds little more than the live set: the skip stack, one
 *           module's input, output and temporaries (fm_plan.live_bytes measures the
 *           bound).
 * Sizing is exact: fm_unet_plan runs the same code on the "plan" backend, which
 * checks shapes and counts bytes but computes nothing. */
#ifndef FMRT_UNET_H
#define FMRT_UNET_H

#include <stdint.h>

#include "backend.h"
#include "config.h"

#define FM_MAX_PARAMS 512
#define FM_PARAM_NAME 48

typedef enum fm_mode { FM_MODE_SAMPLE = 0, FM_MODE_TRAIN = 1 } fm_mode;

typedef struct fm_param {
    char name[FM_PARAM_NAME]; /* canonical, e.g. "enc.0.conv1.weight" */
    fm_tensor t;              /* view into params */
    int64_t offset;           /* in floats from the start of the flat block */
} fm_param;

/* One network module: a ResBlock, Down, Up or Attention, with its first parameter. */
typedef enum fm_mod_kind { FM_MOD_RES, FM_MOD_DOWN, FM_MOD_UP, FM_MOD_ATTN } fm_mod_kind;
typedef enum fm_mod_part { FM_PART_ENC, FM_PART_MID, FM_PART_DEC } fm_mod_part;

typedef struct fm_module {
    fm_mod_kind kind;
    fm_mod_part part;
    int cin, cout;  /* channels in (for decoder ResBlocks: h + skip) and out */
    int cskip;      /* decoder ResBlocks: channels taken from the skip stack */
    int res;        /* H = W at this module's input */
    int p;          /* index of its first parameter */
    int has_skip;   /* ResBlock with a 1x1 skip conv (cin != cout) */
} fm_module;

/* What a module's backward needs from its forward (fields used per kind). */
typedef struct fm_saved {
    fm_tensor x;                            /* module input (decoder: the concat) */
    fm_tensor n1, mean1, rstd1, a1, h1;     /* ResBlock first half; Attention: n1 = norm(x) */
    fm_tensor n2, mean2, rstd2, a2;         /* ResBlock second half */
    fm_tensor qkv, att, o;                  /* Attention */
    fm_tensor up;                           /* Up: the upsampled input */
    fm_tensor out;
} fm_saved;

/* Network-level activations kept for backward. */
typedef struct fm_tape {
    fm_tensor x, t, y;                      /* forward inputs */
    fm_tensor e, l1, s1, temb, st;          /* time path: st = SiLU(temb) feeds every ResBlock */
    fm_tensor hs[2 * FM_MAX_LEVELS * 10];   /* skip stack */
    int nhs;
    fm_tensor hlast, nout, mout, rout, aout; /* output head: v = conv_out(SiLU(norm_out(hlast))) */
    fm_tensor params;                       /* the block the forward used */
    int active;
} fm_tape;

#define FM_MAX_MODULES 96

/* What a DiT block's backward needs from its forward (dit.c; tokens [N,T,D]). */
typedef struct fm_dit_saved {
    fm_tensor x;                 /* block input */
    fm_tensor mod[6];            /* sh1 sc1 g1 sh2 sc2 g2, [N,D] each */
    fm_tensor mean1, rstd1, a;   /* a = modulate(LN(x), sh1, sc1) */
    fm_tensor qkvt, att, o, pr;  /* qkv as [N,3D,T], attention weights, o [N,T,D], proj(o) */
    fm_tensor x1;                /* x + g1 pr */
    fm_tensor mean2, rstd2, mm;  /* mm = modulate(LN(x1), sh2, sc2) */
    fm_tensor h, gh, f;          /* fc1(mm) [N,T,rD], GELU(h), fc2(gh) */
} fm_dit_saved;

/* A DiT's network-level activations and constants. */
typedef struct fm_dit_tape {
    fm_tensor pos, posidx;       /* [T,D] position table, [batch*T] i32 token index (persistent) */
    fm_tensor e, l1, s1, c, sc;  /* time path: sc = SiLU(c) feeds every ada */
    fm_tensor fmod[2], meanf, rstdf, af; /* final layer: shift, scale, modulate(LN(x)) */
    fm_tensor xlast;             /* the last block's output */
    fm_dit_saved blk[FM_MAX_DEPTH];
} fm_dit_tape;

/* The model: the U-Net, or the DiT of docs/spec/dit.md when cfg.arch is FM_ARCH_DIT (dit.c;
 * every fm_unet_* function below serves both). */
typedef struct fm_unet {
    fm_config cfg;
    fm_mode mode;
    int batch;                /* largest batch the activations are planned for */
    fm_backend *be;
    int nparams;
    fm_param params[FM_MAX_PARAMS];
    int64_t nfloats;          /* P */
    fm_tensor flat;           /* [P] parameters */
    fm_tensor grad, adam_m, adam_v, ema; /* [P] each, train mode only */
    fm_arena_mark persistent; /* everything above lives below this mark */
    int nmods;
    fm_module mods[FM_MAX_MODULES];
    fm_saved saved[FM_MAX_MODULES]; /* train mode */
    fm_tape tape;
    fm_dit_tape dit;          /* cfg.arch = dit (the U-Net's mods, saved and tape unused) */
    fm_arena_mark act;        /* activations of the last forward start here */
    int keep;                 /* forward keeps activations for backward (train mode) */
} fm_unet;

/* Modules and parameter tensors of the U-Net for cfg, counted by the walk that
 * fm_unet_layout runs (no tables, no memory). cfg's levels and res_blocks must be in
 * range (fm_config_validate checks them before it calls this). */
void fm_unet_count(const fm_config *cfg, int *modules, int *params);
/* Build the parameter table for cfg (no memory). Returns the parameter count. */
int fm_unet_layout(const fm_config *cfg, fm_param *params, int max, int64_t *nfloats);

/* Allocate parameters (and, for training, gradients, AdamW moments and EMA) in
 * be's arena. Contents are zero; call fm_unet_init_params or load weights. */
fm_status fm_unet_create(fm_unet *m, fm_backend *be, const fm_config *cfg, fm_mode mode, int batch);
/* Sample mode on the ref backend with the parameters left where they are: m->flat
 * points at `params` (P floats in canonical order, 4-byte aligned; e.g. a const
 * weights image in flash, see fm_weights_contiguous) and takes no arena memory,
 * so the arena needs fm_plan.total_bytes minus the rounded params_bytes. The
 * block is never written (sampling only reads parameters) and must outlive m. */
fm_status fm_unet_create_in_place(fm_unet *m, fm_backend *be, const fm_config *cfg, int batch,
                                  const void *params);
/* The contract's initialisation, drawn from Philox(seed) on the host and uploaded
 * (conv/linear U(-1/sqrt(fan_in), 1/sqrt(fan_in)), norms 1/0, class_emb N(0,1),
 * conv_out zero). ema starts equal to the weights. */
fm_status fm_unet_init_params(fm_unet *m, uint64_t seed);
const fm_param *fm_unet_find(const fm_unet *m, const char *name);

/* v[N,Cin,H,W] = net(x[N,Cin,H,W], t[N], y[N] i32 or absent). N <= batch.
 * `params` selects the weights: m->flat (raw) or m->ema. In train mode the
 * activations stay allocated for fm_unet_backward (call it before the next
 * forward); in sample mode each is freed after its last use. */
fm_status fm_unet_forward(fm_unet *m, const fm_tensor *params, const fm_tensor *v, const fm_tensor *x,
                          const fm_tensor *t, const fm_tensor *y);
/* Accumulate dL/dparams into m->grad from dv = dL/dv, for the last forward.
 * Releases the activations. */
fm_status fm_unet_backward(fm_unet *m, const fm_tensor *dv);
/* Release activations without a backward (e.g. after an evaluation forward). */
void fm_unet_release(fm_unet *m);

/* Exact arena bytes for cfg, mode and batch, measured by running one training step
 * (train) or a 2-step Heun sampler with guidance (sample) on the "plan" backend.
 * `scratch` is caller memory for the model description used while planning. */
typedef struct fm_plan {
    int64_t nparams;      /* parameter count P */
    size_t params_bytes;  /* 4 P */
    size_t state_bytes;   /* persistent: params (+ grads, AdamW m and v, EMA) */
    size_t total_bytes;   /* high-water mark of the whole arena */
    size_t live_bytes;    /* fm_unet_plan_live only (else 0): the most bytes live at one
                             time (fm_plan_live_bytes), params and state included; a
                             lower bound for total_bytes, whose excess is placement */
} fm_plan;
fm_status fm_unet_plan(const fm_config *cfg, fm_mode mode, int batch, fm_unet *scratch, fm_plan *out,
                       char *err, size_t errlen);
/* fm_unet_plan that also measures live_bytes, with `mem` (mem_bytes, caller memory)
 * for the plan backend's allocation tracker: FM_UNET_PLAN_TRACK_BYTES is ample for
 * any config (at most FM_MAX_MODULES modules of ~20 allocations per forward). */
#define FM_UNET_PLAN_TRACK_BYTES ((size_t)4 << 20)
fm_status fm_unet_plan_live(const fm_config *cfg, fm_mode mode, int batch, fm_unet *scratch,
                            void *mem, size_t mem_bytes, fm_plan *out, char *err, size_t errlen);

/* Parameter count and a view of parameter i inside another [P] block (grads, ema). */
fm_tensor fm_unet_view(const fm_unet *m, const fm_tensor *block, int i);

#endif
