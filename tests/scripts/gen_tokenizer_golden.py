#!/usr/bin/env python3
"""Golden token ids for ctorch's tokenizer tests, from independent implementations.

Run once (needs `pip install transformers tokenizers sentencepiece protobuf gguf`); the
outputs are checked in so the C tests need no Python:

    python3 tests/scripts/gen_tokenizer_golden.py [--models DIR] [--shared DIR]

Writes tests/golden/tokenizer/ (format of the shared vectors: NAME.inp holds the inputs,
each followed by the line `__ggml_vocab_test__`; NAME.out one line of ids per input):

  <model>.inp/.out          real models, via Hugging Face transformers building a tokenizer
                            from the GGUF file (AutoTokenizer.from_pretrained(gguf_file=...)),
                            encode(text) with add_special_tokens=True (BOS where the model
                            adds one). Inputs hold no control-token text.
  <model>-special.inp/.out  chat-formatted inputs with control tokens; HF matches them in text
                            by default, ctorch when asked (CT_ENCODE_PARSE_SPECIAL).
  pre.inp, pre-<name>.out   every pre-tokenizer regex set ctorch knows, run by HF `tokenizers`
                            (Oniguruma regexes) over the GPT-2 vocabulary: a Sequence of
                            Split(regex, "isolated") for each regex of the set (llama.cpp's
                            lists), then ByteLevel without its own regex, then BPE.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT_DIR = os.path.join(REPO, "tests", "golden", "tokenizer")
SEP = "\n__ggml_vocab_test__\n"

MODELS = {
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": "gemma-3-270m-q4_k_m.gguf",
}

SENTENCES = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    " leading space and trailing space ",
    "Don't stop: it's 5 o'clock, we'll see, they've gone, I'm here, you'd know.",
    "def add(a, b):\n    return a + b  # sum\n\nprint(add(2, 40))\n",
    "for (int i = 0; i < n; ++i) { x[i] = y[i] * 3.14159f; }",
    "Numbers: 0 7 42 123 4567 89012 3.14 1,000,000 -273.15 1e-9",
    "Whitespace:\t\ttabs,   spaces,\n\n\nnewlines\r\nand\u00a0nbsp\u3000ideographic",
    "Accents: na\u00efve caf\u00e9 r\u00e9sum\u00e9 \u00fcber Stra\u00dfe \u00e5ngstr\u00f6m",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043a\u0430\u043a \u0434\u0435\u043b\u0430? \u0421\u044a\u0435\u0448\u044c \u0436\u0435 \u0435\u0449\u0451 \u044d\u0442\u0438\u0445 \u043c\u044f\u0433\u043a\u0438\u0445 \u0444\u0440\u0430\u043d\u0446\u0443\u0437\u0441\u043a\u0438\u0445 \u0431\u0443\u043b\u043e\u043a.",
    "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5, \u03c4\u03b9 \u03ba\u03ac\u03bd\u03b5\u03b9\u03c2;",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645! \u0643\u064a\u0641 \u062d\u0627\u0644\u0643\u061f",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd, \u05de\u05d4 \u05e9\u05dc\u05d5\u05de\u05da?",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e, \u0906\u092a \u0915\u0948\u0938\u0947 \u0939\u0948\u0902?",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u4eca\u5929\u5929\u6c14\u5f88\u597d\u3002",
    "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c\u3002\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a\u3068\u6f22\u5b57\u3002",
    "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4! \ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4.",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01 \u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "Emoji: \U0001f600 \U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f \U0001f1fa\U0001f1f8",
    "Mixed: English, \u0440\u0443\u0441\u0441\u043a\u0438\u0439, \u4e2d\u6587, \u0627\u0644\u0639\u0631\u0628\u064a\u0629, and \U0001f680 in one line.",
    "URLs https://example.com/path?q=1&r=two#frag and emails a.b@example.org",
    "Symbols: <>=!~^|&%$#@*()[]{}\\/'\"`;:,.?-_+",
    "ALL CAPS SHOUTING AND MiXeD CaSe WoRdS",
    "   ",
    "\n",
    "a",
    "Tabs\tand\u2028line separators\u2029here",
    "Math: \u2200x \u2208 \u211d, \u2203y: x\u00b2 + y\u00b2 \u2264 1; \u03c0 \u2248 3.14159; \u221e",
    "Repeated: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa !!!!!!!!!! .......... ----------",
    "JSON: {\"name\": \"ctorch\", \"tokens\": [1, 2, 3], \"ok\": true}",
    "Latin-1 extras: \u00bf\u00a1\u00bd\u00bc \u00a9 \u00ae \u00b0 \u00b1 \u00b5 \u00b6 \u00a7",
]

SPECIAL_SENTENCES = {
    "smollm2": [
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n",
        "text<|endoftext|>more text",
        "<|im_start|>user\n\u4f60\u597d<|im_end|>",
    ],
    "gemma3": [
        "<start_of_turn>user\nHi there!<end_of_turn>\n<start_of_turn>model\n",
        "<start_of_turn>user\n\u00bfQu\u00e9 tal?<end_of_turn>\n",
        "a<eos>b",
    ],
}

# llama.cpp's regex lists (src/llama-vocab.cpp), one entry per family ctorch implements.
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
CONTR = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
LLAMA3 = CONTR + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = CONTR + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
CJK_HANGUL = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"
DEEPSEEK_CASED = (
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
    "\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f"
    "\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77"
    "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d"
    "\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4"
    "\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
    "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d"
    "\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a"
    "\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2"
    "\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+"
)
PORO = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+"

PRE_FAMILIES = {
    # name: (regexes, ignore_merges)
    "default": ([r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"], False),
    "gpt-2": ([GPT2], False),
    "llama-bpe": ([LLAMA3], True),
    "dbrx": ([LLAMA3], False),
    "qwen2": ([QWEN2], False),
    "starcoder": ([r"\p{N}", GPT2], False),
    "falcon": ([r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"], False),
    "deepseek-llm": (["[\r\n]", DEEPSEEK_CASED,
                      "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
                      r"\s+$", CJK_HANGUL, r"\p{N}+"], False),
    "deepseek-coder": (["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", CJK_HANGUL, r"\p{N}"], False),
    "deepseek-v3": ([r"\p{N}{1,3}", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
                     r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|"
                     r" ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"], False),
    "poro-chat": ([PORO], False),
    "viking": ([PORO, r"\p{N}"], False),
}


def write_inp(name, inputs):
    with open(os.path.join(OUT_DIR, name + ".inp"), "w", encoding="utf-8", newline="") as f:
        for s in inputs:
            f.write(s + SEP)


def write_set(name, inputs, id_lists):
    write_inp(name, inputs)
    write_out(name, id_lists)


def write_out(name, id_lists):
    with open(os.path.join(OUT_DIR, name + ".out"), "w", encoding="utf-8", newline="") as f:
        for ids in id_lists:
            f.write(" ".join(str(i) for i in ids) + "\n")


def read_shared_inputs(shared):
    path = os.path.join(shared, "testdata", "vocab", "ggml-vocab-gpt-2.gguf.inp")
    with open(path, encoding="utf-8", newline="") as f:
        raw = f.read()
    parts = raw.split(SEP)
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def gen_models(models_dir):
    from transformers import AutoTokenizer

    for key, fname in MODELS.items():
        if not os.path.exists(os.path.join(models_dir, fname)):
            print(f"skip {key}: {fname} not in {models_dir}", file=sys.stderr)
            continue
        tok = AutoTokenizer.from_pretrained(models_dir, gguf_file=fname)
        write_set(key, SENTENCES, [tok.encode(s, add_special_tokens=True) for s in SENTENCES])
        specials = SPECIAL_SENTENCES[key]
        write_set(key + "-special", specials, [tok.encode(s, add_special_tokens=True) for s in specials])
        print(f"{key}: {len(SENTENCES)} + {len(specials)} inputs", file=sys.stderr)


def gen_pretokenizers(shared):
    import gguf
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    reader = gguf.GGUFReader(os.path.join(shared, "testdata", "vocab", "ggml-vocab-gpt-2.gguf"))

    def strings(key):
        field = reader.fields[key]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    tokens = strings("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in strings("tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    inputs = read_shared_inputs(shared) + SENTENCES
    write_inp("pre", inputs)
    for name, (regexes, ignore_merges) in PRE_FAMILIES.items():
        tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=ignore_merges))
        tk.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in regexes]
            + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        )
        write_out("pre-" + name, [tk.encode(s, add_special_tokens=False).ids for s in inputs])
        print(f"pre-{name}: {len(inputs)} inputs", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.environ.get("CTORCH_MODELS_DIR", os.path.join(REPO, "models")))
    ap.add_argument("--shared", default=os.environ.get("CTORCH_SHARED_DIR", os.path.join(REPO, "..", "shared")))
    ap.add_argument("--skip-models", action="store_true")
    args = ap.parse_args()
    os.makedirs(OUT_DIR, exist_ok=True)
    gen_pretokenizers(args.shared)
    if not args.skip_models:
        gen_models(args.models)


if __name__ == "__main__":
    main()
