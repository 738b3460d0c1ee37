#!/usr/bin/env python3
"""fmrt's reference network in PyTorch float64, for developers only.

It writes the project's own test fixtures (tests/data/); nothing in the build or the
tests runs Python (llm.c's train_gpt2.py writing its debug state is the model).
Written from the contract (docs/spec/unet.md, flow.md, rng.md, dit.md, vae.md and text.md):
the U-Net, the DiT, their text conditioning (CLIP's text transformer, the pooled vector,
cross-attention), the autoencoder (VAE) and its loss, the flow-matching loss, the Euler and Heun samplers with
classifier-free guidance, and Philox4x32-10 noise exactly as runtime/philox.h draws
it, so that `fmrt sample --seed S` starts from the very same x1.

    python3 scripts/reference/fmrt_ref.py golden OUT_DIR     # a golden case folder (U-Net)
    python3 scripts/reference/fmrt_ref.py golden-dit OUT_DIR # a golden case folder (DiT)
    python3 scripts/reference/fmrt_ref.py golden-rgb OUT_DIR     # U-Net, 3 channels (colour)
    python3 scripts/reference/fmrt_ref.py golden-dit-rgb OUT_DIR # DiT, 3 channels (colour)
    python3 scripts/reference/fmrt_ref.py golden-vae OUT_DIR     # the autoencoder (vae-test)
    python3 scripts/reference/fmrt_ref.py golden-unet-text OUT_DIR # U-Net on prompts (text.md)
    python3 scripts/reference/fmrt_ref.py golden-dit-text OUT_DIR  # DiT on prompts (text.md)
    python3 scripts/reference/fmrt_ref.py check-dit GOLDEN_DIR  # this DiT against a DiT case
    python3 scripts/reference/fmrt_ref.py pack GOLDEN_DIR     # case.txt/.bin -> compact .gz form
    python3 scripts/reference/fmrt_ref.py unpack GOLDEN_DIR   # and back (the same bytes)
    python3 scripts/reference/fmrt_ref.py vae-sizes             # parameters, GFLOP of the VAE presets
    python3 scripts/reference/fmrt_ref.py torch OUT_DIR      # state dict + samples

Set-up (one command): python3 -m venv /tmp/rv && /tmp/rv/bin/pip install torch
safetensors numpy.
"""
import gzip
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

# The fixtures' configuration: small enough that a golden case stays under 1 MiB, and
# every part of the network (two levels, skip 1x1 convs, attention, classes) present.
CFG = dict(in_channels=1, image=16, base_channels=8, channel_mult=(1, 2), res_blocks=1,
           time_dim=16, heads=2, groups=4, num_classes=10)
BATCH = 2
# The DiT fixture's configuration: 8x8 images in 2x2 patches (16 tokens), two blocks of
# two heads, classes on; case.bin stays well under 1 MiB.
DIT_CFG = dict(in_channels=1, image=8, patch=2, hidden=16, depth=2, heads=2, freq_dim=16,
               mlp_ratio=4, num_classes=10)
DIT_BATCH = 2
# The colour fixtures (in_channels 3): small networks that still have every part
# (U-Net: two levels, the decoder's skip 1x1 convs, attention, classes; DiT: a block,
# classes), so that each case (parameters and gradients dominate) stays under 80 KiB.
# The U-Net keeps 4 channels on both levels: channel_mult 1,2 would double its size
# (98 KiB), and an encoder that widens is unet_cond's.
RGB_CFG = dict(in_channels=3, image=8, base_channels=4, channel_mult=(1, 1), res_blocks=1,
               time_dim=8, heads=2, groups=2, num_classes=10)
DIT_RGB_CFG = dict(in_channels=3, image=8, patch=2, hidden=8, depth=1, heads=2, freq_dim=8,
                   mlp_ratio=4, num_classes=10)
# The text-conditioned fixtures (docs/spec/text.md, "Golden cases"): the byte-level
# tokenizer (V 259), L 8, Dt 16, one layer of 2 heads, F 32; a one-level U-Net of 4
# channels on 8x8 grey images (cross-attention after the middle self-attention, over
# its 64 positions) and a DiT of two blocks (each its own cross-attention) on 16 tokens.
TEXT_CFG = dict(text_tokenizer=1, text_vocab=259, text_ctx=8, text_width=16, text_depth=1,
                text_heads=2, text_ff=32)
UNET_TEXT_CFG = dict(in_channels=1, image=8, base_channels=4, channel_mult=(1,), res_blocks=1,
                     time_dim=8, heads=2, groups=2, num_classes=0, **TEXT_CFG)
DIT_TEXT_CFG = dict(in_channels=1, image=8, patch=2, hidden=8, depth=2, heads=2, freq_dim=8,
                    mlp_ratio=4, num_classes=0, **TEXT_CFG)
# The autoencoder's presets (docs/spec/vae.md, "Configuration"); the golden case is
# vae-test, in colour, with a batch of two and the KL weight beta = 0.5.
VAE_PRESETS = {
    "vae": dict(in_channels=1, image=28, base_channels=32, channel_mult=(1, 2, 2), res_blocks=1,
                heads=1, groups=8, latent_channels=4),
    "vae-cifar": dict(in_channels=3, image=32, base_channels=64, channel_mult=(1, 2, 2),
                      res_blocks=1, heads=1, groups=8, latent_channels=4),
    "vae-test": dict(in_channels=3, image=8, base_channels=4, channel_mult=(1, 2), res_blocks=1,
                     heads=2, groups=2, latent_channels=2),
}
VAE_BATCH, VAE_BETA = 2, 0.5
EULER_STEPS, HEUN_STEPS, CFG_SCALE = 4, 3, 2.0


# ---- Philox4x32-10 (runtime/philox.h): key = seed, counter = (e lo, e hi, stream, 0)
def philox(e, seed, stream):
    """Four uint32 arrays for element indices e (uint64 array)."""
    M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
    mask = np.uint64(0xFFFFFFFF)
    c0 = (e & mask).astype(np.uint64)
    c1 = (e >> np.uint64(32)).astype(np.uint64)
    c2 = np.full_like(c0, stream & 0xFFFFFFFF)
    c3 = np.zeros_like(c0)
    k0, k1 = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    for _ in range(10):
        p0 = np.uint64(M0) * c0
        p1 = np.uint64(M1) * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & mask
        hi1, lo1 = p1 >> np.uint64(32), p1 & mask
        c0, c1, c2, c3 = hi1 ^ c1 ^ np.uint64(k0), lo1, hi0 ^ c3 ^ np.uint64(k1), lo0
        k0, k1 = (k0 + W0) & 0xFFFFFFFF, (k1 + W1) & 0xFFFFFFFF
    return c0, c1, c2, c3


