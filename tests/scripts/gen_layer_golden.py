#!/usr/bin/env python3
"""Tiny random models and their expected logits from an independent float64 numpy forward pass.

For each architecture ctorch runs (llama, qwen2, gemma3, gpt2) and each weight type, this
writes a small GGUF (one layer; gemma3 two, one local and one global) with the PyPI `gguf`
writer and computes, in float64 numpy, the logits of every position of a short prompt. The
quantized weights are random *valid blocks* (random quants, scale fields set to sane
magnitudes), dequantized with gguf.quants' numpy code, so the reference shares nothing with
ctorch's C code but the file format.

The numpy forward follows the GGUF conventions (tensor [ne0, ne1] = numpy [ne1, ne0], i.e.
y = W @ x; llama's q/k rows permuted at conversion, so llama rotates adjacent pairs while
qwen2/gemma3 rotate halves; gemma3's norm weights already include the +1).

Outputs (checked in; CI needs no Python):
  tests/golden/layers/<arch>_<type>.gguf
  tests/golden/layers/expected.json   {"models": [{"file", "arch", "type", "tokens", "n_vocab", "logits"}]}

Run from the repo root:  python3 tests/scripts/gen_layer_golden.py
"""
import json
import os
import sys

import numpy as np
from gguf import GGUFWriter, GGMLQuantizationType as T, quants
from gguf.constants import GGML_QUANT_SIZES

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "layers")
PROMPT = [3, 17, 5, 29, 11, 40, 2, 23]  # 8 positions: longer than gemma3's tiny window (3)
VOCAB = 48
CTX = 16

LEGACY = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]
FLOATS = [T.F32, T.F16, T.BF16]


# ---- random valid blocks ------------------------------------------------------------------
# (byte offset of each float16 scale field, range of magnitudes to give it) per block type:
# picked so dequantized weights have magnitudes around 0.01..0.2.
SCALES = {
    T.Q4_0: [(0, (0.004, 0.02))],
    T.Q4_1: [(0, (0.004, 0.02)), (2, (-0.15, -0.05))],
    T.Q5_0: [(0, (0.002, 0.01))],
    T.Q5_1: [(0, (0.002, 0.01)), (2, (-0.15, -0.05))],
    T.Q8_0: [(0, (0.0002, 0.001))],
    T.Q2_K: [(80, (0.001, 0.004)), (82, (0.0005, 0.002))],
    T.Q3_K: [(108, (0.0003, 0.001))],
    T.Q4_K: [(0, (0.0001, 0.0003)), (2, (0.00005, 0.0002))],
    T.Q5_K: [(0, (0.00005, 0.00015)), (2, (0.00003, 0.0001))],
    T.Q6_K: [(208, (0.00001, 0.00004))],
}


