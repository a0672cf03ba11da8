#!/usr/bin/env bash
# ctorch chat in a real terminal (a pseudo-terminal driven by python3's stdlib pty module):
# the "> " prompt appears, a question gets a streamed answer that stops at the template's end
# of turn, a second turn reuses the KV cache (the -v turn line says how many tokens), and
# /exit leaves with status 0. Uses SmolLM2 (skipped when absent).
# usage: chat_pty.sh CTORCH_BINARY REPO_DIR
set -u
bin=$1
repo=$2
smol="${CTORCH_MODELS_DIR:-$repo/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -f "$smol" ] || { echo "skipped: $smol absent (scripts/fetch_models.sh fetches it)"; exit 77; }
command -v python3 >/dev/null || { echo "skipped: python3 (stdlib) not installed"; exit 77; }

# A sanitizer build decodes ~20x slower: there, one short turn checks the terminal mechanics
# and the content checks are left to the normal build (the script says which did not run).
full=1
if ldd "$bin" 2>/dev/null | grep -q 'libasan\|libubsan'; then full=0; fi

exec python3 - "$bin" "$smol" "$full" <<'PY'
import os, pty, re, select, sys, time

binary, model, full = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
pid, fd = pty.fork()
if pid == 0:
    n = "12" if full else "2"
    os.execv(binary, [binary, "chat", "-m", model, "-s", "Be brief.", "--temp", "0", "-n", n, "-c", "256", "-t", "2", "-v"])

buf = b""
def read_until(pattern, timeout):
    """Read the terminal until pattern (bytes regex) appears after the read position."""
    global buf
    start = len(buf)
    end = time.time() + timeout
    while time.time() < end:
        if re.search(pattern, buf[start:]):
            return buf[start:]
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return None

fails = 0
def check(what, ok):
    global fails
    print(("ok: " if ok else "FAIL: ") + what)
    fails += 0 if ok else 1

check("prompt '> ' shown", read_until(rb"> $", 120) is not None)
os.write(fd, b"What is the capital of France?\n")
reply = read_until(rb"\n> $", 300)
check("first reply arrives and the prompt returns", reply is not None)
text = (reply or b"").decode("utf-8", "replace")
check("turn line: nothing cached yet", re.search(r"\[turn: \d+ tokens, 0 reused", text) is not None)
if not full:
    check("short reply streamed: %r" % text[-200:], re.search(r"\[2 tokens in", text) is not None)
    print("note: sanitizer build: the Paris/Berlin answers and the KV reuse across turns were not checked")
    os.write(fd, b"/exit\n")
    _, status = os.waitpid(pid, 0)
    check("/exit: exit status 0", os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)
    print("chat_pty: %d failed" % fails)
    sys.exit(1 if fails else 0)
check("first reply mentions Paris: %r" % text[-200:], "Paris" in text)
check("end of turn not printed", "<|im_end|>" not in text)

os.write(fd, b"And of Germany?\n")
reply = read_until(rb"\n> $", 300)
text = (reply or b"").decode("utf-8", "replace")
check("second reply mentions Berlin: %r" % text[-200:], "Berlin" in text)
m = re.search(r"\[turn: (\d+) tokens, (\d+) reused", text)
check("second turn reuses the KV cache", m is not None and int(m.group(2)) > 20)

os.write(fd, b"/exit\n")
_, status = os.waitpid(pid, 0)
check("/exit: exit status 0", os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)
print("chat_pty: %d failed" % fails)
sys.exit(1 if fails else 0)
PY
