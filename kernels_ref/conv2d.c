/* 2-D convolution (cross-correlation, as in PyTorch), square kernel, zero padding.
 *
 *   out[n,o,y,x] = b[o] + bn[n,o] + res[n,o,y,x]
 *                  + sum_{c,ky,kx} w[o,c,ky,kx] in[n,c, y*s - p + ky, x*s - p + kx]
 *   Ho = (H + 2p - K)/s + 1,  Wo = (W + 2p - K)/s + 1
 *
 * Every loop nest below is organised around one kernel tap (o, c, ky, kx) at a time:
 * for that tap the output row y reads input row iy = y*s - p + ky, and output column
 * x reads input column ix = x*s - p + kx. Padding is handled by clipping the y and x
 * ranges to the positions whose input is inside the image (valid_range), so the
 * inner loop has no branch and, for stride 1, is a contiguous axpy that gcc -O2
 * vectorises. */
#include "ref.h"

/* Output positions [lo, hi) whose input position pos*s + off lies in [0, in_size),
 * clipped to [0, out_size). Empty when hi <= lo. */
static void valid_range(int64_t off, int64_t s, int64_t in_size, int64_t out_size, int64_t *lo,
                        int64_t *hi)
{
    /* pos*s + off >= 0  <=>  pos >= ceil(-off / s) */
    *lo = off >= 0 ? 0 : (-off + s - 1) / s;
    /* pos*s + off <= in_size - 1  <=>  pos <= floor((in_size - 1 - off) / s) */
    *hi = in_size - 1 - off < 0 ? 0 : (in_size - 1 - off) / s + 1;
    if (*hi > out_size)
        *hi = out_size;
}

/* y[x] += a * v[x*s] for x in [0, n). The stride-1 loop is kept separate so it
 * vectorises; the strided one is a gather. */
static void axpy_strided(float *restrict y, float a, const float *restrict v, int64_t s, int64_t n)
{
    if (s == 1) {
        for (int64_t x = 0; x < n; x++)
            y[x] += a * v[x];
    } else {
        for (int64_t x = 0; x < n; x++)
            y[x] += a * v[x * s];
    }
}

/* The transpose of axpy_strided: y[x*s] += a * v[x] (a scatter when s > 1). */
static void axpy_scatter(float *restrict y, float a, const float *restrict v, int64_t s, int64_t n)
{
    if (s == 1) {
        for (int64_t x = 0; x < n; x++)
            y[x] += a * v[x];
    } else {
        for (int64_t x = 0; x < n; x++)
            y[x * s] += a * v[x];
    }
}

/* sum_x u[x] v[x*s] in double (the weight gradient is a long reduction). */
static double dot_strided(const float *u, const float *v, int64_t s, int64_t n)
{
    double acc = 0.0;
    for (int64_t x = 0; x < n; x++)
        acc += (double)u[x] * (double)v[x * s];
    return acc;
}

/* The epilogue terms of CONV2D_FWD: b[Co], bn[N,Co], res[N,Co,Ho,Wo] (NULL = 0). */
typedef struct conv_adds {
    const float *b, *bn, *res;
} conv_adds;

/* out[N,Co,Ho,Wo] from in[N,Ci,H,W], w[Co,Ci,K,K]; each plane starts from its
 * epilogue terms, b[o] + bn[n,o] + res[n,o,.], and the taps add to it. */
static void conv2d_forward(float *out, const float *in, const float *w, conv_adds e, int64_t N,
                           int64_t Ci, int64_t H, int64_t W, int64_t Co, int64_t K, int64_t s,
                           int64_t p, int64_t Ho, int64_t Wo)
{
    for (int64_t n = 0; n < N; n++) {
        for (int64_t o = 0; o < Co; o++) {
            float *op = out + (n * Co + o) * Ho * Wo;
            float bias = (e.b ? e.b[o] : 0.0f) + (e.bn ? e.bn[n * Co + o] : 0.0f);
            const float *r = e.res ? e.res + (n * Co + o) * Ho * Wo : NULL;
            for (int64_t i = 0; i < Ho * Wo; i++)
                op[i] = r ? bias + r[i] : bias;
            for (int64_t c = 0; c < Ci; c++) {
                const float *ip = in + (n * Ci + c) * H * W;
                const float *wp = w + (o * Ci + c) * K * K;
                for (int64_t ky = 0; ky < K; ky++) {
                    int64_t y0, y1;
                    valid_range(ky - p, s, H, Ho, &y0, &y1);
                    for (int64_t kx = 0; kx < K; kx++) {
                        int64_t x0, x1;
                        valid_range(kx - p, s, W, Wo, &x0, &x1);
                        if (x1 <= x0)
                            continue;
                        float wv = wp[ky * K + kx];
                        for (int64_t y = y0; y < y1; y++) {
                            const float *irow = ip + (y * s - p + ky) * W;
                            axpy_strided(op + y * Wo + x0, wv, irow + (x0 * s - p + kx), s,
                                         x1 - x0);
                        }
                    }
                }
            }
        }
    }
}

