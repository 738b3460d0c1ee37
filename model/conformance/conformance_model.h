/* Conformance for the whole model (see conformance.h for rows and tolerances). */
#ifndef FMRT_CONFORMANCE_MODEL_H
#define FMRT_CONFORMANCE_MODEL_H

#include "conformance.h"
#include "model.h"

/* Whole-model rows for `preset` ("tiny" | "mnist" | ...) at batch `batch`, unconditional
 * or with 10 classes and guidance. "PRESET+text" ("tiny+text", "dit-tiny+text") is the
 * preset conditioned on prompts instead (docs/spec/text.md; a small text encoder:
 * byte-level ids, text_ctx 12, width 32, 2 layers of 2 heads, text_ff 64): its
 * unconditional rows feed every sample the empty prompt, its conditional ones prompts
 * of several lengths (padding after the end token, an empty one among them) with
 * guidance against the empty prompt. Identical parameters on both backends (the
 * seeded init, with the zero-initialised tensors such as conv_out filled with
 * random values so that every gradient is non-zero), then
 *   model_fwd          v for the same x, t, y                    NMSE <= 1e-8
 *   sample_euler10    10 Euler steps from fm_noise (same seed)  NMSE <= 1e-6
 *   sample_heun10     10 Heun steps, likewise                   NMSE <= 1e-6
 *   train_loss        one fm_train_step: the loss               NMSE <= 1e-8
 *   train_grads       worst per-parameter gradient NMSE         <= 1e-6
 *   train_params      parameters after AdamW (whole block)      <= 1e-6
 *   train_ema         EMA after the step (whole block)          <= 1e-6
 * An autoencoder (docs/spec/vae.md; unconditional only) has model_fwd (z = mu), then
 *   vae_encode         2 mu(x)                                   NMSE <= 1e-8
 *   vae_decode         dec(z / 2) of each backend's own z        NMSE <= 1e-8
 * and the train_* rows of its own step (REC + 0.5 KL) instead of the samplers.
 * Sampling runs before the step, so both samplers see the very same weights. A
 * failed call gives an ERROR (or "unsupported") row naming the stage; the rows that
 * depend on it are not emitted. Returns FM_ERR_ARG for a bad preset or batch,
 * FM_ERR_ARENA when `host` cannot hold the staging buffers, else FM_OK. */
fm_status fm_conformance_model(fm_backend *ref, fm_backend *be, fm_arena *host, const char *preset,
                               int batch, int conditional, fm_conf_report cb, void *user,
                               fm_conf_summary *sum);

/* The row sets of preset: 2 (unconditional and conditional) for a velocity model's, 1
 * for an autoencoder's (no labels), 0 for an unknown name. */
int fm_conformance_model_conditions(const char *preset);

/* Bytes fm_conformance_model needs: in each backend's arena (`device`) and in the
 * host arena (`host`, including alignment). `scratch` holds the planner's model
 * description (a caller-owned fm_model). Messages go to err. */
fm_status fm_conformance_model_bytes(const char *preset, int batch, int conditional,
                                     fm_model *scratch, size_t *device, size_t *host, char *err,
                                     size_t errlen);

#endif
