/* Host glue for conv2d.cl: im2col into the backend scratch, then CLBlast GEMMs.
 *
 * The N Ho Wo output columns g = n Ho Wo + y Wo + x are processed in chunks of
 * `cols` columns (whole images when one fits, else part of an image), R = Ci K K:
 *
 *   forward   col[R, cols] = im2col(in)
 *             tmp[Co, cols] = w[Co, R] col[R, cols]          m = Co, n = cols, k = R
 *             out[n, o, y, x] = tmp[o, g - g0] + b[o] + bn[n, o] + res[n, o, y, x]
 *                                                              (conv2d_store_out)
 *   backward  dT[Co, cols] = dout of the chunk                (conv2d_load_dout)
 *             dw[Co, R] += dT[Co, cols] col[R, cols]^T        m = Co, n = R, k = cols, beta 1
 *             dcol[R, cols] = w[Co, R]^T dT[Co, cols]         m = R, n = cols, k = Co
 *                             (written over col once dw has used it)
 *             din = col2im(dcol), a gather per input pixel   (conv2d_col2im)
 *             db[o] += sum dout[., o, ., .]                   (conv2d_db, once)
 *
 * Scratch per column: R floats (col) + Co floats (tmp / dT). A chunk is also
 * shrunk until CLBlast's padded copies of its GEMMs fit the GEMM temp buffer. */
#include <limits.h>

#include "cl.h"

typedef struct conv_dims {
    int N, Ci, H, W, Co, K, s, p, Ho, Wo;
    size_t R, hw, total; /* Ci K K, Ho Wo, N Ho Wo */
} conv_dims;

static conv_dims dims_of(const fm_call *c)
{
    fm_conv_geom g = fm_conv_geometry(c);
    conv_dims d;
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
    d.R = (size_t)d.Ci * (size_t)d.K * (size_t)d.K;
    d.hw = (size_t)d.Ho * (size_t)d.Wo;
    d.total = (size_t)d.N * d.hw;
    return d;
}

/* Does a row-major GEMM of this shape fit CLBlast's temp buffer? */
static fm_status gemm_fits(fm_backend *be, int ta, int tb, size_t m, size_t n, size_t k,
                           size_t lda, size_t ldb, size_t ldc, int *fits)
{
    fm_cl *cl = fm_cl_of(be);
    size_t need = 0;
    FM_TRY(fm_cl_blast_check(be,
                          CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor,
                                                     ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                                                     tb ? CLBlastTransposeYes : CLBlastTransposeNo,
                                                     m, n, k, 0, lda, 0, ldb, 0, ldc, &cl->queue,
                                                     &need),
                          "temp buffer size"));
    *fits = need <= cl->gemm_temp_bytes;
    return FM_OK;
}

/* Columns per chunk: whole images when one fits the scratch, then shrunk (halved) until
 * the chunk's GEMMs fit the CLBlast temp buffer. */
static fm_status chunk_cols(fm_backend *be, const conv_dims *d, int backward, size_t *cols)
{
    fm_cl *cl = fm_cl_of(be);
    size_t per_col = (d->R + (size_t)d->Co) * sizeof(float);
    size_t c = cl->scratch_bytes / per_col;
    if (c > d->total)
        c = d->total;
    if (c >= d->hw)
        c = c / d->hw * d->hw;
    for (;;) {
        if (c == 0)
            return fm_fail(be, FM_ERR_ARENA,
                           "opencl: conv2d needs %zu bytes of scratch per output column, "
                           "%zu reserved",
                           per_col, cl->scratch_bytes);
        int ok = 1, f;
        size_t R = d->R, Co = (size_t)d->Co;
        if (!backward) {
            FM_TRY(gemm_fits(be, 0, 0, Co, c, R, R, c, c, &f));
            ok &= f;
        } else {
            FM_TRY(gemm_fits(be, 0, 1, Co, R, c, c, c, R, &f));
            ok &= f;
            FM_TRY(gemm_fits(be, 1, 0, R, c, Co, R, c, c, &f));
            ok &= f;
        }
        if (ok)
            break;
        c = c > d->hw && c / 2 >= d->hw ? c / 2 / d->hw * d->hw : c / 2;
    }
    *cols = c;
    if ((size_t)d->N * (size_t)d->Ci * (size_t)d->H * (size_t)d->W > INT_MAX ||
        d->total > INT_MAX || d->R * c > INT_MAX)
        return fm_fail(be, FM_ERR_ARG, "opencl: conv2d tensors beyond 2^31 elements");
    return FM_OK;
}

static fm_status im2col(fm_backend *be, const conv_dims *d, const fm_tensor *in, size_t g0,
                        size_t cols)
{
    cl_kernel k;
    cl_uint a = 0;
    FM_TRY(fm_cl_kernel(be, "conv2d_im2col", &k));
    FM_TRY(fm_cl_arg_scratch(be, k, &a, 0));
    FM_TRY(fm_cl_arg_tensor(be, k, &a, in));
    const int v[] = {d->Ci, d->H, d->W, d->K, d->s, d->p, d->Ho, d->Wo, (int)g0, (int)cols};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        FM_TRY(fm_cl_arg_int(be, k, &a, v[i]));
    return fm_cl_run2d(be, k, cols, (size_t)d->Ci, 0);
}

