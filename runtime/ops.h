/* The ops of the dispatch table: each op's facts written once, in FM_OP_LIST.
 *
 * A call is an op id, its tensors in a fixed order and a few scalars. Order
 * follows llm.c: outputs first, then saved statistics, then inputs and weights.
 * Each tensor slot is FM_S(role, name, dtype):
 *   role 'o' written (=)       'a' accumulated or updated in place (+=)
 *        'i' read only         upper case: optional (ndim == 0 means absent)
 *   name what messages and conformance rows call it; dtype f32, i32 or u8.
 * Backward convention: parameter gradients accumulate (+=), activation gradients
 * are written (=). Images are NCHW float32, contiguous. Outputs may alias inputs
 * only where an op says so (elementwise ops); conv2d, linear, attention must not.
 *
 * Generated from the list: the op enum, names and slot tables (ops.c), every
 * backend's table of kernels fm_<backend>_<name> (a missing kernel fails the link),
 * the shape rule table (ops.c: one function rule_<name> per op).
 *
 * Adding an op: a line here (with its maths below), its rule_<name> in ops.c, one
 * kernel file per backend folder, one conformance descriptor. See README. */
#ifndef FMRT_OPS_H
#define FMRT_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "tensor.h"

/* X(ID, name, FM_S(...) per tensor)
 * Shapes and maths (N batch, C channels, L = H*W, "x" = elementwise):
 *
 * CONV2D_FWD    out[N,Co,Ho,Wo], in[N,Ci,H,W], w[Co,Ci,K,K], b?[Co], bn?[N,Co],
 *               res?[N,Co,Ho,Wo]    i0 stride, i1 pad
 *               out[n,o,y,x] = b[o] + bn[n,o] + res[n,o,y,x]
 *                              + sum_{c,ky,kx} w[o,c,ky,kx] in[n,c,y*s-p+ky,x*s-p+kx]
 *               Ho = (H + 2p - K)/s + 1 (zero padding); an absent b, bn or res is 0.
 *               bn (a per-sample bias: the time embedding) and res (a residual) are
 *               epilogue adds, as oneDNN's sum post-op: one pass over out less than
 *               BIAS_ADD_FWD / ADD_FWD after the conv. Backward is CONV2D_BWD's with
 *               dres = dout and dbn = BIAS_ADD_BWD(dout).
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
 *
 * Token ops (the DiT): activations are rows, x[B,T,D] row-major (T tokens of width D);
 * per-sample vectors s[B,D] are broadcast over the T tokens of sample b.
 * LAYERNORM_FWD out[B,T,D], mean[B,T], rstd[B,T], in[B,T,D], shift?[B,D], scale?[B,D]
 *               f0 eps, i0 form (FM_LN_*). Per row (b,t): layer norm over the last dim,
 *               biased variance, then a per-sample modulation as a post-op (absent = 0):
 *               xhat = (in - mean) rstd, rstd = 1/sqrt(var + eps)
 *               0 adaLN:  out[b,t,j] = xhat[b,t,j] (1 + scale[b,j]) + shift[b,j]
 *               1 affine: out[b,t,j] = xhat[b,t,j] scale[b,j] + shift[b,j] (absent
 *                 scale = 1): nn.LayerNorm's gamma and beta on the [1, B*T, D] view
 * LAYERNORM_BWD din[B,T,D] =, dshift?[B,D] =, dscale?[B,D] =, dout, in, mean, rstd,
 *               scale?[B,D]   i0 form:  with xhat recomputed and g = dout (1 + scale[b,j])
 *               (form 1: g = dout scale[b,j]), dshift[b,j] = sum_t dout,
 *               dscale[b,j] = sum_t dout xhat,
 *               din = rstd (g - mean_j(g) - xhat mean_j(g xhat))   (means over the row)
 * GELU_FWD      out, in      i0 form (FM_GELU_*; out may alias in):
 *               0 tanh:  out = 0.5 x (1 + tanh(a)), a = sqrt(2/pi) (x + 0.044715 x^3)
 *               1 quick: out = x sigmoid(1.702 x)   (CLIP's "quick_gelu")
 * GELU_BWD      din, dout, in    i0 form:
 *               0: din = dout (0.5 (1 + th) + 0.5 x (1 - th^2) a'),
 *                  th = tanh(a), a' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
 *               1: din = dout (s + 1.702 x s (1 - s)), s = sigmoid(1.702 x)
 * GATED_ADD_FWD out[B,T,D], x[B,T,D], g[B,D], h[B,T,D]   out = x + g[b,j] h (adaLN-Zero's
 *               gated residual; out may alias x)
 * GATED_ADD_BWD dh? =, dg?[B,D] =, dout[B,T,D], g, h   dh = g[b,j] dout,
 *               dg[b,j] = sum_t h dout   (dx = dout: no slot)
 * TRANSPOSE     out[B,C,R], in[B,R,C]   out[b,c,r] = in[b,r,c]; its own backward
 *               (din = TRANSPOSE of dout). Token-major <-> channel-major: qkv[B,T,3D] ->
 *               [B,3D,T] for ATTENTION_*, conv outputs [B,D,T] -> tokens [B,T,D]
 * UNPATCHIFY_FWD out[B,C,H,W], in[B,T,p*p*C]   i0 p; gh = H/p, gw = W/p, T = gh gw:
 *               out[b,c,i*p+pi,j*p+pj] = in[b, i*gw+j, (pi*p+pj)*C + c]
 * UNPATCHIFY_BWD din[B,T,p*p*C] =, dout[B,C,H,W]   i0 p: the inverse gather
 * TIMEEMB_FWD   out[N,D], t[N]    D even, >= 4; half = D/2, f_i = exp(-ln(10000) i/(half-1)),
 *               a_i = 1000 t f_i, out = [sin a_0..a_{half-1}, cos a_0..a_{half-1}]
 * TIMEEMB_BWD   dt[N] =, dout[N,D], t
 * EMBED_FWD     out[N,D], table[R,D], idx[N] (i32, 0 <= idx < R; the ref backend
 *               refuses others, device backends clamp nothing)   out[n] = table[idx[n]]
 * EMBED_BWD     dtable[R,D] +=, dout[N,D], idx      scatter-add
 * SOFTMAX_XENT_FWD loss[1], probs[N,K], logits[N,K], labels[N] (i32, K >= 2; 0 <= labels < K:
 *               the ref backend refuses others, device backends clamp nothing)
 *               m_n = max_k logits[n,k],  lse_n = m_n + log sum_k exp(logits[n,k] - m_n)
 *               probs[n,k] = exp(logits[n,k] - lse_n)          (stable softmax)
 *               loss = (1/N) sum_n (lse_n - logits[n,labels[n]])  = -mean log probs[n,labels[n]]
 * SOFTMAX_XENT_BWD dlogits[N,K] =, probs[N,K], labels[N]   f0 dloss:
 *               dlogits[n,k] = dloss (probs[n,k] - [k == labels[n]]) / N
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
 * REPARAM_FWD   z[N,Z,h,w], kl[1], mom[N,2Z,h,w], eps?[N,Z,h,w]   (the autoencoder's
 *               posterior, docs/spec/vae.md): mu = mom[:, :Z], lv = clamp(mom[:, Z:], -30, 20)
 *               z = mu + exp(lv/2) eps   (eps absent: z = mu)
 *               kl = (1/N) sum 0.5 (mu^2 + exp(lv) - 1 - lv)   (per image, batch mean)
 * REPARAM_BWD   dmom[N,2Z,h,w] =, dz?[N,Z,h,w], mom, eps?   f0 dkl (beta, the KL's weight):
 *               dmu = dz + dkl mu / N
 *               dlv = [-30 <= lv <= 20] (dz eps exp(lv/2) / 2 + dkl (exp(lv) - 1) / (2 N))
 *               (an absent dz or eps counts as zero)
 * XATTN_FWD     out[N,Lq,C], att[N,heads,Lq,Lk], q[N,Lq,C], k[N,Lk,C], v[N,Lk,C],
 *               bias?[N,Lk]   i0 heads (d = C/heads), i1 causal (0/1). Multi-head
 *               attention between token sequences, rows token-major: cross-attention
 *               (q from the image, k and v from the text) and, with q k v of one
 *               sequence, the text encoder's causal self-attention. Head h reads
 *               columns h*d .. h*d+d-1 of q, k and v:
 *               s[i,k] = sum_j q[i,h*d+j] k[k,h*d+j] / sqrt(d) + bias[n,k]
 *                        (-inf where causal and k > i)
 *               att[n,h,i,k] = softmax_k s[i,k];  out[n,i,h*d+j] = sum_k att v[k,h*d+j]
 *               bias is additive (0 keeps a key, -inf masks it: the padding mask, as
 *               PyTorch's float attn_mask); every query row must keep at least one key
 *               (the ref backend refuses others). Masked weights are exactly 0.
 * XATTN_BWD     dq =, dk =, dv =, ds[N,heads,Lq,Lk] (scratch), dout[N,Lq,C], q, k, v, att
 *               i0 heads: dA[i,k] = sum_j dout[i,h*d+j] v[k,h*d+j],
 *               ds[i,k] = att (dA - sum_k' att dA)   (masked entries: att = 0, so ds = 0)
 *               dq[i] = sum_k ds k[k] / sqrt(d), dk[k] = sum_i ds q[i] / sqrt(d),
 *               dv[k] = sum_i att dout[i]
 * RNG           out (f32)            i0 distribution (FM_RNG_UNIFORM / FM_RNG_NORMAL),
 *               u0 seed, u1 stream, u2 first counter: element e =
 *               Philox(key = seed, ctr = (u2 + e, stream)) (see philox.h); u2 lets a
 *               data-parallel rank draw its slice of the one global batch's numbers
 */
