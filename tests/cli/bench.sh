#!/usr/bin/env bash
# ctorch bench on tiny synthetic models: the markdown table (header, one row per combination of
# model, thread count and test, positive rates, sd >= 0), the JSON array (every field, one
# sample per repetition), -p 0 / -n 0, and bad input (usage errors exit 2, runtime failures
# exit 1, each with a message and nothing on stdout). No timing assertions.
# usage: bench.sh CTORCH_BINARY REPO_DIR
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
checks=0
expect() { # expect DESCRIPTION COMMAND...
    local what=$1; shift
    checks=$((checks + 1))
    if ! "$@"; then echo "FAIL: $what (rc=$rc; stderr: $(head -c 400 "$tmp/err"))" >&2; fails=$((fails + 1)); fi
}
run() { # run ARGS... -> $rc, $tmp/out, $tmp/err
    "$bin" bench "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
}
quiet_stdout() { test ! -s "$tmp/out"; }
says() { grep -q -- "$1" "$tmp/err"; }
lines() { test "$(wc -l <"$tmp/out")" = "$1"; }

tiny="$tmp/tiny.gguf"
small="$tmp/small-gemma.gguf"
"$bin" synth --arch llama --n-embd 64 --n-layer 2 --n-head 4 --n-ff 128 --n-vocab 512 --ctx 256 -o "$tiny" \
    >/dev/null 2>"$tmp/err" || { echo "FAIL: synth of the llama test model"; cat "$tmp/err"; exit 1; }
"$bin" synth --arch gemma3 --n-embd 64 --n-layer 1 --n-head 2 --n-head-kv 1 --n-ff 128 --n-vocab 300 --ctx 128 \
    -o "$small" >/dev/null 2>"$tmp/err" || { echo "FAIL: synth of the gemma3 test model"; cat "$tmp/err"; exit 1; }

# ---- markdown table -------------------------------------------------------------------------
# md_cells LINE_NO: the trimmed cells of one table line, '|'-separated
md_cells() { sed -n "${1}p" "$tmp/out" | awk -F'|' '{ for (i = 2; i < NF; i++) { gsub(/^ +| +$/, "", $i); printf "%s%s", $i, (i < NF - 1 ? "|" : "\n") } }'; }
# row_ok LINE_NO MODEL THREADS TEST: a data row with the expected labels and a rate "mean ± sd",
# mean > 0 and sd >= 0
row_ok() {
    local cells
    cells=$(md_cells "$1")
    awk -F'|' -v model="$2" -v threads="$3" -v test="$4" '
        NF != 7 { exit 1 }
        $1 != model || $4 != "cpu" || $5 != threads || $6 != test { exit 1 }
        $2 !~ /^[0-9]+\.[0-9][0-9] (MiB|GiB)$/ || $3 !~ /^[0-9]+\.[0-9][0-9] (M|B)$/ { exit 1 }
        {
            n = split($7, r, " ")
            if (n != 3 || r[2] != "±") exit 1
            if (r[1] !~ /^[0-9]+\.[0-9]+$/ || r[3] !~ /^[0-9]+\.[0-9]+$/) exit 1
            if (!(r[1] + 0 > 0) || !(r[3] + 0 >= 0)) exit 1
        }' <<<"$cells"
}

run -m "$tiny" -p 16 -n 8 -r 2 -t 1,2
expect "md: exit 0" test "$rc" = 0
expect "md: header + separator + 4 rows" lines 6
expect "md: header columns" test "$(md_cells 1)" = "model|size|params|backend|threads|test|t/s"
expect "md: separator (right-aligned numbers)" \
    test "$(md_cells 2 | tr -d '-')" = "|:|:||:|:|:"
expect "md: row 1 = 1 thread pp16" row_ok 3 tiny.gguf 1 pp16
expect "md: row 2 = 1 thread tg8" row_ok 4 tiny.gguf 1 tg8
expect "md: row 3 = 2 threads pp16" row_ok 5 tiny.gguf 2 pp16
expect "md: row 4 = 2 threads tg8" row_ok 6 tiny.gguf 2 tg8
expect "md: progress on stderr" says "bench \[4/4\]: tiny.gguf, 2 threads, tg8 x 2"

