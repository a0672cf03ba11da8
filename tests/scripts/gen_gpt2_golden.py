#!/usr/bin/env python3
"""Synthetic GPT-2 GGUF models + golden outputs (no GPT-2 GGUF is packaged with the project).

What it makes (in tests/golden/models/):
  gpt2-synth-f32.gguf  + .json : all tensors F32, with an UNTIED output.weight (differs from token_embd)
  gpt2-synth-f16.gguf  + .json : the same weights with every 2-D tensor rounded to F16 (1-D norms/biases stay
                                 F32, as llama.cpp's converter does), and NO output.weight (tied to token_embd)

Model: n_embd 64, 2 layers, 4 heads (head_dim 16), n_ff 256, n_ctx 128, layer-norm eps 1e-5, seeded random
weights (numpy default_rng(20240601)), gelu (tanh approximation) as GPT-2.
Vocabulary: the REAL GPT-2 byte-level BPE vocabulary from /work/shared/testdata/vocab/ggml-vocab-gpt-2.gguf
TRUNCATED to its first 2000 tokens (the 256 byte tokens + the tokens made by the first 1744 merges; GPT-2 token
256+i is exactly the result of merge i, checked below) plus "<|endoftext|>" re-numbered to id 2000 (BOS=EOS).
Truncated because a full 50257-row embedding at n_embd 64 would be 13 MB per copy; this keeps each GGUF < 2 MB
while still being a consistent GPT-2 tokenizer (tokenizer.ggml.model gpt2, pre gpt-2). n_vocab = 2001 is
deliberately not a multiple of 32.

GGUF layout (as llama.cpp's convert_hf_to_gguf.py GPT2Model writes it): HF GPT-2 uses Conv1D whose weight is
(in, out); the converter transposes c_attn/c_proj/c_fc weights, so the GGUF matrices have torch-Linear layout
(out, in), i.e. ne = [in, out]: y[j] = sum_i W[j*in + i] x[i] + b[j].

References: (1) HF GPT2LMHeadModel with the same weights (float32, eager) = THE golden data; (2) HF loading
the written GGUF file itself (checks the GGUF conventions as HF's GGUF loader reads them); (3) an independent
float64 numpy forward that reads the written GGUF with gguf-py. All three must agree.

Command (from the repository root; ~1 minute):
    pip install torch transformers tokenizers gguf numpy
    python3 tests/scripts/gen_gpt2_golden.py    # --vocab /work/shared/testdata/vocab/ggml-vocab-gpt-2.gguf

Generated with: python 3.11.7, torch 2.15.0, transformers 5.23.0, gguf 0.19.0, numpy 2.4.6 (recorded in the
output files under "versions").
"""

import argparse
import json
import math
import os
import platform
import sys

import numpy as np
import gguf
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

N_EMBD, N_LAYER, N_HEAD, N_CTX, N_FF, EPS = 64, 2, 4, 128, 256, 1e-5
N_REAL_TOKENS = 2000           # real GPT-2 tokens kept (ids 0..1999)
EOT_ID = N_REAL_TOKENS         # <|endoftext|> re-numbered
N_VOCAB = N_REAL_TOKENS + 1
SEED = 20240601
N_GREEDY = 16
N_TOP, N_STEP_TOP, N_FIRST = 20, 5, 16
PROMPTS = [
    ("capital", "The capital of France is"),
    ("story", "Once upon a time, there was a little girl who lived in a village near the forest."),
]


def rnd(x):
    return float(f"{float(x):.8g}")


