#!/usr/bin/env bash
# ctorch bench -b (sequences at once through the batching engine) on a tiny synthetic model:
# the table gains a seqs column and has one pp and one tg row per (sequences, -p, -n)
# combination in order, with positive aggregate rates; -p 0 / -n 0 drop those rows; the JSON
# objects carry n_seq and rates that are the aggregate tokens (sequences x N) over each sample;
# --deterministic runs with -b only; bad -b values are usage errors. No timing assertions.
# usage: batch_bench.sh CTORCH_BINARY REPO_DIR
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

model="$tmp/tiny.gguf"
"$bin" synth --arch llama --n-embd 64 --n-layer 2 --n-head 4 --n-ff 128 --n-vocab 300 --ctx 128 -o "$model" \
    >/dev/null 2>"$tmp/err" || { echo "FAIL: synth"; cat "$tmp/err"; exit 1; }

"$bin" bench -m "$model" -b 1,3 -p 12 -n 5,0 -r 2 -t 1 >"$tmp/md" 2>"$tmp/err"
rc=$?
[ "$rc" = 0 ] || fail "md: exit $rc: $(cat "$tmp/err")"
# header, separator, then for b in 1,3: (p12,n5): pp12 tg5; (p12,n0): pp12
[ "$(wc -l <"$tmp/md")" = 8 ] || fail "md: $(wc -l <"$tmp/md") lines: $(cat "$tmp/md")"
head -1 "$tmp/md" | grep -q "| threads | seqs |     test |" || fail "md: header $(head -1 "$tmp/md")"
want="1 pp12,1 tg5,1 pp12,3 pp12,3 tg5,3 pp12"
got=$(tail -n +3 "$tmp/md" | awk -F'|' '{ gsub(/ /, "", $7); gsub(/ /, "", $8); printf "%s%s %s", (NR > 1 ? "," : ""), $7, $8 }')
[ "$got" = "$want" ] || fail "md rows: '$got' (want '$want')"
tail -n +3 "$tmp/md" | awk -F'|' '{ split($9, r, " "); if (!(r[1] + 0 > 0) || r[2] != "±") exit 1 }' || fail "md: rates $(cat "$tmp/md")"

"$bin" bench -m "$model" -b 2 -p 0 -n 4 -r 1 -t 1 >"$tmp/p0" 2>"$tmp/err" || fail "-p 0: exit $?"
[ "$(wc -l <"$tmp/p0")" = 3 ] && grep -q "|    2 |      tg4 |" "$tmp/p0" || fail "-p 0: $(cat "$tmp/p0")"

if command -v python3 >/dev/null; then
    "$bin" bench -m "$model" -b 4 -p 8 -n 3 -r 2 -t 1 -o json >"$tmp/json" 2>"$tmp/err" || fail "json: exit $?"
    python3 - "$tmp/json" <<'PY' || fail "json: $(cat "$tmp/json")"
import json, math, sys
rows = json.load(open(sys.argv[1]))
assert [(o["test"], o["n_seq"]) for o in rows] == [("pp8", 4), ("tg3", 4)], rows
for o in rows:
    n = 4 * (o["n_prompt"] + o["n_gen"])  # aggregate tokens of one repetition
    assert all(math.isclose(t, n * 1e9 / d, rel_tol=1e-9) for t, d in zip(o["samples_ts"], o["samples_ns"])), o
    assert o["n_ctx"] == 8 + 3 + 1, o
PY
fi

"$bin" bench -m "$model" -b 2 -p 6 -n 2 -r 1 -t 1 --deterministic >"$tmp/det" 2>"$tmp/err" &&
    [ "$(wc -l <"$tmp/det")" = 4 ] || fail "--deterministic -b: $(cat "$tmp/det" "$tmp/err")"
"$bin" bench -m "$model" -p 6 --deterministic >"$tmp/out" 2>"$tmp/err"
[ $? = 2 ] && grep -q "needs -b" "$tmp/err" || fail "--deterministic without -b: $(cat "$tmp/err")"

for bad in 0 abc 5000 "1,"; do
    "$bin" bench -m "$model" -b "$bad" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" = 2 ] && [ ! -s "$tmp/out" ] && grep -q -- "--batch" "$tmp/err" || fail "-b '$bad': rc=$rc $(cat "$tmp/err")"
done

[ "$fails" = 0 ] && echo "batch_bench.sh: all checks passed" || echo "batch_bench.sh: $fails failed"
[ "$fails" = 0 ]
