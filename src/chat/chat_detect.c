/* Chat template families: names, recognition by marker, and the details read from a template. */
#include <stdlib.h>
#include <string.h>

#include "chat/chat_template_internal.h"
#include "core/alloc.h"

typedef struct format_info {
    const char *name;
    const char *bos, *eos; /* the family's usual token texts */
    bool starts_with_bos;  /* its reference template opens with {{ bos_token }} */
    const char *const *stops;
    size_t n_stops;
} format_info;

static const char *const chatml_stops[] = {"<|im_end|>", "<|endoftext|>"};
static const char *const llama2_stops[] = {"</s>"};
static const char *const llama3_stops[] = {"<|eot_id|>", "<|end_of_text|>"};
static const char *const gemma_stops[] = {"<end_of_turn>", "<eos>"};
static const char *const phi3_stops[] = {"<|end|>", "<|endoftext|>"};

#define STOPS(a) a, sizeof a / sizeof a[0]
static const format_info formats[CT_CHAT_FORMAT_COUNT] = {
    [CT_CHAT_CHATML] = {"chatml", "<s>", "</s>", false, STOPS(chatml_stops)},
    [CT_CHAT_LLAMA2] = {"llama2", "<s>", "</s>", true, STOPS(llama2_stops)},
    [CT_CHAT_LLAMA3] = {"llama3", "<|begin_of_text|>", "<|eot_id|>", true, STOPS(llama3_stops)},
    [CT_CHAT_GEMMA] = {"gemma", "<bos>", "<eos>", true, STOPS(gemma_stops)},
    [CT_CHAT_PHI3] = {"phi3", "<s>", "<|endoftext|>", false, STOPS(phi3_stops)},
};

const char *ct_chat_format_name(ct_chat_format format) {
    return (unsigned)format < CT_CHAT_FORMAT_COUNT ? formats[format].name : "unknown";
}

ct_status ct_chat_format_from_name(const char *name, ct_chat_format *out) {
    for (int f = 0; name && f < CT_CHAT_FORMAT_COUNT; f++) {
        if (strcmp(name, formats[f].name) == 0) {
            *out = (ct_chat_format)f;
            return CT_OK;
        }
    }
    return ct_fail(CT_ERR_INVALID_ARGUMENT, "unknown chat template name '%s'; known names: %s",
                   name ? name : "(null)", CT_CHAT_FORMAT_NAMES);
}

static bool contains(const char *haystack, const char *needle) { return strstr(haystack, needle) != NULL; }

/* The first characters of a template on one line, for messages. */
static void template_excerpt(const char *jinja, char *buf, size_t cap) {
    size_t n = 0;
    for (; jinja[n] && n + 4 < cap && n < 48; n++) {
        unsigned char ch = (unsigned char)jinja[n];
        buf[n] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    if (jinja[n] && n + 4 < cap) buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
    buf[n] = '\0';
}

static ct_status refuse(const char *what) {
    return ct_fail(CT_ERR_UNSUPPORTED,
                   "%s chat template is not supported (its rendering differs); choose a format with "
                   "--template NAME (%s)",
                   what, CT_CHAT_FORMAT_NAMES);
}

ct_status ct_chat_format_detect(const char *jinja, ct_chat_format *out) {
    if (!jinja)
        return ct_fail(CT_ERR_UNSUPPORTED,
                       "the model has no chat template (tokenizer.chat_template); choose one with "
                       "--template NAME (%s)",
                       CT_CHAT_FORMAT_NAMES);
    if (contains(jinja, "<|im_start|>")) {
        if (contains(jinja, "<|im_sep|>")) return refuse("Phi-4 style (<|im_sep|>)");
        if (contains(jinja, "<end_of_utterance>")) return refuse("SmolVLM style (<end_of_utterance>)");
        *out = CT_CHAT_CHATML;
        return CT_OK;
    }
    if (contains(jinja, "<start_of_turn>")) {
        *out = CT_CHAT_GEMMA;
        return CT_OK;
    }
    if (contains(jinja, "<|start_header_id|>") && contains(jinja, "<|end_header_id|>")) {
        if (contains(jinja, "Cutting Knowledge Date"))
            return refuse("Llama 3.1+ (date and tools system header)");
        *out = CT_CHAT_LLAMA3;
        return CT_OK;
    }
    if (contains(jinja, "[INST]")) {
        if (!contains(jinja, "<<SYS>>")) return refuse("Mistral style [INST] (no <<SYS>>)");
        *out = CT_CHAT_LLAMA2;
        return CT_OK;
    }
    if (contains(jinja, "<|user|>") && contains(jinja, "<|assistant|>") && contains(jinja, "<|end|>")) {
        *out = CT_CHAT_PHI3;
        return CT_OK;
    }
    char excerpt[64];
    template_excerpt(jinja, excerpt, sizeof excerpt);
    return ct_fail(CT_ERR_UNSUPPORTED,
                   "unrecognised chat template (%zu bytes, \"%s\"); choose a format with "
                   "--template NAME (%s)",
                   strlen(jinja), excerpt, CT_CHAT_FORMAT_NAMES);
}

/* Decode a Jinja string literal's body (the escapes Python's string literals share) into a new
 * string; NULL on allocation failure. */
static char *decode_jinja_literal(const char *s, size_t len) {
    char *out = ct_alloc_array(len + 1, 1, "chat template default system prompt");
    if (!out) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len) {
            char e = s[++i];
            out[n++] = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        } else {
            out[n++] = s[i];
        }
    }
    out[n] = '\0';
    return out;
}

