#include "tokenizer/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* ---- the regex sets ------------------------------------------------------------- */
/* These are llama.cpp's lists (src/llama-vocab.cpp, llm_tokenizer_bpe), which restate each
 * model's tokenizer.json pre-tokenizer; (?i:'s|...) is spelled as '[sS]|... there. */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                                 \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                              \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_CJK_HANGUL "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* DeepSeek LLM's list of cased letters (Lu/Ll/Lt of an older Unicode, as its tokenizer.json
 * spells it; Armenian lowercase is not in it). */
#define RE_DEEPSEEK_CASED                                                                          \
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-"   \
    "\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}"  \
    "\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-"        \
    "\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-" \
    "\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}"        \
    "\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-"       \
    "\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-"         \
    "\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-"        \
    "\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"         \
    "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-"         \
    "\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}"         \
    "\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}"         \
    "\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}"        \
    "\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-"       \
    "\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-"            \
    "\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-"         \
    "\\x{1E943}]+"
#define RE_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"

#define MAX_REGEXES 6

typedef struct pre_family {
    const char *regexes[MAX_REGEXES]; /* NULL-terminated */
    tok_pre_traits traits;
} pre_family;

enum {
    FAM_DEFAULT,
    FAM_GPT2,
    FAM_LLAMA3,
    FAM_LLAMA3_PLAIN, /* Llama 3's regex without its ignore_merges/BOS defaults (dbrx, smaug) */
    FAM_CHATGLM4,
    FAM_QWEN2,
    FAM_STARCODER,
    FAM_FALCON,
    FAM_DEEPSEEK_LLM,
    FAM_DEEPSEEK_CODER,
    FAM_DEEPSEEK3,
    FAM_PORO,
    FAM_VIKING,
};

