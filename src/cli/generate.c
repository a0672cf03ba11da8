/* The generation loop. */
#include "cli/generate.h"

#include <stdlib.h>
#include <string.h>

#include "cli/args.h"

const char *gen_stop_name(gen_stop stop) {
    switch (stop) {
    case GEN_STOP_EOG: return "end";
    case GEN_STOP_LENGTH: return "length";
    case GEN_STOP_CONTEXT: return "context full";
    case GEN_STOP_INTERRUPT: return "interrupted";
    }
    return "?";
}

static ct_status push_token(gen_output *o, ct_token t) {
    if (o->n_tokens == o->cap_tokens) {
        size_t cap = o->cap_tokens ? 2 * o->cap_tokens : 64;
        ct_token *p = realloc(o->tokens, cap * sizeof *p);
        if (!p) return CT_ERR_OUT_OF_MEMORY;
        o->tokens = p;
        o->cap_tokens = cap;
    }
    o->tokens[o->n_tokens++] = t;
    return CT_OK;
}

static ct_status push_text(gen_output *o, const char *s, size_t n) {
    if (o->text_len + n + 1 > o->cap_text) {
        size_t cap = o->cap_text ? o->cap_text : 256;
        while (cap < o->text_len + n + 1) cap *= 2;
        char *p = realloc(o->text, cap);
        if (!p) return CT_ERR_OUT_OF_MEMORY;
        o->text = p;
        o->cap_text = cap;
    }
    memcpy(o->text + o->text_len, s, n);
    o->text_len += n;
    o->text[o->text_len] = '\0';
    return CT_OK;
}

static void emit(const gen_config *cfg, gen_output *o, const char *s, size_t n, ct_status *st) {
    if (n == 0) return;
    if (cfg->stream) {
        fwrite(s, 1, n, cfg->stream);
        fflush(cfg->stream);
    }
    if (*st == CT_OK) *st = push_text(o, s, n);
}

static bool is_stop(const gen_config *cfg, ct_token t) {
    if (ct_token_is_eog(cfg->model, t)) return true;
    for (size_t i = 0; i < cfg->n_stop_tokens; i++)
        if (cfg->stop_tokens[i] == t) return true;
    return false;
}

ct_status gen_run(const gen_config *cfg, const float *logits, gen_output *out) {
    double t0 = cli_now_ms();
    ct_status st = push_text(out, "", 0);
    out->stop = GEN_STOP_LENGTH;
    for (int32_t i = 0; st == CT_OK && i < cfg->max_tokens; i++) {
        if (cfg->interrupt && *cfg->interrupt) {
            out->stop = GEN_STOP_INTERRUPT;
            break;
        }
        ct_token tok;
        st = ct_sampler_sample(cfg->sampler, logits, &tok);
        if (st == CT_OK) st = ct_sampler_accept(cfg->sampler, tok);
        if (st != CT_OK) break;
        if (is_stop(cfg, tok)) {
            out->stop = GEN_STOP_EOG;
            break;
        }
        st = push_token(out, tok);
        size_t n;
        const char *piece = ct_detok_push(cfg->detok, tok, &n);
        emit(cfg, out, piece, n, &st);
        if (st != CT_OK || i + 1 == cfg->max_tokens) break; /* the last token need not be decoded */
        if (ct_seq_len(cfg->ctx, cfg->seq_id) >= ct_context_n_ctx(cfg->ctx)) {
            out->stop = GEN_STOP_CONTEXT;
            break;
        }
        st = ct_eval(cfg->ctx, cfg->seq_id, &tok, 1, &logits);
    }
    size_t n;
    const char *rest = ct_detok_flush(cfg->detok, &n);
    emit(cfg, out, rest, n, &st);
    out->ms += cli_now_ms() - t0;
    return st;
}

void gen_output_free(gen_output *out) {
    free(out->tokens);
    free(out->text);
    memset(out, 0, sizeof *out);
}
