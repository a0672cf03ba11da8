/* ctorch bench output: a markdown table like llama-bench's, or one JSON array with the samples. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench.h"

#define PLUS_MINUS "\xc2\xb1" /* U+00B1, as llama-bench prints it */

/* Tokens one repetition processes: N of ppN/tgN for every sequence run together. */
static double total_tokens(const bench_result *r) { return (double)r->n_tokens * (r->n_seq > 0 ? r->n_seq : 1); }

void bench_rate_stats(const bench_result *r, double *mean_ts, double *sd_ts) {
    double sum = 0, sq = 0;
    for (int32_t i = 0; i < r->reps; i++) sum += total_tokens(r) * 1e9 / (double)r->samples_ns[i];
    double mean = sum / r->reps;
    for (int32_t i = 0; i < r->reps; i++) {
        double d = total_tokens(r) * 1e9 / (double)r->samples_ns[i] - mean;
        sq += d * d;
    }
    *mean_ts = mean;
    *sd_ts = r->reps > 1 ? sqrt(sq / (r->reps - 1)) : 0.0;
}

static void ns_stats(const bench_result *r, double *mean_ns, double *sd_ns) {
    double sum = 0, sq = 0;
    for (int32_t i = 0; i < r->reps; i++) sum += (double)r->samples_ns[i];
    double mean = sum / r->reps;
    for (int32_t i = 0; i < r->reps; i++) sq += ((double)r->samples_ns[i] - mean) * ((double)r->samples_ns[i] - mean);
    *mean_ns = mean;
    *sd_ns = r->reps > 1 ? sqrt(sq / (r->reps - 1)) : 0.0;
}

const char *bench_model_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

static void test_name(const bench_result *r, char *buf, size_t size) {
    snprintf(buf, size, "%s%d", r->kind == BENCH_PP ? "pp" : "tg", (int)r->n_tokens);
}

void bench_md_header(FILE *out, int w, bool seqs) {
    fprintf(out, "| %-*s | %10s | %10s | %-7s | %7s | %s%8s | %20s |\n", w, "model", "size", "params", "backend", "threads",
            seqs ? "seqs | " : "", "test", "t/s");
    char dashes[256];
    int n = w < (int)sizeof dashes - 1 ? w : (int)sizeof dashes - 1;
    memset(dashes, '-', (size_t)n);
    dashes[n] = '\0';
    fprintf(out, "| %s | ---------: | ---------: | ------- | ------: | %s-------: | -------------------: |\n", dashes,
            seqs ? "---: | " : "");
    fflush(out);
}

void bench_md_row(FILE *out, const bench_result *r, int w) {
    char size[32], params[32], test[32], rate[64];
    double bytes = (double)r->weight_bytes;
    if (bytes >= 1024.0 * 1024.0 * 1024.0) snprintf(size, sizeof size, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
    else snprintf(size, sizeof size, "%.2f MiB", bytes / (1024.0 * 1024.0));
    double p = (double)r->n_params;
    if (p >= 1e9) snprintf(params, sizeof params, "%.2f B", p / 1e9);
    else snprintf(params, sizeof params, "%.2f M", p / 1e6);
    test_name(r, test, sizeof test);
    double mean, sd;
    bench_rate_stats(r, &mean, &sd);
    snprintf(rate, sizeof rate, "%.2f " PLUS_MINUS " %.2f", mean, sd);
    /* the plus-minus sign is two bytes but one column */
    char seqs[32] = "";
    if (r->n_seq > 0) snprintf(seqs, sizeof seqs, "%4d | ", (int)r->n_seq);
    fprintf(out, "| %-*s | %10s | %10s | %-7s | %7d | %s%8s | %21s |\n", w, bench_model_name(r->model_path), size,
            params, r->backend, (int)r->n_threads, seqs, test, rate);
    fflush(out);
}

static json_t *result_json(const bench_result *r) {
    char test[32];
    test_name(r, test, sizeof test);
    double mean_ts, sd_ts, mean_ns, sd_ns;
    bench_rate_stats(r, &mean_ts, &sd_ts);
    ns_stats(r, &mean_ns, &sd_ns);
    json_t *samples_ns = json_array(), *samples_ts = json_array();
    for (int32_t i = 0; samples_ns && samples_ts && i < r->reps; i++) {
        json_array_append_new(samples_ns, json_integer(r->samples_ns[i]));
        json_array_append_new(samples_ts, json_real(total_tokens(r) * 1e9 / (double)r->samples_ns[i]));
    }
    /* "o" steals the arrays, also when packing fails */
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:i, s:s, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:o, s:o}",
                     "model", bench_model_name(r->model_path), "model_path", r->model_path, "arch", r->arch,
                     "size_bytes", (json_int_t)r->weight_bytes, "n_params", (json_int_t)r->n_params,
                     "backend", r->backend, "n_threads", (int)r->n_threads, "test", test, "n_prompt",
                     r->kind == BENCH_PP ? (int)r->n_tokens : 0, "n_gen", r->kind == BENCH_TG ? (int)r->n_tokens : 0,
                     "n_ctx", (int)r->n_ctx, "reps", (int)r->reps, "avg_ts", mean_ts, "stddev_ts", sd_ts, "avg_ns",
                     mean_ns, "stddev_ns", sd_ns, "samples_ts", samples_ts, "samples_ns", samples_ns);
    if (o && r->n_seq > 0) json_object_set_new(o, "n_seq", json_integer(r->n_seq)); /* -b runs only */
    return o;
}

char *bench_json(const bench_result *results, size_t n_results) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < n_results; i++) {
        json_t *o = result_json(&results[i]);
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            return NULL;
        }
    }
    char *s = a ? json_dumps(a, JSON_INDENT(2) | JSON_ENSURE_ASCII) : NULL;
    json_decref(a);
    return s;
}
