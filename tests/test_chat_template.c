/* Chat templates: recognition of real templates, byte-exact rendering against jinja2's output
 * (tests/golden/chat/, made by tests/scripts/gen_chat_golden.py), forced names, errors, stops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_template.h"
#include "test_util.h"

#define GOLDEN_DIR CT_SOURCE_DIR "/tests/golden/chat/"

/* The golden templates and the BOS/EOS texts they were rendered with (as in the script). */
typedef struct golden_template {
    const char *name;
    ct_chat_format format;
    const char *bos, *eos;
    bool starts_with_bos; /* the template opens with {{ bos_token }} */
} golden_template;

static const golden_template templates[] = {
    {"smollm2", CT_CHAT_CHATML, "<|im_start|>", "<|im_end|>", false}, /* real: SmolLM2 GGUF */
    {"chatml", CT_CHAT_CHATML, "<s>", "</s>", false},
    {"gemma3", CT_CHAT_GEMMA, "<bos>", "<eos>", true},
    {"llama2", CT_CHAT_LLAMA2, "<s>", "</s>", true},
    {"llama3", CT_CHAT_LLAMA3, "<|begin_of_text|>", "<|eot_id|>", true},
    {"phi3-mini", CT_CHAT_PHI3, "<s>", "<|endoftext|>", true}, /* real: ggml-vocab-phi-3.gguf */
    {"phi35-mini", CT_CHAT_PHI3, "<s>", "<|endoftext|>", false},
};
#define N_TEMPLATES (sizeof templates / sizeof templates[0])

/* The conversations (same as CASES in the script). */
typedef struct golden_case {
    const char *name;
    ct_chat_message messages[4];
    size_t count;
    bool add_generation_prompt;
} golden_case;

static const golden_case cases[] = {
    {"conv",
     {{"system", "You are a concise assistant."},
      {"user", "What is the capital of France?"},
      {"assistant", "Paris."},
      {"user", "And of Italy?"}},
     4,
     true},
    {"nosys", {{"user", "Hello!"}, {"assistant", "Hi! How can I help?"}, {"user", "Tell me a joke."}}, 3, true},
    {"ws",
     {{"system", "  Be brief.\n"},
      {"user", "\xe3\x80\x80 Spaces\taround \xc3\xa9t\xc3\xa9 {{ braces }} 'quotes' \"dq\" \n\n"},
      {"assistant", "  Sure.  "},
      {"user", "\x0bnext\xe2\x80\xa9"}},
     4,
     false},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static char *read_golden(const char *name, const char *suffix, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, GOLDEN_DIR "%s%s", name, suffix);
    char *text = ct_test_read_file(path, len);
    CHECK_MSG(text != NULL, "cannot read %s", path);
    return text;
}

static void print_escaped(const char *label, const char *s, size_t n) {
    fprintf(stderr, "  %s: \"", label);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", stderr);
        else if (c < 0x20 || c == 0x7f)
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
    fputs("\"\n", stderr);
}

/* ---- names and recognition ----------------------------------------------------------------- */

static void test_names(void) {
    for (int f = 0; f < CT_CHAT_FORMAT_COUNT; f++) {
        ct_chat_format got = (ct_chat_format)-1;
        CHECK_OK(ct_chat_format_from_name(ct_chat_format_name((ct_chat_format)f), &got));
        CHECK(got == (ct_chat_format)f);
    }
    CHECK(strcmp(ct_chat_format_name(CT_CHAT_GEMMA), "gemma") == 0);
    ct_chat_format f;
    ct_clear_error();
    CHECK(ct_chat_format_from_name("vicuna", &f) == CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "unknown chat template name 'vicuna'") != NULL);
    CHECK(strstr(ct_last_error(), "chatml, llama2, llama3, gemma, phi3") != NULL);
    CHECK(ct_chat_format_from_name("ChatML", &f) == CT_ERR_INVALID_ARGUMENT); /* names are exact */
}

static void test_detect_real_templates(void) {
    for (size_t i = 0; i < N_TEMPLATES; i++) {
        char *jinja = read_golden(templates[i].name, ".jinja", NULL);
        if (!jinja) continue;
        ct_chat_format f = (ct_chat_format)-1;
        CHECK_OK(ct_chat_format_detect(jinja, &f));
        CHECK_MSG(f == templates[i].format, "%s detected as %s", templates[i].name, ct_chat_format_name(f));
        ct_chat_template *t = NULL;
        CHECK_OK(ct_chat_template_create(jinja, NULL, templates[i].bos, templates[i].eos, &t));
        if (t) {
            const char *sys = ct_chat_template_default_system(t);
            if (strcmp(templates[i].name, "smollm2") == 0)
                CHECK(sys && strcmp(sys, "You are a helpful AI assistant named SmolLM, trained by Hugging Face") == 0);
            else
                CHECK_MSG(sys == NULL, "%s: unexpected default system prompt", templates[i].name);
        }
        ct_chat_template_free(t);
        free(jinja);
    }
}

