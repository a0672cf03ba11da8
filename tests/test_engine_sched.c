/* The engine's scheduler, stepped by hand under a fake clock, on the tiny synthetic model:
 *   admission      slots fill in arrival order, the rest wait and are admitted as slots free;
 *                  timestamps are the fake clock's;
 *   chunked        a long prompt goes in chunks of chunk_size (or what the token budget
 *   prefill        leaves) while decoding requests get one token every step; logits only
 *                  for the chunk that ends a prompt;
 *   preemption     a KV budget far below the demand: requests are preempted and recomputed,
 *                  and every output is bit-identical to the request run alone;
 *   cancellation   queued, running, from a callback; release; unknown ids; step from a
 *                  callback refused;
 *   no deadlock    a prompt larger than the cache is refused at submission; requests that
 *                  outgrow the cache or the context end with CT_FINISH_CONTEXT;
 *   1,000 random   arrivals, cancels, priorities, stop strings, under a small KV budget: every
 *   arrivals       stream has indices 0, 1, 2, ... with exactly one final event, polled tokens
 *                  and text equal the streamed ones, and sampled requests equal their runs
 *                  alone. */
#include "test_engine_record.h"

static eng_model M;

static ct_engine *make_engine(int32_t n_parallel, int32_t max_batch, int32_t chunk, int32_t block, int32_t kv_blocks,
                              int32_t n_ctx) {
    ct_engine_params ep = ct_engine_params_default();
    ep.n_parallel = n_parallel;
    ep.max_batch_tokens = max_batch;
    ep.chunk_size = chunk;
    ep.kv_block_size = block;
    ep.n_ctx = n_ctx;
    ep.deterministic = true;
    ep.clock_ns = eng_fake_clock;
    if (kv_blocks > 0) {
        /* one block: 2 layers x 2 kv heads x (16 + 16) values x 2 bytes per cell */
        ep.kv_mem = (uint64_t)kv_blocks * (uint64_t)block * 2 * 2 * 32 * 2;
    }
    ct_engine *e = NULL;
    CHECK_OK(ct_engine_create(M.model, &ep, &e));
    if (e && kv_blocks > 0) {
        ct_engine_stats s;
        ct_engine_get_stats(e, &s);
        CHECK_MSG(s.kv_blocks == kv_blocks, "%d KV blocks for a budget of %d", s.kv_blocks, kv_blocks);
    }
    return e;
}

static ct_request_params request(const ct_token *prompt, int32_t n, int32_t max_tokens, eng_record *rec) {
    ct_request_params rp = eng_greedy_request(prompt, n, max_tokens, rec);
    rp.ignore_eog = true; /* lengths fixed by max_tokens */
    return rp;
}

static ct_engine_stats step(ct_engine *e) {
    eng_fake_now += 1000;
    int32_t n = 0;
    CHECK_OK(ct_engine_step(e, &n));
    ct_engine_stats s;
    ct_engine_get_stats(e, &s);
    CHECK(n == s.last_batch_tokens);
    return s;
}

static void check_alone(const eng_record *rec, const ct_token *prompt, int32_t n, int32_t max_tokens, const char *what) {
    eng_reference ref;
    CHECK_OK(eng_reference_run_ex(&M, prompt, n, max_tokens, true, true, NULL, &ref));
    CHECK_MSG(eng_same_bits(rec, &ref, M.n_vocab), "%s: differs from the request run alone", what);
    eng_reference_free(&ref);
}

