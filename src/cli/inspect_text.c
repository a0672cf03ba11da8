/* The inspect summary as aligned text for a terminal. */
#include <inttypes.h>
#include <string.h>

#include "cli/inspect.h"

#define VALUE_WIDTH 72 /* longer values (chat templates, ...) are cut */

/* Print a JSON value compactly: strings quoted with control characters escaped, numbers with
 * `digits` significant digits (7 shows a FLOAT32 as it was written). */
static int scalar_text(char *buf, size_t size, const json_t *v, int digits) {
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v), o = 0;
        if (size < 8) return 0;
        buf[o++] = '"';
        for (size_t i = 0; i < len && o + 6 < size; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\n') o += (size_t)snprintf(buf + o, size - o, "\\n");
            else if (c == '\t') o += (size_t)snprintf(buf + o, size - o, "\\t");
            else if (c < 0x20) o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
            else buf[o++] = (char)c;
        }
        buf[o++] = '"';
        buf[o] = '\0';
        return (int)o;
    }
    if (json_is_integer(v)) return snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    if (json_is_real(v)) return snprintf(buf, size, "%.*g", digits, json_real_value(v));
    if (json_is_true(v)) return snprintf(buf, size, "true");
    if (json_is_false(v)) return snprintf(buf, size, "false");
    if (json_is_array(v)) {
        int o = snprintf(buf, size, "[");
        for (size_t i = 0; i < json_array_size(v) && (size_t)o + 8 < size; i++) {
            if (i) o += snprintf(buf + o, size - (size_t)o, ", ");
            o += scalar_text(buf + o, size - (size_t)o, json_array_get(v, i), digits);
        }
        if ((size_t)o + 2 < size) o += snprintf(buf + o, size - (size_t)o, "]");
        return o;
    }
    return snprintf(buf, size, "-");
}

/* Cut to VALUE_WIDTH bytes, at a UTF-8 character boundary, marking the cut. */
static void clip(char *s) {
    size_t len = strlen(s);
    if (len <= VALUE_WIDTH) return;
    size_t cut = VALUE_WIDTH - 3;
    while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80) cut--;
    memcpy(s + cut, "...", 4);
}

static void field(FILE *out, const char *label, const json_t *v) {
    char buf[512];
    if (!v || json_is_null(v)) snprintf(buf, sizeof buf, "-");
    else if (json_is_string(v)) snprintf(buf, sizeof buf, "%s", json_string_value(v));
    else scalar_text(buf, sizeof buf, v, 17);
    clip(buf);
    fprintf(out, "  %-20s %s\n", label, buf);
}

static const char *str_or(const json_t *o, const char *key, const char *fallback) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : fallback;
}

static uint64_t uint_of(const json_t *o, const char *key) {
    json_int_t v = json_integer_value(json_object_get(o, key));
    return v > 0 ? (uint64_t)v : 0;
}

static void human_size(char *buf, size_t size, uint64_t bytes) {
    if (bytes >= (1ull << 30)) snprintf(buf, size, "%.2f GiB", (double)bytes / (double)(1ull << 30));
    else if (bytes >= (1ull << 20)) snprintf(buf, size, "%.2f MiB", (double)bytes / (double)(1ull << 20));
    else if (bytes >= 1024) snprintf(buf, size, "%.2f KiB", (double)bytes / 1024.0);
    else snprintf(buf, size, "%" PRIu64 " B", bytes);
}

static void print_summary(FILE *out, const json_t *s) {
    char size[32];
    human_size(size, sizeof size, uint_of(s, "file_size"));
    fprintf(out, "%s: GGUF v%" PRIu64 ", %s, %" PRIu64 " metadata keys, %" PRIu64 " tensors, alignment %" PRIu64 "\n\n",
            str_or(s, "file", "?"), uint_of(s, "gguf_version"), size, uint_of(s, "n_kv"), uint_of(s, "n_tensors"),
            uint_of(s, "alignment"));
    field(out, "architecture", json_object_get(s, "architecture"));
    field(out, "name", json_object_get(s, "name"));
    field(out, "context length", json_object_get(s, "context_length"));
    field(out, "embedding length", json_object_get(s, "embedding_length"));
    field(out, "layers", json_object_get(s, "block_count"));
    field(out, "feed-forward length", json_object_get(s, "feed_forward_length"));
    field(out, "heads", json_object_get(s, "head_count"));
    field(out, "KV heads", json_object_get(s, "head_count_kv"));
    field(out, "vocab size", json_object_get(s, "vocab_size"));
    field(out, "tokenizer", json_object_get(s, "tokenizer_model"));
    field(out, "tokenizer pre", json_object_get(s, "tokenizer_pre"));
    char ft[96];
    const json_t *ftv = json_object_get(s, "file_type");
    if (json_is_integer(ftv))
        snprintf(ft, sizeof ft, "%" JSON_INTEGER_FORMAT " (%s)", json_integer_value(ftv), str_or(s, "file_type_name", "unknown"));
    else
        snprintf(ft, sizeof ft, "-");
    fprintf(out, "  %-20s %s\n", "file type", ft);
    char bytes[32];
    human_size(bytes, sizeof bytes, uint_of(s, "tensor_bytes"));
    fprintf(out, "  %-20s %.2f M (%s of tensor data)\n", "parameters", (double)uint_of(s, "n_params") / 1e6, bytes);
}

