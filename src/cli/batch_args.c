/* Flags of ctorch batch. Accepts "--flag VALUE", "--flag=VALUE" and "-x VALUE". */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/batch.h"
#include "core/status.h"

#define DEFAULT_PARALLEL 8
#define DEFAULT_MAX_TOKENS 128

void batch_print_usage(FILE *out) {
    fprintf(out,
            "usage: ctorch batch -m FILE.gguf -f PROMPTS.jsonl [options]\n"
            "\n"
            "Runs every prompt of a JSON-lines file through one engine: up to --parallel prompts decode\n"
            "together in each forward pass, new ones are admitted as others finish, long prompts go in\n"
            "chunks beside the decoding ones, and when the KV cache is full the youngest request is\n"
            "preempted and recomputed later. Writes one JSON line per prompt to stdout, in input order:\n"
            "  {\"index\", \"id\", \"prompt_tokens\", \"tokens\", \"text\", \"finish\", \"preemptions\", \"timings\"}\n"
            "or {\"index\", \"id\", \"error\"} for a prompt that cannot run (e.g. longer than the cache).\n"
            "Progress and a summary go to stderr.\n"
            "\n"
            "Input lines: {\"prompt\": TEXT} (tokenized with the model's special tokens, as ctorch run\n"
            "does) or {\"tokens\": [ids]}, optionally with \"id\" (echoed), \"max_tokens\", \"temperature\",\n"
            "\"top_k\", \"top_p\", \"min_p\", \"seed\", \"stop\" (a string or a list), \"priority\" (higher first).\n"
            "\n"
            "  -m, --model FILE        the GGUF model\n"
            "  -f, --file FILE         the prompts, one JSON object per line (- for stdin)\n"
            "  --parallel N            requests decoded together (default 8)\n"
            "  -n, --max-tokens N      tokens per prompt unless its line says (default 128)\n"
            "  -c, --ctx-size N        positions per request (default: the model's, at most 4096)\n"
            "  --kv-mem SIZE           KV cache budget: a number of MiB, or with a unit: 64K, 512M, 2G, 4096B\n"
            "                          (default: --ctx-size x --parallel positions)\n"
            "  --batch-tokens N        most tokens per forward pass (default max(512, --parallel))\n"
            "  --chunk N               most prompt tokens of one request per pass (default: --batch-tokens)\n"
            "  --deterministic         batch-invariant passes: each output is bit-identical to the prompt\n"
            "                          run alone, whatever shares its batches (slower; docs/perf.md)\n"
            "  --kv-type f16|f32       KV cache element type (default f16)\n"
            "  --backend NAME          cpu (default) or cuda\n"
            "  -t, --threads N         CPU threads (default: one per core)\n"
            "  -v, --verbose           library progress on stderr\n"
            "\nsampling defaults (a line's fields override):\n"
            "  --temp T                temperature (default 0.8; 0 = greedy)\n"
            "  --top-k N, --top-p P, --min-p P, --repeat-penalty F   as ctorch run\n"
            "  --seed N                prompt i samples with seed N + i (default: from the clock)\n"
            "\nExit codes: 0 every prompt ran; 1 a runtime failure or a prompt that could not run; 2 usage.\n");
}

static int usage_error(const char *fmt, ...) CT_PRINTF(1, 2);
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ctorch batch: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see ctorch batch --help)\n");
    va_end(ap);
    return 2;
}

static bool parse_int(const char *s, long long lo, long long hi, int32_t *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = (int32_t)v;
    return true;
}

static bool parse_float(const char *s, float lo, float hi, float *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return false;
    *out = (float)v;
    return true;
}

/* "512" (MiB), "64K", "512M", "2G" (KiB, MiB, GiB; "KiB"/"MiB"/"GiB" too), "4096B" (bytes). */
static bool parse_size(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-' || *s == '+') return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return false;
    uint64_t unit = 1ull << 20;
    if (!strcmp(end, "B")) unit = 1;
    else if (!strcmp(end, "K") || !strcmp(end, "KiB")) unit = 1ull << 10;
    else if (!strcmp(end, "M") || !strcmp(end, "MiB") || !*end) unit = 1ull << 20;
    else if (!strcmp(end, "G") || !strcmp(end, "GiB")) unit = 1ull << 30;
    else return false;
    if (v == 0 || v > UINT64_MAX / unit) return false;
    *out = v * unit;
    return true;
}

static bool is_flag(const char *name, const char *short_name, const char *long_name) {
    return (short_name && !strcmp(name, short_name)) || !strcmp(name, long_name);
}

