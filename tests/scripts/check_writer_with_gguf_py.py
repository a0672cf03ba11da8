#!/usr/bin/env python3
"""Does the PyPI gguf package read what ctorch's GGUF writer wrote the way ctorch's reader does?

test_gguf_roundtrip leaves two files in the build directory: gguf_roundtrip.gguf (every value
type, nested and empty arrays, several tensor types, alignment 64, written by our writer) and
gguf_roundtrip.txt (what our reader sees, in the gguf_dump.py format). This script reads the
.gguf with gguf.GGUFReader and compares line by line. Developer check, not run by CI:

    ctest --test-dir build -R test_gguf_roundtrip
    python3 tests/scripts/check_writer_with_gguf_py.py build
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_dump import describe  # noqa: E402


def main() -> int:
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    gguf_path = os.path.join(build, "gguf_roundtrip.gguf")
    ours_path = os.path.join(build, "gguf_roundtrip.txt")
    theirs = describe(gguf_path)
    with open(ours_path, encoding="ascii") as f:
        ours = [line.rstrip("\n") for line in f if not line.startswith("#")]
    bad = 0
    for i in range(max(len(theirs), len(ours))):
        a = theirs[i] if i < len(theirs) else "(end)"
        b = ours[i] if i < len(ours) else "(end)"
        if a != b:
            bad += 1
            print(f"line {i + 1}:\n  gguf (PyPI): {a}\n  ctorch:      {b}")
    print(f"{gguf_path}: {len(theirs)} lines from gguf.GGUFReader, {len(ours)} from ctorch, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
