#!/usr/bin/env bash
# ctorch tokenize: output formats, stdin, flags, and exit codes for bad use. Expected ids are
# the shared test vectors' ("Hello world" in the GPT-2 and Llama vocabularies).
# usage: tokenize.sh CTORCH_BINARY REPO_DIR   (77 = skipped)
set -u
bin=$1
repo=$2
vocab_dir="${CTORCH_SHARED_DIR:-$repo/../shared}/testdata/vocab"
gpt2="$vocab_dir/ggml-vocab-gpt-2.gguf"
spm="$vocab_dir/ggml-vocab-llama-spm.gguf"
if [ ! -f "$gpt2" ] || [ ! -f "$spm" ]; then
    echo "skipped: no shared vocabularies in $vocab_dir"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
checks=0
expect() { # expect DESCRIPTION CONDITION...
    local what=$1; shift
    checks=$((checks + 1))
    if ! "$@"; then echo "FAIL: $what" >&2; fails=$((fails + 1)); fi
}
run() { # run ARGS... -> $rc, $tmp/out, $tmp/err
    "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}
out_is() { [ "$(cat "$tmp/out")" = "$1" ]; }

run tokenize -m "$gpt2" --ids "Hello world"
expect "gpt-2 --ids: exit 0" test "$rc" = 0
expect "gpt-2 --ids: one line of ids" out_is "15496 995"

run tokenize -m "$spm" --ids "Hello world"
expect "llama --ids adds BOS" out_is "1 15043 3186"
run tokenize -m "$spm" --ids --no-bos "Hello world"
expect "llama --no-bos" out_is "15043 3186"

printf 'Hello world' | "$bin" tokenize -m "$gpt2" --ids >"$tmp/out" 2>"$tmp/err"
expect "stdin: same ids" out_is "15496 995"

printf ' Hello\n' >"$tmp/in.txt"
run tokenize -m "$gpt2" -f "$tmp/in.txt"
expect "default format: id, tab, escaped piece" out_is "$(printf '18435\t Hello\n198\t\\n')"
run tokenize -m "$gpt2" --pieces -f "$tmp/in.txt"
expect "--pieces" out_is "$(printf ' Hello\n\\n')"

run tokenize -m "$gpt2" --ids "<|endoftext|>"
expect "control token text is text without --special" test "$(wc -w <"$tmp/out")" -gt 1
run tokenize -m "$gpt2" --ids --special "<|endoftext|>"
expect "--special parses it" out_is "50256"

run tokenize -m "$gpt2" --ids ""
expect "empty text: exit 0" test "$rc" = 0
expect "empty text: empty line" out_is ""

run tokenize -m "$gpt2" --bench "Hello world, this is a benchmark."
expect "--bench: exit 0" test "$rc" = 0
expect "--bench: reports MB/s" grep -q "MB/s" "$tmp/out"

run tokenize "Hello"
expect "no model: exit 2" test "$rc" = 2
expect "no model: usage" grep -q "usage: ctorch tokenize" "$tmp/err"
run tokenize -m "$gpt2" --ids --pieces "x"
expect "--ids with --pieces: exit 2" test "$rc" = 2
run tokenize -m "$gpt2" --frobnicate "x"
expect "unknown flag: exit 2" test "$rc" = 2
expect "unknown flag: named" grep -q -- "--frobnicate" "$tmp/err"
run tokenize -m "$gpt2" "a" "b"
expect "two texts: exit 2" test "$rc" = 2
run tokenize -m
expect "-m without value: exit 2" test "$rc" = 2
run tokenize -m "$tmp/missing.gguf" "x"
expect "missing model: exit 1" test "$rc" = 1
expect "missing model: message names the file" grep -q "missing.gguf" "$tmp/err"
run tokenize -m "$gpt2" -f "$tmp/missing.txt"
expect "missing text file: exit 1" test "$rc" = 1
printf 'GGUF\003\000\000\000' >"$tmp/truncated.gguf"
run tokenize -m "$tmp/truncated.gguf" "x"
expect "truncated model: exit 1" test "$rc" = 1
run tokenize --help
expect "--help: exit 0" test "$rc" = 0

echo "tokenize.sh: $checks checks, $fails failed"
[ "$fails" = 0 ]
