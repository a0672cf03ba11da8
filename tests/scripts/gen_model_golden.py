#!/usr/bin/env python3
"""Golden reference outputs for the real GGUF models in models/ (SmolLM2 = llama arch, Gemma 3 = gemma3 arch).

What it makes: tests/golden/models/<model-basename>.json, one per model, holding for a few prompts
  - the prompt token ids (HF tokenizer built from the same GGUF, with the model's BOS convention),
  - at the last prompt position: top-20 (token id, logit) and full-vocabulary logit statistics,
  - a greedy continuation (argmax each step, no EOS stop, no penalties) with the top-5 logits and the
    top1-top2 gap at each step,
  - for layer-by-layer debugging, at the last prompt position: first 16 values + L2 norm of the
    embedding fed to layer 0, of every decoder layer's output, and of the final-norm output,
  - the hyper-parameters with the GGUF metadata keys they come from, and "notes" on conventions
    (what a C implementation reading the raw GGUF must do), verified as described below.

References, all on CPU:
  1. HF transformers loading the GGUF directly (dequantized to float32), eager attention, float32.
     This is THE golden data.
  2. The same GGUF loaded by HF with dtype=float64 (float64 weights/activations; note that HF's
     RMSNorm still computes its normalisation in float32), for the "float64_check" field.
  3. An independent float64 numpy forward written here, reading the RAW GGUF tensors (gguf-py
     dequantize) with llama.cpp's conventions (raw norm weights, interleaved/NEOX rope on GGUF
     layouts, ...). It agreeing with (1) is what verifies the "notes" a C implementation relies on.

Command (from the repository root; takes ~25 minutes on 2 cores, needs ~8 GB RAM):
    pip install torch transformers sentencepiece protobuf accelerate gguf numpy
    python3 tests/scripts/gen_model_golden.py            # --models-dir models --out-dir tests/golden/models

Generated with: python 3.11.7, torch 2.15.0, transformers 5.23.0, gguf 0.19.0, numpy 2.4.6
(the versions actually used are also recorded in each output file under "versions").
"""

import argparse
import hashlib
import json
import math
import os
import platform
import sys

import numpy as np
import gguf
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

N_GREEDY = 32
N_TOP = 20
N_STEP_TOP = 5
N_FIRST = 16

PROSE = ("In the early morning the old fisherman pushed his small wooden boat into the calm water of the bay. "
         "The sky was still grey, and the only sound was the soft splash of his oars as he rowed toward the open sea.")
PROMPTS = [
    ("capital", "The capital of France is"),
    ("code", "def fibonacci(n):"),
    ("prose", PROSE),
]

# Long prompt (> 512 tokens) only for Gemma 3: exercises the sliding window of the local layers.
SWA_PARAGRAPH = (
    "The village library opened every morning at eight. Its keeper, a patient woman named Clara, "
    "sorted the returned books, watered the plants on the windowsill and wrote the day's date on a "
    "small blackboard by the door. Children came after school to read adventure stories, farmers came "
    "on rainy days to study old maps, and a retired teacher came every afternoon to work on a history "
    "of the valley that he had been writing for eleven years. ")
SWA_TAIL = "When the teacher finally finished his book, he gave the first copy to"
N_GREEDY_SWA = 8

MODELS = [
    {"file": "SmolLM2-135M-Instruct.Q4_1.gguf", "long_swa": False},
    {"file": "gemma-3-270m-q4_k_m.gguf", "long_swa": True},
]


def rnd(x):
    """Float for JSON: 8 significant digits (float32 carries ~7.2), keeps the files small."""
    return float(f"{float(x):.8g}")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# GGUF metadata
# ----------------------------------------------------------------------------------------------

def gguf_fields(reader):
    """All metadata as plain python values (big tokenizer arrays summarised by their length)."""
    out = {}
    for k, f in reader.fields.items():
        if k.startswith("GGUF."):
            continue
        if k in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
                 "tokenizer.ggml.merges"):
            out[k] = f"<array of {len(f.data)}>"
            continue
        if k == "tokenizer.chat_template":
            out[k] = "<string>"
            continue
        v = f.contents()
        if isinstance(v, float):
            v = rnd(v)
        out[k] = v
    return out


# hyper-parameter -> GGUF key (a missing key is recorded as present: false)
HPARAM_KEYS = {
    "llama": {
        "n_layer": "llama.block_count",
        "n_embd": "llama.embedding_length",
        "n_ff": "llama.feed_forward_length",
        "n_head": "llama.attention.head_count",
        "n_head_kv": "llama.attention.head_count_kv",
        "rms_eps": "llama.attention.layer_norm_rms_epsilon",
        "rope_freq_base": "llama.rope.freq_base",
        "rope_dim": "llama.rope.dimension_count",
        "n_ctx_train": "llama.context_length",
        "n_vocab": "llama.vocab_size",
    },
    "gemma3": {
        "n_layer": "gemma3.block_count",
        "n_embd": "gemma3.embedding_length",
        "n_ff": "gemma3.feed_forward_length",
        "n_head": "gemma3.attention.head_count",
        "n_head_kv": "gemma3.attention.head_count_kv",
        "head_dim_k": "gemma3.attention.key_length",
        "head_dim_v": "gemma3.attention.value_length",
        "rms_eps": "gemma3.attention.layer_norm_rms_epsilon",
        "rope_freq_base_global": "gemma3.rope.freq_base",
        "sliding_window": "gemma3.attention.sliding_window",
        "n_ctx_train": "gemma3.context_length",
        "final_logit_softcapping": "gemma3.final_logit_softcapping",
    },
}

