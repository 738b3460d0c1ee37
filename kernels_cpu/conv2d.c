/* 2-D convolution as GEMM over im2col columns (Caffe's lowering), threads over tiles.
 *
 * Column j of the lowered input of image n at output position q = y*Wo + x holds the
 * receptive field, row r = (c*K + ky)*K + kx:
 *
 *   col[r, q] = in[n, c, y*s - p + ky, x*s - p + kx]    (0 outside the image)
 *
 * so that, with Wm = w viewed as [Co, Ci*K*K] and G = dout[n] viewed as [Co, Ho*Wo]:
 *
 *   out[n]  = Wm col + b                 (forward)
 *   dw     += G col^T                    (weight gradient, summed over the batch)
 *   din[n]  = col2im(Wm^T G)             (col2im: add each column entry back to the
 *                                         input pixel it was read from)
 *   db     += row sums of G
 *
 * Work is cut into tiles of `cols` columns: one image's positions [q0, q1), or, for
 * small images, nb whole images side by side (column (i, q) of image n0 + i is i*HW + q),
 * so that every GEMM has N >= a few hundred. Each thread lowers its tile into its own
 * scratch; weight gradients go to a per-thread partial [Co, Ci*K*K] added to dw at the
 * end (a fixed order per tile assignment is not needed: the sum is over float partials
 * of whole tiles, well inside the conformance tolerance). Input gradients of one image
 * come from one thread only (backward tiles never split an image across threads), so
 * col2im needs no atomics. 1x1 stride-1 unpadded convs skip the lowering (col is the
 * input itself). A shape whose tile does not fit the scratch runs the reference kernel.
 *
 * 3x3 stride-1 convs (all but the downsampling ones in the U-Net) go to Winograd
 * instead (winograd.c): forward and din by F(4x4, 3x3) (4x fewer multiply-adds) or
 * F(2x2, 3x3) (2.25x) by image size, dw by F(2x2, 3x3);
 * im2col remains for stride 2, 1x1 and whatever does not fit the scratch.
 *
 * Which path a conv takes depends on its shape and the scratch; FMRT_CPU_FORCE (cpu.h)
 * forces one, so that the tests cover each on any machine. */
#include <string.h>

#include "cpu.h"
#include "vmath.h"

typedef struct conv {
    fm_cpu *cpu;
    const float *in, *w, *b, *dout;
    const float *bn, *res; /* forward: the per-sample bias [N,Co] and residual (or NULL) */
    float *out, *din, *dw;
    int64_t N, Ci, H, W, Co, K, s, p, Ho, Wo, HW, CKK;
    int64_t nb;     /* images per tile (1: tiles of positions within an image) */
    int64_t ptile;  /* positions per tile when nb == 1 */
    int64_t ptiles; /* tiles per image when nb == 1 */
    int pointwise;  /* 1x1, stride 1, no padding: col = the input */
    int whole;      /* backward with din: one item = whole image(s) */
    uint16_t *wb;   /* forward under FM_BACKEND_BF16: w in bfloat16 (else NULL) */
} conv;

/* Tile `t` as images [n0, n1) and positions [q0, q1) of each. */
static void tile_of(const conv *cv, int64_t t, int64_t *n0, int64_t *n1, int64_t *q0, int64_t *q1)
{
    if (cv->nb > 1) {
        *n0 = t * cv->nb;
        *n1 = *n0 + cv->nb < cv->N ? *n0 + cv->nb : cv->N;
        *q0 = 0;
        *q1 = cv->HW;
    } else {
        *n0 = t / cv->ptiles;
        *n1 = *n0 + 1;
        *q0 = (t % cv->ptiles) * cv->ptile;
        *q1 = *q0 + cv->ptile < cv->HW ? *q0 + cv->ptile : cv->HW;
    }
}

/* Output columns [*xa, *xb) within [x0, x1) whose input column x*s + off lies in
 * [0, W): x >= ceil(-off / s) and x <= floor((W - 1 - off) / s). */