/* ---- admission ------------------------------------------------------------------------------ */
static void test_admission(ct_test_rng *rng) {
    eng_fake_now = 0;
    ct_engine *e = make_engine(4, 64, 64, 16, 0, 128);
    if (!e) return;
    ct_token prompt[6][5];
    eng_record rec[6];
    for (int i = 0; i < 6; i++) {
        eng_random_prompt(rng, M.n_vocab, prompt[i], 5);
        eng_record_init(&rec[i], M.n_vocab, true);
        ct_request_params rp = request(prompt[i], 5, 3, &rec[i]);
        CHECK_OK(ct_engine_submit(e, &rp, &rec[i].id));
    }
    ct_engine_stats s;
    ct_engine_get_stats(e, &s);
    CHECK(s.n_queued == 6 && s.n_running == 0 && s.n_steps == 0);
    s = step(e); /* t=1000: the first four prompts */
    CHECK(s.n_running == 4 && s.n_queued == 2 && s.last_batch_seqs == 4 && s.last_batch_tokens == 20);
    CHECK(s.last_batch_prefill_tokens == 20 && s.last_batch_logits == 4);
    for (int i = 0; i < 6; i++) CHECK(rec[i].n_tokens == (i < 4 ? 1 : 0));
    s = step(e); /* t=2000: four decodes, no slot for the rest */
    CHECK(s.n_running == 4 && s.n_queued == 2 && s.last_batch_tokens == 4 && s.last_batch_prefill_tokens == 0);
    s = step(e); /* t=3000: third tokens: the first four finish */
    CHECK(s.n_running == 0 && s.n_queued == 2 && s.n_finished == 4 && s.kv_blocks_free == s.kv_blocks);
    s = step(e); /* t=4000: the last two are admitted */
    CHECK(s.n_running == 2 && s.last_batch_tokens == 10 && s.last_batch_seqs == 2);
    step(e);
    s = step(e); /* t=6000 */
    CHECK(!ct_engine_busy(e) && s.n_finished == 6 && s.n_steps == 6);
    for (int i = 0; i < 6; i++) {
        ct_request_info info;
        CHECK_OK(ct_engine_poll(e, rec[i].id, &info));
        CHECK(info.state == CT_REQUEST_FINISHED && info.finish == CT_FINISH_LENGTH && info.n_tokens == 3);
        CHECK(rec[i].n_final == 1 && rec[i].bad_index == 0 && rec[i].finish == CT_FINISH_LENGTH);
        CHECK(info.submit_ns == 0);
        CHECK_MSG(info.first_token_ns == (i < 4 ? 1000 : 4000) && info.finish_ns == (i < 4 ? 3000 : 6000),
                  "request %d: first token at %lld, finished at %lld", i, (long long)info.first_token_ns,
                  (long long)info.finish_ns);
        check_alone(&rec[i], prompt[i], 5, 3, "admission");
        eng_record_free(&rec[i]);
    }
    ct_engine_free(e);
}

/* ---- chunked prefill ------------------------------------------------------------------------ */
static void test_chunked_prefill(ct_test_rng *rng, int32_t max_batch, int32_t expect_chunk) {
    eng_fake_now = 0;
    ct_engine *e = make_engine(3, max_batch, 8, 16, 0, 128);
    if (!e) return;
    ct_token shortp[2][4], longp[40];
    eng_record rec[3];
    for (int i = 0; i < 2; i++) {
        eng_random_prompt(rng, M.n_vocab, shortp[i], 4);
        eng_record_init(&rec[i], M.n_vocab, true);
        ct_request_params rp = request(shortp[i], 4, 20, &rec[i]);
        CHECK_OK(ct_engine_submit(e, &rp, &rec[i].id));
    }
    step(e);
    step(e);
    CHECK(rec[0].n_tokens == 2 && rec[1].n_tokens == 2);
    eng_random_prompt(rng, M.n_vocab, longp, 40);
    eng_record_init(&rec[2], M.n_vocab, true);
    ct_request_params rp = request(longp, 40, 4, &rec[2]);
    CHECK_OK(ct_engine_submit(e, &rp, &rec[2].id));
    int64_t submitted = eng_fake_now;
    int chunks = (40 + expect_chunk - 1) / expect_chunk;
    for (int k = 1; k <= chunks; k++) {
        ct_engine_stats s = step(e);
        int32_t chunk = k < chunks ? expect_chunk : 40 - (chunks - 1) * expect_chunk;
        /* the decoders never wait for the prompt */
        CHECK_MSG(rec[0].n_tokens == 2 + k && rec[1].n_tokens == 2 + k, "step %d: decoders at %d and %d tokens", k,
                  rec[0].n_tokens, rec[1].n_tokens);
        CHECK_MSG(s.last_batch_prefill_tokens == chunk && s.last_batch_tokens == chunk + 2,
                  "step %d: %d prefill tokens of %d (expected a chunk of %d)", k, s.last_batch_prefill_tokens,
                  s.last_batch_tokens, chunk);
        /* logits: the two decoders, and the prompt only on its last chunk */
        CHECK(s.last_batch_logits == (k < chunks ? 2 : 3));
        CHECK(rec[2].n_tokens == (k < chunks ? 0 : 1));
    }
    ct_request_info info;
    CHECK_OK(ct_engine_poll(e, rec[2].id, &info));
    CHECK_MSG(info.first_token_ns - submitted == 1000LL * chunks, "time to first token %lld",
              (long long)(info.first_token_ns - submitted));
    CHECK_OK(ct_engine_run(e));
    check_alone(&rec[0], shortp[0], 4, 20, "chunked prefill: decoder 0");
    check_alone(&rec[1], shortp[1], 4, 20, "chunked prefill: decoder 1");
    check_alone(&rec[2], longp, 40, 4, "chunked prefill: long prompt");
    for (int i = 0; i < 3; i++) eng_record_free(&rec[i]);
    ct_engine_free(e);
}

