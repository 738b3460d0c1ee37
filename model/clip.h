/* A standalone CLIP text encoder (arch clip, id 4): docs/spec/text.md's text
 * transformer as a model of its own, the form a frozen encoder converted from Hugging
 * Face (fmrt convert, transformers.CLIPTextModel) takes before `fmrt train --text`
 * copies its text.* tensors into an image model.
 *
 *   config   the text_* fields alone (in_channels, image, ... are 0)
 *   weights  exactly the text.* tensors of docs/spec/text.md (no text_proj)
 *   forward  y = token ids [N, text_ctx] i32 -> out = H [N, text_ctx, text_width]: the
 *            final layer norm's output (CLIPTextModel's last_hidden_state); x and t are
 *            absent (fm_arch.tokens). The pooled vector, H at each row's first end
 *            token (pooler_output), through fm_clip_encode.
 *   backward dL/dH -> the encoder's parameter gradients (fm_text_bwd_states). */
#ifndef FMRT_CLIP_H
#define FMRT_CLIP_H

#include "model.h"

/* Whether cfg is a standalone text encoder's. */
int fm_clip_is(const fm_config *cfg);
/* H [N, L, Dt] of ids [N, L] (i32, N <= the model's batch) with the weights `params`
 * (m->flat or m->ema), and the pooled vector [N, Dt] into `pooled` when not NULL. A
 * sampling forward: nothing is kept. */
fm_status fm_clip_encode(fm_model *m, const fm_tensor *params, const fm_tensor *ids,
                         const fm_tensor *H, const fm_tensor *pooled);
/* What fm_model_plan runs for a text encoder m (created in `mode`): a forward of
 * m->batch rows, and its backward when mode is TRAIN. */
fm_status fm_clip_plan_run(fm_model *m, fm_mode mode);

/* ---- internal to model/: the architecture's state (clip.c) for the API (clip_api.c) ---- */

/* The next forward copies its pooled vector to *pooled (NULL: not wanted). */
void fm_clip_want_pooled(fm_model *m, const fm_tensor *pooled);

#endif
