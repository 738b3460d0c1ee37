/* conv2d as im2col + cuBLAS GEMMs (twin of kernels_cl/conv2d.{c,cl}). R = Ci K K,
 * HW = Ho Wo. Work is done on chunks of output columns: `nimg` whole images
 * n0 .. n0 + nimg - 1 (pix0 = 0, pcols = HW), or, when one image's columns do not fit
 * the scratch, a run of pcols pixels pix0 .. of one image (nimg = 1). The chunk's
 * cols = nimg pcols columns, column j pcols + (q - pix0) for image n0 + j, pixel
 * q = y Wo + x, are row-major matrices with `cols` columns in the backend scratch:
 *
 *   col[r, jc]  r = (c K + ky) K + kx:  in[n, c, y s - p + ky, x s - p + kx] (0 outside)
 *   dT[o, jc]   = dout[n, o, q]         (backward only, behind col)
 *
 *   forward   out is first filled with b + bn + res (conv2d_bias_fill) when any is given, then
 *             per image j of the chunk (one strided-batched GEMM, w shared: stride 0)
 *             out[n0 + j][:, pix0 .. pix0 + pcols) (+)= w[Co, R] col[:, j pcols ..]
 *                 m = Co, n = pcols, k = R, lda = R, ldb = cols, ldc = HW
 *             A 1x1 stride-1 unpadded conv needs no im2col: col of image n IS in[n]
 *             ([Ci, HW], ldb = HW, stride Ci HW), one batched GEMM over all N.
 *   backward  dT = dout of the chunk                                  (conv2d_load_dout)
 *             dw[Co, R] += dT[Co, cols] col[R, cols]^T   m = Co, n = R, k = cols, beta 1
 *             dcol[R, cols] = w[Co, R]^T dT[Co, cols]    m = R, n = cols, k = Co
 *                             (written over col once dw has used it; same stream)
 *             din = col2im(dcol), a gather per input pixel, no atomics  (conv2d_col2im)
 *             db[o] += sum dout[., o, ., .]   one block per o, tree reduction (conv2d_db)
 *
 * Scratch per column: R floats forward, R + Co floats backward. Whole images per
 * chunk whenever one image fits; else the pixel runs of one image, and the backward
 * zero-fills din first and accumulates (each input pixel gathers only the taps whose
 * output column lies in the chunk). */
#include "cuda.h"

typedef struct conv2d_cu_dims {
    int N, Ci, H, W, Co, K, s, p, Ho, Wo;
    long long R, hw; /* Ci K K, Ho Wo */
} conv2d_cu_dims;

/* A chunk: images n0 .. n0 + nimg - 1, pixels pix0 .. pix0 + pcols - 1 of each. */
typedef struct conv2d_cu_chunk {
    int n0, nimg;
    long long pix0, pcols, cols; /* cols = nimg pcols */
} conv2d_cu_chunk;

/* col[r, jc] for r < R, jc < cols (e = r cols + jc). */
static __global__ void conv2d_im2col_kernel(float *col, const float *in, conv2d_cu_dims d,
                                            conv2d_cu_chunk ch, long long total)
{
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total)
        return;
    long long jc = e % ch.cols, r = e / ch.cols;
    long long j = jc / ch.pcols, q = ch.pix0 + jc % ch.pcols;
    int y = (int)(q / d.Wo), x = (int)(q % d.Wo);
    int kk = (int)(r % (d.K * d.K)), c = (int)(r / (d.K * d.K));
    int ky = kk / d.K, kx = kk % d.K;
    int iy = y * d.s - d.p + ky, ix = x * d.s - d.p + kx;
    float v = 0.0f;
    if (iy >= 0 && iy < d.H && ix >= 0 && ix < d.W)
        v = in[(((long long)(ch.n0 + j) * d.Ci + c) * d.H + iy) * d.W + ix];
    col[e] = v;
}

/* dT[o, jc] = dout[n0 + j, o, pix0 + jc % pcols], j = jc / pcols (e = o cols + jc). */
static __global__ void conv2d_load_dout_kernel(float *dT, const float *dout, conv2d_cu_dims d,
                                               conv2d_cu_chunk ch, long long total)
{
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total)
        return;
    long long jc = e % ch.cols, o = e / ch.cols;
    long long j = jc / ch.pcols, q = ch.pix0 + jc % ch.pcols;
    dT[e] = dout[((ch.n0 + j) * d.Co + o) * d.hw + q];
}

