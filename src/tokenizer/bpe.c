/* Byte-level BPE ("gpt2" vocabularies), as llama.cpp's llm_tokenizer_bpe does it:
 *   1. the text is split into words by the pre-tokenizer's regexes,
 *   2. each word starts as one symbol per byte (the code point that spells the byte),
 *   3. repeatedly, of all adjacent pairs listed in tokenizer.ggml.merges, the one with the
 *      lowest rank (then the leftmost) is merged — a priority queue over pairs,
 *   4. each final symbol is a token; a symbol that is not one falls back to its bytes.
 *
 * Merges are looked up by piece ids: every token, merge part and merge result is interned
 * in one string table at load, so a merge is a (left id, right id) -> (rank, result) hash.
 *
 * Invalid UTF-8 is replaced byte by byte with U+FFFD before pre-tokenization, as llama.cpp
 * does (the regexes need well-formed text). */
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode_bytes.h"

static ct_status try_pair(const ct_tokenizer *tok, tok_work *w, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return CT_OK;
    const tok_symbol *l = &w->syms[left], *r = &w->syms[right];
    if (l->piece < 0 || r->piece < 0) return CT_OK;
    const tok_merge *m = tok_pairmap_get(&tok->merges, l->piece, r->piece);
    if (!m) return CT_OK;
    tok_merge_cand c = {tok_cand_key((uint32_t)m->rank, left), l->len + r->len, m->result};
    return tok_heap_push(w->heap, c);
}

/* The word spelled in byte-level code points (to look it up as a whole token). */
static ct_status spell_word(tok_work *w, const unsigned char *p, size_t n, size_t *out_len) {
    CT_TRY(tok_reserve_bytes(&w->word, &w->word_cap, 2 * n + 1));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += tok_utf8_encode(tok_byte_to_cpt(p[i]), w->word + k);
    *out_len = k;
    return CT_OK;
}

static ct_status encode_word(const ct_tokenizer *tok, tok_work *w, const unsigned char *p, size_t n,
                             ct_tokens *out) {
    if (tok->ignore_merges) {
        size_t k;
        CT_TRY(spell_word(w, p, n, &k));
        int32_t id = tok_strtab_find(&tok->strs, w->word, k);
        if (id >= 0 && id < tok->n_vocab) return ct_tokens_push(out, id);
    }
    CT_TRY(tok_reserve_symbols(w, n));
    for (size_t i = 0; i < n; i++)
        w->syms[i] = (tok_symbol){(uint32_t)i, 1, (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1, tok->byte_piece[p[i]]};
    w->heap->count = 0;
    for (size_t i = 1; i < n; i++) CT_TRY(try_pair(tok, w, (int32_t)i - 1, (int32_t)i));
    while (w->heap->count) {
        tok_merge_cand c = tok_heap_pop(w->heap);
        int32_t left = tok_cand_left(&c);
        tok_symbol *l = &w->syms[left];
        if (l->len == 0 || l->next < 0) continue;
        tok_symbol *r = &w->syms[l->next];
        /* lengths only grow, so an unchanged sum means neither symbol changed */
        if (l->len + r->len != c.size) continue; /* stale */
        l->len += r->len;
        l->piece = c.result;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) w->syms[r->next].prev = left;
        CT_TRY(try_pair(tok, w, l->prev, left));
        CT_TRY(try_pair(tok, w, left, l->next));
    }
    for (int32_t i = 0; i >= 0; i = w->syms[i].next) {
        const tok_symbol *s = &w->syms[i];
        if (s->piece >= 0 && s->piece < tok->n_vocab) {
            CT_TRY(ct_tokens_push(out, s->piece));
            continue;
        }
        /* not a token (a vocabulary without all 256 byte symbols, or a merge whose result
         * is not in it): its bytes, where those are tokens */
        for (uint32_t j = 0; j < s->len; j++) {
            int32_t id = tok->byte_piece[p[s->start + j]];
            if (id >= 0 && id < tok->n_vocab) CT_TRY(ct_tokens_push(out, id));
        }
    }
    return CT_OK;
}

/* Well-formed UTF-8 for the regexes: each byte that starts no valid sequence -> U+FFFD. */
static ct_status sanitize(tok_work *w, const char *text, size_t len, const char **out, size_t *out_len) {
    if (tok_utf8_is_valid(text, len)) {
        *out = text;
        *out_len = len;
        return CT_OK;
    }
    if (len > SIZE_MAX / 3 - 1) return ct_fail(CT_ERR_RANGE, "text too long");
    CT_TRY(tok_reserve_bytes(&w->buf, &w->buf_cap, 3 * len + 1));
    const unsigned char *p = (const unsigned char *)text;
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cpt;
        size_t n = tok_utf8_valid_len(p + i, len - i, &cpt);
        if (n) {
            memcpy(w->buf + k, text + i, n);
            k += n;
            i += n;
        } else {
            memcpy(w->buf + k, TOK_REPLACEMENT_UTF8, 3);
            k += 3;
            i++;
        }
    }
    *out = w->buf;
    *out_len = k;
    return CT_OK;
}

ct_status tok_bpe_encode(const ct_tokenizer *tok, tok_work *w, const char *text, size_t len, ct_tokens *out) {
    if (len > UINT32_MAX / 4) return ct_fail(CT_ERR_RANGE, "text of %zu bytes is too long to tokenize", len);
    const char *clean;
    size_t clean_len;
    CT_TRY(sanitize(w, text, len, &clean, &clean_len));
    const tok_span *words;
    size_t n_words;
    CT_TRY(tok_pretok_split(tok->pretok, w->split, clean, clean_len, &words, &n_words));
    for (size_t i = 0; i < n_words; i++)
        CT_TRY(encode_word(tok, w, (const unsigned char *)clean + words[i].start, words[i].len, out));
    return CT_OK;
}