#define FM_OP_LIST(X)                                                                              \
    X(CONV2D_FWD, conv2d_fwd,                                                                      \
      FM_S(o, out, f32) FM_S(i, in, f32) FM_S(i, w, f32) FM_S(I, b, f32) FM_S(I, bn, f32)          \
          FM_S(I, res, f32))                                                                       \
    X(CONV2D_BWD, conv2d_bwd,                                                                      \
      FM_S(O, din, f32) FM_S(a, dw, f32) FM_S(A, db, f32) FM_S(i, dout, f32) FM_S(i, in, f32)      \
          FM_S(i, w, f32))                                                                         \
    X(GROUPNORM_FWD, groupnorm_fwd,                                                                \
      FM_S(o, out, f32) FM_S(o, mean, f32) FM_S(o, rstd, f32) FM_S(i, in, f32) FM_S(i, gamma, f32) \
          FM_S(i, beta, f32))                                                                      \
    X(GROUPNORM_BWD, groupnorm_bwd,                                                                \
      FM_S(o, din, f32) FM_S(a, dgamma, f32) FM_S(a, dbeta, f32) FM_S(i, dout, f32)                \
          FM_S(i, in, f32) FM_S(i, mean, f32) FM_S(i, rstd, f32) FM_S(i, gamma, f32))              \
    X(SILU_FWD, silu_fwd, FM_S(o, out, f32) FM_S(i, in, f32))                                      \
    X(SILU_BWD, silu_bwd, FM_S(o, din, f32) FM_S(i, dout, f32) FM_S(i, in, f32))                   \
    X(LINEAR_FWD, linear_fwd, FM_S(o, out, f32) FM_S(i, in, f32) FM_S(i, w, f32) FM_S(I, b, f32))  \
    X(LINEAR_BWD, linear_bwd,                                                                      \
      FM_S(O, din, f32) FM_S(a, dw, f32) FM_S(A, db, f32) FM_S(i, dout, f32) FM_S(i, in, f32)      \
          FM_S(i, w, f32))                                                                         \
    X(BIAS_ADD_FWD, bias_add_fwd, FM_S(o, out, f32) FM_S(i, in, f32) FM_S(i, bias, f32))           \
    X(BIAS_ADD_BWD, bias_add_bwd, FM_S(o, dbias, f32) FM_S(i, dout, f32))                          \
    X(ADD_FWD, add_fwd, FM_S(o, out, f32) FM_S(i, a, f32) FM_S(i, b, f32))                         \
    X(ADD_BWD, add_bwd, FM_S(O, da, f32) FM_S(O, db, f32) FM_S(i, dout, f32))                      \
    X(UPSAMPLE2X_FWD, upsample2x_fwd, FM_S(o, out, f32) FM_S(i, in, f32))                          \
    X(UPSAMPLE2X_BWD, upsample2x_bwd, FM_S(o, din, f32) FM_S(i, dout, f32))                        \
    X(CONCAT_FWD, concat_fwd, FM_S(o, out, f32) FM_S(i, a, f32) FM_S(i, b, f32))                   \
    X(CONCAT_BWD, concat_bwd, FM_S(o, da, f32) FM_S(o, db, f32) FM_S(i, dout, f32))                \
    X(ATTENTION_FWD, attention_fwd, FM_S(o, out, f32) FM_S(o, att, f32) FM_S(i, qkv, f32))         \
    X(ATTENTION_BWD, attention_bwd,                                                                \
      FM_S(o, dqkv, f32) FM_S(o, ws, f32) FM_S(i, dout, f32) FM_S(i, qkv, f32) FM_S(i, att, f32))  \
    X(TIMEEMB_FWD, timeemb_fwd, FM_S(o, out, f32) FM_S(i, t, f32))                                 \
    X(TIMEEMB_BWD, timeemb_bwd, FM_S(o, dt, f32) FM_S(i, dout, f32) FM_S(i, t, f32))               \
    X(EMBED_FWD, embed_fwd, FM_S(o, out, f32) FM_S(i, table, f32) FM_S(i, idx, i32))               \
    X(EMBED_BWD, embed_bwd, FM_S(a, dtable, f32) FM_S(i, dout, f32) FM_S(i, idx, i32))             \
    X(SOFTMAX_XENT_FWD, softmax_xent_fwd,                                                          \
      FM_S(o, loss, f32) FM_S(o, probs, f32) FM_S(i, logits, f32) FM_S(i, labels, i32))            \
    X(SOFTMAX_XENT_BWD, softmax_xent_bwd,                                                          \
      FM_S(o, dlogits, f32) FM_S(i, probs, f32) FM_S(i, labels, i32))                              \
    X(MSE_FWD, mse_fwd, FM_S(o, loss, f32) FM_S(i, a, f32) FM_S(i, b, f32))                        \
    X(MSE_BWD, mse_bwd, FM_S(O, da, f32) FM_S(O, db, f32) FM_S(i, a, f32) FM_S(i, b, f32))         \
    X(FM_INTERP_FWD, fm_interp_fwd,                                                                \
      FM_S(o, xt, f32) FM_S(o, v, f32) FM_S(i, x0, f32) FM_S(i, x1, f32) FM_S(i, t, f32))          \
    X(FM_INTERP_BWD, fm_interp_bwd,                                                                \
      FM_S(O, dx0, f32) FM_S(O, dx1, f32) FM_S(I, dxt, f32) FM_S(I, dv, f32) FM_S(i, t, f32))      \
    X(AXPBY_FWD, axpby_fwd, FM_S(o, out, f32) FM_S(i, x, f32) FM_S(i, y, f32))                     \
    X(AXPBY_BWD, axpby_bwd, FM_S(O, dx, f32) FM_S(O, dy, f32) FM_S(i, dout, f32))                  \
    X(SUM_FWD, sum_fwd, FM_S(o, out, f32) FM_S(i, in, f32))                                        \
    X(SUM_BWD, sum_bwd, FM_S(o, din, f32) FM_S(i, dout, f32))                                      \
    X(ADAMW, adamw, FM_S(a, param, f32) FM_S(a, m, f32) FM_S(a, v, f32) FM_S(i, grad, f32))        \
    X(EMA, ema, FM_S(a, ema, f32) FM_S(i, param, f32))                                             \
    X(QUANTIZE_U8, quantize_u8, FM_S(o, out, u8) FM_S(i, in, f32))                                 \
    X(RNG, rng, FM_S(o, out, f32))                                                                 \
    X(LAYERNORM_FWD, layernorm_fwd,                                                                \
      FM_S(o, out, f32) FM_S(o, mean, f32) FM_S(o, rstd, f32) FM_S(i, in, f32) FM_S(I, shift, f32) \
          FM_S(I, scale, f32))                                                                     \
    X(LAYERNORM_BWD, layernorm_bwd,                                                                \
      FM_S(o, din, f32) FM_S(O, dshift, f32) FM_S(O, dscale, f32) FM_S(i, dout, f32)               \
          FM_S(i, in, f32) FM_S(i, mean, f32) FM_S(i, rstd, f32) FM_S(I, scale, f32))              \
    X(GELU_FWD, gelu_fwd, FM_S(o, out, f32) FM_S(i, in, f32))                                      \
    X(GELU_BWD, gelu_bwd, FM_S(o, din, f32) FM_S(i, dout, f32) FM_S(i, in, f32))                   \
    X(GATED_ADD_FWD, gated_add_fwd,                                                                \
      FM_S(o, out, f32) FM_S(i, x, f32) FM_S(i, g, f32) FM_S(i, h, f32))                           \
    X(GATED_ADD_BWD, gated_add_bwd,                                                                \
      FM_S(O, dh, f32) FM_S(O, dg, f32) FM_S(i, dout, f32) FM_S(i, g, f32) FM_S(i, h, f32))        \
    X(TRANSPOSE, transpose, FM_S(o, out, f32) FM_S(i, in, f32))                                    \
    X(UNPATCHIFY_FWD, unpatchify_fwd, FM_S(o, out, f32) FM_S(i, in, f32))                          \
    X(UNPATCHIFY_BWD, unpatchify_bwd, FM_S(o, din, f32) FM_S(i, dout, f32))                        \
    X(REPARAM_FWD, reparam_fwd,                                                                    \
      FM_S(o, z, f32) FM_S(o, kl, f32) FM_S(i, mom, f32) FM_S(I, eps, f32))                        \
    X(REPARAM_BWD, reparam_bwd,                                                                    \
      FM_S(o, dmom, f32) FM_S(I, dz, f32) FM_S(i, mom, f32) FM_S(I, eps, f32))                     \
    X(XATTN_FWD, xattn_fwd,                                                                        \
      FM_S(o, out, f32) FM_S(o, att, f32) FM_S(i, q, f32) FM_S(i, k, f32) FM_S(i, v, f32)          \
          FM_S(I, bias, f32))                                                                      \
    X(XATTN_BWD, xattn_bwd,                                                                        \
      FM_S(o, dq, f32) FM_S(o, dk, f32) FM_S(o, dv, f32) FM_S(o, ds, f32) FM_S(i, dout, f32)       \
          FM_S(i, q, f32) FM_S(i, k, f32) FM_S(i, v, f32) FM_S(i, att, f32))