# Hyper-parameters that are NOT in the GGUF: (value, where it comes from).
HPARAM_FIXED = {
    "llama": {},
    "gemma3": {
        "n_vocab": (262144, "rows of token_embd.weight (= length of tokenizer.ggml.tokens); no gemma3.vocab_size key"),
        "rope_freq_base_local": (10000.0, "hard-coded for gemma3: llama.cpp rope_freq_base_train_swa, HF "
                                          "rope_local_base_freq default"),
        "sliding_window_pattern": (6, "hard-coded for gemma3 (llama.cpp set_swa_pattern(6), HF default): layer il is "
                                      "global iff (il + 1) % 6 == 0"),
        "attention_scale": (0.0625, "1/sqrt(key_length) (HF 1/sqrt(query_pre_attn_scalar = 256); llama.cpp "
                                    "1/sqrt(n_embd_head_k) except for 27B)"),
    },
}


def read_hparams(reader, arch):
    out = {}
    for name, key in HPARAM_KEYS[arch].items():
        if key in reader.fields:
            v = reader.fields[key].contents()
            out[name] = {"key": key, "value": rnd(v) if isinstance(v, float) else v}
        else:
            out[name] = {"key": key, "value": None, "present": False}
    for name, (value, source) in HPARAM_FIXED[arch].items():
        out[name] = {"key": None, "value": value, "source": source}
    if arch == "gemma3":
        assert out["n_vocab"]["value"] == len(reader.fields["tokenizer.ggml.tokens"].data)
    return out


# ----------------------------------------------------------------------------------------------
# HF reference
# ----------------------------------------------------------------------------------------------

def summary(vec):
    v = np.asarray(vec, dtype=np.float64).reshape(-1)
    return {"first16": [rnd(x) for x in v[:N_FIRST]], "l2": rnd(np.linalg.norm(v))}


def top_pairs(logits, k):
    logits = np.asarray(logits)
    idx = np.argsort(-logits, kind="stable")[:k]
    return [[int(i), rnd(logits[i])] for i in idx]


def logit_stats(logits):
    l64 = np.asarray(logits, dtype=np.float64)
    return {"max": rnd(l64.max()), "argmax": int(l64.argmax()), "mean": rnd(l64.mean()),
            "std_population": rnd(l64.std())}


def hf_decoder_layers(model):
    return model.model.layers


class Capture:
    """Forward hooks: embedding output, each decoder layer's raw output, the final norm's output."""

    def __init__(self, model):
        self.data = {}
        self.handles = []
        inner = model.model
        self.handles.append(inner.embed_tokens.register_forward_hook(self._hook("embed")))
        for i, layer in enumerate(inner.layers):
            self.handles.append(layer.register_forward_hook(self._hook(f"layer{i}")))
        self.handles.append(inner.norm.register_forward_hook(self._hook("norm")))

    def _hook(self, name):
        def fn(_mod, _args, out):
            t = out[0] if isinstance(out, tuple) else out
            self.data[name] = t.detach().clone()
        return fn

    def remove(self):
        for h in self.handles:
            h.remove()


@torch.no_grad()
def hf_prompt_pass(model, ids):
    """One full forward over the prompt; returns last-position logits and layer summaries, and checks
    what HF's output_hidden_states means (documented in the notes)."""
    cap = Capture(model)
    out = model(input_ids=torch.tensor([ids]), use_cache=False, output_hidden_states=True)
    cap.remove()
    n_layer = len(hf_decoder_layers(model))
    hs = out.hidden_states
    assert len(hs) == n_layer + 1
    # hidden_states[0] = embedding output (after any scale) = input of layer 0
    assert torch.equal(hs[0], cap.data["embed"])
    # hidden_states[i] (1 <= i < n_layer) = raw output of decoder layer i-1
    for i in range(1, n_layer):
        assert torch.equal(hs[i], cap.data[f"layer{i-1}"]), i
    # hidden_states[n_layer] = FINAL-NORM output (HF overwrites the last layer's raw output)
    assert torch.equal(hs[n_layer], cap.data["norm"])
    assert not torch.equal(hs[n_layer], cap.data[f"layer{n_layer-1}"])
    last = len(ids) - 1
    logits = out.logits[0, last].float().numpy()
    layers = {
        "embedding": summary(cap.data["embed"][0, last].numpy()),
        "layer_out": [summary(cap.data[f"layer{i}"][0, last].numpy()) for i in range(n_layer)],
        "final_norm": summary(cap.data["norm"][0, last].numpy()),
    }
    raw = {"embed": cap.data["embed"][0, last].double().numpy(),
           "layers": [cap.data[f"layer{i}"][0, last].double().numpy() for i in range(n_layer)],
           "norm": cap.data["norm"][0, last].double().numpy()}
    return logits, layers, raw


@torch.no_grad()
def hf_greedy(model, ids, n):
    """Greedy decoding by full recompute (no KV cache, so no cache code path is involved)."""
    seq = list(ids)
    steps = []
    for _ in range(n):
        logits = model(input_ids=torch.tensor([seq]), use_cache=False, logits_to_keep=1).logits[0, -1]
        logits = logits.float().numpy()
        top = top_pairs(logits, N_STEP_TOP)
        nxt = top[0][0]
        steps.append({"top5": top, "gap12": rnd(top[0][1] - top[1][1])})
        seq.append(nxt)
    return seq[len(ids):], steps


@torch.no_grad()
def hf_generate(model, ids, n):
    out = model.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False, repetition_penalty=1.0,
                         num_beams=1)
    return out[0, len(ids):].tolist()


# ----------------------------------------------------------------------------------------------
# Independent float64 numpy forward from the RAW GGUF tensors (llama.cpp conventions)
# ----------------------------------------------------------------------------------------------

