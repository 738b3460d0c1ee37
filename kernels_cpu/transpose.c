/* Batched transpose on the pool: out[b,c,r] = in[b,r,c], in[B,R,C], out[B,C,R] (the
 * DiT's layout op: tokens [N,T,D] <-> channels [N,D,T]). Square tiles of FM_TILE so
 * that both the rows read and the rows written stay in L1; one work item is one
 * tile row of one batch: B * ceil(R / FM_TILE) items. Exact (a copy). */
#include "cpu.h"

#define FM_TILE 32

typedef struct transpose_job {
    float *out;
    const float *in;
    int64_t R, C, row_tiles;
} transpose_job;

static void tile_row(void *ctx, int64_t item, int tid)
{
    (void)tid;
    const transpose_job *j = ctx;
    const int64_t b = item / j->row_tiles, r0 = (item % j->row_tiles) * FM_TILE;
    const int64_t r1 = r0 + FM_TILE < j->R ? r0 + FM_TILE : j->R;
    const float *in = j->in + b * j->R * j->C;
    float *out = j->out + b * j->R * j->C;
    for (int64_t c0 = 0; c0 < j->C; c0 += FM_TILE) {
        const int64_t c1 = c0 + FM_TILE < j->C ? c0 + FM_TILE : j->C;
        for (int64_t c = c0; c < c1; c++)
            for (int64_t r = r0; r < r1; r++)
                out[c * j->R + r] = in[r * j->C + c];
    }
}

/* TRANSPOSE: out[B,C,R], in[B,R,C] */
fm_status fm_cpu_transpose(fm_backend *be, const fm_call *c)
{
    const fm_tensor *in = &c->t[1];
    const int64_t B = in->shape[0], R = in->shape[1];
    transpose_job j = {.out = fm_f32(&c->t[0]), .in = fm_f32(in), .R = R, .C = in->shape[2],
                       .row_tiles = (R + FM_TILE - 1) / FM_TILE};
    fm_cpu_parallel(fm_cpu_of(be), B * j.row_tiles, tile_row, &j);
    return FM_OK;
}
