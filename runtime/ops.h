/* The ops of the dispatch table: one line each.
 *
 * A call is an op id, its tensors in a fixed order and a few scalars. Order
 * follows llm.c: outputs first, then saved statistics, then inputs and weights.
 * The slot string says, per tensor:
 *   'o' written (=)          'a' accumulated or updated in place (+=)
 *   'i' read only            upper case: optional (ndim == 0 means absent)
 * Backward convention: parameter gradients accumulate (+=), activation gradients
 * are written (=). Images are NCHW float32, contiguous. Outputs may alias inputs
 * only where an op says so (elementwise ops); conv2d, linear, attention must not.
 *
 * Adding an op: one line here, one file per backend folder, one line in each
 * backend's table, one shape rule in ops.c, one conformance/test entry. */
#ifndef FMRT_OPS_H
#define FMRT_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "tensor.h"

/* X(ID, name, slots)
 * Shapes and maths (N batch, C channels, L = H*W, "x" = elementwise):
 *
 * CONV2D_FWD    out[N,Co,Ho,Wo], in[N,Ci,H,W], w[Co,Ci,K,K], b?[Co]     i0 stride, i1 pad
 *               out[n,o,y,x] = b[o] + sum_{c,ky,kx} w[o,c,ky,kx] in[n,c,y*s-p+ky,x*s-p+kx]
 *               Ho = (H + 2p - K)/s + 1 (zero padding)
 * CONV2D_BWD    din?[N,Ci,H,W] =, dw[Co,Ci,K,K] +=, db?[Co] +=, dout, in, w   i0 stride, i1 pad
 * GROUPNORM_FWD out, mean[N,G], rstd[N,G], in[N,C,H,W], gamma[C], beta[C]   i0 groups, f0 eps,
 *               i1 act (FM_GN_ACT_*: 0 none, 1 SiLU)
 *               y = (in - mean_g) * rstd_g * gamma[c] + beta[c], rstd = 1/sqrt(var + eps)
 *               (biased variance over the C/G channels x H x W of each group)
 *               act 0: out = y;  act 1: out = y * sigmoid(y), i.e. SILU_FWD of y in the
 *               same pass (a post-op, as oneDNN's: for inference, where y itself is not
 *               needed; mean and rstd are those of in either way, and backward is for
 *               act 0 only: it needs y, which act 1 does not keep)
 * GROUPNORM_BWD din =, dgamma +=, dbeta +=, dout, in, mean, rstd, gamma     i0 groups
 * SILU_FWD      out, in                  out = in * sigmoid(in)   (out may alias in)
 * SILU_BWD      din, dout, in            din = dout * s * (1 + in * (1 - s)), s = sigmoid(in)
 * LINEAR_FWD    out[N,O], in[N,I], w[O,I], b?[O]      out = in w^T + b
 * LINEAR_BWD    din?[N,I] =, dw[O,I] +=, db?[O] +=, dout[N,O], in, w
 * BIAS_ADD_FWD  out[N,C,H,W], in[N,C,H,W], bias[N,C]  out = in + bias[n,c] (per-sample
 *               per-channel broadcast over H,W, e.g. the time embedding; may alias)
 * BIAS_ADD_BWD  dbias[N,C] =, dout        dbias[n,c] = sum_{y,x} dout (din = dout)
 * ADD_FWD       out, a, b                 out = a + b (any shape; may alias a or b)
 * ADD_BWD       da?, db?, dout            da = dout, db = dout
 * UPSAMPLE2X_FWD out[N,C,2H,2W], in[N,C,H,W]   nearest: out[y,x] = in[y/2,x/2]
 * UPSAMPLE2X_BWD din[N,C,H,W], dout[N,C,2H,2W] din[y,x] = sum of its 2x2 block
 * CONCAT_FWD    out[N,Ca+Cb,H,W], a[N,Ca,H,W], b[N,Cb,H,W]   channels of a first
 * CONCAT_BWD    da, db, dout              the split
 * ATTENTION_FWD out[N,C,H,W], att[N,heads,L,L], qkv[N,3C,H,W]   i0 heads, d = C/heads
 *               q/k/v channel of head h, row j: s*C + h*d + j (s = 0,1,2)
 *               att[n,h,i,k] = softmax_k( sum_j q[j,i] k[j,k] / sqrt(d) )
 *               out[n,h*d+j,i] = sum_k att[n,h,i,k] v[j,k]
 * ATTENTION_BWD dqkv[N,3C,H,W] =, ws[2,L,L] scratch, dout[N,C,H,W], qkv, att   i0 heads
 * TIMEEMB_FWD   out[N,D], t[N]    D even, >= 4; half = D/2, f_i = exp(-ln(10000) i/(half-1)),
 *               a_i = 1000 t f_i, out = [sin a_0..a_{half-1}, cos a_0..a_{half-1}]
 * TIMEEMB_BWD   dt[N] =, dout[N,D], t
 * EMBED_FWD     out[N,D], table[R,D], idx[N] (i32, 0 <= idx < R; the ref backend
 *               refuses others, device backends clamp nothing)   out[n] = table[idx[n]]
 * EMBED_BWD     dtable[R,D] +=, dout[N,D], idx      scatter-add
 * MSE_FWD       loss[1], a, b        loss = mean((a - b)^2)
 * MSE_BWD       da? =, db? =, a, b   f0 dloss: da = 2 (a - b) dloss / n, db = -da
 * FM_INTERP_FWD xt, v, x0[N,...], x1, t[N]   xt = (1 - t) x0 + t x1, v = x1 - x0
 * FM_INTERP_BWD dx0? =, dx1? =, dxt?, dv?, t  dx0 = (1-t) dxt - dv, dx1 = t dxt + dv
 *               (an absent dxt or dv counts as zero)
 * AXPBY_FWD     out, x, y            f0 a, f1 b: out = a x + b y (may alias)
 * AXPBY_BWD     dx?, dy?, dout       dx = a dout, dy = b dout
 * SUM_FWD       out[1], in           out = sum(in)
 * SUM_BWD       din, dout[1]         din = dout[0]
 * ADAMW         param +=, m +=, v +=, grad    f0 lr, f1 beta1, f2 beta2, f3 eps,
 *               f4 weight decay, f5 bc1 = 1 - beta1^step, f6 bc2 = 1 - beta2^step
 *               p -= lr wd p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *               p -= lr (m / bc1) / (sqrt(v / bc2) + eps)     (PyTorch AdamW)
 * EMA           ema +=, param        f0 decay: ema = decay ema + (1 - decay) param
 * QUANTIZE_U8   out (u8), in         out = round(clamp((in + 1) * 127.5, 0, 255))
 * RNG           out (f32)            i0 distribution (FM_RNG_UNIFORM / FM_RNG_NORMAL),
 *               u0 seed, u1 stream: element e = Philox(key = seed, ctr = (e, stream))
 *               (see philox.h)
 */
