/* The DiT of docs/spec/dit.md (diffusion transformer with adaLN-Zero), the
 * second architecture behind the fm_unet_* functions (unet.h dispatches on
 * cfg.arch). Internal to model/. */
#ifndef FMRT_DIT_H
#define FMRT_DIT_H

#include "unet.h"

/* The position table and token index (persistent, after the parameters). */
fm_status fm_dit_create(fm_unet *m);
/* docs/spec/dit.md's initialisation (Xavier linears, N(0, 0.02) time and class
 * embeddings, zero adaLN and final layers), Philox(seed) stream = parameter index. */
fm_status fm_dit_init_params(fm_unet *m, uint64_t seed);
/* fm_unet_forward / fm_unet_backward for a DiT (inputs already checked). */
fm_status fm_dit_forward(fm_unet *m, const fm_tensor *P, const fm_tensor *v, const fm_tensor *x,
                         const fm_tensor *t, const fm_tensor *y);
fm_status fm_dit_backward(fm_unet *m, const fm_tensor *dv);

#endif
