/* ctorch batch: the prompts file (JSON lines) and JSON text output. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/batch.h"
#include "core/status.h"

static char *read_all(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "ctorch batch: cannot read '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *grown = realloc(buf, 2 * cap + 1);
        if (!grown) free(buf);
        buf = grown;
        cap *= 2;
    }
    bool bad = ferror(f);
    int err = errno;
    if (f != stdin) fclose(f);
    if (!buf || bad) {
        fprintf(stderr, "ctorch batch: cannot read '%s': %s\n", path, buf ? strerror(err) : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int line_error(const char *path, int line, const char *fmt, ...) CT_PRINTF(3, 4);
static int line_error(const char *path, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ctorch batch: %s:%d: ", path, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

static bool get_int(json_t *o, const char *key, long long lo, long long hi, int32_t *out, bool *bad) {
    json_t *v = json_object_get(o, key);
    if (!v) return false;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        *bad = true;
        return false;
    }
    *out = (int32_t)json_integer_value(v);
    return true;
}

static bool get_float(json_t *o, const char *key, double lo, double hi, float *out, bool *bad) {
    json_t *v = json_object_get(o, key);
    if (!v) return false;
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < lo || json_number_value(v) > hi) {
        *bad = true;
        return false;
    }
    *out = (float)json_number_value(v);
    return true;
}

static int read_stop(const char *path, int line, json_t *v, batch_prompt *p) {
    size_t n = json_is_string(v) ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if (!json_is_string(v) && !json_is_array(v))
        return line_error(path, line, "\"stop\" must be a string or a list of strings");
    p->stop = calloc(n ? n : 1, sizeof *p->stop);
    if (!p->stop) return line_error(path, line, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s) || json_string_length(s) == 0 || strlen(json_string_value(s)) != json_string_length(s))
            return line_error(path, line, "\"stop\" entry %zu must be a non-empty string without NUL", i);
        p->stop[i] = strdup(json_string_value(s));
        if (!p->stop[i]) return line_error(path, line, "out of memory");
        p->n_stop++;
    }
    return 0;
}

/* One line's object into p. */
static int read_prompt(const char *path, int line, json_t *o, batch_prompt *p) {
    if (!json_is_object(o)) return line_error(path, line, "expected a JSON object");
    json_t *text = json_object_get(o, "prompt"), *tokens = json_object_get(o, "tokens");
    if (!text == !tokens) return line_error(path, line, "give exactly one of \"prompt\" (a string) and \"tokens\" (ids)");
    if (text) {
        if (!json_is_string(text)) return line_error(path, line, "\"prompt\" must be a string");
        p->text = malloc(json_string_length(text) + 1);
        if (!p->text) return line_error(path, line, "out of memory");
        memcpy(p->text, json_string_value(text), json_string_length(text) + 1);
        p->n_tokens = json_string_length(text); /* bytes until tokenized */
    } else {
        if (!json_is_array(tokens) || json_array_size(tokens) == 0)
            return line_error(path, line, "\"tokens\" must be a non-empty list of token ids");
        p->n_tokens = json_array_size(tokens);
        p->tokens = malloc(p->n_tokens * sizeof *p->tokens);
        if (!p->tokens) return line_error(path, line, "out of memory");
        for (size_t i = 0; i < p->n_tokens; i++) {
            json_t *t = json_array_get(tokens, i);
            if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > INT32_MAX)
                return line_error(path, line, "\"tokens\"[%zu] is not a token id", i);
            p->tokens[i] = (ct_token)json_integer_value(t);
        }
    }
    json_t *id = json_object_get(o, "id");
    if (id) p->id = json_incref(id);
    bool bad = false;
    if (get_int(o, "max_tokens", 1, 1 << 24, &p->max_tokens, &bad), bad)
        return line_error(path, line, "\"max_tokens\" must be an integer from 1 to 16777216");
    if (get_float(o, "temperature", 0, 100, &p->sample.temperature, &bad), bad)
        return line_error(path, line, "\"temperature\" must be a number from 0 to 100");
    if (get_int(o, "top_k", 0, INT32_MAX, &p->sample.top_k, &bad), bad)
        return line_error(path, line, "\"top_k\" must be a non-negative integer");
    if (get_float(o, "top_p", 1e-9, 1, &p->sample.top_p, &bad), bad)
        return line_error(path, line, "\"top_p\" must be a number in (0, 1]");
    if (get_float(o, "min_p", 0, 1, &p->sample.min_p, &bad), bad)
        return line_error(path, line, "\"min_p\" must be a number in [0, 1]");
    if (get_int(o, "priority", INT32_MIN, INT32_MAX, &p->priority, &bad), bad)
        return line_error(path, line, "\"priority\" must be an integer");
    json_t *seed = json_object_get(o, "seed");
    if (seed) {
        if (!json_is_integer(seed) || json_integer_value(seed) < 0)
            return line_error(path, line, "\"seed\" must be a non-negative integer");
        p->sample.seed = (uint64_t)json_integer_value(seed);
    }
    json_t *stop = json_object_get(o, "stop");
    return stop ? read_stop(path, line, stop, p) : 0;
}

