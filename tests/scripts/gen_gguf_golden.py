#!/usr/bin/env python3
"""Golden facts about real GGUF files, from the PyPI `gguf` package (an independent reader),
for tests/test_gguf_shared_vocab.c. Run once from the repository root and check in the output:

    python3 tests/scripts/gen_gguf_golden.py [--shared ../shared] [--models models]

Writes tests/golden/gguf/<basename>.txt for every testdata/vocab/*.gguf in the shared directory
and for the real models in the models directory (format: see gguf_dump.py)."""
from __future__ import annotations

import argparse
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_dump import describe  # noqa: E402

MODELS = ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"]


def main() -> None:
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(repo, "..", "shared"))
    ap.add_argument("--models", default=os.path.join(repo, "models"))
    ap.add_argument("--out", default=os.path.join(repo, "tests", "golden", "gguf"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    paths = sorted(glob.glob(os.path.join(args.shared, "testdata", "vocab", "*.gguf")))
    paths += [p for p in (os.path.join(args.models, m) for m in MODELS) if os.path.exists(p)]
    if not paths:
        sys.exit("no GGUF files found")
    for path in paths:
        name = os.path.basename(path)
        lines = [f"# {name}: facts from gguf (PyPI) GGUFReader; regenerate with tests/scripts/gen_gguf_golden.py"]
        lines += describe(path)
        out = os.path.join(args.out, name + ".txt")
        with open(out, "w", encoding="ascii") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{out}: {len(lines)} lines")


if __name__ == "__main__":
    main()
