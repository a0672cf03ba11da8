#!/usr/bin/env bash
# ctorch batch on a tiny synthetic model: one JSON line per prompt in input order with every
# field; --deterministic outputs identical whatever --parallel (1, 3, 8) and under a KV budget
# small enough to preempt; "stop", "id", "tokens" input; a prompt larger than the KV cache gets
# an error line (exit 1) while the others run; malformed files (exit 1, "FILE:LINE:" message,
# nothing on stdout) and bad flags (exit 2). Uses python3's json module (skipped without it).
# usage: batch.sh CTORCH_BINARY REPO_DIR
set -u
bin=$1
command -v python3 >/dev/null || { echo "skipped: python3 (stdlib json) not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

model="$tmp/tiny.gguf"
"$bin" synth --arch llama --n-embd 64 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 256 --n-vocab 300 --ctx 256 \
    --type q8_0 -o "$model" >/dev/null 2>"$tmp/err" || { echo "FAIL: synth"; cat "$tmp/err"; exit 1; }

# 12 prompts: token lists of different lengths (the synthetic vocabulary is not text-friendly),
# one text prompt, ids of every JSON kind, one with a stop string taken from its own output below
python3 - "$tmp/prompts.jsonl" <<'PY'
import json, random, sys
random.seed(5)
with open(sys.argv[1], "w") as f:
    for i in range(11):
        n = [1, 40, 3, 17, 8, 25, 2, 60, 5, 12, 33][i]
        line = {"tokens": [random.randrange(3, 300) for _ in range(n)], "max_tokens": 4 + i % 5}
        if i % 3 == 0: line["id"] = "p%d" % i
        if i % 3 == 1: line["id"] = {"n": i}
        f.write(json.dumps(line) + "\n")
        if i == 4: f.write("\n")  # blank lines are skipped
    f.write(json.dumps({"prompt": "hello world", "id": 11, "max_tokens": 6}) + "\n")
PY

run() { # run OUT_NAME ARGS...: $rc, $tmp/OUT_NAME.out, $tmp/OUT_NAME.err
    local name=$1; shift
    "$bin" batch -m "$model" -t 1 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
    rc=$?
}

common=(-f "$tmp/prompts.jsonl" --temp 0 --deterministic -c 128)
run p1 "${common[@]}" --parallel 1
[ "$rc" = 0 ] || fail "parallel 1: exit $rc: $(head -c 300 "$tmp/p1.err")"
run p3 "${common[@]}" --parallel 3 --chunk 8
[ "$rc" = 0 ] || fail "parallel 3: exit $rc: $(head -c 300 "$tmp/p3.err")"
run p8 "${common[@]}" --parallel 8 --batch-tokens 32
[ "$rc" = 0 ] || fail "parallel 8: exit $rc: $(head -c 300 "$tmp/p8.err")"
# 6 blocks of 16 cells (256 bytes of keys and values per cell: 2 layers x 2 heads x (16 + 16) x 2 bytes)
run kv "${common[@]}" --parallel 8 --kv-mem 24K
[ "$rc" = 0 ] || fail "small KV: exit $rc: $(head -c 300 "$tmp/kv.err")"
grep -q "ctorch batch: 12 prompts (0 failed)" "$tmp/p8.err" || fail "summary line: $(cat "$tmp/p8.err")"

python3 - "$tmp" <<'PY' || fails=$((fails + 1))
import json, sys
tmp = sys.argv[1]
bad = 0
def check(what, ok):
    global bad
    if not ok:
        print("FAIL: " + what)
        bad += 1
prompts = [json.loads(l) for l in open(tmp + "/prompts.jsonl") if l.strip()]
runs = {}
for name in ("p1", "p3", "p8", "kv"):
    lines = open(tmp + "/" + name + ".out").read().splitlines()
    check(name + ": 12 lines", len(lines) == 12)
    runs[name] = [json.loads(l) for l in lines]
for name, out in runs.items():
    for i, o in enumerate(out):
        p = prompts[i]
        check("%s[%d]: index" % (name, i), o.get("index") == i)
        check("%s[%d]: id echoed" % (name, i), o.get("id") == p.get("id"))
        check("%s[%d]: fields" % (name, i), all(k in o for k in ("prompt_tokens", "tokens", "text", "finish", "preemptions", "timings")))
        if "tokens" in p: check("%s[%d]: prompt_tokens" % (name, i), o["prompt_tokens"] == len(p["tokens"]))
        check("%s[%d]: length" % (name, i), o["finish"] == "length" and len(o["tokens"]) == p["max_tokens"] or
              o["finish"] == "eog" and len(o["tokens"]) < p["max_tokens"])
        t = o["timings"]
        check("%s[%d]: timings" % (name, i), 0 <= t["first_token_ms"] <= t["total_ms"])
for name in ("p3", "p8", "kv"):
    for i in range(12):
        check("%s[%d] equals --parallel 1 (tokens and text)" % (name, i),
              runs[name][i]["tokens"] == runs["p1"][i]["tokens"] and runs[name][i]["text"] == runs["p1"][i]["text"])
check("the small KV budget preempted", sum(o["preemptions"] for o in runs["kv"]) > 0)
# a stop string from the middle of prompt 7's text: the new run stops there
text = runs["p1"][7]["text"]
stop = None  # two characters from the middle (no NUL: the synthetic vocabulary has a NUL piece)
for k in range(len(text) // 2, len(text) - 1):
    if "\0" not in text[k:k + 2]:
        stop = text[k:k + 2]
        break
with open(tmp + "/stop.jsonl", "w") as f:
    q = dict(prompts[7]); q["stop"] = [stop] if stop else ["\u0001"]
    f.write(json.dumps(q) + "\n")
open(tmp + "/stop.expect", "w").write(text[:text.find(stop)] if stop else text)
sys.exit(1 if bad else 0)
PY

run stop -f "$tmp/stop.jsonl" --temp 0 --deterministic -c 128
[ "$rc" = 0 ] || fail "stop: exit $rc"
python3 -c '
import json, sys
o = json.loads(open(sys.argv[1]).read()); want = open(sys.argv[2]).read()
sys.exit(0 if o["text"] == want and o["finish"] in ("stop", "length", "eog") else 1)' "$tmp/stop.out" "$tmp/stop.expect" ||
    fail "stop string: $(cat "$tmp/stop.out") vs $(cat "$tmp/stop.expect")"

# a prompt larger than the whole KV cache: its line carries the error, the others run, exit 1
python3 -c '
import json
print(json.dumps({"tokens": [5] * 4, "max_tokens": 2}))
print(json.dumps({"tokens": [7] * 100, "id": "big", "max_tokens": 2}))
print(json.dumps({"tokens": [9] * 3, "max_tokens": 2}))' >"$tmp/big.jsonl"
run big -f "$tmp/big.jsonl" --kv-mem 16K --temp 0 -c 128
[ "$rc" = 1 ] || fail "too big: exit $rc (expected 1)"
python3 -c '
import json, sys
o = [json.loads(l) for l in open(sys.argv[1])]
ok = len(o) == 3 and "tokens" in o[0] and "tokens" in o[2] and o[1]["id"] == "big" and "KV" in o[1]["error"]
sys.exit(0 if ok else 1)' "$tmp/big.out" || fail "too big: $(cat "$tmp/big.out")"
grep -q "1 failed" "$tmp/big.err" || fail "too big: summary $(cat "$tmp/big.err")"

# malformed input: exit 1, FILE:LINE in the message, nothing on stdout
printf '{"tokens": [5]}\n{"tokens": [5]\n' >"$tmp/bad1.jsonl"
printf '{"tokens": [5]}\n{"prompt": 5}\n' >"$tmp/bad2.jsonl"
printf '{"tokens": [5], "max_tokens": 0}\n' >"$tmp/bad3.jsonl"
printf '{"tokens": [5], "stop": [""]}\n' >"$tmp/bad4.jsonl"
printf '\n\n' >"$tmp/empty.jsonl"
for f in bad1:2 bad2:2 bad3:1 bad4:1 empty:2; do
    name=${f%%:*}; line=${f##*:}
    run "$name" -f "$tmp/$name.jsonl"
    [ "$rc" = 1 ] && [ ! -s "$tmp/$name.out" ] && grep -q "$name.jsonl:$line:" "$tmp/$name.err" ||
        fail "$name: rc=$rc stderr: $(cat "$tmp/$name.err")"
done
run missing -f "$tmp/nope.jsonl"
[ "$rc" = 1 ] && grep -q "cannot read" "$tmp/missing.err" || fail "missing file: rc=$rc"
# a token outside the vocabulary is that prompt's error
printf '{"tokens": [5]}\n{"tokens": [100000]}\n' >"$tmp/vocab.jsonl"
run vocab -f "$tmp/vocab.jsonl" --temp 0
[ "$rc" = 1 ] && grep -q '"index":1' "$tmp/vocab.out" && grep -q 'vocabulary' "$tmp/vocab.out" || fail "vocab: rc=$rc"

# usage errors: exit 2
for args in "--parallel 0" "--kv-mem 12X" "--kv-mem -5" "--bogus 1" "--batch-tokens 4 --parallel 8" "--temp -1" "--chunk"; do
    # shellcheck disable=SC2086
    run usage -f "$tmp/prompts.jsonl" $args
    [ "$rc" = 2 ] && [ ! -s "$tmp/usage.out" ] || fail "usage '$args': rc=$rc"
done
"$bin" batch -f x >/dev/null 2>&1; [ $? = 2 ] || fail "missing -m"
"$bin" batch --help | grep -q "usage: ctorch batch" || fail "--help"

[ "$fails" = 0 ] && echo "batch.sh: all checks passed" || echo "batch.sh: $fails failed"
[ "$fails" = 0 ]
