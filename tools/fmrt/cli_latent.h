/* Latent flow matching in the CLI (docs/spec/vae.md): an autoencoder's weights file
 * read beside a flow model, its model on the flow model's backend, the check that a
 * latent model gets the autoencoder it was trained with (by the CRC-32 the file ends
 * with), and the latent shape a flow model takes from it. */
#ifndef FMRT_CLI_LATENT_H
#define FMRT_CLI_LATENT_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "cli_mem.h"
#include "vae.h"

typedef struct cli_vae {
    char path[4096];   /* as found (cli_find_input) */
    fm_weights w;      /* the parsed file, in wmem until attached */
    cli_mem wmem;
    uint32_t crc;      /* the file's CRC-32 */
    float scale;       /* its latent scale k; 1 when it records none (a checkpoint) */
    fm_model *m;       /* cli_vae_attach: sample mode on the caller's backend; calloc'd */
} cli_vae;

/* Read and check an autoencoder's weights or checkpoint file (arch vae, tensors
 * checked). One error line naming the file otherwise. */
int cli_vae_read(const char *path, cli_vae *v);
/* The autoencoder of a latent flow model whose run state is st (st->vae_crc set):
 * `flag` (--vae) when given, else the path the model recorded (text.vae). Its CRC
 * must be st->vae_crc: a mismatch is one error line naming both. */
int cli_vae_for_model(const char *model_path, const fm_ckpt_state *st, const char *flag,
                      cli_vae *v);
/* Arena bytes the autoencoder needs for n images (encode and decode, sample mode). */
int cli_vae_arena_bytes(const cli_vae *v, int n, size_t *bytes);
/* Its model on be (sample mode, batches up to n) from the file; the file's memory is
 * freed. */
int cli_vae_attach(cli_vae *v, fm_backend *be, int n);
/* A flow model's config for this autoencoder's latents: in_channels = Z, image = s
 * (every other field as cfg has it). */
void cli_vae_latent_config(const cli_vae *v, fm_config *cfg);
/* Record the autoencoder in a flow run's state: vae_crc and text.vae (pointing into v). */
void cli_vae_record(const cli_vae *v, fm_ckpt_state *st);
/* out [N,Cin,S,S] = decode(z / k) on the attached model. */
int cli_vae_decode(cli_vae *v, const fm_tensor *z, const fm_tensor *out);
/* z [N,Z,s,s] = k mu(x). */
int cli_vae_encode(cli_vae *v, const fm_tensor *x, const fm_tensor *z);
void cli_vae_close(cli_vae *v);

#endif
