#!/usr/bin/env python3
"""Golden blocks from ggml's own reference quantizers (quantize_row_*_ref), for every
quantized type ctorch writes, k-quants included (gguf-py has no k-quant quantizers).

These are the functions llama.cpp's quantize tool runs when no importance matrix is given
(ggml_quantize_chunk -> quantize_<type>(..., quant_weights = NULL) -> quantize_row_<type>_ref),
so matching them byte for byte means files ctorch writes are the files llama.cpp writes.

How: ggml's C sources come from the PyPI sdist of ggml-python (which vendors ggml); the
script builds the ggml-base library with CMake (no CPU backend, no -march flags: the same
flags llama.cpp's ggml-base gets on x86-64), compiles a small driver against it, and runs it
on inputs generated here. Needs cmake, a C/C++ compiler, pip and PyPI. Run once; outputs are
checked in under tests/golden/quant/:

  ggml_quantize.input.f32   input floats (a multiple of 256; many distributions)
  ggml_quantize_<TYPE>.bin  quantize_row_<type>_ref(input)
  ggml_stress_<TYPE>.fnv32  for the larger input of tests/test_quant_stress_input.h (which
                            the driver includes, so the C test rebuilds the same floats):
                            FNV-1a 32 of the blocks of each 256 inputs, little-endian u32

Usage: python3 tests/scripts/gen_quant_ggml_golden.py [--sdist ggml_python-X.tar.gz] [--out DIR]
"""
import argparse
import os
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

GGML_PYTHON_VERSION = "0.0.45"
SEED = 20240612
TYPES = ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q8_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K"]

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ggml.h"
#include "ggml-quants.h"
#include "test_quant_stress_input.h"