/* ---- preemption ----------------------------------------------------------------------------- */
static void test_preemption(ct_test_rng *rng) {
    eng_fake_now = 0;
    /* 12 blocks of 4 cells; 8 requests of up to 13 + 16 tokens (8 blocks each), 4 at once */
    ct_engine *e = make_engine(4, 32, 8, 4, 12, 64);
    if (!e) return;
    ct_token prompt[8][13];
    int32_t len[8];
    eng_record rec[8];
    for (int i = 0; i < 8; i++) {
        len[i] = 6 + i;
        eng_random_prompt(rng, M.n_vocab, prompt[i], len[i]);
        eng_record_init(&rec[i], M.n_vocab, true);
        ct_request_params rp = request(prompt[i], len[i], 16, &rec[i]);
        CHECK_OK(ct_engine_submit(e, &rp, &rec[i].id));
    }
    int steps = 0;
    ct_engine_stats s;
    do {
        s = step(e);
        CHECK(s.kv_blocks_free >= 0 && s.n_running <= 4);
    } while (ct_engine_busy(e) && ++steps < 2000);
    CHECK_MSG(!ct_engine_busy(e), "still busy after %d steps", steps);
    CHECK_MSG(s.n_preemptions > 0, "no preemption under a 12-block budget");
    CHECK(s.kv_blocks_free == s.kv_blocks);
    int preempted = 0;
    for (int i = 0; i < 8; i++) {
        ct_request_info info;
        CHECK_OK(ct_engine_poll(e, rec[i].id, &info));
        preempted += info.n_preemptions > 0;
        CHECK(info.finish == CT_FINISH_LENGTH && info.n_tokens == 16 && rec[i].n_final == 1 && rec[i].bad_index == 0);
        check_alone(&rec[i], prompt[i], len[i], 16, "preemption");
        eng_record_free(&rec[i]);
    }
    printf("  preemption: %lld preemptions of %d requests, %d steps\n", (long long)s.n_preemptions, preempted, steps);
    ct_engine_free(e);
}

/* ---- cancellation ----------------------------------------------------------------------------- */
typedef struct canceller {
    eng_record rec;
    ct_engine *e;
    ct_request_id victim, self_release;
    int step_result;
} canceller;

static void cancel_on_second(const ct_engine_event *ev, void *user) {
    canceller *c = user;
    eng_record_event(ev, &c->rec);
    if (ev->index == 1) {
        CHECK_OK(ct_engine_cancel(c->e, c->victim));
        c->step_result = ct_engine_step(c->e, NULL); /* refused: not re-entrant */
    }
    if (ev->finished && c->self_release) CHECK_OK(ct_engine_release(c->e, c->self_release));
}

