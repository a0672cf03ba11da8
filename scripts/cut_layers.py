#!/usr/bin/env python3
"""Write a copy of a GGUF model keeping only its first N layers (block_count = N), so a real
model's weights fit the device tool's 64 MiB carry limit for CPU-vs-CUDA checks.
Usage: cut_layers.py IN.gguf OUT.gguf N   (needs the PyPI `gguf` package)"""
import sys

import gguf


def main():
    src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    r = gguf.GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(dst, arch)
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        val = f.contents()
        if name == f"{arch}.block_count":
            val = n
        vtype = f.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            w.add_key_value(name, val, vtype, sub_type=f.types[-1])
        else:
            w.add_key_value(name, val, vtype)
    for t in r.tensors:
        if t.name.startswith("blk.") and int(t.name.split(".")[1]) >= n:
            continue
        shape = [int(x) for x in reversed(t.shape.tolist())]
        w.add_tensor(t.name, t.data, raw_shape=None, raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