class RawGGUF:
    def __init__(self, path):
        self.reader = gguf.GGUFReader(path)
        self.t = {t.name: t for t in self.reader.tensors}
        self.cache = {}

    def get(self, name):
        """Tensor as float64 numpy array with numpy shape reversed from GGUF ne: (ne1, ne0) = (out, in)."""
        if name not in self.cache:
            t = self.t[name]
            w = gguf.dequantize(t.data, t.tensor_type).astype(np.float64)
            ne = [int(x) for x in t.shape]
            self.cache[name] = w.reshape(list(reversed(ne)))
        return self.cache[name]

    def kv(self, key, default=None):
        return self.reader.fields[key].contents() if key in self.reader.fields else default


# ggml's CPU matmul quantizes the activation row to the weight type's "vec_dot_type" before the dot product:
# Q8_0 blocks of 32 (fp16 scale) for Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 weights (Q8_1 for the *_1 types: same values),
# Q8_K blocks of 256 (float32 scale) for the K-quants. Used only by the deviation study below.
VEC_DOT_Q8_0 = {gguf.GGMLQuantizationType.Q4_0, gguf.GGMLQuantizationType.Q4_1, gguf.GGMLQuantizationType.Q5_0,
                gguf.GGMLQuantizationType.Q5_1, gguf.GGMLQuantizationType.Q8_0}
VEC_DOT_Q8_K = {gguf.GGMLQuantizationType.Q2_K, gguf.GGMLQuantizationType.Q3_K, gguf.GGMLQuantizationType.Q4_K,
                gguf.GGMLQuantizationType.Q5_K, gguf.GGMLQuantizationType.Q6_K}


def q8_roundtrip(x, block, fp16_scale):
    shp = x.shape
    b = x.reshape(-1, block).astype(np.float32)
    amax = np.abs(b).max(axis=1, keepdims=True)
    d = amax / np.float32(127)
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0).astype(np.float32)
    v = b * inv
    q = np.sign(v) * np.floor(np.abs(v) + 0.5)          # roundf: half away from zero
    if fp16_scale:
        d = d.astype(np.float16).astype(np.float32)
    return (q * d).astype(np.float64).reshape(shp)


def f16_roundtrip(x):
    return x.astype(np.float16).astype(np.float64)


