/* Batched transpose: out[b,c,r] = in[b,r,c], in[B,R,C], out[B,C,R]; its own backward.
 * 32 x 32 tiles through shared memory (block 32 x 8, each thread 4 elements), so that
 * both the reads and the writes are contiguous; the tile's row is padded to 33 floats
 * against bank conflicts. Grid: (tiles of C, tiles of R, B). */
#include "cuda.h"

#define TR_TILE 32
#define TR_ROWS 8

static __global__ void transpose_kernel(float *out, const float *in, int R, int C)
{
    __shared__ float tile[TR_TILE][TR_TILE + 1];
    const long long b = blockIdx.z;
    const int c0 = blockIdx.x * TR_TILE, r0 = blockIdx.y * TR_TILE;
    const float *src = in + b * R * C;
    float *dst = out + b * R * C;
    for (int k = threadIdx.y; k < TR_TILE; k += TR_ROWS) {
        int r = r0 + k, c = c0 + threadIdx.x;
        if (r < R && c < C)
            tile[k][threadIdx.x] = src[(long long)r * C + c];
    }
    __syncthreads();
    for (int k = threadIdx.y; k < TR_TILE; k += TR_ROWS) {
        int c = c0 + k, r = r0 + threadIdx.x;
        if (r < R && c < C)
            dst[(long long)c * R + r] = tile[threadIdx.x][k];
    }
}

/* t: out[B,C,R], in[B,R,C] */
extern "C" fm_status fm_cuda_transpose(fm_backend *be, const fm_call *c)
{
    const fm_tensor *in = &c->t[1];
    int B = (int)in->shape[0], R = (int)in->shape[1], C = (int)in->shape[2];
    dim3 grid((unsigned)((C + TR_TILE - 1) / TR_TILE), (unsigned)((R + TR_TILE - 1) / TR_TILE),
              (unsigned)B);
    FM_CUDA_LAUNCH(transpose_kernel, grid, dim3(TR_TILE, TR_ROWS), 0, fm_cuda_of(be)->stream)(
        fm_cuda_f32(&c->t[0]), fm_cuda_f32(in), R, C);
    return fm_cuda_launched(be, "transpose");
}