/* col2im as a gather over the input pixels of the chunk's images (e over
 * nimg x Ci x H x W, relative to din[n0]):
 *   din[n, c, iy, ix] (+)= sum over taps (ky, kx) with iy = y s - p + ky, ix = x s - p + kx,
 *       0 <= y < Ho, 0 <= x < Wo, pix0 <= q = y Wo + x < pix0 + pcols,
 *       of dcol[(c K + ky) K + kx, j pcols + q - pix0]
 * acc = 0 writes (the chunk holds every tap of its images), 1 adds (din zeroed first). */
static __global__ void conv2d_col2im_kernel(float *din, const float *dcol, conv2d_cu_dims d,
                                            conv2d_cu_chunk ch, int acc, long long total)
{
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total)
        return;
    int ix = (int)(e % d.W);
    long long t = e / d.W;
    int iy = (int)(t % d.H);
    t /= d.H;
    int c = (int)(t % d.Ci);
    long long j = t / d.Ci;
    float sum = 0.0f;
    for (int ky = 0; ky < d.K; ky++) {
        int ty = iy + d.p - ky; /* = y s */
        if (ty < 0 || ty % d.s != 0 || ty / d.s >= d.Ho)
            continue;
        int y = ty / d.s;
        for (int kx = 0; kx < d.K; kx++) {
            int tx = ix + d.p - kx; /* = x s */
            if (tx < 0 || tx % d.s != 0 || tx / d.s >= d.Wo)
                continue;
            long long q = (long long)y * d.Wo + tx / d.s - ch.pix0;
            if (q < 0 || q >= ch.pcols)
                continue;
            sum += dcol[((long long)(c * d.K + ky) * d.K + kx) * ch.cols + j * ch.pcols + q];
        }
    }
    if (acc)
        din[e] += sum;
    else
        din[e] = sum;
}

/* out[n, o, q] = b[o] + bn[n, o] + res[n, o, q] (each NULL: 0) over all N Co HW elements
 * (the GEMMs then add with beta = 1). */
static __global__ void conv2d_bias_fill_kernel(float *out, const float *b, const float *bn,
                                               const float *res, long long Co, long long hw,
                                               long long total)
{
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total)
        return;
    float v = b ? b[(e / hw) % Co] : 0.0f;
    if (bn)
        v += bn[e / hw];
    out[e] = res ? v + res[e] : v;
}

/* db[o] += sum_{n < N, q < hw} dout[n, o, q]: one block of FM_CUDA_THREADS per o (grid
 * = Co), each thread strides over the N hw values, then warp shuffles and a shared-memory
 * pass over the warps' partial sums. Deterministic (fixed order, no atomics). */
static __global__ void conv2d_db_kernel(float *db, const float *dout, long long N, long long Co,
                                        long long hw)
{
    __shared__ float part[FM_CUDA_THREADS / 32];
    long long o = blockIdx.x;
    float acc = 0.0f;
    for (long long e = threadIdx.x; e < N * hw; e += FM_CUDA_THREADS) {
        long long n = e / hw, q = e % hw;
        acc += dout[(n * Co + o) * hw + q];
    }
    for (int off = 16; off > 0; off >>= 1)
        acc += __shfl_down_sync(0xffffffffu, acc, off);
    if ((threadIdx.x & 31) == 0)
        part[threadIdx.x >> 5] = acc;
    __syncthreads();
    if (threadIdx.x < 32) {
        acc = threadIdx.x < FM_CUDA_THREADS / 32 ? part[threadIdx.x] : 0.0f;
        for (int off = 16; off > 0; off >>= 1)
            acc += __shfl_down_sync(0xffffffffu, acc, off);
        if (threadIdx.x == 0)
            db[o] += acc;
    }
}

static conv2d_cu_dims conv2d_dims_of(const fm_call *c)
{
    fm_conv_geom g = fm_conv_geometry(c);
    conv2d_cu_dims d;
    d.N = (int)g.N;
    d.Ci = (int)g.Ci;
    d.H = (int)g.H;
    d.W = (int)g.W;
    d.Co = (int)g.Co;
    d.K = (int)g.K;
    d.s = (int)g.s;
    d.p = (int)g.p;
    d.Ho = (int)g.Ho;
    d.Wo = (int)g.Wo;
    d.R = (long long)d.Ci * d.K * d.K;
    d.hw = (long long)d.Ho * d.Wo;
    return d;
}

/* Chunk geometry: *img_step whole images per chunk when one image's columns fit the
 * scratch (then *pix_step = hw), else one image per chunk and *pix_step pixels. */
