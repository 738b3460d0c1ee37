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

/* The lookup rule for a file the commands read by name (weights, checkpoints,
 * statistics: sample, eval's SAMPLES / --classifier / --ref, info, export, convert,
 * diff, train --resume), one rule everywhere: a name with a '/', or one that names
 * something here, is taken as given; a bare name missing here is the shipped copy,
 * looked for in this order:
 *   1. the installed <prefix>/share/fmrt/NAME (prefix: the folder above bin/fmrt);
 *   2. the source tree's model/NAME this tool was built from (FMRT_MODEL_DIR), so the
 *      build tree's fmrt finds the shipped files too.
 * cli_shipped_path looks in those two places only (eval's defaults, which a stray
 * file here must not replace): buf gets the path found, returned, or the places
 * tried ("A, nor B") and NULL. cli_weights_path applies the rule: arg, or buf when a
 * shipped copy was found; buf holds the places tried, or "" when none was.
 * cli_find_input is cli_weights_path with the error: a bare name found nowhere is
 * one line naming every place tried ("cannot open NAME: ... (nor A, nor B)") and 1;
 * else 0 and *path is the file to open. */
#define CLI_WEIGHTS_PATH 8704 /* a buf that holds two places: 2 x (PATH_MAX and a name) */
const char *cli_shipped_path(const char *name, char *buf, size_t len);
const char *cli_weights_path(const char *arg, char *buf, size_t len);
int cli_find_input(const char *arg, char *buf, size_t len, const char **path);
/* Read and validate a weights or checkpoint file; *w points into *mem. path is looked
 * up with cli_find_input. */
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