static void valid_x(int64_t x0, int64_t x1, int64_t off, int64_t s, int64_t W, int64_t *xa,
                    int64_t *xb)
{
    int64_t lo = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / s + 1;
    *xa = lo > x0 ? lo : x0;
    *xb = hi < x1 ? hi : x1;
    if (*xb < *xa)
        *xb = *xa;
}

/* col[CKK, cols] for images [n0, n1), positions [q0, q1). Each output row segment is
 * zeros, then a contiguous (s = 1) or strided copy of the input row, then zeros: no
 * per-element test. The valid columns of a tap are found once per tap and rows are
 * walked by counting, so that a short row (14 columns at stride 2) pays no division. */
static void im2col(const conv *cv, float *col, int64_t n0, int64_t n1, int64_t q0, int64_t q1)
{
    int64_t np = q1 - q0, cols = (n1 - n0) * np, K = cv->K, s = cv->s, p = cv->p;
    int64_t yq0 = q0 / cv->Wo, xq0 = q0 % cv->Wo; /* the tile's first position */
    for (int64_t c = 0; c < cv->Ci; c++)
        for (int64_t ky = 0; ky < K; ky++)
            for (int64_t kx = 0; kx < K; kx++) {
                float *row = col + ((c * K + ky) * K + kx) * cols;
                int64_t lo, hi; /* the tap's valid output columns in a whole row */
                valid_x(0, cv->Wo, kx - p, s, cv->W, &lo, &hi);
                for (int64_t n = n0; n < n1; n++) {
                    const float *ip = cv->in + (n * cv->Ci + c) * cv->H * cv->W;
                    float *dst = row + (n - n0) * np;
                    for (int64_t q = q0, y = yq0, x0 = xq0; q < q1; y++, x0 = 0) {
                        int64_t x1 = x0 + (q1 - q) < cv->Wo ? x0 + (q1 - q) : cv->Wo;
                        int64_t iy = y * s - p + ky, xa = x1, xb = x1;
                        if (iy >= 0 && iy < cv->H) {
                            xa = lo > x0 ? lo : x0;
                            xb = hi < x1 ? hi : x1;
                            xb = xb < xa ? xa : xb;
                        }
                        float *d = dst - x0; /* d[x] is output column x */
                        for (int64_t x = x0; x < xa; x++)
                            d[x] = 0.0f;
                        if (xb > xa) {
                            const float *src = ip + iy * cv->W + kx - p; /* src[x*s] */
                            if (s == 1)
                                memcpy(d + xa, src + xa, (size_t)(xb - xa) * sizeof(float));
                            else
                                for (int64_t x = xa; x < xb; x++)
                                    d[x] = src[x * s];
                        }
                        for (int64_t x = xb; x < x1; x++)
                            d[x] = 0.0f;
                        dst += x1 - x0;
                        q += x1 - x0;
                    }
                }
            }
}

/* din[n] += the columns of dcol, back at the pixels im2col read them from. */
static void col2im(const conv *cv, const float *dcol, int64_t n0, int64_t n1, int64_t q0,
                   int64_t q1)
{
    int64_t np = q1 - q0, cols = (n1 - n0) * np, K = cv->K, s = cv->s, p = cv->p;
    for (int64_t c = 0; c < cv->Ci; c++)
        for (int64_t ky = 0; ky < K; ky++)
            for (int64_t kx = 0; kx < K; kx++) {
                const float *row = dcol + ((c * K + ky) * K + kx) * cols;
                for (int64_t n = n0; n < n1; n++) {
                    float *dp = cv->din + (n * cv->Ci + c) * cv->H * cv->W;
                    const float *src = row + (n - n0) * np;
                    for (int64_t q = q0; q < q1;) {
                        int64_t y = q / cv->Wo, x0 = q % cv->Wo;
                        int64_t x1 = x0 + (q1 - q) < cv->Wo ? x0 + (q1 - q) : cv->Wo;
                        int64_t iy = y * s - p + ky, xa = x1, xb = x1;
                        if (iy >= 0 && iy < cv->H)
                            valid_x(x0, x1, kx - p, s, cv->W, &xa, &xb);
                        if (xb > xa) {
                            const float *sv = src - x0;
                            float *drow = dp + iy * cv->W + kx - p; /* drow[x*s] */
                            if (s == 1)
                                for (int64_t x = xa; x < xb; x++)
                                    drow[x] += sv[x];
                            else
                                for (int64_t x = xa; x < xb; x++)
                                    drow[x * s] += sv[x];
                        }
                        src += x1 - x0;
                        q += x1 - x0;
                    }
                }
            }
}

