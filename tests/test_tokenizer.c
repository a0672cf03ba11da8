/* Tokenizer algorithms on small hand-made vocabularies (expected ids worked out by hand
 * from the algorithm's definition), the streaming detokenizer, and malformed vocabularies.
 * Real vocabularies are tested in test_tokenizer_vectors.c / _golden.c / _robust.c. */
#include <stdbool.h>
#include <string.h>

#include "gguf/gguf.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

/* ---- building toy vocabularies ---------------------------------------------------- */

#define MAX_TOY 400

typedef struct toy_vocab {
    const char *model; /* "llama" or "gpt2" */
    const char *pre;
    const char *tokens[MAX_TOY];
    char token_buf[MAX_TOY][16];
    float scores[MAX_TOY];
    int32_t types[MAX_TOY];
    int n;
    const char *merges[16];
    int n_merges;
} toy_vocab;

static int toy_add(toy_vocab *v, const char *text, float score, int32_t type) {
    v->tokens[v->n] = text;
    v->scores[v->n] = score;
    v->types[v->n] = type;
    return v->n++;
}

static void toy_free_writer(gguf_writer *w) { gguf_writer_free(w); }

/* Writes the vocabulary to a file in the build directory and loads it. extra() may add or
 * break keys. Returns the load status. */
static ct_status toy_load(const toy_vocab *v, const char *name, void (*extra)(gguf_writer *), ct_tokenizer **tok,
                          gguf_file **file) {
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer_toy_%s.gguf", CT_BINARY_DIR, name);
    gguf_writer *w = NULL;
    CHECK_OK(gguf_writer_create(&w));
    if (!w) return CT_ERR_INTERNAL;
    CHECK_OK(gguf_writer_set_str(w, "general.architecture", "llama"));
    if (v->model) CHECK_OK(gguf_writer_set_str(w, "tokenizer.ggml.model", v->model));
    if (v->pre) CHECK_OK(gguf_writer_set_str(w, "tokenizer.ggml.pre", v->pre));
    CHECK_OK(gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", v->tokens, NULL, (uint64_t)v->n));
    CHECK_OK(gguf_writer_set_array(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v->scores, (uint64_t)v->n));
    CHECK_OK(gguf_writer_set_array(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->types, (uint64_t)v->n));
    if (v->n_merges)
        CHECK_OK(gguf_writer_set_str_array(w, "tokenizer.ggml.merges", v->merges, NULL, (uint64_t)v->n_merges));
    if (extra) extra(w);
    CHECK_OK(gguf_writer_write_file(w, path));
    toy_free_writer(w);
    *tok = NULL;
    *file = NULL;
    ct_status st = gguf_open(path, file);
    CHECK_OK(st);
    if (st != CT_OK) return st;
    return ct_tokenizer_load(*file, tok);
}

/* SPM toy: <unk> <s> </s>, 256 byte tokens, then a few pieces whose scores make the
 * merge order differ from left-to-right. */
enum { SPM_UNK = 0, SPM_BOS = 1, SPM_EOS = 2, SPM_BYTE0 = 3 };
static int spm_space, spm_a, spm_b, spm_c, spm_ab, spm_bc, spm_abc, spm_space_a, spm_user;

static void make_spm(toy_vocab *v) {
    memset(v, 0, sizeof *v);
    v->model = "llama";
    toy_add(v, "<unk>", 0, CT_TOKEN_UNKNOWN);
    toy_add(v, "<s>", 0, CT_TOKEN_CONTROL);
    toy_add(v, "</s>", 0, CT_TOKEN_CONTROL);
    for (int b = 0; b < 256; b++) {
        snprintf(v->token_buf[b], sizeof v->token_buf[b], "<0x%02X>", b);
        toy_add(v, v->token_buf[b], 0, CT_TOKEN_BYTE);
    }
    spm_space = toy_add(v, "\xE2\x96\x81", -1.0f, CT_TOKEN_NORMAL);
    spm_a = toy_add(v, "a", -2.0f, CT_TOKEN_NORMAL);
    spm_b = toy_add(v, "b", -2.0f, CT_TOKEN_NORMAL);
    spm_c = toy_add(v, "c", -2.0f, CT_TOKEN_NORMAL);
    spm_ab = toy_add(v, "ab", -3.0f, CT_TOKEN_NORMAL);
    spm_bc = toy_add(v, "bc", -1.5f, CT_TOKEN_NORMAL);
    spm_abc = toy_add(v, "abc", -1.0f, CT_TOKEN_NORMAL);
    spm_space_a = toy_add(v, "\xE2\x96\x81" "a", -4.0f, CT_TOKEN_NORMAL);
    spm_user = toy_add(v, "<user>", 0, CT_TOKEN_USER_DEFINED);
}

static bool ids_equal(const ct_tokens *t, const int32_t *want, size_t n) {
    if (t->count != n) return false;
    return n == 0 || memcmp(t->ids, want, n * sizeof *want) == 0;
}

#define CHECK_ENCODE(tok, text, flags, ...)                                                             \
    do {                                                                                                \
        const int32_t want_[] = {__VA_ARGS__};                                                          \
        ct_tokens got_ = {0};                                                                           \
        CHECK_OK(ct_tokenizer_encode(tok, text, strlen(text), flags, &got_));                           \
        CHECK_MSG(ids_equal(&got_, want_, sizeof want_ / sizeof want_[0]), "encode('%s') gives %zu ids", \
                  text, got_.count);                                                                    \
        ct_tokens_free(&got_);                                                                          \
    } while (0)

static void check_decode(const ct_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags, const char *want) {
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(ct_tokenizer_decode(tok, ids, n, flags, &text, &len));
    CHECK_MSG(text && len == strlen(want) && !memcmp(text, want, len), "decoded '%s', want '%s'", text ? text : "",
              want);
    free(text);
}

static void test_spm(void) {
    toy_vocab v;
    make_spm(&v);
    ct_tokenizer *tok;
    gguf_file *f;
    CHECK_OK(toy_load(&v, "spm", NULL, &tok, &f));
    /* the tokenizer owns copies of everything: the file can go (ASan would see a use) */
    gguf_close(f);
    f = NULL;
    if (!tok) return;
    CHECK(ct_tokenizer_kind(tok) == CT_VOCAB_SPM);
    CHECK(ct_tokenizer_bos(tok) == SPM_BOS && ct_tokenizer_eos(tok) == SPM_EOS && ct_tokenizer_unk(tok) == SPM_UNK);
    CHECK(ct_tokenizer_adds_bos(tok) && !ct_tokenizer_adds_eos(tok) && ct_tokenizer_adds_space_prefix(tok));

    /* "▁abc": pairs ▁a(-4) ab(-3) bc(-1.5): bc first, then a+bc = abc(-1); ▁+abc is no token */
    CHECK_ENCODE(tok, "abc", 0, spm_space, spm_abc);
    /* "▁ab": ▁a(-4) vs ab(-3): ab wins */
    CHECK_ENCODE(tok, "ab", 0, spm_space, spm_ab);
    CHECK_ENCODE(tok, "a", 0, spm_space_a);
    CHECK_ENCODE(tok, "a", CT_ENCODE_ADD_SPECIAL, SPM_BOS, spm_space_a);
    CHECK_ENCODE(tok, "", 0);
    CHECK_ENCODE(tok, "", CT_ENCODE_ADD_SPECIAL, SPM_BOS);
    /* spaces become ▁; "▁▁c" has no pair that is a token */
    CHECK_ENCODE(tok, " c", 0, spm_space, spm_space, spm_c);
    /* byte fallback: é = C3 A9 is no token */
    CHECK_ENCODE(tok, "\xC3\xA9", 0, spm_space, SPM_BYTE0 + 0xC3, SPM_BYTE0 + 0xA9);
    /* an invalid byte is its own symbol: 0xE2 then 'a' still merges with nothing before it */
    CHECK_ENCODE(tok, "\xE2" "ab", 0, spm_space, SPM_BYTE0 + 0xE2, spm_ab);
    /* user-defined tokens always split the text; text after a special token gets a ▁ */
    CHECK_ENCODE(tok, "a<user>b", 0, spm_space_a, spm_user, spm_space, spm_b);
    /* control tokens only when asked */
    CHECK_ENCODE(tok, "<s>a", CT_ENCODE_PARSE_SPECIAL, SPM_BOS, spm_space_a);
    CHECK_ENCODE(tok, "<s>", 0, spm_space, SPM_BYTE0 + '<', SPM_BYTE0 + 's', SPM_BYTE0 + '>');

    /* decoding undoes the ▁ prefix; control tokens are dropped unless rendered */
    const int32_t ids1[] = {SPM_BOS, spm_space, spm_abc, spm_space, SPM_BYTE0 + 0xC3, SPM_BYTE0 + 0xA9};
    check_decode(tok, ids1, 6, 0, "abc \xC3\xA9");
    check_decode(tok, ids1, 6, CT_DECODE_KEEP_PREFIX_SPACE, " abc \xC3\xA9");
    check_decode(tok, ids1, 6, CT_DECODE_RENDER_SPECIAL, "<s> abc \xC3\xA9");
    /* a lone continuation byte decodes to U+FFFD */
    const int32_t ids2[] = {spm_a, SPM_BYTE0 + 0xA9, spm_b};
    check_decode(tok, ids2, 3, 0, "a\xEF\xBF\xBD" "b");
    size_t len;
    const char *piece = ct_tokenizer_piece(tok, spm_space_a, false, &len);
    CHECK(len == 2 && !memcmp(piece, " a", 2));
    piece = ct_tokenizer_piece(tok, SPM_EOS, false, &len);
    CHECK(len == 0);
    piece = ct_tokenizer_piece(tok, SPM_EOS, true, &len);
    CHECK(len == 4 && !memcmp(piece, "</s>", 4));
    ct_tokenizer_piece(tok, 99999, true, &len);
    CHECK(len == 0);
    CHECK(ct_tokenizer_find(tok, "ab", 2) == spm_ab && ct_tokenizer_find(tok, "zz", 2) == CT_TOKEN_NONE);
    CHECK(ct_tokenizer_is_eog(tok, SPM_EOS) && !ct_tokenizer_is_eog(tok, SPM_BOS));
    CHECK(ct_tokenizer_token_type(tok, SPM_BYTE0) == CT_TOKEN_BYTE);
    ct_tokenizer_free(tok);
    gguf_close(f);
}

/* The streaming detokenizer never emits half a character. */
static void test_detok_stream(void) {
    toy_vocab v;
    make_spm(&v);
    ct_tokenizer *tok;
    gguf_file *f;
    CHECK_OK(toy_load(&v, "spm_stream", NULL, &tok, &f));
    if (!tok) return;
    ct_detok *d = NULL;
    CHECK_OK(ct_detok_create(tok, 0, &d));
    if (d) {
        size_t len;
        const char *out;
        /* U+1F600 in four byte tokens: nothing until the fourth */
        const uint8_t emoji[4] = {0xF0, 0x9F, 0x98, 0x80};
        for (int i = 0; i < 3; i++) {
            out = ct_detok_push(d, SPM_BYTE0 + emoji[i], &len);
            CHECK_MSG(len == 0, "byte %d of 4 emitted %zu bytes", i, len);
        }
        out = ct_detok_push(d, SPM_BYTE0 + emoji[3], &len);
        CHECK(len == 4 && !memcmp(out, emoji, 4));
        /* the ▁ of a normal token is a space; a lone 0xFF is U+FFFD */
        out = ct_detok_push(d, spm_space_a, &len);
        CHECK(len == 2 && !memcmp(out, " a", 2));
        out = ct_detok_push(d, SPM_BYTE0 + 0xFF, &len);
        CHECK(len == 3 && !memcmp(out, "\xEF\xBF\xBD", 3));
        /* a sequence cut short by the next token: U+FFFD for the cut part, then the token */
        out = ct_detok_push(d, SPM_BYTE0 + 0xC3, &len);
        CHECK(len == 0);
        out = ct_detok_push(d, spm_b, &len);
        CHECK(len == 4 && !memcmp(out, "\xEF\xBF\xBD" "b", 4));
        /* control tokens are silent unless rendered */
        out = ct_detok_push(d, SPM_EOS, &len);
        CHECK(len == 0);
        /* a dangling lead byte at the end comes out as U+FFFD */
        out = ct_detok_push(d, SPM_BYTE0 + 0xE2, &len);
        CHECK(len == 0);
        out = ct_detok_push(d, SPM_BYTE0 + 0x82, &len);
        CHECK(len == 0);
        out = ct_detok_flush(d, &len);
        CHECK(len == 3 && !memcmp(out, "\xEF\xBF\xBD", 3));
        out = ct_detok_flush(d, &len);
        CHECK(len == 0);
        /* out-of-range ids are ignored */
        out = ct_detok_push(d, -5, &len);
        CHECK(len == 0);
        ct_detok_free(d);
    }
    CHECK_OK(ct_detok_create(tok, CT_DECODE_RENDER_SPECIAL, &d));
    if (d) {
        size_t len;
        const char *out = ct_detok_push(d, SPM_EOS, &len);
        CHECK(len == 4 && !memcmp(out, "</s>", 4));
        ct_detok_free(d);
    }
    ct_tokenizer_free(tok);
    gguf_close(f);
}

/* BPE toy: the 256 byte symbols, then merges whose ranks disagree with position. */
static char bpe_byte_text[256][4];
static int bpe_ab, bpe_bc, bpe_abc, bpe_eot;

static void make_bpe(toy_vocab *v) {
    memset(v, 0, sizeof *v);
    v->model = "gpt2";
    v->pre = "gpt-2";
    /* byte b is spelled as a code point: printable Latin-1 as itself, others from U+0100 */
    int next = 0x100;
    for (int b = 0; b < 256; b++) {
        int cpt = ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)) ? b : next++;
        char *s = bpe_byte_text[b];
        if (cpt < 0x80) s[0] = (char)cpt, s[1] = 0;
        else s[0] = (char)(0xC0 | (cpt >> 6)), s[1] = (char)(0x80 | (cpt & 0x3F)), s[2] = 0;
        toy_add(v, s, 0, CT_TOKEN_NORMAL);
    }
    bpe_bc = toy_add(v, "bc", 0, CT_TOKEN_NORMAL);
    bpe_ab = toy_add(v, "ab", 0, CT_TOKEN_NORMAL);
    bpe_abc = toy_add(v, "abc", 0, CT_TOKEN_NORMAL);
    bpe_eot = toy_add(v, "<|endoftext|>", 0, CT_TOKEN_CONTROL);
    v->merges[v->n_merges++] = "b c";  /* rank 0 */
    v->merges[v->n_merges++] = "a b";  /* rank 1 */
    v->merges[v->n_merges++] = "a bc"; /* rank 2 */
    v->merges[v->n_merges++] = "x y";  /* rank 3: its result "xy" is no token */
}

