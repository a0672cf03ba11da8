/* Rendering a conversation in each chat template family, mirroring its reference Jinja. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_template_internal.h"
#include "core/alloc.h"

/* ---- a growing string --------------------------------------------------------------------- */

typedef struct text_buf {
    char *data;
    size_t len, cap;
    bool failed; /* an allocation failed; the status is reported once, at the end */
} text_buf;

static void buf_append(text_buf *b, const char *s, size_t n) {
    if (b->failed || n == 0) return;
    if (n > SIZE_MAX - 1 - b->len) {
        b->failed = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
        char *p = ct_realloc_array(b->data, cap, 1, "chat prompt");
        if (!p) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_puts(text_buf *b, const char *s) { buf_append(b, s, strlen(s)); }

/* ---- Python's str.strip() on UTF-8 --------------------------------------------------------- */

/* Jinja's trim filter and str.strip() remove the characters Python calls whitespace. */
static bool py_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Decodes the UTF-8 sequence at s[0 .. n) (n >= 1); *len gets its length. Malformed input
 * (bad continuation, truncated, overlong, surrogate) decodes as one byte of U+FFFD, which is not
 * whitespace, so it is never trimmed. */
static uint32_t utf8_decode(const unsigned char *s, size_t n, size_t *len) {
    static const uint32_t min_for_length[4] = {0, 0x80, 0x800, 0x10000};
    const unsigned char c = s[0];
    *len = 1;
    if (c < 0x80) return c;
    const int extra = (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
    if (extra < 0 || (size_t)extra >= n) return 0xfffd;
    uint32_t cp = c & (0x3fu >> extra);
    for (int i = 1; i <= extra; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0xfffd;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min_for_length[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0xfffd;
    *len = (size_t)extra + 1;
    return cp;
}

/* The span of s without leading and trailing Python whitespace. */
static void strip_span(const char *s, const char **start, size_t *n) {
    const unsigned char *b = (const unsigned char *)s, *e = b + strlen(s);
    size_t len;
    while (b < e && py_isspace(utf8_decode(b, (size_t)(e - b), &len))) b += len;
    while (e > b) {
        const unsigned char *p = e - 1;
        while (p > b && (*p & 0xc0) == 0x80 && e - p < 4) p--; /* back to the lead byte */
        uint32_t cp = utf8_decode(p, (size_t)(e - p), &len);
        if (p + len != e || !py_isspace(cp)) break;
        e = p;
    }
    *start = (const char *)b;
    *n = (size_t)(e - b);
}

static void buf_puts_stripped(text_buf *b, const char *s) {
    const char *start;
    size_t n;
    strip_span(s, &start, &n);
    buf_append(b, start, n);
}

/* ---- checks -------------------------------------------------------------------------------- */

static bool is_role(const char *role, const char *name) { return strcmp(role, name) == 0; }

static ct_status check_messages(const ct_chat_message *m, size_t count) {
    if (!m || count == 0)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "chat template: the conversation has no messages");
    for (size_t i = 0; i < count; i++) {
        if (!m[i].role || !m[i].content)
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "chat template: message %zu has no %s", i,
                           m[i].role ? "content" : "role");
        if (!is_role(m[i].role, "system") && !is_role(m[i].role, "user") && !is_role(m[i].role, "assistant"))
            return ct_fail(CT_ERR_INVALID_ARGUMENT,
                           "chat template: message %zu has role '%s'; expected system, user or assistant",
                           i, m[i].role);
    }
    return CT_OK;
}

/* llama2 and gemma: after a leading system message, user at even positions, not user at odd. */
static ct_status check_alternation(const ct_chat_template *t, const ct_chat_message *m, size_t count,
                                   size_t first) {
    for (size_t i = first; i < count; i++) {
        bool even = (i - first) % 2 == 0;
        if (is_role(m[i].role, "user") != even)
            return ct_fail(CT_ERR_INVALID_ARGUMENT,
                           "chat template %s: message %zu has role '%s', but roles must alternate "
                           "user/assistant/user/assistant/... after an optional first system message",
                           ct_chat_format_name(t->format), i, m[i].role);
    }
    return CT_OK;
}

/* ---- the families -------------------------------------------------------------------------- */

static void render_chatml(const ct_chat_template *t, const ct_chat_message *m, size_t count, bool gen,
                          text_buf *b) {
    if (t->default_system && !is_role(m[0].role, "system")) {
        buf_puts(b, "<|im_start|>system\n");
        buf_puts(b, t->default_system);
        buf_puts(b, "<|im_end|>\n");
    }
    for (size_t i = 0; i < count; i++) {
        buf_puts(b, "<|im_start|>");
        buf_puts(b, m[i].role);
        buf_puts(b, "\n");
        buf_puts(b, m[i].content);
        buf_puts(b, "<|im_end|>\n");
    }
    if (gen) buf_puts(b, "<|im_start|>assistant\n");
}

static ct_status render_llama2(const ct_chat_template *t, const ct_chat_message *m, size_t count,
                               text_buf *b) {
    const bool has_system = is_role(m[0].role, "system");
    const size_t first = has_system ? 1 : 0;
    CT_TRY(check_alternation(t, m, count, first));
    for (size_t i = first; i < count; i++) {
        /* the system block joins the first turn's content before .strip() */
        text_buf content = {0};
        if (i == first && has_system) {
            buf_puts(&content, "<<SYS>>\n");
            buf_puts(&content, m[0].content);
            buf_puts(&content, "\n<</SYS>>\n\n");
        }
        buf_puts(&content, m[i].content);
        const char *c = content.data ? content.data : "";
        if (is_role(m[i].role, "user")) {
            buf_puts(b, t->bos_text);
            buf_puts(b, "[INST] ");
            buf_puts_stripped(b, c);
            buf_puts(b, " [/INST]");
        } else if (is_role(m[i].role, "assistant")) {
            buf_puts(b, " ");
            buf_puts_stripped(b, c);
            buf_puts(b, " ");
            buf_puts(b, t->eos_text);
        } /* a later system message renders nothing */
        b->failed |= content.failed;
        free(content.data);
    }
    return CT_OK;
}

static void render_llama3(const ct_chat_template *t, const ct_chat_message *m, size_t count, bool gen,
                          text_buf *b) {
    buf_puts(b, t->bos_text);
    for (size_t i = 0; i < count; i++) {
        buf_puts(b, "<|start_header_id|>");
        buf_puts(b, m[i].role);
        buf_puts(b, "<|end_header_id|>\n\n");
        buf_puts_stripped(b, m[i].content);
        buf_puts(b, "<|eot_id|>");
    }
    if (gen) buf_puts(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static ct_status render_gemma(const ct_chat_template *t, const ct_chat_message *m, size_t count, bool gen,
                              text_buf *b) {
    const bool has_system = is_role(m[0].role, "system");
    const size_t first = has_system ? 1 : 0;
    CT_TRY(check_alternation(t, m, count, first));
    buf_puts(b, t->bos_text);
    for (size_t i = first; i < count; i++) {
        buf_puts(b, "<start_of_turn>");
        buf_puts(b, is_role(m[i].role, "assistant") ? "model" : m[i].role);
        buf_puts(b, "\n");
        if (i == first && has_system) { /* no system role: it leads the first turn, untrimmed */
            buf_puts(b, m[0].content);
            buf_puts(b, "\n\n");
        }
        buf_puts_stripped(b, m[i].content);
        buf_puts(b, "<end_of_turn>\n");
    }
    if (gen) buf_puts(b, "<start_of_turn>model\n");
    return CT_OK;
}

static void render_phi3(const ct_chat_template *t, const ct_chat_message *m, size_t count, bool gen,
                        text_buf *b) {
    if (t->starts_with_bos) buf_puts(b, t->bos_text);
    for (size_t i = 0; i < count; i++) {
        const char *role = m[i].role;
        if (t->phi3_original) { /* no system turn; each user turn opens the assistant's */
            if (is_role(role, "user")) {
                buf_puts(b, "<|user|>\n");
                buf_puts(b, m[i].content);
                buf_puts(b, "<|end|>\n<|assistant|>\n");
            } else if (is_role(role, "assistant")) {
                buf_puts(b, m[i].content);
                buf_puts(b, "<|end|>\n");
            }
            continue;
        }
        if (is_role(role, "system") && t->phi3_skip_empty_system && m[i].content[0] == '\0') continue;
        buf_puts(b, "<|");
        buf_puts(b, role);
        buf_puts(b, "|>\n");
        buf_puts(b, m[i].content);
        buf_puts(b, "<|end|>\n");
    }
    if (!t->phi3_original) buf_puts(b, gen ? "<|assistant|>\n" : t->eos_text);
}

ct_status ct_chat_template_apply(const ct_chat_template *t, const ct_chat_message *messages,
                                 size_t count, bool add_generation_prompt, char **out,
                                 size_t *out_len) {
    *out = NULL;
    if (out_len) *out_len = 0;
    CT_TRY(check_messages(messages, count));
    text_buf b = {0};
    ct_status st = CT_OK;
    switch (t->format) {
    case CT_CHAT_CHATML: render_chatml(t, messages, count, add_generation_prompt, &b); break;
    case CT_CHAT_LLAMA2: st = render_llama2(t, messages, count, &b); break;
    case CT_CHAT_LLAMA3: render_llama3(t, messages, count, add_generation_prompt, &b); break;
    case CT_CHAT_GEMMA: st = render_gemma(t, messages, count, add_generation_prompt, &b); break;
    case CT_CHAT_PHI3: render_phi3(t, messages, count, add_generation_prompt, &b); break;
    }
    if (st == CT_OK && b.failed)
        st = ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory rendering a chat prompt of %zu messages", count);
    if (st != CT_OK) {
        free(b.data);
        return st;
    }
    /* The BOS the template writes first is left to the tokenizer (see the header). */
    size_t skip = 0, bos_len = strlen(t->bos_text);
    if (t->starts_with_bos && bos_len > 0 && b.len >= bos_len && memcmp(b.data, t->bos_text, bos_len) == 0)
        skip = bos_len;
    char *text = ct_strndup(b.data ? b.data + skip : "", b.len - skip, "chat prompt");
    free(b.data);
    if (!text) return CT_ERR_OUT_OF_MEMORY;
    *out = text;
    if (out_len) *out_len = b.len - skip;
    return CT_OK;
}