/* Choose the tiling for `floats` of scratch per thread, of which `fixed` are taken and
 * `per_col` are needed per column. 0 when not even a 16-column tile fits. */
static int plan_tiles(conv *cv, size_t floats, size_t fixed, size_t per_col, int whole)
{
    if (floats <= fixed)
        return 0;
    /* columns per GEMM: large enough for N, small enough for L2 (FM_CPU_BLOCK) */
    int64_t maxc = (int64_t)((floats - fixed) / per_col), target = fm_cpu_forced(cv->cpu)->block;
    if (maxc > target)
        maxc = target;
    if (maxc < 16)
        return 0;
    int nt = fm_cpu_threads(cv->cpu);
    cv->whole = whole;
    if (cv->HW <= maxc) {
        cv->nb = maxc / cv->HW;
        /* at least ~4 tiles per thread when the batch allows, for balance */
        int64_t cap = cv->N / (4 * nt);
        if (cv->nb > cap)
            cv->nb = cap > 1 ? cap : 1;
        cv->ptile = cv->HW;
        cv->ptiles = 1;
    } else {
        cv->nb = 1;
        cv->ptile = maxc;
        cv->ptiles = (cv->HW + maxc - 1) / maxc;
    }
    return 1;
}

static int64_t ntiles(const conv *cv)
{
    return cv->nb > 1 ? (cv->N + cv->nb - 1) / cv->nb : cv->N * cv->ptiles;
}

/* ---- forward ------------------------------------------------------------------------- */

/* C[Co, nc] = Wm B: float32, or from bfloat16 operands (Bp, the pair-packed B) */
static void gemm(const conv *cv, int tid, int64_t nc, const float *B, int64_t ldb,
                 const uint16_t *Bp, float *C, int64_t ldc)
{
    if (Bp)
        fm_cpu_sbgemm_small(cv->cpu, cv->Co, nc, cv->CKK, cv->wb, cv->CKK, Bp,
                            2 * ((nc + 15) / 16 * 16), C, ldc);
    else
        fm_cpu_sgemm_small(cv->cpu, tid, 0, cv->Co, nc, cv->CKK, cv->w, cv->CKK, B, ldb, C, ldc,
                           0);
}

/* out[n, o, q0 + i] = src[i] + b[o] + bn[n, o] + res[n, o, q0 + i] for i < np: every
 * forward path's epilogue (src may be that stretch of out itself). */
static void store_plane(const conv *cv, int64_t n, int64_t o, int64_t q0, const float *src,
                        int64_t np)
{
    int64_t at = (n * cv->Co + o) * cv->HW + q0;
    float bias = (cv->b ? cv->b[o] : 0.0f) + (cv->bn ? cv->bn[n * cv->Co + o] : 0.0f);
    float *dst = cv->out + at;
    if (cv->res)
        for (int64_t q = 0; q < np; q++)
            dst[q] = src[q] + bias + cv->res[at + q];
    else
        for (int64_t q = 0; q < np; q++)
            dst[q] = src[q] + bias;
}

