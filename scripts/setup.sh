#!/usr/bin/env bash
# Installs what building and testing ctorch needs on a fresh Debian machine.
# Idempotent: packages already present are not installed again.
set -euo pipefail

APT_PACKAGES=(build-essential cmake pkg-config libpcre2-dev libjansson-dev python3 unzip)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