int batch_read_prompts(const char *path, const ct_sample_params *defaults, uint64_t seed_base, batch_prompt **out,
                       size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    size_t len;
    char *buf = read_all(path, &len);
    if (!buf) return 1;
    size_t cap = 0, n = 0;
    batch_prompt *p = NULL;
    int rc = 0, line = 0;
    for (char *s = buf; !rc && s < buf + len;) {
        char *nl = memchr(s, '\n', (size_t)(buf + len - s));
        char *end = nl ? nl : buf + len;
        line++;
        char *t = s;
        while (t < end && (*t == ' ' || *t == '\t' || *t == '\r')) t++;
        if (t < end) {
            if (n == cap) {
                size_t c = cap ? 2 * cap : 64;
                batch_prompt *q = realloc(p, c * sizeof *q);
                if (!q) {
                    rc = line_error(path, line, "out of memory");
                    break;
                }
                p = q;
                cap = c;
            }
            batch_prompt *cur = &p[n++];
            memset(cur, 0, sizeof *cur);
            cur->line = line;
            cur->sample = *defaults;
            cur->sample.seed = seed_base == UINT64_MAX ? UINT64_MAX : seed_base + (n - 1);
            json_error_t err;
            json_t *o = json_loadb(s, (size_t)(end - s), JSON_REJECT_DUPLICATES, &err);
            if (!o) rc = line_error(path, line, "not valid JSON: %s (column %d)", err.text, err.column);
            else rc = read_prompt(path, line, o, cur);
            json_decref(o);
        }
        s = end + 1;
    }
    free(buf);
    if (!rc && n == 0) rc = line_error(path, line, "no prompts in the file");
    if (rc) {
        batch_prompts_free(p, n);
        return rc;
    }
    *out = p;
    *n_out = n;
    return 0;
}

void batch_prompts_free(batch_prompt *p, size_t n) {
    for (size_t i = 0; p && i < n; i++) {
        json_decref(p[i].id);
        free(p[i].text);
        if (p[i].text) ct_free(p[i].tokens); /* tokenized by the library */
        else free(p[i].tokens);
        for (size_t k = 0; k < p[i].n_stop; k++) free(p[i].stop[k]);
        free(p[i].stop);
    }
    free(p);
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    if (s[0] < 0x80) return 1;
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    if (!len || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    uint32_t cp = len == 2 ? (uint32_t)(s[0] & 0x1f) : len == 3 ? (uint32_t)(s[0] & 0x0f) : (uint32_t)(s[0] & 0x07);
    for (size_t i = 1; i < len; i++) cp = (cp << 6) | (s[i] & 0x3f);
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

json_t *batch_json_text(const char *s, size_t len) {
    json_t *j = json_stringn(s, len);
    if (j) return j;
    char *clean = malloc(3 * len + 1);
    if (!clean) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq((const unsigned char *)s + i, len - i);
        if (n) {
            memcpy(clean + k, s + i, n);
            k += n;
            i += n;
        } else {
            memcpy(clean + k, "\xef\xbf\xbd", 3); /* U+FFFD */
            k += 3;
            i++;
        }
    }
    j = json_stringn(clean, k);
    free(clean);
    return j;
}