static const pre_family families[] = {
    [FAM_DEFAULT] = {{"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, {0}},
    [FAM_GPT2] = {{RE_GPT2}, {0}},
    [FAM_LLAMA3] = {{RE_LLAMA3}, {.ignore_merges = true, .add_bos = true}},
    [FAM_LLAMA3_PLAIN] = {{RE_LLAMA3}, {0}},
    [FAM_CHATGLM4] = {{RE_LLAMA3}, {.no_bos = true}},
    [FAM_QWEN2] = {{RE_QWEN2}, {0}},
    [FAM_STARCODER] = {{"\\p{N}", RE_GPT2}, {0}},
    [FAM_FALCON] = {{"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}, {0}},
    [FAM_DEEPSEEK_LLM] = {{"[\\r\\n]", RE_DEEPSEEK_CASED,
                           "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
                           "\\s+$", RE_CJK_HANGUL, "\\p{N}+"},
                          {0}},
    [FAM_DEEPSEEK_CODER] = {{"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK_HANGUL, "\\p{N}"}, {0}},
    [FAM_DEEPSEEK3] = {{"\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
                        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
                        " ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
                       {0}},
    [FAM_PORO] = {{RE_PORO}, {0}},
    [FAM_VIKING] = {{RE_PORO, "\\p{N}"}, {0}},
};

/* `tokenizer.ggml.pre` names and their families, as llama.cpp maps them. */
static const struct {
    const char *name;
    int family;
} pre_names[] = {
    {"default", FAM_DEFAULT},
    {"llama3", FAM_LLAMA3}, {"llama-v3", FAM_LLAMA3}, {"llama-bpe", FAM_LLAMA3},
    {"falcon3", FAM_LLAMA3}, {"falcon-h1", FAM_LLAMA3}, {"pixtral", FAM_LLAMA3},
    {"midm-2.0", FAM_LLAMA3}, {"lfm2", FAM_LLAMA3},
    {"dbrx", FAM_LLAMA3_PLAIN}, {"smaug-bpe", FAM_LLAMA3_PLAIN},
    {"glm4", FAM_CHATGLM4}, {"chatglm-bpe", FAM_CHATGLM4},
    {"deepseek-llm", FAM_DEEPSEEK_LLM},
    {"deepseek-coder", FAM_DEEPSEEK_CODER},
    {"deepseek-v3", FAM_DEEPSEEK3},
    {"falcon", FAM_FALCON},
    {"mpt", FAM_GPT2}, {"gpt-2", FAM_GPT2}, {"phi-2", FAM_GPT2}, {"jina-es", FAM_GPT2},
    {"jina-de", FAM_GPT2}, {"gigachat", FAM_GPT2}, {"jina-v2-es", FAM_GPT2}, {"jina-v2-de", FAM_GPT2},
    {"jina-v1-en", FAM_GPT2}, {"jina-v2-code", FAM_GPT2}, {"roberta-bpe", FAM_GPT2},
    {"a.x-4.0", FAM_GPT2}, {"mellum", FAM_GPT2}, {"exaone4", FAM_GPT2}, {"olmo", FAM_GPT2},
    {"jais", FAM_GPT2}, {"trillion", FAM_GPT2}, {"granite-docling", FAM_GPT2},
    {"starcoder", FAM_STARCODER}, {"refact", FAM_STARCODER}, {"command-r", FAM_STARCODER},
    {"smollm", FAM_STARCODER}, {"codeshell", FAM_STARCODER}, {"exaone", FAM_STARCODER},
    {"minerva-7b", FAM_STARCODER},
    {"qwen2", FAM_QWEN2}, {"deepseek-r1-qwen", FAM_QWEN2}, {"megrez", FAM_QWEN2},
    {"stablelm2", FAM_QWEN2}, {"hunyuan", FAM_QWEN2},
    {"poro-chat", FAM_PORO}, {"bloom", FAM_PORO}, {"gpt3-finnish", FAM_PORO},
    {"viking", FAM_VIKING},
};

/* ---- compiling ---------------------------------------------------------------- */

/* Unicode White_Space, the meaning of \s in the reference (Python `regex`, Oniguruma). */
#define WHITE_SPACE_SET \
    "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

/* Rewrite \s and \S into explicit White_Space classes. Returns a malloc'd pattern or NULL
 * (out of memory, or \S inside a class, which no pattern here uses). */
static char *spell_out_whitespace(const char *re) {
    size_t cap = strlen(re) * 8 + 256, n = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    bool in_class = false;
    size_t class_start = 0;
    for (size_t i = 0; re[i]; i++) {
        const char *add = NULL;
        char buf[3] = {0};
        if (re[i] == '\\' && re[i + 1]) {
            char c = re[i + 1];
            i++;
            if (c == 's') add = in_class ? WHITE_SPACE_SET : "[" WHITE_SPACE_SET "]";
            else if (c == 'S' && !in_class) add = "[^" WHITE_SPACE_SET "]";
            else if (c == 'S') {
                free(out);
                return NULL;
            } else {
                buf[0] = '\\';
                buf[1] = c;
                add = buf;
            }
        } else {
            if (!in_class && re[i] == '[') {
                in_class = true;
                class_start = i;
            } else if (in_class && re[i] == ']' && i > class_start + 1 &&
                       !(i == class_start + 2 && re[class_start + 1] == '^')) {
                in_class = false;
            }
            buf[0] = re[i];
            add = buf;
        }
        size_t k = strlen(add);
        if (n + k + 1 > cap) {
            free(out);
            return NULL;
        }
        memcpy(out + n, add, k);
        n += k;
    }
    out[n] = '\0';
    return out;
}

struct tok_pretok {
    int n_regexes;
    pcre2_code *codes[MAX_REGEXES];
};

void tok_pretok_free(tok_pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n_regexes; i++) pcre2_code_free(p->codes[i]);
    free(p);
}

ct_status tok_pretok_create(const char *name, tok_pretok **out, tok_pre_traits *traits) {
    *out = NULL;
    if (!name || !*name) name = "default";
    int family = -1;
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++)
        if (!strcmp(pre_names[i].name, name)) family = pre_names[i].family;
    if (family < 0)
        return ct_fail(CT_ERR_UNSUPPORTED, "unknown pre-tokenizer '%s' (tokenizer.ggml.pre)", name);
    const pre_family *fam = &families[family];
    tok_pretok *p = calloc(1, sizeof *p);
    if (!p) return ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory creating the pre-tokenizer");
    for (int i = 0; i < MAX_REGEXES && fam->regexes[i]; i++) {
        char *pattern = spell_out_whitespace(fam->regexes[i]);
        if (!pattern) {
            tok_pretok_free(p);
            return ct_fail(CT_ERR_INTERNAL, "pre-tokenizer '%s': cannot rewrite regex %d", name, i);
        }
        int err;
        PCRE2_SIZE err_off;
        /* DOLLAR_ENDONLY: `$` is the end of the piece only, as in ECMAScript and Oniguruma */
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                         PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &err, &err_off, NULL);
        free(pattern);
        if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            tok_pretok_free(p);
            return ct_fail(CT_ERR_INTERNAL, "pre-tokenizer '%s': regex %d does not compile at %zu: %s", name, i,
                           (size_t)err_off, (const char *)msg);
        }
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* the interpreter runs when JIT is unavailable */
        p->codes[p->n_regexes++] = code;
    }
    *out = p;
    if (traits) *traits = fam->traits;
    return CT_OK;
}

/* ---- splitting ---------------------------------------------------------------- */

struct tok_split_scratch {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    tok_span *a, *b;
    size_t cap_a, cap_b;
};

void tok_split_scratch_free(tok_split_scratch *s) {
    if (!s) return;
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    pcre2_jit_stack_free(s->jit_stack);
    free(s->a);
    free(s->b);
    free(s);
}

ct_status tok_split_scratch_create(const tok_pretok *p, tok_split_scratch **out) {
    tok_split_scratch *s = calloc(1, sizeof *s);
    if (!s) return ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory for pre-tokenizer scratch");
    s->md = pcre2_match_data_create(4, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    /* lookaheads over long runs need more than PCRE2's default 32 KiB JIT stack */
    s->jit_stack = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, NULL);
    if (!s->md || !s->mctx) {
        tok_split_scratch_free(s);
        return ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory for pre-tokenizer scratch");
    }
    if (s->jit_stack) pcre2_jit_stack_assign(s->mctx, NULL, s->jit_stack);
    (void)p;
    *out = s;
    return CT_OK;
}

static ct_status push_span(tok_span **arr, size_t *n, size_t *cap, size_t start, size_t len) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        tok_span *grown = ct_realloc_array(*arr, c, sizeof **arr, "pre-tokenizer pieces");
        if (!grown) return CT_ERR_OUT_OF_MEMORY;
        *arr = grown;
        *cap = c;
    }
    (*arr)[(*n)++] = (tok_span){start, len};
    return CT_OK;
}

/* Split one piece by one regex into matches and gaps, appending to (dst, n_dst). */
static ct_status split_piece(const pcre2_code *code, tok_split_scratch *s, const char *text, tok_span piece,
                             tok_span **dst, size_t *n_dst, size_t *cap_dst) {
    PCRE2_SPTR subject = (PCRE2_SPTR)(text + piece.start);
    size_t n = piece.len, prev_end = 0, offset = 0;
    while (offset < n) {
        int rc = pcre2_match(code, subject, n, offset, PCRE2_NO_UTF_CHECK, s->md, s->mctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return ct_fail(CT_ERR_RANGE, "pre-tokenizer regex failed on a %zu-byte piece: %s", n,
                           (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) {
            /* an empty match splits nothing: step over one character */
            offset = ms + 1;
            while (offset < n && (subject[offset] & 0xC0) == 0x80) offset++;
            continue;
        }
        if (ms > prev_end) CT_TRY(push_span(dst, n_dst, cap_dst, piece.start + prev_end, ms - prev_end));
        CT_TRY(push_span(dst, n_dst, cap_dst, piece.start + ms, me - ms));
        prev_end = offset = me;
    }
    if (prev_end < n) CT_TRY(push_span(dst, n_dst, cap_dst, piece.start + prev_end, n - prev_end));
    return CT_OK;
}

ct_status tok_pretok_split(const tok_pretok *p, tok_split_scratch *s, const char *text, size_t len,
                           const tok_span **words, size_t *n_words) {
    size_t n_a = 0, n_b;
    if (len) CT_TRY(push_span(&s->a, &n_a, &s->cap_a, 0, len));
    for (int r = 0; r < p->n_regexes; r++) {
        n_b = 0;
        for (size_t i = 0; i < n_a; i++) CT_TRY(split_piece(p->codes[r], s, text, s->a[i], &s->b, &n_b, &s->cap_b));
        /* swap: the output of this pass is the input of the next */
        tok_span *t = s->a;
        s->a = s->b;
        s->b = t;
        size_t c = s->cap_a;
        s->cap_a = s->cap_b;
        s->cap_b = c;
        n_a = n_b;
    }
    *words = s->a;
    *n_words = n_a;
    return CT_OK;
}
