#!/usr/bin/env python3
"""Golden summaries for `ctorch inspect --json`, computed independently with the PyPI `gguf`
package's GGUFReader (not with ctorch).

For every vocab-only GGUF in ../shared/testdata/vocab/ and the real models in models/, writes
tests/golden/inspect/<basename>.json: the same JSON object `ctorch inspect --json FILE` prints
(tests/test_inspect.c compares them field by field; "file" is the path and is not compared).

    python3 tests/scripts/gen_inspect_golden.py [FILE.gguf ...]

The object (see src/cli/cmd_inspect.c):
  gguf_version, file_size, alignment, data_offset, n_kv, n_tensors,
  architecture, name, context_length, embedding_length, block_count, feed_forward_length,
  head_count, head_count_kv (values of <arch>.<key>, null when absent),
  vocab_size (<arch>.vocab_size, else the length of tokenizer.ggml.tokens, else null),
  tokenizer_model, tokenizer_pre, file_type, file_type_name (llama_ftype name),
  n_params, tensor_bytes,
  type_mix: [{type, count, params, bytes}] by ggml type id,
  metadata: [{key, type, value} | {key, type: "ARRAY", elem_type, count, head: first 4}],
  tensors: [{name, type, shape (ne0 first), n_elements, bytes, offset (in the data section)}]
Values: integers as JSON integers (a UINT64 above 2^63-1 as a decimal string), floats as
JSON numbers (non-finite as the strings "nan", "inf", "-inf"), bools, UTF-8 strings.
"""
import json
import math
import os
import sys

import gguf
from gguf import GGUFValueType

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(REPO, "tests", "golden", "inspect")
HEAD = 4
INT64_MAX = (1 << 63) - 1
SUMMARY_KEYS = ["context_length", "embedding_length", "block_count", "feed_forward_length",
                "attention.head_count", "attention.head_count_kv"]


def default_files():
    vocab_dir = os.path.join(os.path.dirname(REPO), "shared", "testdata", "vocab")
    files = sorted(os.path.join(vocab_dir, f) for f in os.listdir(vocab_dir) if f.endswith(".gguf"))
    for m in ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"]:
        files.append(os.path.join(REPO, "models", m))
    return files


def scalar(v, vtype):
    if vtype in (GGUFValueType.FLOAT32, GGUFValueType.FLOAT64):
        v = float(v)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if vtype == GGUFValueType.BOOL:
        return bool(v)
    if vtype == GGUFValueType.STRING:
        return v
    v = int(v)
    return str(v) if v > INT64_MAX else v


def field_value(f):
    """Full value of a field (arrays as lists), for the summary keys."""
    if f.types[0] == GGUFValueType.ARRAY:
        if len(f.types) > 2:
            return None  # nested arrays are not summarised
        return [scalar(x, f.types[-1]) for x in f.contents()]
    return scalar(f.contents(), f.types[0])


def metadata_entry(f):
    e = {"key": f.name, "type": f.types[0].name}
    if f.types[0] == GGUFValueType.ARRAY:
        e["elem_type"] = f.types[1].name
        e["count"] = len(f.data)
        if len(f.types) > 2:
            e["head"] = None
        else:
            e["head"] = [scalar(x, f.types[-1]) for x in f.contents(slice(0, HEAD))]
    else:
        e["value"] = scalar(f.contents(), f.types[0])
    return e


def summarize(path):
    r = gguf.GGUFReader(path)
    fields = {k: f for k, f in r.fields.items() if not k.startswith("GGUF.")}

    def get(key):
        f = fields.get(key)
        return field_value(f) if f is not None else None

    arch = get("general.architecture")
    s = {
        "file": path,
        "gguf_version": int(r.fields["GGUF.version"].contents()),
        "file_size": os.path.getsize(path),
        "alignment": int(r.alignment),
        "data_offset": int(r.data_offset),
        "n_kv": len(fields),
        "n_tensors": len(r.tensors),
        "architecture": arch,
        "name": get("general.name"),
    }
    for k in SUMMARY_KEYS:
        s[k.replace("attention.", "")] = get(f"{arch}.{k}") if arch is not None else None
    vocab = get(f"{arch}.vocab_size") if arch is not None else None
    if vocab is None and "tokenizer.ggml.tokens" in fields:
        vocab = len(fields["tokenizer.ggml.tokens"].data)
    s["vocab_size"] = vocab
    s["tokenizer_model"] = get("tokenizer.ggml.model")
    s["tokenizer_pre"] = get("tokenizer.ggml.pre")
    ft = get("general.file_type")
    s["file_type"] = ft
    try:
        s["file_type_name"] = gguf.LlamaFileType(ft).name if isinstance(ft, int) else None
    except ValueError:
        s["file_type_name"] = None

    tensors, mix = [], {}
    for t in r.tensors:
        tid = int(t.tensor_type)
        n, nbytes = int(t.n_elements), int(t.n_bytes)
        tensors.append({
            "name": t.name,
            "type": t.tensor_type.name,
            "shape": [int(d) for d in t.shape],
            "n_elements": n,
            "bytes": nbytes,
            "offset": int(t.data_offset) - int(r.data_offset),
        })
        m = mix.setdefault(tid, {"type": t.tensor_type.name, "count": 0, "params": 0, "bytes": 0})
        m["count"] += 1
        m["params"] += n
        m["bytes"] += nbytes
    s["n_params"] = sum(t["n_elements"] for t in tensors)
    s["tensor_bytes"] = sum(t["bytes"] for t in tensors)
    s["type_mix"] = [mix[k] for k in sorted(mix)]
    s["metadata"] = [metadata_entry(f) for f in fields.values()]
    s["tensors"] = tensors
    return s


def main():
    files = sys.argv[1:] or default_files()
    os.makedirs(OUT_DIR, exist_ok=True)
    for path in files:
        if not os.path.exists(path):
            print(f"skipping {path}: absent")
            continue
        s = summarize(path)
        s["file"] = os.path.basename(path)
        out = os.path.join(OUT_DIR, os.path.basename(path) + ".json")
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(s, fh, indent=1, ensure_ascii=False)
            fh.write("\n")
        print(f"{out}: {s['n_kv']} keys, {s['n_tensors']} tensors")


if __name__ == "__main__":
    main()
