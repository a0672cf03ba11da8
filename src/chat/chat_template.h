/* Chat templates: turning a conversation into the prompt text a chat model was trained on.
 *
 * A GGUF carries its template as a Jinja program (tokenizer.chat_template). ctorch does not run
 * Jinja; it recognises the template family by distinctive markers and renders that family in C,
 * byte for byte as the Jinja renders it under Hugging Face's settings (checked against jinja2 on
 * the real templates in tests/golden/chat/). Families and their markers:
 *
 *   chatml   <|im_start|>                       SmolLM2, Qwen2, OpenHermes, ...
 *   llama2   [INST] and <<SYS>>                 Llama-2-chat, CodeLlama-instruct
 *   llama3   <|start_header_id|>, <|end_header_id|>   Llama 3.0 instruct
 *   gemma    <start_of_turn>                    Gemma 1/2/3 instruct
 *   phi3     <|user|>, <|assistant|>, <|end|>   Phi-3 / Phi-3.5 instruct
 *
 * Details read from the template when it is given (not when a name is forced):
 *   chatml   a built-in default system prompt (SmolLM2: "You are a helpful AI assistant named
 *            SmolLM, ..."), inserted when the conversation does not start with a system message
 *   phi3     the original Phi-3-mini form (no system turn, "<|assistant|>\n" after every user
 *            turn) versus the later one (system turns; Phi-3.5 drops empty ones; the end is the
 *            generation prompt or EOS)
 * Recognised but refused (CT_ERR_UNSUPPORTED, rendering would differ): Llama 3.1+ (date/tools
 * system header), Mistral [INST] without <<SYS>>, Phi-4 (<|im_sep|>), SmolVLM.
 *
 * Roles are "system", "user" and "assistant". Where the family's Jinja raises an error, so does
 * ct_chat_template_apply (llama2 and gemma: after an optional leading system message, roles must
 * alternate user/assistant starting with user). Gemma has no system role: the system text and a
 * blank line are prepended to the first user turn, as its template does.
 *
 * BOS: the rendered text never starts with the BOS token's text. Templates that begin with
 * {{ bos_token }} (llama2, llama3, gemma, the original phi3) rely on the tokenizer adding BOS,
 * as llama.cpp does: tokenize the prompt with BOS added when the GGUF says
 * tokenizer.ggml.add_bos_token (ct_chat_template_starts_with_bos() tells what the template
 * expects). BOS/EOS text inside the conversation (Llama 2's "</s><s>[INST]" between turns) is
 * kept, so the tokenizer must turn special-token text into special tokens. */
#ifndef CT_CHAT_CHAT_TEMPLATE_H
#define CT_CHAT_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

typedef enum ct_chat_format {
    CT_CHAT_CHATML = 0,
    CT_CHAT_LLAMA2,
    CT_CHAT_LLAMA3,
    CT_CHAT_GEMMA,
    CT_CHAT_PHI3,
} ct_chat_format;
#define CT_CHAT_FORMAT_COUNT 5

/* The names --template accepts, comma separated: "chatml, llama2, llama3, gemma, phi3". */
#define CT_CHAT_FORMAT_NAMES "chatml, llama2, llama3, gemma, phi3"

typedef struct ct_chat_message {
    const char *role;    /* "system", "user" or "assistant" */
    const char *content; /* UTF-8 */
} ct_chat_message;

typedef struct ct_chat_template ct_chat_template;

/* "chatml", "llama2", ... */
const char *ct_chat_format_name(ct_chat_format format);

/* Exact name to format; CT_ERR_INVALID_ARGUMENT listing the names otherwise. */
ct_status ct_chat_format_from_name(const char *name, ct_chat_format *out);

/* Family of a Jinja template; CT_ERR_UNSUPPORTED (message lists the names) when it is none of
 * them or a refused variant. */
ct_status ct_chat_format_detect(const char *jinja, ct_chat_format *out);

/* jinja: the GGUF's tokenizer.chat_template, or NULL when it has none.
 * forced_name: --template NAME, or NULL; when given it wins and jinja is ignored.
 * bos_text / eos_text: the text of the model's BOS / EOS tokens, or NULL for the family's usual
 * ones ("<s>"/"</s>", "<bos>"/"<eos>", ...); used where the template writes bos_token/eos_token.
 * No template and no name, or an unrecognised template: CT_ERR_UNSUPPORTED. */
ct_status ct_chat_template_create(const char *jinja, const char *forced_name, const char *bos_text,
                                  const char *eos_text, ct_chat_template **out);
void ct_chat_template_free(ct_chat_template *t);

ct_chat_format ct_chat_template_format(const ct_chat_template *t);

/* The chatml default system prompt read from the template, or NULL. */
const char *ct_chat_template_default_system(const ct_chat_template *t);

/* Whether the template itself begins with {{ bos_token }} (see BOS above). */
bool ct_chat_template_starts_with_bos(const ct_chat_template *t);

/* Render messages[0 .. count) (count >= 1). add_generation_prompt appends the opening of an
 * assistant turn where the family has one (llama2 has none: its prompt ends with " [/INST]";
 * the original phi3 opens it after every user turn anyway). *out is NUL-terminated, *out_len
 * bytes long (out_len may be NULL); free it with free(). */
ct_status ct_chat_template_apply(const ct_chat_template *t, const ct_chat_message *messages,
                                 size_t count, bool add_generation_prompt, char **out,
                                 size_t *out_len);

/* Texts that end an assistant turn when the model generates them (as special tokens), e.g.
 * "<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>", "</s>". The model's EOS token ends it
 * too. Static storage; *count receives the number. */
const char *const *ct_chat_template_stop_strings(const ct_chat_template *t, size_t *count);

#endif
