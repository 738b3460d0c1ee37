/* Text conditioning (docs/spec/text.md), shared by the U-Net (unet.c) and the DiT
 * (dit.c): CLIP's text transformer over a prompt's token ids, the pooled end-token
 * state added to the time embedding, and cross-attention from image tokens to the
 * token states. Built only from dispatch-table calls (build.h) and the GroupNorm of
 * blocks.c. Internal to model/.
 *
 * A forward of a text model: fm_text_fwd (token states H [N, L, Dt], the padding mask,
 * the pooled vector), fm_text_pool_fwd (emb += text_proj(pooled)), then the image
 * network with fm_text_cross_fwd / fm_text_cross_img_fwd where it cross-attends, and
 * fm_text_release when it is done with H. Backward: fm_text_bwd_begin (dH = 0), the
 * image network's backward with fm_text_cross_bwd / _img_bwd (dH += their share), then
 * fm_text_bwd_end (the pooled vector's share and the encoder's backward). A standalone
 * encoder (clip.c) lays fm_text_lay_encoder, runs fm_text_fwd alone (its outputs H and
 * pooled), and its backward is fm_text_bwd_states. */
#ifndef FMRT_TEXT_H
#define FMRT_TEXT_H

#include "blocks.h"

#define FM_TEXT_MAX_DEPTH 32 /* docs/spec/text.md: text_depth 0..32 (open_clip ViT-bigG: 32) */
/* The config fields of a text encoder (fm_arch.fields of a network that takes one). */
#define FM_TEXT_FIELDS                                                                             \
    (FM_FIELD(text_vocab) | FM_FIELD(text_ctx) | FM_FIELD(text_width) | FM_FIELD(text_depth) |    \
     FM_FIELD(text_heads) | FM_FIELD(text_ff) | FM_FIELD(text_tokenizer))
/* Tokenizer kinds (config text_tokenizer). */
enum { FM_TOKENIZER_NONE = 0, FM_TOKENIZER_BYTES = 1, FM_TOKENIZER_CLIP = 2 };
/* The ids of the empty prompt, [BOS, EOS, PAD, ...] (L of them), for c's tokenizer. */
void fm_text_empty(const fm_config *c, int32_t *ids);

/* What one encoder layer's backward reads. */
typedef struct fm_text_layer {
    fm_tensor x, a, mean1, rstd1;  /* layer input, a = LN1(x) */
    fm_tensor q, k, v, att, o;     /* causal self-attention */
    fm_tensor x1, mm, mean2, rstd2; /* x1 = x + out(o), mm = LN2(x1) */
    fm_tensor h, g;                /* h = fc1(mm), g = quickGELU(h) */
} fm_text_layer;

/* The text path's state inside an architecture's state. */
typedef struct fm_text_state {
    int p;                          /* index of text.token_emb.weight */
    fm_tensor posidx;               /* [batch L] i32, l = e mod L (persistent) */
    fm_tensor tok, kbias, pidx;     /* ids [N L] i32, padding mask [N, L], end rows [N] */
    fm_tensor xf, meanf, rstdf;     /* the final LN's input and statistics */
    fm_tensor H, pooled;            /* token states [N, L, Dt], end-token states [N, Dt] */
    fm_tensor dH;                   /* backward: dL/dH, accumulated */
    fm_text_layer l[FM_TEXT_MAX_DEPTH];
} fm_text_state;

/* A cross-attention module: its first parameter, and what its backward reads. */
typedef struct fm_text_cross {
    fm_tensor u, q, k, v, att, o;   /* u: the image tokens it read [N, Lq, C] */
    fm_tensor x, n, mean, rstd;     /* image form: u = tokens(GroupNorm(x)) */
} fm_text_cross;

/* ---- configuration and layout ------------------------------------------------------------- */

/* The text fields: all 0 (no text), or each in range and consistent (num_classes 0).
 * The message names the field. */
