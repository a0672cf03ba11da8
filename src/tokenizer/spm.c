/* SentencePiece-style BPE ("llama" vocabularies), as llama.cpp's llm_tokenizer_spm does it:
 *   1. spaces become U+2581 '▁' (and a '▁' goes in front when the vocabulary asks for it),
 *   2. the text is split into UTF-8 characters,
 *   3. repeatedly, of all adjacent pairs whose concatenation is a token, the one with the
 *      highest score (then the leftmost) is merged — a priority queue over pairs, so
 *      O(n log n) rather than rescanning,
 *   4. each final piece is its token, or its bytes as <0xNN> tokens (byte fallback).
 * The text is cut into independent chunks where no token can span the cut (see below).
 *
 * Deliberate difference: an invalid UTF-8 byte is a symbol of its own. llama.cpp takes the
 * length from the lead byte alone, so a broken sequence swallows the following bytes (it
 * falls back to the same byte tokens, but can hide a following ASCII character from merges).
 * For valid UTF-8 the two agree. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode_bytes.h"

#define SPM_SPACE "\xE2\x96\x81" /* U+2581 */

/* Queue (left, right) if their concatenation is a token. */
static ct_status try_pair(const ct_tokenizer *tok, tok_work *w, const char *text, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return CT_OK;
    const tok_symbol *l = &w->syms[left], *r = &w->syms[right];
    int32_t id = tok_strtab_find(&tok->strs, text + l->start, (size_t)l->len + r->len);
    if (id < 0 || id >= tok->n_vocab) return CT_OK;
    tok_merge_cand c = {tok_cand_key(tok_score_priority(tok->scores[id]), left), l->len + r->len, id};
    return tok_heap_push(w->heap, c);
}

static ct_status emit_bytes(const ct_tokenizer *tok, const unsigned char *p, size_t n, ct_tokens *out) {
    for (size_t i = 0; i < n; i++) {
        int32_t id = tok->byte_token[p[i]];
        if (id < 0) {
            /* no <0xNN> token: the byte as a one-character token, else <unk> */
            id = tok_strtab_find(&tok->strs, (const char *)p + i, 1);
            if (id >= tok->n_vocab) id = -1;
            if (id < 0) id = tok->unk;
        }
        if (id >= 0) CT_TRY(ct_tokens_push(out, id));
    }
    return CT_OK;
}

/* Merge the characters of esc[start..end) and append their tokens. */
static ct_status encode_chunk(const ct_tokenizer *tok, tok_work *w, const char *esc, size_t start, size_t end,
                              ct_tokens *out) {
    CT_TRY(tok_reserve_symbols(w, end - start));
    const unsigned char *u = (const unsigned char *)esc;
    int32_t n_syms = 0;
    for (size_t i = start; i < end;) {
        uint32_t cpt;
        size_t clen = tok_utf8_valid_len(u + i, end - i, &cpt);
        if (clen == 0) clen = 1;
        w->syms[n_syms] = (tok_symbol){(uint32_t)i, (uint32_t)clen, n_syms - 1, -1, -1};
        if (n_syms > 0) w->syms[n_syms - 1].next = n_syms;
        n_syms++;
        i += clen;
    }

    /* merge the best pair until none is left */
    w->heap->count = 0;
    for (int32_t i = 1; i < n_syms; i++) CT_TRY(try_pair(tok, w, esc, i - 1, i));
    while (w->heap->count) {
        tok_merge_cand c = tok_heap_pop(w->heap);
        int32_t left = tok_cand_left(&c);
        tok_symbol *l = &w->syms[left];
        if (l->len == 0 || l->next < 0) continue;
        tok_symbol *r = &w->syms[l->next];
        /* lengths only grow, so an unchanged sum means neither symbol changed */
        if (l->len + r->len != c.size) continue; /* stale */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) w->syms[r->next].prev = left;
        CT_TRY(try_pair(tok, w, esc, l->prev, left));
        CT_TRY(try_pair(tok, w, esc, left, l->next));
    }

    /* tokens, or bytes */
    for (int32_t i = 0; i >= 0 && n_syms > 0; i = w->syms[i].next) {
        const tok_symbol *s = &w->syms[i];
        int32_t id = tok_strtab_find(&tok->strs, esc + s->start, s->len);
        if (id >= 0 && id < tok->n_vocab) CT_TRY(ct_tokens_push(out, id));
        else CT_TRY(emit_bytes(tok, u + s->start, s->len, out));
    }
    return CT_OK;
}

