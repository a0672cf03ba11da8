#!/usr/bin/env bash
# The main job on the default model: set up, build, fetch SmolLM2-135M and run ctorch on it.
# Extra arguments go to ctorch.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
scripts/setup.sh
scripts/fetch_models.sh
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
model=${CTORCH_MODELS_DIR:-$repo/models}/SmolLM2-135M-Instruct.Q4_1.gguf
exec build/ctorch inspect "$model" "$@"
