#!/usr/bin/env python3
"""Golden data for ctorch's quant formats, from the PyPI `gguf` package's numpy code.

Run once; the outputs are checked in under tests/golden/quant/ so CI needs no Python.

Dequantization (always written):
  <TYPE>.bin  random *valid* blocks: random bytes for quants and sub-block scales, but the
              fp16 super-scales d / dmin / m replaced by random finite values of sensible
              magnitude (1e-3..1, both signs where the quantizer can produce them).
  <TYPE>.f32  what gguf.quants.dequantize makes of them (float32, little-endian).
  For F16 and BF16 the .bin holds random 16-bit patterns (NaN, inf, subnormals included).
  gguf has no dequantizer for Q8_1 and Q8_K (ggml has none for Q8_1 either: both are only
  dot-product operands), so for those two the expected floats come from the one-line
  formula x = d*q evaluated here in numpy float32; say so in reports.

Quantization (with --quantize; gguf implements numpy quantizers for these types):
  quantize_<TYPE>.input.f32     input floats (several distributions, ties, zeros, tiny, large)
  quantize_<TYPE>.expected.bin  the blocks gguf.quants.quantize writes for them
  (gguf's Q8_0 quantizer is documented as bit-exact with ggml's reference; the others
  mirror ggml's quantize_row_*_ref expression by expression.)

Usage: python3 tests/scripts/gen_quant_golden.py [--quantize] [--out DIR]
"""
import argparse
import os
import sys

import numpy as np

import gguf
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf import quants

SEED = 20240611
LEGACY_BLOCKS = 64
K_BLOCKS = 16
HALF_VALUES = 2048

# Byte offsets of the fp16 fields to overwrite: (offset, signed) pairs.
# signed=False where the reference quantizer only ever writes a value >= 0.
HALF_FIELDS = {
    T.Q4_0: [(0, True)],
    T.Q4_1: [(0, False), (2, True)],  # d >= 0, m = block min (any sign)
    T.Q5_0: [(0, True)],
    T.Q5_1: [(0, False), (2, True)],
    T.Q8_0: [(0, False)],
    T.Q8_1: [(0, False), (2, True)],  # d >= 0, s = d*sum(q)
    T.Q2_K: [(80, False), (82, False)],  # d, dmin after scales[16] qs[64]
    T.Q3_K: [(108, True)],  # d after hmask[32] qs[64] scales[12]; sign of max scale
    T.Q4_K: [(0, False), (2, False)],
    T.Q5_K: [(0, False), (2, False)],
    T.Q6_K: [(208, True)],  # d after ql[128] qh[64] scales[16]
}


def random_halves(rng, count, signed):
    """Finite fp16 values with log-uniform magnitude in [1e-3, 1]."""
    mag = np.exp(rng.uniform(np.log(1e-3), np.log(1.0), count))
    if signed:
        mag *= rng.choice([-1.0, 1.0], count)
    return mag.astype(np.float16)


def type_size_of(qtype):
    # gguf-py lists Q8_1 as 40 bytes (the old float d/s layout); ggml's block_q8_1 is
    # two fp16 + 32 int8 = 36 bytes.
    return 36 if qtype == T.Q8_1 else GGML_QUANT_SIZES[qtype][1]


def random_blocks(rng, qtype, n_blocks):
    type_size = type_size_of(qtype)
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    if qtype == T.Q8_K:
        d = (np.exp(rng.uniform(np.log(1e-5), np.log(1e-2), n_blocks)) * rng.choice([-1.0, 1.0], n_blocks))
        blocks[:, 0:4] = d.astype("<f4").view(np.uint8).reshape(n_blocks, 4)
        return blocks
    for offset, signed in HALF_FIELDS[qtype]:
        h = random_halves(rng, n_blocks, signed)
        blocks[:, offset:offset + 2] = h.astype("<f2").view(np.uint8).reshape(n_blocks, 2)
    return blocks


def numpy_dequant_d_times_q(blocks, qtype):
    """x = d*q for Q8_1 (fp16 d at 0, int8 qs at 4) and Q8_K (f32 d at 0, int8 qs at 4)."""
    if qtype == T.Q8_1:
        d = blocks[:, 0:2].copy().view("<f2").astype(np.float32)
        q = blocks[:, 4:36].copy().view(np.int8).astype(np.float32)
    else:
        d = blocks[:, 0:4].copy().view("<f4").astype(np.float32)
        q = blocks[:, 4:260].copy().view(np.int8).astype(np.float32)
    return (d * q).astype(np.float32).reshape(-1)


def write(out_dir, name, array):
    path = os.path.join(out_dir, name)
    array.tofile(path)
    return os.path.getsize(path)