# several models, comma lists, --flag=value, -r 1 (sd is 0)
run -m "$tiny" --model="$small" --n-prompt=8,4 -n 0 -r 1 -t 1
expect "two models, -n 0: exit 0" test "$rc" = 0
expect "two models, -n 0: 2 x 2 pp rows only" lines 6
expect "two models: llama pp8" row_ok 3 tiny.gguf 1 pp8
expect "two models: llama pp4" row_ok 4 tiny.gguf 1 pp4
expect "two models: gemma3 pp8" row_ok 5 small-gemma.gguf 1 pp8
expect "two models: gemma3 pp4" row_ok 6 small-gemma.gguf 1 pp4
expect "-r 1: sd is 0" test "$(md_cells 3 | awk -F'|' '{ split($7, r, " "); print r[3] }')" = "0.00"

run -m "$tiny" -p 0 -n 4 -r 1 -t 1
expect "-p 0: exit 0" test "$rc" = 0
expect "-p 0: one tg row" lines 3
expect "-p 0: the tg4 row" row_ok 3 tiny.gguf 1 tg4

run --help
expect "--help: exit 0" test "$rc" = 0
expect "--help: usage on stdout" grep -q "usage: ctorch bench" "$tmp/out"

# ---- JSON (checked with python3's json module when there is one) ------------------------------
run -m "$tiny" -p 16 -n 8 -r 2 -t 1,2 -o json
expect "json: exit 0" test "$rc" = 0
expect "json: progress on stderr" says "bench \[4/4\]"
json_checked=0
if command -v python3 >/dev/null; then
    json_checked=1
    python3 - "$tmp/out" >"$tmp/py" 2>&1 <<'PY'
import json, math, sys
rows = json.load(open(sys.argv[1], encoding="utf-8"))
assert isinstance(rows, list) and len(rows) == 4, "4 objects, got %r" % (rows,)
fields = {"model", "model_path", "arch", "size_bytes", "n_params", "backend", "n_threads", "test", "n_prompt",
          "n_gen", "n_ctx", "reps", "avg_ts", "stddev_ts", "avg_ns", "stddev_ns", "samples_ts", "samples_ns"}
want = [(1, "pp16", 16, 0), (1, "tg8", 0, 8), (2, "pp16", 16, 0), (2, "tg8", 0, 8)]
for o, (threads, test, n_prompt, n_gen) in zip(rows, want):
    assert set(o) == fields, "fields %r" % sorted(o)
    assert o["model"] == "tiny.gguf" and o["model_path"].endswith("/tiny.gguf") and o["arch"] == "llama", o
    assert o["backend"] == "cpu" and o["n_threads"] == threads and o["test"] == test, o
    assert o["n_prompt"] == n_prompt and o["n_gen"] == n_gen and o["n_ctx"] >= 24 and o["reps"] == 2, o
    assert o["size_bytes"] > 0 and o["n_params"] > 0, o
    ts, ns = o["samples_ts"], o["samples_ns"]
    assert len(ts) == 2 and len(ns) == 2, o
    assert all(isinstance(x, int) and x > 0 for x in ns), ns
    n = n_prompt + n_gen
    for t, d in zip(ts, ns):  # each rate is the tokens over that repetition's time
        assert t > 0 and math.isclose(t, n * 1e9 / d, rel_tol=1e-9), (t, d)
    assert math.isclose(o["avg_ts"], sum(ts) / 2, rel_tol=1e-9), o
    sd = abs(ts[0] - ts[1]) / math.sqrt(2)  # sample standard deviation of two values
    assert o["stddev_ts"] >= 0 and math.isclose(o["stddev_ts"], sd, rel_tol=1e-6, abs_tol=1e-9), o
    assert o["avg_ns"] > 0 and o["stddev_ns"] >= 0, o
