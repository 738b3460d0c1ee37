#!/usr/bin/env python3
"""Parity of fmrt's standalone CLIP text encoder (arch clip, docs/spec/text.md) with
transformers.CLIPTextModel: a randomly initialised model saved as Hugging Face saves it
(model.safetensors, names text_model.*), token rows with padding after the end token,
and what transformers computes for them (in float64 from the float32 weights):
last_hidden_state and pooler_output. fmrt converts the file (fmrt convert) and runs it
(tests/clip_parity.c); ctest `clip_parity_<backend>` does both on the committed case.

Set-up: python3 -m venv /tmp/hfvenv && /tmp/hfvenv/bin/pip install torch transformers safetensors numpy

  small OUT   the committed case (tests/data/clip): vocab 259 (byte-level tokenizer: BOS 256,
              EOS 257, PAD 258), ctx 8, width 4, 2 layers, 2 heads, MLP 8; 3 rows
  vitb32 OUT  OpenAI CLIP ViT-B/32's text tower (vocab 49408, ctx 77, width 512, 12 layers,
              8 heads, MLP 2048; EOS 49407), random init, 4 rows (too big to commit):

    /tmp/hfvenv/bin/python scripts/reference/clip_parity.py vitb32 /tmp/clipb32
    build/fmrt convert /tmp/clipb32/model.safetensors /tmp/clipb32/clip.fmw
    build/clip_parity /tmp/clipb32/clip.fmw /tmp/clipb32 cpu

Measured (2-core AMD EPYC shared with other jobs; transformers 5.25, PyTorch 2.15), worst
|fmrt - transformers float64| of last_hidden_state / pooler_output:
  small:  ref 1.3e-6 / 3.6e-7, cpu 7.2e-7 / 2.4e-7, opencl (PoCL) 7.2e-7 / 2.4e-7,
          cuda-emu 1.2e-6 / 2.4e-7 (largest |value| 1.9); float32 transformers 1.2e-6 / 4.1e-7
  vitb32: ref 1.4e-6 / 1.2e-6, cpu 4.4e-6 / 3.0e-6, opencl 7.4e-6 / 5.4e-6, cuda-emu
          4.3e-6 / 3.7e-6 (largest |value| 6.9); float32 transformers 3.7e-6 / 3.1e-6.
          Forward of the 4 rows: ref 22 s, cpu 0.33 s against transformers' float32 1.8 s
          (eager attention, 2 threads; the two back to back), opencl 5.5 s, cuda-emu 8.6 s;
          convert 2.2 s (242 MiB).

OUT gets model.safetensors (names text_model.* for small; save_pretrained's for vitb32, and
its config.json), case.txt (the config and the token rows) and expected.f32
(little-endian float32: last_hidden_state [N, L, D], then pooler_output [N, D]). It
also prints float32 transformers' own worst error against float64, the floor any float32
implementation stands on.
"""
import os
import sys
import time

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel


def rows_small():
    g = np.random.default_rng(7)
    L = 8
    r = []
    # a prompt of 3 bytes, padded
    r.append([256] + list(g.integers(0, 256, 3)) + [257] + [258] * (L - 5))
    # the empty prompt [BOS, EOS, PAD, ...]
    r.append([256, 257] + [258] * (L - 2))
    # a full row: the end token last (no padding)
    r.append([256] + list(g.integers(0, 256, L - 2)) + [257])
    return r


def rows_vitb32():
    g = np.random.default_rng(8)
    L = 77
    r = []
    for k, (n, pad) in enumerate([(5, 0), (0, 0), (30, 49407), (L - 2, 0)]):
        r.append([49406] + list(g.integers(0, 49406, n)) + [49407] + [pad] * (L - 2 - n))
    return r


def build(kind):
    if kind == "small":
        cfg = CLIPTextConfig(vocab_size=259, hidden_size=4, intermediate_size=8,
                             num_hidden_layers=2, num_attention_heads=2,
                             max_position_embeddings=8, hidden_act="quick_gelu",
                             layer_norm_eps=1e-5, bos_token_id=256, eos_token_id=257,
                             pad_token_id=258, projection_dim=4)
        rows, heads, tok = rows_small(), 2, "bytes"
    else:
        cfg = CLIPTextConfig(vocab_size=49408, hidden_size=512, intermediate_size=2048,
                             num_hidden_layers=12, num_attention_heads=8,
                             max_position_embeddings=77, hidden_act="quick_gelu",
                             layer_norm_eps=1e-5, bos_token_id=49406, eos_token_id=49407,
                             pad_token_id=0, projection_dim=512)
        rows, heads, tok = rows_vitb32(), 8, "clip"
    torch.manual_seed(1234)
    cfg._attn_implementation = "eager"
    model = CLIPTextModel(cfg).eval()
    # Every parameter random, not the init's ones and zeros, so that a weight read as a
    # bias or one layer's tensor read as another's shows: weights ~ N(0, 1/fan_in),
    # layer-norm scales 1 + N(0, 0.3^2), biases N(0, 0.1^2), embeddings N(0, 0.5^2).
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embedding" in name:
                p.normal_(0, 0.5)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.normal_(0, 0.1)
            else:
                p.normal_(0, p.shape[1] ** -0.5)
    return model, cfg, rows, heads, tok


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("small", "vitb32"):
        sys.exit(__doc__)
    kind, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    model, cfg, rows, heads, tok = build(kind)
    if kind == "small":
        # The names as the Hub's files and transformers 4's save_pretrained write them
        # (text_model.*; transformers 5 writes them without the prefix, which the vitb32
        # case's save_pretrained covers).
        sd = {"text_model." + k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(sd, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    else:
        model.save_pretrained(out)
    ids = torch.tensor(rows, dtype=torch.long)
    with torch.no_grad():
        o64 = model.double()(input_ids=ids)
        h64, p64 = o64.last_hidden_state, o64.pooler_output
        model.float()(input_ids=ids)  # warm-up
        t0 = time.perf_counter()
        o32 = model(input_ids=ids)
        t32 = time.perf_counter() - t0
        h32, p32 = o32.last_hidden_state, o32.pooler_output
    N, L = ids.shape
    D = cfg.hidden_size
    with open(os.path.join(out, "case.txt"), "w") as f:
        f.write("# scripts/reference/clip_parity.py %s: transformers.CLIPTextModel, random init\n"
                % kind)
        f.write("n %d\nctx %d\nwidth %d\nheads %d\ntokenizer %s\n" % (N, L, D, heads, tok))
        for r in rows:
            f.write("ids " + " ".join(str(int(v)) for v in r) + "\n")
    exp = np.concatenate([h64.numpy().astype("<f4").ravel(), p64.numpy().astype("<f4").ravel()])
    exp.tofile(os.path.join(out, "expected.f32"))
    eh = (h32.double() - h64).abs().max().item()
    ep = (p32.double() - p64).abs().max().item()
    print("wrote %s: %d rows of %d tokens, width %d; float32 transformers vs float64: "
          "hidden max |diff| %.3e, pooled %.3e; float32 forward %.3f s (%d threads)"
          % (out, N, L, D, eh, ep, t32, torch.get_num_threads()))


if __name__ == "__main__":
    main()
