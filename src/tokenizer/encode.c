/* Encoding: special-token matching, then SPM or BPE on each text fragment, then BOS/EOS. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "tokenizer/tok_internal.h"

void ct_tokens_free(ct_tokens *tokens) {
    free(tokens->ids);
    tokens->ids = NULL;
    tokens->count = tokens->capacity = 0;
}

ct_status ct_tokens_push(ct_tokens *tokens, int32_t id) {
    if (tokens->count == tokens->capacity) {
        size_t cap = tokens->capacity ? tokens->capacity * 2 : 64;
        int32_t *ids = ct_realloc_array(tokens->ids, cap, sizeof *ids, "token list");
        if (!ids) return CT_ERR_OUT_OF_MEMORY;
        tokens->ids = ids;
        tokens->capacity = cap;
    }
    tokens->ids[tokens->count++] = id;
    return CT_OK;
}

ct_status tok_reserve_bytes(char **buf, size_t *cap, size_t n) {
    if (n <= *cap) return CT_OK;
    size_t c = *cap ? *cap : 256;
    while (c < n) c = c > SIZE_MAX / 2 ? n : c * 2;
    char *grown = realloc(*buf, c);
    if (!grown) return ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory (%zu bytes) while tokenizing", n);
    *buf = grown;
    *cap = c;
    return CT_OK;
}

ct_status tok_reserve_symbols(tok_work *w, size_t n) {
    if (n <= w->syms_cap) return CT_OK;
    size_t cap = w->syms_cap ? w->syms_cap : 256;
    while (cap < n) cap *= 2;
    tok_symbol *s = ct_realloc_array(w->syms, cap, sizeof *s, "tokenizer symbols");
    if (!s) return CT_ERR_OUT_OF_MEMORY;
    w->syms = s;
    w->syms_cap = cap;
    return CT_OK;
}

ct_status tok_work_init(tok_work *w, const ct_tokenizer *tok) {
    memset(w, 0, sizeof *w);
    w->heap = calloc(1, sizeof *w->heap);
    if (!w->heap) return ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory while tokenizing");
    if (tok->kind == CT_VOCAB_BPE) return tok_split_scratch_create(tok->pretok, &w->split);
    return CT_OK;
}

void tok_work_free(tok_work *w) {
    tok_split_scratch_free(w->split);
    free(w->syms);
    if (w->heap) tok_heap_free(w->heap);
    free(w->heap);
    free(w->buf);
    free(w->word);
    memset(w, 0, sizeof *w);
}

static ct_status encode_fragments(const ct_tokenizer *tok, tok_work *w, const char *text, const tok_fragment *frags,
                                  size_t n_frags, unsigned flags, ct_tokens *out) {
    bool add_special = flags & CT_ENCODE_ADD_SPECIAL;
    if (add_special && tok->add_bos) CT_TRY(ct_tokens_push(out, tok->bos));
    /* SPM puts its space in front of the text and of text that follows a special token */
    bool prev_special = true;
    for (size_t i = 0; i < n_frags; i++) {
        const tok_fragment *f = &frags[i];
        if (f->token >= 0) {
            CT_TRY(ct_tokens_push(out, f->token));
            prev_special = true;
        } else if (tok->kind == CT_VOCAB_SPM) {
            CT_TRY(tok_spm_encode(tok, w, text + f->start, f->len, tok->add_space_prefix && prev_special, out));
            prev_special = false;
        } else {
            CT_TRY(tok_bpe_encode(tok, w, text + f->start, f->len, out));
        }
    }
    if (add_special && tok->add_eos) CT_TRY(ct_tokens_push(out, tok->eos));
    return CT_OK;
}

ct_status ct_tokenizer_encode(const ct_tokenizer *tok, const char *text, size_t len, unsigned flags, ct_tokens *out) {
    if (!tok || !out || (!text && len)) return ct_fail(CT_ERR_INVALID_ARGUMENT, "tokenize: NULL argument");
    if (len > INT32_MAX) return ct_fail(CT_ERR_RANGE, "tokenize: %zu bytes of text is over the 2 GiB limit", len);
    size_t old_count = out->count;
    tok_fragment *frags = NULL;
    size_t n_frags = 0;
    tok_work w;
    ct_status st = tok_work_init(&w, tok);
    if (st == CT_OK) st = tok_special_partition(tok, text, len, flags & CT_ENCODE_PARSE_SPECIAL, &frags, &n_frags);
    if (st == CT_OK) st = encode_fragments(tok, &w, text, frags, n_frags, flags, out);
    free(frags);
    tok_work_free(&w);
    if (st != CT_OK) out->count = old_count; /* nothing half-appended */
    return st;
}
