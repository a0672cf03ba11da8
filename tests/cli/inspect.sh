#!/usr/bin/env bash
# ctorch inspect: exit codes and messages for bad use, and the text table of a vocab file.
# usage: inspect.sh CTORCH_BINARY REPO_DIR   (77 = skipped)
set -u
bin=$1
repo=$2
vocab="${CTORCH_SHARED_DIR:-$repo/../shared}/testdata/vocab/ggml-vocab-llama-spm.gguf"
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

run inspect
expect "no file: exit 2" test "$rc" = 2
expect "no file: usage" grep -q "usage: ctorch inspect" "$tmp/err"

run inspect --frobnicate x.gguf
expect "bad flag: exit 2" test "$rc" = 2
expect "bad flag: named" grep -q -- "--frobnicate" "$tmp/err"

run inspect a.gguf b.gguf
expect "two files: exit 2" test "$rc" = 2

run inspect "$tmp/missing.gguf"
expect "missing file: exit 1" test "$rc" = 1
expect "missing file: message names the file" grep -q "missing.gguf" "$tmp/err"

printf 'GGUF\003\000\000\000' >"$tmp/truncated.gguf"
run inspect "$tmp/truncated.gguf"
expect "truncated file: exit 1" test "$rc" = 1
expect "truncated file: message names the file" grep -q "truncated.gguf" "$tmp/err"
expect "truncated file: nothing on stdout" test ! -s "$tmp/out"

printf 'not a gguf file at all' >"$tmp/text.gguf"
run inspect --json "$tmp/text.gguf"
expect "not GGUF: exit 1" test "$rc" = 1

run inspect --help
expect "--help: exit 0" test "$rc" = 0
expect "--help: usage on stdout" grep -q "usage: ctorch inspect" "$tmp/out"

if [ -f "$vocab" ]; then
    run inspect "$vocab"
    expect "vocab file: exit 0" test "$rc" = 0
    expect "text: architecture" grep -Eq "^  architecture +llama$" "$tmp/out"
    expect "text: vocab size" grep -Eq "^  vocab size +32000$" "$tmp/out"
    expect "text: tokenizer" grep -Eq "^  tokenizer +llama$" "$tmp/out"
    expect "text: file type" grep -Eq "^  file type +1 \(MOSTLY_F16\)$" "$tmp/out"
    expect "text: token array head" grep -q 'STRING\[32000\] *\["<unk>", "<s>", "</s>", "<0x00>", ...\]' "$tmp/out"
    expect "text: FLOAT32 shown as written" grep -Eq "layer_norm_rms_epsilon +FLOAT32 +1e-05$" "$tmp/out"
    expect "text: no tensor table for a vocab file" sh -c "! grep -q '^tensors:' '$tmp/out'"
    run inspect --json "$vocab"
    expect "json: exit 0" test "$rc" = 0
    expect "json: one object" grep -q '"n_tensors": 0' "$tmp/out"
else
    echo "vocab file $vocab absent: text checks not run"
fi

echo "inspect.sh: $checks checks, $fails failed"
[ "$fails" = 0 ]