typedef enum fm_op {
#define FM_X(id, name, slots) FM_OP_##id,
    FM_OP_LIST(FM_X)
#undef FM_X
        FM_OP_COUNT
} fm_op;

enum { FM_RNG_UNIFORM = 0, FM_RNG_NORMAL = 1 };
/* REPARAM_*: the range the log-variance is clamped to (Stable Diffusion's). */
#define FM_LOGVAR_MIN (-30.0f)
#define FM_LOGVAR_MAX 20.0f
/* GROUPNORM_FWD i1: the activation applied to the normalised value. */
enum { FM_GN_ACT_NONE = 0, FM_GN_ACT_SILU = 1 };
/* GELU_* i0 and LAYERNORM_* i0: the form. */
enum { FM_GELU_TANH = 0, FM_GELU_QUICK = 1 };
enum { FM_LN_ADALN = 0, FM_LN_AFFINE = 1 };

#define FM_CALL_TENSORS 9

typedef struct fm_call {
    fm_op op;
    fm_tensor t[FM_CALL_TENSORS];
    int32_t i[4];
    float f[8];
    uint64_t u[3];
} fm_call;

typedef struct fm_op_info {
    const char *name;   /* "conv2d_fwd" */
    const char *slots;  /* the roles, one letter per tensor: "oiiI" */
    const char *dtypes; /* one letter per tensor: 'f' f32, 'i' i32, 'u' u8 */
    const char *names;  /* the slot names, each followed by a space: "out in w b " */
    int ntensors;
} fm_op_info;

