/* ctorch batch: every prompt of a JSON-lines file through one engine.
 *   stdout: one JSON line per prompt, in input order, each written as soon as it and every
 *           prompt before it have finished
 *   stderr: progress (-v) and a summary line
 * Exit codes: 0 every prompt ran, 1 runtime failure (unreadable or malformed file, bad model)
 * or a prompt that could not run (its line carries "error"), 2 usage. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/batch.h"
#include "cli/commands.h"
#include "core/log.h"
#include "ctorch.h"

typedef struct batch_run {
    const batch_opts *o;
    ct_model *model;
    ct_engine *engine;
    batch_prompt *prompts;
    size_t n;
    ct_request_id *ids;  /* 0: not submitted (its error is in errors[i]) */
    char **errors;
    size_t next_out;     /* the first prompt not yet written */
    int64_t n_prompt_tokens, n_generated;
    int n_failed;
} batch_run;

static int fail(const char *what, ct_status st) {
    fprintf(stderr, "ctorch batch: %s: %s: %s\n", what, ct_status_name(st), ct_last_error());
    return 1;
}

static json_t *token_array(const ct_token *t, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) json_array_append_new(a, json_integer(t[i]));
    return a;
}

static void put(json_t *o, const char *key, json_t *v) { json_object_set_new(o, key, v ? v : json_null()); }

static void write_line(json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(7)) : NULL;
    if (s) printf("%s\n", s);
    else fprintf(stderr, "ctorch batch: could not build a JSON line\n");
    fflush(stdout);
    free(s);
    json_decref(o);
}

static json_t *line_head(const batch_run *r, size_t i) {
    json_t *o = json_object();
    if (!o) return NULL;
    put(o, "index", json_integer((json_int_t)i));
    put(o, "id", r->prompts[i].id ? json_incref(r->prompts[i].id) : json_null());
    return o;
}

static void write_error(batch_run *r, size_t i, const char *error) {
    json_t *o = line_head(r, i);
    if (o) put(o, "error", json_string(error ? error : "unknown error"));
    write_line(o);
    r->n_failed++;
}

static void write_result(batch_run *r, size_t i, const ct_request_info *info) {
    if (info->finish == CT_FINISH_ERROR) {
        write_error(r, i, info->error);
        return;
    }
    json_t *o = line_head(r, i);
    if (!o) return write_line(NULL);
    put(o, "prompt_tokens", json_integer((json_int_t)r->prompts[i].n_tokens));
    put(o, "tokens", token_array(info->tokens, info->n_tokens));
    put(o, "text", batch_json_text(info->text, info->text_len));
    put(o, "finish", json_string(ct_finish_reason_name(info->finish)));
    if (info->error[0]) put(o, "note", json_string(info->error));
    put(o, "preemptions", json_integer(info->n_preemptions));
    double first = info->first_token_ns >= 0 ? (double)(info->first_token_ns - info->submit_ns) / 1e6 : -1.0;
    double total = (double)(info->finish_ns - info->submit_ns) / 1e6;
    put(o, "timings", json_pack("{s:f, s:f}", "first_token_ms", first, "total_ms", total));
    write_line(o);
    r->n_generated += (int64_t)info->n_tokens;
}

/* Write every finished prompt at the head of the input order. */
static ct_status flush_ready(batch_run *r) {
    while (r->next_out < r->n) {
        size_t i = r->next_out;
        if (!r->ids[i]) {
            write_error(r, i, r->errors[i]);
        } else {
            ct_request_info info;
            CT_TRY(ct_engine_poll(r->engine, r->ids[i], &info));
            if (info.state != CT_REQUEST_FINISHED) return CT_OK;
            write_result(r, i, &info);
            CT_TRY(ct_engine_release(r->engine, r->ids[i]));
        }
        r->next_out++;
    }
    return CT_OK;
}

