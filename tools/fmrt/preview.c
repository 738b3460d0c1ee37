/* Sample previews during training (cli_preview.h): the EMA weights of the training
 * model sampled on its own backend, between two steps, in memory the arena gives
 * back before the next step. */
#include "cli_preview.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_config.h"
#include "cli_label.h"
#include "cli_mem.h"
#include "flow.h"
#include "image.h"
#include "size.h"

#define PAD 2 /* pixels between tiles of every grid the tool writes */

/* Channel k of every tile into planes [ntiles][h][w], then their grid into grid, then
 * into out's channel k (out: [gh][gw][C], interleaved as PNG wants). */
static void compose_channel(uint8_t *out, uint8_t *grid, uint8_t *planes, const uint8_t *tiles,
                            int ntiles, int C, int k, int th, int tw, int cols, int gw, int gh)
{
    const size_t plane = (size_t)th * (size_t)tw, npx = (size_t)gw * (size_t)gh;
    for (int i = 0; i < ntiles; i++)
        memcpy(planes + (size_t)i * plane, tiles + ((size_t)i * (size_t)C + (size_t)k) * plane,
               plane);
    fm_grid_compose(grid, gw, gh, planes, ntiles, th, tw, cols, PAD, 0);
    for (size_t p = 0; p < npx; p++)
        out[p * (size_t)C + (size_t)k] = grid[p];
}

/* The grid (w x h, C bytes a pixel) moved right by a margin of `m` pixels, where each
 * row's name is written, vertically centred on the row; *out then owns the wider image. */
static int add_names(uint8_t **out, int *w, int h, int C, int tile_h, int rows,
                     const char *const *names)
{
    int m = 0;
    for (int r = 0; r < rows; r++)
        m = cli_label_width(names[r]) > m ? cli_label_width(names[r]) : m;
    m += 2 * PAD;
    const int W = *w + m;
    uint8_t *wide = calloc((size_t)W * (size_t)h, (size_t)C);
    if (!wide)
        return cli_error("cannot allocate a %dx%d image", W, h);
    for (int y = 0; y < h; y++)
        memcpy(wide + ((size_t)y * W + m) * C, *out + (size_t)y * *w * C, (size_t)*w * C);
    for (int r = 0; r < rows; r++)
        cli_label_draw(wide, W, h, C, PAD, PAD + r * (tile_h + PAD) + (tile_h - CLI_LABEL_HEIGHT) / 2,
                       names[r]);
    free(*out);
    *out = wide;
    *w = W;
    return 0;
}

int cli_write_grid(const char *path, const uint8_t *tiles, int ntiles, int channels, int tile_h,
                   int tile_w, int cols, const char *const *row_names)
{
    int w, h;
    char err[512];
    size_t npx, nout, nplanes, need;
    /* The PNG encoder's scratch: twice the image plus 1 MiB for libpng and zlib. */
    if (fm_grid_size(ntiles, cols, tile_h, tile_w, PAD, &w, &h) != FM_OK ||
        !fm_mul_size((size_t)w, (size_t)h, &npx) || !fm_mul_size(npx, (size_t)channels, &nout) ||
        !fm_mul_size((size_t)ntiles * (size_t)tile_h, (size_t)tile_w, &nplanes) ||
        !fm_mul_add_size(nout, 2, 1 << 20, &need))
        return cli_error("%s: grid of %d tiles in %d columns is too large", path, ntiles, cols);
    uint8_t *out = malloc(nout), *grid = channels > 1 ? malloc(npx) : out;
    uint8_t *planes = channels > 1 ? malloc(nplanes ? nplanes : 1) : NULL;
    int rc = !out || !grid || (channels > 1 && !planes)
                 ? cli_error("cannot allocate a %dx%d image", w, h)
                 : 0;
    if (rc == 0 && channels == 1)
        fm_grid_compose(out, w, h, tiles, ntiles, tile_h, tile_w, cols, PAD, 0);
    for (int k = 0; rc == 0 && channels > 1 && k < channels; k++)
        compose_channel(out, grid, planes, tiles, ntiles, channels, k, tile_h, tile_w, cols, w, h);
    if (grid != out)
        free(grid);
    grid = NULL;
    if (rc == 0 && row_names) {
        rc = add_names(&out, &w, h, channels, tile_h, (ntiles + cols - 1) / cols, row_names);
        if (rc == 0 && !fm_mul_add_size((size_t)w * (size_t)h * (size_t)channels, 2, 1 << 20, &need))
            rc = cli_error("%s: grid of %d tiles in %d columns is too large", path, ntiles, cols);
    }
    fm_arena a;
    cli_mem mem = {0};
    if (rc == 0 && (rc = cli_host_arena(&a, need, &mem)) == 0 &&
        fm_png_write(path, out, w, h, channels, &a, err, sizeof err) != FM_OK)
        rc = strstr(err, path) ? cli_error("%s", err) : cli_error("%s: %s", path, err);
    cli_mem_free(&mem);
    free(out);
    free(planes);
    return rc;
}

/* Bytes of one [n, C, H, W] u8 tensor as the arena places it (64-byte rounding, the
 * plan backend's), or 0 when the product overflows. */