const fm_op_info *fm_op_get_info(fm_op op);
/* FM_OP_COUNT when no op has that name. */
fm_op fm_op_from_name(const char *name);
/* The dtype of tensor k of op (FM_F32 for k out of range). */
fm_dtype fm_op_slot_dtype(fm_op op, int k);
/* The name of tensor k of op into buf ("t<k>" when out of range); returns buf. */
const char *fm_op_slot_name(fm_op op, int k, char *buf, size_t len);

/* The shape rules above: FM_OK or FM_ERR_ARG with a message naming the op, the
 * argument and the shapes. Backends may assume a checked call. */
fm_status fm_op_check(const fm_call *c, char *msg, size_t len);

/* A conv2d call's geometry (CONV2D_FWD: out, in, w; CONV2D_BWD: dout, in, w), unpacked
 * once for every backend: in[N,Ci,H,W], w[Co,Ci,K,K], out[N,Co,Ho,Wo], stride s, pad p. */
typedef struct fm_conv_geom {
    int64_t N, Ci, H, W, Co, K, s, p, Ho, Wo;
} fm_conv_geom;

static inline fm_conv_geom fm_conv_geometry(const fm_call *c)
{
    int bwd = c->op == FM_OP_CONV2D_BWD;
    const fm_tensor *out = &c->t[bwd ? 3 : 0], *in = &c->t[bwd ? 4 : 1], *w = &c->t[bwd ? 5 : 2];
    fm_conv_geom g;
    g.N = in->shape[0], g.Ci = in->shape[1], g.H = in->shape[2], g.W = in->shape[3];
    g.Co = w->shape[0], g.K = w->shape[2], g.s = c->i[0], g.p = c->i[1];
    g.Ho = out->shape[2], g.Wo = out->shape[3];
    return g;
}

/* Scratch the ATTENTION_BWD ws tensor needs, in floats, for L = H*W. */
static inline int64_t fm_attention_ws_floats(int64_t L)
{
    return 2 * L * L;
}

#endif