def np_rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def np_rope(x, pos, base, mode):
    """x: (T, H, D). mode 'norm' = llama.cpp GGML_ROPE_TYPE_NORM (rotate adjacent pairs 2i,2i+1);
    mode 'neox' = GGML_ROPE_TYPE_NEOX (rotate pairs i, i+D/2)."""
    T, H, D = x.shape
    inv = base ** (-np.arange(0, D, 2, dtype=np.float64) / D)  # theta_i = pos * base^(-2i/D)
    ang = pos[:, None].astype(np.float64) * inv[None, :]         # (T, D/2)
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    y = np.empty_like(x)
    if mode == "norm":
        a, b = x[..., 0::2], x[..., 1::2]
        y[..., 0::2] = a * c - b * s
        y[..., 1::2] = a * s + b * c
    else:
        a, b = x[..., : D // 2], x[..., D // 2:]
        y[..., : D // 2] = a * c - b * s
        y[..., D // 2:] = a * s + b * c
    return y


def np_attention(q, k, v, scale, window, kv_f16=False):
    """q: (T,H,D) k,v: (T,Hkv,D). Causal; with window w a query at position p sees keys at p-w < j <= p.
    kv_f16: emulate ggml's F16 KV cache on CPU (K, V stored as F16; Q and the softmax probabilities are
    converted to F16 for the F16 dot products)."""
    if kv_f16:
        q, k, v = f16_roundtrip(q), f16_roundtrip(k), f16_roundtrip(v)
    T, H, D = q.shape
    Hkv = k.shape[1]
    rep = H // Hkv
    out = np.zeros((T, H, v.shape[2]))
    pos = np.arange(T)
    mask = pos[None, :] <= pos[:, None]
    if window is not None:
        mask &= pos[None, :] > pos[:, None] - window
    for h in range(H):
        kh, vh = k[:, h // rep], v[:, h // rep]
        s = (q[:, h] @ kh.T) * scale
        s = np.where(mask, s, -np.inf)
        s = s - s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        if kv_f16:
            p = f16_roundtrip(p)
        out[:, h] = p @ vh
    return out


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1.0 + np.exp(-x))


def np_forward(g, arch, ids, use_window=True, act_q8=False, kv_f16=False):
    """Returns (last-position logits, {'embed','layers','norm'} at last position), all float64.
    act_q8 / kv_f16: emulate ggml's activation quantization / F16 KV cache (deviation study only)."""
    ids = np.asarray(ids)
    T = len(ids)
    pos = np.arange(T)
    W = g.get

    def mm(h, name):
        if act_q8:
            tt = g.t[name].tensor_type
            if tt in VEC_DOT_Q8_0:
                h = q8_roundtrip(h, 32, True)
            elif tt in VEC_DOT_Q8_K:
                h = q8_roundtrip(h, 256, False)
        return h @ W(name).T

    emb = W("token_embd.weight")          # (n_vocab, n_embd)
    x = emb[ids].copy()
    if arch == "llama":
        L = g.kv("llama.block_count"); H = g.kv("llama.attention.head_count")
        Hkv = g.kv("llama.attention.head_count_kv"); eps = g.kv("llama.attention.layer_norm_rms_epsilon")
        base = g.kv("llama.rope.freq_base")
        D = x.shape[1] // H
    else:
        L = g.kv("gemma3.block_count"); H = g.kv("gemma3.attention.head_count")
        Hkv = g.kv("gemma3.attention.head_count_kv"); eps = g.kv("gemma3.attention.layer_norm_rms_epsilon")
        base = g.kv("gemma3.rope.freq_base"); D = g.kv("gemma3.attention.key_length")
        win = g.kv("gemma3.attention.sliding_window")
        x = x * math.sqrt(x.shape[1])      # embedding scale sqrt(n_embd)
    rec = {"embed": x[-1].copy(), "layers": []}
    for il in range(L):
        p = f"blk.{il}."
        h = np_rmsnorm(x, W(p + "attn_norm.weight"), eps)
        q = mm(h, p + "attn_q.weight").reshape(T, H, D)
        k = mm(h, p + "attn_k.weight").reshape(T, Hkv, D)
        v = mm(h, p + "attn_v.weight").reshape(T, Hkv, -1)
        if arch == "llama":
            q, k = np_rope(q, pos, base, "norm"), np_rope(k, pos, base, "norm")
            a = np_attention(q, k, v, 1.0 / math.sqrt(D), None, kv_f16)
            x = x + mm(a.reshape(T, -1), p + "attn_output.weight")
            h = np_rmsnorm(x, W(p + "ffn_norm.weight"), eps)
            f = silu(mm(h, p + "ffn_gate.weight")) * mm(h, p + "ffn_up.weight")
            x = x + mm(f, p + "ffn_down.weight")
        else:
            is_global = (il + 1) % 6 == 0
            q = np_rmsnorm(q, W(p + "attn_q_norm.weight"), eps)   # per-head RMSNorm over head_dim
            k = np_rmsnorm(k, W(p + "attn_k_norm.weight"), eps)
            rb = base if is_global else 10000.0
            q, k = np_rope(q, pos, rb, "neox"), np_rope(k, pos, rb, "neox")
            window = None if (is_global or not use_window) else win
            a = np_attention(q, k, v, 1.0 / math.sqrt(D), window, kv_f16)
            a = mm(a.reshape(T, -1), p + "attn_output.weight")
            x = x + np_rmsnorm(a, W(p + "post_attention_norm.weight"), eps)
            h = np_rmsnorm(x, W(p + "ffn_norm.weight"), eps)
            f = gelu_tanh(mm(h, p + "ffn_gate.weight")) * mm(h, p + "ffn_up.weight")
            f = mm(f, p + "ffn_down.weight")
            x = x + np_rmsnorm(f, W(p + "post_ffw_norm.weight"), eps)
        rec["layers"].append(x[-1].copy())
    xn = np_rmsnorm(x[-1], W("output_norm.weight"), eps)
    rec["norm"] = xn
    out_name = "output.weight" if "output.weight" in g.t else "token_embd.weight"   # tied when absent
    return mm(xn[None, :], out_name)[0], rec


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def compare_logits(test, ref, top_ids):
    """Differences of `test` against `ref` (both full-vocab logit vectors)."""
    test = np.asarray(test, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    top_ids = np.asarray(top_ids)
    rel_top = np.abs(test[top_ids] - ref[top_ids]) / np.abs(ref[top_ids])
    return {
        "max_abs_diff_all_vocab": float(f"{np.abs(test - ref).max():.3g}"),
        "max_abs_diff_top20": float(f"{np.abs(test[top_ids] - ref[top_ids]).max():.3g}"),
        "max_rel_diff_top20": float(f"{rel_top.max():.3g}"),
        "ref_logit_std": rnd(ref.std()),
        "same_argmax": bool(test.argmax() == ref.argmax()),
        "same_top20_order": bool(np.array_equal(np.argsort(-test)[:N_TOP], np.argsort(-ref)[:N_TOP])),
    }


# ----------------------------------------------------------------------------------------------
# notes
# ----------------------------------------------------------------------------------------------

COMMON_NOTES = [
    "Golden = HF transformers loading this exact GGUF (gguf-py dequantize -> float32 weights), float32 CPU, "
    "eager attention. Activations are NOT quantized (llama.cpp's CPU backend quantizes matmul activations to "
    "Q8_0/Q8_K; doing so gives larger deviations than the float32 tolerances listed under 'tolerances').",
    "Tensor layout: a GGUF 2-D weight with ne = [ne0, ne1] is ne1 rows of ne0 contiguous values; ne0 = input "
    "features, ne1 = output features, so y[j] = sum_i W[j*ne0 + i] * x[i] (same as torch Linear weight "
    "(out, in)). token_embd.weight: ne = [n_embd, n_vocab], row t = embedding of token t.",
    "Token ids: prompt_ids are what the model consumed (BOS included where the model uses one); a C test should "
    "feed these ids directly, so model tests do not depend on the tokenizer.",
    "Positions start at 0 for the first prompt token (the BOS token when present).",
    "Greedy: argmax of the float32 logits at each step (ties broken by the lower token id), computed by full "
    "recompute without KV cache; EOS does NOT stop it (first_eos_index says where the model emitted EOS; a "
    "generator that stops at EOS should match the prefix up to and including it). generate_agrees: HF "
    "model.generate (with KV cache, stops at EOS) gave the same tokens up to its stop.",
    "layers_last_position: vectors at the LAST prompt position only. 'embedding' = input of decoder layer 0 "
    "(after any embedding scale); layer_out[i] = residual stream after decoder layer i (raw, not normed); "
    "'final_norm' = output of the final RMSNorm (what the LM head multiplies). Captured with forward hooks. "
    "Verified relation to HF output_hidden_states: hidden_states[0] == embedding, hidden_states[i] == "
    "layer_out[i-1] for 1 <= i < n_layer, but hidden_states[n_layer] == final_norm (HF replaces the last "
    "layer's raw output by the normed last_hidden_state), so layer_out[n_layer-1] is NOT in hidden_states.",
    "logits_stats: over the full vocabulary at the last prompt position; std is the population std (ddof=0).",
    "Floats are rounded to 8 significant digits.",
]

LLAMA_NOTES = [
    "Architecture (HF LlamaForCausalLM, llama.cpp LLM_ARCH_LLAMA): x = token_embd[id] (no embedding scale); "
    "per layer: h = x + Wo * Attn(RoPE(Wq * rms(x)*attn_norm), RoPE(Wk * rms(x)*attn_norm), Wv * rms(x)*attn_norm); "
    "x = h + Wdown * (silu(Wgate * n) * (Wup * n)) with n = rms(h)*ffn_norm; out = token_embd @ (rms(x)*output_norm).",
    "RMSNorm: y = x / sqrt(mean(x^2) + eps) * w with eps = llama.attention.layer_norm_rms_epsilon "
    "(1e-5 stored as float32 9.9999997e-06); norm weights are used as stored.",
    "RoPE on the GGUF weights: llama.cpp's convert_hf_to_gguf permutes the rows of attn_q/attn_k per head, so "
    "with the GGUF layout RoPE rotates ADJACENT pairs (x[2i], x[2i+1]) (GGML_ROPE_TYPE_NORM) by angle "
    "pos * theta^(-2i/head_dim), theta = llama.rope.freq_base = 100000, head_dim = 64. (HF's loader un-permutes "
    "the rows (LlamaTensorProcessor._reverse_permute_weights) and then uses rotate_half, i.e. pairs (i, i+32): "
    "identical results.) Verified by the numpy forward.",
    "Attention: scale 1/sqrt(head_dim) = 1/8, causal, no bias, GQA: 9 query heads share 3 KV heads; query head "
    "h uses KV head h / 3 (integer division; HF repeat_kv).",
    "Tied output: there is no output.weight tensor; logits = token_embd.weight @ final_norm (HF sets "
    "tie_word_embeddings when output.weight is absent). No logit softcapping, no biases.",
    "BOS: tokenizer.ggml.add_bos_token = false for this GGUF: prompts are NOT prefixed with a BOS token "
    "(tokenizer.ggml.bos_token_id = 1 is '<|im_start|>'). EOS = tokenizer.ggml.eos_token_id = 2 ('<|im_end|>'); "
    "id 0 is '<|endoftext|>'.",
]

GEMMA3_NOTES = [
    "Architecture (HF Gemma3ForCausalLM, llama.cpp LLM_ARCH_GEMMA3), per layer (all norms RMSNorm with "
    "eps = gemma3.attention.layer_norm_rms_epsilon = 1e-6): "
    "a = attn(attn_norm(x)); x = x + post_attention_norm(Wo a); f = Wdown(gelu_tanh(Wgate n) * (Wup n)) with "
    "n = ffn_norm(x); x = x + post_ffw_norm(f). Final: logits = token_embd @ output_norm(x).",
    "GGUF tensor names vs HF: attn_norm = input_layernorm, post_attention_norm = post_attention_layernorm, "
    "ffn_norm = pre_feedforward_layernorm, post_ffw_norm = post_feedforward_layernorm, attn_q_norm/attn_k_norm "
    "= q_norm/k_norm, output_norm = model.norm.",
    "NORM WEIGHTS: HF Gemma3RMSNorm computes x/rms * (1 + w). llama.cpp's converter stores (1 + w) in the GGUF "
    "for every '*norm.weight' (including attn_q_norm/attn_k_norm), and HF's GGUF loader subtracts 1 again "
    "(Gemma2TensorProcessor, used for gemma3: 'if \"norm.weight\" in name: weights - 1'). So a C implementation "
    "reading the raw GGUF must use the stored weights AS IS: y = x / sqrt(mean(x^2) + eps) * w_gguf (do NOT add "
    "1). Verified by the numpy forward, which uses the raw GGUF values.",
    "Embedding scale: x0 = token_embd[id] * sqrt(n_embd) = * sqrt(640); HF multiplies by the float32 value "
    "float32(sqrt(640)) = 25.298221 in float32 (Gemma3TextScaledWordEmbedding, embed_scale cast to the weight "
    "dtype; llama.cpp: ggml_scale(x, sqrtf(n_embd))). Only the input embedding is scaled, not the tied LM head.",
    "q_norm/k_norm: after the Q/K projections, each head's 256-vector is RMS-normalised with attn_q_norm / "
    "attn_k_norm (256 weights, shared by all heads), BEFORE RoPE. V is not normed.",
    "Attention scale: 1/sqrt(query_pre_attn_scalar) = 1/sqrt(256) = 1/16 (HF config query_pre_attn_scalar = "
    "256 (default; not in the GGUF); llama.cpp uses 1/sqrt(key_length) for all sizes except 27B). No attention "
    "logit softcapping (HF attn_logit_softcapping = None; llama.cpp has none for gemma3).",
    "Heads: 4 query heads of head_dim 256 (gemma3.attention.key_length; NOT n_embd/n_head = 160), 1 KV head "
    "(all query heads share it). Q projection is 640 -> 1024, K/V 640 -> 256, O 1024 -> 640.",
    "RoPE: NEOX style (rotate pairs (x[i], x[i+128]) with angle pos * base^(-2i/256)); the GGUF Q/K rows are NOT "
    "permuted for gemma3 (llama.cpp LLAMA_ROPE_TYPE_NEOX; HF rotate_half on the unpermuted weights). Base: "
    "GLOBAL (full-attention) layers use gemma3.rope.freq_base = 1e6; LOCAL (sliding) layers use 10000 (not in "
    "the GGUF: llama.cpp hard-codes rope_freq_base_train_swa = 10000, HF rope_local_base_freq default 10000). "
    "No rope scaling for this model.",
    "Sliding window: layers with (il + 1) % 6 == 0, i.e. 5, 11, 17, are GLOBAL (full causal attention); all "
    "others are LOCAL with window W = gemma3.attention.sliding_window = 512: the query at position p attends "
    "to keys j with p - W < j <= p (512 keys including itself). HF: kv_idx > q_idx - sliding_window; llama.cpp "
    "LLAMA_SWA_TYPE_STANDARD masks p - j >= W. The pattern 6 is not in the GGUF (llama.cpp set_swa_pattern(6), "
    "HF sliding_window_pattern default 6). Only the 'long_swa' case (> 512 tokens) exercises the window.",
    "MLP activation: GELU tanh approximation (HF gelu_pytorch_tanh): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), "
    "applied to the gate projection, multiplied by the up projection.",
    "Final logit softcapping: none (HF final_logit_softcapping = None; no gemma3.final_logit_softcapping key).",
    "Tied output: no output.weight; logits = token_embd.weight @ output_norm(x) (unscaled embedding matrix).",
    "BOS: Gemma 3 always starts with <bos> (id 2; tokenizer.ggml.add_bos_token = true). EOS id 1 ('<eos>'); "
    "the instruction-tuned end-of-turn token <end_of_turn> (id 106) is not EOS in this GGUF's metadata.",
    "Vocabulary 262144 (no gemma3.vocab_size key; the n_vocab comes from token_embd / tokenizer.ggml.tokens).",
]


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------

def loader_check(model, reader, arch):
    """Checks on how HF's (legacy, gguf-py based) GGUF loader turned the raw tensors into HF weights; these are
    the facts the notes state. Raises on any mismatch; returns a short record for the output file."""
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            assert type(mod) is torch.nn.Linear and mod.weight.dtype == torch.float32, name
    sd = model.state_dict()
    t = {x.name: x for x in reader.tensors}

    def deq(n):
        x = t[n]
        return gguf.dequantize(x.data, x.tensor_type).reshape(list(reversed([int(s) for s in x.shape])))

    def same(hf, raw):
        return np.array_equal(sd[hf].numpy(), raw)

    rec = {}
    assert same("model.embed_tokens.weight", deq("token_embd.weight"))
    assert same("model.layers.0.mlp.down_proj.weight", deq("blk.0.ffn_down.weight"))
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    rec["dense_float32_weights_equal_gguf_py_dequantize"] = True
    rec["lm_head_is_token_embd"] = True
    if arch == "gemma3":
        for hf, raw in [("model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"),
                        ("model.layers.0.post_attention_layernorm.weight", "blk.0.post_attention_norm.weight"),
                        ("model.layers.0.pre_feedforward_layernorm.weight", "blk.0.ffn_norm.weight"),
                        ("model.layers.0.post_feedforward_layernorm.weight", "blk.0.post_ffw_norm.weight"),
                        ("model.layers.0.self_attn.q_norm.weight", "blk.0.attn_q_norm.weight"),
                        ("model.layers.0.self_attn.k_norm.weight", "blk.0.attn_k_norm.weight"),
                        ("model.norm.weight", "output_norm.weight")]:
            assert same(hf, deq(raw) - np.float32(1)), hf
        assert same("model.layers.0.self_attn.q_proj.weight", deq("blk.0.attn_q.weight"))
        assert same("model.layers.0.self_attn.k_proj.weight", deq("blk.0.attn_k.weight"))
        rec["hf_norm_weight_equals_gguf_minus_1"] = True
        rec["q_k_rows_not_permuted"] = True
    else:
        assert same("model.layers.0.input_layernorm.weight", deq("blk.0.attn_norm.weight"))
        assert same("model.norm.weight", deq("output_norm.weight"))
        n_head = model.config.num_attention_heads
        n_kv = model.config.num_key_value_heads
        for hf, raw, nh in [("model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight", n_head),
                            ("model.layers.0.self_attn.k_proj.weight", "blk.0.attn_k.weight", n_kv)]:
            g = deq(raw)
            d = g.shape[0] // nh
            # HF row h*d + a*(d/2) + j  ==  GGUF row h*d + 2*j + a   (a in {0,1}, j < d/2)
            expect = g.reshape(nh, d // 2, 2, -1).swapaxes(1, 2).reshape(g.shape)
            assert same(hf, expect), hf
        rec["hf_q_k_rows_unpermuted: HF row h*d + a*d/2 + j == GGUF row h*d + 2j + a"] = True
        rec["norm_weights_as_stored"] = True
    return rec


def first_eos(ids, eos):
    return next((i for i, t in enumerate(ids) if t == eos), None)


def run_model(spec, models_dir, np_check, log):
    path = os.path.join(models_dir, spec["file"])
    reader = gguf.GGUFReader(path)
    arch = reader.fields["general.architecture"].contents()
    add_bos = reader.fields["tokenizer.ggml.add_bos_token"].contents()
    bos = reader.fields["tokenizer.ggml.bos_token_id"].contents()
    eos = reader.fields["tokenizer.ggml.eos_token_id"].contents()
    log(f"== {spec['file']} arch={arch} add_bos={add_bos} bos={bos} eos={eos}")

    tok = AutoTokenizer.from_pretrained(models_dir, gguf_file=spec["file"])
    model = AutoModelForCausalLM.from_pretrained(models_dir, gguf_file=spec["file"], dtype=torch.float32,
                                                 attn_implementation="eager")
    model.eval()
    loader = loader_check(model, reader, arch)
    log(f"  loader check: {loader}")

    prompts = list(PROMPTS)
    if spec["long_swa"]:
        prompts.append(("long_swa", SWA_PARAGRAPH * 7 + SWA_TAIL))   # 624 tokens

    cases = []
    raws = {}
    for name, text in prompts:
        ids = tok(text).input_ids
        if add_bos:
            assert ids[0] == bos, (name, ids[:3])
        else:
            assert ids[0] != bos, (name, ids[:3])
        assert tok.decode(ids, skip_special_tokens=True) == text, name
        logits, layers, raw = hf_prompt_pass(model, ids)
        raws[name] = (ids, logits, raw)
        n_gen = N_GREEDY_SWA if name == "long_swa" else N_GREEDY
        gen, steps = hf_greedy(model, ids, n_gen)
        assert gen[0] == int(np.argmax(logits))
        ref_gen = hf_generate(model, ids, n_gen)
        stop = first_eos(gen, eos)
        upto = len(gen) if stop is None else stop + 1
        agrees = ref_gen[:upto] == gen[:upto]
        text_out = tok.decode(gen)
        log(f"  [{name}] n_prompt={len(ids)} greedy: {text_out!r}  generate_agrees={agrees}")
        case = {
            "name": name,
            "prompt": text,
            "n_prompt": len(ids),
            "prompt_ids": ids,
            "last_position": {"top20": top_pairs(logits, N_TOP), "logits_stats": logit_stats(logits)},
            "greedy": {
                "n": n_gen,
                "ids": gen,
                "text": text_out,
                "first_eos_index": stop,
                "min_gap12": rnd(min(s["gap12"] for s in steps)),
                "generate_agrees": agrees,
                "steps": steps,
            },
            "layers_last_position": layers,
        }
        if name == "long_swa":
            # Same prompt with the window disabled (all layers full causal attention, rope unchanged).
            nw_logits = hf_no_window_logits(model, ids)
            case["without_window"] = {
                "description": "same prompt, sliding window IGNORED in the local layers (everything else equal): "
                               "what an implementation that forgets the window would produce",
                "top5": top_pairs(nw_logits, N_STEP_TOP),
                "max_abs_logit_diff_vs_golden": rnd(np.abs(nw_logits.astype(np.float64) - logits).max()),
            }
            window = reader.fields["gemma3.attention.sliding_window"].contents()
            assert len(ids) > window + 64, (len(ids), window)
            assert case["without_window"]["max_abs_logit_diff_vs_golden"] > 1e-2, "window does not matter"
            log(f"  [long_swa] without window: top5={case['without_window']['top5']} "
                f"maxdiff={case['without_window']['max_abs_logit_diff_vs_golden']}")
        cases.append(case)

    result = {
        "tolerances": {},
    }

    # float64 HF run on the first prompt
    ids0, logits0, raw0 = raws["capital"]
    top_ids = [p[0] for p in top_pairs(logits0, N_TOP)]
    # A second instance loaded in float64 (the float32-dequantized weights cast exactly to float64);
    # HF refuses .double()/.float() on a model loaded from GGUF.
    m64 = AutoModelForCausalLM.from_pretrained(models_dir, gguf_file=spec["file"], dtype=torch.float64,
                                               attn_implementation="eager").eval()
    assert next(m64.parameters()).dtype == torch.float64
    with torch.no_grad():
        l64 = m64(input_ids=torch.tensor([ids0]), use_cache=False).logits[0, -1].numpy()
    del m64
    result["float64_check"] = {
        "description": "HF float32 golden logits (last position of case 'capital') vs the same GGUF loaded by HF "
                       "with dtype=float64 (float64 weights/activations, but HF's RMSNorm still normalises in "
                       "float32, so this bounds the error from below; numpy_float64_check is pure float64)",
        **compare_logits(logits0, l64, top_ids),
    }
    log(f"  float64 HF check: {result['float64_check']}")

    if np_check:
        g = RawGGUF(path)
        npres = []
        deviations = []
        for name in [c["name"] for c in cases]:
            ids, logits, raw = raws[name]
            nl, rec = np_forward(g, arch, ids)
            top = [p[0] for p in top_pairs(logits, N_TOP)]
            d = {"case": name, **compare_logits(logits, nl, top),
                 "rel_l2_embedding": float(f"{rel_l2(raw['embed'], rec['embed']):.3g}"),
                 "max_rel_l2_layer_out": float(f"{max(rel_l2(a, b) for a, b in zip(raw['layers'], rec['layers'])):.3g}"),
                 "rel_l2_final_norm": float(f"{rel_l2(raw['norm'], rec['norm']):.3g}")}
            if name == "long_swa":
                nl_nw, _ = np_forward(g, arch, ids, use_window=False)
                case = next(c for c in cases if c["name"] == name)
                d["numpy_without_window_vs_hf_without_window_top5_ids_equal"] = (
                    [p[0] for p in top_pairs(nl_nw, N_STEP_TOP)] == [p[0] for p in case["without_window"]["top5"]])
            npres.append(d)
            log(f"  numpy f64 vs HF f32 [{name}]: {d}")
            if name in ("capital", "prose"):
                for mode, kw in [("act_q8", {"act_q8": True}), ("kv_f16", {"kv_f16": True}),
                                 ("act_q8+kv_f16", {"act_q8": True, "kv_f16": True})]:
                    dl, _ = np_forward(g, arch, ids, **kw)
                    dd = {"case": name, "mode": mode, **compare_logits(dl, logits, top)}
                    deviations.append(dd)
                    log(f"  deviation study {dd}")
        del g
        result["numpy_float64_check"] = {
            "description": "HF float32 golden vs an independent float64 numpy forward in gen_model_golden.py that reads "
                           "the RAW GGUF tensors and follows llama.cpp conventions (see notes). Differences are "
                           "float32 rounding in HF (values: test = HF f32, ref = numpy f64).",
            "per_case": npres,
        }
        result["deviation_study"] = {
            "description": "How far ggml-style shortcuts move the logits (numpy float64 forward with the shortcut "
                           "vs the HF float32 golden; test = shortcut, ref = golden). act_q8: every matmul with a "
                           "quantized weight first rounds its input rows to Q8_0 (32-blocks, fp16 scale; for "
                           "Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 weights) or Q8_K (256-blocks, f32 scale; for K-quants), as "
                           "ggml's CPU vec_dot does. kv_f16: K and V stored as F16 and Q / softmax probabilities "
                           "rounded to F16 for the attention products, as with ggml's default F16 KV cache. Use "
                           "these numbers to set test tolerances if the C code takes these shortcuts.",
            "per_case": deviations,
        }

    worst_rel = max([result["float64_check"]["max_rel_diff_top20"]] +
                    [d["max_rel_diff_top20"] for d in result.get("numpy_float64_check", {}).get("per_case", [])])
    worst_abs = max([result["float64_check"]["max_abs_diff_all_vocab"]] +
                    [d["max_abs_diff_all_vocab"] for d in result.get("numpy_float64_check", {}).get("per_case", [])])
    result["tolerances"] = {
        "measured_max_rel_diff_top20_f32_vs_f64": worst_rel,
        "measured_max_abs_diff_all_vocab_f32_vs_f64": worst_abs,
        "measured_max_abs_diff_all_vocab_with_act_q8_and_kv_f16": max(
            [d["max_abs_diff_all_vocab"] for d in result.get("deviation_study", {}).get("per_case", [])], default=None),
        "suggestion": "An implementation computing in float32 on weights dequantized exactly like gguf-py differs "
                      "from this golden data only by float32 rounding (the measured f32-vs-f64 numbers above; "
                      "accumulation order adds about as much again): abs 2e-3 on all logits / rel 1e-4 on the top-20 "
                      "is a comfortable bound with margin, and the greedy tokens must match at every step whose gap12 "
                      "is above ~1e-3. With ggml-style shortcuts (activation quantization, F16 KV cache) use the "
                      "deviation_study numbers with a 2-3x margin instead and only compare greedy steps whose gap12 "
                      "exceeds that.",
    }

    hparams = read_hparams(reader, arch)
    out = {
        "format": "ctorch model golden v1",
        "generated_by": "tests/scripts/gen_model_golden.py",
        "command": "python3 tests/scripts/gen_model_golden.py --models-dir models --out-dir tests/golden/models",
        "versions": versions(),
        "model_file": spec["file"],
        "model_file_bytes": os.path.getsize(path),
        "model_file_sha256": sha256(path),
        "architecture": arch,
        "hparams": hparams,
        "hf_config": {k: v for k, v in model.config.to_dict().items()
                      if k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                               "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_parameters",
                               "sliding_window", "layer_types", "query_pre_attn_scalar", "final_logit_softcapping",
                               "attn_logit_softcapping", "hidden_act", "hidden_activation", "tie_word_embeddings",
                               "vocab_size", "bos_token_id", "eos_token_id")},
        "tokenizer": {"add_bos_token": add_bos, "bos_token_id": bos, "eos_token_id": eos,
                      "hf_tokenizer_class": type(tok).__name__},
        "gguf_metadata": gguf_fields(reader),
        "notes": COMMON_NOTES + (LLAMA_NOTES if arch == "llama" else GEMMA3_NOTES),
        "hf_loader_check": loader,
        "compute": {"framework": "HF transformers", "dtype": "float32", "attn_implementation": "eager",
                    "device": "cpu", "torch_threads": torch.get_num_threads()},
        **result,
        "cases": cases,
    }
    del model
    return out


@torch.no_grad()
def hf_no_window_logits(model, ids):
    """Last-position logits with the sliding-window mask replaced by the plain causal mask in every layer
    (rope bases unchanged)."""
    from transformers.masking_utils import create_causal_mask
    inputs_embeds = model.model.embed_tokens(torch.tensor([ids]))
    pos = torch.arange(len(ids)).unsqueeze(0)
    causal = create_causal_mask(config=model.config, inputs_embeds=inputs_embeds, attention_mask=None,
                                past_key_values=None, position_ids=pos)
    assert causal is not None  # eager attention needs an explicit mask
    mapping = {"full_attention": causal, "sliding_attention": causal}
    saved = [layer.self_attn.sliding_window for layer in hf_decoder_layers(model)]
    for layer in hf_decoder_layers(model):
        layer.self_attn.sliding_window = None
    try:
        out = model(input_ids=torch.tensor([ids]), attention_mask=mapping, use_cache=False, logits_to_keep=1)
    finally:
        for layer, w in zip(hf_decoder_layers(model), saved):
            layer.self_attn.sliding_window = w
    return out.logits[0, -1].float().numpy()


def versions():
    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "gguf": getattr(gguf, "__version__", None) or
            __import__("importlib.metadata").metadata.version("gguf"), "numpy": np.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.abspath(os.path.join(here, "..", ".."))
    ap.add_argument("--models-dir", default=os.path.join(repo, "models"))
    ap.add_argument("--out-dir", default=os.path.join(repo, "tests", "golden", "models"))
    ap.add_argument("--only", default=None, help="substring of the model file name to run")
    ap.add_argument("--no-numpy-check", action="store_true", help="skip the float64 numpy cross-check")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    os.makedirs(args.out_dir, exist_ok=True)

    def log(msg):
        print(msg, flush=True)

    for spec in MODELS:
        if args.only and args.only not in spec["file"]:
            continue
        out = run_model(spec, args.models_dir, not args.no_numpy_check, log)
        base = os.path.splitext(spec["file"])[0]
        dst = os.path.join(args.out_dir, base + ".json")
        with open(dst, "w") as f:
            json.dump(out, f, separators=(",", ":"), ensure_ascii=False)
            f.write("\n")
        log(f"wrote {dst} ({os.path.getsize(dst)} bytes)")


if __name__ == "__main__":
    sys.exit(main())
