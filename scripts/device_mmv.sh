#!/usr/bin/env bash
# The decode GEMV on the GPU machine, in the call after `device_check.sh test` (it uses that
# build in /tmp/ctorch-build): the kernel benchmark for both kernels (direct, ring), decode of
# the synthetic Llama-2-7B with each (CTORCH_CUDA_MMV), a per-op decode profile, the host
# phases of a decode and a 128-sequence pass (CTORCH_CUDA_HOST_TIMES), and Nsight
# Compute sections of one launch of each kernel (Q4_K 4096x4096, one token). Logs under $OUT,
# figures on stdout.
#
#   bash scripts/device_mmv.sh [types for bench_cuda_mmv, default "q4_k q6_k q4_0"; none: skip it]
#   CT_NO_NCU=1 skips Nsight Compute.
set -uo pipefail
OUT=${OUT:-/tmp/ctorch-device-out}
mkdir -p "$OUT"
b=/tmp/ctorch-build
types=${1:-q4_k q6_k q4_0}
for t in q4_k_m q4_0; do
    [ -f /tmp/llama2-7b-$t.gguf ] || $b/ctorch synth --preset llama2-7b --type $t -o /tmp/llama2-7b-$t.gguf >/dev/null 2>&1
done
m=/tmp/llama2-7b-q4_k_m.gguf

echo "=== bench_cuda_mmv $types"
[ "$types" = none ] || {
# shellcheck disable=SC2086
timeout 200 $b/bench_cuda_mmv $types >"$OUT/bench_mmv.txt" 2>&1
cat "$OUT/bench_mmv.txt"; }

echo "=== decode: direct kernel, ring kernel"
for k in direct q16 ring; do
    CTORCH_CUDA_MMV=$k timeout 150 $b/ctorch bench --backend cuda -m $m -m /tmp/llama2-7b-q4_0.gguf -p 0 -n 128 -r 3 \
        2>>"$OUT/bench.err" | grep -E "tg128" | sed "s/^/mmv=$k: /"
done

echo "=== decode profile (direct)"
CTORCH_CUDA_PROFILE=1 timeout 100 $b/ctorch bench --backend cuda -m $m -p 0 -n 32 -r 1 >"$OUT/profile.txt" 2>&1
grep -vE "^bench" "$OUT/profile.txt" | head -40

echo "=== host phases per pass (CTORCH_CUDA_HOST_TIMES=1): decode, then 128 sequences"
CTORCH_CUDA_HOST_TIMES=1 timeout 100 $b/ctorch bench --backend cuda -m $m -p 0 -n 64 -r 1 >/dev/null 2>"$OUT/host1.txt"
grep -E "^\||CUDA host" "$OUT/host1.txt"
CTORCH_CUDA_HOST_TIMES=1 timeout 150 $b/ctorch bench --backend cuda -m $m -b 128 -p 128 -n 32 -r 1 >"$OUT/host128.md" 2>"$OUT/host128.txt"
grep -E "^\||CUDA host" "$OUT/host128.md" "$OUT/host128.txt"

if [ -z "${CT_NO_NCU:-}" ] && command -v ncu >/dev/null; then
    sections="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section Occupancy"
    for k in direct q16 ring; do
        case $k in direct) regex='direct_multi_kernel.*false' ;; q16) regex='direct_multi_kernel.*true' ;; *) regex=mmv_kernel ;; esac
        # shellcheck disable=SC2086
        timeout 150 ncu --clock-control none $sections -k regex:$regex --launch-skip 3 --launch-count 1 \
            $b/bench_cuda_mmv q4_k >"$OUT/ncu_$k.txt" 2>&1
        echo "=== ncu $k (Q4_K 4096x4096, n=1)"
        grep -E "Duration|DRAM Throughput|Memory Throughput|L1/TEX Hit|L2 Hit|Issue Slots Busy|Issued Ipc|No Eligible|Achieved Occupancy|Registers Per|Stall|Warp Cycles Per Issued|Theoretical Occupancy|Block Limit" \
            "$OUT/ncu_$k.txt" | head -30
    done
fi
tail -3 "$OUT/bench.err" 2>/dev/null