int batch_parse_args(int argc, char **argv, batch_opts *o) {
    memset(o, 0, sizeof *o);
    o->backend = "cpu";
    o->n_parallel = DEFAULT_PARALLEL;
    o->max_tokens = DEFAULT_MAX_TOKENS;
    o->kv_type = CT_KV_F16;
    o->sample = ct_sample_params_default();
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
        char name[64];
        const char *v = cli_split_flag(arg, name, sizeof name);
        if (arg[0] != '-') return usage_error("unexpected argument '%s'", arg);
        static const char *const known[] = {"-m", "--model", "-f", "--file", "--backend", "-t", "--threads",
                                            "--parallel", "-n", "--max-tokens", "-c", "--ctx-size", "--kv-mem",
                                            "--batch-tokens", "--chunk", "--kv-type", "--temp", "--top-k", "--top-p",
                                            "--min-p", "--repeat-penalty", "--seed"};
        bool is_known = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) is_known |= !strcmp(name, known[k]);
        if (!is_known) return usage_error("unknown option '%s'", arg);
        if (!v) {
            if (i + 1 >= argc) return usage_error("option %s needs a value", name);
            v = argv[++i];
        }
        bool ok = true;
        const char *range = NULL;
        if (is_flag(name, "-m", "--model")) o->model = v;
        else if (is_flag(name, "-f", "--file")) o->file = v;
        else if (is_flag(name, NULL, "--backend")) o->backend = v;
        else if (is_flag(name, "-t", "--threads")) ok = parse_int(v, 1, 1024, &o->n_threads), range = "an integer from 1 to 1024";
        else if (is_flag(name, NULL, "--parallel")) ok = parse_int(v, 1, 4096, &o->n_parallel), range = "an integer from 1 to 4096";
        else if (is_flag(name, "-n", "--max-tokens")) ok = parse_int(v, 1, 1 << 24, &o->max_tokens), range = "an integer from 1 to 16777216";
        else if (is_flag(name, "-c", "--ctx-size")) ok = parse_int(v, 1, 1 << 20, &o->n_ctx), range = "an integer from 1 to 1048576";
        else if (is_flag(name, NULL, "--kv-mem")) ok = parse_size(v, &o->kv_mem), range = "a positive size such as 512, 64K, 512M or 2G";
        else if (is_flag(name, NULL, "--batch-tokens")) ok = parse_int(v, 1, 1 << 20, &o->batch_tokens), range = "an integer from 1 to 1048576";
        else if (is_flag(name, NULL, "--chunk")) ok = parse_int(v, 1, 1 << 20, &o->chunk), range = "an integer from 1 to 1048576";
        else if (is_flag(name, NULL, "--kv-type")) {
            if (!strcmp(v, "f16") || !strcmp(v, "F16")) o->kv_type = CT_KV_F16;
            else if (!strcmp(v, "f32") || !strcmp(v, "F32")) o->kv_type = CT_KV_F32;
            else ok = false, range = "f16 or f32";
        } else if (is_flag(name, NULL, "--temp")) ok = parse_float(v, 0.0f, 100.0f, &o->sample.temperature), range = "a number from 0 to 100";
        else if (is_flag(name, NULL, "--top-k")) ok = parse_int(v, 0, INT32_MAX, &o->sample.top_k), range = "a non-negative integer";
        else if (is_flag(name, NULL, "--top-p")) ok = parse_float(v, 1e-9f, 1.0f, &o->sample.top_p), range = "a number in (0, 1]";
        else if (is_flag(name, NULL, "--min-p")) ok = parse_float(v, 0.0f, 1.0f, &o->sample.min_p), range = "a number in [0, 1]";
        else if (is_flag(name, NULL, "--repeat-penalty")) ok = parse_float(v, 1e-9f, 100.0f, &o->sample.repeat_penalty), range = "a number in (0, 100]";
        else if (is_flag(name, NULL, "--seed")) {
            errno = 0;
            char *end;
            unsigned long long s = strtoull(v, &end, 10);
            ok = *v && *v != '-' && !errno && !*end;
            o->sample.seed = s;
            o->seed_given = true;
            range = "a non-negative integer";
        } else {
            return usage_error("unknown option '%s'", arg);
        }
        if (!ok) return usage_error("%s: '%s' is not %s", name, v, range);
    }
    if (!o->model) return usage_error("missing -m/--model FILE");
    if (!o->file) return usage_error("missing -f/--file PROMPTS.jsonl");
    if (o->batch_tokens && o->batch_tokens < o->n_parallel)
        return usage_error("--batch-tokens %d is below --parallel %d (every running prompt decodes a token per pass)",
                           (int)o->batch_tokens, (int)o->n_parallel);
    return 0;
}