static size_t u8_images_bytes(const fm_config *cfg, int n)
{
    size_t frame = (size_t)cfg->in_channels * (size_t)cfg->image * (size_t)cfg->image, b;
    if (!fm_mul_size(frame, (size_t)n, &b) || !fm_add_size(b, 63, &b))
        return 0;
    return b & ~(size_t)63;
}

int cli_preview_bytes(const fm_config *cfg, int n, size_t *bytes)
{
    *bytes = 0;
    if (n <= 0)
        return 0;
    fm_plan p;
    if (cli_plan(cfg, FM_MODE_SAMPLE, n, &p))
        return 1;
    /* The sample plan's high-water mark above its persistent part is exactly x [n,C,H,W]
     * f32, y [n] i32 and a 2-step Heun sampler with guidance (more than Euler's); the
     * parameters are already in the training arena (its EMA block is sampled). Add q
     * [n,C,H,W] u8, which the plan lacks, and 64 KiB for a device whose arena aligns
     * beyond the plan backend's 64 bytes (the margin fmrt train and sample keep). */
    size_t q = u8_images_bytes(cfg, n);
    if (q == 0 || !fm_add_size(p.total_bytes - p.state_bytes, q, bytes) ||
        !fm_add_size(*bytes, 64 << 10, bytes))
        return cli_error("a preview of %d images does not fit in this address space", n);
    return 0;
}

/* The arguments against the model, before anything is allocated. */
static int check_preview(const fm_model *m, int n, int cols)
{
    if (m->mode != FM_MODE_TRAIN)
        return cli_error("preview: needs a model created for training (its EMA weights)");
    if (n < 1 || n > m->batch)
        return cli_error("preview: %d images outside 1..%d (the training batch the arena is "
                         "planned for)",
                         n, m->batch);
    if (cols < 1)
        return cli_error("preview: %d columns", cols);
    return 0;
}

/* One preview's device tensors. */
typedef struct preview {
    fm_tensor x, y, q; /* [n, C, H, W] f32 state, [n] i32 labels, [n, C, H, W] u8 pixels */
} preview;

/* x (Philox(seed) stream 0, as fmrt sample --seed), y (rows of classes 0..K-1) and q,
 * all above the caller's mark. */
static fm_status init_preview(fm_model *m, preview *p, int n, int cols, uint64_t seed)
{
    const fm_config *c = &m->cfg;
    const int K = c->num_classes;
    p->x = fm_tensor_4d(FM_F32, n, c->in_channels, c->image, c->image);
    p->y = fm_tensor_1d(FM_I32, n);
    p->q = fm_tensor_4d(FM_U8, n, c->in_channels, c->image, c->image);
    fm_status s = fm_tensor_alloc(m->be, &p->x);
    if (s == FM_OK)
        s = fm_tensor_alloc(m->be, &p->y);
    if (s == FM_OK)
        s = fm_tensor_alloc(m->be, &p->q);
    if (s == FM_OK)
        s = fm_noise(m->be, &p->x, seed, 0);
    if (s == FM_OK && K > 0) {
        int32_t yv[FM_MAX_BATCH]; /* n <= m->batch <= FM_MAX_BATCH */
        for (int i = 0; i < n; i++)
            yv[i] = i / cols % K;
        s = fm_upload(m->be, &p->y, yv);
    }
    return s;
}

/* Noise to u8 pixels in out [n * C*H*W]: Euler on the EMA weights, quantised. */
static fm_status draw_preview(fm_model *m, int n, int cols, int steps, float cfg, uint64_t seed,
                              uint8_t *out)
{
    preview p;
    const int cond = m->cfg.num_classes > 0;
    fm_status s = init_preview(m, &p, n, cols, seed);
    if (s == FM_OK) {
        fm_sample_opts so = {.steps = steps, .guidance = cond, .cfg_scale = cfg};
        s = fm_sample(m, &m->ema, &p.x, cond ? &p.y : NULL, &so);
    }
    if (s == FM_OK)
        s = fm_run(m->be, &(fm_call){.op = FM_OP_QUANTIZE_U8, .t = {p.q, p.x}});
    if (s == FM_OK)
        s = fm_download(m->be, out, &p.q);
    return s;
}

int cli_preview(fm_model *m, int n, int cols, int steps, float cfg, uint64_t seed, const char *path)
{
    if (check_preview(m, n, cols))
        return 1;
    const fm_config *c = &m->cfg;
    const int CH = c->in_channels * c->image;
    /* n <= batch <= FM_MAX_BATCH frames of a validated config: no overflow. */
    uint8_t *out = malloc((size_t)n * (size_t)CH * (size_t)c->image);
    if (!out)
        return cli_error("preview: cannot allocate %d images", n);
    /* Everything the preview takes lies above this mark; the reset hands it back, so
     * the next training step allocates exactly where it would have. */
    fm_arena_mark mark = fm_arena_get_mark(&m->be->arena, "preview");
    fm_status s = draw_preview(m, n, cols, steps, cfg, seed, out);
    fm_arena_reset(&m->be->arena, mark);
    /* As fmrt sample's grids: RGB for 3 channels, else channels stacked vertically. */
    const int gc = c->in_channels == 3 ? 3 : 1, th = gc == 3 ? c->image : CH;
    int rc = s == FM_OK ? cli_write_grid(path, out, n, gc, th, c->image, cols, NULL)
                        : cli_error("preview: %s", m->be->err);
    free(out);
    return rc;
}