static void test_bpe(void) {
    toy_vocab v;
    make_bpe(&v);
    ct_tokenizer *tok;
    gguf_file *f;
    CHECK_OK(toy_load(&v, "bpe", NULL, &tok, &f));
    if (!tok) return;
    CHECK(ct_tokenizer_kind(tok) == CT_VOCAB_BPE);
    CHECK(!strcmp(ct_tokenizer_pre_name(tok), "gpt-2"));
    CHECK(!ct_tokenizer_adds_bos(tok) && !ct_tokenizer_adds_space_prefix(tok));
    /* "abc": (b,c) has rank 0 so it merges before (a,b); then a+bc */
    CHECK_ENCODE(tok, "abc", 0, bpe_abc);
    CHECK_ENCODE(tok, "abab", 0, bpe_ab, bpe_ab);
    /* the regex splits " abc" off as its own word: 'Ġ' (byte 0x20) stays alone */
    /* (the byte symbols are tokens 0..255 in byte order) */
    CHECK_ENCODE(tok, "abc abc", 0, bpe_abc, ' ', bpe_abc);
    /* a merge whose result is not a token falls back to the bytes */
    CHECK_ENCODE(tok, "xy", 0, 'x', 'y');
    /* control tokens only when asked; otherwise they are text */
    CHECK_ENCODE(tok, "<|endoftext|>", CT_ENCODE_PARSE_SPECIAL, bpe_eot);
    ct_tokens t = {0};
    CHECK_OK(ct_tokenizer_encode(tok, "<|endoftext|>", 13, 0, &t));
    CHECK(t.count > 1);
    ct_tokens_free(&t);
    /* invalid UTF-8 becomes U+FFFD (EF BF BD) before byte-level encoding */
    CHECK_OK(ct_tokenizer_encode(tok, "\xFF", 1, 0, &t));
    CHECK(t.count == 3);
    if (t.count == 3) CHECK(t.ids[0] == 0xEF && t.ids[1] == 0xBF && t.ids[2] == 0xBD);
    ct_tokens_free(&t);
    check_decode(tok, (const int32_t[]){bpe_abc, ' ', bpe_ab}, 3, 0, "abc ab");
    ct_tokenizer_free(tok);
    gguf_close(f);
}

