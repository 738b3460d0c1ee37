/* Nearest-neighbour 2x upsampling (the decoder's Up block) over the pool, one plane of
 * the N*C per item:
 *
 *   out[p, y, x] = in[p, y/2, x/2]             out [N,C,2H,2W], in [N,C,H,W]
 *   din[p, y, x] = (dout[2y, 2x] + dout[2y, 2x+1]) + (dout[2y+1, 2x] + dout[2y+1, 2x+1])
 *
 * The forward widens each input row once (out[2y][2x] = out[2y][2x+1] = in[y][x]) and
 * copies it to the next row; the backward adds in kernels_ref/upsample2x.c's order, so
 * both give the reference's bits. */
#include <string.h>

#include "cpu.h"

typedef struct up_job {
    float *dst;
    const float *src;
    int64_t h, w; /* the small side: in (forward) or din (backward) */
} up_job;

static void fwd_plane(void *p, int64_t k, int tid)
{
    (void)tid;
    const up_job *j = p;
    int64_t w = j->w, wo = 2 * w;
    const float *in = j->src + k * j->h * w;
    float *out = j->dst + k * 4 * j->h * w;
    for (int64_t y = 0; y < j->h; y++) {
        float *row = out + 2 * y * wo;
        for (int64_t x = 0; x < w; x++)
            row[2 * x] = row[2 * x + 1] = in[y * w + x];
        memcpy(row + wo, row, (size_t)wo * sizeof(float));
    }
}

static void bwd_plane(void *p, int64_t k, int tid)
{
    (void)tid;
    const up_job *j = p;
    int64_t w = j->w, wo = 2 * w;
    const float *g = j->src + k * 4 * j->h * w;
    float *din = j->dst + k * j->h * w;
    for (int64_t y = 0; y < j->h; y++) {
        const float *r0 = g + 2 * y * wo, *r1 = r0 + wo;
        for (int64_t x = 0; x < w; x++)
            din[y * w + x] = (r0[2 * x] + r0[2 * x + 1]) + (r1[2 * x] + r1[2 * x + 1]);
    }
}

/* UPSAMPLE2X_FWD: out[N,C,2H,2W], in[N,C,H,W] */
fm_status fm_cpu_upsample2x_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *in = &c->t[1];
    up_job j = {fm_f32(&c->t[0]), fm_f32(in), in->shape[2], in->shape[3]};
    fm_cpu_parallel(fm_cpu_of(be), in->shape[0] * in->shape[1], fwd_plane, &j);
    return FM_OK;
}

/* UPSAMPLE2X_BWD: din[N,C,H,W], dout[N,C,2H,2W] */
fm_status fm_cpu_upsample2x_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *din = &c->t[0];
    up_job j = {fm_f32(din), fm_f32(&c->t[1]), din->shape[2], din->shape[3]};
    fm_cpu_parallel(fm_cpu_of(be), din->shape[0] * din->shape[1], bwd_plane, &j);
    return FM_OK;
}
