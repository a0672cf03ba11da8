/* Flag parsing for run and chat. Accepts "--flag VALUE", "--flag=VALUE" and "-x VALUE". */
#define _POSIX_C_SOURCE 200809L
#include "cli/args.h"
#include "core/status.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_N_PREDICT 256

const char *cli_split_flag(const char *arg, char *name, size_t name_size) {
    const char *eq = arg[0] == '-' && arg[1] == '-' ? strchr(arg, '=') : NULL;
    if (eq && (size_t)(eq - arg) < name_size) {
        memcpy(name, arg, (size_t)(eq - arg));
        name[eq - arg] = '\0';
        return eq + 1;
    }
    snprintf(name, name_size, "%s", arg);
    return NULL;
}

double cli_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void cli_print_usage(FILE *out, cli_mode mode) {
    if (mode == CLI_RUN)
        fprintf(out, "usage: ctorch [run] -m FILE.gguf (-p TEXT | -f FILE) [options]\n\n"
                     "Generates text from a prompt. Stdout carries only the generated text, streamed as it is\n"
                     "produced; stderr carries load progress and a summary line.\n\n"
                     "  -m, --model FILE        the GGUF model\n"
                     "  -p, --prompt TEXT       the prompt\n"
                     "  -f, --file FILE         read the prompt from FILE\n"
                     "  -n, --max-tokens N      generate at most N tokens (default 256)\n"
                     "  --json                  print one JSON object instead: prompt and generated token ids,\n"
                     "                          text, timings\n");
    else
        fprintf(out, "usage: ctorch chat -m FILE.gguf [-s SYSTEM] [--template NAME] [options]\n\n"
                     "Chats in the terminal with the model's chat template; the conversation stays in the KV\n"
                     "cache across turns. Type /exit or end input (Ctrl-D) to leave; Ctrl-C stops a reply.\n\n"
                     "  -m, --model FILE        the GGUF model\n"
                     "  -s, --system TEXT       system prompt\n"
                     "  --template NAME         chat template instead of the model's: chatml, llama2, llama3,\n"
                     "                          gemma, phi3\n"
                     "  -n, --max-tokens N      at most N tokens per reply (default 256)\n");
    fprintf(out, "  --backend NAME          cpu (default) or cuda (the whole model on the GPU)\n"
                 "  -t, --threads N         CPU threads (default: one per core)\n"
                 "  -c, --ctx-size N        context size in tokens (default: the model's, at most 4096)\n"
                 "  --kv-type f16|f32       KV cache element type (default f16)\n"
                 "  -v, --verbose           more detail on stderr\n"
                 "\nsampling:\n"
                 "  --temp T                temperature (default 0.8; 0 = greedy)\n"
                 "  --top-k N               keep the N most likely tokens (default 40; 0 = off)\n"
                 "  --top-p P               keep the smallest set with probability >= P (default 0.95; 1 = off)\n"
                 "  --min-p P               drop tokens below P x the best one's probability (default 0.05)\n"
                 "  --repeat-penalty F      penalize repeats of the last tokens (default 1.0 = off)\n"
                 "  --repeat-last-n N       tokens the penalties look back over (default 64)\n"
                 "  --presence-penalty F    (default 0)\n"
                 "  --frequency-penalty F   (default 0)\n"
                 "  --seed N                random seed (default: from the clock)\n");
}