static void test_cancel(ct_test_rng *rng) {
    eng_fake_now = 0;
    ct_engine *e = make_engine(2, 16, 16, 16, 0, 128);
    if (!e) return;
    ct_token p[4][6];
    for (int i = 0; i < 4; i++) eng_random_prompt(rng, M.n_vocab, p[i], 6);
    eng_record a, b, d;
    canceller c = {.e = e};
    eng_record_init(&a, M.n_vocab, false);
    eng_record_init(&b, M.n_vocab, false);
    eng_record_init(&d, M.n_vocab, false);
    eng_record_init(&c.rec, M.n_vocab, false);
    ct_request_params rp = request(p[0], 6, 30, &a);
    CHECK_OK(ct_engine_submit(e, &rp, &a.id));
    rp = request(p[1], 6, 30, &d);
    CHECK_OK(ct_engine_submit(e, &rp, &d.id));
    rp = request(p[2], 6, 30, &b);
    CHECK_OK(ct_engine_submit(e, &rp, &b.id));
    /* b is queued (two slots): cancelled before it ever runs */
    CHECK_OK(ct_engine_cancel(e, b.id));
    CHECK(b.n_final == 1 && b.finish == CT_FINISH_CANCELLED && b.n_tokens == 0);
    step(e);
    step(e);
    step(e);
    CHECK(a.n_tokens == 3 && d.n_tokens == 3);
    /* a is running: cancelled, its blocks return */
    CHECK_OK(ct_engine_cancel(e, a.id));
    CHECK(a.n_final == 1 && a.finish == CT_FINISH_CANCELLED && a.n_tokens == 3);
    ct_request_info info;
    CHECK_OK(ct_engine_poll(e, a.id, &info));
    CHECK(info.state == CT_REQUEST_FINISHED && info.finish == CT_FINISH_CANCELLED && info.n_tokens == 3);
    /* c's callback cancels d on its second token, and releases c itself when it ends */
    c.victim = d.id;
    rp = request(p[3], 6, 4, &c.rec);
    rp.callback = cancel_on_second;
    rp.user = &c;
    CHECK_OK(ct_engine_submit(e, &rp, &c.rec.id));
    c.self_release = c.rec.id;
    step(e);
    CHECK(c.rec.n_tokens == 1 && d.n_final == 0);
    int32_t d_tokens = d.n_tokens;
    step(e); /* c's second token: d is cancelled at the end of this step, after its own token */
    CHECK(c.step_result == CT_ERR_INVALID_ARGUMENT);
    CHECK(d.n_final == 1 && d.finish == CT_FINISH_CANCELLED && d.n_tokens == d_tokens + 1 && d.after_final == 0);
    CHECK_OK(ct_engine_run(e));
    CHECK(c.rec.n_final == 1 && c.rec.finish == CT_FINISH_LENGTH && c.rec.n_tokens == 4 && c.rec.after_final == 0);
    CHECK(ct_engine_poll(e, c.rec.id, &info) == CT_ERR_NOT_FOUND); /* released by its callback */
    ct_engine_stats s;
    ct_engine_get_stats(e, &s);
    CHECK(s.kv_blocks_free == s.kv_blocks && s.n_running == 0 && s.n_queued == 0);
    /* finished requests stay cancel-proof; unknown ids are reported */
    int events = a.n_events;
    CHECK_OK(ct_engine_cancel(e, a.id));
    CHECK(a.n_events == events);
    CHECK(ct_engine_cancel(e, 12345) == CT_ERR_NOT_FOUND);
    CHECK(ct_engine_release(e, 12345) == CT_ERR_NOT_FOUND);
    CHECK_OK(ct_engine_release(e, a.id));
    CHECK(ct_engine_poll(e, a.id, &info) == CT_ERR_NOT_FOUND);
    eng_record_free(&a);
    eng_record_free(&b);
    eng_record_free(&d);
    eng_record_free(&c.rec);
    ct_engine_free(e);
}

