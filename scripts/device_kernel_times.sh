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
CTORCH_CUDA_GRAPHS=0 timeout 300 ncu --clock-control none --metrics gpu__time_duration.sum --csv \
    $b/ctorch bench --backend cuda -m $m -p 0 -n $n -r 1 >"$OUT/ktimes_$type.csv" 2>"$OUT/ktimes_$type.err"
python3 - "$OUT/ktimes_$type.csv" "$n" <<'PY'
import csv, sys, collections
path, n = sys.argv[1], int(sys.argv[2])
rows = [r for r in csv.reader(l for l in open(path) if l.startswith('"'))]
head, rows = rows[0], rows[1:]
ix = {k: i for i, k in enumerate(head)}
agg = collections.defaultdict(lambda: [0, 0.0])
for r in rows:
    if r[ix["Metric Name"]] != "gpu__time_duration.sum":
        continue
    name = r[ix["Kernel Name"]]
    short = name.split("(")[0].replace("void ", "")[:60]
    key = (short, r[ix["Grid Size"]], r[ix["Block Size"]])
    v = float(r[ix["Metric Value"]].replace(",", ""))
    unit = r[ix["Metric Unit"]]
    v = v / 1000.0 if unit == "nsecond" else v * 1000.0 if unit == "msecond" else v
    agg[key][0] += 1
    agg[key][1] += v
# the last n tokens' worth: a decode token's launches are the bench's n passes (plus warm-up)
total = sum(a[1] for a in agg.values())
print(f"kernels: {sum(a[0] for a in agg.values())}, total {total/1000:.2f} ms over the run (warm-up pass included)")
print(f"{'kernel':60s} {'grid':>14s} {'block':>12s} {'count':>6s} {'mean us':>8s} {'total ms':>9s} {'share':>6s}")
for k, (c, t) in sorted(agg.items(), key=lambda kv: -kv[1][1])[:40]:
    print(f"{k[0]:60s} {k[1]:>14s} {k[2]:>12s} {c:6d} {t/c:8.2f} {t/1000:9.3f} {100*t/total:5.1f}%")
PY
tail -3 "$OUT/ktimes_$type.err"
