/* Engine tests: requests whose every event is recorded (and checked for gaps, repeats and
 * events after the end), a fake clock, greedy requests, comparisons with references. */
#ifndef CT_TEST_ENGINE_RECORD_H
#define CT_TEST_ENGINE_RECORD_H

#include "test_engine_util.h"

/* ---- recorded requests ------------------------------------------------------------------- */

typedef struct eng_record {
    ct_request_id id;
    ct_token tokens[ENG_MAX_GEN];
    int32_t n_tokens;
    float *logits; /* [ENG_MAX_GEN + 1][n_vocab]: each event's logits (the EOG one last) */
    int32_t n_logits;
    char text[4096];
    size_t text_len;
    int n_events, n_final, bad_index, after_final;
    ct_finish_reason finish;
    int32_t n_vocab;
} eng_record;

static inline void eng_record_init(eng_record *rec, int32_t n_vocab, bool keep_logits) {
    memset(rec, 0, sizeof *rec);
    rec->n_vocab = n_vocab;
    if (keep_logits) rec->logits = malloc((size_t)(ENG_MAX_GEN + 1) * (size_t)n_vocab * sizeof(float));
}

static inline void eng_record_free(eng_record *rec) { free(rec->logits); }

/* The callback: checks what a stream must be (indices 0, 1, 2, ... without gaps or repeats,
 * nothing after the final event) and keeps tokens, text and logits. */
static inline void eng_record_event(const ct_engine_event *ev, void *user) {
    eng_record *rec = user;
    rec->n_events++;
    if (rec->n_final) rec->after_final++;
    if (ev->token >= 0) {
        if (ev->index != rec->n_tokens) rec->bad_index++;
        if (rec->n_tokens < ENG_MAX_GEN) rec->tokens[rec->n_tokens] = ev->token;
        rec->n_tokens++;
    } else if (ev->index != -1) {
        rec->bad_index++;
    }
    if (ev->logits && rec->logits && rec->n_logits <= ENG_MAX_GEN)
        memcpy(rec->logits + (size_t)rec->n_logits++ * (size_t)rec->n_vocab, ev->logits, (size_t)rec->n_vocab * sizeof(float));
    if (rec->text_len + ev->text_len < sizeof rec->text) {
        memcpy(rec->text + rec->text_len, ev->text, ev->text_len);
        rec->text_len += ev->text_len;
    }
    if (ev->finished) {
        rec->n_final++;
        rec->finish = ev->finish;
    }
}

/* ---- a fake clock: the test advances it ------------------------------------------------------ */
static int64_t eng_fake_now;
static inline int64_t eng_fake_clock(void *user) {
    (void)user;
    return eng_fake_now;
}

/* A greedy request recorded into rec. */
static inline ct_request_params eng_greedy_request(const ct_token *prompt, int32_t n_prompt, int32_t max_tokens,
                                                   eng_record *rec) {
    ct_request_params rp = ct_request_params_default();
    rp.prompt = prompt;
    rp.n_prompt = (size_t)n_prompt;
    rp.sample.temperature = 0.0f;
    rp.sample.repeat_penalty = 1.0f;
    rp.max_tokens = max_tokens;
    rp.callback = eng_record_event;
    rp.user = rec;
    return rp;
}

/* Whether rec's tokens and logits are bit-identical to ref's. */
static inline bool eng_same_bits(const eng_record *rec, const eng_reference *ref, int32_t n_vocab) {
    if (rec->n_tokens != ref->n_tokens || rec->n_logits != ref->n_logits) return false;
    if (memcmp(rec->tokens, ref->tokens, (size_t)ref->n_tokens * sizeof(ct_token)) != 0) return false;
    return memcmp(rec->logits, ref->logits, (size_t)ref->n_logits * (size_t)n_vocab * sizeof(float)) == 0;
}

#endif
