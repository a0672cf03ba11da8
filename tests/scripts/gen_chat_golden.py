#!/usr/bin/env python3
"""Golden data for tests/test_chat_template.c: real chat templates and their renderings.

Writes tests/golden/chat/<name>.jinja (the template text) and <name>.<case>.txt (what the
template renders for a fixed conversation), rendering with jinja2 the way Hugging Face
transformers does (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
raise_exception), so the C formatter is compared against an independent Jinja engine.

Template sources:
  smollm2     tokenizer.chat_template of models/SmolLM2-135M-Instruct.Q4_1.gguf (read here)
  phi3-mini   tokenizer.chat_template of ../shared/testdata/vocab/ggml-vocab-phi-3.gguf (read
              here): the original Phi-3-mini-4k-instruct template
  gemma3, llama2, llama3, phi35-mini, chatml: transcribed below from public copies of the
              models' tokenizer_config.json (the Gemma 3 GGUF in models/ is the base 270m model
              and carries no chat template; the others are not downloaded). Each is the text
              after JSON decoding, i.e. what a GGUF's tokenizer.chat_template would hold.

Run once from the repository root (needs `pip install gguf jinja2`); the outputs are checked in.
The conversations here must match the ones in tests/test_chat_template.c.
"""
import os
import sys

import gguf
import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(REPO, "tests", "golden", "chat")
SHARED = os.environ.get("CTORCH_SHARED_DIR", os.path.join(REPO, "..", "shared"))
MODELS = os.environ.get("CTORCH_MODELS_DIR", os.path.join(REPO, "models"))

# google/gemma-3-*-it (same template across the Gemma 3 instruction-tuned sizes).
GEMMA3 = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""

# meta-llama/Llama-2-7b-chat-hf
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
    "{% endif %}{% endfor %}"
)

# meta-llama/Meta-Llama-3-8B-Instruct
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# microsoft/Phi-3.5-mini-instruct
PHI35 = (
    "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
    "{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}"
    "{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)

# teknium/OpenHermes-2.5-Mistral-7B: plain ChatML, no default system prompt
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# The conversations (same in tests/test_chat_template.c).
CASES = {
    "conv": (
        [
            ("system", "You are a concise assistant."),
            ("user", "What is the capital of France?"),
            ("assistant", "Paris."),
            ("user", "And of Italy?"),
        ],
        True,
    ),
    "nosys": (
        [
            ("user", "Hello!"),
            ("assistant", "Hi! How can I help?"),
            ("user", "Tell me a joke."),
        ],
        True,
    ),
    # whitespace that Python's str.strip() removes (ASCII, U+3000, U+2029, \v) and text that looks
    # like markup; no generation prompt
    "ws": (
        [
            ("system", "  Be brief.\n"),
            ("user", "\u3000 Spaces\taround \u00e9t\u00e9 {{ braces }} 'quotes' \"dq\" \n\n"),
            ("assistant", "  Sure.  "),
            ("user", "\x0bnext\u2029"),
        ],
        False,
    ),
}


def gguf_string(path, key):
    reader = gguf.GGUFReader(path)
    field = reader.fields[key]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def gguf_token(path, key):
    reader = gguf.GGUFReader(path)
    tid = int(reader.fields[key].parts[reader.fields[key].data[0]][0])
    tokens = reader.fields["tokenizer.ggml.tokens"]
    return bytes(tokens.parts[tokens.data[tid]]).decode("utf-8")


def render(template, messages, add_generation_prompt, bos, eos):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(
        messages=[{"role": r, "content": c} for r, c in messages],
        add_generation_prompt=add_generation_prompt,
        bos_token=bos,
        eos_token=eos,
    )


def main():
    smollm = os.path.join(MODELS, "SmolLM2-135M-Instruct.Q4_1.gguf")
    phi3 = os.path.join(SHARED, "testdata", "vocab", "ggml-vocab-phi-3.gguf")
    for path in (smollm, phi3):
        if not os.path.exists(path):
            sys.exit(f"missing {path} (run scripts/fetch_models.sh)")
    templates = {
        # name: (template text, bos text, eos text)
        "smollm2": (
            gguf_string(smollm, "tokenizer.chat_template"),
            gguf_token(smollm, "tokenizer.ggml.bos_token_id"),
            gguf_token(smollm, "tokenizer.ggml.eos_token_id"),
        ),
        "phi3-mini": (
            gguf_string(phi3, "tokenizer.chat_template"),
            gguf_token(phi3, "tokenizer.ggml.bos_token_id"),
            gguf_token(phi3, "tokenizer.ggml.eos_token_id"),
        ),
        "gemma3": (GEMMA3, "<bos>", "<eos>"),
        "llama2": (LLAMA2, "<s>", "</s>"),
        "llama3": (LLAMA3, "<|begin_of_text|>", "<|eot_id|>"),
        "phi35-mini": (PHI35, "<s>", "<|endoftext|>"),
        "chatml": (CHATML, "<s>", "</s>"),
    }
    os.makedirs(OUT, exist_ok=True)
    for name, (text, bos, eos) in templates.items():
        with open(os.path.join(OUT, name + ".jinja"), "w", encoding="utf-8", newline="") as f:
            f.write(text)
        for case, (messages, add_gen) in CASES.items():
            out = render(text, messages, add_gen, bos, eos)
            with open(os.path.join(OUT, f"{name}.{case}.txt"), "w", encoding="utf-8", newline="") as f:
                f.write(out)
        print(f"{name}: bos={bos!r} eos={eos!r}")


if __name__ == "__main__":
    main()
