/* Flags of ctorch bench. Accepts "--flag VALUE", "--flag=VALUE" and "-x VALUE"; -m repeats,
 * -p/-n/-t take comma lists and append when repeated (like llama-bench). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/bench.h"
#include "core/status.h"

#define MAX_TOKENS (1 << 20) /* the library's largest context */
#define MAX_THREADS 1024
#define MAX_REPS 1000000

void bench_print_usage(FILE *out) {
    fprintf(out,
            "usage: ctorch bench -m FILE.gguf [-m FILE2.gguf ...] [options]\n"
            "\n"
            "Measures prompt processing (ppN: one batch of N prompt tokens into an empty context) and\n"
            "text generation (tgN: N single-token decode steps from an empty context) in tokens per\n"
            "second, as llama.cpp's llama-bench does: random non-special token ids from a fixed seed,\n"
            "one untimed warm-up run, then the mean and standard deviation over the repetitions. Every\n"
            "combination of models, prompt lengths, generation lengths and thread counts runs.\n"
            "Stdout carries only the table (or JSON); progress goes to stderr.\n"
            "\n"
            "  -m, --model FILE          a GGUF model (repeat for several)\n"
            "  -p, --n-prompt N[,N...]   prompt lengths (default 512; 0 = no pp test)\n"
            "  -n, --n-gen N[,N...]      generated tokens (default 128; 0 = no tg test)\n"
            "  -r, --repetitions N       timed runs of each test (default 5)\n"
            "  -t, --threads N[,N...]    CPU threads (default: one per core)\n"
            "  -b, --batch N[,N...]      instead: N sequences at once through the batching engine, like\n"
            "                            llama-batched-bench: ppP is one pass over all N prompts of P tokens,\n"
            "                            tgT is T passes decoding one token of every sequence; t/s is the\n"
            "                            aggregate over the N sequences (table column seqs)\n"
            "  --deterministic           with -b: batch-invariant passes (what ctorch batch --deterministic costs)\n"
            "  --backend NAME            cpu (default) or cuda\n"
            "  -o, --output md|json      markdown table (default) or one JSON array with every sample\n"
            "  -v, --verbose             library progress on stderr too\n");
}

static int usage_error(const char *fmt, ...) CT_PRINTF(1, 2);
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ctorch bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see ctorch bench --help)\n");
    va_end(ap);
    return 2;
}

/* One decimal integer in [lo, hi], the whole of s[0..len). */
static bool parse_int(const char *s, size_t len, int32_t lo, int32_t hi, int32_t *out) {
    char buf[32];
    if (len == 0 || len >= sizeof buf) return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (buf[0] == '+' || buf[0] == ' ') return false;
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = (int32_t)v;
    return true;
}

/* Append the comma list `value` to `list`. */
static int parse_list(const char *flag, const char *value, int32_t lo, int32_t hi, const char *range,
                      bench_list *list) {
    const char *s = value;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        int32_t v;
        if (!parse_int(s, len, lo, hi, &v)) {
            if (len == strlen(value)) return usage_error("%s: '%s' is not %s", flag, value, range);
            return usage_error("%s: '%.*s' in '%s' is not %s", flag, (int)len, s, value, range);
        }
        int32_t *p = realloc(list->v, (list->n + 1) * sizeof *p);
        if (!p) return usage_error("out of memory");
        p[list->n++] = v;
        list->v = p;
        if (!comma) return 0;
        s = comma + 1;
    }
}

static int set_default(bench_list *list, int32_t value) {
    if (list->n) return 0;
    list->v = malloc(sizeof *list->v);
    if (!list->v) return usage_error("out of memory");
    list->v[0] = value;
    list->n = 1;
    return 0;
}

void bench_opts_free(bench_opts *o) {
    free(o->models);
    free(o->n_prompt.v);
    free(o->n_gen.v);
    free(o->threads.v);
    free(o->n_seq.v);
    memset(o, 0, sizeof *o);
}

/* The value of flag argv[*i] (inline after '=' or the next argument). */
static const char *flag_value(int argc, char **argv, int *i, const char *inline_value, const char *name) {
    if (inline_value) return inline_value;
    if (*i + 1 >= argc) {
        usage_error("option %s needs a value", name);
        return NULL;
    }
    return argv[++*i];
}

