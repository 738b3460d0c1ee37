/* Flow matching on top of any velocity model (fm_arch.velocity: the U-Net, the DiT): the training step and the samplers of
 * docs/spec/flow.md. Path: x_t = (1 - t) x0 + t x1, target v = x1 - x0,
 * loss = mean((v_theta(x_t, t, y) - v)^2); sampling integrates dx/dt = v from t = 1
 * (noise) to t = 0 (data). */
#ifndef FMRT_FLOW_H
#define FMRT_FLOW_H

#include "model.h"

/* Limits of a training run, shared by fmrt train's flags and a checkpoint's state:
 * the batch (host arrays of this size in the step), the step count (Philox streams
 * are 32 bits, FM_STREAM below) and the seed. */
#define FM_MAX_BATCH 1024
#define FM_MAX_STEPS ((1ll << 30) - 1)
#define FM_MAX_SEED (1ll << 62)

typedef struct fm_train_opts {
    float lr, beta1, beta2, eps, weight_decay; /* AdamW */
    float ema_decay;
    float label_drop;                          /* conditional models: P(y -> K) */
    uint64_t seed;
    /* The learning rate of step s (from 1), fm_train_lr: a linear warmup over the first
     * `warmup` steps (lr s / warmup), then constant (FM_LR_CONSTANT) or a half cosine
     * from lr down to 0 at step decay_steps (FM_LR_COSINE). All three are saved in a
     * checkpoint, so a resumed run follows the same curve. */
    uint32_t lr_schedule;
    uint64_t warmup, decay_steps;
    /* Test hook, 0 in real runs: at this step the loss gradient dL/dv is scaled by
     * +inf, which makes every parameter gradient non-finite (NaN or inf) while the
     * loss itself stays finite. Tests use it to check the non-finite guard below
     * (tests/test_model.c; fmrt train reads it from FMRT_TEST_FAULT_STEP). */
    uint64_t fault_step;
    /* Data parallelism: R ranks each run this step on their slice of one global
     * batch. shard is this rank's first row in that batch (0 on one rank): the
     * noise, t and label dropout of local row n are those of global row shard + n,
     * so R slices draw exactly the numbers of one rank's whole batch. */
    int64_t shard;
    /* Called once per step after backward and BEFORE the non-finite check and the
     * AdamW and EMA updates (NULL: none). grad is the whole [P] gradient block, one
     * contiguous tensor in the backend's memory; *loss is this rank's batch loss.
     * A data-parallel layer replaces both by their means over the ranks, so every
     * rank then takes the same decision (finite or not) and the same update. An
     * error status stops the step with the weights untouched (message in be). */
    fm_status (*grad_hook)(void *user, fm_backend *be, const fm_tensor *grad, float *loss);
    void *grad_user;
} fm_train_opts;

enum { FM_LR_CONSTANT = 0, FM_LR_COSINE = 1 };

/* The learning rate of step s >= 1 (computed in double on the host, so every backend
 * and every rank uses the same float):
 *   w(s) = min(1, s / warmup)              (1 when warmup = 0)
 *   constant: lr w(s)
 *   cosine:   lr w(s) (1 + cos(pi p)) / 2,  p = clamp((s - 1 - warmup) / (decay_steps - warmup), 0, 1)
 * so the first step after the warmup takes the full lr and the curve reaches 0 one
 * step after decay_steps. */
float fm_train_lr(const fm_train_opts *o, uint64_t step);

/* The seed notebook's recipe: lr 1e-4, betas 0.9/0.999, eps 1e-8, wd 0.01, EMA
 * 0.999, label dropout 0.1. */
fm_train_opts fm_train_defaults(void);

/* The valid range of each hyper-parameter, named by its checkpoint metadata key:
 *   lr (0, 10]   beta1 [0, 1)   beta2 [0, 1)   eps (0, 1]   weight_decay [0, 10]
 *   ema_decay [0, 1]   label_drop [0, 1]
 * (betas below 1 keep AdamW's bias corrections 1 - beta^step above 0.) The flags of
 * fmrt train and the values of a resumed checkpoint are both held to these rules,
 * with this message: FM_ERR_ARG and "lr 0 is outside (0, 10]" in msg; NaN fails
 * every rule. An unknown key is FM_ERR_ARG too. */
fm_status fm_train_opt_check(const char *key, double v, char *msg, size_t len);
/* Every hyper-parameter of o by fm_train_opt_check, and the schedule: lr_schedule one
 * of FM_LR_*, warmup and decay_steps <= FM_MAX_STEPS, and a cosine's decay_steps above
 * its warmup (fm_train_step calls it first). */
