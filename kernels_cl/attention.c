/* Host glue for attention.cl: multi-head self-attention as CLBlast GEMMs plus row
 * kernels. For image n and head h (d = C / heads, L = H W) the matrices are row-major
 * [d, L] slices of the arena, one row per channel:
 *
 *   q = qkv + (n 3C + h d) L,  k = q + C L,  v = q + 2 C L,  o = out + (n C + h d) L
 *   A = att + (n heads + h) L L                                            [L, L]
 *
 *   forward   A = q^T k / sqrt(d)       m = L, n = L, k = d   (transA), alpha = 1/sqrt(d)
 *             A = softmax over rows     (attention_softmax)
 *             o = v A^T                 m = d, n = L, k = L   (transB)
 *   backward  dA = dO^T v               m = L, n = L, k = d   (transA)
 *             dv = dO A                 m = d, n = L, k = L
 *             dS = A (dA - rowsum(A dA))  (attention_softmax_bwd, in place over dA)
 *             dq = k dS^T / sqrt(d)     m = d, n = L, k = L   (transB)
 *             dk = q dS / sqrt(d)       m = d, n = L, k = L
 *
 * Batching: one CLBlast call per head and GEMM, batched over the images n with
 * CLBlastSgemmStridedBatched. For a fixed h every operand has a regular stride in n
 * (3C L for q/k/v/dq/dk/dv, C L for o/dO, heads L L for A), whereas batching the heads
 * of one image would need N calls: the mnist middle block (C 128, 4 heads, L 49, batch
 * 128) makes 2 x 4 calls forward instead of 1024 tiny per-(n, h) GEMMs. CLBlast has no
 * ...WithTempBuffer variant of the strided-batched GEMM: when it picks its indirect
 * (padded) kernel it may allocate temporary memory inside CLBlast; for attention-sized
 * matrices (L, d <= a few hundred) it normally uses the direct kernel, which does not.
 * A batch of one goes through fm_cl_gemm (the arena's temp buffer).
 *
 * The backward dA / dS matrices of a chunk of images (one head) live in the backend
 * scratch, L L floats per image; `ws` (2 L L floats, slot 1) serves when the scratch
 * cannot hold two images' worth (L > 2048). */
#include <math.h>

#include "cl.h"

typedef struct bmat {
    size_t off, ld, stride; /* elements in the arena buffer; stride between batch items */
    int trans;
} bmat;

static bmat bm(size_t off, size_t ld, size_t stride, int trans)
{
    bmat m = {off, ld, stride, trans};
    return m;
}

/* C_b = alpha op(A_b) op(B_b) + beta C_b for b < batch, row-major. */
static fm_status gemm_batched(fm_backend *be, size_t m, size_t n, size_t k, float alpha, bmat a,
                              bmat b, float beta, bmat c, size_t batch)
{
    if (batch == 1) {
        fm_cl_mat A = {a.off, a.ld, a.trans}, B = {b.off, b.ld, b.trans}, C = {c.off, c.ld, 0};
        return fm_cl_gemm(be, m, n, k, alpha, A, B, beta, C);
    }
    fm_cl *cl = fm_cl_of(be);
    return fm_cl_blast_check(
        be,
        CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor,
                                   a.trans ? CLBlastTransposeYes : CLBlastTransposeNo,
                                   b.trans ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k,
                                   alpha, cl->arena, a.off, a.ld, a.stride, cl->arena, b.off, b.ld,
                                   b.stride, beta, cl->arena, c.off, c.ld, c.stride, batch,
                                   &cl->queue, NULL),
        "SgemmStridedBatched");
}

/* t: out, att, qkv   i0 heads */
fm_status fm_cl_attention_fwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *out = &c->t[0], *att = &c->t[1], *qkv = &c->t[2];
    size_t N = (size_t)out->shape[0], C = (size_t)out->shape[1];
    size_t L = (size_t)(out->shape[2] * out->shape[3]), heads = (size_t)c->i[0], d = C / heads;
    size_t q0 = fm_cl_elem(qkv), a0 = fm_cl_elem(att), o0 = fm_cl_elem(out);
    float scale = (float)(1.0 / sqrt((double)d));
    for (size_t h = 0; h < heads; h++) {
        size_t q = q0 + h * d * L, k = q + C * L;
        FM_TRY(gemm_batched(be, L, L, d, scale, bm(q, L, 3 * C * L, 1), bm(k, L, 3 * C * L, 0), 0.0f,
                         bm(a0 + h * L * L, L, heads * L * L, 0), N));
    }
    cl_kernel ks;
    cl_uint a = 0;
    FM_TRY(fm_cl_kernel(be, "attention_softmax", &ks));
    FM_TRY(fm_cl_arg_tensor(be, ks, &a, att));
    FM_TRY(fm_cl_arg_int(be, ks, &a, (int)(N * heads * L)));
    FM_TRY(fm_cl_arg_int(be, ks, &a, (int)L));
    FM_TRY(fm_cl_run1d(be, ks, N * heads * L));
    for (size_t h = 0; h < heads; h++) {
        size_t v = q0 + h * d * L + 2 * C * L;
        FM_TRY(gemm_batched(be, d, L, L, 1.0f, bm(v, L, 3 * C * L, 0),
                         bm(a0 + h * L * L, L, heads * L * L, 1), 0.0f,
                         bm(o0 + h * d * L, L, C * L, 0), N));
    }
    return FM_OK;
}