static bool is_flag(const char *name, const char *short_name, const char *long_name) {
    return (short_name && !strcmp(name, short_name)) || !strcmp(name, long_name);
}

int bench_parse_args(int argc, char **argv, bench_opts *o) {
    memset(o, 0, sizeof *o);
    o->reps = 5;
    o->backend = "cpu";
    o->format = BENCH_MD;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            o->help = true;
            return 0;
        }
        if (!strcmp(arg, "-v") || !strcmp(arg, "--verbose")) {
            o->verbose = true;
            continue;
        }
        if (!strcmp(arg, "--deterministic")) {
            o->deterministic = true;
            continue;
        }
        char name[32];
        const char *inline_value = cli_split_flag(arg, name, sizeof name);
        const char *v;
        int rc = 0;
        if (is_flag(name, "-m", "--model")) {
            if (!(v = flag_value(argc, argv, &i, inline_value, "--model"))) return 2;
            const char **p = realloc(o->models, (o->n_models + 1) * sizeof *p);
            if (!p) return usage_error("out of memory");
            p[o->n_models++] = v;
            o->models = p;
        } else if (is_flag(name, "-p", "--n-prompt")) {
            if (!(v = flag_value(argc, argv, &i, inline_value, "--n-prompt"))) return 2;
            rc = parse_list("--n-prompt", v, 0, MAX_TOKENS, "an integer from 0 to 1048576", &o->n_prompt);
        } else if (is_flag(name, "-n", "--n-gen")) {
            if (!(v = flag_value(argc, argv, &i, inline_value, "--n-gen"))) return 2;
            rc = parse_list("--n-gen", v, 0, MAX_TOKENS, "an integer from 0 to 1048576", &o->n_gen);
        } else if (is_flag(name, "-t", "--threads")) {
            if (!(v = flag_value(argc, argv, &i, inline_value, "--threads"))) return 2;
            rc = parse_list("--threads", v, 1, MAX_THREADS, "an integer from 1 to 1024", &o->threads);
        } else if (is_flag(name, "-b", "--batch")) {
            if (!(v = flag_value(argc, argv, &i, inline_value, "--batch"))) return 2;
            rc = parse_list("--batch", v, 1, 4096, "an integer from 1 to 4096", &o->n_seq);
        } else if (is_flag(name, "-r", "--repetitions")) {
            if (!(v = flag_value(argc, argv, &i, inline_value, "--repetitions"))) return 2;
            if (!parse_int(v, strlen(v), 1, MAX_REPS, &o->reps))
                return usage_error("--repetitions: '%s' is not an integer from 1 to %d", v, MAX_REPS);
        } else if (is_flag(name, NULL, "--backend")) {
            if (!(v = flag_value(argc, argv, &i, inline_value, "--backend"))) return 2;
            o->backend = v;
        } else if (is_flag(name, "-o", "--output")) {
            if (!(v = flag_value(argc, argv, &i, inline_value, "--output"))) return 2;
            if (!strcmp(v, "md")) o->format = BENCH_MD;
            else if (!strcmp(v, "json")) o->format = BENCH_JSON;
            else return usage_error("--output: '%s' is not md or json", v);
        } else if (arg[0] == '-') {
            return usage_error("unknown option '%s'", arg);
        } else {
            return usage_error("unexpected argument '%s'", arg);
        }
        if (rc) return rc;
    }
    if (!o->n_models) return usage_error("missing -m/--model FILE");
    if (o->deterministic && !o->n_seq.n) return usage_error("--deterministic needs -b (it applies to the engine's runs)");
    int rc = set_default(&o->n_prompt, 512);
    if (!rc) rc = set_default(&o->n_gen, 128);
    if (!rc) rc = set_default(&o->threads, 0); /* 0: the library's default, one per core */
    if (rc) return rc;
    bool any = false;
    for (size_t k = 0; k < o->n_prompt.n; k++) any |= o->n_prompt.v[k] > 0;
    for (size_t k = 0; k < o->n_gen.n; k++) any |= o->n_gen.v[k] > 0;
    if (!any) return usage_error("nothing to run: every -p and -n value is 0");
    return 0;
}