/* Tokenize (text prompts) and submit every prompt; one that cannot run keeps its message. */
static ct_status submit_all(batch_run *r) {
    for (size_t i = 0; i < r->n; i++) {
        batch_prompt *p = &r->prompts[i];
        ct_status st = CT_OK;
        if (p->text) {
            st = ct_tokenize(r->model, p->text, strlen(p->text), true, true, &p->tokens, &p->n_tokens);
            if (st == CT_OK && p->n_tokens == 0) st = ct_fail(CT_ERR_INVALID_ARGUMENT, "the prompt has no tokens");
        }
        if (st == CT_OK) {
            ct_request_params rp = ct_request_params_default();
            rp.prompt = p->tokens;
            rp.n_prompt = p->n_tokens;
            rp.sample = p->sample;
            rp.max_tokens = p->max_tokens ? p->max_tokens : r->o->max_tokens;
            rp.stop = (const char *const *)p->stop;
            rp.n_stop = p->n_stop;
            rp.priority = p->priority;
            st = ct_engine_submit(r->engine, &rp, &r->ids[i]);
        }
        if (st == CT_ERR_OUT_OF_MEMORY) return st;
        if (st != CT_OK) {
            char msg[1024];
            snprintf(msg, sizeof msg, "line %d: %s: %s", p->line, ct_status_name(st), ct_last_error());
            r->errors[i] = strdup(msg);
            if (!r->errors[i]) return ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory");
            continue;
        }
        r->n_prompt_tokens += (int64_t)p->n_tokens;
    }
    return CT_OK;
}

static int run(const batch_opts *o) {
    batch_run r = {.o = o};
    int rc = batch_read_prompts(o->file, &o->sample, o->seed_given ? o->sample.seed : UINT64_MAX, &r.prompts, &r.n);
    if (rc) return rc;
    r.ids = calloc(r.n, sizeof *r.ids);
    r.errors = calloc(r.n, sizeof *r.errors);
    if (!r.ids || !r.errors) {
        rc = (fprintf(stderr, "ctorch batch: out of memory\n"), 1);
        goto done;
    }
    ct_model_params mp = {.backend = o->backend, .n_threads = o->n_threads};
    ct_status st = ct_model_load(o->model, &mp, &r.model);
    if (st != CT_OK) {
        rc = fail("loading the model", st);
        goto done;
    }
    ct_engine_params ep = ct_engine_params_default();
    ep.n_parallel = o->n_parallel;
    ep.n_ctx = o->n_ctx;
    ep.kv_mem = o->kv_mem;
    ep.max_batch_tokens = o->batch_tokens;
    ep.chunk_size = o->chunk;
    ep.kv_type = o->kv_type;
    ep.deterministic = o->deterministic;
    if ((st = ct_engine_create(r.model, &ep, &r.engine)) != CT_OK) {
        rc = fail("creating the engine", st);
        goto done;
    }
    double t0 = cli_now_ms();
    if ((st = submit_all(&r)) != CT_OK) {
        rc = fail("submitting the prompts", st);
        goto done;
    }
    int32_t n_tokens;
    while (st == CT_OK && ct_engine_busy(r.engine)) {
        st = ct_engine_step(r.engine, &n_tokens);
        if (st == CT_OK) st = flush_ready(&r);
    }
    if (st == CT_OK) st = flush_ready(&r);
    if (st != CT_OK) {
        rc = fail("running the engine", st);
        goto done;
    }
    double ms = cli_now_ms() - t0;
    ct_engine_stats s;
    ct_engine_get_stats(r.engine, &s);
    fprintf(stderr,
            "ctorch batch: %zu prompts (%d failed): %lld prompt tokens, %lld generated in %.2f s (%.1f t/s generated, "
            "%.1f t/s in all), %lld passes, %lld preemptions\n",
            r.n, r.n_failed, (long long)r.n_prompt_tokens, (long long)r.n_generated, ms / 1e3,
            ms > 0 ? (double)r.n_generated * 1e3 / ms : 0.0,
            ms > 0 ? (double)(s.n_prefill_tokens + s.n_decode_tokens) * 1e3 / ms : 0.0, (long long)s.n_steps,
            (long long)s.n_preemptions);
    rc = r.n_failed ? 1 : 0;
done:
    ct_engine_free(r.engine);
    ct_model_free(r.model);
    for (size_t i = 0; r.errors && i < r.n; i++) free(r.errors[i]);
    free(r.errors);
    free(r.ids);
    batch_prompts_free(r.prompts, r.n);
    return rc;
}

int cmd_batch(int argc, char **argv) {
    batch_opts o;
    int rc = batch_parse_args(argc, argv, &o);
    if (rc) return rc;
    if (o.help) {
        batch_print_usage(stdout);
        return 0;
    }
    ct_log_set_level(o.verbose ? CT_LOG_DEBUG : CT_LOG_ERROR);
    return run(&o);
}