static void expect_unsupported(const char *jinja, const char *message_part) {
    ct_chat_format f;
    ct_clear_error();
    CHECK_MSG(ct_chat_format_detect(jinja, &f) == CT_ERR_UNSUPPORTED, "expected unsupported: %s", message_part);
    CHECK_MSG(strstr(ct_last_error(), message_part) != NULL, "'%s' lacks '%s'", ct_last_error(), message_part);
    CHECK_MSG(strstr(ct_last_error(), CT_CHAT_FORMAT_NAMES) != NULL, "'%s' does not list the names",
              ct_last_error());
    ct_chat_template *t = (ct_chat_template *)1;
    CHECK(ct_chat_template_create(jinja, NULL, NULL, NULL, &t) == CT_ERR_UNSUPPORTED && t == NULL);
}

static void test_unsupported(void) {
    expect_unsupported(NULL, "the model has no chat template");
    expect_unsupported("{% for m in messages %}### {{ m['role'] }}:\n{{ m['content'] }}\n{% endfor %}",
                       "unrecognised chat template (75 bytes, \"{% for m in messages %}### {{ m['role'] }}: {{ m...\")");
    /* mistralai/Mistral-7B-Instruct-v0.1: [INST] without <<SYS>> renders differently from Llama 2 */
    expect_unsupported("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
                       "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
                       "'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}",
                       "Mistral style");
    expect_unsupported("{{- bos_token }}{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}"
                       "{{- \"Cutting Knowledge Date: December 2023\\n\" }}{{ '<|eot_id|>' }}",
                       "Llama 3.1+");
    expect_unsupported("{% for m in messages %}{{'<|im_start|>' + m['role'] + '<|im_sep|>' + m['content'] + "
                       "'<|im_end|>'}}{% endfor %}",
                       "Phi-4");

    /* a forced name needs no template and ignores an unrecognised one */
    ct_chat_template *t = NULL;
    CHECK_OK(ct_chat_template_create("{{ unknown }}", "llama3", NULL, NULL, &t));
    if (t) CHECK(ct_chat_template_format(t) == CT_CHAT_LLAMA3);
    ct_chat_template_free(t);
    ct_clear_error();
    CHECK(ct_chat_template_create(NULL, "alpaca", NULL, NULL, &t) == CT_ERR_INVALID_ARGUMENT && t == NULL);
    CHECK(strstr(ct_last_error(), "known names: chatml, llama2, llama3, gemma, phi3") != NULL);
}

/* ---- rendering against jinja2 -------------------------------------------------------------- */

/* Render and compare with <golden>.<case>.txt, which has the template's leading BOS (if any). */
static void check_render(const ct_chat_template *t, const char *golden, const golden_case *c) {
    char suffix[64];
    snprintf(suffix, sizeof suffix, ".%s.txt", c->name);
    size_t expected_len = 0;
    char *expected = read_golden(golden, suffix, &expected_len);
    if (!expected) return;
    char *got = NULL;
    size_t got_len = 0;
    CHECK_OK(ct_chat_template_apply(t, c->messages, c->count, c->add_generation_prompt, &got, &got_len));
    const char *want = expected;
    size_t want_len = expected_len;
    if (ct_chat_template_starts_with_bos(t)) { /* the BOS is left to the tokenizer */
        const char *bos = NULL;
        for (size_t i = 0; i < N_TEMPLATES; i++)
            if (strcmp(templates[i].name, golden) == 0) bos = templates[i].bos;
        size_t skip = bos ? strlen(bos) : 0;
        CHECK_MSG(bos && expected_len >= skip && memcmp(expected, bos, skip) == 0,
                  "%s.%s: the golden text does not start with the BOS", golden, c->name);
        want += skip;
        want_len -= skip;
    }
    bool same = got && got_len == want_len && memcmp(got, want, want_len) == 0 && strlen(got) == got_len;
    CHECK_MSG(same, "%s.%s: rendering differs from jinja2", golden, c->name);
    if (!same) {
        print_escaped("jinja2", want, want_len);
        print_escaped("ctorch", got ? got : "", got ? got_len : 0);
    }
    free(got);
    free(expected);
}

static void test_render_goldens(void) {
    for (size_t i = 0; i < N_TEMPLATES; i++) {
        char *jinja = read_golden(templates[i].name, ".jinja", NULL);
        if (!jinja) continue;
        ct_chat_template *t = NULL;
        CHECK_OK(ct_chat_template_create(jinja, NULL, templates[i].bos, templates[i].eos, &t));
        if (t) {
            CHECK_MSG(ct_chat_template_starts_with_bos(t) == templates[i].starts_with_bos,
                      "%s: starts_with_bos is wrong", templates[i].name);
            for (size_t c = 0; c < N_CASES; c++) check_render(t, templates[i].name, &cases[c]);
        }
        ct_chat_template_free(t);
        free(jinja);
    }
}