/* Does the character with this code come right before a '▁' inside some token? */
static bool joins_space(const ct_tokenizer *tok, uint32_t code) {
    int32_t lo = 0, hi = tok->n_space_joiners;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (tok->space_joiners[mid] < code) lo = mid + 1;
        else hi = mid;
    }
    return lo < tok->n_space_joiners && tok->space_joiners[lo] == code;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Collect, over all tokens, the codes of the characters right before a '▁'. */
ct_status tok_spm_prepare(ct_tokenizer *tok) {
    size_t n = 0, cap = 0;
    uint32_t *codes = NULL;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        size_t len;
        const unsigned char *s = (const unsigned char *)tok_strtab_str(&tok->strs, id, &len);
        uint32_t prev = 0;
        for (size_t i = 0; i < len;) {
            uint32_t cpt;
            size_t clen = tok_utf8_valid_len(s + i, len - i, &cpt);
            if (clen == 0) {
                clen = 1;
                cpt = TOK_SPM_RAW_BYTE + s[i];
            }
            if (cpt == 0x2581 && i > 0) {
                if (n == cap) {
                    cap = cap ? 2 * cap : 16;
                    uint32_t *grown = ct_realloc_array(codes, cap, sizeof *codes, "SPM chunking table");
                    if (!grown) {
                        free(codes);
                        return CT_ERR_OUT_OF_MEMORY;
                    }
                    codes = grown;
                }
                codes[n++] = prev;
            }
            prev = cpt;
            i += clen;
        }
    }
    if (n > 1) qsort(codes, n, sizeof *codes, cmp_u32);
    size_t k = 0; /* dedupe */
    for (size_t i = 0; i < n; i++)
        if (k == 0 || codes[k - 1] != codes[i]) codes[k++] = codes[i];
    tok->space_joiners = codes;
    tok->n_space_joiners = (int32_t)k;
    return CT_OK;
}

ct_status tok_spm_encode(const ct_tokenizer *tok, tok_work *w, const char *text, size_t len, bool add_prefix,
                         ct_tokens *out) {
    /* escape spaces */
    size_t n_spaces = 0;
    for (size_t i = 0; i < len; i++) n_spaces += text[i] == ' ';
    size_t esc_len = len + 2 * n_spaces + (add_prefix ? 3 : 0);
    if (esc_len > UINT32_MAX / 2) return ct_fail(CT_ERR_RANGE, "text of %zu bytes is too long to tokenize", len);
    CT_TRY(tok_reserve_bytes(&w->buf, &w->buf_cap, esc_len + 1));
    char *esc = w->buf;
    size_t n = 0;
    if (add_prefix) {
        memcpy(esc, SPM_SPACE, 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(esc + n, SPM_SPACE, 3);
            n += 3;
        } else {
            esc[n++] = text[i];
        }
    }

    /* Cut before each '▁' whose preceding character never precedes '▁' inside a token: no
     * token spans such a cut, so no merge crosses it and the pieces merge independently
     * (same result, small queues). */
    const unsigned char *u = (const unsigned char *)esc;
    size_t chunk = 0;
    uint32_t prev_code = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cpt;
        size_t clen = tok_utf8_valid_len(u + i, n - i, &cpt);
        if (clen == 0) {
            clen = 1;
            cpt = TOK_SPM_RAW_BYTE + u[i];
        }
        if (cpt == 0x2581 && i > chunk && !joins_space(tok, prev_code)) {
            CT_TRY(encode_chunk(tok, w, esc, chunk, i, out));
            chunk = i;
        }
        prev_code = cpt;
        i += clen;
    }
    if (n > chunk) CT_TRY(encode_chunk(tok, w, esc, chunk, n, out));
    return CT_OK;
}
