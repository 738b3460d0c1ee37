/* Sample previews during training (fmrt train --preview-every N, issue #29): a grid of
 * images from the EMA weights every N steps, from the same noise every time so the
 * grids of one run compare, as diffusers' training scripts do. Also the PNG grid
 * writer fmrt sample uses. */
#ifndef FMRT_CLI_PREVIEW_H
#define FMRT_CLI_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Extra bytes of the training backend's arena a preview of n images needs, for this
 * config (0 when n == 0): open the training backend with the training plan's
 * total_bytes plus these (plus the usual 64 KiB). A preview runs between steps, from
 * the level the step starts at, so the sum is enough whatever the step's own peak;
 * prints the planner's error and returns 1 on failure. */
int cli_preview_bytes(const fm_config *cfg, int n, size_t *bytes);

/* Sample n images (1 <= n <= m->batch: the sampler's forwards run at batch n, twice
 * per step with guidance, never 2n) from the EMA weights m->ema of a training model,
 * on m's backend: noise Philox(seed), stream 0 (as fmrt sample --seed, so the same
 * noise every preview), `steps` Euler steps; a conditional model (K classes) draws
 * image i of class i / cols % K with guidance scale cfg. Writes a grey PNG grid of
 * `cols` columns to path crash-safely. Every tensor it takes from m's arena is given
 * back (arena mark) and the model holds no forward afterwards, so the next
 * fm_train_step runs exactly as without the preview. Call it between steps, never
 * between a training forward and its backward. 0, or 1 after one cli_error line. */
int cli_preview(fm_model *m, int n, int cols, int steps, float cfg, uint64_t seed,
                const char *path);

/* ntiles tiles of channels x tile_h x tile_w u8 pixels (tile after tile, each
 * channel-major as the models' tensors) as a PNG grid of `cols` columns with 2-pixel
 * gaps, grey for 1 channel, RGB for 3, written crash-safely (fm_png_write). row_names
 * (NULL: none): one name a row, written in a margin left of the rows. 0, or 1 after
 * one cli_error line. */
int cli_write_grid(const char *path, const uint8_t *tiles, int ntiles, int channels, int tile_h,
                   int tile_w, int cols, const char *const *row_names);

#endif