static void fwd_tile(void *p, int64_t t, int tid)
{
    const conv *cv = p;
    int64_t n0, n1, q0, q1;
    tile_of(cv, t, &n0, &n1, &q0, &q1);
    int64_t np = q1 - q0, cols = (n1 - n0) * np;
    float *scr = fm_cpu_scratch(cv->cpu, tid);
    const float *B;
    int64_t ldb;
    if (cv->pointwise && n1 - n0 == 1) {
        B = cv->in + n0 * cv->Ci * cv->HW + q0;
        ldb = cv->HW;
    } else {
        im2col(cv, scr, n0, n1, q0, q1);
        B = scr;
        ldb = cols;
    }
    int64_t nc = n1 - n0 == 1 ? np : cols; /* the GEMM's columns */
    uint16_t *Bp = NULL; /* bf16: B pair-packed, after the columns and the GEMM result */
    if (cv->wb) {
        Bp = (uint16_t *)(scr + (cv->CKK + cv->Co) * cols);
        fm_cpu_bf16_pack(cv->cpu, Bp, B, ldb, cv->CKK, nc);
    }
    if (n1 - n0 == 1) { /* straight into out[n0][:, q0:q1] */
        float *C = cv->out + n0 * cv->Co * cv->HW + q0;
        gemm(cv, tid, np, B, ldb, Bp, C, cv->HW);
        if (cv->b || cv->bn || cv->res)
            for (int64_t o = 0; o < cv->Co; o++)
                store_plane(cv, n0, o, q0, C + o * cv->HW, np);
        return;
    }
    float *tmp = scr + (B == scr ? cv->CKK * cols : 0);
    gemm(cv, tid, cols, B, ldb, Bp, tmp, cols);
    for (int64_t n = n0; n < n1; n++)
        for (int64_t o = 0; o < cv->Co; o++)
            store_plane(cv, n, o, 0, tmp + o * cols + (n - n0) * np, np);
}

static void setup(conv *cv, fm_backend *be, const fm_call *c)
{
    fm_conv_geom g = fm_conv_geometry(c);
    memset(cv, 0, sizeof *cv);
    cv->cpu = fm_cpu_of(be);
    cv->N = g.N, cv->Ci = g.Ci, cv->H = g.H, cv->W = g.W;
    cv->Co = g.Co, cv->K = g.K, cv->s = g.s, cv->p = g.p;
    cv->Ho = g.Ho, cv->Wo = g.Wo, cv->HW = cv->Ho * cv->Wo;
    cv->CKK = cv->Ci * cv->K * cv->K;
    cv->pointwise = cv->K == 1 && cv->s == 1 && cv->p == 0;
}

/* wb[o, :] = bf16(w[o, :]), one o per item */
static void weights_bf16(void *p, int64_t o, int tid)
{
    (void)tid;
    const conv *cv = p;
    for (int64_t k = 0; k < cv->CKK; k++)
        cv->wb[o * cv->CKK + k] = fm_cpu_to_bf16(cv->w[o * cv->CKK + k]);
}

/* Stride 1 with fewer output channels than a vector (the U-Net's last conv, Co = 1):
 * every GEMM form would leave most of its register tile idle (under Winograd, N = Co),
 * so each image runs directly, images over the threads. Each input plane is copied into
 * a zero-bordered plane of row length Wp = W + 2p, and the outputs are summed in that
 * plane's coordinates, i = y Wp + x:
 *
 *   acc[o, i] = sum_{c,ky,kx} w[o,c,ky,kx] pad_c[i + ky Wp + kx],  i < (Ho - 1) Wp + Wo
 *
 * so that every tap is one contiguous axpy over the whole plane (the p columns past Wo
 * in each row are summed and dropped). Scratch: the padded plane and Co x L sums. */
static int64_t direct_floats(const conv *cv)
{
    int64_t Wp = cv->W + 2 * cv->p, L = (cv->Ho - 1) * Wp + cv->Wo;
    return (cv->H + 2 * cv->p) * Wp + cv->Co * L;
}

