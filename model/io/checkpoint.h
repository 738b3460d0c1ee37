/* Glue between the U-Net and the flat weights format (weights.h,
 * docs/weights-format.md).
 *
 * What a file holds, by kind and by the mode the model was created in:
 *
 *   tensor            weights, sample model   weights, train model   checkpoint
 *   <canonical name>  m->flat                 m->ema                 m->ema
 *   raw.<name>        -                       m->flat                m->flat
 *   adam_m, adam_v    -                       -                      [P] each
 *   metadata          -                       step, seed             fmrt_ckpt_* (below)
 *
 * Canonical names carry the weights a sampler should use (the EMA when there is
 * one, as the seed notebook samples with), so every file, checkpoints included,
 * can be sampled; `raw.<name>` keeps the raw weights beside them. Each block is
 * written in the canonical order, so every block is one contiguous float run of
 * the payload.
 *
 * Memory: saving downloads the blocks from the backend (which may be a device)
 * into the caller's host scratch arena first; fm_model_save_scratch_bytes says
 * how much. Loading uploads straight from the parsed file image. */
#ifndef FMRT_CHECKPOINT_H
#define FMRT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "weights.h"

#define FM_RAW_PREFIX "raw."

/* 1 when w holds raw weights beside the canonical (EMA) ones: a tensor named raw.*. */
int fm_weights_has_raw(const fm_weights *w);

/* Text a run records beside its tensors, as u8 tensors of the file (not
 * NUL-terminated; n = 0: none):
 *   text.data     where the training data came from: "data=DIR", or
 *                 "images=FILE\nlabels=FILE" (absolute paths)
 *   text.classes  the classes' names, one per line, num_classes lines; each 1 to
 *                 FM_CLASS_NAME_MAX - 1 bytes, printable, without ',' (so that a
 *                 list of them is a --classes value)
 * Both at most FM_TEXT_MAX bytes. A reader points s into the parsed file. */
#define FM_TEXT_MAX 8192
#define FM_CLASS_NAME_MAX 64
typedef struct fm_text {
    const char *s;
    size_t n;
} fm_text;

/* Everything a trainer needs, beside the tensors, to continue a run bit-identically.
 * Floats travel as their IEEE bits in the 64-bit metadata values. */
typedef struct fm_ckpt_state {
    uint64_t step;       /* optimizer steps done (the next step is step + 1) */
    uint64_t epoch;      /* epoch the next step belongs to (0-based) */
    uint64_t cursor;     /* batches of that epoch already consumed */
    uint64_t batch;      /* batch size the cursor counts in */
    uint64_t data_count; /* images in the training set (the shuffle's length) */
    /* The run's options, the very struct fm_train_step takes: seed (the Philox key of
     * init, noise, t, label dropout and shuffle) and the seven hyper-parameters are
     * saved; fault_step, a test hook, is not (0 after a read). */
    fm_train_opts opts;
    /* The epoch's losses so far (the cursor steps before this one that were not
     * skipped): their sum and count, so that the epoch's mean spans a resume. */
    double epoch_loss;
    uint64_t epoch_steps;
    fm_text data, classes; /* weights files and checkpoints alike (above) */
    /* Latent flow matching (docs/spec/vae.md), weights files and checkpoints alike,
     * each absent (0 / empty) unless set:
     *   latent_scale  an autoencoder's latent scale k (metadata "latent_scale", the
     *                 float's bits; positive and finite)
     *   vae_crc       a flow model trained on latents: the CRC-32 its autoencoder's
     *                 weights file ends with (metadata "vae_crc", 1..2^32-1)
     *   vae           that autoencoder's file as the run named it (text.vae) */
    float latent_scale;
    uint64_t vae_crc;
    fm_text vae;
} fm_ckpt_state;

/* 1 when name (len bytes) is a valid class name (FM_CLASS_NAME_MAX, printable, no ','). */
int fm_class_name_ok(const char *name, size_t len);
/* The index of class `name` (NUL-terminated) in a text.classes list, or -1. */
int fm_class_index(const fm_text *classes, const char *name);

