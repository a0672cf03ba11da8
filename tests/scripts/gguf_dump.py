"""Describe a GGUF file as seen by the PyPI `gguf` package's GGUFReader, in the line format
that tests/test_gguf_dump.h prints from ctorch's reader (the two must agree line by line).

Format (one fact per line; bytes outside '!'..'~' and the backslash are written \\xHH):
  version V / alignment A / data_offset D / kv_count N
  kv KEY TYPE VALUE                          scalars: integers in decimal, FLOAT32/FLOAT64 as
                                             their IEEE bits in hex, BOOL as 0/1
  kv KEY ARRAY ELEM count=N [bytes=B] [head=E0 E1 E2 tail=ELAST]
                                             first three and last element (bytes = total
                                             length of a string array)
  kv KEY ARRAY ARRAY count=N leaves=M        nested arrays: outer count, scalar/string leaves
  tensor_count N
  tensor NAME type=ID ne=D0xD1.. offset=ABSOLUTE nbytes=B head=HEX(first 8 data bytes)
"""
from __future__ import annotations

import numpy as np
from gguf import GGUFReader, GGUFValueType

HEAD = 3


def esc(b: bytes) -> str:
    return "".join(chr(x) if 0x21 <= x <= 0x7E and x != 0x5C else "\\x%02x" % x for x in b)


def scalar_text(vtype: GGUFValueType, part: np.ndarray) -> str:
    if vtype == GGUFValueType.FLOAT32:
        return "0x%08x" % int(part.view(np.uint32)[0])
    if vtype == GGUFValueType.FLOAT64:
        return "0x%016x" % int(part.view(np.uint64)[0])
    if vtype == GGUFValueType.BOOL:
        return "1" if bool(part[0]) else "0"
    return str(int(part[0]))


def element_list(items: list, text) -> str:
    """head= the first HEAD elements, tail= the last one; nothing for an empty array."""
    if not items:
        return ""
    return " head=" + " ".join(text(x) for x in items[:HEAD]) + " tail=" + text(items[-1])


def field_line(field) -> str:
    vtype = GGUFValueType(field.types[0])
    key = esc(field.name.encode("utf-8"))
    if vtype == GGUFValueType.STRING:
        return f"kv {key} STRING {esc(bytes(field.parts[-1]))}"
    if vtype != GGUFValueType.ARRAY:
        return f"kv {key} {vtype.name} {scalar_text(vtype, field.parts[-1])}"
    # parts: key length, key, value type, element type, count, elements...
    elem = GGUFValueType(int(field.parts[3][0]))
    count = int(field.parts[4][0])
    line = f"kv {key} ARRAY {elem.name} count={count}"
    if elem == GGUFValueType.ARRAY:
        return line + f" leaves={len(field.data)}"
    if elem == GGUFValueType.STRING:
        strs = [bytes(field.parts[i]) for i in field.data]
        total = sum(len(s) for s in strs)
        return line + f" bytes={total}" + element_list(strs, esc)
    return line + element_list(field.data, lambda i: scalar_text(elem, field.parts[i]))


def describe(path: str) -> list[str]:
    r = GGUFReader(path)
    fields = [f for f in r.fields.values() if not f.name.startswith("GGUF.")]
    lines = [
        f"version {int(r.fields['GGUF.version'].parts[0][0])}",
        f"alignment {int(r.alignment)}",
        f"data_offset {int(r.data_offset)}",
        f"kv_count {int(r.fields['GGUF.kv_count'].parts[0][0])}",
    ]
    lines += [field_line(f) for f in fields]
    lines.append(f"tensor_count {len(r.tensors)}")
    for t in r.tensors:
        ne = "x".join(str(int(d)) for d in t.shape)
        head = bytes(r.data[t.data_offset : t.data_offset + min(8, int(t.n_bytes))]).hex()
        lines.append(
            f"tensor {esc(t.name.encode('utf-8'))} type={int(t.tensor_type)} ne={ne} "
            f"offset={int(t.data_offset)} nbytes={int(t.n_bytes)} head={head}"
        )
    return lines