/* ---- what cannot fit ---------------------------------------------------------------------------- */
static void test_no_deadlock(ct_test_rng *rng) {
    eng_fake_now = 0;
    ct_engine *e = make_engine(2, 16, 16, 4, 4, 24); /* 16 cells of KV, 24 positions of context */
    if (!e) return;
    ct_token p[30];
    eng_random_prompt(rng, M.n_vocab, p, 30);
    eng_record a, b;
    eng_record_init(&a, M.n_vocab, false);
    eng_record_init(&b, M.n_vocab, false);
    ct_request_id id;
    ct_request_params rp = request(p, 17, 4, &a); /* 5 blocks > 4 */
    CHECK(ct_engine_submit(e, &rp, &id) == CT_ERR_RANGE && strstr(ct_last_error(), "KV blocks"));
    rp = request(p, 25, 4, &a); /* > n_ctx */
    CHECK(ct_engine_submit(e, &rp, &id) == CT_ERR_RANGE && strstr(ct_last_error(), "context"));
    rp.n_prompt = 0;
    CHECK(ct_engine_submit(e, &rp, &id) == CT_ERR_INVALID_ARGUMENT);
    ct_token bad = M.n_vocab;
    rp = request(&bad, 1, 4, &a);
    CHECK(ct_engine_submit(e, &rp, &id) == CT_ERR_INVALID_ARGUMENT && strstr(ct_last_error(), "vocabulary"));
    /* a fits its prompt but, unlimited, outgrows the whole cache; b is small */
    rp = request(p, 10, 0, &a);
    CHECK_OK(ct_engine_submit(e, &rp, &a.id));
    rp = request(p + 10, 3, 2, &b);
    CHECK_OK(ct_engine_submit(e, &rp, &b.id));
    int steps = 0;
    while (ct_engine_busy(e) && steps < 500) {
        step(e);
        steps++;
    }
    CHECK_MSG(!ct_engine_busy(e), "deadlock: busy after %d steps", steps);
    ct_request_info info;
    CHECK_OK(ct_engine_poll(e, a.id, &info));
    CHECK_MSG(info.finish == CT_FINISH_CONTEXT && info.n_tokens == 7 && strlen(info.error) > 0,
              "a: finish %s after %zu tokens (%s)", ct_finish_reason_name(info.finish), info.n_tokens, info.error);
    CHECK(a.n_final == 1 && a.finish == CT_FINISH_CONTEXT);
    CHECK_OK(ct_engine_poll(e, b.id, &info));
    CHECK(info.finish == CT_FINISH_LENGTH && info.n_tokens == 2 && b.n_final == 1);
    ct_engine_free(e);

    /* the context (not the cache) is the limit */
    e = make_engine(1, 16, 16, 4, 0, 20);
    if (!e) return;
    eng_record_init(&a, M.n_vocab, false);
    rp = request(p, 18, 0, &a);
    CHECK_OK(ct_engine_submit(e, &rp, &a.id));
    CHECK_OK(ct_engine_run(e));
    CHECK(a.finish == CT_FINISH_CONTEXT && a.n_tokens == 3);
    ct_engine_free(e);
    eng_record_free(&a);
    eng_record_free(&b);
}

/* ---- 1,000 random arrivals ---------------------------------------------------------------------- */
#define N_RANDOM 1000

typedef enum { KIND_GREEDY, KIND_SAMPLED, KIND_STOP } req_kind;

typedef struct random_req {
    eng_record rec;
    ct_token prompt[30];
    int32_t n_prompt, max_tokens;
    req_kind kind;
    bool ignore_eog, cancelled, checked;
    ct_sample_params sample;
    char stop[4];
    eng_reference ref; /* computed for stop requests and one in six others */
    char *ref_text;
    size_t ref_text_len;
} random_req;

/* The whole text the reference generated, streamed as the engine streams it (a leading space
 * stays: ct_detokenize would drop it at the start of a text). NUL-terminated, malloc'd. */
static char *reference_text(const eng_reference *ref, size_t *len) {
    *len = 0;
    ct_detok *d = NULL;
    char *t = malloc(16 * ENG_MAX_GEN + 16);
    if (!t || ct_detok_new(M.model, false, &d) != CT_OK) {
        free(t);
        return NULL;
    }
    size_t n;
    for (int32_t i = 0; i < ref->n_tokens; i++) {
        const char *piece = ct_detok_push(d, ref->tokens[i], &n);
        if (*len + n > 15 * ENG_MAX_GEN) break;
        memcpy(t + *len, piece, n);
        *len += n;
    }
    const char *rest = ct_detok_flush(d, &n);
    memcpy(t + *len, rest, n);
    *len += n;
    t[*len] = '\0';
    ct_detok_free(d);
    return t;
}