fm_status fm_train_opts_check(const fm_train_opts *o, char *msg, size_t len);

/* Philox streams of one training step (seed = opts.seed, counter = element of the
 * global batch): noise x1 uses stream 4*step, t uses 4*step+1, label dropout
 * 4*step+2. Step numbers start at 1; streams are 32 bits, so step < 2^30. */
#define FM_STREAM(step, k) ((uint32_t)(4u * (uint32_t)(step) + (uint32_t)(k)))

/* One AdamW step on batch x0 [N, Cin, H, W] (already on the device) with host
 * labels y (N entries, NULL for an unconditional model). step counts from 1;
 * o must pass fm_train_opts_check (FM_ERR_ARG with its message otherwise).
 * *loss receives the batch loss before the update.
 *
 * Numerical faults: after backward and BEFORE the AdamW and EMA updates, the loss
 * and the gradient block are checked (fm_grad_check). A non-finite value returns
 * FM_ERR_NUMERIC with "step N: non-finite loss (nan)" or "step N: non-finite
 * gradient in enc.2.conv1.weight (loss 0.1234)" in be->err, and leaves the
 * weights, the EMA and the AdamW moments exactly as they were before the step,
 * so a caller may stop with its last checkpoint intact or skip the step. */
fm_status fm_train_step(fm_model *m, const fm_train_opts *o, const fm_tensor *x0, const int32_t *y,
                        uint64_t step, float *loss);

/* The checks every training step makes first: a model created for training, step in
 * 1..2^30, shard in 0..2^40, o by fm_train_opts_check (FM_ERR_ARG, message in be). */
fm_status fm_train_check_step(fm_model *m, const fm_train_opts *o, uint64_t step);
/* The end every training step shares, once m->grad holds this step's gradient and
 * *loss its loss: o->grad_hook, the non-finite guard (fm_grad_check), AdamW at
 * fm_train_lr(o, step), EMA. Used by fm_train_step and the autoencoder's step. */
fm_status fm_train_apply(fm_model *m, const fm_train_opts *o, uint64_t step, float *loss);

/* Loss and gradients (accumulated into m->grad, which the caller zeroes) for given
 * x0, x1, t, y, all on the device: the deterministic core of a training step.
 * xt and v (targets) and vpred are written when non-NULL (may be absent). */
fm_status fm_flow_loss_grad(fm_model *m, const fm_tensor *x0, const fm_tensor *x1, const fm_tensor *t,
                            const fm_tensor *y, const fm_tensor *xt, const fm_tensor *vpred,
                            const fm_tensor *loss);

/* FM_OK when the loss and every element of m->grad are finite. One SUM over the
 * whole [P] gradient block decides (a sum is non-finite iff some element is, or
 * the sum overflows); only then is each parameter's view summed, in the canonical
 * order, to name the first bad one. FM_ERR_NUMERIC with the message described at
 * fm_train_step otherwise (a sum that overflows with every element finite is
 * reported as such). Uses a few bytes of be's arena, released before returning. */
fm_status fm_grad_check(fm_model *m, uint64_t step, float loss);

typedef struct fm_sample_opts {
    int steps;        /* N uniform steps, h = 1/N */
    int heun;         /* 0 = Euler, 1 = Heun */
    int guidance;     /* conditional models: classifier-free guidance on */
    float cfg_scale;  /* w: v = v(x,t,K) + w (v(x,t,y) - v(x,t,K)) */
    /* Called after every step with the current state (may be NULL). */
    fm_status (*on_step)(void *user, int step, const fm_tensor *x);
    void *user;
} fm_sample_opts;

/* Integrate x (in: noise x1 at t = 1; out: the sample at t = 0) with the weights in
 * `params` (m->flat or m->ema). y: labels [N] i32 on the device, or NULL/absent
 * (conditional models then use the "no label" row K). After every step one SUM over
 * x checks that the state is finite: a NaN or inf (weights or a guidance scale that
 * overflow float) stops with FM_ERR_NUMERIC naming the step, rather than handing
 * back an image that quantises to black. */
fm_status fm_sample(fm_model *m, const fm_tensor *params, const fm_tensor *x, const fm_tensor *y,
                    const fm_sample_opts *o);

/* Fill x with N(0, 1) noise: Philox(seed), stream `stream`, element = flat index. */
fm_status fm_noise(fm_backend *be, const fm_tensor *x, uint64_t seed, uint32_t stream);

#endif
