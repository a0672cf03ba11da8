/* The scheduling policy of scheduler.h. */
#include "engine/scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

ct_status ct_sched_init(ct_sched *s, ct_kv_cache *kv, int32_t n_parallel, int32_t max_batch_tokens, int32_t chunk_size) {
    memset(s, 0, sizeof *s);
    s->kv = kv;
    s->n_parallel = n_parallel;
    s->max_batch_tokens = max_batch_tokens;
    s->chunk_size = chunk_size;
    s->running = ct_calloc_array((size_t)n_parallel, sizeof *s->running, "scheduler");
    s->slot_used = ct_calloc_array((size_t)n_parallel, sizeof *s->slot_used, "scheduler");
    s->entries = ct_calloc_array((size_t)n_parallel, sizeof *s->entries, "scheduler");
    if (!s->running || !s->slot_used || !s->entries) {
        ct_sched_free(s);
        return CT_ERR_OUT_OF_MEMORY;
    }
    return CT_OK;
}

void ct_sched_free(ct_sched *s) {
    free(s->queue);
    free(s->running);
    free(s->slot_used);
    free(s->entries);
    free(s->ended);
    memset(s, 0, sizeof *s);
}

/* a ranks before b: higher priority, then earlier arrival */
static bool ranks_before(const ct_eng_request *a, const ct_eng_request *b) {
    return a->priority != b->priority ? a->priority > b->priority : a->arrival < b->arrival;
}

static void insert_ranked(ct_eng_request **list, int32_t *n, ct_eng_request *r) {
    int32_t i = *n;
    while (i > 0 && ranks_before(r, list[i - 1])) i--;
    memmove(list + i + 1, list + i, (size_t)(*n - i) * sizeof *list);
    list[i] = r;
    (*n)++;
}

static bool remove_from(ct_eng_request **list, int32_t *n, const ct_eng_request *r) {
    for (int32_t i = 0; i < *n; i++)
        if (list[i] == r) {
            memmove(list + i, list + i + 1, (size_t)(*n - i - 1) * sizeof *list);
            (*n)--;
            return true;
        }
    return false;
}

ct_status ct_sched_enqueue(ct_sched *s, ct_eng_request *r) {
    if (s->n_queue == s->cap_queue) {
        int32_t cap = s->cap_queue ? 2 * s->cap_queue : 64;
        ct_eng_request **q = ct_realloc_array(s->queue, (size_t)cap, sizeof *q, "request queue");
        if (!q) return CT_ERR_OUT_OF_MEMORY;
        s->queue = q;
        s->cap_queue = cap;
    }
    r->state = CT_REQUEST_QUEUED;
    insert_ranked(s->queue, &s->n_queue, r);
    return CT_OK;
}

/* Free a running request's slot and blocks (its entry, if scheduled, is dropped). */
static void leave_running(ct_sched *s, ct_eng_request *r) {
    if (!remove_from(s->running, &s->n_running, r)) return;
    if (r->step_tokens > 0) {
        for (int32_t i = 0; i < s->n_entries; i++)
            if (s->entries[i].r == r) {
                s->n_tokens -= s->entries[i].n;
                memmove(s->entries + i, s->entries + i + 1, (size_t)(s->n_entries - i - 1) * sizeof *s->entries);
                s->n_entries--;
                break;
            }
        r->step_tokens = 0;
    }
    ct_kv_cache_truncate(s->kv, r->slot, 0);
    s->slot_used[r->slot] = false;
    r->slot = -1;
    r->n_computed = 0;
    r->decoding = false; /* readmitted, it recomputes its tokens as a prompt */
}

void ct_sched_remove(ct_sched *s, ct_eng_request *r) {
    if (r->slot >= 0) leave_running(s, r);
    else remove_from(s->queue, &s->n_queue, r);
}

static ct_status note_ended(ct_sched *s, ct_eng_request *r, ct_finish_reason why, const char *fmt, int a, int b) {
    if (s->n_ended == s->cap_ended) {
        int32_t cap = s->cap_ended ? 2 * s->cap_ended : 16;
        ct_eng_request **e = ct_realloc_array(s->ended, (size_t)cap, sizeof *e, "scheduler");
        if (!e) return CT_ERR_OUT_OF_MEMORY;
        s->ended = e;
        s->cap_ended = cap;
    }
    char msg[256];
    snprintf(msg, sizeof msg, fmt, a, b);
    free(r->error);
    r->error = ct_strndup(msg, strlen(msg), "request error");
    r->finish = why;
    ct_sched_remove(s, r);
    s->ended[s->n_ended++] = r;
    return CT_OK;
}

static ct_status preempt(ct_sched *s, ct_eng_request *r) {
    leave_running(s, r);
    r->n_preemptions++;
    s->step_preemptions++;
    s->n_preemptions++;
    return ct_sched_enqueue(s, r);
}

/* Cells r can fill this step without new blocks, plus what the free list allows. */
static int32_t cells_available(const ct_sched *s, const ct_eng_request *r) {
    int64_t held = (int64_t)s->kv->seq_blocks[r->slot] * s->kv->block_size - r->n_computed;
    int64_t free_cells = (int64_t)ct_kv_cache_n_free(s->kv) * s->kv->block_size;
    int64_t room = held + free_cells, ctx_room = (int64_t)s->kv->n_ctx - r->n_computed;
    if (room > ctx_room) room = ctx_room;
    return room > INT32_MAX ? INT32_MAX : (int32_t)room;
}