static void new_random_request(ct_test_rng *rng, random_req *r, int i) {
    r->n_prompt = 1 + (int32_t)(ct_test_rng_next(rng) % 30);
    r->max_tokens = 1 + (int32_t)(ct_test_rng_next(rng) % 12);
    unsigned k = (unsigned)(ct_test_rng_next(rng) % 8);
    r->kind = k < 5 ? KIND_GREEDY : k < 7 ? KIND_SAMPLED : KIND_STOP;
    r->ignore_eog = r->kind == KIND_GREEDY && ct_test_rng_next(rng) % 2;
    r->sample = ct_sample_params_default();
    r->sample.repeat_penalty = 1.0f;
    r->sample.temperature = 0.0f;
    if (r->kind == KIND_SAMPLED) {
        /* flat enough that end-of-generation tokens come up now and then */
        r->sample.temperature = 3.0f;
        r->sample.top_k = 0;
        r->sample.top_p = 1.0f;
        r->sample.min_p = 0.0f;
        r->sample.repeat_penalty = 1.1f;
        r->sample.seed = (uint64_t)i;
    }
    eng_random_prompt(rng, M.n_vocab, r->prompt, r->n_prompt);
    eng_record_init(&r->rec, M.n_vocab, false);
    r->checked = r->kind == KIND_STOP || i % 6 == 0;
    if (r->checked) {
        CHECK_OK(eng_reference_run_ex(&M, r->prompt, r->n_prompt, r->max_tokens, true, r->ignore_eog, &r->sample, &r->ref));
        r->ref_text = reference_text(&r->ref, &r->ref_text_len);
    }
    if (r->kind == KIND_STOP) {
        /* two bytes from the middle of what the request will write (or never seen text) */
        if (r->ref_text && r->ref_text_len >= 2) memcpy(r->stop, r->ref_text + r->ref_text_len / 2, 2);
        else memcpy(r->stop, "\x01\x02", 2);
        r->stop[2] = '\0';
        if (!r->stop[0] || !r->stop[1]) memcpy(r->stop, "\x01\x02", 3);
    }
}

/* A finished request against its run alone. */
static bool matches_reference(const random_req *r, const ct_request_info *info) {
    const eng_reference *ref = &r->ref;
    if (r->kind != KIND_STOP)
        return info->n_tokens == (size_t)ref->n_tokens &&
               !memcmp(info->tokens, ref->tokens, info->n_tokens * sizeof(ct_token)) &&
               (info->finish == CT_FINISH_EOG) == ref->eog;
    /* with a stop string: a prefix of the tokens, and the text up to the stop string's first
     * occurrence (all of it when there is none) */
    if (info->n_tokens > (size_t)ref->n_tokens ||
        memcmp(info->tokens, ref->tokens, info->n_tokens * sizeof(ct_token)) != 0 || !r->ref_text)
        return false;
    const char *at = strstr(r->ref_text, r->stop);
    size_t cut = at ? (size_t)(at - r->ref_text) : r->ref_text_len;
    if (at && info->finish != CT_FINISH_STOP) return false;
    return info->text_len == cut && !memcmp(info->text, r->ref_text, cut);
}

