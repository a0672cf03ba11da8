/* Bounds-checked reads from the file image. Every read checks the bytes left first, so a
 * claimed length or count is compared with the file size before it is used; failures say
 * which file, byte offset, item and field. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gguf/gguf_internal.h"

ct_status gguf_cursor_fail(const gguf_cursor *c, uint64_t offset, ct_status status, const char *fmt, ...) {
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return ct_fail(status, "%s: byte offset %llu: %s: %s", c->file, (unsigned long long)offset, c->context, detail);
}

void gguf_cursor_set_context(gguf_cursor *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->context, sizeof c->context, fmt, ap);
    va_end(ap);
}

uint64_t gguf_cursor_left(const gguf_cursor *c) { return c->size - c->pos; }

ct_status gguf_cursor_need(gguf_cursor *c, uint64_t n, const char *field) {
    if (n <= gguf_cursor_left(c)) return CT_OK;
    return gguf_cursor_fail(c, c->pos, CT_ERR_FORMAT, "%s: unexpected end of file (needs %llu bytes, %llu left)",
                            field, (unsigned long long)n, (unsigned long long)gguf_cursor_left(c));
}

ct_status gguf_cursor_u32(gguf_cursor *c, const char *field, uint32_t *out) {
    CT_TRY(gguf_cursor_need(c, 4, field));
    memcpy(out, c->base + c->pos, 4);
    c->pos += 4;
    return CT_OK;
}

ct_status gguf_cursor_u64(gguf_cursor *c, const char *field, uint64_t *out) {
    CT_TRY(gguf_cursor_need(c, 8, field));
    memcpy(out, c->base + c->pos, 8);
    c->pos += 8;
    return CT_OK;
}

ct_status gguf_cursor_str(gguf_cursor *c, const char *field, gguf_str *out) {
    uint64_t start = c->pos, len;
    CT_TRY(gguf_cursor_u64(c, field, &len));
    if (len > gguf_cursor_left(c)) {
        c->pos = start;
        return gguf_cursor_fail(c, start, CT_ERR_FORMAT,
                                "%s: string length %llu runs past the end of the file (%llu bytes left)", field,
                                (unsigned long long)len, (unsigned long long)gguf_cursor_left(c) - 8);
    }
    out->data = (const char *)c->base + c->pos;
    out->len = len;
    c->pos += len;
    return CT_OK;
}

uint64_t gguf_count_cap(const gguf_cursor *c, uint64_t count, uint64_t min_bytes) {
    uint64_t fit = gguf_cursor_left(c) / min_bytes;
    return count <= fit ? count : fit + 1;
}

ct_status gguf_count_fail(const char *what, uint64_t count, uint64_t cap, ct_status status) {
    if (cap >= count) return status;
    char message[1024];
    snprintf(message, sizeof message, "%s", ct_last_error());
    return ct_fail(status, "%s (the header claims %llu %s, more than the file can hold)", message,
                   (unsigned long long)count, what);
}

void gguf_escape_for_message(char *dst, size_t cap, const char *s, uint64_t len) {
    static const char hex[] = "0123456789abcdef";
    const size_t shown_max = 64;
    size_t o = 0;
    if (cap == 0) return;
    for (uint64_t i = 0; i < len && i < shown_max; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '\'') {
            if (o + 1 >= cap) break;
            dst[o++] = (char)ch;
        } else {
            if (o + 4 >= cap) break;
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[ch >> 4];
            dst[o++] = hex[ch & 15];
        }
    }
    if (len > shown_max && o + 3 < cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}
