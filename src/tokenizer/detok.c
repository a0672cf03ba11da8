/* Decoding: each token's text (built once at load), whole-sequence decode, and the
 * streaming detokenizer that never emits half a UTF-8 character. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode_bytes.h"

#define HIDDEN_ATTRS (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)

/* "<0xNN>" -> NN, or -1 */
static int parse_byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Append the decoded text of token id to buf[*n..] (room: 3x the token text + 4). */
static size_t decode_token_text(const ct_tokenizer *tok, int32_t id, const int16_t *cpt_byte, char *dst) {
    size_t len;
    const char *text = tok_strtab_str(&tok->strs, id, &len);
    uint16_t attr = tok->attrs[id];
    if (attr & (HIDDEN_ATTRS | TOK_ATTR_USER_DEFINED)) {
        memcpy(dst, text, len);
        return len;
    }
    if (attr & TOK_ATTR_NORMAL) {
        size_t k = 0;
        const unsigned char *u = (const unsigned char *)text;
        for (size_t i = 0; i < len;) {
            uint32_t cpt;
            size_t n = tok_utf8_valid_len(u + i, len - i, &cpt);
            if (n == 0) { /* a malformed vocabulary string: keep the byte */
                dst[k++] = text[i++];
                continue;
            }
            if (tok->kind == CT_VOCAB_SPM) {
                if (cpt == 0x2581) dst[k++] = ' ';
                else memcpy(dst + k, text + i, n), k += n;
            } else {
                int b = cpt < 0x144 ? cpt_byte[cpt] : -1;
                if (b >= 0) dst[k++] = (char)b;
                else memcpy(dst + k, text + i, n), k += n; /* not a byte symbol: as written */
            }
            i += n;
        }
        return k;
    }
    if (attr & TOK_ATTR_BYTE) {
        int b = parse_byte_token(text, len);
        if (b >= 0) {
            dst[0] = (char)b;
            return 1;
        }
    }
    return 0; /* unused and undefined tokens have no text */
}

ct_status tok_build_pieces(ct_tokenizer *tok) {
    int16_t cpt_byte[0x144];
    for (int c = 0; c < 0x144; c++) cpt_byte[c] = (int16_t)tok_cpt_to_byte((uint32_t)c);
    size_t total = 0;
    for (int32_t id = 0; id < tok->n_vocab; id++) total += tok->strs.len[id];
    if (total > UINT32_MAX - 4) return ct_fail(CT_ERR_RANGE, "vocabulary text exceeds 4 GiB");
    tok->piece_bytes = malloc(total + 4);
    tok->piece_off = ct_alloc_array((size_t)tok->n_vocab + 1, sizeof *tok->piece_off, "token pieces");
    if (!tok->piece_bytes || !tok->piece_off) return ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory for token pieces");
    /* decoding never makes a piece longer than its vocabulary string */
    size_t n = 0;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        tok->piece_off[id] = (uint32_t)n;
        size_t k = decode_token_text(tok, id, cpt_byte, tok->piece_bytes + n);
        if ((int64_t)k > tok->max_piece_len) tok->max_piece_len = (int32_t)k;
        n += k;
    }
    tok->piece_off[tok->n_vocab] = (uint32_t)n;
    return CT_OK;
}

const char *ct_tokenizer_piece(const ct_tokenizer *tok, int32_t id, bool render_special, size_t *len) {
    if (id < 0 || id >= tok->n_vocab || (!render_special && (tok->attrs[id] & HIDDEN_ATTRS))) {
        *len = 0;
        return "";
    }
    *len = tok->piece_off[id + 1] - tok->piece_off[id];
    return tok->piece_bytes + tok->piece_off[id];
}

/* Append src[0..n) to dst as valid UTF-8: each maximal invalid subpart becomes U+FFFD.
 * When keep_tail, a trailing incomplete sequence is not written; returns how many input
 * bytes were consumed. dst needs room for 3 * n bytes. */
static size_t append_valid_utf8(const unsigned char *src, size_t n, bool keep_tail, char *dst, size_t *dst_len) {
    size_t i = 0, k = *dst_len;
    while (i < n) {
        if (src[i] < 0x80) {
            dst[k++] = (char)src[i++];
            continue;
        }
        uint32_t cpt;
        size_t len = tok_utf8_valid_len(src + i, n - i, &cpt);
        if (len) {
            memcpy(dst + k, src + i, len);
            k += len;
            i += len;
            continue;
        }
        size_t p = tok_utf8_prefix_len(src + i, n - i);
        if (p > 0 && i + p == n && keep_tail) break; /* may complete with the next piece */
        memcpy(dst + k, TOK_REPLACEMENT_UTF8, 3);
        k += 3;
        i += p ? p : 1;
    }
    *dst_len = k;
    return i;
}