def random_weight(rng, qtype, rows, cols, scale=0.1):
    """(raw array for the writer, float64 dequantized [rows, cols])."""
    if qtype == T.F32:
        w = (rng.standard_normal((rows, cols)) * scale).astype(np.float32)
        return w, w.astype(np.float64)
    if qtype == T.F16:
        w = (rng.standard_normal((rows, cols)) * scale).astype(np.float16)
        return w, w.astype(np.float64)
    if qtype == T.BF16:
        raw = quants.quantize((rng.standard_normal((rows, cols)) * scale).astype(np.float32), T.BF16)
        return raw, quants.dequantize(raw, T.BF16).astype(np.float64)
    block, size = GGML_QUANT_SIZES[qtype]
    assert cols % block == 0, (qtype, cols)
    nb = rows * cols // block
    raw = rng.integers(0, 256, size=(nb, size), dtype=np.uint8)
    for off, (lo, hi) in SCALES[qtype]:
        d = rng.uniform(lo, hi, size=nb).astype(np.float16)
        raw[:, off:off + 2] = d.view(np.uint8).reshape(nb, 2)
    raw = raw.reshape(rows, cols // block * size)
    return raw, quants.dequantize(raw, qtype).astype(np.float64).reshape(rows, cols)


def vector(rng, n, center=0.0, scale=0.1):
    return (center + rng.standard_normal(n) * scale).astype(np.float32)


# ---- float64 reference ops ---------------------------------------------------------------
def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def layernorm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def rope(x, pos, n_dims, base, scale, style, factors=None):
    """x: [T, H, D]. theta_i = pos * scale * base^(-2i/n_dims) / factors[i]."""
    half = n_dims // 2
    freq = base ** (-2.0 * np.arange(half) / n_dims) * scale
    if factors is not None:
        freq = freq / factors
    ang = np.asarray(pos, dtype=np.float64)[:, None] * freq[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x = x.copy()
    if style == "norm":
        a, b = x[..., 0:n_dims:2].copy(), x[..., 1:n_dims:2].copy()
        x[..., 0:n_dims:2], x[..., 1:n_dims:2] = a * c - b * s, a * s + b * c
    else:
        a, b = x[..., :half].copy(), x[..., half:n_dims].copy()
        x[..., :half], x[..., half:n_dims] = a * c - b * s, a * s + b * c
    return x


def attention(q, k, v, scale, window=0):
    """q: [T, H, Dk], k: [T, Hkv, Dk], v: [T, Hkv, Dv]; causal, optional sliding window."""
    n, h, _ = q.shape
    group = h // k.shape[1]
    out = np.zeros((n, h, v.shape[2]))
    for t in range(n):
        lo = max(0, t - window + 1) if window else 0
        for i in range(h):
            kh = i // group
            sc = scale * (k[lo:t + 1, kh] @ q[t, i])
            p = np.exp(sc - sc.max())
            p /= p.sum()
            out[t, i] = p @ v[lo:t + 1, kh]
    return out


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1 + np.exp(-x))


# ---- model builders ------------------------------------------------------------------------
class Model:
    """Collects tensors for the GGUF writer and their float64 values for the reference."""

    def __init__(self, rng):
        self.rng = rng
        self.tensors = []  # (name, raw, raw_dtype or None)
        self.f = {}

    def mat(self, name, qtype, rows, cols, scale=0.1):
        raw, val = random_weight(self.rng, qtype, rows, cols, scale)
        self.tensors.append((name, raw, qtype if qtype not in (T.F32, T.F16) else None))
        self.f[name] = val

    def vec(self, name, n, center=0.0, scale=0.1):
        v = vector(self.rng, n, center, scale)
        self.tensors.append((name, v, None))
        self.f[name] = v.astype(np.float64)

    def write(self, path, arch, meta):
        w = GGUFWriter(path, arch)
        for key, val in meta.items():
            if isinstance(val, bool):
                w.add_bool(key, val)
            elif isinstance(val, int):
                w.add_uint32(key, val)
            elif isinstance(val, float):
                w.add_float32(key, val)
            elif isinstance(val, str):
                w.add_string(key, val)
            else:
                w.add_array(key, val)
        for name, raw, qtype in self.tensors:
            if qtype is None:
                w.add_tensor(name, raw)
            else:
                w.add_tensor(name, raw, raw_dtype=qtype)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()


def types_for(qtype):
    """Weight type per role. 'kmix' spreads the k-quants over roles with 256-wide rows and
    gives roles with narrower rows 32-element block types."""
    if qtype != "kmix":
        return dict(q=qtype, k=qtype, v=qtype, o=qtype, gate=qtype, up=qtype, down=qtype, embd=qtype, out=qtype)
    return dict(q=T.Q2_K, k=T.Q3_K, v=T.Q4_K, o=T.Q4_1, gate=T.Q5_K, up=T.Q6_K, down=T.Q8_0, embd=T.Q4_K,
                out=T.Q6_K)


def dims(qtype, arch):
    if qtype == "kmix":  # k-quant rows must be 256 long
        if arch == "gpt2":
            return dict(n_embd=256, n_head=4, n_head_kv=4, head_dim=64, n_ff=32)
        return dict(n_embd=256, n_head=2, n_head_kv=1, head_dim=32, n_ff=64)
    if arch == "gpt2":
        return dict(n_embd=32, n_head=4, n_head_kv=4, head_dim=8, n_ff=64)
    if arch == "gemma3":  # q width (4 x 16) differs from n_embd on purpose
        return dict(n_embd=32, n_head=4, n_head_kv=2, head_dim=16, n_ff=64)
    return dict(n_embd=32, n_head=4, n_head_kv=2, head_dim=8, n_ff=64)


def build_llama(rng, qtype, arch):
    d = dims(qtype, arch)
    ty = types_for(qtype)
    ne, nh, nkv, hd, nff = d["n_embd"], d["n_head"], d["n_head_kv"], d["head_dim"], d["n_ff"]
    m = Model(rng)
    m.mat("token_embd.weight", ty["embd"], VOCAB, ne, 0.5)
    m.vec("output_norm.weight", ne, 1.0)
    m.mat("output.weight", ty["out"], VOCAB, ne, 0.2)
    qwen = arch == "qwen2"
    if not qwen:
        m.vec("rope_freqs.weight", hd // 2, 2.0, 0.5)  # Llama 3.1-style divisors, ~1.5..2.5
    m.vec("blk.0.attn_norm.weight", ne, 1.0)
    m.mat("blk.0.attn_q.weight", ty["q"], nh * hd, ne)
    m.mat("blk.0.attn_k.weight", ty["k"], nkv * hd, ne)
    m.mat("blk.0.attn_v.weight", ty["v"], nkv * hd, ne)
    if qwen:
        m.vec("blk.0.attn_q.bias", nh * hd, 0.0, 0.2)
        m.vec("blk.0.attn_k.bias", nkv * hd, 0.0, 0.2)
        m.vec("blk.0.attn_v.bias", nkv * hd, 0.0, 0.2)
    m.mat("blk.0.attn_output.weight", ty["o"], ne, nh * hd)
    m.vec("blk.0.ffn_norm.weight", ne, 1.0)
    m.mat("blk.0.ffn_gate.weight", ty["gate"], nff, ne)
    m.mat("blk.0.ffn_up.weight", ty["up"], nff, ne)
    m.mat("blk.0.ffn_down.weight", ty["down"], ne, nff)
    meta = {
        f"{arch}.block_count": 1, f"{arch}.context_length": CTX, f"{arch}.embedding_length": ne,
        f"{arch}.feed_forward_length": nff, f"{arch}.attention.head_count": nh,
        f"{arch}.attention.head_count_kv": nkv, f"{arch}.attention.layer_norm_rms_epsilon": 1e-5,
        f"{arch}.rope.freq_base": 1000000.0 if qwen else 10000.0, f"{arch}.vocab_size": VOCAB,
    }
    if nh * hd != ne:  # head size not implied by n_embd / n_head
        meta[f"{arch}.attention.key_length"] = hd
        meta[f"{arch}.attention.value_length"] = hd
    if not qwen:  # exercise linear rope scaling too
        meta[f"{arch}.rope.scaling.type"] = "linear"
        meta[f"{arch}.rope.scaling.factor"] = 2.0
    hp = dict(d, eps=1e-5, base=meta[f"{arch}.rope.freq_base"], scale=1.0 if qwen else 0.5,
              style="neox" if qwen else "norm")
    return m, meta, hp


def forward_llama(m, hp, toks):
    f, n = m.f, len(toks)
    nh, nkv, hd = hp["n_head"], hp["n_head_kv"], hp["head_dim"]
    pos = np.arange(n)
    x = f["token_embd.weight"][toks]
    h = rmsnorm(x, f["blk.0.attn_norm.weight"], hp["eps"])
    q = h @ f["blk.0.attn_q.weight"].T + f.get("blk.0.attn_q.bias", 0)
    k = h @ f["blk.0.attn_k.weight"].T + f.get("blk.0.attn_k.bias", 0)
    v = h @ f["blk.0.attn_v.weight"].T + f.get("blk.0.attn_v.bias", 0)
    ff = f.get("rope_freqs.weight")
    q = rope(q.reshape(n, nh, hd), pos, hd, hp["base"], hp["scale"], hp["style"], ff)
    k = rope(k.reshape(n, nkv, hd), pos, hd, hp["base"], hp["scale"], hp["style"], ff)
    a = attention(q, k, v.reshape(n, nkv, hd), 1 / np.sqrt(hd)).reshape(n, nh * hd)
    x = x + a @ f["blk.0.attn_output.weight"].T
    h = rmsnorm(x, f["blk.0.ffn_norm.weight"], hp["eps"])
    g = silu(h @ f["blk.0.ffn_gate.weight"].T) * (h @ f["blk.0.ffn_up.weight"].T)
    x = x + g @ f["blk.0.ffn_down.weight"].T
    return rmsnorm(x, f["output_norm.weight"], hp["eps"]) @ f["output.weight"].T


def build_gemma3(rng, qtype, arch):
    d = dims(qtype, arch)
    ty = types_for(qtype)
    ne, nh, nkv, hd, nff = d["n_embd"], d["n_head"], d["n_head_kv"], d["head_dim"], d["n_ff"]
    m = Model(rng)
    m.mat("token_embd.weight", ty["embd"], VOCAB, ne, 0.05)  # tied: no output.weight
    m.vec("output_norm.weight", ne, 1.0)
    for l in range(2):
        b = f"blk.{l}."
        m.vec(b + "attn_norm.weight", ne, 1.0)
        m.mat(b + "attn_q.weight", ty["q"], nh * hd, ne)
        m.mat(b + "attn_k.weight", ty["k"], nkv * hd, ne)
        m.mat(b + "attn_v.weight", ty["v"], nkv * hd, ne)
        m.vec(b + "attn_q_norm.weight", hd, 1.0)
        m.vec(b + "attn_k_norm.weight", hd, 1.0)
        m.mat(b + "attn_output.weight", ty["o"], ne, nh * hd)
        m.vec(b + "post_attention_norm.weight", ne, 1.0)
        m.vec(b + "ffn_norm.weight", ne, 1.0)
        m.mat(b + "ffn_gate.weight", ty["gate"], nff, ne)
        m.mat(b + "ffn_up.weight", ty["up"], nff, ne)
        m.mat(b + "ffn_down.weight", ty["down"], ne, nff)
        m.vec(b + "post_ffw_norm.weight", ne, 1.0)
    meta = {
        "gemma3.block_count": 2, "gemma3.context_length": CTX, "gemma3.embedding_length": ne,
        "gemma3.feed_forward_length": nff, "gemma3.attention.head_count": nh,
        "gemma3.attention.head_count_kv": nkv, "gemma3.attention.key_length": hd,
        "gemma3.attention.value_length": hd, "gemma3.attention.layer_norm_rms_epsilon": 1e-6,
        "gemma3.rope.freq_base": 1000000.0, "gemma3.attention.sliding_window": 3,
        "gemma3.attention.sliding_window_pattern": 2,  # layer 0 local, layer 1 global
    }
    hp = dict(d, eps=1e-6, base=1000000.0, base_swa=10000.0, window=3)
    return m, meta, hp


def forward_gemma3(m, hp, toks):
    f, n = m.f, len(toks)
    nh, nkv, hd, eps = hp["n_head"], hp["n_head_kv"], hp["head_dim"], hp["eps"]
    pos = np.arange(n)
    x = f["token_embd.weight"][toks] * np.sqrt(hp["n_embd"])
    for l in range(2):
        b = f"blk.{l}."
        local = l == 0
        base, window = (hp["base_swa"], hp["window"]) if local else (hp["base"], 0)
        h = rmsnorm(x, f[b + "attn_norm.weight"], eps)
        q = rmsnorm((h @ f[b + "attn_q.weight"].T).reshape(n, nh, hd), f[b + "attn_q_norm.weight"], eps)
        k = rmsnorm((h @ f[b + "attn_k.weight"].T).reshape(n, nkv, hd), f[b + "attn_k_norm.weight"], eps)
        v = (h @ f[b + "attn_v.weight"].T).reshape(n, nkv, hd)
        q, k = rope(q, pos, hd, base, 1.0, "neox"), rope(k, pos, hd, base, 1.0, "neox")
        a = attention(q, k, v, 1 / np.sqrt(hd), window).reshape(n, nh * hd)
        x = x + rmsnorm(a @ f[b + "attn_output.weight"].T, f[b + "post_attention_norm.weight"], eps)
        h = rmsnorm(x, f[b + "ffn_norm.weight"], eps)
        g = gelu_tanh(h @ f[b + "ffn_gate.weight"].T) * (h @ f[b + "ffn_up.weight"].T)
        x = x + rmsnorm(g @ f[b + "ffn_down.weight"].T, f[b + "post_ffw_norm.weight"], eps)
    return rmsnorm(x, f["output_norm.weight"], eps) @ f["token_embd.weight"].T


def build_gpt2(rng, qtype, arch):
    d = dims(qtype, arch)
    ty = types_for(qtype)
    ne, nh, nff = d["n_embd"], d["n_head"], d["n_ff"]
    m = Model(rng)
    m.mat("token_embd.weight", ty["embd"], VOCAB, ne, 0.5)
    m.mat("position_embd.weight", T.F16, CTX, ne, 0.3)
    m.vec("output_norm.weight", ne, 1.0)
    m.vec("output_norm.bias", ne, 0.0)
    m.mat("output.weight", ty["out"], VOCAB, ne, 0.2)
    m.vec("blk.0.attn_norm.weight", ne, 1.0)
    m.vec("blk.0.attn_norm.bias", ne, 0.0)
    m.mat("blk.0.attn_qkv.weight", ty["q"], 3 * ne, ne)
    m.vec("blk.0.attn_qkv.bias", 3 * ne, 0.0, 0.2)
    m.mat("blk.0.attn_output.weight", ty["o"], ne, ne)
    m.vec("blk.0.attn_output.bias", ne)
    m.vec("blk.0.ffn_norm.weight", ne, 1.0)
    m.vec("blk.0.ffn_norm.bias", ne, 0.0)
    m.mat("blk.0.ffn_up.weight", ty["up"], nff, ne)
    m.vec("blk.0.ffn_up.bias", nff)
    m.mat("blk.0.ffn_down.weight", ty["down"], ne, nff)
    m.vec("blk.0.ffn_down.bias", ne)
    meta = {
        "gpt2.block_count": 1, "gpt2.context_length": CTX, "gpt2.embedding_length": ne,
        "gpt2.feed_forward_length": nff, "gpt2.attention.head_count": nh,
        "gpt2.attention.layer_norm_epsilon": 1e-5,
    }
    return m, meta, dict(d, eps=1e-5)


def forward_gpt2(m, hp, toks):
    f, n = m.f, len(toks)
    nh, ne, eps = hp["n_head"], hp["n_embd"], hp["eps"]
    hd = ne // nh
    x = f["token_embd.weight"][toks] + f["position_embd.weight"][:n]
    h = layernorm(x, f["blk.0.attn_norm.weight"], f["blk.0.attn_norm.bias"], eps)
    qkv = h @ f["blk.0.attn_qkv.weight"].T + f["blk.0.attn_qkv.bias"]
    q, k, v = (qkv[:, i * ne:(i + 1) * ne].reshape(n, nh, hd) for i in range(3))
    a = attention(q, k, v, 1 / np.sqrt(hd)).reshape(n, ne)
    x = x + a @ f["blk.0.attn_output.weight"].T + f["blk.0.attn_output.bias"]
    h = layernorm(x, f["blk.0.ffn_norm.weight"], f["blk.0.ffn_norm.bias"], eps)
    u = gelu_tanh(h @ f["blk.0.ffn_up.weight"].T + f["blk.0.ffn_up.bias"])
    x = x + u @ f["blk.0.ffn_down.weight"].T + f["blk.0.ffn_down.bias"]
    x = layernorm(x, f["output_norm.weight"], f["output_norm.bias"], eps)
    return x @ f["output.weight"].T


ARCHS = {
    "llama": (build_llama, forward_llama),
    "qwen2": (build_llama, forward_llama),
    "gemma3": (build_gemma3, forward_gemma3),
    "gpt2": (build_gpt2, forward_gpt2),
}


def type_name(qtype):
    return qtype if isinstance(qtype, str) else qtype.name.lower()


def write_bad_models():
    """Broken variants of a tiny llama for the error tests (tests/cli/run_errors.sh)."""
    rng = np.random.default_rng(7)
    m, meta, _ = build_llama(rng, T.Q4_0, "llama")
    m.write(os.path.join(OUT, "bad_arch.gguf"), "mamba",
            {k.replace("llama.", "mamba."): v for k, v in meta.items()})
    keep = m.tensors
    m.tensors = [t for t in keep if t[0] != "blk.0.ffn_down.weight"]
    m.write(os.path.join(OUT, "bad_missing_tensor.gguf"), "llama", meta)
    m.tensors = keep
    m.write(os.path.join(OUT, "bad_shape.gguf"), "llama", dict(meta, **{"llama.feed_forward_length": 96}))


def main():
    os.makedirs(OUT, exist_ok=True)
    write_bad_models()
    entries = []
    for arch_i, (arch, (build, forward)) in enumerate(ARCHS.items()):
        for type_i, qtype in enumerate(FLOATS + LEGACY + ["kmix"]):
            rng = np.random.default_rng(1000 * arch_i + type_i)
            m, meta, hp = build(rng, qtype, arch)
            name = f"{arch}_{type_name(qtype)}.gguf"
            m.write(os.path.join(OUT, name), arch, meta)
            logits = forward(m, hp, PROMPT)
            entries.append({"file": name, "arch": arch, "type": type_name(qtype), "tokens": PROMPT,
                            "n_vocab": VOCAB, "logits": [[float(f"{v:.7g}") for v in row] for row in logits]})
            print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes, |logits| max "
                  f"{np.abs(logits).max():.3g}", file=sys.stderr)
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump({"generator": "tests/scripts/gen_layer_golden.py", "prompt": PROMPT, "models": entries}, fh,
                  separators=(",", ":"))
        fh.write("\n")


if __name__ == "__main__":
    main()