/* usage: driver input.f32 out_dir ; writes out_dir/ggml_quantize_<TYPE>.bin per type */
typedef void (*quantize_fn)(const float *, void *, int64_t);
struct entry { const char *name; enum ggml_type type; quantize_fn fn; };

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 3;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *x = malloc(bytes);
    if (fread(x, 1, bytes, f) != (size_t)bytes) return 4;
    fclose(f);
    const int64_t n = bytes / 4;
    const struct entry entries[] = {
        {"Q4_0", GGML_TYPE_Q4_0, (quantize_fn)quantize_row_q4_0_ref},
        {"Q4_1", GGML_TYPE_Q4_1, (quantize_fn)quantize_row_q4_1_ref},
        {"Q5_0", GGML_TYPE_Q5_0, (quantize_fn)quantize_row_q5_0_ref},
        {"Q5_1", GGML_TYPE_Q5_1, (quantize_fn)quantize_row_q5_1_ref},
        {"Q8_0", GGML_TYPE_Q8_0, (quantize_fn)quantize_row_q8_0_ref},
        {"Q8_1", GGML_TYPE_Q8_1, (quantize_fn)quantize_row_q8_1_ref},
        {"Q2_K", GGML_TYPE_Q2_K, (quantize_fn)quantize_row_q2_K_ref},
        {"Q3_K", GGML_TYPE_Q3_K, (quantize_fn)quantize_row_q3_K_ref},
        {"Q4_K", GGML_TYPE_Q4_K, (quantize_fn)quantize_row_q4_K_ref},
        {"Q5_K", GGML_TYPE_Q5_K, (quantize_fn)quantize_row_q5_K_ref},
        {"Q6_K", GGML_TYPE_Q6_K, (quantize_fn)quantize_row_q6_K_ref},
        {"Q8_K", GGML_TYPE_Q8_K, (quantize_fn)quantize_row_q8_K_ref},
    };
    const int64_t n_stress = 256 * (int64_t)CT_QUANT_STRESS_SUPERBLOCKS;
    float *xs = malloc(n_stress * sizeof(float));
    ct_quant_stress_input(xs, CT_QUANT_STRESS_SUPERBLOCKS);
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        const size_t group_bytes = ggml_row_size(entries[i].type, 256);
        uint8_t *qs = calloc(CT_QUANT_STRESS_SUPERBLOCKS, group_bytes);
        entries[i].fn(xs, qs, n_stress);
        uint32_t *hashes = malloc(CT_QUANT_STRESS_SUPERBLOCKS * sizeof(uint32_t));
        for (int g = 0; g < CT_QUANT_STRESS_SUPERBLOCKS; g++) hashes[g] = ct_fnv1a32(qs + g * group_bytes, group_bytes);
        char hpath[4096];
        snprintf(hpath, sizeof hpath, "%s/ggml_stress_%s.fnv32", argv[2], entries[i].name);
        FILE *h = fopen(hpath, "wb"); /* little-endian host: the script checks */
        if (!h || fwrite(hashes, sizeof(uint32_t), CT_QUANT_STRESS_SUPERBLOCKS, h) != CT_QUANT_STRESS_SUPERBLOCKS) return 6;
        fclose(h);
        free(hashes);
        free(qs);
    }
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        const size_t out_bytes = ggml_row_size(entries[i].type, n);
        void *q = calloc(1, out_bytes); /* Q8_K leaves bsums of all-zero blocks unset */
        entries[i].fn(x, q, n);
        char path[4096];
        snprintf(path, sizeof path, "%s/ggml_quantize_%s.bin", argv[2], entries[i].name);
        FILE *o = fopen(path, "wb");
        if (!o || fwrite(q, 1, out_bytes, o) != out_bytes) return 5;
        fclose(o);
        free(q);
    }
    return 0;
}
"""


def make_inputs(rng):
    """Super-blocks of 256 that exercise the searches: distributions, outliers, edge cases."""
    rows = []
    def g(scale):
        return rng.normal(0, 1, 256) * scale
    for s in [1e-3, 0.02, 0.3, 1.0, 7.0]:
        rows.append(g(s))
    rows.append(rng.standard_t(3, 256) * 0.05)  # heavy tails, like real weights
    rows.append(rng.laplace(0, 0.1, 256))
    for s in [0.01, 1.0, 50.0]:
        rows.append(rng.uniform(-s, s, 256))
    rows.append(np.abs(g(1.0)) + 0.5)  # all positive: mins matter
    rows.append(-np.abs(g(1.0)) - 0.25)  # all negative
    rows.append(g(0.3) + 2.0)  # offset
    for _ in range(3):  # outliers
        x = g(0.02)
        x[rng.integers(0, 256, 3)] = rng.choice([-1.0, 1.0], 3) * rng.uniform(0.5, 5, 3)
        rows.append(x)
    x = g(1.0)  # sparse
    x[rng.random(256) < 0.85] = 0.0
    rows.append(x)
    x = g(1.0)  # one sub-block of zeros (zero sub-block scale)
    x[32:64] = 0.0
    rows.append(x)
    x = np.zeros(256)
    x[17] = 0.75  # a single non-zero value
    rows.append(x)
    rows.append(np.zeros(256))  # all zero
    rows.append(np.full(256, -0.625))  # constant
    rows.append(np.round(g(4.0)))  # small integers: exact levels, ties
    rows.append(np.resize(np.arange(-8.0, 8.0, 0.5), 256))  # halfway ties
    rows.append(g(1e-6))  # super-scales become fp16 subnormals
    rows.append(g(3e-9))  # super-scales underflow to zero
    rows.append(g(2e3))  # large but representable
    x = g(1.0)  # sub-blocks of very different magnitude
    x *= np.repeat(np.exp(rng.uniform(np.log(1e-3), np.log(3.0), 16)), 16)
    rows.append(x)
    return np.concatenate(rows).astype(np.float32)


def run(cmd, **kw):
    subprocess.run(cmd, check=True, **kw)


def build_ggml_base(sdist, work):
    with tarfile.open(sdist) as tar:
        tar.extractall(work, filter="data")
    top = next(d for d in os.listdir(work) if d.startswith("ggml_python"))
    ggml_dir = os.path.join(work, top, "vendor", "ggml")
    build = os.path.join(work, "build")
    run(["cmake", "-S", ggml_dir, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DGGML_CPU=OFF",
         "-DGGML_NATIVE=OFF", "-DBUILD_SHARED_LIBS=OFF", "-DGGML_BUILD_TESTS=OFF",
         "-DGGML_BUILD_EXAMPLES=OFF", "-DGGML_OPENMP=OFF"], stdout=subprocess.DEVNULL)
    run(["cmake", "--build", build, "-j2", "--target", "ggml-base"], stdout=subprocess.DEVNULL)
    version = "unknown"
    with open(os.path.join(ggml_dir, "CMakeLists.txt")) as f:
        parts = {}
        for line in f:
            for key in ("MAJOR", "MINOR", "PATCH"):
                tag = f"set(GGML_VERSION_{key} "
                if line.startswith(tag):
                    parts[key] = line[len(tag):].strip(" )\n")
        if len(parts) == 3:
            version = f"{parts['MAJOR']}.{parts['MINOR']}.{parts['PATCH']}"
    return ggml_dir, os.path.join(build, "src", "libggml-base.a"), version


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sdist", help=f"ggml_python-{GGML_PYTHON_VERSION}.tar.gz (else pip downloads it)")
    ap.add_argument("--out", default=os.path.join(here, "..", "golden", "quant"))
    args = ap.parse_args()
    if sys.byteorder != "little":
        sys.exit("golden files are little-endian; run on a little-endian machine")
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        sdist = args.sdist
        if not sdist:
            run([sys.executable, "-m", "pip", "download", f"ggml-python=={GGML_PYTHON_VERSION}", "--no-deps",
                 "--no-binary", ":all:", "-d", work], stdout=subprocess.DEVNULL)
            sdist = os.path.join(work, f"ggml_python-{GGML_PYTHON_VERSION}.tar.gz")
        ggml_dir, lib, version = build_ggml_base(sdist, work)
        driver_c = os.path.join(work, "driver.c")
        with open(driver_c, "w") as f:
            f.write(DRIVER)
        driver = os.path.join(work, "driver")
        run(["cc", "-O2", "-std=gnu11", "-I", os.path.join(ggml_dir, "include"), "-I", os.path.join(ggml_dir, "src"),
             "-I", os.path.normpath(os.path.join(here, "..")),
             driver_c, lib, "-lstdc++", "-lm", "-lpthread", "-o", driver])
        x = make_inputs(np.random.default_rng(SEED))
        input_path = os.path.join(out_dir, "ggml_quantize.input.f32")
        x.astype("<f4").tofile(input_path)
        run([driver, input_path, out_dir])
    with open(os.path.join(out_dir, "SOURCE_ggml.txt"), "w") as f:
        f.write("generated by tests/scripts/gen_quant_ggml_golden.py\n")
        f.write(f"ggml {version} (vendored in ggml-python {GGML_PYTHON_VERSION} from PyPI), ggml-base built "
                f"without -march flags, numpy {np.__version__}, seed {SEED}\n")
    print(f"wrote ggml_quantize.input.f32 ({x.size} floats) and {len(TYPES)} block files to {out_dir}")


if __name__ == "__main__":
    main()