fm_status fm_text_check(const fm_config *c, char *msg, size_t len);
/* The text.* tensors and text_proj (Dt -> out), in the contract's order. */
void fm_text_lay(fm_layout *b, const fm_config *c, int out);
/* Their count (0 without a text encoder): text.* then text_proj's two. */
int fm_text_nparams(const fm_config *c);
/* The text.* tensors alone (a standalone encoder, arch clip: no text_proj). */
void fm_text_lay_encoder(fm_layout *b, const fm_config *c);
/* A cross-attention module "<prefix>cross.*" from C-wide image tokens to Dt-wide states;
 * img: with the GroupNorm of the U-Net's image form. */
void fm_text_lay_cross(fm_layout *b, const char *prefix, int C, int Dt, int img);
/* The start of a text or cross-attention parameter (docs/spec/text.md); 0 when name
 * is neither (the architecture's own rule applies). */
int fm_text_init(const fm_model *m, int i, fm_init *out);
/* Forward GFLOP per image of the encoder, and of one cross-attention over Lq tokens. */
double fm_text_gflop(const fm_config *c);
double fm_text_cross_gflop(const fm_config *c, int C, int Lq);

/* ---- memory, forward, backward ------------------------------------------------------------- */

/* The persistent position index, after the parameter blocks (fm_arch.create). p: the
 * index of text.token_emb.weight. */
fm_status fm_text_create(fm_model *m, fm_text_state *s, int p);
/* H, the padding mask and the pooled vector of ids y [N, L] (i32). */
fm_status fm_text_fwd(fm_blk_ctx *c, fm_text_state *s, const fm_tensor *y);
/* emb [N, E] += text_proj(pooled); pproj: the index of text_proj.weight. */
fm_status fm_text_pool_fwd(fm_blk_ctx *c, fm_text_state *s, fm_tensor emb, int pproj);
/* *out [N, Lq, C] = xattn(u, H) with parameters from p (q, k, v, out); u [N, Lq, C]. */
fm_status fm_text_cross_fwd(fm_blk_ctx *c, const fm_text_state *s, fm_text_cross *k, int p,
                            fm_tensor u, int u_dead, fm_tensor *out);
/* The U-Net's form: *out [N, C, h, w] = x + xattn(tokens(GroupNorm(x)), H) (x itself
 * when sampling and x_dead); parameters from p (norm, q, k, v, out). */
fm_status fm_text_cross_img_fwd(fm_blk_ctx *c, const fm_text_state *s, fm_text_cross *k, int p,
                                fm_tensor x, int x_dead, fm_tensor *out);
/* Sampling: free H and the mask once the last cross-attention has run. */
fm_status fm_text_release(fm_blk_ctx *c, fm_text_state *s);

fm_status fm_text_bwd_begin(fm_model *m, fm_text_state *s);
/* du [N, Lq, C] (written) from dout; dH += the keys' and values' share. */
fm_status fm_text_cross_bwd(fm_model *m, fm_text_state *s, const fm_text_cross *k, int p,
                            fm_tensor du, fm_tensor dout);
/* dx [N, C, h, w] += the image form's share from dx itself (the residual's gradient). */
fm_status fm_text_cross_img_bwd(fm_model *m, fm_text_state *s, const fm_text_cross *k, int p,
                                fm_tensor dx);
/* demb: dL/d(emb) of fm_text_pool_fwd. Then the encoder's backward, unless frozen. */
fm_status fm_text_bwd_end(fm_model *m, fm_text_state *s, fm_tensor demb, int pproj);
/* A standalone encoder (arch clip): the encoder's backward from dH = dL/dH [N, L, Dt]
 * alone (no pooled vector, no cross-attention; nothing when frozen). dH is only read;
 * no fm_text_bwd_begin before it. */
fm_status fm_text_bwd_states(fm_model *m, fm_text_state *s, fm_tensor dH);

#endif
