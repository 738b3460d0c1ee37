/* The commands' side of latent flow matching (vaecmd.c, docs/spec/vae.md): the
 * autoencoder a flow model needs, found for sample, eval and info; latents to pixels;
 * the latent files of fmrt encode and fmrt decode and their options. */
#ifndef FMRT_CLI_VAECMD_H
#define FMRT_CLI_VAECMD_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "cli_latent.h"

/* The autoencoder of the flow model w read from `path` (not an autoencoder itself:
 * the caller says what to do with one). 0: a pixel model (its state records no
 * vae_crc; `flag` must then be NULL); 1: a latent model, *v read and its CRC checked
 * (cli_vae_for_model) from `flag` (--vae) or the recorded path, or, where that path
 * is not there, the file of its name beside the model (a pair moved together);
 * -1 after one error line (a missing autoencoder names the recorded path, its CRC and
 * --vae). */
int cli_model_vae(const char *path, const fm_weights *w, const char *flag, cli_vae *v);

/* The recorded autoencoder of a state whose vae_crc is set, for messages: "PATH (CRC
 * xxxxxxxx)" into buf. */
const char *cli_vae_recorded(const fm_ckpt_state *st, char *buf, size_t len);

/* q [N,C,S,S] u8 = the pixels of the sampler's state x: x itself (v NULL: a pixel
 * model), else its decoding by the attached autoencoder into img [N,Cin,S,S] f32
 * (cli_vae_decode), quantised as every sample is (QUANTIZE_U8). On x's backend;
 * the backend's message on failure (printed by the caller). */
fm_status cli_latent_pixels(fm_backend *be, cli_vae *v, const fm_tensor *x, const fm_tensor *img,
                            const fm_tensor *q);

/* The latent file of fmrt encode / decode: a NumPy .npy file (format 1.0), little-
 * endian float32 '<f4', C order, shape (N, Z, s, s): the scaled latents k mu. */
#define CLI_NPY_MAGIC "\x93NUMPY"

typedef struct cli_encode_opts {
    const char *vae, *data, *out, *split, *backend;
    long long n, batch;
} cli_encode_opts;
typedef struct cli_decode_opts {
    const char *vae, *latents, *out, *backend;
    long long n, cols;
} cli_decode_opts;
/* 0, CLI_HELP or 2 (cli.h: "option parsing"). */
int parse_encode_args(int argc, char **argv, cli_encode_opts *o);
int parse_decode_args(int argc, char **argv, cli_decode_opts *o);

#endif