def philox_normal(shape, seed, stream):
    """fm_philox_normal over a tensor of `shape`, element e = its flat index (float32
    maths, as the C code)."""
    n = int(np.prod(shape))
    r0, r1, _, _ = philox(np.arange(n, dtype=np.uint64), seed, stream)
    inv24 = np.float32(1.0 / 16777216.0)
    u1 = ((r0 >> np.uint64(8)) + np.uint64(1)).astype(np.float32) * inv24
    u2 = (r1 >> np.uint64(8)).astype(np.float32) * inv24
    x = np.sqrt(np.float32(-2.0) * np.log(u1)) * np.cos(np.float32(6.28318530717958647692) * u2)
    return torch.from_numpy(x.astype(np.float32).reshape(shape)).double()


# ---- text conditioning (docs/spec/text.md; canonical parameter names) -----------------
BYTE_BOS, BYTE_EOS, BYTE_PAD, BYTE_VOCAB = 256, 257, 258, 259


def byte_tokens(prompt, L):
    """The byte-level tokenizer (text_tokenizer 1): the UTF-8 bytes of the prompt after
    trimming and collapsing white space, as [BOS, bytes.., EOS, PAD..] of length L; a
    longer prompt keeps its first L - 2 bytes and the end token."""
    b = list(" ".join(prompt.split()).encode("utf-8"))[:L - 2]
    ids = [BYTE_BOS] + b + [BYTE_EOS]
    return ids + [BYTE_PAD] * (L - len(ids))


def text_lengths(y, eos=BYTE_EOS):
    """l_n = 1 + the position of row n's first EOS (L when the row has none)."""
    L = y.shape[1]
    is_eos = (y == eos)
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1), torch.full((y.shape[0],), L - 1))
    return first + 1


def quick_gelu(u):
    return u * torch.sigmoid(1.702 * u)


def heads_attention(q, k, v, heads, causal=False, keep=None):
    """Multi-head attention between token sequences [N, Lq, C] x [N, Lk, C]: head h reads
    columns h*d .. h*d+d-1; keep [N, Lk] (bool) masks keys out (padding), causal keeps
    keys k <= i. F.scaled_dot_product_attention, softmax(q k^T / sqrt(d))."""
    N, Lq, C = q.shape
    Lk, d = k.shape[1], C // heads
    sp = lambda t: t.reshape(N, -1, heads, d).transpose(1, 2)          # [N, heads, L, d]
    mask = None if keep is None else keep[:, None, None, :]           # [N, 1, 1, Lk]
    o = F.scaled_dot_product_attention(sp(q), sp(k), sp(v), attn_mask=mask, is_causal=causal)
    return o.transpose(1, 2).reshape(N, Lq, C)


class TextLayer(nn.Module):
    """CLIP's pre-LN layer; members in canonical order ln1 q k v out ln2 fc1 fc2."""
    def __init__(self, Dt, heads, F_):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(Dt, eps=1e-5)
        self.q, self.k, self.v, self.out = (nn.Linear(Dt, Dt) for _ in range(4))
        self.ln2 = nn.LayerNorm(Dt, eps=1e-5)
        self.fc1, self.fc2 = nn.Linear(Dt, F_), nn.Linear(F_, Dt)

    def forward(self, x):
        a = self.ln1(x)
        x = x + self.out(heads_attention(self.q(a), self.k(a), self.v(a), self.heads, causal=True))
        return x + self.fc2(quick_gelu(self.fc1(self.ln2(x))))


class TextEncoder(nn.Module):
    """CLIP's text transformer (text.md, "The text encoder"): ids [N, L] -> H [N, L, Dt]
    and pooled [N, Dt] = H[n, l_n - 1]. Members in canonical order token_emb pos_emb
    layers.i final_ln (the model registers it as `text`)."""
    def __init__(self, cfg):
        super().__init__()
        V, L, Dt = cfg["text_vocab"], cfg["text_ctx"], cfg["text_width"]
        self.token_emb, self.pos_emb = nn.Embedding(V, Dt), nn.Embedding(L, Dt)
        self.layers = nn.ModuleList([TextLayer(Dt, cfg["text_heads"], cfg["text_ff"])
                                     for _ in range(cfg["text_depth"])])
        self.final_ln = nn.LayerNorm(Dt, eps=1e-5)

    def forward(self, y):
        N, L = y.shape
        x = self.token_emb(y) + self.pos_emb(torch.arange(L))[None]
        for layer in self.layers:
            x = layer(x)
        H = self.final_ln(x)
        ln = text_lengths(y)
        return H, H[torch.arange(N), ln - 1], torch.arange(L)[None] < ln[:, None]


class CrossAttention(nn.Module):
    """xattn(x, H) = out(attn(q(x), k(H), v(H), padding mask)); the U-Net's form has a
    GroupNorm first (members norm q k v out), the DiT's none (q k v out)."""
    def __init__(self, C, Dt, heads, groups=0):
        super().__init__()
        self.heads = heads
        if groups:
            self.norm = nn.GroupNorm(groups, C)
        self.q, self.k, self.v, self.out = nn.Linear(C, C), nn.Linear(Dt, C), nn.Linear(Dt, C), nn.Linear(C, C)

    def forward(self, u, H, keep):
        return self.out(heads_attention(self.q(u), self.k(H), self.v(H), self.heads, keep=keep))

    def image(self, h, H, keep):
        """The U-Net's: h + xattn(GroupNorm(h) as tokens [N, hw, C], H), back to [N, C, h, w]."""
        n, c, hh, ww = h.shape
        u = self.norm(h).reshape(n, c, hh * ww).transpose(1, 2)
        return h + self(u, H, keep).transpose(1, 2).reshape(n, c, hh, ww)


def text_fields(cfg):
    return {k: cfg.get(k, 0) for k in ("text_vocab", "text_ctx", "text_width", "text_depth",
                                       "text_heads", "text_ff", "text_tokenizer")}