static void add_entry(ct_sched *s, ct_eng_request *r, int32_t n) {
    /* cannot fail: the caller checked the cells */
    (void)ct_kv_cache_grow(s->kv, r->slot, r->n_computed + n);
    s->entries[s->n_entries++] = (ct_sched_entry){r, n, r->n_computed + n == r->n_tokens};
    r->step_tokens = n;
    s->n_tokens += n;
}

typedef enum { ROOM_OK, ROOM_WAIT, ROOM_GONE } room_result;

/* Make room for at least `min` of r's next tokens, preempting younger requests. ROOM_GONE:
 * r itself was preempted or ended. */
static room_result make_room(ct_sched *s, ct_eng_request *r, int32_t min, bool may_wait, ct_status *st) {
    while (cells_available(s, r) < min) {
        ct_eng_request *victim = s->running[s->n_running - 1];
        if (victim != r) {
            if ((*st = preempt(s, victim)) != CT_OK) return ROOM_GONE;
            continue;
        }
        if (s->n_running == 1) {
            /* alone and still short: no amount of waiting helps */
            *st = note_ended(s, r, CT_FINISH_CONTEXT,
                             "the KV cache cannot hold this request alone: %d positions need more than its %d "
                             "blocks (--kv-mem)",
                             (int)(r->n_computed + min), (int)s->kv->n_blocks);
            return ROOM_GONE;
        }
        if (may_wait) return ROOM_WAIT;
        *st = preempt(s, r);
        return ROOM_GONE;
    }
    return ROOM_OK;
}

/* Blocks the running prefills still need beyond this step's. */
static int32_t blocks_reserved(const ct_sched *s) {
    int32_t total = 0;
    for (int32_t i = 0; i < s->n_running; i++) {
        const ct_eng_request *r = s->running[i];
        total += ct_kv_cache_blocks_needed(s->kv, r->slot, r->n_tokens);
    }
    return total;
}

static int32_t free_slot(const ct_sched *s) {
    for (int32_t i = 0; i < s->n_parallel; i++)
        if (!s->slot_used[i]) return i;
    return -1;
}

static ct_status admit(ct_sched *s) {
    ct_status st = CT_OK;
    while (st == CT_OK && s->n_queue > 0 && s->n_running < s->n_parallel && s->n_tokens < s->max_batch_tokens) {
        ct_eng_request *r = s->queue[0];
        int32_t need = ct_sched_blocks_for(s, r->n_tokens);
        if (r->n_tokens > s->kv->n_ctx || need > s->kv->n_blocks) {
            st = note_ended(s, r, CT_FINISH_CONTEXT,
                            "the request's %d positions do not fit the KV cache (%d blocks) or the context", r->n_tokens,
                            s->kv->n_blocks);
            continue;
        }
        if (ct_kv_cache_n_free(s->kv) - blocks_reserved(s) < need) break; /* first come, first served: wait */
        remove_from(s->queue, &s->n_queue, r);
        r->slot = free_slot(s);
        s->slot_used[r->slot] = true;
        r->state = CT_REQUEST_RUNNING;
        r->n_computed = 0;
        insert_ranked(s->running, &s->n_running, r);
        int32_t n = r->n_tokens, left = s->max_batch_tokens - s->n_tokens;
        if (n > s->chunk_size) n = s->chunk_size;
        if (n > left) n = left;
        add_entry(s, r, n);
    }
    return st;
}

ct_status ct_sched_schedule(ct_sched *s) {
    s->n_entries = 0;
    s->n_tokens = 0;
    s->n_ended = 0;
    s->step_preemptions = 0;
    for (int32_t i = 0; i < s->n_running; i++) s->running[i]->step_tokens = 0;
    ct_status st = CT_OK;

    /* 1. decodes, oldest first (the list shrinks as requests are preempted; a request that
     * stays keeps its index, those before it never move) */
    for (int32_t i = 0; st == CT_OK && i < s->n_running; i++) {
        ct_eng_request *r = s->running[i];
        if (ct_eng_request_pending(r) != 1 || r->step_tokens) continue;
        if (s->n_tokens >= s->max_batch_tokens) break; /* cannot happen: max_batch_tokens >= n_parallel */
        if (make_room(s, r, 1, false, &st) == ROOM_OK) add_entry(s, r, 1);
        else i--; /* r left the list: the next request is at i */
    }
    /* 2. prefill chunks, oldest first */
    for (int32_t i = 0; st == CT_OK && i < s->n_running && s->n_tokens < s->max_batch_tokens; i++) {
        ct_eng_request *r = s->running[i];
        if (r->step_tokens) continue;
        int32_t want = ct_eng_request_pending(r), left = s->max_batch_tokens - s->n_tokens;
        if (want > s->chunk_size) want = s->chunk_size;
        if (want > left) want = left;
        room_result room = make_room(s, r, 1, true, &st);
        if (room == ROOM_GONE) {
            i--;
            continue;
        }
        if (room == ROOM_WAIT) continue;
        int32_t fit = cells_available(s, r);
        add_entry(s, r, want < fit ? want : fit);
    }
    /* 3. admission */
    if (st == CT_OK && s->step_preemptions == 0) st = admit(s);
    return st;
}
