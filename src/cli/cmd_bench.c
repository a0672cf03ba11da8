/* ctorch bench: llama-bench-style speed table. For every model and thread count: load, one
 * context of max(p) + max(n) positions, then every ppN and every tgN test. With -b, instead,
 * every (sequences, p, n) combination through the batching engine (bench_batched.c).
 *   stdout: the markdown table (rows as they finish) or, with -o json, one JSON array
 *   stderr: progress
 * Exit codes: 0 ok, 1 runtime failure (unloadable model, test too long for it), 2 usage. */
#include <stdlib.h>
#include <string.h>

#include "cli/bench.h"
#include "cli/commands.h"
#include "core/log.h"
#include "ctorch.h"

static int fail(const char *what, const char *path, ct_status st) {
    fprintf(stderr, "ctorch bench: %s '%s': %s: %s\n", what, path, ct_status_name(st), ct_last_error());
    return st == CT_ERR_INVALID_ARGUMENT ? 2 : 1;
}

static int32_t list_max(const bench_list *l) {
    int32_t m = 0;
    for (size_t i = 0; i < l->n; i++) m = l->v[i] > m ? l->v[i] : m;
    return m;
}

static size_t list_nonzero(const bench_list *l) {
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) k += l->v[i] > 0;
    return k;
}

/* Before any timing: every model loads and holds the longest prompt plus the longest
 * generation within its training context (so a bad file late in the list fails at once). */
static int check_models(const bench_opts *o, int32_t need_ctx) {
    for (size_t m = 0; m < o->n_models; m++) {
        ct_model *model = NULL;
        ct_model_params mp = {.backend = o->backend, .n_threads = o->threads.v[0]};
        ct_status st = ct_model_load(o->models[m], &mp, &model);
        if (st != CT_OK) return fail("loading", o->models[m], st);
        ct_model_info info;
        ct_model_get_info(model, &info);
        ct_model_free(model);
        if (need_ctx > info.n_ctx_train) {
            fprintf(stderr,
                    "ctorch bench: '%s': -p %d with -n %d needs %d positions but the model's context length is %d\n",
                    o->models[m], (int)list_max(&o->n_prompt), (int)list_max(&o->n_gen), (int)need_ctx,
                    (int)info.n_ctx_train);
            return 1;
        }
    }
    return 0;
}

typedef struct bench_state {
    const bench_opts *o;
    bench_result *results;
    size_t n_results, n_total;
    int model_width;
} bench_state;

/* The next result slot, filled with the model's facts; NULL when out of memory. */
static bench_result *new_result(bench_state *s, const ct_model *model, const char *path, bench_kind kind, int32_t n,
                                int32_t n_seq) {
    bench_result *r = &s->results[s->n_results];
    ct_model_info info;
    ct_model_get_info(model, &info);
    snprintf(r->arch, sizeof r->arch, "%s", info.arch);
    snprintf(r->backend, sizeof r->backend, "%s", info.backend);
    r->n_threads = info.n_threads;
    r->n_params = info.n_params;
    r->weight_bytes = info.weight_bytes;
    r->model_path = path;
    r->kind = kind;
    r->n_tokens = n;
    r->n_seq = n_seq;
    r->reps = s->o->reps;
    r->samples_ns = calloc((size_t)r->reps, sizeof *r->samples_ns);
    if (!r->samples_ns) {
        fprintf(stderr, "ctorch bench: out of memory\n");
        return NULL;
    }
    s->n_results++;
    return r;
}

static void report(bench_state *s, const bench_result *r) {
    double mean, sd;
    bench_rate_stats(r, &mean, &sd);
    fprintf(stderr, " %.2f +- %.2f t/s\n", mean, sd);
    if (s->o->format == BENCH_MD) bench_md_row(stdout, r, s->model_width);
}

/* -b: n_seq sequences of ppP then tgN through the engine; one row for each non-zero part. */
static int run_batched(bench_state *s, ct_model *model, const char *path, int32_t n_seq, int32_t p, int32_t n) {
    int32_t reps = s->o->reps;
    int64_t *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg);
    int rc = pp && tg ? 0 : (fprintf(stderr, "ctorch bench: out of memory\n"), 1);
    int32_t n_ctx = 0;
    if (!rc) {
        fprintf(stderr, "bench [%zu/%zu]: %s, %d sequences, pp%d + tg%d x %d ...", s->n_results + 1, s->n_total,
                bench_model_name(path), (int)n_seq, (int)p, (int)n, (int)reps);
        fflush(stderr);
        ct_status st = bench_run_batched(model, n_seq, p, n, reps, s->o->deterministic, pp, tg, &n_ctx);
        if (st != CT_OK) {
            fprintf(stderr, "\n");
            fail("batched test on", path, st);
            rc = 1;
        } else {
            fprintf(stderr, "\n");
        }
    }
    for (int part = 0; !rc && part < 2; part++) {
        int32_t count = part == 0 ? p : n;
        if (count == 0) continue;
        bench_result *r = new_result(s, model, path, part == 0 ? BENCH_PP : BENCH_TG, count, n_seq);
        if (!r) {
            rc = 1;
            break;
        }
        r->n_ctx = n_ctx;
        for (int32_t i = 0; i < reps; i++) r->samples_ns[i] = part == 0 ? pp[i] : tg[i];
        fprintf(stderr, "  %s%d, %d sequences:", part == 0 ? "pp" : "tg", (int)count, (int)n_seq);
        report(s, r);
    }
    free(pp);
    free(tg);
    return rc;
}