print("json ok")
PY
    pyrc=$?
    rc=$pyrc
    expect "json: 4 objects with every field and consistent samples ($(tail -c 300 "$tmp/py"))" test "$pyrc" = 0
fi

# ---- usage errors: exit 2, a message naming the problem, nothing on stdout -------------------
usage_case() { # usage_case DESCRIPTION EXPECTED-MESSAGE ARGS...
    local what=$1 msg=$2; shift 2
    run "$@"
    expect "$what: exit 2" test "$rc" = 2
    expect "$what: says '$msg'" says "$msg"
    expect "$what: no stdout" quiet_stdout
}
usage_case "unknown flag" "unknown option '--frobnicate'" -m "$tiny" --frobnicate
usage_case "-b 0" "batch: '0' in '1,0' is not an integer from 1 to 4096" -m "$tiny" -b 1,0
usage_case "stray argument" "unexpected argument 'extra'" -m "$tiny" extra
usage_case "non-numeric -p" "n-prompt: '12x' is not an integer from 0" -m "$tiny" -p 12x
usage_case "negative -n" "n-gen: '-1' is not an integer from 0" -m "$tiny" -n -1
usage_case "empty list element" "n-prompt: '' in '16,,8' is not" -m "$tiny" -p 16,,8
usage_case "trailing comma" "threads: '' in '1,' is not" -m "$tiny" -t 1,
usage_case "-t 0" "threads: '0' is not an integer from 1" -m "$tiny" -t 0
usage_case "-r 0" "repetitions: '0' is not an integer from 1" -m "$tiny" -r 0
usage_case "-r abc" "repetitions: 'abc' is not" -m "$tiny" -r abc
usage_case "bad -o" "output: 'xml' is not md or json" -m "$tiny" -o xml
usage_case "flag without value" "option --threads needs a value" -m "$tiny" -t
usage_case "missing model" "missing -m/--model FILE" -p 16
usage_case "nothing to run" "nothing to run" -m "$tiny" -p 0 -n 0
usage_case "unknown backend" "unknown backend 'tpu'" -m "$tiny" --backend tpu

# ---- runtime failures: exit 1, the library's message, nothing on stdout ----------------------
runtime_case() { # runtime_case DESCRIPTION EXPECTED-MESSAGE ARGS...
    local what=$1 msg=$2; shift 2
    run "$@"
    expect "$what: exit 1" test "$rc" = 1
    expect "$what: says '$msg'" says "$msg"
    expect "$what: no stdout" quiet_stdout
}
printf 'not a gguf file at all' >"$tmp/junk.gguf"
runtime_case "missing model file" "nope.gguf: cannot open" -m "$tmp/nope.gguf" -p 4 -n 0 -r 1
runtime_case "not a GGUF" "junk.gguf: byte offset 0: header: magic" -m "$tmp/junk.gguf" -p 4 -n 0 -r 1
# a bad file later in the list fails before anything is timed
runtime_case "second model missing" "nope.gguf" -m "$tiny" -m "$tmp/nope.gguf" -p 4 -n 0 -r 1
runtime_case "p + n beyond the context" "-p 250 with -n 16 needs 266 positions but the model's context length is 256" \
    -m "$tiny" -p 250 -n 16 -r 1

# cuda: the library's message and exit 1 where the backend is not built or has no GPU
run -m "$tiny" -p 4 -n 0 -r 1 --backend cuda
if [ "$rc" = 0 ]; then
    expect "--backend cuda (available): a cuda row" grep -q "| cuda " "$tmp/out"
else
    expect "--backend cuda: exit 1" test "$rc" = 1
    expect "--backend cuda: the library's message" says "backend 'cuda'"
    expect "--backend cuda: no stdout" quiet_stdout
fi

echo "bench: $checks checks, $fails failed"
[ "$fails" = 0 ] || exit 1
if [ "$json_checked" = 0 ]; then echo "skipped: python3 absent, the JSON output was not checked"; exit 77; fi
exit 0
