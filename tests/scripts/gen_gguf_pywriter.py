#!/usr/bin/env python3
"""A small GGUF file written by the PyPI gguf package's GGUFWriter, for test_gguf_pywriter.c,
which builds the same content with ctorch's writer and compares the bytes. Run once from the
repository root and check in the output (keep the content in step with the C test):

    python3 tests/scripts/gen_gguf_pywriter.py     # -> tests/golden/gguf/pywriter.gguf
"""
from __future__ import annotations

import os

import numpy as np
from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter

ARRAY = GGUFValueType.ARRAY


def main() -> None:
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = os.path.join(repo, "tests", "golden", "gguf", "pywriter.gguf")
    w = GGUFWriter(out, arch="ctorch-test")  # writes general.architecture first
    w.add_custom_alignment(64)  # general.alignment, UINT32
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_uint64("test.u64", 2**63 + 5)
    w.add_int64("test.i64", -(2**62) - 3)
    w.add_float32("test.f32", -0.1)
    w.add_float64("test.f64", 3.141592653589793)
    w.add_bool("test.true", True)
    w.add_bool("test.false", False)
    w.add_string("test.str", "hello, w\u00f6rld \u2713")
    w.add_array("test.arr_i32", [1, -2, 300000])  # INT32 elements
    w.add_array("test.arr_f32", [0.5, -1.25, 3.0])  # FLOAT32 elements
    w.add_array("test.arr_bool", [True, False, True])
    w.add_array("test.arr_str", ["a", "", "\u00fc", "<s>"])
    w.add_key_value("test.arr_u8", [1, 2, 255], ARRAY, sub_type=GGUFValueType.UINT8)
    w.add_key_value("test.arr_u64", [2**64 - 1, 0], ARRAY, sub_type=GGUFValueType.UINT64)
    w.add_key_value("test.arr_f64", [0.1, -2.5], ARRAY, sub_type=GGUFValueType.FLOAT64)
    w.add_array("test.nested", [[1, 2], [3]])  # arrays of INT32 arrays
    w.add_array("test.nested_str", [["x", "yy"], ["z"]])

    # Tensor data from simple formulas the C test repeats: numpy shapes are reversed ggml ne.
    w.add_tensor("t.f32", (np.arange(24, dtype=np.float32) * 0.25 - 3).reshape(3, 8))  # ne 8x3
    w.add_tensor("t.f16", (np.arange(16, dtype=np.float32) * 0.5 - 2).astype(np.float16))  # ne 16
    q8 = ((np.arange(2 * 68) * 37 + 11) % 256).astype(np.uint8).reshape(2, 68)
    w.add_tensor("blk.0.q8_0", q8, raw_dtype=GGMLQuantizationType.Q8_0)  # ne 64x2, 34-byte blocks
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{out}: {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main()
