#!/usr/bin/env python3
"""fmrt's reference network in PyTorch float64, for developers only.

It writes the project's own test fixtures (tests/data/); nothing in the build or the
tests runs Python (llm.c's train_gpt2.py writing its debug state is the model).
Written from the contract (spec/model.md of the shared folder): the U-Net, the
flow-matching loss, the Euler and Heun samplers with classifier-free guidance, and
Philox4x32-10 noise exactly as runtime/philox.h draws it, so that `fmrt sample
--seed S` starts from the very same x1.

    python3 scripts/reference/fmrt_ref.py golden OUT_DIR     # a golden case folder
    python3 scripts/reference/fmrt_ref.py torch OUT_DIR      # state dict + samples

Set-up (one command): python3 -m venv /tmp/rv && /tmp/rv/bin/pip install torch
safetensors numpy.
"""
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


# ---- the network (spec/model.md, "Network"; canonical parameter names) ----------------
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
    def __init__(self, c, heads, G):
        super().__init__()
        self.heads = heads
        self.norm, self.qkv, self.proj = nn.GroupNorm(G, c), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

    def forward(self, x):
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
        self.C, self.K = C, K
        self.time_lin1, self.time_lin2 = nn.Linear(C, T), nn.Linear(T, T)
        if K > 0:
            self.class_emb = nn.Embedding(K + 1, T)
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
        self.mid = nn.ModuleList([ResBlock(c, c, T, G), Attention(c, cfg["heads"], G),
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
        half = self.C // 2
        f = torch.exp(-math.log(10000.0) * torch.arange(half) / (half - 1))
        a = 1000.0 * t[:, None] * f[None]
        e = self.time_lin2(F.silu(self.time_lin1(torch.cat([torch.sin(a), torch.cos(a)], 1))))
        return e + self.class_emb(y) if self.K > 0 else e

    def forward(self, x, t, y=None):
        te = self.temb(t, y)
        h = self.conv_in(x)
        hs = [h]
        for m in self.enc:
            h = m(h, te) if isinstance(m, ResBlock) else m.conv(h)
            hs.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, te)), te)
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


# ---- flow matching and samplers (spec/model.md) -------------------------------------
def velocity(model, x, t, y, guided):
    if not guided:
        return model(x, t, y)
    vu = model(x, t, torch.full_like(y, model.K))
    return vu + CFG_SCALE * (model(x, t, y) - vu)


def sample(model, x, steps, y, heun):
    n, guided = x.shape[0], model.K > 0
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
def write_case(out, tensors, cfg, batch):
    """case.txt + case.bin in the layout of the shared golden cases."""
    os.makedirs(out, exist_ok=True)
    mult = ",".join(str(m) for m in cfg["channel_mult"])
    lines = ["# config in_channels=%d image=%dx%d base_channels=%d channel_mult=%s res_blocks=%d "
             "time_dim=%d heads=%d groups=%d num_classes=%d batch=%d" % (
                 cfg["in_channels"], cfg["image"], cfg["image"], cfg["base_channels"], mult,
                 cfg["res_blocks"], cfg["time_dim"], cfg["heads"], cfg["groups"], cfg["num_classes"], batch),
             "# sampler: cfg_scale=%.1f with labels input.sample_y (when num_classes>0); euler%d = %d "
             "Euler steps, heun%d = %d Heun steps, both from x = input.x1 at t=1" % (
                 CFG_SCALE, EULER_STEPS, EULER_STEPS, HEUN_STEPS, HEUN_STEPS),
             "# columns: name dtype byte_offset shape (little-endian, row-major)"]
    blob = bytearray()
    for name, t in tensors:
        is_int = t.dtype in (torch.int32, torch.int64)
        data = t.detach().numpy().astype("<i4" if is_int else "<f4").tobytes()
        lines.append("%s %s %d %s" % (name, "i32" if is_int else "f32", len(blob),
                                      "x".join(str(s) for s in t.shape)))
        blob += data
    with open(os.path.join(out, "case.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "case.bin"), "wb") as f:
        f.write(blob)


def golden(out):
    """Forward, loss, every gradient and both samplers for one set of parameters."""
    gen = torch.Generator().manual_seed(20261202)
    model = UNet(CFG)
    init_params(model, gen)
    n, c, s = BATCH, CFG["in_channels"], CFG["image"]
    x0 = torch.rand(n, c, s, s, generator=gen) * 2 - 1
    x1 = torch.randn(n, c, s, s, generator=gen)
    t = torch.rand(n, generator=gen)
    y = torch.tensor([3, CFG["num_classes"]], dtype=torch.int64)  # one label, one "no label"
    sy = torch.tensor([7, 1], dtype=torch.int64)
    # Inputs are stored as float32: the reference computes from the rounded values.
    r = lambda v: v.float().double()
    x0, x1, t = r(x0), r(x1), r(t)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(r(p))
    xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * x1
    v = model(xt, t, y)
    loss = ((v - (x1 - x0)) ** 2).mean()
    loss.backward()
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
    write_case(out, tensors, CFG, BATCH)


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
    if len(sys.argv) != 3 or sys.argv[1] not in ("golden", "torch"):
        sys.exit(__doc__)
    (golden if sys.argv[1] == "golden" else torch_fixture)(sys.argv[2])