def init_text_params(model, gen, used):
    """After the network's own filler: the text encoder's norms (weight 1 + 0.1 N(0, 1),
    bias 0.1 N(0, 1)), the position table ~ 0.5 N(0, 1), the token table's rows of the ids
    in `used` ~ 0.5 N(0, 1) and every other row 0 (no prompt of the case reads them, so
    they cannot change an output, and their gradient is 0: zeros keep the case small);
    every other text and cross-attention tensor as the filler left it (random; cross.out
    included, so that cross-attention changes the output)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.startswith("text."):
                continue
            if ".ln" in name or "final_ln" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape, generator=gen))
            elif "pos_emb" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif "token_emb" in name:
                p.zero_()
                rows = sorted(set(used))
                p[rows] = 0.5 * torch.randn(len(rows), p.shape[1], generator=gen)


# ---- the network (docs/spec/unet.md; canonical parameter names) ---------------------
def time_embedding(t, width):
    """e = [sin(a_0..a_{half-1}), cos(a_...)], a_i = 1000 t f_i,
    f_i = exp(-ln(10000) i / (half - 1)), half = width/2 (U-Net and DiT alike)."""
    half = width // 2
    f = torch.exp(-math.log(10000.0) * torch.arange(half) / (half - 1))
    a = 1000.0 * t[:, None] * f[None]
    return torch.cat([torch.sin(a), torch.cos(a)], 1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, T, G):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(G, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(T, cout)
        self.norm2, self.conv2 = nn.GroupNorm(G, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class Attention(nn.Module):
    """Self-attention over the h w positions (members norm qkv proj); a text model's
    has its cross-attention `cross` after them (text.md: mid.1.cross.*)."""
    def __init__(self, c, heads, G, text_width=0):
        super().__init__()
        self.heads = heads
        self.norm, self.qkv, self.proj = nn.GroupNorm(G, c), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)
        if text_width:
            self.cross = CrossAttention(c, text_width, heads, G)

    def forward(self, x, text=None):
        """text: (H, keep) of a text model, then h = h + xattn(GroupNorm(h), H)."""
        h = self.self_attention(x)
        return self.cross.image(h, *text) if text is not None else h

    def self_attention(self, x):
        n, c, hh, ww = x.shape
        d = c // self.heads
        # channel s*c + h*d + j: [n, 3, heads, d, L]
        qkv = self.qkv(self.norm(x)).reshape(n, 3, self.heads, d, hh * ww)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        a = torch.softmax(torch.einsum("nhji,nhjk->nhik", q, k) / math.sqrt(d), dim=-1)
        o = torch.einsum("nhik,nhjk->nhji", a, v).reshape(n, c, hh, ww)
        return x + self.proj(o)


class Conv(nn.Module):  # Down and Up hold one member, `conv`
    def __init__(self, c, stride):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=stride, padding=1)


class UNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, T, G, K = cfg["base_channels"], cfg["time_dim"], cfg["groups"], cfg["num_classes"]
        mult, R = cfg["channel_mult"], cfg["res_blocks"]
        self.C, self.K, self.tcfg = C, K, text_fields(cfg)
        self.time_lin1, self.time_lin2 = nn.Linear(C, T), nn.Linear(T, T)
        if K > 0:
            self.class_emb = nn.Embedding(K + 1, T)
        Dt = self.tcfg["text_width"] if self.tcfg["text_depth"] else 0
        if Dt:  # the text encoder and text_proj take class_emb's place (text.md)
            self.text, self.text_proj = TextEncoder(cfg), nn.Linear(Dt, T)
        self.conv_in = nn.Conv2d(cfg["in_channels"], C, 3, padding=1)
        self.enc, chans, c = nn.ModuleList(), [C], C
        for l, m in enumerate(mult):
            for _ in range(R):
                self.enc.append(ResBlock(c, C * m, T, G))
                c = C * m
                chans.append(c)
            if l < len(mult) - 1:
                self.enc.append(Conv(c, 2))
                chans.append(c)
        self.mid = nn.ModuleList([ResBlock(c, c, T, G), Attention(c, cfg["heads"], G, Dt),
                                  ResBlock(c, c, T, G)])
        self.dec = nn.ModuleList()
        for l in reversed(range(len(mult))):
            for _ in range(R + 1):
                self.dec.append(ResBlock(c + chans.pop(), C * mult[l], T, G))
                c = C * mult[l]
            if l > 0:
                self.dec.append(Conv(c, 1))
        self.norm_out, self.conv_out = nn.GroupNorm(G, c), nn.Conv2d(c, cfg["in_channels"], 3, padding=1)

    def temb(self, t, y):
        e = self.time_lin2(F.silu(self.time_lin1(time_embedding(t, self.C))))
        return e + self.class_emb(y) if self.K > 0 else e

    def forward(self, x, t, y=None):
        te, text = self.temb(t, y), None
        if self.tcfg["text_depth"]:  # temb + text_proj(pooled); H and the key mask
            H, pooled, keep = self.text(y)
            te, text = te + self.text_proj(pooled), (H, keep)
        h = self.conv_in(x)
        hs = [h]
        for m in self.enc:
            h = m(h, te) if isinstance(m, ResBlock) else m.conv(h)
            hs.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, te), text), te)
        for m in self.dec:
            if isinstance(m, ResBlock):
                h = m(torch.cat([h, hs.pop()], 1), te)
            else:
                h = m.conv(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


def init_params(model, gen):
    """The contract's initialisation, with conv_out random too (so that every gradient
    of a golden case is non-zero)."""
    for name, p in model.named_parameters():
        with torch.no_grad():
            if "norm" in name:
                p.copy_(torch.ones_like(p) if name.endswith("weight") else 0.1 * torch.randn(p.shape, generator=gen))
            elif name.startswith("class_emb"):
                p.copy_(torch.randn(p.shape, generator=gen))
            else:
                w = dict(model.named_parameters())[name.rsplit(".", 1)[0] + ".weight"]
                bound = 1.0 / math.sqrt(w[0].numel())
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)


# ---- the DiT (docs/spec/dit.md; canonical parameter names) ----------------------------
def pos_table(D, g):
    """Fixed [g*g, D] table, token n = i*g + j: [sin(j w), cos(j w), sin(i w), cos(i w)],
    w_k = 10000^(-k/q), k < q = D/4. Computed in float64 and rounded to float32, the
    table a float32 runtime holds (like the parameters and inputs); the shared
    dit_small_cond was made so too: only with this rounding does check-dit reproduce it
    to the last stored bit (without it, ~1e-8 relative beyond float32 rounding)."""
    q = D // 4
    w = 10000.0 ** (-torch.arange(q) / q)
    i = torch.arange(g).repeat_interleave(g)[:, None] * w[None]   # row of token n
    j = torch.arange(g).repeat(g)[:, None] * w[None]              # column of token n
    return torch.cat([torch.sin(j), torch.cos(j), torch.sin(i), torch.cos(i)], 1).float().double()


def layer_norm(x):
    """Over the last dim, no affine parameters, biased variance, eps 1e-6."""
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + 1e-6)


def modulate(x, shift, scale):
    """x * (1 + scale) + shift; shift, scale [B, D] broadcast over the N tokens."""
    return x * (1 + scale[:, None]) + shift[:, None]


def gelu_tanh(u):
    return 0.5 * u * (1 + torch.tanh(math.sqrt(2.0 / math.pi) * (u + 0.044715 * u ** 3)))


class DiTBlock(nn.Module):
    """adaLN-Zero block; members in canonical order ada qkv proj fc1 fc2."""
    def __init__(self, D, heads, mlp_ratio, text_width=0):
        super().__init__()
        self.heads = heads
        self.ada = nn.Linear(D, 6 * D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        if text_width:  # a text model's cross-attention (blocks.j.cross.*, after proj)
            self.cross = CrossAttention(D, text_width, heads)
        self.fc1, self.fc2 = nn.Linear(D, mlp_ratio * D), nn.Linear(mlp_ratio * D, D)

    def attention(self, a):
        B, N, D = a.shape
        d = D // self.heads
        # column s*D + h*d + j: [B, N, 3, heads, d]
        qkv = self.qkv(a).reshape(B, N, 3, self.heads, d)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]            # [B, N, heads, d]
        # A[b, h, n, m] = softmax_m(q_n . k_m / sqrt(d)); o[b, n, h, j] = sum_m A v[b, m, h, j]
        A = torch.softmax(torch.einsum("bnhj,bmhj->bhnm", q, k) / math.sqrt(d), dim=-1)
        o = torch.einsum("bhnm,bmhj->bnhj", A, v).reshape(B, N, D)    # column h*d + j
        return self.proj(o)

    def forward(self, x, c, text=None):
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(F.silu(c)).chunk(6, dim=1)
        x = x + g1[:, None] * self.attention(modulate(layer_norm(x), sh1, sc1))
        if text is not None:  # PixArt-alpha: ungated, without a norm
            x = x + self.cross(x, *text)
        m = modulate(layer_norm(x), sh2, sc2)
        return x + g2[:, None] * self.fc2(gelu_tanh(self.fc1(m)))


class DiT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, D, p, K = cfg["in_channels"], cfg["hidden"], cfg["patch"], cfg["num_classes"]
        self.C, self.D, self.p, self.g, self.Fd, self.K = C, D, p, cfg["image"] // p, cfg["freq_dim"], K
        self.tcfg = text_fields(cfg)
        self.patch = nn.Conv2d(C, D, p, stride=p)
        self.time_lin1, self.time_lin2 = nn.Linear(self.Fd, D), nn.Linear(D, D)
        if K > 0:
            self.class_emb = nn.Embedding(K + 1, D)
        Dt = self.tcfg["text_width"] if self.tcfg["text_depth"] else 0
        if Dt:  # the text encoder and text_proj take class_emb's place (text.md)
            self.text, self.text_proj = TextEncoder(cfg), nn.Linear(Dt, D)
        self.blocks = nn.ModuleList([DiTBlock(D, cfg["heads"], cfg["mlp_ratio"], Dt)
                                     for _ in range(cfg["depth"])])
        self.final_ada, self.final_linear = nn.Linear(D, 2 * D), nn.Linear(D, p * p * C)
        self.pos = pos_table(D, self.g)                              # not a parameter

    def forward(self, x, t, y=None):
        B, p, g, C = x.shape[0], self.p, self.g, self.C
        # c = time_lin2(SiLU(time_lin1(e))) (+ class_emb[y])
        c = self.time_lin2(F.silu(self.time_lin1(time_embedding(t, self.Fd))))
        if self.K > 0:
            c = c + self.class_emb(y)
        text = None
        if self.tcfg["text_depth"]:  # c + text_proj(pooled), before the blocks' SiLU
            H, pooled, keep = self.text(y)
            c, text = c + self.text_proj(pooled), (H, keep)
        # tokens [B, N, D], n = i*g + j, plus the position table
        h = self.patch(x).flatten(2).transpose(1, 2) + self.pos[None]
        for b in self.blocks:
            h = b(h, c, text)
        shift, scale = self.final_ada(F.silu(c)).chunk(2, dim=1)
        out = self.final_linear(modulate(layer_norm(h), shift, scale))  # [B, N, p*p*C]
        # v[b, ch, i*p + pi, j*p + pj] = out[b, i*g + j, (pi*p + pj)*C + ch]
        return out.reshape(B, g, g, p, p, C).permute(0, 5, 1, 3, 2, 4).reshape(B, C, g * p, g * p)


def init_dit_params(model, gen):
    """The contract's initialisation (Xavier-uniform linears and patch, N(0, 0.02) time
    MLP and class table), but biases ~ N(0, 0.05) and the adaLN-Zero layers (`ada`,
    `final_ada`, `final_linear`) weights ~ N(0, 0.05) instead of 0, so that every
    gradient of a golden case is non-zero (as in the shared dit_small_cond)."""
    for name, p in model.named_parameters():
        with torch.no_grad():
            mod = name.rsplit(".", 1)[0]
            if name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
            elif mod.endswith("ada") or mod == "final_linear":
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
            elif mod in ("time_lin1", "time_lin2", "class_emb"):
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))
            else:  # Xavier-uniform over [out, in] (the patch weight as [D, C*p*p])
                fan_out, fan_in = p.shape[0], p[0].numel()
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)


# ---- the autoencoder (docs/spec/vae.md; canonical parameter names) --------------------
class VAEResBlock(nn.Module):
    """The U-Net's ResBlock without the time embedding (vae.md, "Building blocks"):
    out = conv2(SiLU(norm2(conv1(SiLU(norm1(x)))))) + skip(x), skip a 1x1 conv only when
    cin != cout. Members in canonical order norm1 conv1 norm2 conv2 [skip]."""
    def __init__(self, cin, cout, G):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(G, cin, eps=1e-5), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(G, cout, eps=1e-5), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


def vae_middle(c, heads, G):
    """ResBlock(c -> c), Attention(c) (the U-Net's), ResBlock(c -> c): <part>.mid.0..2."""
    return nn.ModuleList([VAEResBlock(c, c, G), Attention(c, heads, G), VAEResBlock(c, c, G)])


class VAEEncoder(nn.Module):
    """x [N, Cin, S, S] -> moments [N, 2Z, s, s]. Parameters in the order conv_in, the
    numbered modules (ResBlocks and Downs in walk order), mid, norm_out, conv_out: the
    registration order of the members below."""
    def __init__(self, cfg):
        super().__init__()
        C, G, R, mult = cfg["base_channels"], cfg["groups"], cfg["res_blocks"], cfg["channel_mult"]
        self.conv_in = nn.Conv2d(cfg["in_channels"], C, 3, padding=1)
        self.walk, c = [], C
        for l, m in enumerate(mult):
            for _ in range(R):
                self.walk.append(VAEResBlock(c, C * m, G))
                c = C * m
            if l < len(mult) - 1:
                self.walk.append(Conv(c, 2))      # Down: 3x3, stride 2, padding 1
        for i, mod in enumerate(self.walk):
            self.add_module(str(i), mod)
        self.mid = vae_middle(c, cfg["heads"], G)
        self.norm_out = nn.GroupNorm(G, c, eps=1e-5)
        self.conv_out = nn.Conv2d(c, 2 * cfg["latent_channels"], 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for mod in self.walk:
            h = mod(h) if isinstance(mod, VAEResBlock) else mod.conv(h)
        for mod in self.mid:
            h = mod(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class VAEDecoder(nn.Module):
    """z [N, Z, s, s] -> xhat [N, Cin, S, S]. Parameters in the order conv_in, mid, the
    numbered modules (R+1 ResBlocks per level, an Up after every level but the last),
    norm_out, conv_out."""
    def __init__(self, cfg):
        super().__init__()
        C, G, R, mult = cfg["base_channels"], cfg["groups"], cfg["res_blocks"], cfg["channel_mult"]
        c = C * mult[-1]
        self.conv_in = nn.Conv2d(cfg["latent_channels"], c, 3, padding=1)
        self.mid = vae_middle(c, cfg["heads"], G)
        self.walk = []
        for l in reversed(range(len(mult))):
            for _ in range(R + 1):
                self.walk.append(VAEResBlock(c, C * mult[l], G))
                c = C * mult[l]
            if l > 0:
                self.walk.append(Conv(c, 1))      # Up: nearest doubling, then 3x3
        for i, mod in enumerate(self.walk):
            self.add_module(str(i), mod)
        self.norm_out = nn.GroupNorm(G, c, eps=1e-5)
        self.conv_out = nn.Conv2d(c, cfg["in_channels"], 3, padding=1)

    def forward(self, z):
        h = self.conv_in(z)
        for mod in self.mid:
            h = mod(h)
        for mod in self.walk:
            if isinstance(mod, VAEResBlock):
                h = mod(h)
            else:
                h = mod.conv(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


class VAE(nn.Module):
    """The autoencoder: enc.* then dec.*, the canonical order of vae.md, "Layout"."""
    def __init__(self, cfg):
        super().__init__()
        self.Z = cfg["latent_channels"]
        self.enc, self.dec = VAEEncoder(cfg), VAEDecoder(cfg)

    def loss(self, x, eps, beta):
        """vae.md, "Posterior, sample and loss", N = batch:
            mu, lv = moments[:, :Z], moments[:, Z:];  lv' = clamp(lv, -30, 20)
            z    = mu + exp(lv'/2) eps;  xhat = dec(z)
            REC  = (1/N) sum (xhat - x)^2
            KL   = (1/N) sum 0.5 (mu^2 + exp(lv') - 1 - lv')
            loss = REC + beta KL
        (torch.clamp's derivative is 1 on [-30, 20], ends included, 0 outside.)
        Returns moments, z, xhat, REC, KL, loss."""
        n = x.shape[0]
        moments = self.enc(x)
        mu, lv = moments[:, :self.Z], moments[:, self.Z:]
        lvc = torch.clamp(lv, -30.0, 20.0)
        z = mu + torch.exp(lvc / 2) * eps
        xhat = self.dec(z)
        rec = ((xhat - x) ** 2).sum() / n
        kl = (0.5 * (mu ** 2 + torch.exp(lvc) - 1 - lvc)).sum() / n
        return moments, z, xhat, rec, kl, rec + beta * kl


# The log-variance channel whose bias the golden case sets near the lower clamp, and
# that bias: part of its values fall below -30, so that the clamp's zero derivative is
# checked too (a value closer than VAE_CLAMP_MARGIN to -30 would make the case fragile:
# float32 rounding could put it on the other side).
VAE_CLAMP_BIAS, VAE_CLAMP_MARGIN = -30.0, 1e-3


def init_vae_params(model, gen):
    """init_params's rule (GroupNorm weight 1, bias ~ 0.1 N(0, 1); every other weight and
    bias ~ U[-b, b), b = 1/sqrt(fan_in), conv_out included, so that no gradient vanishes),
    then the bias of the last log-variance channel at VAE_CLAMP_BIAS (see there)."""
    init_params(model, gen)
    with torch.no_grad():
        model.enc.conv_out.bias[-1] = VAE_CLAMP_BIAS


def vae_case(model, cfg, batch, seed, beta):
    """Parameters by init_vae_params, x ~ U(-1, 1), eps ~ N(0, I), all rounded to
    float32; the loss, every gradient and the tensors on the way (vae.md, "The golden
    case")."""
    gen = torch.Generator().manual_seed(seed)
    init_vae_params(model, gen)
    n, c, S, Z = batch, cfg["in_channels"], cfg["image"], cfg["latent_channels"]
    s = S // 2 ** (len(cfg["channel_mult"]) - 1)
    r = lambda v: v.float().double()
    x = r(torch.rand(n, c, S, S, generator=gen) * 2 - 1)
    eps = r(torch.randn(n, Z, s, s, generator=gen))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(r(p))
    model.zero_grad()
    moments, z, xhat, rec, kl, loss = model.loss(x, eps, beta)
    loss.backward()
    # Every log-variance must lie clearly inside or outside [-30, 20].
    lv = moments[:, Z:].detach()
    margin = torch.minimum((lv + 30).abs(), (lv - 20).abs()).min().item()
    clamped = int((lv < -30).sum())
    if margin < VAE_CLAMP_MARGIN or clamped == 0 or clamped == lv.numel() // Z:
        sys.exit("vae case: log-variances too close to the clamp (margin %.3g) or none / a whole "
                 "channel clamped (%d); choose another seed" % (margin, clamped))
    print("vae case: %d of %d log-variances below -30 (closest to a clamp end: %.3g)" % (
        clamped, lv.numel(), margin), file=sys.stderr)
    params = list(model.named_parameters())
    tensors = [("param." + k, p) for k, p in params]
    tensors += [("input.x", x), ("input.eps", eps), ("output.moments", moments), ("output.z", z),
                ("output.xhat", xhat), ("output.rec", rec.reshape(1)), ("output.kl", kl.reshape(1)),
                ("output.loss", loss.reshape(1))]
    tensors += [("grad." + k, p.grad) for k, p in params]
    return tensors


def vae_flops(model, cfg):
    """Forward FLOP of one image, (encoder, decoder), 2 per multiply-add: every
    convolution (Cout * Cin * kh * kw * Hout * Wout multiply-adds) and the attention's
    two products (s = q^T k and o = A v: P * P * c each, over all heads). Norms,
    activations, softmax and the posterior are not counted (as unet.md's table)."""
    flops = [0]

    def conv_hook(mod, inp, out):
        flops[0] += 2 * out.shape[1] * mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1] * \
            out.shape[2] * out.shape[3]

    def attn_hook(mod, inp, out):
        c, P = out.shape[1], out.shape[2] * out.shape[3]
        flops[0] += 2 * 2 * P * P * c

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(attn_hook) for m in model.modules() if isinstance(m, Attention)]
    S, Z = cfg["image"], cfg["latent_channels"]
    with torch.no_grad():
        moments = model.enc(torch.zeros(1, cfg["in_channels"], S, S))
        enc = flops[0]
        model.dec(moments[:, :Z])
    for h in hooks:
        h.remove()
    return enc, flops[0] - enc


def vae_sizes():
    """Parameters, tensors and forward GFLOP per image of every VAE preset."""
    print("%-10s %11s %8s %10s %10s %10s" % ("preset", "parameters", "tensors", "GFLOP enc", "dec",
                                           "enc + dec"))
    for name, cfg in VAE_PRESETS.items():
        model = VAE(cfg)
        params = list(model.parameters())
        enc, dec = vae_flops(model, cfg)
        print("%-10s %11s %8d %10.4f %10.4f %10.4f" % (name, format(sum(p.numel() for p in params), ","),
                                                      len(params), enc / 1e9, dec / 1e9, (enc + dec) / 1e9))


# ---- flow matching and samplers (docs/spec/flow.md) ---------------------------------
def null_cond(model, y):
    """The "no condition" rows for y: label K, or a text model's empty prompt
    [BOS, EOS, PAD, ...] (text.md)."""
    if model.tcfg["text_depth"]:
        return torch.tensor(byte_tokens("", y.shape[1])).repeat(y.shape[0], 1)
    return torch.full_like(y, model.K)


def velocity(model, x, t, y, guided):
    if not guided:
        return model(x, t, y)
    vu = model(x, t, null_cond(model, y))
    return vu + CFG_SCALE * (model(x, t, y) - vu)


def sample(model, x, steps, y, heun):
    n, guided = x.shape[0], model.K > 0 or model.tcfg["text_depth"] > 0
    h = 1.0 / steps
    for i in range(steps):
        t = torch.full((n,), 1.0 - i / steps)
        v0 = velocity(model, x, t, y, guided)
        xp = x - h * v0
        if heun and i < steps - 1:
            x = x - h / 2 * (v0 + velocity(model, xp, torch.full((n,), 1.0 - (i + 1) / steps), y, guided))
        else:
            x = xp
    return x


# ---- writers -------------------------------------------------------------------------
def text_config(cfg):
    """ text_tokenizer=.. text_vocab=.. ... of a text model (text.md's fields), else ''."""
    t = text_fields(cfg)
    return "".join(" %s=%d" % kv for kv in t.items()) if t["text_depth"] else ""


def unet_config_line(cfg, batch):
    mult = ",".join(str(m) for m in cfg["channel_mult"])
    return ("# config in_channels=%d image=%dx%d base_channels=%d channel_mult=%s res_blocks=%d "
            "time_dim=%d heads=%d groups=%d num_classes=%d%s batch=%d" % (
                cfg["in_channels"], cfg["image"], cfg["image"], cfg["base_channels"], mult,
                cfg["res_blocks"], cfg["time_dim"], cfg["heads"], cfg["groups"], cfg["num_classes"],
                text_config(cfg), batch))


def dit_config_line(cfg, batch):
    return ("# config arch=dit in_channels=%d image=%dx%d patch=%d hidden=%d depth=%d heads=%d "
            "freq_dim=%d mlp_ratio=%d num_classes=%d%s batch=%d" % (
                cfg["in_channels"], cfg["image"], cfg["image"], cfg["patch"], cfg["hidden"],
                cfg["depth"], cfg["heads"], cfg["freq_dim"], cfg["mlp_ratio"], cfg["num_classes"],
                text_config(cfg), batch))


def vae_config_line(cfg, batch):
    mult = ",".join(str(m) for m in cfg["channel_mult"])
    return ("# config arch=vae in_channels=%d image=%dx%d base_channels=%d channel_mult=%s "
            "res_blocks=%d heads=%d groups=%d latent_channels=%d batch=%d" % (
                cfg["in_channels"], cfg["image"], cfg["image"], cfg["base_channels"], mult,
                cfg["res_blocks"], cfg["heads"], cfg["groups"], cfg["latent_channels"], batch))


SAMPLER_LINE = ("# sampler: cfg_scale=%.1f with labels input.sample_y (when num_classes>0); euler%d = %d "
                "Euler steps, heun%d = %d Heun steps, both from x = input.x1 at t=1" % (
                    CFG_SCALE, EULER_STEPS, EULER_STEPS, HEUN_STEPS, HEUN_STEPS))
TEXT_SAMPLER_LINE = ("# sampler: cfg_scale=%.1f with prompts input.sample_y (token ids, one row a "
                     "sample; the empty prompt is the unconditional row); euler%d = %d Euler steps, "
                     "heun%d = %d Heun steps, both from x = input.x1 at t=1" % (
                         CFG_SCALE, EULER_STEPS, EULER_STEPS, HEUN_STEPS, HEUN_STEPS))


def vae_loss_line(beta):
    return ("# loss: beta=%g; moments = enc(input.x), z = mu + exp(clamp(lv, -30, 20) / 2) * "
            "input.eps, xhat = dec(z), loss = rec + beta * kl" % beta)


def planes(blob, inverse=False):
    """A case.bin.gz's byte order: byte 0 of every 4-byte value, then every byte 1, 2
    and 3 (the shuffle filter of HDF5 and Blosc: the sign and exponent bytes of float32
    values lie together and compress); inverse=True undoes it."""
    a = np.frombuffer(bytes(blob), dtype=np.uint8)
    return (a.reshape(4, -1).T if inverse else a.reshape(-1, 4).T).tobytes()


def gz_bytes(data):
    """gzip with no name or time in the header: the same file on every run."""
    import io
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buf, mtime=0) as z:
        z.write(data)
    return buf.getvalue()


def store_case(out, text, blob, compact):
    """case.txt + case.bin, or (compact) case.txt.gz (the same text, gzip'd) + case.bin.gz
    (planes(case.bin), gzip'd); the other form's files are removed."""
    os.makedirs(out, exist_ok=True)
    files = {"case.txt.gz": gz_bytes(text.encode()), "case.bin.gz": gz_bytes(planes(blob))} if compact \
        else {"case.txt": text.encode(), "case.bin": bytes(blob)}
    for name in ("case.txt", "case.bin", "case.txt.gz", "case.bin.gz"):
        if name not in files and os.path.exists(os.path.join(out, name)):
            os.remove(os.path.join(out, name))
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def write_case(out, tensors, config_line, comment=SAMPLER_LINE, compact=True):
    """A golden case in the layout of the shared golden cases (docs/spec/README.md);
    comment is the second line (a flow case's sampler settings, the autoencoder's
    loss). compact: case.txt.gz + case.bin.gz (store_case), the form of tests/data, which
    must stay under 1 MiB; otherwise case.txt + case.bin."""
    lines = [config_line, comment,
             "# columns: name dtype byte_offset shape (little-endian, row-major)"]
    blob = bytearray()
    for name, t in tensors:
        is_int = t.dtype in (torch.int32, torch.int64)
        data = t.detach().numpy().astype("<i4" if is_int else "<f4").tobytes()
        lines.append("%s %s %d %s" % (name, "i32" if is_int else "f32", len(blob),
                                      "x".join(str(s) for s in t.shape)))
        blob += data
    store_case(out, "\n".join(lines) + "\n", blob, compact)


def load_case(folder):
    """(case.txt's text, case.bin's bytes) of a case folder in either form."""
    p = lambda name: os.path.join(folder, name)
    if os.path.exists(p("case.txt")):
        with open(p("case.txt")) as f:
            text = f.read()
    else:
        with gzip.open(p("case.txt.gz"), "rt") as f:
            text = f.read()
    if os.path.exists(p("case.bin")):
        with open(p("case.bin"), "rb") as f:
            blob = f.read()
    else:
        with gzip.open(p("case.bin.gz"), "rb") as f:
            blob = planes(f.read(), inverse=True)
    return text, blob


def repack(folder, compact=True):
    """A case folder into the other form, losslessly (checked by reading it back)."""
    text, blob = load_case(folder)
    store_case(folder, text, blob, compact)
    if load_case(folder) != (text, blob):
        sys.exit("%s: repacking changed the case" % folder)


def read_case(folder):
    """A golden case folder: (config dict, [(name, tensor)]) with f32 as float64, i32 as
    int64. Config values are ints where they parse; image "HxW" gives H."""
    text, blob = load_case(folder)
    lines = text.splitlines()
    cfg = {}
    for kv in lines[0].split()[2:]:  # "# config k=v k=v ..."
        k, v = kv.split("=")
        v = v.split("x")[0] if k == "image" else v
        cfg[k] = int(v) if v.lstrip("-").isdigit() else v
    tensors = []
    for line in lines:
        if line.startswith("#") or not line.strip():
            continue
        name, dtype, off, shape = line.split()
        shape = tuple(int(v) for v in shape.split("x"))
        a = np.frombuffer(blob, dtype="<f4" if dtype == "f32" else "<i4",
                          count=int(np.prod(shape)), offset=int(off)).reshape(shape)
        tensors.append((name, torch.from_numpy(a.astype(np.float64 if dtype == "f32" else np.int64))))
    return cfg, tensors


def case_tensors(model, x0, x1, t, y, sy):
    """Forward, loss, every gradient and both samplers, in the golden cases' order.
    The inputs and parameters are float32 values (the case stores them so)."""
    model.zero_grad()
    xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * x1
    v = model(xt, t, y)
    loss = ((v - (x1 - x0)) ** 2).mean()
    loss.backward()
    # A separate key projection's bias (text.md: the encoder's k, cross-attention's k)
    # has gradient exactly 0: it adds the same q.b to every score of a query row, which
    # the softmax ignores. Stored as the exact 0 (fmrt golden then compares the absolute
    # error) instead of the float64 summation noise, ~1e-18, that backward leaves there.
    for name, p in model.named_parameters():
        if name.endswith(".k.bias"):
            if not p.grad.abs().max() < 1e-12:
                sys.exit("%s: gradient %g where 0 is exact" % (name, p.grad.abs().max()))
            p.grad.zero_()
    with torch.no_grad():
        e4 = sample(model, x1, EULER_STEPS, sy, heun=False)
        h3 = sample(model, x1, HEUN_STEPS, sy, heun=True)
    params = list(model.named_parameters())
    tensors = [("param." + k, p) for k, p in params]
    tensors += [("input.x0", x0), ("input.x1", x1), ("input.t", t), ("input.y", y.int()),
                ("input.sample_y", sy.int()), ("output.xt", xt), ("output.v", v),
                ("output.loss", loss.reshape(1))]
    tensors += [("grad." + k, p.grad) for k, p in params]
    tensors += [("output.euler4", e4), ("output.heun3", h3)]
    return tensors


# A text case's prompts (text_ctx 8: at most 6 bytes between BOS and EOS): the training
# rows are a short prompt (EOS at 4, three PAD after it) and one that fills the context
# (EOS last, no PAD); the sampled rows are two others.
TEXT_PROMPTS = ("a 7", "zero 0")
TEXT_SAMPLE_PROMPTS = ("one 1", "9")


def random_case(model, init, cfg, batch, seed):
    """Parameters by init, x0 ~ U(-1, 1), x1 ~ N(0, I), t ~ U(0, 1), all rounded to
    float32; labels y = [3, K] (one label, one "no label"), sample_y = [7, 1]; a text
    model's y and sample_y are the byte-level ids of TEXT_PROMPTS and
    TEXT_SAMPLE_PROMPTS, and init_text_params fills its text tensors after init."""
    gen = torch.Generator().manual_seed(seed)
    init(model, gen)
    n, c, s = batch, cfg["in_channels"], cfg["image"]
    L = cfg.get("text_ctx", 0)
    if cfg.get("text_depth", 0):
        y = torch.tensor([byte_tokens(p, L) for p in TEXT_PROMPTS], dtype=torch.int64)
        sy = torch.tensor([byte_tokens(p, L) for p in TEXT_SAMPLE_PROMPTS], dtype=torch.int64)
        init_text_params(model, gen, y.flatten().tolist() + sy.flatten().tolist() + byte_tokens("", L))
    else:
        y = torch.tensor([3, cfg["num_classes"]], dtype=torch.int64)
        sy = torch.tensor([7, 1], dtype=torch.int64)
    x0 = torch.rand(n, c, s, s, generator=gen) * 2 - 1
    x1 = torch.randn(n, c, s, s, generator=gen)
    t = torch.rand(n, generator=gen)
    # Inputs are stored as float32: the reference computes from the rounded values.
    r = lambda v: v.float().double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(r(p))
    return case_tensors(model, r(x0), r(x1), r(t), y, sy)


# The golden cases: forward, loss, every gradient and both samplers for one set of
# random parameters: (network, its parameter filler, config, batch, seed, config line).
GOLDEN = {
    "golden": (UNet, init_params, CFG, BATCH, 20261202, unet_config_line),
    # the DiT of docs/spec/dit.md (adaLN layers random)
    "golden-dit": (DiT, init_dit_params, DIT_CFG, DIT_BATCH, 20261203, dit_config_line),
    # both in colour: 3 channels in and out (the DiT's patches 2x2x3)
    "golden-rgb": (UNet, init_params, RGB_CFG, BATCH, 20261204, unet_config_line),
    "golden-dit-rgb": (DiT, init_dit_params, DIT_RGB_CFG, DIT_BATCH, 20261205, dit_config_line),
    # text-conditioned (docs/spec/text.md): the byte-level tokenizer's ids, cross-attention
    "golden-unet-text": (UNet, init_params, UNET_TEXT_CFG, BATCH, 20261207, unet_config_line),
    "golden-dit-text": (DiT, init_dit_params, DIT_TEXT_CFG, DIT_BATCH, 20261208, dit_config_line),
}


def golden_case(name, out):
    """Write the golden case `name` of GOLDEN into the folder out."""
    net, init, cfg, batch, seed, config_line = GOLDEN[name]
    tensors = random_case(net(cfg), init, cfg, batch, seed)
    text = cfg.get("text_depth", 0) > 0
    write_case(out, tensors, config_line(cfg, batch), TEXT_SAMPLER_LINE if text else SAMPLER_LINE)


def golden_vae(out, seed=20261206):
    """The autoencoder's golden case (vae.md, "The golden case"): preset vae-test, a
    batch of VAE_BATCH, beta = VAE_BETA."""
    cfg = VAE_PRESETS["vae-test"]
    tensors = vae_case(VAE(cfg), cfg, VAE_BATCH, seed, VAE_BETA)
    write_case(out, tensors, vae_config_line(cfg, VAE_BATCH), vae_loss_line(VAE_BETA))


def check_dit(folder, tol=1e-9):
    """Recompute a DiT golden case (e.g. the shared dit_small_cond) from its parameters and
    inputs; one line per output/gradient tensor. The case stores float32, so beside the
    plain relative L2 error |ref - case| / |case| (~3e-8 from that rounding alone) it
    prints the error beyond it, e_i = max(0, |ref_i - case_i| - ulp32(case_i) / 2), as
    |e| / |case|: zero when this float64 reference rounds to the stored value; that one
    must stay under tol. Returns the process exit status."""
    cfg, tensors = read_case(folder)
    if cfg.get("arch") != "dit":
        sys.exit("%s: not a DiT case (no arch=dit in its config line)" % folder)
    cfg["mlp_ratio"] = cfg.get("mlp_ratio", 4)
    cfg["num_classes"] = cfg.get("num_classes", 0)
    model = DiT(cfg)
    case = dict(tensors)
    with torch.no_grad():
        for k, p in model.named_parameters():
            p.copy_(case["param." + k])
    ref = dict(case_tensors(model, case["input.x0"], case["input.x1"], case["input.t"],
                            case["input.y"], case.get("input.sample_y", case["input.y"])))
    worst, status = 0.0, 0
    for name, want in tensors:
        if name.startswith(("param.", "input.")):
            continue
        got = ref[name].detach()
        norm = want.norm().item()
        rel = (got - want).norm().item() / norm
        half_ulp = torch.from_numpy(np.spacing(np.abs(want.numpy()).astype(np.float32)).astype(np.float64)) / 2
        beyond = torch.clamp((got - want).abs() - half_ulp, min=0).norm().item() / norm
        worst = max(worst, beyond)
        bad = not beyond <= tol
        status |= bad
        print("%-32s rel_l2 %.3e  beyond_f32 %.3e%s" % (name, rel, beyond, "  FAIL" if bad else ""))
    print("worst beyond_f32 %.3e (tol %.0e): %s" % (worst, tol, "FAIL" if status else "ok"))
    return status


def torch_fixture(out):
    """A state dict saved as PyTorch users save it (safetensors.torch.save_file), and
    the samples PyTorch draws from it with fmrt's noise: Philox(seed 5, stream 0)."""
    from safetensors.torch import save_file
    gen = torch.Generator().manual_seed(7)
    model = UNet(CFG)
    init_params(model, gen)
    os.makedirs(out, exist_ok=True)
    sd = {k: v.float().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(out, "unet_cond.safetensors"))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.float().double())
        n, steps = 4, 8
        x1 = philox_normal((n, CFG["in_channels"], CFG["image"], CFG["image"]), 5, 0)
        y = torch.tensor([0, 3, 7, 9], dtype=torch.int64)
        x = sample(model, x1, steps, y, heun=False)
    pix = torch.clamp(torch.round((x + 1) * 127.5), 0, 255).to(torch.uint8)
    with open(os.path.join(out, "unet_cond.euler8.f32"), "wb") as f:
        f.write(x.float().numpy().astype("<f4").tobytes())
    with open(os.path.join(out, "unet_cond.euler8.u8"), "wb") as f:
        f.write(pix.numpy().tobytes())


if __name__ == "__main__":
    commands = {name: (lambda d, n=name: golden_case(n, d)) for name in GOLDEN}
    commands.update({"torch": torch_fixture, "check-dit": lambda d: sys.exit(check_dit(d)),
                     "golden-vae": golden_vae, "pack": repack,
                     "unpack": lambda d: repack(d, compact=False)})
    if len(sys.argv) == 2 and sys.argv[1] == "vae-sizes":
        vae_sizes()
    elif len(sys.argv) != 3 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    else:
        commands[sys.argv[1]](sys.argv[2])