/* A ChatML template's built-in system prompt: a string literal of the form
 * '<|im_start|>system\n' TEXT '<|im_end|>' with TEXT non-empty and inside the same literal.
 * Literals that end right after "system\n" (they splice in the user's system message) are
 * skipped. Sets *out to NULL when there is none. */
static ct_status find_default_system(const char *jinja, char **out) {
    static const char head[] = "<|im_start|>system";
    *out = NULL;
    for (const char *p = strstr(jinja, head); p; p = strstr(p + 1, head)) {
        if (p == jinja || (p[-1] != '\'' && p[-1] != '"')) continue;
        const char quote = p[-1];
        const char *q = p + sizeof head - 1;
        if (q[0] == '\n')
            q += 1;
        else if (q[0] == '\\' && q[1] == 'n')
            q += 2;
        else
            continue;
        const char *end = strstr(q, "<|im_end|>");
        if (!end || end == q) continue;
        bool same_literal = true;
        for (const char *c = q; c < end; c++) {
            if (*c == '\\' && c + 1 < end) {
                c++;
                continue;
            }
            if (*c == quote) same_literal = false;
        }
        if (!same_literal) continue;
        *out = decode_jinja_literal(q, (size_t)(end - q));
        return *out ? CT_OK : CT_ERR_OUT_OF_MEMORY;
    }
    return CT_OK;
}

static char *dup_or_default(const char *text, const char *fallback, const char *what) {
    const char *s = text ? text : fallback;
    return ct_strndup(s, strlen(s), what);
}

ct_status ct_chat_template_create(const char *jinja, const char *forced_name, const char *bos_text,
                                  const char *eos_text, ct_chat_template **out) {
    *out = NULL;
    ct_chat_format format;
    if (forced_name)
        CT_TRY(ct_chat_format_from_name(forced_name, &format));
    else
        CT_TRY(ct_chat_format_detect(jinja, &format));
    const char *source = forced_name ? NULL : jinja; /* a forced name ignores the template */

    ct_chat_template *t = ct_calloc_array(1, sizeof *t, "chat template");
    if (!t) return CT_ERR_OUT_OF_MEMORY;
    t->format = format;
    t->starts_with_bos = formats[format].starts_with_bos;
    t->bos_text = dup_or_default(bos_text, formats[format].bos, "chat template BOS text");
    t->eos_text = dup_or_default(eos_text, formats[format].eos, "chat template EOS text");
    ct_status st = t->bos_text && t->eos_text ? CT_OK : CT_ERR_OUT_OF_MEMORY;
    if (st == CT_OK && source && format == CT_CHAT_CHATML) st = find_default_system(source, &t->default_system);
    if (source && format == CT_CHAT_PHI3) {
        t->phi3_original = !contains(source, "<|system|>");
        t->phi3_skip_empty_system = contains(source, "message['role'] == 'system' and message['content']");
        t->starts_with_bos = contains(source, "bos_token");
    }
    if (st != CT_OK) {
        ct_chat_template_free(t);
        return st;
    }
    *out = t;
    return CT_OK;
}

void ct_chat_template_free(ct_chat_template *t) {
    if (!t) return;
    free(t->bos_text);
    free(t->eos_text);
    free(t->default_system);
    free(t);
}

ct_chat_format ct_chat_template_format(const ct_chat_template *t) { return t->format; }
const char *ct_chat_template_default_system(const ct_chat_template *t) { return t->default_system; }
bool ct_chat_template_starts_with_bos(const ct_chat_template *t) { return t->starts_with_bos; }

const char *const *ct_chat_template_stop_strings(const ct_chat_template *t, size_t *count) {
    *count = formats[t->format].n_stops;
    return formats[t->format].stops;
}
