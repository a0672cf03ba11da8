#!/usr/bin/env bash
# Fill .devdeps/ (git-ignored) with what scripts/device_check.sh needs on the GPU machine,
# which has no package mirror: the Debian packages of pcre2, jansson and pkgconf, and the
# real models cut to a few layers (under the device tool's 64 MiB carry limit). Run here
# once, after scripts/fetch_models.sh; then carry .devdeps with the device call.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .devdeps .git/info
grep -qx "/.devdeps/" .git/info/exclude 2>/dev/null || echo "/.devdeps/" >>.git/info/exclude
(cd .devdeps && apt-get download libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 \
    libjansson-dev libjansson4 pkgconf pkgconf-bin libpkgconf3)
if [ -f models/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
    python3 scripts/cut_layers.py models/SmolLM2-135M-Instruct.Q4_1.gguf .devdeps/smollm2-4layers.gguf 4
fi
du -sh .devdeps
