#!/usr/bin/env bash
# ctorch run --json prints exactly one JSON object (prompt and generated token ids, text,
# timings), and the plain run streams the same text to stdout with the summary on stderr.
# Uses SmolLM2 (skipped when absent). usage: run_json.sh CTORCH_BINARY REPO_DIR
set -u
bin=$1
repo=$2
smol="${CTORCH_MODELS_DIR:-$repo/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -f "$smol" ] || { echo "skipped: $smol absent (scripts/fetch_models.sh fetches it)"; exit 77; }
command -v python3 >/dev/null || { echo "skipped: python3 (stdlib json) not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# a sanitizer build decodes ~20x slower: generate 2 tokens there instead of 6
n=6
if ldd "$bin" 2>/dev/null | grep -q 'libasan\|libubsan'; then n=2; fi
args=(-m "$smol" -p "The capital of France is" -n $n --temp 0 -t 2 -c 64)
"$bin" run "${args[@]}" --json >"$tmp/json" 2>"$tmp/json.err" || { echo "FAIL: run --json exit $?"; cat "$tmp/json.err"; exit 1; }
"$bin" "${args[@]}" >"$tmp/text" 2>"$tmp/text.err" || { echo "FAIL: run exit $?"; cat "$tmp/text.err"; exit 1; }

exec python3 - "$tmp" "$n" <<'PY'
import json, sys
tmp, n = sys.argv[1], int(sys.argv[2])
fails = 0
def check(what, ok):
    global fails
    print(("ok: " if ok else "FAIL: ") + what)
    fails += 0 if ok else 1

raw = open(tmp + "/json", encoding="utf-8").read()
check("stdout is one line", raw.count("\n") == 1 and raw.endswith("\n"))
o = json.loads(raw)
check("prompt token ids (SmolLM2 tokenizer)", o["prompt_tokens"] == [504, 3575, 282, 4649, 314])
gen = o["generated_tokens"]
check("1..%d generated ids: %r" % (n, gen), 1 <= len(gen) <= n and all(isinstance(t, int) for t in gen))
check("greedy continuation starts with ' Paris': %r" % o["text"], o["text"].startswith(" Paris"))
t = o["timings"]
check("timings", all(k in t and t[k] >= 0 for k in ("load_ms", "prompt_ms", "prompt_tokens_per_s",
                                                      "generate_ms", "generate_tokens_per_s")))
check("stop reason", o["stop"] in ("end", "length"))
plain = open(tmp + "/text", encoding="utf-8").read()
check("plain run streams the same text: %r" % plain, plain.rstrip("\n") == o["text"].rstrip("\n"))
err = open(tmp + "/text.err", encoding="utf-8").read()
check("stderr summary line", "ctorch: prompt 5 tokens" in err and "generated" in err)
print("run_json: %d failed" % fails)
sys.exit(1 if fails else 0)
PY