static void direct_image(void *p, int64_t n, int tid)
{
    const conv *cv = p;
    int64_t Wp = cv->W + 2 * cv->p, Hp = cv->H + 2 * cv->p, L = (cv->Ho - 1) * Wp + cv->Wo;
    int64_t KK = cv->K * cv->K;
    float *restrict pad = fm_cpu_scratch(cv->cpu, tid), *restrict acc = pad + Hp * Wp;
    memset(pad, 0, (size_t)(Hp * Wp) * sizeof(float));
    memset(acc, 0, (size_t)(cv->Co * L) * sizeof(float));
    for (int64_t c = 0; c < cv->Ci; c++) {
        const float *src = cv->in + (n * cv->Ci + c) * cv->H * cv->W;
        for (int64_t y = 0; y < cv->H; y++) /* the border stays zero */
            memcpy(pad + (y + cv->p) * Wp + cv->p, src + y * cv->W, (size_t)cv->W * sizeof(float));
        for (int64_t o = 0; o < cv->Co; o++)
            for (int64_t t = 0; t < KK; t++) {
                float wt = cv->w[(o * cv->Ci + c) * KK + t];
                const float *restrict v = pad + (t / cv->K) * Wp + t % cv->K;
                float *restrict a = acc + o * L;
                for (int64_t i = 0; i < L; i++)
                    a[i] += wt * v[i];
            }
    }
    for (int64_t o = 0; o < cv->Co; o++)
        for (int64_t y = 0; y < cv->Ho; y++)
            store_plane(cv, n, o, y * cv->Wo, acc + o * L + y * Wp, cv->Wo);
}

/* t: out, in, w, b?, bn?, res?   i0 stride, i1 pad */
fm_status fm_cpu_conv2d_fwd(fm_backend *be, const fm_call *c)
{
    conv cv;
    setup(&cv, be, c);
    cv.out = fm_f32(&c->t[0]), cv.in = fm_f32(&c->t[1]), cv.w = fm_f32(&c->t[2]);
    cv.b = fm_tensor_present(&c->t[3]) ? fm_f32(&c->t[3]) : NULL;
    cv.bn = fm_tensor_present(&c->t[4]) ? fm_f32(&c->t[4]) : NULL;
    cv.res = fm_tensor_present(&c->t[5]) ? fm_f32(&c->t[5]) : NULL;
    fm_cpu_conv_path path = fm_cpu_forced(cv.cpu)->conv;
    if (path == FM_CPU_CONV_REF)
        return fm_ref_conv2d_fwd(be, c);
    int direct = path == FM_CPU_CONV_AUTO ? cv.Co < 8 : path == FM_CPU_CONV_DIRECT;
    if (direct && cv.s == 1 && (size_t)direct_floats(&cv) <= fm_cpu_scratch_floats(cv.cpu)) {
        fm_cpu_parallel(cv.cpu, cv.N, direct_image, &cv);
        return FM_OK;
    }
    if (path != FM_CPU_CONV_IM2COL && cv.K == 3 && cv.s == 1 &&
        fm_cpu_winograd3x3(cv.cpu, cv.out, cv.in, cv.w, (fm_cpu_adds){cv.b, cv.bn, cv.res}, cv.N,
                           cv.Ci, cv.H, cv.W, cv.Co, cv.Ho, cv.Wo, cv.p, 0))
        return FM_OK;
    /* bf16 (FM_BACKEND_BF16): the weights rounded once into the shared buffer; per tile
     * the lowered input pair-packed after the float32 one (CKK / 2 floats per column,
     * plus up to 15 columns of padding) */
    size_t bcol = 0, bfix = 0;
    if (fm_cpu_bf16(cv.cpu) && fm_cpu_sbgemm_fits(cv.CKK) &&
        (size_t)(cv.Co * cv.CKK) <= 2 * fm_cpu_shared_floats(cv.cpu)) {
        cv.wb = (uint16_t *)fm_cpu_shared(cv.cpu);
        fm_cpu_parallel(cv.cpu, cv.Co, weights_bf16, &cv);
        bcol = (size_t)cv.CKK / 2, bfix = (size_t)cv.CKK * 8;
    }
    /* per column: the lowered input and the GEMM result */
    if (!plan_tiles(&cv, fm_cpu_scratch_floats(cv.cpu), bfix, (size_t)(cv.CKK + cv.Co) + bcol, 0))
        return fm_ref_conv2d_fwd(be, c);
    fm_cpu_parallel(cv.cpu, ntiles(&cv), fwd_tile, &cv);
    return FM_OK;
}

