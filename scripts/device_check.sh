#!/usr/bin/env bash
# Build, test and benchmark the CUDA backend on the GPU machine, in one call of the device
# tool (run from the repository root; logs under $OUT, a short table printed last):
#
#   bash scripts/device_check.sh [build|test|bench|all] [extra ctest regex]
#
# The machine has CUDA, CMake and ninja but not libpcre2/jansson/pkg-config: their Debian
# packages travel in .devdeps/ (scripts/device_deps.sh puts them there) and are unpacked
# under /tmp. Real models cut to a few layers (scripts/cut_layers.py) travel there too.
set -uo pipefail
mode=${1:-all}
extra=${2:-}
OUT=${OUT:-/tmp/ctorch-device-out}
mkdir -p "$OUT"
root=$(pwd)
summary="$OUT/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }

# ---- dependencies ----------------------------------------------------------------------
if ! pkg-config --exists libpcre2-8 jansson 2>/dev/null; then
    deps=/tmp/ctorch-deps
    mkdir -p "$deps"
    for f in .devdeps/*.deb; do dpkg -x "$f" "$deps"; done
    sed -i "s|^prefix=/usr|prefix=$deps/usr|" "$deps"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc
    export PATH="$deps/usr/bin:$PATH"
    export PKG_CONFIG_PATH="$deps/usr/lib/x86_64-linux-gnu/pkgconfig"
    export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
fi
nvidia-smi --query-gpu=name,memory.total,memory.used,clocks.sm,clocks.mem --format=csv >"$OUT/gpu.txt" 2>&1
note "gpu: $(tail -1 "$OUT/gpu.txt")"

# ---- build -------------------------------------------------------------------------------
build=/tmp/ctorch-build
t0=$(date +%s)
if ! cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCTORCH_CUDA=ON -DCTORCH_WERROR=ON \
    >"$OUT/configure.log" 2>&1; then
    tail -30 "$OUT/configure.log"
    note "configure FAILED"
    exit 1
fi
if ! cmake --build "$build" -j 16 >"$OUT/build.log" 2>&1; then
    grep -E "error|Error" "$OUT/build.log" | head -40
    note "build FAILED"
    exit 1
fi
note "build: $(( $(date +%s) - t0 )) s"
[ "$mode" = build ] && { cat "$summary"; exit 0; }

# ---- tests ---------------------------------------------------------------------------------
if [ "$mode" = test ] || [ "$mode" = all ]; then
    models=$(ls "$root"/.devdeps/*.gguf 2>/dev/null | tr '\n' ':')
    export CTORCH_CUDA_TEST_MODELS="${models%:}"
    regex="cuda|cli_bench${extra:+|$extra}"
    (cd "$build" && timeout 400 ctest -R "$regex" --output-on-failure --timeout 240) >"$OUT/ctest.log" 2>&1
    grep -E "tests passed|Passed|Failed|Skipped|\*\*\*" "$OUT/ctest.log" | tee -a "$summary"
    grep -E "relative error|worst|FAIL|CHECK" "$OUT/ctest.log" | head -40
fi

# ---- benchmarks -----------------------------------------------------------------------------
if [ "$mode" = bench ] || [ "$mode" = all ]; then
    ct="$build/ctorch"
    for t in q4_k_m q4_0; do
        [ -f /tmp/llama2-7b-$t.gguf ] || "$ct" synth --preset llama2-7b --type $t -o /tmp/llama2-7b-$t.gguf \
            >"$OUT/synth-$t.log" 2>&1 || { tail -3 "$OUT/synth-$t.log"; note "synth $t FAILED"; }
    done
    timeout 300 "$ct" bench --backend cuda -m /tmp/llama2-7b-q4_k_m.gguf -m /tmp/llama2-7b-q4_0.gguf \
        -p 512 -n 128 -r 3 >"$OUT/bench.md" 2>"$OUT/bench.err" || { tail -5 "$OUT/bench.err"; note "bench FAILED";
        CTORCH_CUDA_FUSE=0 timeout 200 "$ct" bench --backend cuda -m /tmp/llama2-7b-q4_k_m.gguf -m /tmp/llama2-7b-q4_0.gguf \
            -p 512 -n 128 -r 2 >>"$OUT/bench.md" 2>>"$OUT/bench.err" || note "bench (fusion off) FAILED"; }
    cat "$OUT/bench.md" | tee -a "$summary"
    # the same decode op by op: what the graphs save
    for v in CTORCH_CUDA_GRAPHS CTORCH_CUDA_FUSE; do
        env $v=0 timeout 120 "$ct" bench --backend cuda -m /tmp/llama2-7b-q4_k_m.gguf -p 0 -n 128 -r 2 \
            >"$OUT/bench-$v.md" 2>&1 && grep -E "tg128" "$OUT/bench-$v.md" | tail -1 | sed "s/^/$v=0: /" | tee -a "$summary"
    done
    # issue 7: aggregate decode by parallel sequences (llama-batched-bench's shape)
    timeout 300 "$ct" bench --backend cuda -m /tmp/llama2-7b-q4_k_m.gguf -b ${CT_BATCHES:-1,8,32,64,128} -p 128 -n 128 \
        -r 1 >"$OUT/bench-batched.md" 2>"$OUT/bench-batched.err" || { tail -5 "$OUT/bench-batched.err"; note "batched bench FAILED"; }
    cat "$OUT/bench-batched.md" | tee -a "$summary"
    CT_KERNEL_BENCH=${CT_KERNEL_BENCH:-1} # 1: the GEMV kernels, 2: also GEMM and attention
    if [ "$CT_KERNEL_BENCH" != 0 ]; then
        timeout 90 "$build/bench_cuda_mmv" q4_k q6_k q4_0 >"$OUT/bench_cuda_mmv.txt" 2>&1 || note "bench_cuda_mmv exit $?"
        grep -iE "copy|q4_k|q6_k|q4_0" "$OUT/bench_cuda_mmv.txt" | head -20
        if [ "$CT_KERNEL_BENCH" = 2 ]; then
            timeout 90 "$build/bench_cuda_gemm" --types=q4_k,q6_k,q4_0 --n=16,128,512 >"$OUT/bench_cuda_gemm.txt" 2>&1 ||
                note "bench_cuda_gemm exit $?"
            timeout 60 "$build/bench_cuda_attention" --quick >"$OUT/bench_cuda_attention.txt" 2>&1 ||
                note "bench_cuda_attention exit $?"
        fi
    fi
fi
# ---- profile: per-op GPU time (CTORCH_CUDA_PROFILE=1) of single-sequence and 128-sequence decode ----
if [ "$mode" = profile ] || [ "${CT_PROFILE:-0}" = 1 ]; then
    ct="$build/ctorch"
    [ -f /tmp/llama2-7b-q4_k_m.gguf ] || "$ct" synth --preset llama2-7b --type q4_k_m -o /tmp/llama2-7b-q4_k_m.gguf \
        >"$OUT/synth-q4_k_m.log" 2>&1
    CTORCH_CUDA_PROFILE=1 timeout 120 "$ct" bench --backend cuda -m /tmp/llama2-7b-q4_k_m.gguf -p 0 -n 64 -r 1 \
        >"$OUT/profile-tg.md" 2>"$OUT/profile-tg.txt"
    CTORCH_CUDA_PROFILE=1 timeout 200 "$ct" bench --backend cuda -m /tmp/llama2-7b-q4_k_m.gguf -b ${CT_PROFILE_B:-128} \
        -p 128 -n 32 -r 1 >"$OUT/profile-b.md" 2>"$OUT/profile-b.txt"
    for f in profile-tg profile-b; do note "== $f"; grep -A 16 "CUDA profile" "$OUT/$f.txt" | tee -a "$summary" >/dev/null; done
fi
echo "=============== summary"
cat "$summary"
