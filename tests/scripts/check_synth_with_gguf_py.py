#!/usr/bin/env python3
"""Check files written by `ctorch synth` with the PyPI `gguf` package (an independent reader
and dequantizer), and check that `ctorch inspect --json` reads the same tensor table.

    python3 tests/scripts/check_synth_with_gguf_py.py CTORCH_BIN [--big] [--threads N]

Writes a set of synthetic models (every architecture and type synth supports) into a
temporary directory, then for each: opens it with gguf.GGUFReader; checks the architecture's
keys and the tokenizer; dequantizes every tensor (the first MAX_SAMPLE elements of big ones)
with gguf.quants.dequantize and checks that the values are finite, that weight matrices have
mean ~0 and deviation ~0.02 and norm weights are ~1; and compares names, types, shapes, byte
sizes and offsets with `ctorch inspect --json`. With --big it also writes a llama2-7b Q4_K_M
(about 3.8 GiB; deleted afterwards) and reports how long writing and each reader took.
Run by hand (CI has no Python); prints one line per file and exits non-zero on a mismatch.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import gguf
from gguf.quants import dequantize

MAX_SAMPLE = 1 << 20  # elements dequantized per tensor
WEIGHT_STD = 0.02

CASES = [
    ("custom-llama-q4_k_m", "--arch llama --n-embd 256 --n-layer 3 --n-head 4 --n-head-kv 2 --n-ff 512 --n-vocab 400 --type q4_k_m"),
    ("smollm2-q4_k_m", "--preset smollm2-135m --type q4_k_m"),
    ("gemma3-q4_k_m", "--preset gemma3-270m --type q4_k_m"),
    ("gpt2-f16", "--preset gpt2-124m --type f16"),
    ("gpt2-q4_k_m", "--preset gpt2-124m --type q4_k_m --layers 2"),
    ("qwen2-q4_k_m", "--preset qwen2-7b --type q4_k_m --layers 2 --n-vocab 2000"),
    ("tinyllama-q6_k", "--preset tinyllama-1.1b --type q6_k --layers 2"),
    ("tinyllama-q5_k", "--preset tinyllama-1.1b --type q5_k --layers 2"),
    ("tinyllama-q4_k", "--preset tinyllama-1.1b --type q4_k --layers 2"),
    ("tinyllama-bf16", "--preset tinyllama-1.1b --type bf16 --layers 1"),
    ("tinyllama-f32", "--preset tinyllama-1.1b --type f32 --layers 1"),
    ("llama-q4_0", "--arch llama --n-embd 512 --n-layer 2 --n-head 8 --n-ff 1024 --n-vocab 1000 --type q4_0"),
    ("llama-q4_1", "--arch llama --n-embd 512 --n-layer 2 --n-head 8 --n-ff 1024 --n-vocab 1000 --type q4_1"),
    ("llama-q5_0", "--arch llama --n-embd 512 --n-layer 2 --n-head 8 --n-ff 1024 --n-vocab 1000 --type q5_0"),
    ("llama-q5_1", "--arch llama --n-embd 512 --n-layer 2 --n-head 8 --n-ff 1024 --n-vocab 1000 --type q5_1"),
    ("llama-q8_0", "--arch llama --n-embd 512 --n-layer 2 --n-head 8 --n-ff 1024 --n-vocab 1000 --type q8_0"),
]


def fail(msg):
    raise AssertionError(msg)


def check_with_gguf_py(path):
    t0 = time.time()
    r = gguf.GGUFReader(path)
    arch = r.fields["general.architecture"].contents()
    for k in ["context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count"]:
        if f"{arch}.{k}" not in r.fields:
            fail(f"{path}: {arch}.{k} missing")
    tokens = r.fields["tokenizer.ggml.tokens"]
    n_vocab = len(tokens.data)
    emb = next(t for t in r.tensors if t.name == "token_embd.weight")
    if int(emb.shape[1]) != n_vocab:
        fail(f"{path}: token_embd has {emb.shape[1]} rows, vocabulary {n_vocab}")
    worst = 0.0
    for t in r.tensors:
        flat = t.data.reshape(-1) if t.data.ndim == 1 else t.data.reshape(t.data.shape[0], -1)
        if flat.ndim == 2:  # whole rows up to MAX_SAMPLE elements
            rows = max(1, MAX_SAMPLE // int(t.shape[0]))
            flat = flat[:rows]
        x = dequantize(flat, t.tensor_type).astype(np.float64).reshape(-1)
        if not np.isfinite(x).all():
            fail(f"{path}: {t.name} has non-finite values")
        if t.name.endswith("norm.weight"):
            if abs(x.mean() - 1.0) > 0.02:
                fail(f"{path}: {t.name} mean {x.mean()}")
        elif x.size >= 4096:
            dev = abs(x.std() - WEIGHT_STD) / WEIGHT_STD
            worst = max(worst, dev)
            if dev > 0.15 or abs(x.mean()) > 0.003 or np.abs(x).max() > 4 * WEIGHT_STD:
                fail(f"{path}: {t.name} ({t.tensor_type.name}) mean {x.mean():.5f} std {x.std():.5f} max {np.abs(x).max():.4f}")
    return r, time.time() - t0, worst


def compare_with_inspect(bin_path, path, r):
    t0 = time.time()
    out = subprocess.run([bin_path, "inspect", "--json", path], check=True, capture_output=True).stdout
    ours = json.loads(out)
    elapsed = time.time() - t0
    if len(ours["tensors"]) != len(r.tensors):
        fail(f"{path}: inspect lists {len(ours['tensors'])} tensors, gguf-py {len(r.tensors)}")
    for o, t in zip(ours["tensors"], r.tensors):
        want = {"name": t.name, "type": t.tensor_type.name, "shape": [int(d) for d in t.shape],
                "bytes": int(t.n_bytes), "offset": int(t.data_offset) - int(r.data_offset)}
        got = {k: o[k] for k in want}
        if got != want:
            fail(f"{path}: inspect {got} != gguf-py {want}")
    return elapsed


def type_mix(r):
    mix = {}
    for t in r.tensors:
        mix[t.tensor_type.name] = mix.get(t.tensor_type.name, 0) + 1
    return " ".join(f"{k}:{v}" for k, v in sorted(mix.items()))


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    bin_path = sys.argv[1]
    big = "--big" in sys.argv
    threads = []
    if "--threads" in sys.argv:
        threads = ["--threads", sys.argv[sys.argv.index("--threads") + 1]]
    tmp = tempfile.mkdtemp(prefix="ctorch-synth-py-")
    cases = list(CASES)
    if big:
        cases.append(("llama2-7b-q4_k_m", "--preset llama2-7b --type q4_k_m"))
    failures = 0
    try:
        for name, args in cases:
            path = os.path.join(tmp, name + ".gguf")
            t0 = time.time()
            subprocess.run([bin_path, "synth", *args.split(), *threads, "-o", path], check=True,
                           capture_output=True)
            t_write = time.time() - t0
            size = os.path.getsize(path)
            try:
                r, t_py, worst = check_with_gguf_py(path)
                t_ours = compare_with_inspect(bin_path, path, r)
                print(f"ok  {name}: {size / 2**20:.1f} MiB, {len(r.tensors)} tensors ({type_mix(r)}), "
                      f"std within {worst * 100:.1f}% of 0.02; write {t_write:.2f} s, gguf-py {t_py:.2f} s, "
                      f"ctorch inspect {t_ours:.2f} s")
            except AssertionError as e:
                failures += 1
                print(f"FAIL {name}: {e}")
            os.remove(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(cases) - failures} of {len(cases)} files accepted by gguf-py and agreeing with ctorch inspect")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