/* ---- backward ------------------------------------------------------------------------ */

/* Scratch of one thread: [ dw partial Co x CKK | col CKK x T | dcol CKK x T | G Co x T ] */
static void bwd_tile(void *p, int64_t t, int tid)
{
    const conv *cv = p;
    float *scr = fm_cpu_scratch(cv->cpu, tid);
    float *dwp = scr, *col = dwp + cv->Co * cv->CKK;
    int64_t T = cv->nb > 1 ? cv->nb * cv->HW : cv->ptile;
    float *dcol = col + cv->CKK * T, *G = dcol + cv->CKK * T;
    /* A backward item with din is one whole tile group: for nb == 1 all the position
     * tiles of image t, so that col2im of an image stays on one thread. */
    int64_t first = t, last = t + 1;
    if (cv->whole && cv->nb == 1) {
        first = t * cv->ptiles;
        last = first + cv->ptiles;
    }
    for (int64_t u = first; u < last; u++) {
        int64_t n0, n1, q0, q1;
        tile_of(cv, u, &n0, &n1, &q0, &q1);
        int64_t np = q1 - q0, cols = (n1 - n0) * np;
        const float *B, *Gp;
        int64_t ldb, ldg;
        if (cv->pointwise && n1 - n0 == 1) {
            B = cv->in + n0 * cv->Ci * cv->HW + q0;
            ldb = cv->HW;
        } else {
            im2col(cv, col, n0, n1, q0, q1);
            B = col;
            ldb = cols;
        }
        if (n1 - n0 == 1) {
            Gp = cv->dout + n0 * cv->Co * cv->HW + q0;
            ldg = cv->HW;
        } else {
            for (int64_t n = n0; n < n1; n++)
                for (int64_t o = 0; o < cv->Co; o++)
                    memcpy(G + o * cols + (n - n0) * np, cv->dout + (n * cv->Co + o) * cv->HW,
                           (size_t)np * sizeof(float));
            Gp = G;
            ldg = cols;
        }
        /* dw_partial[Co, CKK] += G[Co, cols] col[CKK, cols]^T */
        fm_cpu_sgemm(cv->cpu, tid, 0, 1, cv->Co, cv->CKK, cols, 1.0f, Gp, ldg, B, ldb, 1.0f, dwp,
                     cv->CKK);
        if (!cv->din)
            continue;
        if (cv->pointwise && n1 - n0 == 1) { /* din[n0][:, q0:q1] = Wm^T G directly */
            fm_cpu_sgemm_small(cv->cpu, tid, 1, cv->Ci, np, cv->Co, cv->w, cv->CKK, Gp, ldg,
                               cv->din + n0 * cv->Ci * cv->HW + q0, cv->HW, 0);
            continue;
        }
        /* dcol[CKK, cols] = Wm^T G, then col2im into din (zeroed at the image's first tile) */
        fm_cpu_sgemm_small(cv->cpu, tid, 1, cv->CKK, cols, cv->Co, cv->w, cv->CKK, Gp, ldg, dcol,
                           cols, 0);
        if (q0 == 0)
            memset(cv->din + n0 * cv->Ci * cv->H * cv->W, 0,
                   (size_t)((n1 - n0) * cv->Ci * cv->H * cv->W) * sizeof(float));
        col2im(cv, dcol, n0, n1, q0, q1);
    }
}

typedef struct reduce_job {
    const conv *cv;
    float *db;
    int64_t parts;
    int partials; /* the per-thread dw partials hold something to add */
} reduce_job;

