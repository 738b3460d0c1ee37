/* The convolutional building blocks the U-Net (unet.c) and the autoencoder (vae.c)
 * share, docs/spec/unet.md, "Building blocks": ResBlock (with or without the time
 * embedding), Attention, Down and Up, each a module with its first parameter index,
 * its forward (keeping what backward reads when training, freeing each temporary after
 * its last use when sampling) and its backward. Internal to model/; built only from
 * dispatch-table calls (build.h). */
#ifndef FMRT_BLOCKS_H
#define FMRT_BLOCKS_H

#include "build.h"

/* FM_BLK_XATTN: cross-attention to a prompt's token states (text.c runs it; blocks.c
 * only names the kind). */
typedef enum fm_blk_kind { FM_BLK_RES, FM_BLK_DOWN, FM_BLK_UP, FM_BLK_ATTN, FM_BLK_XATTN } fm_blk_kind;

/* One module. ResBlock parameters, in order: norm1 conv1 [temb] norm2 conv2 [skip]
 * (weight then bias each); Attention: norm qkv proj; Down, Up: conv. */
typedef struct fm_blk_mod {
    fm_blk_kind kind;
    int part;      /* the architecture's own label (the U-Net: encoder, middle, decoder) */
    int cin, cout; /* channels in (a U-Net decoder ResBlock: h + skip) and out */
    int cskip;     /* U-Net decoder ResBlocks: channels taken from the skip stack */
    int res;       /* H = W at the module's input */
    int p;         /* index of its first parameter */
    int has_skip;  /* ResBlock with a 1x1 skip conv (cin != cout) */
    int temb;      /* ResBlock with the time-embedding projection (T > 0) */
    int xslot;     /* FM_BLK_XATTN: which of the architecture's fm_text_cross it keeps */
} fm_blk_mod;

/* What a module's backward needs from its forward (fields used per kind). */
typedef struct fm_blk_saved {
    fm_tensor x;                        /* module input (U-Net decoder: the concat) */
    fm_tensor n1, mean1, rstd1, a1, h1; /* ResBlock first half; Attention: n1 = norm(x) */
    fm_tensor n2, mean2, rstd2, a2;     /* ResBlock second half */
    fm_tensor qkv, att, o;              /* Attention */
    fm_tensor up;                       /* Up: the upsampled input */
    fm_tensor out;
} fm_blk_saved;

/* A forward in progress: the model, the parameter block it reads, the batch, and
 * whether activations are kept for backward (train) or freed after their last use. */
typedef struct fm_blk_ctx {
    fm_model *m;
    fm_backend *be;
    const fm_tensor *P;
    int N;
    int train;
} fm_blk_ctx;

/* ---- layout -------------------------------------------------------------------------- */

/* The parameters of a ResBlock cin -> cout (T > 0: with the time projection T -> cout),
 * an Attention over c channels, and a Down/Up conv c -> c, named <prefix><part>.*;
 * *md (may be NULL) describes the module, its first parameter the next one added. */
void fm_blk_lay_res(fm_layout *b, fm_blk_mod *md, const char *prefix, int cin, int cout, int T,
                    int res);
void fm_blk_lay_attn(fm_layout *b, fm_blk_mod *md, const char *prefix, int c, int res);
void fm_blk_lay_resample(fm_layout *b, fm_blk_mod *md, fm_blk_kind kind, const char *prefix, int c,
                         int res);

/* ---- single ops -------------------------------------------------------------------------- */

/* out = conv(in) + bias (+ bn[N,Co] per sample) (+ res, a residual): CONV2D_FWD's
 * epilogue terms ({0}: absent). Parameter p is the weight, p + 1 the bias; the pad is
 * K/2. */
fm_status fm_blk_conv_add(fm_blk_ctx *c, fm_tensor out, fm_tensor in, int p, int stride,
                          fm_tensor bn, fm_tensor res);
fm_status fm_blk_conv(fm_blk_ctx *c, fm_tensor out, fm_tensor in, int p, int stride);
fm_status fm_blk_conv_bwd(fm_model *m, fm_tensor din, fm_tensor dout, fm_tensor in,
                          const fm_tensor *P, int p, int stride);
/* GroupNorm (groups = cfg.groups, eps 1e-5) with parameters p, p + 1; its [N, G]
 * statistics allocated here (freed at once when sampling). */
fm_status fm_blk_gnorm(fm_blk_ctx *c, fm_tensor out, fm_tensor *mean, fm_tensor *rstd, fm_tensor in,
                       int p);
fm_status fm_blk_gnorm_bwd(fm_model *m, fm_tensor din, fm_tensor dout, fm_tensor in, fm_tensor mean,
                           fm_tensor rstd, const fm_tensor *P, int p);
/* *act = SiLU(norm(in)); training keeps the norm's output in *nrm for SILU_BWD. */
fm_status fm_blk_norm_silu(fm_blk_ctx *c, fm_tensor *nrm, fm_tensor *act, fm_tensor *mean,
                           fm_tensor *rstd, fm_tensor in, int p);
fm_status fm_blk_silu(fm_backend *be, fm_tensor out, fm_tensor in);
fm_status fm_blk_silu_bwd(fm_backend *be, fm_tensor din, fm_tensor dout, fm_tensor in);
fm_status fm_blk_add(fm_backend *be, fm_tensor out, fm_tensor a, fm_tensor b);

/* ---- modules ------------------------------------------------------------------------------ */

/* *out = module(x), allocated here. st [N,T]: the time embedding ResBlocks with temb
 * read. x_dead: this module is x's last user (sampling frees it). */
fm_status fm_blk_fwd(fm_blk_ctx *c, const fm_blk_mod *md, fm_blk_saved *s, fm_tensor x, int x_dead,
                     fm_tensor *out, fm_tensor st);
/* dx (allocated by the caller, [N,cin,H,H]) = dL/d(input) from dh for the module's
 * last training forward; dst += the time embedding's share (ResBlocks with temb; st as
 * in the forward). Temporaries are released before returning. */
fm_status fm_blk_bwd(fm_model *m, const fm_blk_mod *md, const fm_blk_saved *s, fm_tensor dx,
                     fm_tensor dh, fm_tensor dst, fm_tensor st);
/* Forward GFLOP of the module for one image (2 per multiply-add). */
double fm_blk_gflop(const fm_blk_mod *md);

/* ---- configuration and initialisation -------------------------------------------------------- */

/* The fields both networks share, in this order: levels, image (range, a multiple of
 * 2^(levels-1)), groups, base_channels (range, a multiple of groups), each channel_mult,
 * res_blocks, heads (dividing the middle width C m_{L-1}). The message names the field. */
fm_status fm_blk_check(const fm_config *c, char *msg, size_t len);
/* Parameter i's start: a norm's weight 1 and bias 0; any other weight or bias
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = the weight's elements per output row (a
 * bias takes its weight's): PyTorch's default for Conv2d and Linear. */
fm_init fm_blk_init(const fm_model *m, int i);

#endif