def make_weights(rng):
    """HF GPT-2 state dict (numpy float32). Scales chosen so activations stay O(1), attention is not uniform,
    and logits have a spread of several units (clear greedy choices)."""
    def n(*shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)
    sd = {"transformer.wte.weight": n(N_VOCAB, N_EMBD, std=0.5),
          "transformer.wpe.weight": n(N_CTX, N_EMBD, std=0.3)}
    for i in range(N_LAYER):
        p = f"transformer.h.{i}."
        sd[p + "ln_1.weight"] = 1.0 + n(N_EMBD, std=0.1)
        sd[p + "ln_1.bias"] = n(N_EMBD, std=0.1)
        sd[p + "attn.c_attn.weight"] = n(N_EMBD, 3 * N_EMBD, std=0.2)     # Conv1D: (in, out)
        sd[p + "attn.c_attn.bias"] = n(3 * N_EMBD, std=0.1)
        sd[p + "attn.c_proj.weight"] = n(N_EMBD, N_EMBD, std=0.3)
        sd[p + "attn.c_proj.bias"] = n(N_EMBD, std=0.05)
        sd[p + "ln_2.weight"] = 1.0 + n(N_EMBD, std=0.1)
        sd[p + "ln_2.bias"] = n(N_EMBD, std=0.1)
        sd[p + "mlp.c_fc.weight"] = n(N_EMBD, N_FF, std=0.15)
        sd[p + "mlp.c_fc.bias"] = n(N_FF, std=0.1)
        sd[p + "mlp.c_proj.weight"] = n(N_FF, N_EMBD, std=0.2)
        sd[p + "mlp.c_proj.bias"] = n(N_EMBD, std=0.05)
    sd["transformer.ln_f.weight"] = 1.0 + n(N_EMBD, std=0.1)
    sd["transformer.ln_f.bias"] = n(N_EMBD, std=0.1)
    sd["lm_head.weight"] = n(N_VOCAB, N_EMBD, std=0.3)                     # untied variant only
    return sd


def round_f16(sd):
    """Every 2-D tensor rounded to float16 (then held as float32): what the F16 GGUF stores exactly."""
    return {k: (v.astype(np.float16).astype(np.float32) if v.ndim == 2 else v) for k, v in sd.items()}


def gguf_tensors(sd, tied):
    """HF state dict -> llama.cpp gpt2 tensor names/layouts (numpy shape (out, in) == GGUF ne [in, out])."""
    t = {"token_embd.weight": sd["transformer.wte.weight"],
         "position_embd.weight": sd["transformer.wpe.weight"]}
    for i in range(N_LAYER):
        p, b = f"transformer.h.{i}.", f"blk.{i}."
        t[b + "attn_norm.weight"] = sd[p + "ln_1.weight"]
        t[b + "attn_norm.bias"] = sd[p + "ln_1.bias"]
        t[b + "attn_qkv.weight"] = sd[p + "attn.c_attn.weight"].T      # Conv1D (in,out) -> (out,in)
        t[b + "attn_qkv.bias"] = sd[p + "attn.c_attn.bias"]
        t[b + "attn_output.weight"] = sd[p + "attn.c_proj.weight"].T
        t[b + "attn_output.bias"] = sd[p + "attn.c_proj.bias"]
        t[b + "ffn_norm.weight"] = sd[p + "ln_2.weight"]
        t[b + "ffn_norm.bias"] = sd[p + "ln_2.bias"]
        t[b + "ffn_up.weight"] = sd[p + "mlp.c_fc.weight"].T
        t[b + "ffn_up.bias"] = sd[p + "mlp.c_fc.bias"]
        t[b + "ffn_down.weight"] = sd[p + "mlp.c_proj.weight"].T
        t[b + "ffn_down.bias"] = sd[p + "mlp.c_proj.bias"]
    t["output_norm.weight"] = sd["transformer.ln_f.weight"]
    t["output_norm.bias"] = sd["transformer.ln_f.bias"]
    if not tied:
        t["output.weight"] = sd["lm_head.weight"]
    return {k: np.ascontiguousarray(v) for k, v in t.items()}


def truncated_vocab(vocab_path):
    r = gguf.GGUFReader(vocab_path)
    toks = r.fields["tokenizer.ggml.tokens"].contents()
    merges = r.fields["tokenizer.ggml.merges"].contents()
    types = r.fields["tokenizer.ggml.token_type"].contents()
    assert toks[50256] == "<|endoftext|>"
    n_merges = N_REAL_TOKENS - 256
    for i in range(n_merges):   # token 256+i is the result of merge i: the prefix is a closed BPE vocabulary
        a, b = merges[i].split(" ")
        assert toks[256 + i] == a + b, i
    return (list(toks[:N_REAL_TOKENS]) + ["<|endoftext|>"], list(merges[:n_merges]),
            list(types[:N_REAL_TOKENS]) + [int(gguf.TokenType.CONTROL)])