/* The weights-file entry of the f32 parameter p, named prefix + p->name, its data at
 * host + p->offset (host: a copy of the flat parameter block). 0, or -1 when the name
 * is longer than a file holds. Every writer of parameters builds its directory so. */
int fm_wtensor_of_param(fm_wtensor *e, const char *prefix, const fm_param *p, const float *host);
/* Entry *e of a weights file for a recorded text x (a 1-D u8 tensor `name` over x's
 * bytes): 1, or 0 (e untouched) when x is NULL or empty. */
int fm_text_tensor(fm_wtensor *e, const char *name, const fm_text *x);

/* Host scratch bytes fm_model_save needs for this model and kind. */
size_t fm_model_save_scratch_bytes(const fm_model *m, int kind);

/* Write m to path (crash-safely, through fm_weights_save). kind is
 * FM_WEIGHTS_KIND_WEIGHTS or FM_WEIGHTS_KIND_CHECKPOINT; a checkpoint needs a
 * train-mode model and st. For weights files st may be NULL (else its step and
 * seed are recorded). scratch is restored before returning. */
fm_status fm_model_save(const fm_model *m, const char *path, int kind, const fm_ckpt_state *st,
                       fm_arena *scratch, char *err, size_t errlen);

/* Fill m (already created) from a parsed file. Checks the config (both configs in
 * the message when they differ), that every tensor of the file belongs to the model
 * (a layout name, raw.<name>, adam_m / adam_v, text.*: anything else is refused by
 * its name, so a file never loses tensors silently) and every tensor's presence,
 * dtype, shape and values (the message names the tensor, what the model expects and what the file
 * has; NaN or inf anywhere, or a negative AdamW second moment, is refused with the
 * tensor's name and the count).
 *
 *   sample model: m->flat = raw.<name> when use_raw, else the canonical tensors.
 *   train model:  m->flat = raw.<name> when present, else the canonical tensors;
 *                 m->ema = the canonical tensors; adam_m / adam_v from a
 *                 checkpoint, else zero. use_raw is ignored.
 * The state is read first, by fm_ckpt_state_read, into st (may be NULL: read and
 * checked all the same); *has_state (may be NULL) is 1 when the file is a
 * checkpoint whose state was restored. */
fm_status fm_model_load(fm_model *m, const fm_weights *w, int use_raw, fm_ckpt_state *st,
                       int *has_state, char *err, size_t errlen);

/* The run state of a parsed file. A weights file: step and seed when recorded, the
 * recorded text, the rest 0. A checkpoint: every key of fm_ckpt_state is required (a
 * missing one is named) except those later versions added, which default to what
 * older runs did (lr_schedule constant, warmup and decay_steps 0, no epoch losses, no
 * text). Text is checked by the rules above (classes against the config's
 * num_classes). The hyper-parameters pass fm_train_opt_check, step, seed and batch are in
 * their fmrt train flags' ranges (FM_MAX_STEPS, FM_MAX_SEED, FM_MAX_BATCH),
 * batch <= data_count < 2^31, and the position agrees with the step:
 * step = epoch (data_count / batch) + cursor with cursor < data_count / batch.
 * FM_ERR_FORMAT with a message naming the field and its value otherwise. */
fm_status fm_ckpt_state_read(const fm_weights *w, fm_ckpt_state *st, char *err, size_t errlen);

/* Everything fm_model_load checks, without a backend or any memory sized by the file:
 * the layout of w's config (fm_model_layout, into scratch, which is caller memory)
 * against the file's tensor directory and values, for this mode and use_raw. Every
 * byte of parameters the model would allocate is then a byte of the file's payload,
 * so run this before planning or allocating for a file's config. */
fm_status fm_model_check_weights(const fm_weights *w, fm_mode mode, int use_raw, fm_model *scratch,
                                char *err, size_t errlen);

/* fm_model_create with the file's config, then fm_model_load. */
fm_status fm_model_create_from_weights(fm_model *m, fm_backend *be, const fm_weights *w, fm_mode mode,
                                      int batch, int use_raw, fm_ckpt_state *st, int *has_state,
                                      char *err, size_t errlen);

#endif