static void print_type_mix(FILE *out, const json_t *s) {
    const json_t *mix = json_object_get(s, "type_mix");
    if (!json_array_size(mix)) return;
    uint64_t total = uint_of(s, "tensor_bytes");
    fprintf(out, "\ntype mix:\n  %-8s %8s %16s %16s %7s\n", "type", "tensors", "parameters", "bytes", "bytes%");
    for (size_t i = 0; i < json_array_size(mix); i++) {
        const json_t *m = json_array_get(mix, i);
        uint64_t b = uint_of(m, "bytes");
        fprintf(out, "  %-8s %8" PRIu64 " %16" PRIu64 " %16" PRIu64 " %6.1f%%\n", str_or(m, "type", "?"),
                uint_of(m, "count"), uint_of(m, "params"), b, total ? 100.0 * (double)b / (double)total : 0.0);
    }
}

static void print_metadata(FILE *out, const json_t *s) {
    const json_t *md = json_object_get(s, "metadata");
    size_t key_w = 3;
    for (size_t i = 0; i < json_array_size(md); i++) {
        size_t n = strlen(str_or(json_array_get(md, i), "key", ""));
        if (n > key_w) key_w = n;
    }
    fprintf(out, "\nmetadata:\n");
    for (size_t i = 0; i < json_array_size(md); i++) {
        const json_t *e = json_array_get(md, i);
        char type[48], value[512];
        if (json_object_get(e, "elem_type")) {
            snprintf(type, sizeof type, "%s[%" PRIu64 "]", str_or(e, "elem_type", "?"), uint_of(e, "count"));
            const json_t *head = json_object_get(e, "head");
            int digits = strcmp(str_or(e, "elem_type", ""), "FLOAT32") ? 17 : 7;
            int o = scalar_text(value, sizeof value, head, digits);
            if (json_is_array(head) && uint_of(e, "count") > json_array_size(head) && o > 0 && (size_t)o < sizeof value - 6)
                snprintf(value + o - 1, sizeof value - (size_t)o + 1, ", ...]");
        } else {
            snprintf(type, sizeof type, "%s", str_or(e, "type", "?"));
            int digits = strcmp(str_or(e, "type", ""), "FLOAT32") ? 17 : 7;
            scalar_text(value, sizeof value, json_object_get(e, "value"), digits);
        }
        clip(value);
        fprintf(out, "  %-*s  %-16s %s\n", (int)key_w, str_or(e, "key", "?"), type, value);
    }
}

static void print_tensors(FILE *out, const json_t *s) {
    const json_t *ts = json_object_get(s, "tensors");
    if (!json_array_size(ts)) return;
    size_t name_w = 4;
    for (size_t i = 0; i < json_array_size(ts); i++) {
        size_t n = strlen(str_or(json_array_get(ts, i), "name", ""));
        if (n > name_w) name_w = n;
    }
    fprintf(out, "\ntensors:\n  %5s  %-*s  %-6s %-22s %14s %14s\n", "#", (int)name_w, "name", "type", "shape", "bytes",
            "offset");
    for (size_t i = 0; i < json_array_size(ts); i++) {
        const json_t *t = json_array_get(ts, i), *shape = json_object_get(t, "shape");
        char dims[64] = "";
        int o = 0;
        for (size_t d = 0; d < json_array_size(shape) && (size_t)o < sizeof dims; d++)
            o += snprintf(dims + o, sizeof dims - (size_t)o, "%s%" JSON_INTEGER_FORMAT, d ? " x " : "",
                          json_integer_value(json_array_get(shape, d)));
        fprintf(out, "  %5zu  %-*s  %-6s %-22s %14" PRIu64 " %14" PRIu64 "\n", i, (int)name_w, str_or(t, "name", "?"),
                str_or(t, "type", "?"), dims, uint_of(t, "bytes"), uint_of(t, "offset"));
    }
}

void inspect_print_text(FILE *out, const json_t *summary) {
    print_summary(out, summary);
    print_type_mix(out, summary);
    print_metadata(out, summary);
    print_tensors(out, summary);
}