static int run_one(bench_state *s, ct_context *ctx, const ct_model *model, const char *path, bench_kind kind, int32_t n) {
    bench_result *r = new_result(s, model, path, kind, n, 0);
    if (!r) return 1;
    r->n_ctx = ct_context_n_ctx(ctx);
    fprintf(stderr, "bench [%zu/%zu]: %s, %d thread%s, %s%d x %d ...", s->n_results, s->n_total,
            bench_model_name(path), (int)r->n_threads, r->n_threads == 1 ? "" : "s", kind == BENCH_PP ? "pp" : "tg",
            (int)n, (int)r->reps);
    fflush(stderr);
    ct_status st = bench_run_test(ctx, model, kind, n, r->reps, r->samples_ns);
    if (st != CT_OK) {
        fprintf(stderr, "\n");
        fail(kind == BENCH_PP ? "prompt test on" : "generation test on", path, st);
        return 1; /* the flags were valid: whatever failed, failed at run time */
    }
    report(s, r);
    return 0;
}

/* Every test of one model at one thread count. */
static int run_model(bench_state *s, const char *path, int32_t n_threads) {
    const bench_opts *o = s->o;
    int32_t max_p = list_max(&o->n_prompt), max_n = list_max(&o->n_gen);
    ct_model *model = NULL;
    ct_context *ctx = NULL;
    ct_model_params mp = {.backend = o->backend, .n_threads = n_threads};
    ct_status st = ct_model_load(path, &mp, &model);
    if (st != CT_OK) return fail("loading", path, st);
    if (o->n_seq.n) {
        int rc = 0;
        for (size_t b = 0; !rc && b < o->n_seq.n; b++)
            for (size_t i = 0; !rc && i < o->n_prompt.n; i++)
                for (size_t k = 0; !rc && k < o->n_gen.n; k++)
                    if (o->n_prompt.v[i] || o->n_gen.v[k])
                        rc = run_batched(s, model, path, o->n_seq.v[b], o->n_prompt.v[i], o->n_gen.v[k]);
        ct_model_free(model);
        return rc;
    }
    ct_context_params cp = ct_context_params_default();
    cp.n_ctx = max_p + max_n;
    cp.n_batch = max_p > 0 ? max_p : 1;
    cp.n_seq = 1;
    int rc = 0;
    if ((st = ct_context_create(model, &cp, &ctx)) != CT_OK) rc = fail("creating a context for", path, st);
    for (size_t i = 0; !rc && i < o->n_prompt.n; i++)
        if (o->n_prompt.v[i] > 0) rc = run_one(s, ctx, model, path, BENCH_PP, o->n_prompt.v[i]);
    for (size_t i = 0; !rc && i < o->n_gen.n; i++)
        if (o->n_gen.v[i] > 0) rc = run_one(s, ctx, model, path, BENCH_TG, o->n_gen.v[i]);
    ct_context_free(ctx);
    ct_model_free(model);
    return rc;
}

static int run_all(const bench_opts *o) {
    bench_state s = {.o = o, .model_width = 5};
    s.n_total = o->n_models * o->threads.n * (list_nonzero(&o->n_prompt) + list_nonzero(&o->n_gen));
    if (o->n_seq.n) /* every (b, p, n) combination: a pp row for p > 0, a tg row for n > 0 */
        s.n_total = o->n_models * o->threads.n * o->n_seq.n *
                    (list_nonzero(&o->n_prompt) * o->n_gen.n + list_nonzero(&o->n_gen) * o->n_prompt.n);
    s.results = calloc(s.n_total, sizeof *s.results);
    if (!s.results) {
        fprintf(stderr, "ctorch bench: out of memory\n");
        return 1;
    }
    for (size_t m = 0; m < o->n_models; m++) {
        int w = (int)strlen(bench_model_name(o->models[m]));
        if (w > s.model_width) s.model_width = w;
    }
    int rc = check_models(o, list_max(&o->n_prompt) + list_max(&o->n_gen) + (o->n_seq.n ? 1 : 0));
    if (!rc && o->format == BENCH_MD) bench_md_header(stdout, s.model_width, o->n_seq.n > 0);
    for (size_t m = 0; !rc && m < o->n_models; m++)
        for (size_t t = 0; !rc && t < o->threads.n; t++) rc = run_model(&s, o->models[m], o->threads.v[t]);
    if (!rc && o->format == BENCH_JSON) {
        char *json = bench_json(s.results, s.n_results);
        if (json) printf("%s\n", json);
        else rc = (fprintf(stderr, "ctorch bench: could not build the JSON output\n"), 1);
        free(json);
    }
    for (size_t i = 0; i < s.n_results; i++) free(s.results[i].samples_ns);
    free(s.results);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    bench_opts o;
    int rc = bench_parse_args(argc, argv, &o);
    if (!rc && o.help) bench_print_usage(stdout);
    else if (!rc) {
        ct_log_set_level(o.verbose ? CT_LOG_DEBUG : CT_LOG_ERROR);
        rc = run_all(&o);
    }
    bench_opts_free(&o);
    return rc;
}