static void test_random(ct_test_rng *rng) {
    eng_fake_now = 0;
    ct_engine *e = make_engine(6, 24, 8, 8, 20, 64);
    if (!e) return;
    random_req *q = calloc(N_RANDOM, sizeof *q);
    int submitted = 0, steps = 0, cancels = 0;
    int64_t prefill_step_max = 0;
    while ((submitted < N_RANDOM || ct_engine_busy(e)) && steps < 20000) {
        int arrivals = (int)(ct_test_rng_next(rng) % 4);
        for (int k = 0; k < arrivals && submitted < N_RANDOM; k++, submitted++) {
            random_req *r = &q[submitted];
            new_random_request(rng, r, submitted);
            ct_request_params rp = request(r->prompt, r->n_prompt, r->max_tokens, &r->rec);
            rp.ignore_eog = r->ignore_eog;
            rp.sample = r->sample;
            rp.priority = (int32_t)(ct_test_rng_next(rng) % 3);
            const char *stop = r->stop;
            if (r->kind == KIND_STOP) {
                rp.stop = &stop;
                rp.n_stop = 1;
            }
            CHECK_OK(ct_engine_submit(e, &rp, &r->rec.id));
        }
        if (submitted > 0 && ct_test_rng_next(rng) % 16 == 0) {
            random_req *r = &q[ct_test_rng_next(rng) % (unsigned)submitted];
            if (!r->rec.n_final) {
                r->cancelled = true;
                cancels++;
            }
            CHECK_OK(ct_engine_cancel(e, r->rec.id));
        }
        ct_engine_stats s = step(e);
        if (s.last_batch_prefill_tokens > prefill_step_max) prefill_step_max = s.last_batch_prefill_tokens;
        CHECK(s.last_batch_tokens <= 24 && s.n_running <= 6);
        steps++;
    }
    CHECK_MSG(!ct_engine_busy(e) && submitted == N_RANDOM, "busy after %d steps", steps);
    ct_engine_stats s;
    ct_engine_get_stats(e, &s);
    CHECK(s.kv_blocks_free == s.kv_blocks && s.n_finished == N_RANDOM);
    int64_t streamed = 0, polled = 0;
    int bad = 0, compared = 0, by_reason[8] = {0};
    for (int i = 0; i < N_RANDOM; i++) {
        random_req *r = &q[i];
        ct_request_info info;
        CHECK_OK(ct_engine_poll(e, r->rec.id, &info));
        streamed += r->rec.n_tokens;
        polled += (int64_t)info.n_tokens;
        by_reason[info.finish]++;
        bool ok = r->rec.n_final == 1 && r->rec.after_final == 0 && r->rec.bad_index == 0 &&
                  info.state == CT_REQUEST_FINISHED && info.finish == r->rec.finish &&
                  info.n_tokens == (size_t)r->rec.n_tokens &&
                  !memcmp(info.tokens, r->rec.tokens, info.n_tokens * sizeof(ct_token)) &&
                  info.text_len == r->rec.text_len && !memcmp(info.text, r->rec.text, info.text_len) &&
                  (int32_t)info.n_tokens <= r->max_tokens;
        if (info.finish == CT_FINISH_LENGTH) ok = ok && (int32_t)info.n_tokens == r->max_tokens;
        if (info.finish == CT_FINISH_EOG) ok = ok && !r->ignore_eog;
        if (info.finish == CT_FINISH_STOP) ok = ok && r->kind == KIND_STOP && !strstr(info.text, r->stop);
        if (info.finish == CT_FINISH_CANCELLED) ok = ok && r->cancelled;
        if (info.finish == CT_FINISH_CONTEXT || info.finish == CT_FINISH_ERROR) ok = false;
        bad += !ok;
        if (!ok && bad <= 5)
            fprintf(stderr, "request %d: %d final events, index errors %d, finish %s, %zu tokens of %d\n", i,
                    r->rec.n_final, r->rec.bad_index, ct_finish_reason_name(info.finish), info.n_tokens, r->max_tokens);
        if (r->checked && !r->cancelled) {
            CHECK_MSG(matches_reference(r, &info), "request %d (kind %d): %zu tokens, %d alone, finish %s", i,
                      (int)r->kind, info.n_tokens, r->ref.n_tokens, ct_finish_reason_name(info.finish));
            compared++;
        }
        if (r->checked) eng_reference_free(&r->ref);
        free(r->ref_text);
        CHECK_OK(ct_engine_release(e, r->rec.id));
        eng_record_free(&r->rec);
    }
    CHECK_MSG(bad == 0, "%d of %d requests with a broken stream", bad, N_RANDOM);
    CHECK(streamed == polled);
    CHECK(s.n_preemptions > 0 && cancels > 0 && prefill_step_max > 0);
    CHECK(by_reason[CT_FINISH_LENGTH] > 0 && by_reason[CT_FINISH_CANCELLED] > 0 && by_reason[CT_FINISH_STOP] > 0);
    ct_engine_get_stats(e, &s);
    CHECK(s.n_finished == 0);
    printf("  random: %d requests in %d steps, %lld tokens, %lld preemptions, %d cancelled; finish length %d eog %d "
           "stop %d cancelled %d; %d compared with their runs alone\n",
           N_RANDOM, steps, (long long)streamed, (long long)s.n_preemptions, cancels, by_reason[CT_FINISH_LENGTH],
           by_reason[CT_FINISH_EOG], by_reason[CT_FINISH_STOP], by_reason[CT_FINISH_CANCELLED], compared);
    free(q);
    ct_engine_free(e);
}

int main(void) {
    if (!eng_model_open(&M, 9, 1, ENG_FF_SHORT)) return 1;
    ct_test_rng rng = {0x0123456789abcdefull};
    test_admission(&rng);
    test_chunked_prefill(&rng, 16, 8); /* chunk_size limits */
    test_chunked_prefill(&rng, 8, 6);  /* the token budget left after the two decodes limits */
    test_preemption(&rng);
    test_cancel(&rng);
    test_no_deadlock(&rng);
    test_random(&rng);
    eng_model_close(&M);
    return ct_test_finish("test_engine_sched");
}