static fm_status conv2d_plan(fm_backend *be, const conv2d_cu_dims *d, int backward, int *img_step,
                             long long *pix_step)
{
    size_t per_col = (size_t)(d->R + (backward ? d->Co : 0)) * sizeof(float);
    size_t fit = fm_cuda_of(be)->scratch_bytes / per_col;
    if (fit == 0)
        return fm_fail(be, FM_ERR_ARENA,
                       "cuda: conv2d_%s needs %zu bytes of scratch per output column, %zu reserved",
                       backward ? "bwd" : "fwd", per_col, fm_cuda_of(be)->scratch_bytes);
    if (fit >= (size_t)d->hw) {
        size_t imgs = fit / (size_t)d->hw;
        *img_step = imgs < (size_t)d->N ? (int)imgs : d->N;
        *pix_step = d->hw;
    } else {
        *img_step = 1;
        *pix_step = (long long)fit;
    }
    if ((long long)*img_step * *pix_step * (d->R > d->Co ? d->R : d->Co) > 0x7fffffffLL ||
        d->R > 0x7fffffffLL || d->hw > 0x7fffffffLL)
        return fm_fail(be, FM_ERR_ARG, "cuda: conv2d GEMM dimensions beyond 2^31");
    return FM_OK;
}

static conv2d_cu_chunk conv2d_chunk(const conv2d_cu_dims *d, int n0, int img_step, long long pix0,
                                    long long pix_step)
{
    conv2d_cu_chunk ch;
    ch.n0 = n0;
    ch.nimg = d->N - n0 < img_step ? d->N - n0 : img_step;
    ch.pix0 = pix0;
    ch.pcols = d->hw - pix0 < pix_step ? d->hw - pix0 : pix_step;
    ch.cols = ch.nimg * ch.pcols;
    return ch;
}

static fm_status conv2d_im2col(fm_backend *be, float *col, const float *in, const conv2d_cu_dims *d,
                               const conv2d_cu_chunk *ch)
{
    long long total = d->R * ch->cols;
    FM_CUDA_LAUNCH(conv2d_im2col_kernel, fm_cuda_blocks(total), FM_CUDA_THREADS, 0, fm_cuda_of(be)->stream)(
        col, in, *d, *ch, total);
    return fm_cuda_launched(be, "conv2d_im2col");
}

/* t: out, in, w, b?, bn?, res?   i0 stride, i1 pad */
extern "C" fm_status fm_cuda_conv2d_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0], *in = &c->t[1], *w = &c->t[2];
    conv2d_cu_dims d = conv2d_dims_of(c);
    cudaStream_t st = fm_cuda_of(be)->stream;
    float *po = fm_cuda_f32(out);
    const float *pi = fm_cuda_f32(in), *pw = fm_cuda_f32(w);
    const float *e[3]; /* b?, bn?, res?: the epilogue terms, NULL when absent */
    for (int k = 0; k < 3; k++)
        e[k] = fm_tensor_present(&c->t[3 + k]) ? fm_cuda_f32(&c->t[3 + k]) : NULL;
    float beta = 0.0f;
    if (e[0] || e[1] || e[2]) {
        long long total = (long long)d.N * d.Co * d.hw;
        FM_CUDA_LAUNCH(conv2d_bias_fill_kernel, fm_cuda_blocks(total), FM_CUDA_THREADS, 0, st)(
            po, e[0], e[1], e[2], d.Co, d.hw, total);
        FM_TRY(fm_cuda_launched(be, "conv2d_bias_fill"));
        beta = 1.0f;
    }
    if (d.K == 1 && d.s == 1 && d.p == 0) {
        /* out[n][Co, HW] (+)= w[Co, Ci] in[n][Ci, HW]: m = Co, n = HW, k = Ci */
        return fm_cuda_gemm_batched(be, d.Co, (int)d.hw, d.Ci, 1.0f, pw, d.Ci, 0, 0, pi, (int)d.hw,
                                    (long long)d.Ci * d.hw, 0, beta, po, (int)d.hw,
                                    (long long)d.Co * d.hw, d.N);
    }
    int img_step;
    long long pix_step;
    FM_TRY(conv2d_plan(be, &d, 0, &img_step, &pix_step));
    float *col = fm_cuda_scratch(be, 0);
    for (int n0 = 0; n0 < d.N; n0 += img_step) {
        for (long long pix0 = 0; pix0 < d.hw; pix0 += pix_step) {
            conv2d_cu_chunk ch = conv2d_chunk(&d, n0, img_step, pix0, pix_step);
            FM_TRY(conv2d_im2col(be, col, pi, &d, &ch));
            /* out[n0 + j][Co, pix0 ..] (+)= w[Co, R] col[R, j pcols ..]:
             * m = Co, n = pcols, k = R; A = w (lda R, stride 0), B = col (ldb cols,
             * stride pcols), C = out (ldc HW, stride Co HW); batch nimg */
            FM_TRY(fm_cuda_gemm_batched(be, d.Co, (int)ch.pcols, (int)d.R, 1.0f, pw, (int)d.R, 0, 0,
                                     col, (int)ch.cols, ch.pcols, 0, beta,
                                     po + (long long)ch.n0 * d.Co * d.hw + ch.pix0, (int)d.hw,
                                     (long long)d.Co * d.hw, ch.nimg));
        }
    }
    return FM_OK;
}