#define FM_OP_LIST(X)                                  \
    X(CONV2D_FWD, conv2d_fwd, "oiiI")                  \
    X(CONV2D_BWD, conv2d_bwd, "OaAiii")                \
    X(GROUPNORM_FWD, groupnorm_fwd, "oooiii")          \
    X(GROUPNORM_BWD, groupnorm_bwd, "oaaiiiii")        \
    X(SILU_FWD, silu_fwd, "oi")                        \
    X(SILU_BWD, silu_bwd, "oii")                       \
    X(LINEAR_FWD, linear_fwd, "oiiI")                  \
    X(LINEAR_BWD, linear_bwd, "OaAiii")                \
    X(BIAS_ADD_FWD, bias_add_fwd, "oii")               \
    X(BIAS_ADD_BWD, bias_add_bwd, "oi")                \
    X(ADD_FWD, add_fwd, "oii")                         \
    X(ADD_BWD, add_bwd, "OOi")                         \
    X(UPSAMPLE2X_FWD, upsample2x_fwd, "oi")            \
    X(UPSAMPLE2X_BWD, upsample2x_bwd, "oi")            \
    X(CONCAT_FWD, concat_fwd, "oii")                   \
    X(CONCAT_BWD, concat_bwd, "ooi")                   \
    X(ATTENTION_FWD, attention_fwd, "ooi")             \
    X(ATTENTION_BWD, attention_bwd, "ooiii")           \
    X(TIMEEMB_FWD, timeemb_fwd, "oi")                  \
    X(TIMEEMB_BWD, timeemb_bwd, "oii")                 \
    X(EMBED_FWD, embed_fwd, "oii")                     \
    X(EMBED_BWD, embed_bwd, "aii")                     \
    X(MSE_FWD, mse_fwd, "oii")                         \
    X(MSE_BWD, mse_bwd, "OOii")                        \
    X(FM_INTERP_FWD, fm_interp_fwd, "ooiii")           \
    X(FM_INTERP_BWD, fm_interp_bwd, "OOIIi")           \
    X(AXPBY_FWD, axpby_fwd, "oii")                     \
    X(AXPBY_BWD, axpby_bwd, "OOi")                     \
    X(SUM_FWD, sum_fwd, "oi")                          \
    X(SUM_BWD, sum_bwd, "oi")                          \
    X(ADAMW, adamw, "aaai")                            \
    X(EMA, ema, "ai")                                  \
    X(QUANTIZE_U8, quantize_u8, "oi")                  \
    X(RNG, rng, "o")

typedef enum fm_op {
#define FM_X(id, name, slots) FM_OP_##id,
    FM_OP_LIST(FM_X)
#undef FM_X
        FM_OP_COUNT
} fm_op;

enum { FM_RNG_UNIFORM = 0, FM_RNG_NORMAL = 1 };
/* GROUPNORM_FWD i1: the activation applied to the normalised value. */
enum { FM_GN_ACT_NONE = 0, FM_GN_ACT_SILU = 1 };

#define FM_CALL_TENSORS 8

typedef struct fm_call {
    fm_op op;
    fm_tensor t[FM_CALL_TENSORS];
    int32_t i[4];
    float f[8];
    uint64_t u[2];
} fm_call;

typedef struct fm_op_info {
    const char *name;  /* "conv2d_fwd" */
    const char *slots; /* see above */
    int ntensors;
} fm_op_info;

const fm_op_info *fm_op_get_info(fm_op op);
/* FM_OP_COUNT when no op has that name. */
fm_op fm_op_from_name(const char *name);

/* The shape rules above: FM_OK or FM_ERR_ARG with a message naming the op, the
 * argument and the shapes. Backends may assume a checked call. */
fm_status fm_op_check(const fm_call *c, char *msg, size_t len);

/* Scratch the ATTENTION_BWD ws tensor needs, in floats, for L = H*W. */
static inline int64_t fm_attention_ws_floats(int64_t L) { return 2 * L * L; }

#endif
