/* ctorch chat: a conversation in the terminal with the model's chat template.
 *
 * Each turn renders the whole conversation with the template and tokenizes it; the tokens
 * that match what the KV cache already holds (everything but the new user turn, usually) are
 * kept, the cache is cut back to that common prefix and only the rest is evaluated. So the
 * cache carries across turns, and nothing depends on the template being append-only.
 *
 * Commands: /exit or /quit (or end of input) leaves, /reset starts a new conversation.
 * Ctrl-C stops the reply being generated; at the prompt it leaves. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/generate.h"
#include "core/log.h"
#include "ctorch.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

typedef struct {
    ct_message *items;
    size_t n, cap;
} message_list;

static bool push_message(message_list *l, const char *role, const char *content) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        ct_message *p = realloc(l->items, cap * sizeof *p);
        if (!p) return false;
        l->items = p;
        l->cap = cap;
    }
    char *copy = strdup(content);
    if (!copy) return false;
    l->items[l->n++] = (ct_message){role, copy};
    return true;
}

static void pop_message(message_list *l) {
    if (l->n) free((char *)l->items[--l->n].content);
}

static void clear_messages(message_list *l, size_t keep) {
    while (l->n > keep) pop_message(l);
}

typedef struct {
    ct_model *model;
    ct_context *ctx;
    ct_sampler *sampler;
    ct_detok *detok;
    ct_chat_template *tmpl;
    ct_token *stops;
    size_t n_stops;
    ct_token *cache; /* the tokens the KV cache holds, in order (cache_n of them) */
    size_t cache_n, cache_cap;
    const cli_args *args;
} chat_session;

static int report(const char *what, ct_status st) {
    fprintf(stderr, "ctorch chat: %s: %s: %s\n", what, ct_status_name(st), ct_last_error());
    return st == CT_ERR_INVALID_ARGUMENT ? 2 : 1;
}

/* Append n tokens to the record of what the cache holds. */
static bool cache_append(chat_session *s, const ct_token *t, size_t n) {
    if (s->cache_n + n > s->cache_cap) {
        size_t cap = s->cache_cap ? s->cache_cap : 256;
        while (cap < s->cache_n + n) cap *= 2;
        ct_token *p = realloc(s->cache, cap * sizeof *p);
        if (!p) return false;
        s->cache = p;
        s->cache_cap = cap;
    }
    if (n) memcpy(s->cache + s->cache_n, t, n * sizeof *t);
    s->cache_n += n;
    return true;
}

/* One turn: the user's message is the last of msgs. Returns false on a fatal error. */
static bool chat_turn(chat_session *s, message_list *msgs) {
    char *text = NULL;
    size_t len, n_new = 0;
    ct_token *toks = NULL;
    ct_status st = ct_chat_render(s->tmpl, msgs->items, msgs->n, true, &text, &len);
    if (st == CT_OK) st = ct_tokenize(s->model, text, len, true, true, &toks, &n_new);
    ct_free(text);
    if (st != CT_OK) {
        report("rendering the conversation", st);
        pop_message(msgs);
        ct_free(toks);
        return st != CT_ERR_OUT_OF_MEMORY;
    }
    int32_t n_ctx = ct_context_n_ctx(s->ctx);
    if (n_new == 0 || n_new >= (size_t)n_ctx) {
        fprintf(stderr, "ctorch chat: the conversation is %zu tokens but the context holds %d (-c); /reset starts over\n",
                n_new, (int)n_ctx);
        pop_message(msgs);
        ct_free(toks);
        return true;
    }
    /* keep the cached prefix; evaluate at least the last token to get its logits */
    size_t keep = 0;
    while (keep < s->cache_n && keep < n_new && s->cache[keep] == toks[keep]) keep++;
    if (keep == n_new) keep--;
    ct_seq_truncate(s->ctx, 0, (int32_t)keep);
    const float *logits;
    st = ct_eval(s->ctx, 0, toks + keep, n_new - keep, &logits);
    s->cache_n = keep;
    if (st != CT_OK || !cache_append(s, toks + keep, n_new - keep)) {
        report("evaluating the conversation", st);
        ct_free(toks);
        return false;
    }
    ct_free(toks);
    if (ct_log_get_level() >= CT_LOG_DEBUG)
        fprintf(stderr, "[turn: %zu tokens, %zu reused from the cache]\n", n_new, keep);

    gen_output out = {0};
    interrupted = 0;
    gen_config gc = {.ctx = s->ctx, .model = s->model, .sampler = s->sampler, .detok = s->detok, .seq_id = 0,
                     .max_tokens = s->args->n_predict, .stream = stdout, .stop_tokens = s->stops,
                     .n_stop_tokens = s->n_stops, .interrupt = &interrupted};
    st = gen_run(&gc, logits, &out);
    fputc('\n', stdout);
    fflush(stdout);
    bool ok = st == CT_OK;
    if (!ok) report("generating", st);
    /* the cache holds the prompt and the generated tokens that were fed back */
    if (ok && !cache_append(s, out.tokens, out.n_tokens)) ok = false;
    if (ok) {
        int32_t held = ct_seq_len(s->ctx, 0);
        if ((size_t)held < s->cache_n) s->cache_n = (size_t)held;
        ok = push_message(msgs, "assistant", out.text ? out.text : "");
    }
    if (out.stop == GEN_STOP_CONTEXT) fprintf(stderr, "ctorch chat: the context is full (-c); /reset starts over\n");
    if (ct_log_get_level() >= CT_LOG_DEBUG)
        fprintf(stderr, "[%zu tokens in %.2f s, stop: %s]\n", out.n_tokens, out.ms / 1e3, gen_stop_name(out.stop));
    gen_output_free(&out);
    interrupted = 0;
    return ok;
}