/* ---- malformed vocabularies fail with a message, never crash ------------------------ */

static void drop_nothing(gguf_writer *w) { (void)w; }
static void bad_pre(gguf_writer *w) { CHECK_OK(gguf_writer_set_str(w, "tokenizer.ggml.pre", "no-such-pre")); }
static void bad_model(gguf_writer *w) { CHECK_OK(gguf_writer_set_str(w, "tokenizer.ggml.model", "t5x")); }
static void bad_scores(gguf_writer *w) {
    float one = 1.0f;
    CHECK_OK(gguf_writer_set_array(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, &one, 1));
}
static void bad_tokens_type(gguf_writer *w) {
    int32_t ids[2] = {1, 2};
    CHECK_OK(gguf_writer_set_array(w, "tokenizer.ggml.tokens", GGUF_TYPE_INT32, ids, 2));
}
static void bos_out_of_range(gguf_writer *w) {
    CHECK_OK(gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1u << 30));
    CHECK_OK(gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false));
}
static void add_bos_without_bos(gguf_writer *w) {
    CHECK_OK(gguf_writer_set_str(w, "tokenizer.ggml.pre", "chatglm-bpe")); /* no default BOS */
    CHECK_OK(gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true));
}

static void expect_load_error(const toy_vocab *v, const char *name, void (*extra)(gguf_writer *), ct_status want) {
    ct_tokenizer *tok = NULL;
    gguf_file *f = NULL;
    ct_status st = toy_load(v, name, extra, &tok, &f);
    CHECK_MSG(st == want, "%s: status %s (%s), want %s", name, ct_status_name(st), ct_last_error(),
              ct_status_name(want));
    CHECK_MSG(st == CT_OK || strlen(ct_last_error()) > 0, "%s: no error message", name);
    if (st != CT_OK) printf("  %s: %s\n", name, ct_last_error());
    ct_tokenizer_free(tok);
    gguf_close(f);
}

