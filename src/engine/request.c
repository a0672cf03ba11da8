/* Requests: creation, tokens, generated text and stop strings. */
#include "engine/request.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "model/model.h"

void ct_eng_request_free(ct_eng_request *r) {
    if (!r) return;
    free(r->error);
    free(r->tokens);
    ct_sampler_free(r->sampler);
    ct_detok_free(r->detok);
    free(r->text);
    for (size_t i = 0; r->stop && i < r->n_stop; i++) free(r->stop[i]);
    free(r->stop);
    free(r->stop_len);
    free(r);
}

static ct_status copy_stops(ct_eng_request *r, const ct_request_params *p) {
    if (p->n_stop == 0) return CT_OK;
    if (!p->stop) return ct_fail(CT_ERR_INVALID_ARGUMENT, "request: %zu stop strings but no array", p->n_stop);
    r->stop = ct_calloc_array(p->n_stop, sizeof *r->stop, "stop strings");
    r->stop_len = ct_calloc_array(p->n_stop, sizeof *r->stop_len, "stop strings");
    if (!r->stop || !r->stop_len) return CT_ERR_OUT_OF_MEMORY;
    r->n_stop = p->n_stop;
    for (size_t i = 0; i < p->n_stop; i++) {
        if (!p->stop[i] || !p->stop[i][0])
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "request: stop string %zu is empty", i);
        r->stop_len[i] = strlen(p->stop[i]);
        r->stop[i] = ct_strndup(p->stop[i], r->stop_len[i], "stop string");
        if (!r->stop[i]) return CT_ERR_OUT_OF_MEMORY;
    }
    return CT_OK;
}

ct_status ct_eng_request_new(const ct_model *model, const ct_request_params *p, ct_eng_request **out) {
    *out = NULL;
    ct_eng_request *r = ct_calloc_array(1, sizeof *r, "request");
    if (!r) return CT_ERR_OUT_OF_MEMORY;
    r->slot = -1;
    r->priority = p->priority;
    r->max_tokens = p->max_tokens;
    r->ignore_eog = p->ignore_eog;
    r->callback = p->callback;
    r->user = p->user;
    r->submit_ns = r->first_token_ns = r->finish_ns = -1;
    r->n_prompt = (int32_t)p->n_prompt;
    r->n_tokens = r->n_prompt;
    r->cap_tokens = r->n_prompt + 16;
    r->tokens = ct_alloc_array((size_t)r->cap_tokens, sizeof *r->tokens, "request tokens");
    r->text_cap = 64;
    r->text = ct_alloc_array(r->text_cap, 1, "request text");
    ct_status st = r->tokens && r->text ? CT_OK : CT_ERR_OUT_OF_MEMORY;
    if (st == CT_OK) {
        memcpy(r->tokens, p->prompt, p->n_prompt * sizeof *r->tokens);
        r->text[0] = '\0';
        st = copy_stops(r, p);
    }
    if (st == CT_OK) st = ct_sampler_new(model, &p->sample, &r->sampler);
    /* a model file without a vocabulary generates tokens only */
    if (st == CT_OK && model->tokenizer) st = ct_detok_new(model, false, &r->detok);
    else if (st == CT_OK && r->n_stop)
        st = ct_fail(CT_ERR_INVALID_ARGUMENT, "request: stop strings need a vocabulary, and the model has none");
    /* the penalties see the prompt, as `ctorch run` does */
    for (int32_t i = 0; st == CT_OK && i < r->n_prompt; i++) st = ct_sampler_accept(r->sampler, r->tokens[i]);
    if (st != CT_OK) {
        ct_eng_request_free(r);
        return st;
    }
    *out = r;
    return CT_OK;
}

ct_status ct_eng_request_push_token(ct_eng_request *r, ct_token token) {
    if (r->n_tokens == r->cap_tokens) {
        int32_t cap = r->cap_tokens * 2;
        ct_token *t = ct_realloc_array(r->tokens, (size_t)cap, sizeof *t, "request tokens");
        if (!t) return CT_ERR_OUT_OF_MEMORY;
        r->tokens = t;
        r->cap_tokens = cap;
    }
    r->tokens[r->n_tokens++] = token;
    return CT_OK;
}

/* First occurrence of needle in hay[from..len), or -1. */
static int64_t find(const char *hay, size_t len, size_t from, const char *needle, size_t n) {
    for (size_t i = from; i + n <= len; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0) return (int64_t)i;
    return -1;
}

bool ct_eng_request_push_text(ct_eng_request *r, const char *piece, size_t len, ct_status *st) {
    if (len == 0) return false;
    if (r->text_len + len + 1 > r->text_cap) {
        size_t cap = r->text_cap;
        while (cap < r->text_len + len + 1) cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t) {
            *st = ct_fail(CT_ERR_OUT_OF_MEMORY, "request %lld: text of %zu bytes", (long long)r->id, cap);
            return false;
        }
        r->text = t;
        r->text_cap = cap;
    }
    size_t old = r->text_len;
    memcpy(r->text + old, piece, len);
    r->text_len += len;
    r->text[r->text_len] = '\0';
    /* a stop string can only newly appear ending inside the piece; the earliest wins */
    int64_t cut = -1;
    for (size_t i = 0; i < r->n_stop; i++) {
        size_t from = old + 1 > r->stop_len[i] ? old + 1 - r->stop_len[i] : 0;
        int64_t at = find(r->text, r->text_len, from, r->stop[i], r->stop_len[i]);
        if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut < 0) return false;
    r->text_len = (size_t)cut;
    r->text[r->text_len] = '\0';
    if (r->text_released > r->text_len) r->text_released = r->text_len; /* cannot happen: held back */
    return true;
}

/* Bytes at the end of the text that could be the start of a stop string. */
static size_t holdback(const ct_eng_request *r) {
    size_t keep = 0;
    for (size_t i = 0; i < r->n_stop; i++) {
        size_t max = r->stop_len[i] - 1 < r->text_len ? r->stop_len[i] - 1 : r->text_len;
        for (size_t k = max; k > keep; k--)
            if (memcmp(r->text + r->text_len - k, r->stop[i], k) == 0) {
                keep = k;
                break;
            }
    }
    return keep;
}

const char *ct_eng_request_release_text(ct_eng_request *r, bool final, size_t *len) {
    size_t upto = final ? r->text_len : r->text_len - holdback(r);
    size_t from = r->text_released;
    if (upto < from) upto = from;
    r->text_released = upto;
    *len = upto - from;
    return r->text + from;
}