/* A forced name without a template renders the family's standard form. */
static void test_forced_names(void) {
    static const struct {
        const char *name, *golden;
    } same_as[] = {
        {"gemma", "gemma3"}, {"llama2", "llama2"}, {"llama3", "llama3"}, {"chatml", "chatml"},
        {"phi3", "phi35-mini"}, /* the later Phi-3 form; conv has a non-empty system message */
    };
    for (size_t i = 0; i < sizeof same_as / sizeof same_as[0]; i++) {
        ct_chat_template *t = NULL;
        CHECK_OK(ct_chat_template_create(NULL, same_as[i].name, NULL, NULL, &t));
        if (t) check_render(t, same_as[i].golden, &cases[0]);
        ct_chat_template_free(t);
    }
    /* forcing chatml over SmolLM2's template drops its built-in system prompt */
    char *smol = read_golden("smollm2", ".jinja", NULL);
    ct_chat_template *t = NULL;
    CHECK_OK(ct_chat_template_create(smol, "chatml", NULL, NULL, &t));
    if (t) {
        CHECK(ct_chat_template_default_system(t) == NULL);
        check_render(t, "chatml", &cases[1]);
    }
    ct_chat_template_free(t);
    free(smol);
}

/* ---- errors -------------------------------------------------------------------------------- */

static void expect_apply_error(ct_chat_format format, const ct_chat_message *m, size_t n, const char *part) {
    ct_chat_template *t = NULL;
    CHECK_OK(ct_chat_template_create(NULL, ct_chat_format_name(format), NULL, NULL, &t));
    if (!t) return;
    char *out = (char *)1;
    ct_clear_error();
    CHECK_MSG(ct_chat_template_apply(t, m, n, true, &out, NULL) == CT_ERR_INVALID_ARGUMENT && out == NULL,
              "%s: expected an error containing '%s'", ct_chat_format_name(format), part);
    CHECK_MSG(strstr(ct_last_error(), part) != NULL, "'%s' lacks '%s'", ct_last_error(), part);
    ct_chat_template_free(t);
}

static void test_errors(void) {
    const ct_chat_message two_users[] = {{"system", "s"}, {"user", "a"}, {"user", "b"}};
    expect_apply_error(CT_CHAT_GEMMA, two_users, 3,
                       "chat template gemma: message 2 has role 'user', but roles must alternate");
    const ct_chat_message assistant_first[] = {{"assistant", "a"}, {"user", "b"}};
    expect_apply_error(CT_CHAT_LLAMA2, assistant_first, 2, "message 0 has role 'assistant'");
    const ct_chat_message tool[] = {{"user", "a"}, {"tool", "b"}};
    expect_apply_error(CT_CHAT_CHATML, tool, 2, "message 1 has role 'tool'; expected system, user or assistant");
    const ct_chat_message no_content[] = {{"user", NULL}};
    expect_apply_error(CT_CHAT_LLAMA3, no_content, 1, "message 0 has no content");
    expect_apply_error(CT_CHAT_PHI3, NULL, 0, "the conversation has no messages");

    /* families without the rule accept repeated roles */
    ct_chat_template *t = NULL;
    CHECK_OK(ct_chat_template_create(NULL, "chatml", NULL, NULL, &t));
    char *out = NULL;
    size_t len = 0;
    if (t) CHECK_OK(ct_chat_template_apply(t, two_users, 3, false, &out, &len));
    const char *want = "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\na<|im_end|>\n"
                       "<|im_start|>user\nb<|im_end|>\n";
    CHECK(out && len == strlen(want) && strcmp(out, want) == 0);
    free(out);
    ct_chat_template_free(t);
}

static void test_stop_strings(void) {
    static const struct {
        const char *name, *stop;
    } expect[] = {{"chatml", "<|im_end|>"}, {"llama2", "</s>"}, {"llama3", "<|eot_id|>"},
                  {"gemma", "<end_of_turn>"}, {"phi3", "<|end|>"}};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        ct_chat_template *t = NULL;
        CHECK_OK(ct_chat_template_create(NULL, expect[i].name, NULL, NULL, &t));
        if (!t) continue;
        size_t n = 0;
        const char *const *stops = ct_chat_template_stop_strings(t, &n);
        bool found = false;
        for (size_t k = 0; k < n; k++) found |= strcmp(stops[k], expect[i].stop) == 0;
        CHECK_MSG(found, "%s lacks stop string %s", expect[i].name, expect[i].stop);
        ct_chat_template_free(t);
    }
}

int main(void) {
    test_names();
    test_detect_real_templates();
    test_unsupported();
    test_render_goldens();
    test_forced_names();
    test_errors();
    test_stop_strings();
    return ct_test_finish("test_chat_template");
}