static void test_malformed(void) {
    toy_vocab v;
    make_bpe(&v);
    expect_load_error(&v, "bad_pre", bad_pre, CT_ERR_UNSUPPORTED);
    expect_load_error(&v, "bad_model", bad_model, CT_ERR_UNSUPPORTED);
    expect_load_error(&v, "bad_scores", bad_scores, CT_ERR_FORMAT);
    expect_load_error(&v, "bad_tokens_type", bad_tokens_type, CT_ERR_FORMAT);
    expect_load_error(&v, "add_bos_without_bos", add_bos_without_bos, CT_ERR_FORMAT);
    v.n_merges = 0;
    expect_load_error(&v, "no_merges", drop_nothing, CT_ERR_NOT_FOUND);
    make_bpe(&v);
    v.model = NULL;
    expect_load_error(&v, "no_model", drop_nothing, CT_ERR_NOT_FOUND);
    make_bpe(&v);
    v.tokens[257] = v.tokens[5]; /* a duplicate */
    expect_load_error(&v, "duplicate", drop_nothing, CT_ERR_FORMAT);

    /* an out-of-range special id is ignored, not trusted */
    make_spm(&v);
    ct_tokenizer *tok = NULL;
    gguf_file *f = NULL;
    CHECK_OK(toy_load(&v, "bos_range", bos_out_of_range, &tok, &f));
    if (tok) CHECK(ct_tokenizer_bos(tok) == SPM_BOS && !ct_tokenizer_adds_bos(tok));
    ct_tokenizer_free(tok);
    gguf_close(f);
}

int main(void) {
    test_spm();
    test_detok_stream();
    test_bpe();
    test_malformed();
    return ct_test_finish("test_tokenizer");
}
