#!/usr/bin/env bash
# ctorch synth: bad flags and impossible shapes give a clear message and exit 2, runtime
# failures (unwritable path, missing vocabulary file) exit 1 and leave no file; a good run
# exits 0 and writes a file `ctorch inspect` reads.
# usage: synth.sh CTORCH_BINARY REPO_DIR
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
checks=0
expect() { # expect DESCRIPTION CONDITION...
    local what=$1; shift
    checks=$((checks + 1))
    if ! "$@"; then echo "FAIL: $what" >&2; sed 's/^/  stderr: /' "$tmp/err" >&2; fails=$((fails + 1)); fi
}
run() { "$bin" synth "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
says() { grep -q -- "$1" "$tmp/err"; }
small="--arch llama --n-embd 64 --n-layer 1 --n-head 2 --n-ff 128 --n-vocab 300"

run --preset llama-9000b -o "$tmp/x.gguf"
expect "unknown preset: exit 2" test "$rc" = 2
expect "unknown preset: lists the valid ones" says "llama2-7b, llama3-8b, tinyllama-1.1b, smollm2-135m, qwen2-7b, gemma3-270m, gpt2-124m"

run --preset llama2-7b --type q9_9 -o "$tmp/x.gguf"
expect "unknown type: exit 2" test "$rc" = 2
expect "unknown type: named, valid ones listed" says "unknown type 'q9_9'.*q4_k_m"

run --preset llama2-7b
expect "missing -o: exit 2" test "$rc" = 2
expect "missing -o: said" says "missing output file"

run --preset llama2-7b --bogus 1 -o "$tmp/x.gguf"
expect "unknown option: exit 2" test "$rc" = 2
expect "unknown option: named" says "unknown option '--bogus'"

run --preset llama2-7b -o
expect "flag without value: exit 2" test "$rc" = 2

run $small --n-head 3 -o "$tmp/x.gguf"
expect "n_head not dividing n_embd: exit 2" test "$rc" = 2
expect "n_head not dividing n_embd: said" says "n_head 3 does not divide n_embd 64"

run $small --n-head-kv 3 -o "$tmp/x.gguf"
expect "n_head_kv not dividing n_head: exit 2" test "$rc" = 2
expect "n_head_kv not dividing n_head: said" says "n_head_kv 3 does not divide n_head 2"

run $small --n-ff 0 -o "$tmp/x.gguf"
expect "zero n_ff: exit 2" test "$rc" = 2
expect "zero n_ff: said" says "n_ff must be positive"

run $small --n-embd 12x -o "$tmp/x.gguf"
expect "not a number: exit 2" test "$rc" = 2
expect "not a number: said" says "--n-embd needs a whole number, got '12x'"

run $small --n-embd -64 -o "$tmp/x.gguf"
expect "negative: exit 2" test "$rc" = 2

run --arch llama --n-embd 64 --n-layer 1 --n-head 2 -o "$tmp/x.gguf"
expect "custom shape without n_ff: exit 2" test "$rc" = 2
expect "custom shape without n_ff: said" says "needs --n-ff"

run $small --arch mamba -o "$tmp/x.gguf"
expect "repeated flag: the last wins (mamba: exit 2)" test "$rc" = 2

run --arch gpt3 --n-embd 64 -o "$tmp/x.gguf"
expect "unknown architecture: exit 2" test "$rc" = 2
expect "unknown architecture: said" says "unknown architecture 'gpt3'"

run --preset gemma3-270m --arch llama -o "$tmp/x.gguf"
expect "preset with another --arch: exit 2" test "$rc" = 2

run $small --n-vocab 100 -o "$tmp/x.gguf"
expect "generated vocabulary too small: exit 2" test "$rc" = 2
expect "generated vocabulary too small: said" says "259"

run $small --threads 0 -o "$tmp/x.gguf"
expect "zero threads: exit 2" test "$rc" = 2

run $small -o "$tmp/no/such/dir/x.gguf"
expect "unwritable path: exit 1" test "$rc" = 1
expect "unwritable path: names it" says "no/such/dir/x.gguf"

rm -f "$tmp/x.gguf"
run $small --vocab "$tmp/missing-vocab.gguf" -o "$tmp/x.gguf"
expect "missing vocab file: exit 1" test "$rc" = 1
expect "missing vocab file: names it" says "missing-vocab.gguf"
expect "missing vocab file: no output left" test ! -e "$tmp/x.gguf"

if [ -w /dev/full ]; then
    run $small -o /dev/full
    expect "disk full: exit 1" test "$rc" = 1
    expect "disk full: said" says "No space left"
    expect "disk full: the device is left alone" test -c /dev/full
fi

# a write that fails in the middle of the tensor data (file size limit of 1 MiB; the model
# is about 3 MiB): exit 1, the message says why, the partial file is removed
(trap '' XFSZ; ulimit -f 1024; exec "$bin" synth --arch llama --n-embd 512 --n-layer 2 --n-head 8 --n-ff 1024 \
    --n-vocab 1000 --type q4_0 -o "$tmp/limited.gguf") >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "write fails mid-file: exit 1" test "$rc" = 1
expect "write fails mid-file: said" says "File too large"
expect "write fails mid-file: partial file removed" test ! -e "$tmp/limited.gguf"

run --help
expect "--help: exit 0" test "$rc" = 0
expect "--help: explains the weights" grep -q "random blocks directly" "$tmp/out"

run $small --type f16 --seed 5 -o "$tmp/ok.gguf"
expect "small model: exit 0" test "$rc" = 0
expect "small model: summary on stderr" says "wrote .*ok.gguf"
"$bin" inspect "$tmp/ok.gguf" >"$tmp/out" 2>"$tmp/err"
expect "small model: inspect reads it" test $? = 0
expect "small model: F16 matrices" grep -Eq "blk.0.attn_q.weight +F16 +64 x 64" "$tmp/out"
expect "small model: file type" grep -Eq "file type +1 \(MOSTLY_F16\)" "$tmp/out"

echo "synth.sh: $checks checks, $fails failed"
[ "$fails" = 0 ]
