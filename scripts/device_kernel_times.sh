#!/usr/bin/env bash
# Per-kernel GPU time of a decode on the GPU machine, in the call after `device_check.sh
# build|test` (it uses /tmp/ctorch-build): Nsight Compute times every kernel of a few decode
# tokens of the synthetic Llama-2-7B (graphs off, so each op is one launch; the kernels are
# the ones a graph replays), and the table sums them by kernel and grid, per token. The
# difference between the per-token sum and the token time of `ctorch bench` is what launches
# and the gaps between kernels cost.
#
#   bash scripts/device_kernel_times.sh [model type, default q4_k_m] [tokens, default 4]
set -uo pipefail
OUT=${OUT:-/tmp/ctorch-device-out}
mkdir -p "$OUT"
b=/tmp/ctorch-build
type=${1:-q4_k_m}
n=${2:-4}
m=/tmp/llama2-7b-$type.gguf
[ -f $m ] || $b/ctorch synth --preset llama2-7b --type $type -o $m >/dev/null 2>&1
metrics=gpu__time_duration.sum,dram__bytes_read.sum,smsp__inst_executed.sum,sm__cycles_elapsed.avg
CTORCH_CUDA_GRAPHS=0 timeout 300 ncu --clock-control none --metrics $metrics --csv \
    $b/ctorch bench --backend cuda -m $m -p 0 -n $n -r 1 >"$OUT/ktimes_$type.csv" 2>"$OUT/ktimes_$type.err"
python3 - "$OUT/ktimes_$type.csv" "$n" <<'PY'
import csv, sys, collections
path, n = sys.argv[1], int(sys.argv[2])
rows = [r for r in csv.reader(l for l in open(path) if l.startswith('"'))]
head, rows = rows[0], rows[1:]
ix = {k: i for i, k in enumerate(head)}
# one launch = one row per metric: gather them by launch ID first
launch = collections.defaultdict(dict)
for r in rows:
    key = (r[ix["ID"]], r[ix["Kernel Name"]].split("(")[0].replace("void ", "")[:56], r[ix["Grid Size"]], r[ix["Block Size"]])
    v = float(r[ix["Metric Value"]].replace(",", ""))
    unit = r[ix["Metric Unit"]]
    if r[ix["Metric Name"]] == "gpu__time_duration.sum":
        v = v / 1000.0 if unit in ("nsecond", "ns") else v * 1000.0 if unit in ("msecond", "ms") else v
    elif r[ix["Metric Name"]] == "dram__bytes_read.sum":
        v *= {"byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "KB": 1e3, "MB": 1e6, "GB": 1e9}.get(unit, 1)
    launch[key][r[ix["Metric Name"]]] = v
# by kernel, grid, block and DRAM bytes (to 0.5 MB: o and down share a grid but not their bytes)
agg = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0])
for (lid, name, grid, block), m in launch.items():
    mb = m.get("dram__bytes_read.sum", 0) / 1e6
    a = agg[(name, grid, block, round(mb * 2) / 2)]
    a[0] += 1
    a[1] += m.get("gpu__time_duration.sum", 0)
    a[2] += m.get("dram__bytes_read.sum", 0)
    a[3] += m.get("smsp__inst_executed.sum", 0)
total = sum(a[1] for a in agg.values())
print(f"kernels: {sum(a[0] for a in agg.values())}, total {total/1000:.2f} ms over the run (warm-up pass included)")
print(f"{'kernel':56s} {'grid':>14s} {'block':>10s} {'count':>5s} {'us':>7s} {'MB':>6s} {'TB/s':>5s} {'Minst':>6s} {'share':>6s}")
for k, (c, t, b, ins) in sorted(agg.items(), key=lambda kv: -kv[1][1])[:40]:
    print(f"{k[0]:56s} {k[1]:>14s} {k[2]:>10s} {c:5d} {t/c:7.2f} {b/c/1e6:6.1f} {b/t/1e6 if t else 0:5.2f} {ins/c/1e6:6.2f} {100*t/total:5.1f}%")
PY
tail -3 "$OUT/ktimes_$type.err"