/* t: out, in, w, b?, bn?, res?   i0 stride, i1 pad */
fm_status fm_cl_conv2d_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0], *in = &c->t[1], *w = &c->t[2];
    conv_dims d = dims_of(c);
    size_t step;
    FM_TRY(chunk_cols(be, &d, 0, &step));
    size_t tmp_byte = d.R * step * sizeof(float);
    cl_kernel ks;
    FM_TRY(fm_cl_kernel(be, "conv2d_store_out", &ks));
    for (size_t g0 = 0; g0 < d.total; g0 += step) {
        size_t cols = d.total - g0 < step ? d.total - g0 : step;
        FM_TRY(im2col(be, &d, in, g0, cols));
        fm_cl_mat A = {fm_cl_elem(w), d.R, 0};
        fm_cl_mat B = {fm_cl_scratch_elem(be, 0), cols, 0};
        fm_cl_mat C = {fm_cl_scratch_elem(be, tmp_byte), cols, 0};
        FM_TRY(fm_cl_gemm(be, (size_t)d.Co, cols, d.R, 1.0f, A, B, 0.0f, C));
        cl_uint a = 0;
        FM_TRY(fm_cl_arg_tensor(be, ks, &a, out));
        FM_TRY(fm_cl_arg_scratch(be, ks, &a, tmp_byte));
        for (int e = 3; e < 6; e++) { /* b?, bn?, res?: the epilogue terms */
            FM_TRY(fm_cl_arg_tensor(be, ks, &a, &c->t[e]));
            FM_TRY(fm_cl_arg_int(be, ks, &a, fm_tensor_present(&c->t[e])));
        }
        FM_TRY(fm_cl_arg_int(be, ks, &a, d.Co));
        FM_TRY(fm_cl_arg_int(be, ks, &a, (int)d.hw));
        FM_TRY(fm_cl_arg_int(be, ks, &a, (int)g0));
        FM_TRY(fm_cl_arg_int(be, ks, &a, (int)cols));
        FM_TRY(fm_cl_run1d(be, ks, cols));
    }
    return FM_OK;
}

/* t: din?, dw, db?, dout, in, w   i0 stride, i1 pad */
fm_status fm_cl_conv2d_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *din = &c->t[0], *dw = &c->t[1], *db = &c->t[2];
    const fm_tensor *dout = &c->t[3], *in = &c->t[4], *w = &c->t[5];
    conv_dims d = dims_of(c);
    size_t step;
    FM_TRY(chunk_cols(be, &d, 1, &step));
    size_t dT_byte = d.R * step * sizeof(float);
    int whole = step % d.hw == 0; /* every chunk holds whole images */
    if (fm_tensor_present(din) && !whole)
        FM_TRY(fm_fill(be, din, 0.0f));
    cl_kernel kl, kc;
    FM_TRY(fm_cl_kernel(be, "conv2d_load_dout", &kl));
    FM_TRY(fm_cl_kernel(be, "conv2d_col2im", &kc));
    for (size_t g0 = 0; g0 < d.total; g0 += step) {
        size_t cols = d.total - g0 < step ? d.total - g0 : step;
        cl_uint a = 0;
        FM_TRY(fm_cl_arg_scratch(be, kl, &a, dT_byte));
        FM_TRY(fm_cl_arg_tensor(be, kl, &a, dout));
        FM_TRY(fm_cl_arg_int(be, kl, &a, d.Co));
        FM_TRY(fm_cl_arg_int(be, kl, &a, (int)d.hw));
        FM_TRY(fm_cl_arg_int(be, kl, &a, (int)g0));
        FM_TRY(fm_cl_arg_int(be, kl, &a, (int)cols));
        FM_TRY(fm_cl_run1d(be, kl, cols));
        FM_TRY(im2col(be, &d, in, g0, cols));
        fm_cl_mat col = {fm_cl_scratch_elem(be, 0), cols, 0};
        fm_cl_mat dT = {fm_cl_scratch_elem(be, dT_byte), cols, 0};
        fm_cl_mat colT = {col.off, cols, 1};
        fm_cl_mat dwm = {fm_cl_elem(dw), d.R, 0};
        FM_TRY(fm_cl_gemm(be, (size_t)d.Co, d.R, cols, 1.0f, dT, colT, 1.0f, dwm));
        if (!fm_tensor_present(din))
            continue;
        fm_cl_mat wT = {fm_cl_elem(w), d.R, 1};
        FM_TRY(fm_cl_gemm(be, d.R, cols, (size_t)d.Co, 1.0f, wT, dT, 0.0f, col));
        size_t n0 = g0 / d.hw, n1 = (g0 + cols - 1) / d.hw + 1;
        size_t pix = (n1 - n0) * (size_t)d.Ci * (size_t)d.H * (size_t)d.W;
        a = 0;
        FM_TRY(fm_cl_arg_tensor(be, kc, &a, din));
        FM_TRY(fm_cl_arg_scratch(be, kc, &a, 0));
        const int v[] = {d.Ci, d.H, d.W, d.K, d.s, d.p, d.Ho,
                         d.Wo, (int)g0, (int)cols, (int)n0, (int)(n1 - n0), !whole};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
            FM_TRY(fm_cl_arg_int(be, kc, &a, v[i]));
        FM_TRY(fm_cl_run1d(be, kc, pix));
    }
    if (fm_tensor_present(db)) {
        cl_kernel k;
        cl_uint a = 0;
        size_t wg = fm_cl_of(be)->max_wg < 64 ? fm_cl_of(be)->max_wg : 64;
        FM_TRY(fm_cl_kernel(be, "conv2d_db", &k));
        FM_TRY(fm_cl_arg_tensor(be, k, &a, db));
        FM_TRY(fm_cl_arg_tensor(be, k, &a, dout));
        FM_TRY(fm_cl_arg_int(be, k, &a, d.N));
        FM_TRY(fm_cl_arg_int(be, k, &a, d.Co));
        FM_TRY(fm_cl_arg_int(be, k, &a, (int)d.hw));
        FM_TRY(fm_cl_run2d(be, k, wg, (size_t)d.Co, wg));
    }
    return FM_OK;
}
