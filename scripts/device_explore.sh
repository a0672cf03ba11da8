#!/usr/bin/env bash
# One device call's measurements beyond device_check.sh: the GEMV kernels (f32 vs int16
# activations), decode with each, batched decode with the fused/cuBLAS crossover moved, and
# the GEMM/attention kernel benchmarks. Logs under $OUT; run after device_check.sh (it uses
# that script's build in /tmp/ctorch-build and the synthetic model it wrote).
set -uo pipefail
OUT=${OUT:-/tmp/ctorch-device-out}
b=/tmp/ctorch-build
m=/tmp/llama2-7b-q4_k_m.gguf
[ -f $m ] || $b/ctorch synth --preset llama2-7b --type q4_k_m -o $m >/dev/null 2>&1
timeout 150 $b/bench_cuda_mmv q4_k q6_k q4_0 >$OUT/mmv.txt 2>&1
for v in int16 float; do
    CTORCH_CUDA_MMV=$v timeout 100 $b/ctorch bench --backend cuda -m $m -p 0 -n 128 -r 2 >$OUT/tg-$v.md 2>&1
done
for f in 256 64 16; do
    CTORCH_CUDA_FUSED_MAX=$f timeout 120 $b/ctorch bench --backend cuda -m $m -b ${CT_B:-32,128} -p 128 -n 32 -r 1 \
        >$OUT/batched-fmax$f.md 2>&1
done
timeout 90 $b/bench_cuda_gemm --types=q4_k,q6_k --n=16,32,64,128 >$OUT/gemm.txt 2>&1
CT_KERNEL_BENCH=2 timeout 60 $b/bench_cuda_attention --quick >$OUT/attn.txt 2>&1
echo "=== mmv"; grep -E "^(Q|type|device)" $OUT/mmv.txt
echo "=== tg"; grep -h "tg128" $OUT/tg-*.md
echo "=== batched"; grep -h -E "^\|" $OUT/batched-fmax*.md