/* dw[i] += sum_t partial_t[i] over a chunk of i; db[o] += sum_{n,q} dout[n,o,q] */
static void reduce_part(void *p, int64_t k, int tid)
{
    (void)tid;
    const reduce_job *r = p;
    const conv *cv = r->cv;
    int64_t lo, hi, nw = cv->Co * cv->CKK, nt = fm_cpu_threads(cv->cpu);
    fm_cpu_range(nw, r->parts, k, &lo, &hi);
    for (int64_t t = 0; t < nt && r->partials; t++) {
        const float *part = fm_cpu_scratch(cv->cpu, (int)t);
        for (int64_t i = lo; i < hi; i++)
            cv->dw[i] += part[i];
    }
    if (!r->db)
        return;
    fm_cpu_range(cv->Co, r->parts, k, &lo, &hi);
    for (int64_t o = lo; o < hi; o++) {
        double acc = 0.0;
        for (int64_t n = 0; n < cv->N; n++)
            acc += fm_cpu_sum(cv->dout + (n * cv->Co + o) * cv->HW, cv->HW);
        r->db[o] += (float)acc;
    }
}

/* t: din?, dw, db?, dout, in, w   i0 stride, i1 pad */
fm_status fm_cpu_conv2d_bwd(fm_backend *be, const fm_call *c)
{
    conv cv;
    setup(&cv, be, c);
    cv.din = fm_tensor_present(&c->t[0]) ? fm_f32(&c->t[0]) : NULL;
    cv.dw = fm_f32(&c->t[1]);
    cv.dout = fm_f32(&c->t[3]), cv.in = fm_f32(&c->t[4]), cv.w = fm_f32(&c->t[5]);
    fm_cpu_conv_path path = fm_cpu_forced(cv.cpu)->conv;
    if (path == FM_CPU_CONV_REF)
        return fm_ref_conv2d_bwd(be, c);
    int wino = path != FM_CPU_CONV_IM2COL && cv.K == 3 && cv.s == 1;
    /* 3x3 stride 1: din by Winograd (a 3x3 conv of dout with the rotated, transposed
     * weights, padding 2 - p); the tiles below then compute dw and db only. */
    if (cv.din && wino && cv.p <= 2 &&
        fm_cpu_winograd3x3(cv.cpu, cv.din, cv.dout, cv.w, (fm_cpu_adds){0}, cv.N, cv.Co, cv.Ho,
                           cv.Wo, cv.Ci, cv.H, cv.W, 2 - cv.p, 1))
        cv.din = NULL;
    /* and dw by Winograd too when din is done (or absent): then no im2col tiles at all */
    int dw_done = !cv.din && wino &&
                  fm_cpu_winograd3x3_dw(cv.cpu, cv.dw, cv.in, cv.dout, cv.N, cv.Ci, cv.H, cv.W,
                                        cv.Co, cv.Ho, cv.Wo, cv.p);
    int nt = fm_cpu_threads(cv.cpu);
    if (!dw_done) {
        size_t fixed = (size_t)(cv.Co * cv.CKK), per_col = (size_t)(2 * cv.CKK + cv.Co);
        if (!plan_tiles(&cv, fm_cpu_scratch_floats(cv.cpu), fixed, per_col, cv.din != NULL))
            return fm_ref_conv2d_bwd(be, c);
        for (int t = 0; t < nt; t++)
            memset(fm_cpu_scratch(cv.cpu, t), 0, fixed * sizeof(float));
        int64_t items = ntiles(&cv);
        if (cv.whole && cv.nb == 1)
            items = cv.N; /* one image (all its position tiles) per item */
        fm_cpu_parallel_fixed(cv.cpu, items, bwd_tile, &cv); /* dw partials: reproducible */
    }
    reduce_job r = {&cv, fm_tensor_present(&c->t[2]) ? fm_f32(&c->t[2]) : NULL, 4 * (int64_t)nt,
                    !dw_done};
    if (r.parts > cv.Co)
        r.parts = cv.Co;
    fm_cpu_parallel(cv.cpu, r.parts, reduce_part, &r);
    return FM_OK;
}
