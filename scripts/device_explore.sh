#!/usr/bin/env bash
# One device call's measurements beyond device_check.sh's tests: decode and prefill of the
# synthetic Llama-2-7B (Q4_K_M, Q4_0), batched decode by number of sequences, with and
# without F16 weight copies (CTORCH_CUDA_F16_WEIGHTS=1). Run after `device_check.sh test`
# (it uses that build in /tmp/ctorch-build). Logs under $OUT, figures on stdout.
set -uo pipefail
OUT=${OUT:-/tmp/ctorch-device-out}
b=/tmp/ctorch-build
for t in q4_k_m q4_0; do
    [ -f /tmp/llama2-7b-$t.gguf ] || $b/ctorch synth --preset llama2-7b --type $t -o /tmp/llama2-7b-$t.gguf >/dev/null 2>&1
done
m=/tmp/llama2-7b-q4_k_m.gguf
echo "=== single sequence"
timeout 150 $b/ctorch bench --backend cuda -m $m -m /tmp/llama2-7b-q4_0.gguf -p 512 -n 128 -r 2 2>$OUT/bench.err | grep -E "^\|"
CTORCH_CUDA_F16_WEIGHTS=1 timeout 100 $b/ctorch bench --backend cuda -m $m -p 512 -n 0 -r 2 2>>$OUT/bench.err | grep -E "pp512" | sed 's/^/f16 copies: /'
echo "=== batched (prompt 128, generate 32)"
timeout 150 $b/ctorch bench --backend cuda -m $m -b ${CT_B:-1,8,32,64,128} -p 128 -n 32 -r 1 2>>$OUT/bench.err | grep -E "^\|"
echo "=== batched, F16 weight copies"
CTORCH_CUDA_F16_WEIGHTS=1 timeout 150 $b/ctorch bench --backend cuda -m $m -b ${CT_B2:-8,32,64,128} -p 128 -n 32 -r 1 \
    2>>$OUT/bench.err | grep -E "^\|"
tail -5 $OUT/bench.err