/* din[N,Ci,H,W] = (NULL = skip), dw[Co,Ci,K,K] +=, db[Co] += (NULL = skip),
 * from dout[N,Co,Ho,Wo], in, w:
 *   din[n,c,iy,ix] = sum over taps reading (iy,ix) of w[o,c,ky,kx] dout[n,o,y,x]
 *   dw[o,c,ky,kx] += sum_{n,y,x} dout[n,o,y,x] in[n,c,y*s-p+ky,x*s-p+kx]
 *   db[o]         += sum_{n,y,x} dout[n,o,y,x] */
static void conv2d_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, int64_t N, int64_t Ci, int64_t H, int64_t W, int64_t Co,
                            int64_t K, int64_t s, int64_t p, int64_t Ho, int64_t Wo)
{
    if (din) {
        for (int64_t i = 0; i < N * Ci * H * W; i++)
            din[i] = 0.0f;
        for (int64_t n = 0; n < N; n++) {
            for (int64_t o = 0; o < Co; o++) {
                const float *gp = dout + (n * Co + o) * Ho * Wo;
                for (int64_t c = 0; c < Ci; c++) {
                    float *dp = din + (n * Ci + c) * H * W;
                    const float *wp = w + (o * Ci + c) * K * K;
                    for (int64_t ky = 0; ky < K; ky++) {
                        int64_t y0, y1;
                        valid_range(ky - p, s, H, Ho, &y0, &y1);
                        for (int64_t kx = 0; kx < K; kx++) {
                            int64_t x0, x1;
                            valid_range(kx - p, s, W, Wo, &x0, &x1);
                            if (x1 <= x0)
                                continue;
                            float wv = wp[ky * K + kx];
                            for (int64_t y = y0; y < y1; y++) {
                                float *drow = dp + (y * s - p + ky) * W;
                                axpy_scatter(drow + (x0 * s - p + kx), wv, gp + y * Wo + x0, s,
                                             x1 - x0);
                            }
                        }
                    }
                }
            }
        }
    }
    for (int64_t o = 0; o < Co; o++) {
        for (int64_t c = 0; c < Ci; c++) {
            for (int64_t ky = 0; ky < K; ky++) {
                int64_t y0, y1;
                valid_range(ky - p, s, H, Ho, &y0, &y1);
                for (int64_t kx = 0; kx < K; kx++) {
                    int64_t x0, x1;
                    valid_range(kx - p, s, W, Wo, &x0, &x1);
                    double acc = 0.0;
                    for (int64_t n = 0; n < N && x1 > x0; n++) {
                        const float *gp = dout + (n * Co + o) * Ho * Wo;
                        const float *ip = in + (n * Ci + c) * H * W;
                        for (int64_t y = y0; y < y1; y++) {
                            const float *irow = ip + (y * s - p + ky) * W;
                            acc +=
                                dot_strided(gp + y * Wo + x0, irow + (x0 * s - p + kx), s, x1 - x0);
                        }
                    }
                    dw[((o * Ci + c) * K + ky) * K + kx] += (float)acc;
                }
            }
        }
    }
    if (db) {
        for (int64_t o = 0; o < Co; o++) {
            double acc = 0.0;
            for (int64_t n = 0; n < N; n++) {
                const float *gp = dout + (n * Co + o) * Ho * Wo;
                for (int64_t i = 0; i < Ho * Wo; i++)
                    acc += gp[i];
            }
            db[o] += (float)acc;
        }
    }
}

/* t: out, in, w, b?, bn?, res?   i0 stride, i1 pad */
fm_status fm_ref_conv2d_fwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *out = &c->t[0], *in = &c->t[1], *w = &c->t[2];
    fm_conv_geom g = fm_conv_geometry(c);
    conv_adds e = {fm_tensor_present(&c->t[3]) ? fm_f32(&c->t[3]) : NULL,
                   fm_tensor_present(&c->t[4]) ? fm_f32(&c->t[4]) : NULL,
                   fm_tensor_present(&c->t[5]) ? fm_f32(&c->t[5]) : NULL};
    conv2d_forward(fm_f32(out), fm_f32(in), fm_f32(w), e, g.N, g.Ci, g.H, g.W, g.Co, g.K, g.s, g.p,
                   g.Ho, g.Wo);
    return FM_OK;
}

/* t: din?, dw, db?, dout, in, w   i0 stride, i1 pad */
fm_status fm_ref_conv2d_bwd(fm_backend *be, const fm_call *c)
{
    (void)be;
    const fm_tensor *din = &c->t[0], *dw = &c->t[1], *db = &c->t[2];
    const fm_tensor *dout = &c->t[3], *in = &c->t[4], *w = &c->t[5];
    fm_conv_geom g = fm_conv_geometry(c);
    conv2d_backward(fm_tensor_present(din) ? fm_f32(din) : NULL, fm_f32(dw),
                    fm_tensor_present(db) ? fm_f32(db) : NULL, fm_f32(dout), fm_f32(in), fm_f32(w),
                    g.N, g.Ci, g.H, g.W, g.Co, g.K, g.s, g.p, g.Ho, g.Wo);
    return FM_OK;
}