/* t: din?, dw, db?, dout, in, w   i0 stride, i1 pad */
extern "C" fm_status fm_cuda_conv2d_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *din = &c->t[0], *dw = &c->t[1], *db = &c->t[2];
    const fm_tensor *dout = &c->t[3], *in = &c->t[4], *w = &c->t[5];
    conv2d_cu_dims d = conv2d_dims_of(c);
    cudaStream_t st = fm_cuda_of(be)->stream;
    const float *pg = fm_cuda_f32(dout), *pi = fm_cuda_f32(in), *pw = fm_cuda_f32(w);
    float *pdw = fm_cuda_f32(dw);
    float *pdin = fm_tensor_present(din) ? fm_cuda_f32(din) : NULL;
    if (fm_tensor_present(db)) {
        FM_CUDA_LAUNCH(conv2d_db_kernel, (unsigned)d.Co, FM_CUDA_THREADS, 0, st)(fm_cuda_f32(db), pg, d.N, d.Co,
                                                                     d.hw);
        FM_TRY(fm_cuda_launched(be, "conv2d_db"));
    }
    int img_step;
    long long pix_step;
    FM_TRY(conv2d_plan(be, &d, 1, &img_step, &pix_step));
    int whole = pix_step == d.hw;
    if (pdin && !whole)
        FM_TRY(fm_cuda_check(be, cudaMemsetAsync(pdin, 0, fm_tensor_bytes(din), st),
                          "conv2d_bwd: zero din"));
    float *col = fm_cuda_scratch(be, 0);
    for (int n0 = 0; n0 < d.N; n0 += img_step) {
        for (long long pix0 = 0; pix0 < d.hw; pix0 += pix_step) {
            conv2d_cu_chunk ch = conv2d_chunk(&d, n0, img_step, pix0, pix_step);
            /* dT sits behind the largest col of any chunk (R pix_step img_step floats) */
            float *dT = col + d.R * pix_step * img_step;
            long long total = (long long)d.Co * ch.cols;
            FM_CUDA_LAUNCH(conv2d_load_dout_kernel, fm_cuda_blocks(total), FM_CUDA_THREADS, 0, st)(dT, pg, d,
                                                                                       ch, total);
            FM_TRY(fm_cuda_launched(be, "conv2d_load_dout"));
            FM_TRY(conv2d_im2col(be, col, pi, &d, &ch));
            /* dw[Co, R] += dT[Co, cols] col[R, cols]^T: m = Co, n = R, k = cols,
             * lda = cols, ldb = cols (B transposed), ldc = R, beta 1 */
            FM_TRY(fm_cuda_gemm(be, d.Co, (int)d.R, (int)ch.cols, 1.0f, dT, (int)ch.cols, 0, col,
                             (int)ch.cols, 1, 1.0f, pdw, (int)d.R));
            if (!pdin)
                continue;
            /* dcol[R, cols] = w[Co, R]^T dT[Co, cols]: m = R, n = cols, k = Co,
             * lda = R (A transposed), ldb = cols, ldc = cols; over col */
            FM_TRY(fm_cuda_gemm(be, (int)d.R, (int)ch.cols, d.Co, 1.0f, pw, (int)d.R, 1, dT,
                             (int)ch.cols, 0, 0.0f, col, (int)ch.cols));
            total = (long long)ch.nimg * d.Ci * d.H * d.W;
            FM_CUDA_LAUNCH(conv2d_col2im_kernel, fm_cuda_blocks(total), FM_CUDA_THREADS, 0, st)(
                pdin + (long long)ch.n0 * d.Ci * d.H * d.W, col, d, ch, !whole, total);
            FM_TRY(fm_cuda_launched(be, "conv2d_col2im"));
        }
    }
    return FM_OK;
}