ct_status ct_tokenizer_decode(const ct_tokenizer *tok, const int32_t *ids, size_t n_ids, unsigned flags, char **out,
                              size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (n_ids && !ids) return ct_fail(CT_ERR_INVALID_ARGUMENT, "decode: NULL token array");
    bool render = flags & CT_DECODE_RENDER_SPECIAL;
    bool strip_space = ct_tokenizer_adds_space_prefix(tok) && !(flags & CT_DECODE_KEEP_PREFIX_SPACE);
    size_t raw_len = 0;
    for (size_t i = 0; i < n_ids; i++) {
        size_t len;
        ct_tokenizer_piece(tok, ids[i], render, &len);
        raw_len += len;
    }
    char *raw = malloc(raw_len + 1);
    if (!raw) return ct_fail(CT_ERR_OUT_OF_MEMORY, "decode: out of memory for %zu bytes", raw_len);
    size_t k = 0;
    for (size_t i = 0; i < n_ids; i++) {
        size_t len;
        const char *piece = ct_tokenizer_piece(tok, ids[i], render, &len);
        if (strip_space && len) { /* undo the space that encoding put in front of the text */
            if (piece[0] == ' ') piece++, len--;
            strip_space = false;
        }
        memcpy(raw + k, piece, len);
        k += len;
    }
    if (k > (SIZE_MAX - 1) / 3) {
        free(raw);
        return ct_fail(CT_ERR_RANGE, "decode: output too large");
    }
    char *text = malloc(3 * k + 1);
    if (!text) {
        free(raw);
        return ct_fail(CT_ERR_OUT_OF_MEMORY, "decode: out of memory for %zu bytes", 3 * k);
    }
    size_t text_len = 0;
    append_valid_utf8((const unsigned char *)raw, k, false, text, &text_len);
    free(raw);
    text[text_len] = '\0';
    *out = text;
    *out_len = text_len;
    return CT_OK;
}

/* ---- streaming ---------------------------------------------------------------- */

struct ct_detok {
    const ct_tokenizer *tok;
    bool render;
    unsigned char pending[4]; /* an incomplete UTF-8 sequence from earlier pieces */
    size_t n_pending;
    unsigned char *in; /* pending + the new piece */
    char *out;
    size_t cap; /* of in; out has 3 * cap + 4 */
};

ct_status ct_detok_create(const ct_tokenizer *tok, unsigned flags, ct_detok **out) {
    ct_detok *d = calloc(1, sizeof *d);
    if (!d) return ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory for the detokenizer");
    d->tok = tok;
    d->render = flags & CT_DECODE_RENDER_SPECIAL;
    d->cap = (size_t)tok->max_piece_len + sizeof d->pending;
    d->in = malloc(d->cap);
    d->out = malloc(3 * d->cap + 4);
    if (!d->in || !d->out) {
        ct_detok_free(d);
        return ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory for the detokenizer");
    }
    *out = d;
    return CT_OK;
}

void ct_detok_free(ct_detok *d) {
    if (!d) return;
    free(d->in);
    free(d->out);
    free(d);
}

const char *ct_detok_push(ct_detok *d, int32_t id, size_t *len) {
    size_t plen;
    const char *piece = ct_tokenizer_piece(d->tok, id, d->render, &plen);
    memcpy(d->in, d->pending, d->n_pending);
    memcpy(d->in + d->n_pending, piece, plen);
    size_t n = d->n_pending + plen, k = 0;
    size_t used = append_valid_utf8(d->in, n, true, d->out, &k);
    d->n_pending = n - used; /* at most 3 bytes: a proper prefix of one sequence */
    memcpy(d->pending, d->in + used, d->n_pending);
    d->out[k] = '\0';
    *len = k;
    return d->out;
}

const char *ct_detok_flush(ct_detok *d, size_t *len) {
    size_t k = 0;
    append_valid_utf8(d->pending, d->n_pending, false, d->out, &k);
    d->n_pending = 0;
    d->out[k] = '\0';
    *len = k;
    return d->out;
}