def gen_dequant(out_dir, rng):
    total = 0
    for qtype in [T.F16, T.BF16]:
        bits = rng.integers(0, 1 << 16, size=HALF_VALUES, dtype=np.uint16).astype("<u2")
        if qtype == T.F16:
            ref = quants.dequantize(bits, qtype)  # gguf: view as float16, astype float32
        else:
            ref = quants.dequantize(bits.view(np.uint8).reshape(1, -1), qtype).reshape(-1)
        total += write(out_dir, f"{qtype.name}.bin", bits)
        total += write(out_dir, f"{qtype.name}.f32", ref.astype("<f4"))
    for qtype in [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q8_1,
                  T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.Q8_K]:
        n_blocks = K_BLOCKS if GGML_QUANT_SIZES[qtype][0] == 256 else LEGACY_BLOCKS
        blocks = random_blocks(rng, qtype, n_blocks)
        if qtype in (T.Q8_1, T.Q8_K):
            ref = numpy_dequant_d_times_q(blocks, qtype)
        else:
            ref = quants.dequantize(blocks.reshape(1, -1), qtype).reshape(-1)
        assert ref.dtype == np.float32 and np.all(np.isfinite(ref)), qtype.name
        total += write(out_dir, f"{qtype.name}.bin", blocks)
        total += write(out_dir, f"{qtype.name}.f32", ref.astype("<f4"))
    return total


def quantize_inputs(rng, block_size):
    """Blocks of inputs that exercise the quantizers: distributions, ties, edge cases."""
    b = block_size
    rows = []
    for _ in range(12):
        rows.append(rng.normal(0, 1, b) * np.exp(rng.uniform(np.log(1e-3), np.log(10.0))))
    for _ in range(6):
        rows.append(rng.uniform(-1, 1, b) * np.exp(rng.uniform(np.log(1e-2), np.log(100.0))))
    for _ in range(6):  # positive-only and negative-only (min/max asymmetric)
        rows.append(np.abs(rng.normal(0, 1, b)) * rng.choice([-1.0, 1.0]) + rng.uniform(-0.5, 0.5))
    for _ in range(6):  # outliers
        x = rng.normal(0, 0.02, b)
        x[rng.integers(0, b, 2)] = rng.choice([-1.0, 1.0], 2) * rng.uniform(1, 5, 2)
        rows.append(x)
    # exact ties: with max |x| = 8 / 127 / span 15 the scaled values land on .5 boundaries
    rows.append(np.resize(np.concatenate([[-8.0], np.arange(-7.5, 8.0, 0.5)]), b))
    rows.append(np.resize(np.concatenate([[127.0], np.arange(-20.5, 20.5, 1.0)]), b))
    rows.append(np.resize(np.concatenate([[0.0, 15.0], np.arange(0.5, 15.0, 0.5)]), b))
    rows.append(np.resize(np.concatenate([[0.0, 31.0], np.arange(0.5, 31.0, 1.0)]), b))
    rows.append(np.zeros(b))  # all zero
    rows.append(np.full(b, 0.375))  # constant
    rows.append(rng.normal(0, 1, b) * 1e-6)  # d becomes an fp16 subnormal
    rows.append(rng.normal(0, 1, b) * 3e-9)  # d underflows to zero
    rows.append(rng.normal(0, 1, b) * 2e4)  # large but representable
    return np.concatenate(rows).astype(np.float32)


def gen_quantize(out_dir, rng):
    total = 0
    for qtype in [T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]:
        block_size = GGML_QUANT_SIZES[qtype][0]
        x = quantize_inputs(rng, 32 if block_size == 1 else block_size)
        if qtype == T.F16:
            # also every rounding corner of fp16: subnormals, overflow, halfway cases
            extra = np.array([65504.0, 65519.99, 65520.0, 1e6, -1e6, 6e-8, 2.9e-8, 3.0e-8, 1e-10,
                              1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, -0.0, np.inf, -np.inf], np.float32)
            x = np.concatenate([x, extra])
        if qtype == T.BF16:
            extra = np.array([3.4e38, -3.4e38, 1e-40, -1e-45, 1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8,
                              -0.0, np.inf, -np.inf], np.float32)
            x = np.concatenate([x, extra])
        with np.errstate(over="ignore"):
            q = quants.quantize(x.reshape(1, -1), qtype)
        expected = np.ascontiguousarray(q).view(np.uint8).reshape(-1)
        total += write(out_dir, f"quantize_{qtype.name}.input.f32", x.astype("<f4"))
        total += write(out_dir, f"quantize_{qtype.name}.expected.bin", expected)
    return total


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quantize", action="store_true", help="also write quantizer goldens")
    ap.add_argument("--out", default=os.path.join(here, "..", "golden", "quant"))
    args = ap.parse_args()
    if sys.byteorder != "little":
        sys.exit("golden files are little-endian; run on a little-endian machine")
    out_dir = os.path.normpath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    total = gen_dequant(out_dir, rng)
    if args.quantize:
        total += gen_quantize(out_dir, np.random.default_rng(SEED + 1))
    with open(os.path.join(out_dir, "SOURCE.txt"), "w") as f:
        f.write(f"generated by tests/scripts/gen_quant_golden.py{' --quantize' if args.quantize else ''}\n")
        f.write(f"gguf {getattr(gguf, '__version__', None) or _gguf_version()}, numpy {np.__version__}, seed {SEED}\n")
    print(f"wrote {total} bytes to {out_dir}")


def _gguf_version():
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:  # noqa: BLE001 - the version is informational only
        return "unknown"


if __name__ == "__main__":
    main()
