/* The engine's scheduler: which requests run in the next forward pass and with how many
 * tokens, given sequence slots, a token budget and the paged KV cache's free blocks.
 *
 * Order. Requests are ranked by priority (higher first), then arrival (older first). The
 * running set and the queue are both kept in that order; "younger" below means later in it.
 *
 * One step (ct_sched_schedule):
 *  1. Decoding requests (one pending token) each get their token, oldest first, so decoding
 *     never waits behind prompts. One that needs a new KV block when none is free preempts
 *     the youngest running request (possibly itself): its blocks are freed and it goes back
 *     to the queue, to recompute its prompt and generated tokens when readmitted.
 *  2. Prefilling requests (a prompt, or a recomputation, still pending), oldest first, each
 *     get min(pending, chunk_size, budget left) tokens (chunked prefill). Short of KV blocks,
 *     a prefill takes what fits; if nothing fits it preempts the youngest running request
 *     when that is younger than itself, else it waits this step (older requests progress).
 *  3. Admission (continuous batching), only in steps without preemption: the head of the
 *     queue is admitted while a slot and budget remain and the free blocks, minus those the
 *     running prefills still need, hold its whole pending tokens. The head blocks the rest
 *     (no overtaking), so a long prompt is not starved by short ones.
 * A request alone in the engine that still cannot get a block, or one whose tokens exceed
 * the whole cache, is ended (ct_sched.ended) with CT_FINISH_CONTEXT rather than waiting
 * forever, so a step always makes progress or ends someone. */
#ifndef CT_ENGINE_SCHEDULER_H
#define CT_ENGINE_SCHEDULER_H

#include "engine/request.h"
#include "model/kv_cache.h"

typedef struct ct_sched_entry {
    ct_eng_request *r;
    int32_t n;   /* tokens r->tokens[n_computed .. n_computed + n) */
    bool logits; /* the chunk reaches the last pending token: sample from it */
} ct_sched_entry;

typedef struct ct_sched {
    ct_kv_cache *kv;
    int32_t n_parallel, max_batch_tokens, chunk_size;
    ct_eng_request **queue; /* ranked */
    int32_t n_queue, cap_queue;
    ct_eng_request **running; /* ranked, [n_parallel] */
    int32_t n_running;
    bool *slot_used; /* [n_parallel] */

    /* the step planned by ct_sched_schedule */
    ct_sched_entry *entries; /* [n_parallel] */
    int32_t n_entries, n_tokens;
    ct_eng_request **ended; /* requests ended because they cannot fit, [cap_ended] */
    int32_t n_ended, cap_ended;
    int32_t step_preemptions;
    int64_t n_preemptions; /* total */
} ct_sched;

ct_status ct_sched_init(ct_sched *s, ct_kv_cache *kv, int32_t n_parallel, int32_t max_batch_tokens, int32_t chunk_size);
void ct_sched_free(ct_sched *s);

/* Queue a request (new, or preempted) in rank order. */
ct_status ct_sched_enqueue(ct_sched *s, ct_eng_request *r);

/* Take r out of the queue or the running set; a running request's slot and KV blocks are
 * freed. Nothing happens for a request in neither. */
void ct_sched_remove(ct_sched *s, ct_eng_request *r);

/* Plan the next step: fills entries (in batch order), grows the scheduled requests' KV
 * blocks, preempts and ends requests as described above. Ended requests are out of the
 * scheduler and listed in s->ended (finish reason and error set) for the engine to report. */
ct_status ct_sched_schedule(ct_sched *s);

/* Blocks a request of n tokens needs in all. */
static inline int32_t ct_sched_blocks_for(const ct_sched *s, int32_t n) {
    return (int32_t)(((int64_t)n + s->kv->block_size - 1) / s->kv->block_size);
}

#endif
