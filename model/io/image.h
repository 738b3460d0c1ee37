/* Grayscale PNG output and sample grids, without a heap.
 *
 * A grid of ntiles tiles (tile_h x tile_w bytes each, stored one after another)
 * in `cols` columns, row-major, `pad` background pixels between tiles and around
 * the edge:
 *
 *   width  = cols * tile_w + (cols + 1) * pad
 *   height = rows * tile_h + (rows + 1) * pad,   rows = ceil(ntiles / cols)
 */
#ifndef FMRT_IMAGE_H
#define FMRT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "status.h"

/* Grid size in pixels. FM_ERR_ARG for a non-positive tile size or column count,
 * a negative pad or ntiles, or a size beyond INT_MAX / 2 pixels per side. */
fm_status fm_grid_size(int ntiles, int cols, int tile_h, int tile_w, int pad, int *w, int *h);

/* Fill dst (dst_w x dst_h, row-major) with background and copy the tiles into
 * their cells. Pixels falling outside dst are clipped, so a too-small dst is safe. */
void fm_grid_compose(uint8_t *dst, int dst_w, int dst_h, const uint8_t *tiles, int ntiles,
                     int tile_h, int tile_w, int cols, int pad, uint8_t background);

/* Write an 8-bit grayscale PNG, crash-safely (fm_file_write_atomic: temporary file,
 * fsync, rename). The encoded image is built in `scratch` first; libpng's structs
 * and zlib's deflate state come from there too (about 300 KiB plus the image
 * size). scratch is returned to its state at entry before this returns. Errors:
 * FM_ERR_ARG (sizes), FM_ERR_ARENA (scratch too small), FM_ERR_FORMAT (libpng
 * reported an error, message in err), FM_ERR_IO (the file). */
fm_status fm_png_write_gray(const char *path, const uint8_t *pixels, int width, int height,
                            fm_arena *scratch, char *err, size_t errlen);
/* The same for `channels` 1 (grey) or 3 (RGB, pixels interleaved: row-major
 * [height][width][3]); the scratch it needs grows with the image's bytes. */
fm_status fm_png_write(const char *path, const uint8_t *pixels, int width, int height,
                       int channels, fm_arena *scratch, char *err, size_t errlen);

#endif
