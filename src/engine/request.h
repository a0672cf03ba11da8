/* One generation request inside the engine: its tokens (prompt, then generated), where it
 * stands in the KV cache, its sampler, and the text it has produced with stop-string
 * handling. The scheduler (scheduler.h) moves requests between its queue and its running
 * set; the engine (engine.h) feeds them tokens. */
#ifndef CT_ENGINE_REQUEST_H
#define CT_ENGINE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctorch.h"

typedef struct ct_eng_request {
    ct_request_id id;
    uint64_t arrival; /* submission order: first come, first served among equal priorities */
    int32_t priority;
    ct_request_state state;
    ct_finish_reason finish;
    char *error; /* why it ended with CT_FINISH_ERROR / CT_FINISH_CONTEXT, or NULL */

    ct_token *tokens; /* prompt then generated */
    int32_t n_tokens, cap_tokens, n_prompt;
    int32_t n_computed; /* positions in the KV cache (while running) */
    int32_t slot;       /* sequence id while running, else -1 */
    bool decoding;      /* its pending token is a generated one to feed back (not a prompt) */
    int32_t max_tokens; /* 0: no limit */
    bool ignore_eog;

    ct_sampler *sampler;
    ct_detok *detok;
    char *text; /* generated text, NUL-terminated */
    size_t text_len, text_cap;
    size_t text_released; /* prefix handed out so far (the rest may start a stop string) */
    char **stop;
    size_t *stop_len;
    size_t n_stop;

    ct_engine_callback callback;
    void *user;
    int32_t n_preemptions;
    int64_t submit_ns, first_token_ns, finish_ns;

    /* scheduler scratch for the step being planned */
    int32_t step_tokens; /* tokens scheduled this step (0: none) */
    /* requested from a callback, applied at the end of the step */
    bool cancel_pending, release_pending;
} ct_eng_request;

/* A request for params (validated by the caller, except what is checked here: sampling
 * parameters, stop strings). Accepts the prompt into the sampler's penalty history. */
ct_status ct_eng_request_new(const ct_model *model, const ct_request_params *params, ct_eng_request **out);
void ct_eng_request_free(ct_eng_request *r);

static inline int32_t ct_eng_request_generated(const ct_eng_request *r) { return r->n_tokens - r->n_prompt; }
/* Tokens not yet in the KV cache (the whole prompt before the first step; 1 while decoding). */
static inline int32_t ct_eng_request_pending(const ct_eng_request *r) { return r->n_tokens - r->n_computed; }

ct_status ct_eng_request_push_token(ct_eng_request *r, ct_token token);

/* Append a piece of generated text. Returns true when a stop string now appears in the text:
 * the text is then cut where the first one starts. */
bool ct_eng_request_push_text(ct_eng_request *r, const char *piece, size_t len, ct_status *st);

/* Release text: up to where no stop string can still start (everything when final). Returns
 * the newly released bytes (*len of them) at r->text + old release point. */
const char *ct_eng_request_release_text(ct_eng_request *r, bool final, size_t *len);

#endif
