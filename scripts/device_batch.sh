#!/usr/bin/env bash
# Batched matmul and batched decode on the GPU machine, in the call after `device_check.sh
# build|test` (it uses /tmp/ctorch-build): the matmul kernel benchmark (fused mma vs cuBLAS by
# token count), then `ctorch bench -b` on the synthetic Llama-2-7B Q4_K_M with the fused/cuBLAS
# crossover at its default and at the values given. Logs under $OUT, figures on stdout.
#
#   bash scripts/device_batch.sh [crossovers to try, default "128"] [-b list, default 64,128]
set -uo pipefail
OUT=${OUT:-/tmp/ctorch-device-out}
mkdir -p "$OUT"
b=/tmp/ctorch-build
cross=${1:-128}
seqs=${2:-64,128}
m=/tmp/llama2-7b-q4_k_m.gguf
[ -f $m ] || $b/ctorch synth --preset llama2-7b --type q4_k_m -o $m >/dev/null 2>&1
echo "=== bench_cuda_gemm"
timeout 150 $b/bench_cuda_gemm --types=q4_k,q6_k,q4_0 --n=16,32,64,128,256 --reps=10 >"$OUT/gemm.txt" 2>&1
grep -vE "^\s*$" "$OUT/gemm.txt" | tail -45
echo "=== batched decode (prompt 128, generate 32)"
for c in default $cross; do
    if [ $c = default ]; then env=""; else env="CTORCH_CUDA_FUSED_MAX=$c"; fi
    env $env timeout 200 $b/ctorch bench --backend cuda -m $m -b $seqs -p 128 -n 32 -r 1 2>>"$OUT/batch.err" |
        grep -E "^\|" | sed "s/^/fused_max=$c: /"
done
tail -3 "$OUT/batch.err" 2>/dev/null
