#!/usr/bin/python3
"""engine_torch_ref.py — reference logits, loss and gradients for the engine, from PyTorch.

Run by hand (needs Debian's python3-torch: scripts/bootstrap torch); `make test` only reads the
fixtures it writes, so torch is never needed at test time:

    /usr/bin/python3 tools/engine_torch_ref.py tests/fixtures/engine   (Debian's python, not a pyenv one)

For each case it draws a tiny random Llama-style model (numpy, fixed seed), a batch of token ids,
and computes in float64 (so the reference is not limited by float32 summation order) the logits,
the mean cross-entropy loss and the gradient of every parameter. The model definition is written
from the architecture described in src/engine/model.h, independently of the C code:
RMSNorm, RoPE on adjacent pairs with tables computed in float64, grouped-query attention,
SwiGLU, optional tied embeddings.

Fixture layout (little-endian): b"AGFX0001"; int32 dim, n_layers, n_heads, n_kv_heads,
hidden_dim, vocab_size, seq_len, tied; float32 rope_theta, norm_eps; int32 B, T;
uint32 inputs[B*T]; uint32 targets[B*T]; float32 weights of each present tensor in canonical
order (tok_emb, attn_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3, final_norm, out), unpadded;
float32 logits[B*T*V]; float64 loss; float32 gradients in the same order as the weights.
"""
import math
import struct
import sys

import numpy as np
import torch


def model(cfg, W, inp):
    C, L, NH, KVH, H, V, S = (cfg[k] for k in ("dim", "layers", "heads", "kv", "hidden", "vocab", "seq"))
    HD = C // NH
    B, T = inp.shape
    theta, eps = cfg["theta"], cfg["eps"]
    # RoPE tables in float64 then rounded to float32, as the engine does
    cos = np.zeros((T, HD // 2), np.float32)
    sin = np.zeros((T, HD // 2), np.float32)
    for i in range(HD // 2):
        f = math.exp(-(2 * i / HD) * math.log(theta))
        for p in range(T):
            cos[p, i] = math.cos(p * f)
            sin[p, i] = math.sin(p * f)
    cos = torch.tensor(cos, dtype=torch.float64)
    sin = torch.tensor(sin, dtype=torch.float64)

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    def rope(x):  # (B, T, heads, HD)
        a = x[..., 0::2]
        b = x[..., 1::2]
        c = cos[None, :, None, :]
        s = sin[None, :, None, :]
        out = torch.stack((a * c - b * s, a * s + b * c), dim=-1)
        return out.flatten(-2)

    x = W["tok_emb"][inp]  # (B, T, C)
    scale = float(np.float32(1.0) / np.sqrt(np.float32(HD)))
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    for l in range(L):
        h = rms(x, W["attn_norm"][l])
        q = rope((h @ W["wq"][l].T).view(B, T, NH, HD))
        k = rope((h @ W["wk"][l].T).view(B, T, KVH, HD))
        v = (h @ W["wv"][l].T).view(B, T, KVH, HD)
        rep = NH // KVH
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        att = torch.einsum("bthd,bshd->bhts", q, k) * scale
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        o = torch.einsum("bhts,bshd->bthd", att, v).reshape(B, T, C)
        x = x + o @ W["wo"][l].T
        h = rms(x, W["ffn_norm"][l])
        g = torch.nn.functional.silu(h @ W["w1"][l].T) * (h @ W["w3"][l].T)
        x = x + g @ W["w2"][l].T
    x = rms(x, W["final_norm"])
    out = W["tok_emb"] if cfg["tied"] else W["out"]
    return x @ out.T


def case(path, seed, tied, B=2, T=8):
    cfg = dict(dim=32, layers=2, heads=4, kv=2, hidden=64, vocab=48, seq=16, tied=tied,
               theta=10000.0, eps=1e-5)
    C, L, KVD, H, V = cfg["dim"], cfg["layers"], cfg["dim"] // cfg["heads"] * cfg["kv"], cfg["hidden"], cfg["vocab"]
    rng = np.random.default_rng(seed)
    shapes = [("tok_emb", (V, C)), ("attn_norm", (L, C)), ("wq", (L, C, C)), ("wk", (L, KVD, C)),
              ("wv", (L, KVD, C)), ("wo", (L, C, C)), ("ffn_norm", (L, C)), ("w1", (L, H, C)),
              ("w2", (L, C, H)), ("w3", (L, H, C)), ("final_norm", (C,))]
    if not tied:
        shapes.append(("out", (V, C)))
    W32 = {}
    for name, shp in shapes:
        if "norm" in name:
            W32[name] = (1.0 + 0.1 * rng.standard_normal(shp)).astype(np.float32)
        else:
            W32[name] = (0.3 * rng.standard_normal(shp)).astype(np.float32)
    W = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in W32.items()}
    inp = rng.integers(0, V, size=(B, T))
    tgt = rng.integers(0, V, size=(B, T))
    logits = model(cfg, W, torch.tensor(inp))
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), torch.tensor(tgt).reshape(-1))
    loss.backward()
    with open(path, "wb") as f:
        f.write(b"AGFX0001")
        f.write(struct.pack("<8i", C, L, cfg["heads"], cfg["kv"], H, V, cfg["seq"], tied))
        f.write(struct.pack("<2f", cfg["theta"], cfg["eps"]))
        f.write(struct.pack("<2i", B, T))
        f.write(inp.astype("<u4").tobytes())
        f.write(tgt.astype("<u4").tobytes())
        for name, _ in shapes:
            f.write(W32[name].astype("<f4").tobytes())
        f.write(logits.detach().numpy().astype("<f4").tobytes())
        f.write(struct.pack("<d", loss.item()))
        for name, _ in shapes:
            f.write(W[name].grad.numpy().astype("<f4").tobytes())
    print(f"{path}: loss {loss.item():.9f}")


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/engine"
    case(f"{out}/ref_tied.bin", 1234, 1)
    case(f"{out}/ref_untied.bin", 5678, 0)
