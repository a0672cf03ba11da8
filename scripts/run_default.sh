#!/usr/bin/env bash
# The main job on the default model: set up, build, fetch SmolLM2-135M and generate text from a
# prompt with it. Extra arguments go to `ctorch run` (e.g. -p "Your prompt" -n 64 --temp 0);
# without any, a short story opening is continued.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
scripts/setup.sh
scripts/fetch_models.sh
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
model=${CTORCH_MODELS_DIR:-$repo/models}/SmolLM2-135M-Instruct.Q4_1.gguf
if [ $# -eq 0 ]; then
    set -- -p "Once upon a time, in a small village," -n 128
fi
exec build/ctorch run -m "$model" "$@"