static int usage_error(cli_mode mode, const char *fmt, ...) CT_PRINTF(2, 3);
static int usage_error(cli_mode mode, const char *fmt, ...) {
    const char *cmd = mode == CLI_RUN ? "run" : "chat";
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ctorch %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see ctorch %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
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

static bool parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-') return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

typedef enum { V_STR, V_INT, V_FLOAT, V_U64, V_KV } value_kind;

typedef struct {
    const char *short_name, *long_name;
    value_kind kind;
    int modes; /* bit 0: run, bit 1: chat */
    int64_t lo, hi;       /* V_INT range */
    float flo, fhi;       /* V_FLOAT range */
    const char *range;    /* for messages */
} flag_spec;

#define RUN 1
#define CHAT 2
static const flag_spec flags[] = {
    {"-m", "--model", V_STR, RUN | CHAT, 0, 0, 0, 0, NULL},
    {"-p", "--prompt", V_STR, RUN, 0, 0, 0, 0, NULL},
    {"-f", "--file", V_STR, RUN, 0, 0, 0, 0, NULL},
    {"-s", "--system", V_STR, CHAT, 0, 0, 0, 0, NULL},
    {NULL, "--template", V_STR, CHAT, 0, 0, 0, 0, NULL},
    {NULL, "--backend", V_STR, RUN | CHAT, 0, 0, 0, 0, NULL},
    {"-n", "--max-tokens", V_INT, RUN | CHAT, 1, 1 << 24, 0, 0, "an integer from 1 to 16777216"},
    {"-t", "--threads", V_INT, RUN | CHAT, 1, 1024, 0, 0, "an integer from 1 to 1024"},
    {"-c", "--ctx-size", V_INT, RUN | CHAT, 1, 1 << 20, 0, 0, "an integer from 1 to 1048576"},
    {NULL, "--kv-type", V_KV, RUN | CHAT, 0, 0, 0, 0, "f16 or f32"},
    {NULL, "--temp", V_FLOAT, RUN | CHAT, 0, 0, 0.0f, 100.0f, "a number from 0 to 100"},
    {NULL, "--top-k", V_INT, RUN | CHAT, 0, INT32_MAX, 0, 0, "a non-negative integer"},
    {NULL, "--top-p", V_FLOAT, RUN | CHAT, 0, 0, 1e-9f, 1.0f, "a number in (0, 1]"},
    {NULL, "--min-p", V_FLOAT, RUN | CHAT, 0, 0, 0.0f, 1.0f, "a number in [0, 1]"},
    {NULL, "--repeat-penalty", V_FLOAT, RUN | CHAT, 0, 0, 1e-9f, 100.0f, "a number in (0, 100]"},
    {NULL, "--repeat-last-n", V_INT, RUN | CHAT, 0, 1 << 24, 0, 0, "an integer from 0 to 16777216"},
    {NULL, "--presence-penalty", V_FLOAT, RUN | CHAT, 0, 0, -100.0f, 100.0f, "a number from -100 to 100"},
    {NULL, "--frequency-penalty", V_FLOAT, RUN | CHAT, 0, 0, -100.0f, 100.0f, "a number from -100 to 100"},
    {NULL, "--seed", V_U64, RUN | CHAT, 0, 0, 0, 0, "a non-negative integer"},
};
#define N_FLAGS (sizeof flags / sizeof flags[0])

static void store(cli_args *a, const flag_spec *f, const char *sval, int64_t ival, float fval, uint64_t uval) {
    const char *n = f->long_name;
    if (!strcmp(n, "--model")) a->model = sval;
    else if (!strcmp(n, "--prompt")) a->prompt = sval;
    else if (!strcmp(n, "--file")) a->prompt_file = sval;
    else if (!strcmp(n, "--system")) a->system = sval;
    else if (!strcmp(n, "--template")) a->template_name = sval;
    else if (!strcmp(n, "--backend")) a->backend = sval;
    else if (!strcmp(n, "--max-tokens")) a->n_predict = (int32_t)ival;
    else if (!strcmp(n, "--threads")) a->n_threads = (int32_t)ival;
    else if (!strcmp(n, "--ctx-size")) a->n_ctx = (int32_t)ival;
    else if (!strcmp(n, "--kv-type")) a->kv_type = (ct_kv_type)ival;
    else if (!strcmp(n, "--temp")) a->sample.temperature = fval;
    else if (!strcmp(n, "--top-k")) a->sample.top_k = (int32_t)ival;
    else if (!strcmp(n, "--top-p")) a->sample.top_p = fval;
    else if (!strcmp(n, "--min-p")) a->sample.min_p = fval;
    else if (!strcmp(n, "--repeat-penalty")) a->sample.repeat_penalty = fval;
    else if (!strcmp(n, "--repeat-last-n")) a->sample.repeat_last_n = (int32_t)ival;
    else if (!strcmp(n, "--presence-penalty")) a->sample.presence_penalty = fval;
    else if (!strcmp(n, "--frequency-penalty")) a->sample.frequency_penalty = fval;
    else if (!strcmp(n, "--seed")) a->sample.seed = uval;
}

int cli_parse_args(int argc, char **argv, cli_mode mode, cli_args *a) {
    memset(a, 0, sizeof *a);
    a->backend = "cpu";
    a->n_predict = DEFAULT_N_PREDICT;
    a->kv_type = CT_KV_F16;
    a->sample = ct_sample_params_default();
    int mode_bit = mode == CLI_RUN ? RUN : CHAT;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            a->help = true;
            return 0;
        }
        if (!strcmp(arg, "--json") && mode == CLI_RUN) {
            a->json = true;
            continue;
        }
        if (!strcmp(arg, "-v") || !strcmp(arg, "--verbose")) {
            a->verbose = true;
            continue;
        }
        /* --flag=value */
        char name[64];
        const char *inline_value = cli_split_flag(arg, name, sizeof name);
        const flag_spec *f = NULL;
        for (size_t k = 0; k < N_FLAGS && !f; k++)
            if ((flags[k].short_name && !strcmp(name, flags[k].short_name)) || !strcmp(name, flags[k].long_name))
                f = &flags[k];
        if (!f || !(f->modes & mode_bit)) {
            if (arg[0] == '-') return usage_error(mode, "unknown option '%s'", arg);
            return usage_error(mode, "unexpected argument '%s'", arg);
        }
        const char *value = inline_value;
        if (!value) {
            if (i + 1 >= argc) return usage_error(mode, "option %s needs a value", f->long_name);
            value = argv[++i];
        }
        int64_t ival = 0;
        float fval = 0;
        uint64_t uval = 0;
        switch (f->kind) {
        case V_STR: break;
        case V_INT:
            if (!parse_i64(value, f->lo, f->hi, &ival))
                return usage_error(mode, "%s: '%s' is not %s", f->long_name, value, f->range);
            break;
        case V_FLOAT:
            if (!parse_float(value, f->flo, f->fhi, &fval))
                return usage_error(mode, "%s: '%s' is not %s", f->long_name, value, f->range);
            break;
        case V_U64:
            if (!parse_u64(value, &uval))
                return usage_error(mode, "%s: '%s' is not %s", f->long_name, value, f->range);
            break;
        case V_KV:
            if (!strcmp(value, "f16") || !strcmp(value, "F16")) ival = CT_KV_F16;
            else if (!strcmp(value, "f32") || !strcmp(value, "F32")) ival = CT_KV_F32;
            else return usage_error(mode, "--kv-type: '%s' is not f16 or f32", value);
            break;
        }
        store(a, f, value, ival, fval, uval);
    }
    if (!a->model) return usage_error(mode, "missing -m/--model FILE");
    if (mode == CLI_RUN) {
        if (!a->prompt && !a->prompt_file) return usage_error(mode, "missing -p/--prompt TEXT or -f/--file FILE");
        if (a->prompt && a->prompt_file) return usage_error(mode, "give -p/--prompt or -f/--file, not both");
    }
    return 0;
}
