/* Backends, weights and the sampling model of the fmrt commands: opening a backend
 * and its precision rule, finding, reading and checking a weights file, a U-Net
 * ready to sample. */
#ifndef FMRT_CLI_BACKEND_H
#define FMRT_CLI_BACKEND_H

#include <stddef.h>

#include "backend.h"
#include "cli_mem.h"
#include "model.h"
#include "weights.h"

/* Open backend `name` with an arena of `arena_bytes` (host block for ref, device
 * allocation otherwise). Prints the backend's message and what this build has on
 * failure. */
int cli_open_backend(fm_backend *be, const char *name, size_t arena_bytes, cli_mem *mem);
/* FM_BACKEND_* flags every backend the tool opens gets (--tf32 sets FM_BACKEND_TF32). */
extern unsigned cli_backend_flags;
/* --precision bf16 is the cpu backend's alone (cli_backend_flags has FM_BACKEND_BF16):
 * cli_precision_backend turns a request for every backend ("all" or NULL) into "cpu"
 * and leaves others as asked; cli_precision_check(name) is 0, or 1 after one error line
 * when the backend `name` has no bfloat16 path (cli_open_backend checks the backend it
 * opened, "auto" resolved). */
const char *cli_precision_backend(const char *asked);
int cli_precision_check(const char *name);
/* --threads N (train, sample, bench, conformance, golden; taken out of argv by main.c):
 * the cpu backend's worker threads, 0 = the cores available. */
extern int cli_threads;

/* The file a weights argument names: arg itself, unless arg has no '/' and names no
 * file here; then the installed copy <folder of bin/fmrt>/../share/fmrt/arg (written to
 * buf, len bytes) when it exists. buf holds the installed path tried, or "" when none
 * was (the messages name both places). cli_load_weights looks up its path this way. */
#define CLI_WEIGHTS_PATH 4352 /* a buf that holds PATH_MAX and a name */
const char *cli_weights_path(const char *arg, char *buf, size_t len);
/* Read and validate a weights or checkpoint file; *w points into *mem. A bare name
 * missing here is looked up with cli_weights_path. */
int cli_load_weights(const char *path, fm_weights *w, size_t *file_bytes, cli_mem *mem);
/* fm_model_check_weights for mode and use_raw (the file's tensors against its config's
 * layout, values finite): run before planning or allocating anything the file's
 * config sizes, so that no header can ask for more memory than its file holds. */
int cli_check_weights(const char *path, const fm_weights *w, fm_mode mode, int use_raw);

/* A U-Net for sampling batches of up to N images: backend `backend` (NULL: auto) with
 * the plan's arena plus `extra` bytes, the model from w (checked by cli_check_weights
 * before), *wmem freed once the model holds its tensors. Prints the error; every
 * stage is closed by cli_close_sampler whatever was reached. */
typedef struct cli_sampler {
    fm_backend be;
    int be_open;
    cli_mem bemem;
    fm_model *m; /* calloc'd */
} cli_sampler;
int cli_open_sampler(const char *path, cli_mem *wmem, const fm_weights *w, const char *backend,
                     int N, int raw, size_t extra, cli_sampler *s);
void cli_close_sampler(cli_sampler *s);

#endif
