/* ctorch run: generate text from a prompt.
 *   stdout: the generated text, streamed (or, with --json, one JSON object)
 *   stderr: load progress and one summary line
 * Exit codes: 0 ok, 1 runtime failure (unreadable file, bad model, full context), 2 usage. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/generate.h"
#include "core/log.h"
#include "ctorch.h"

static int fail(const char *what, ct_status st) {
    fprintf(stderr, "ctorch run: %s: %s: %s\n", what, ct_status_name(st), ct_last_error());
    return st == CT_ERR_INVALID_ARGUMENT ? 2 : 1;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "ctorch run: cannot read prompt file '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *p = realloc(buf, cap * 2);
        if (!p) free(buf);
        buf = p;
        cap *= 2;
    }
    bool bad = ferror(f);
    int err = errno;
    fclose(f);
    if (!buf || bad) {
        fprintf(stderr, "ctorch run: cannot read prompt file '%s': %s\n", path, buf ? strerror(err) : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static json_t *token_array(const ct_token *t, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer(t[i]));
    return a;
}

static void print_json(const ct_model_info *info, const ct_token *prompt, size_t n_prompt, const gen_output *g,
                       uint64_t seed, double load_ms, double prompt_ms) {
    json_t *timings = json_pack("{s:f, s:f, s:f, s:f, s:f}", "load_ms", load_ms, "prompt_ms", prompt_ms,
                                "prompt_tokens_per_s", prompt_ms > 0 ? (double)n_prompt * 1e3 / prompt_ms : 0.0,
                                "generate_ms", g->ms,
                                "generate_tokens_per_s", g->ms > 0 ? (double)g->n_tokens * 1e3 / g->ms : 0.0);
    json_t *o = json_pack("{s:s, s:o, s:o, s:s%, s:s, s:I, s:o}", "arch", info->arch, "prompt_tokens",
                          token_array(prompt, n_prompt), "generated_tokens", token_array(g->tokens, g->n_tokens),
                          "text", g->text ? g->text : "", g->text_len, "stop", gen_stop_name(g->stop), "seed",
                          (json_int_t)seed, "timings", timings);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (s) printf("%s\n", s);
    else fprintf(stderr, "ctorch run: could not build the JSON output\n");
    free(s);
    json_decref(o);
}

int cmd_run(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse_args(argc, argv, CLI_RUN, &a);
    if (rc) return rc;
    if (a.help) {
        cli_print_usage(stdout, CLI_RUN);
        return 0;
    }
    ct_log_set_level(a.verbose ? CT_LOG_DEBUG : CT_LOG_INFO);

    char *file_text = NULL;
    size_t prompt_len = a.prompt ? strlen(a.prompt) : 0;
    if (a.prompt_file && !(file_text = read_file(a.prompt_file, &prompt_len))) return 1;
    const char *prompt = file_text ? file_text : a.prompt;

    ct_model *model = NULL;
    ct_context *ctx = NULL;
    ct_sampler *sampler = NULL;
    ct_detok *detok = NULL;
    ct_token *tokens = NULL;
    size_t n_prompt = 0;
    gen_output out = {0};
    ct_status st;
    rc = 1;

    double t0 = cli_now_ms();
    ct_model_params mp = {.backend = a.backend, .n_threads = a.n_threads};
    if ((st = ct_model_load(a.model, &mp, &model)) != CT_OK) {
        rc = fail("loading the model", st);
        goto done;
    }
    ct_context_params cp = ct_context_params_default();
    cp.n_ctx = a.n_ctx;
    cp.kv_type = a.kv_type;
    if ((st = ct_context_create(model, &cp, &ctx)) != CT_OK) {
        rc = fail("creating the context", st);
        goto done;
    }
    double load_ms = cli_now_ms() - t0;
    if ((st = ct_sampler_new(model, &a.sample, &sampler)) != CT_OK) {
        rc = fail("sampling options", st);
        goto done;
    }
    if ((st = ct_detok_new(model, false, &detok)) != CT_OK ||
        (st = ct_tokenize(model, prompt, prompt_len, true, true, &tokens, &n_prompt)) != CT_OK) {
        rc = fail("tokenizing the prompt", st);
        goto done;
    }
    int32_t n_ctx = ct_context_n_ctx(ctx);
    if (n_prompt == 0) {
        fprintf(stderr, "ctorch run: the prompt is empty\n");
        goto done;
    }
    if (n_prompt >= (size_t)n_ctx) {
        fprintf(stderr, "ctorch run: the prompt is %zu tokens but the context holds %d (-c %d), leaving no room to generate\n",
                n_prompt, (int)n_ctx, (int)n_ctx);
        goto done;
    }

    double t1 = cli_now_ms();
    const float *logits;
    if ((st = ct_eval(ctx, 0, tokens, n_prompt, &logits)) != CT_OK) {
        rc = fail("evaluating the prompt", st);
        goto done;
    }
    double prompt_ms = cli_now_ms() - t1;
    for (size_t i = 0; i < n_prompt; i++) ct_sampler_accept(sampler, tokens[i]);

    gen_config gc = {.ctx = ctx, .model = model, .sampler = sampler, .detok = detok, .seq_id = 0,
                     .max_tokens = a.n_predict, .stream = a.json ? NULL : stdout};
    st = gen_run(&gc, logits, &out);
    if (!a.json && out.text_len && out.text[out.text_len - 1] != '\n') fputc('\n', stdout);
    if (st != CT_OK) {
        rc = fail("generating", st);
        goto done;
    }
    fprintf(stderr, "ctorch: prompt %zu tokens in %.2f s (%.1f t/s), generated %zu tokens in %.2f s (%.1f t/s), stop: %s\n",
            n_prompt, prompt_ms / 1e3, prompt_ms > 0 ? (double)n_prompt * 1e3 / prompt_ms : 0.0, out.n_tokens,
            out.ms / 1e3, out.ms > 0 ? (double)out.n_tokens * 1e3 / out.ms : 0.0, gen_stop_name(out.stop));
    if (a.json) {
        ct_model_info info;
        ct_model_get_info(model, &info);
        print_json(&info, tokens, n_prompt, &out, ct_sampler_seed(sampler), load_ms, prompt_ms);
    }
    rc = 0;
done:
    gen_output_free(&out);
    ct_free(tokens);
    ct_detok_free(detok);
    ct_sampler_free(sampler);
    ct_context_free(ctx);
    ct_model_free(model);
    free(file_text);
    return rc;
}