def write_gguf(path, tensors, vocab, f16):
    tokens, merges, types = vocab
    w = gguf.GGUFWriter(path, "gpt2")
    w.add_name("gpt2-synth-" + ("f16" if f16 else "f32"))
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_feed_forward_length(N_FF)
    w.add_block_count(N_LAYER)
    w.add_head_count(N_HEAD)
    w.add_layer_norm_eps(EPS)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(EOT_ID)
    w.add_eos_token_id(EOT_ID)
    w.add_add_bos_token(False)
    for name, arr in tensors.items():
        w.add_tensor(name, arr.astype(np.float16) if (f16 and arr.ndim == 2) else arr.astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def hf_model(sd, tied):
    cfg = GPT2Config(vocab_size=N_VOCAB, n_positions=N_CTX, n_embd=N_EMBD, n_layer=N_LAYER, n_head=N_HEAD,
                     n_inner=N_FF, activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0,
                     attn_pdrop=0.0, layer_norm_epsilon=EPS, bos_token_id=EOT_ID, eos_token_id=EOT_ID,
                     tie_word_embeddings=tied)
    cfg._attn_implementation = "eager"
    m = GPT2LMHeadModel(cfg).eval()
    state = {k: torch.from_numpy(v.copy()) for k, v in sd.items() if not (tied and k == "lm_head.weight")}
    missing, unexpected = m.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    assert all(k == "lm_head.weight" and tied for k in missing) or not missing, missing
    if tied:
        assert m.lm_head.weight.data_ptr() == m.transformer.wte.weight.data_ptr()
    else:
        assert torch.equal(m.lm_head.weight, state["lm_head.weight"])
    return m


# ---------------------------------------------------------------------------------------------- numpy f64

def np_layernorm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def np_forward(path, ids):
    """float64 forward reading the GGUF file (gguf-py): returns all-position logits and per-layer vectors."""
    r = gguf.GGUFReader(path)
    W = {}
    for t in r.tensors:
        ne = [int(x) for x in t.shape]
        W[t.name] = np.asarray(t.data, dtype=np.float64).reshape(list(reversed(ne)))
    n_head = int(r.fields["gpt2.attention.head_count"].contents())
    T = len(ids)
    x = W["token_embd.weight"][ids] + W["position_embd.weight"][:T]
    rec = {"embed": x[-1].copy(), "layers": []}
    D = x.shape[1] // n_head
    mask = np.tril(np.ones((T, T), dtype=bool))
    for i in range(N_LAYER):
        b = f"blk.{i}."
        h = np_layernorm(x, W[b + "attn_norm.weight"], W[b + "attn_norm.bias"])
        qkv = h @ W[b + "attn_qkv.weight"].T + W[b + "attn_qkv.bias"]
        q, k, v = qkv[:, :N_EMBD], qkv[:, N_EMBD:2 * N_EMBD], qkv[:, 2 * N_EMBD:]
        att = np.zeros((T, N_EMBD))
        for hd in range(n_head):
            sl = slice(hd * D, (hd + 1) * D)
            s = q[:, sl] @ k[:, sl].T / math.sqrt(D)
            s = np.where(mask, s, -np.inf)
            p = np.exp(s - s.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            att[:, sl] = p @ v[:, sl]
        x = x + att @ W[b + "attn_output.weight"].T + W[b + "attn_output.bias"]
        h = np_layernorm(x, W[b + "ffn_norm.weight"], W[b + "ffn_norm.bias"])
        f = gelu_tanh(h @ W[b + "ffn_up.weight"].T + W[b + "ffn_up.bias"])
        x = x + f @ W[b + "ffn_down.weight"].T + W[b + "ffn_down.bias"]
        rec["layers"].append(x[-1].copy())
    xn = np_layernorm(x, W["output_norm.weight"], W["output_norm.bias"])
    rec["norm"] = xn[-1].copy()
    out = W["output.weight"] if "output.weight" in W else W["token_embd.weight"]
    return xn @ out.T, rec


# ---------------------------------------------------------------------------------------------- HF golden

def summary(v):
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    return {"first16": [rnd(x) for x in v[:N_FIRST]], "l2": rnd(np.linalg.norm(v))}


def top_pairs(logits, k):
    idx = np.argsort(-np.asarray(logits), kind="stable")[:k]
    return [[int(i), rnd(logits[i])] for i in idx]


@torch.no_grad()
def hf_pass(m, ids):
    cap = {}
    hooks = [m.transformer.h[0].register_forward_pre_hook(
        lambda mod, args, kwargs: cap.__setitem__("embed", (args[0] if args else kwargs["hidden_states"]).clone()),
        with_kwargs=True)]
    for i, blk in enumerate(m.transformer.h):
        hooks.append(blk.register_forward_hook(
            lambda mod, a, out, i=i: cap.__setitem__(f"layer{i}", (out[0] if isinstance(out, tuple) else out).clone())))
    hooks.append(m.transformer.ln_f.register_forward_hook(lambda mod, a, out: cap.__setitem__("norm", out.clone())))
    out = m(input_ids=torch.tensor([ids]), use_cache=False)
    for h in hooks:
        h.remove()
    last = len(ids) - 1
    logits = out.logits[0, last].numpy()
    layers = {"embedding": summary(cap["embed"][0, last].numpy()),
              "layer_out": [summary(cap[f"layer{i}"][0, last].numpy()) for i in range(N_LAYER)],
              "final_norm": summary(cap["norm"][0, last].numpy())}
    raw = {"embed": cap["embed"][0, last].double().numpy(),
           "layers": [cap[f"layer{i}"][0, last].double().numpy() for i in range(N_LAYER)],
           "norm": cap["norm"][0, last].double().numpy()}
    return logits, out.logits[0].numpy(), layers, raw


@torch.no_grad()
def hf_greedy(m, ids, n):
    seq, steps = list(ids), []
    for _ in range(n):
        logits = m(input_ids=torch.tensor([seq]), use_cache=False).logits[0, -1].numpy()
        top = top_pairs(logits, N_STEP_TOP)
        steps.append({"top5": top, "gap12": rnd(top[0][1] - top[1][1])})
        seq.append(top[0][0])
    return seq[len(ids):], steps


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def versions():
    import importlib.metadata as md
    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "gguf": md.version("gguf"), "numpy": np.__version__}


NOTES = [
    "Synthetic GPT-2 (random weights, seed in 'seed'): the text it generates is meaningless; only the numbers "
    "matter. Golden = HF GPT2LMHeadModel (float32, eager attention, CPU) holding exactly the weights in the GGUF "
    "(F16 variant: the F16 values converted to float32).",
    "GGUF keys: gpt2.context_length (n_ctx = rows of position_embd), gpt2.embedding_length, "
    "gpt2.feed_forward_length, gpt2.block_count, gpt2.attention.head_count (head_dim = n_embd / n_head), "
    "gpt2.attention.layer_norm_epsilon (LayerNorm eps).",
    "Forward: x = token_embd[id] + position_embd[pos] (pos from 0); per layer: h = LN(x; attn_norm.{weight,bias}); "
    "qkv = attn_qkv.weight * h + attn_qkv.bias (3*n_embd outputs: [Q | K | V], head h of each at "
    "[h*head_dim, (h+1)*head_dim)); causal softmax attention per head with scale 1/sqrt(head_dim); "
    "x = x + attn_output.weight * concat_heads + attn_output.bias; h = LN(x; ffn_norm); "
    "x = x + ffn_down.weight * gelu(ffn_up.weight * h + ffn_up.bias) + ffn_down.bias; "
    "logits = W_out * LN(x; output_norm.{weight,bias}).",
    "LayerNorm: (x - mean) / sqrt(var + eps) * w + b, var = population variance (ddof 0), eps = 1e-5.",
    "GELU: tanh approximation (HF 'gelu_new'): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).",
    "Matrix layout: GGUF ne = [in, out] (row j of 'in' contiguous values produces output j), like every other "
    "arch. HF GPT-2 Conv1D weights are (in, out) and were TRANSPOSED when writing (llama.cpp convert_hf_to_gguf "
    "GPT2Model transposes c_attn/c_proj/c_fc). attn_qkv.weight ne = [64, 192], attn_output ne = [64, 64], "
    "ffn_up ne = [64, 256], ffn_down ne = [256, 64], token_embd ne = [64, 2001], position_embd ne = [64, 128].",
    "Output: the f32 variant HAS output.weight and it is NOT equal to token_embd (untied: using token_embd "
    "there gives wrong logits). The f16 variant has NO output.weight: the LM head is token_embd (tied, as "
    "llama.cpp does when output.weight is missing).",
    "F16 variant: every 2-D tensor (token_embd, position_embd, all weight matrices) is F16; 1-D tensors (norms, "
    "biases) are F32 (as llama.cpp's converter writes them).",
    "Vocabulary: real GPT-2 tokens 0..1999 (256 bytes + first 1744 merges, which form a closed BPE vocabulary) "
    "and <|endoftext|> = 2000 (bos = eos = 2000, add_bos_token false: prompts have no BOS). "
    "tokenizer.ggml.model = gpt2, tokenizer.ggml.pre = gpt-2. prompt_ids were produced by HF's tokenizer built "
    "from this GGUF; a GPT-2 BPE tokenizer loading this GGUF should reproduce them.",
    "Greedy: argmax each step (lowest id on ties), full recompute, EOS does not stop it. layers_last_position: "
    "at the last prompt position, 'embedding' = token+position embedding (input of block 0), layer_out[i] = "
    "residual stream after block i, final_norm = output of output_norm (ln_f).",
    "Floats rounded to 8 significant digits; logits_stats std is the population std.",
]


def build_variant(name, sd, tied, f16, vocab, out_dir, log):
    path = os.path.join(out_dir, name + ".gguf")
    write_gguf(path, gguf_tensors(sd, tied), vocab, f16)
    log(f"wrote {path} ({os.path.getsize(path)} bytes)")
    m = hf_model(sd, tied)

    # tokenizer and model as HF's GGUF loader reads the file we wrote
    tok = AutoTokenizer.from_pretrained(out_dir, gguf_file=name + ".gguf")
    # HF's GGUF config mapping reads gpt2.context_length into the legacy n_ctx, not n_positions (the size of
    # wpe), and feed_forward_length into an unused key: pass both explicitly.
    m_gguf = AutoModelForCausalLM.from_pretrained(out_dir, gguf_file=name + ".gguf", dtype=torch.float32,
                                                  attn_implementation="eager", n_positions=N_CTX,
                                                  n_inner=N_FF).eval()
    assert m_gguf.config.tie_word_embeddings == tied

    cases, checks = [], []
    for cname, text in PROMPTS:
        ids = tok(text).input_ids
        assert tok.decode(ids) == text and EOT_ID not in ids
        logits, all_logits, layers, raw = hf_pass(m, ids)
        gen, steps = hf_greedy(m, ids, N_GREEDY)
        with torch.no_grad():
            ref_gen = m.generate(torch.tensor([ids]), max_new_tokens=N_GREEDY, do_sample=False,
                                 eos_token_id=None, pad_token_id=EOT_ID)[0, len(ids):].tolist()
            l_gguf = m_gguf(input_ids=torch.tensor([ids]), use_cache=False).logits[0].numpy()
        np_logits, rec = np_forward(path, ids)
        top = np.argsort(-logits)[:N_TOP]
        chk = {
            "case": cname,
            "hf_from_gguf_max_abs_diff_all_positions": float(f"{np.abs(l_gguf - all_logits).max():.3g}"),
            "numpy_f64_max_abs_diff_all_positions": float(f"{np.abs(np_logits - all_logits).max():.3g}"),
            "numpy_f64_max_rel_diff_top20_last": float(
                f"{(np.abs(np_logits[-1, top] - logits[top]) / np.abs(np_logits[-1, top])).max():.3g}"),
            "numpy_f64_rel_l2_layers_max": float(
                f"{max([rel_l2(raw['embed'], rec['embed']), rel_l2(raw['norm'], rec['norm'])] + [rel_l2(a, b) for a, b in zip(raw['layers'], rec['layers'])]):.3g}"),
            "generate_agrees": ref_gen == gen,
        }
        assert chk["hf_from_gguf_max_abs_diff_all_positions"] < 1e-4, chk
        assert chk["numpy_f64_max_abs_diff_all_positions"] < 1e-3, chk
        assert chk["generate_agrees"], chk
        # greedy steps must be decided by a margin far above float32 error (~1e-5 here)
        assert min(s["gap12"] for s in steps) > 1e-3, steps
        checks.append(chk)
        l64 = logits.astype(np.float64)
        cases.append({
            "name": cname, "prompt": text, "n_prompt": len(ids), "prompt_ids": ids,
            "last_position": {"top20": top_pairs(logits, N_TOP),
                              "logits_stats": {"max": rnd(l64.max()), "argmax": int(l64.argmax()),
                                               "mean": rnd(l64.mean()), "std_population": rnd(l64.std())}},
            "greedy": {"n": N_GREEDY, "ids": gen, "text": tok.decode(gen),
                       "first_eos_index": next((i for i, t in enumerate(gen) if t == EOT_ID), None),
                       "min_gap12": rnd(min(s["gap12"] for s in steps)), "generate_agrees": ref_gen == gen,
                       "steps": steps},
            "layers_last_position": layers,
        })
        log(f"  [{name}/{cname}] ids={ids} greedy={gen} checks={chk}")

    out = {
        "format": "ctorch model golden v1",
        "generated_by": "tests/scripts/gen_gpt2_golden.py",
        "command": "python3 tests/scripts/gen_gpt2_golden.py",
        "versions": versions(),
        "model_file": name + ".gguf",
        "model_file_bytes": os.path.getsize(path),
        "architecture": "gpt2",
        "seed": SEED,
        "hparams": {"n_vocab": N_VOCAB, "n_ctx": N_CTX, "n_embd": N_EMBD, "n_ff": N_FF, "n_layer": N_LAYER,
                    "n_head": N_HEAD, "head_dim": N_EMBD // N_HEAD, "layer_norm_eps": EPS,
                    "tied_output": tied, "matrix_type": "F16" if f16 else "F32"},
        "tensors": {k: {"ne": list(reversed(v.shape)), "type": "F16" if (f16 and v.ndim == 2) else "F32"}
                    for k, v in gguf_tensors(sd, tied).items()},
        "tokenizer": {"model": "gpt2", "pre": "gpt-2", "n_vocab": N_VOCAB, "bos_token_id": EOT_ID,
                      "eos_token_id": EOT_ID, "add_bos_token": False},
        "notes": NOTES,
        "compute": {"framework": "HF transformers GPT2LMHeadModel", "dtype": "float32",
                    "attn_implementation": "eager", "device": "cpu"},
        "cross_checks": {
            "description": "hf_from_gguf: HF's own GGUF loader reading this file vs the golden model (verifies "
                           "the tensor names/layouts); numpy_f64: independent float64 forward reading this file "
                           "with gguf-py (float32-vs-float64 difference = the tolerance a float32 C "
                           "implementation can be held to).",
            "per_case": checks,
        },
        "tolerances": {
            "measured_max_abs_diff_all_logits_f32_vs_f64": max(c["numpy_f64_max_abs_diff_all_positions"] for c in checks),
            "measured_max_rel_diff_top20_f32_vs_f64": max(c["numpy_f64_max_rel_diff_top20_last"] for c in checks),
            "suggestion": "a float32 implementation should match within abs 1e-4 on all logits (F32 and F16 "
                          "variants alike: the F16 values are exact in float32) and give identical greedy tokens "
                          "(smallest gap12 here is > 0.05)",
        },
        "cases": cases,
    }
    dst = os.path.join(out_dir, name + ".json")
    with open(dst, "w") as f:
        json.dump(out, f, separators=(",", ":"), ensure_ascii=False)
        f.write("\n")
    log(f"wrote {dst} ({os.path.getsize(dst)} bytes)")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.abspath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", default="/work/shared/testdata/vocab/ggml-vocab-gpt-2.gguf")
    ap.add_argument("--out-dir", default=os.path.join(repo, "tests", "golden", "models"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out_dir, exist_ok=True)
    vocab = truncated_vocab(args.vocab)
    sd = make_weights(np.random.default_rng(SEED))
    log = lambda s: print(s, flush=True)
    build_variant("gpt2-synth-f32", sd, tied=False, f16=False, vocab=vocab, out_dir=args.out_dir, log=log)
    build_variant("gpt2-synth-f16", round_f16(sd), tied=True, f16=True, vocab=vocab, out_dir=args.out_dir, log=log)


if __name__ == "__main__":
    sys.exit(main())