/* t: dqkv, ws, dout, qkv, att   i0 heads */
fm_status fm_cl_attention_bwd(fm_backend *be, const fm_call *c)
{
    const fm_tensor *dqkv = &c->t[0], *ws = &c->t[1], *dout = &c->t[2], *qkv = &c->t[3];
    const fm_tensor *att = &c->t[4];
    size_t N = (size_t)dout->shape[0], C = (size_t)dout->shape[1];
    size_t L = (size_t)(dout->shape[2] * dout->shape[3]), heads = (size_t)c->i[0], d = C / heads;
    size_t q0 = fm_cl_elem(qkv), dq0 = fm_cl_elem(dqkv), do0 = fm_cl_elem(dout);
    size_t a0 = fm_cl_elem(att);
    float scale = (float)(1.0 / sqrt((double)d));
    size_t cap = fm_cl_of(be)->scratch_bytes / (L * L * sizeof(float)), buf;
    if (cap >= 2) {
        buf = fm_cl_scratch_elem(be, 0);
    } else {
        buf = fm_cl_elem(ws);
        cap = 2;
    }
    cl_kernel ks;
    FM_TRY(fm_cl_kernel(be, "attention_softmax_bwd", &ks));
    for (size_t h = 0; h < heads; h++) {
        for (size_t n0 = 0; n0 < N; n0 += cap) {
            size_t nb = N - n0 < cap ? N - n0 : cap;
            size_t q = q0 + (n0 * 3 * C + h * d) * L, k = q + C * L, v = q + 2 * C * L;
            size_t dq = dq0 + (n0 * 3 * C + h * d) * L, dk = dq + C * L, dv = dq + 2 * C * L;
            size_t dO = do0 + (n0 * C + h * d) * L, A = a0 + (n0 * heads + h) * L * L;
            size_t s3 = 3 * C * L, sA = heads * L * L, sB = L * L;
            FM_TRY(gemm_batched(be, L, L, d, 1.0f, bm(dO, L, C * L, 1), bm(v, L, s3, 0), 0.0f,
                             bm(buf, L, sB, 0), nb));
            FM_TRY(gemm_batched(be, d, L, L, 1.0f, bm(dO, L, C * L, 0), bm(A, L, sA, 0), 0.0f,
                             bm(dv, L, s3, 0), nb));
            cl_uint a = 0;
            cl_mem arena = fm_cl_of(be)->arena;
            cl_uint boff = (cl_uint)buf;
            FM_TRY(fm_cl_check(be, clSetKernelArg(ks, a++, sizeof arena, &arena), "set buffer"));
            FM_TRY(fm_cl_check(be, clSetKernelArg(ks, a++, sizeof boff, &boff), "set offset"));
            FM_TRY(fm_cl_arg_tensor(be, ks, &a, att));
            FM_TRY(fm_cl_arg_int(be, ks, &a, (int)(nb * L)));
            FM_TRY(fm_cl_arg_int(be, ks, &a, (int)L));
            FM_TRY(fm_cl_arg_int(be, ks, &a, (int)heads));
            FM_TRY(fm_cl_arg_int(be, ks, &a, (int)h));
            FM_TRY(fm_cl_arg_int(be, ks, &a, (int)n0));
            FM_TRY(fm_cl_run1d(be, ks, nb * L));
            FM_TRY(gemm_batched(be, d, L, L, scale, bm(k, L, s3, 0), bm(buf, L, sB, 1), 0.0f,
                             bm(dq, L, s3, 0), nb));
            FM_TRY(gemm_batched(be, d, L, L, scale, bm(q, L, s3, 0), bm(buf, L, sB, 0), 0.0f,
                             bm(dk, L, s3, 0), nb));
        }
    }
    return FM_OK;
}
