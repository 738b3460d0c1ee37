/* Grayscale PNGs through libpng with every allocation in a scratch arena; see image.h. */
#include "image.h"

#include <limits.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "file.h"

fm_status fm_grid_size(int ntiles, int cols, int tile_h, int tile_w, int pad, int *w, int *h)
{
    if (!w || !h || ntiles < 0 || cols < 1 || tile_h < 1 || tile_w < 1 || pad < 0)
        return FM_ERR_ARG;
    int64_t rows = ((int64_t)ntiles + cols - 1) / cols;
    int64_t ww = (int64_t)cols * tile_w + ((int64_t)cols + 1) * pad;
    int64_t hh = rows * tile_h + (rows + 1) * pad;
    if (ww > INT_MAX / 2 || hh > INT_MAX / 2)
        return FM_ERR_ARG;
    *w = (int)ww;
    *h = (int)hh;
    return FM_OK;
}

void fm_grid_compose(uint8_t *dst, int dst_w, int dst_h, const uint8_t *tiles, int ntiles,
                     int tile_h, int tile_w, int cols, int pad, uint8_t background)
{
    if (!dst || dst_w <= 0 || dst_h <= 0)
        return;
    memset(dst, background, (size_t)dst_w * (size_t)dst_h);
    if (!tiles || ntiles <= 0 || cols <= 0 || tile_h <= 0 || tile_w <= 0 || pad < 0)
        return;
    size_t tile = (size_t)tile_h * (size_t)tile_w;
    for (int i = 0; i < ntiles; i++) {
        int64_t x0 = pad + (int64_t)(i % cols) * (tile_w + (int64_t)pad);
        int64_t y0 = pad + (int64_t)(i / cols) * (tile_h + (int64_t)pad);
        if (x0 >= dst_w || y0 >= dst_h)
            continue;
        size_t cw = (size_t)(x0 + tile_w <= dst_w ? tile_w : dst_w - x0);
        for (int r = 0; r < tile_h && y0 + r < dst_h; r++)
            memcpy(dst + (size_t)(y0 + r) * (size_t)dst_w + (size_t)x0,
                   tiles + (size_t)i * tile + (size_t)r * (size_t)tile_w, cw);
    }
}

/* ---- libpng with arena memory ------------------------------------------------------- */

typedef struct png_ctx {
    fm_arena *arena;
    int arena_short; /* an allocation did not fit */
    uint8_t *buf;    /* the encoded file, built in the arena */
    size_t cap, len;
    int overflow; /* the encoded file outgrew buf (should not happen: cap is a bound) */
    png_structp png;
    png_infop info;
    char *err;
    size_t errlen;
} png_ctx;

static png_voidp png_arena_alloc(png_structp png, png_alloc_size_t size)
{
    png_ctx *c = png_get_mem_ptr(png);
    size_t off;
    if (fm_arena_alloc(c->arena, size, &off) != FM_OK) {
        c->arena_short = 1;
        return NULL;
    }
    return fm_arena_ptr(c->arena, off);
}

/* A no-op: the arena is reset to its entry mark once the file is written, which
 * releases everything libpng and zlib took at once. */
static void png_arena_free(png_structp png, png_voidp p)
{
    (void)png;
    (void)p;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    fm_errorf(c->err, c->errlen, FM_ERR_FORMAT, "libpng: %s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_to_buf(png_structp png, png_bytep data, png_size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->cap - c->len) {
        c->overflow = 1;
        png_error(png, "encoded image outgrew its buffer");
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
}

static void png_flush_nop(png_structp png)
{
    (void)png;
}

/* Encode into c->buf. 0 on success. Everything that must survive the longjmp lives
 * in *c, so no local is clobbered. */
static int png_encode(png_ctx *c, const uint8_t *pixels, int width, int height, int channels)
{
    c->png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, c, png_on_error, png_on_warning, c,
                                       png_arena_alloc, png_arena_free);
    if (!c->png)
        return -1;
    c->info = png_create_info_struct(c->png);
    if (!c->info) {
        png_destroy_write_struct(&c->png, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(c->png))) {
        png_destroy_write_struct(&c->png, &c->info);
        return -1;
    }
    png_set_write_fn(c->png, c, png_to_buf, png_flush_nop);
    png_set_IHDR(c->png, c->info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(c->png, c->info);
    const size_t row = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++)
        png_write_row(c->png, pixels + (size_t)y * row);
    png_write_end(c->png, c->info);
    png_destroy_write_struct(&c->png, &c->info);
    return 0;
}

fm_status fm_png_write_gray(const char *path, const uint8_t *pixels, int width, int height,
                            fm_arena *scratch, char *err, size_t errlen)
{
    return fm_png_write(path, pixels, width, height, 1, scratch, err, errlen);
}

fm_status fm_png_write(const char *path, const uint8_t *pixels, int width, int height,
                       int channels, fm_arena *scratch, char *err, size_t errlen)
{
    if (!path || !pixels || !scratch || !scratch->base)
        return fm_errorf(err, errlen, FM_ERR_ARG, "fm_png_write: NULL argument");
    if (channels != 1 && channels != 3)
        return fm_errorf(err, errlen, FM_ERR_ARG, "%s: %d channels (grey 1 or RGB 3)", path,
                         channels);
    /* PNG allows 2^31 - 1 per side; 2^24 keeps the size arithmetic far from overflow. */
    if (width < 1 || height < 1 || width > (1 << 24) || height > (1 << 24))
        return fm_errorf(err, errlen, FM_ERR_ARG, "%s: image size %dx%d out of range 1..%d", path,
                         width, height, 1 << 24);

    /* Bound on the encoded size: each row gets a filter byte; deflate never grows
     * data by more than stored blocks do (5 bytes per 16 KiB; raw/8 + raw/64 is
     * zlib's own conservative bound for any window); libpng cuts IDAT chunks of
     * PNG_ZBUF_SIZE bytes, 12 bytes of framing each; plus signature, IHDR, IEND. */
    size_t raw = (size_t)height * ((size_t)width * (size_t)channels + 1);
    size_t zlen = raw + raw / 8 + raw / 64 + 64;
    size_t cap = zlen + 12 * (zlen / 1024 + 2) + 128;

    fm_arena_mark mark = fm_arena_get_mark(scratch, "png");
    png_ctx c;
    memset(&c, 0, sizeof c);
    c.arena = scratch;
    c.err = err;
    c.errlen = errlen;
    c.cap = cap;
    size_t off;
    fm_status s = FM_OK;
    if (fm_arena_alloc(scratch, cap, &off) != FM_OK) {
        s = fm_errorf(err, errlen, FM_ERR_ARENA,
                      "%s: scratch arena has %zu bytes free, needs %zu for "
                      "the encoded image alone",
                      path, fm_arena_free_bytes(scratch), cap);
        goto done;
    }
    c.buf = fm_arena_ptr(scratch, off);
    if (png_encode(&c, pixels, width, height, channels) != 0) {
        if (c.arena_short)
            s = fm_errorf(err, errlen, FM_ERR_ARENA,
                          "%s: scratch arena too small for libpng and zlib (%zu bytes free)", path,
                          fm_arena_free_bytes(scratch));
        else if (!c.png && !c.overflow)
            s = fm_errorf(err, errlen, FM_ERR_FORMAT, "%s: libpng could not start", path);
        else
            s = FM_ERR_FORMAT; /* png_on_error wrote the message */
        goto done;
    }
    const void *chunk = c.buf;
    s = fm_file_write_atomic(path, &chunk, &c.len, 1, err, errlen);
done:
    fm_arena_reset(scratch, mark);
    return s;
}
