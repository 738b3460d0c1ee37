/* The autoencoder of latent flow matching (docs/spec/vae.md): an architecture ("vae",
 * model.h) whose model-interface forward is the whole autoencoder, x -> moments -> z ->
 * xhat (out: the shape of x), and this API for its two halves, its loss and its
 * training step.
 *
 *   encoder  x [N,Cin,S,S] -> moments [N,2Z,s,s]  (mean mu, then log-variance lv)
 *   sample   z = mu + exp(lv/2) eps  (REPARAM_FWD; eps absent: z = mu)
 *   decoder  z [N,Z,s,s] -> xhat [N,Cin,S,S]          s = S / 2^(levels-1)
 *   loss     REC + beta KL,  REC = (1/N) sum (xhat - x)^2,  KL per image, batch mean
 *
 * Memory is the model's arena as for every architecture; encode and decode free each
 * activation after its last use. */
#ifndef FMRT_VAE_H
#define FMRT_VAE_H

#include "flow.h"
#include "model.h"

/* The metadata key of a VAE weights file that holds the latent scale k (text). */
#define FM_VAE_SCALE_KEY "latent_scale"
/* Images whose latents the scale is measured on (docs/spec/vae.md, "Latent scale"). */
#define FM_VAE_SCALE_IMAGES 10000

/* Whether cfg is an autoencoder's. */
int fm_vae_is(const fm_config *cfg);
/* The latent of n images of cfg (a vae config): [n, Z, s, s]; returns 4. */
int fm_vae_latent_shape(const fm_config *cfg, int64_t n, int64_t shape[4]);

/* The next (model-interface) forward of m, an autoencoder, samples z = mu + sigma eps
 * with this eps [N,Z,s,s] (NULL: z = mu) and, for each tensor given (NULL: not wanted),
 * copies its moments [N,2Z,s,s], its z and its KL [1] there. Stays set until changed. */
void fm_vae_want(fm_model *m, const fm_tensor *eps, const fm_tensor *moments, const fm_tensor *z,
                 const fm_tensor *kl);

/* The three numbers of a batch's loss (docs/spec/vae.md). */
typedef struct fm_vae_loss {
    float loss; /* REC + beta KL */
    float rec;  /* REC: squared error summed per image, batch mean */
    float kl;   /* KL per image, batch mean */
} fm_vae_loss;

/* Loss and gradients (accumulated into m->grad, which the caller zeroes) of x
 * [N,Cin,S,S] with noise eps (NULL: z = mu), all on the device: the deterministic core
 * of a training step. xhat, moments, z (may be NULL) receive those tensors; losses is
 * a [3] device tensor: loss, rec, kl. */
fm_status fm_vae_loss_grad(fm_model *m, float beta, const fm_tensor *x, const fm_tensor *eps,
                           const fm_tensor *xhat, const fm_tensor *moments, const fm_tensor *z,
                           const fm_tensor *losses);

/* One AdamW step on x [N,Cin,S,S] (on the device), as fm_train_step (o's AdamW, EMA,
 * learning-rate schedule, seed, shard, grad_hook and fault_step; label_drop unused),
 * with the noise of docs/spec/vae.md, "Training step", and the KL weight beta >= 0.
 * *out: the batch's loss before the update. Non-finite: FM_ERR_NUMERIC, weights
 * untouched. */
fm_status fm_vae_train_step(fm_model *m, const fm_train_opts *o, float beta, const fm_tensor *x,
                            uint64_t step, fm_vae_loss *out);

/* What fm_model_plan runs for an autoencoder m (created in `mode`) on images x: one
 * training step (TRAIN), or an encode and a decode of x (SAMPLE). */
fm_status fm_vae_plan_run(fm_model *m, fm_mode mode, const fm_tensor *x);

/* z = scale * mu(x): the latent means of x [N,Cin,S,S] with the weights `params`
 * (m->flat or m->ema), scaled by the latent scale (1: the raw means). z [N,Z,s,s]. */
fm_status fm_vae_encode(fm_model *m, const fm_tensor *params, const fm_tensor *x, float scale,
                        const fm_tensor *z);
/* out = dec(z / scale): z [N,Z,s,s] a scaled latent, out [N,Cin,S,S]. */
fm_status fm_vae_decode(fm_model *m, const fm_tensor *params, const fm_tensor *z, float scale,
                        const fm_tensor *out);

/* ---- internal to model/: the architecture's state (vae.c) for the API (vae_api.c) ---- */

/* The KL weight the next backward differentiates (0 after create). */
void fm_vae_set_beta(fm_model *m, float beta);
/* The encoder (decoder 0: x -> moments [N,2Z,s,s]) or the decoder (1: z -> xhat) alone,
 * in sampling mode, every activation released before returning; no forward of m may
 * be active (fm_model_release). */
fm_status fm_vae_run_half(fm_model *m, int decoder, const fm_tensor *params, const fm_tensor *in,
                          const fm_tensor *out);

#endif