static char *read_line(FILE *in, bool *eof) {
    char *line = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t n = getline(&line, &cap, in);
    if (n < 0) {
        free(line);
        *eof = true;
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    return line;
}

int cmd_chat(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse_args(argc, argv, CLI_CHAT, &a);
    if (rc) return rc;
    if (a.help) {
        cli_print_usage(stdout, CLI_CHAT);
        return 0;
    }
    ct_log_set_level(a.verbose ? CT_LOG_DEBUG : CT_LOG_INFO);

    chat_session s = {.args = &a};
    message_list msgs = {0};
    ct_status st;
    rc = 1;
    ct_model_params mp = {.backend = a.backend, .n_threads = a.n_threads};
    ct_context_params cp = ct_context_params_default();
    cp.n_ctx = a.n_ctx;
    cp.kv_type = a.kv_type;
    if ((st = ct_model_load(a.model, &mp, &s.model)) != CT_OK) {
        rc = report("loading the model", st);
        goto done;
    }
    if ((st = ct_chat_template_load(s.model, a.template_name, &s.tmpl)) != CT_OK) {
        rc = report("chat template", st);
        goto done;
    }
    if ((st = ct_context_create(s.model, &cp, &s.ctx)) != CT_OK || (st = ct_sampler_new(s.model, &a.sample, &s.sampler)) != CT_OK ||
        (st = ct_detok_new(s.model, false, &s.detok)) != CT_OK ||
        (st = ct_chat_stop_tokens(s.tmpl, s.model, &s.stops, &s.n_stops)) != CT_OK) {
        rc = report("setting up", st);
        goto done;
    }
    size_t base = 0;
    if (a.system) {
        if (!push_message(&msgs, "system", a.system)) goto done;
        base = 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: Ctrl-C at the prompt ends getline */

    bool tty = isatty(STDIN_FILENO);
    fprintf(stderr, "ctorch chat: template %s, context %d tokens. /exit to leave, /reset to start over.\n",
            ct_chat_template_name(s.tmpl), (int)ct_context_n_ctx(s.ctx));
    for (;;) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        bool eof = false;
        char *line = read_line(stdin, &eof);
        if (eof || interrupted) {
            free(line);
            if (tty) fputc('\n', stdout);
            break;
        }
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) {
            free(line);
            break;
        }
        if (!strcmp(line, "/reset")) {
            clear_messages(&msgs, base);
            ct_seq_truncate(s.ctx, 0, 0);
            s.cache_n = 0;
            ct_sampler_reset(s.sampler);
            free(line);
            continue;
        }
        if (!*line) {
            free(line);
            continue;
        }
        bool pushed = push_message(&msgs, "user", line);
        free(line);
        if (!pushed || !chat_turn(&s, &msgs)) goto done;
    }
    rc = 0;
done:
    clear_messages(&msgs, 0);
    free(msgs.items);
    free(s.cache);
    ct_free(s.stops);
    ct_chat_template_free(s.tmpl);
    ct_detok_free(s.detok);
    ct_sampler_free(s.sampler);
    ct_context_free(s.ctx);
    ct_model_free(s.model);
    return rc;
}
