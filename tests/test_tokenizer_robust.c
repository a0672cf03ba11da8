/* Real vocabularies under random and hostile input:
 *   - decode(encode(x)) == x for random Unicode strings (every script and plane);
 *   - random bytes (invalid UTF-8) never crash: SPM pieces reproduce the bytes exactly,
 *     BPE reproduces them with each invalid byte as U+FFFD;
 *   - 1 MB of one repeated character tokenizes in linear time (no quadratic blow-up);
 *   - the streaming detokenizer gives the same text as decode, token by token.
 * Vocabularies: the shared vector GGUFs and the real models, whichever are present. */
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_bytes.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static size_t put_utf8(uint32_t c, char *o) {
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* A random code point from a mix of pools: ASCII and whitespace, Latin, Cyrillic, Greek,
 * Arabic, Devanagari, Thai, CJK, Hangul, emoji, combining marks, anything valid. */
static uint32_t random_cpt(ct_test_rng *rng) {
    static const uint32_t pools[][2] = {
        {0x20, 0x7E}, {0x09, 0x0D}, {0x20, 0x20}, {0xA0, 0x24F}, {0x300, 0x36F}, {0x370, 0x3FF}, {0x400, 0x4FF},
        {0x600, 0x6FF}, {0x900, 0x97F}, {0xE00, 0xE7F}, {0x2000, 0x206F}, {0x3000, 0x30FF}, {0x4E00, 0x9FFF},
        {0xAC00, 0xD7A3}, {0x1F300, 0x1FAFF}, {0x1, 0x10FFFF},
    };
    unsigned p = (unsigned)(ct_test_rng_next(rng) % (sizeof pools / sizeof pools[0]));
    for (;;) {
        uint32_t c = pools[p][0] + (uint32_t)(ct_test_rng_next(rng) % (pools[p][1] - pools[p][0] + 1));
        if (c >= 0xD800 && c <= 0xDFFF) continue; /* surrogates are not characters */
        return c;
    }
}

/* Replace each byte that starts no well-formed sequence by U+FFFD (what BPE encodes). */
static size_t sanitize_bytewise(const unsigned char *s, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        if (ok && len > 1) {
            unsigned b = s[i + 1];
            ok = c == 0xE0 ? (b >= 0xA0 && b <= 0xBF) : c == 0xED ? (b >= 0x80 && b <= 0x9F)
               : c == 0xF0 ? (b >= 0x90 && b <= 0xBF) : c == 0xF4 ? (b >= 0x80 && b <= 0x8F) : (b & 0xC0) == 0x80;
            for (size_t j = 2; ok && j < len; j++) ok = (s[i + j] & 0xC0) == 0x80;
        }
        if (ok) {
            memcpy(out + k, s + i, len);
            k += len;
            i += len;
        } else {
            memcpy(out + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i++;
        }
    }
    return k;
}

/* Byte-level vocabularies need not spell every byte (StarCoder and SmolLM2 lack 0xF1,
 * SmolLM2 a few control bytes): such bytes are dropped by every implementation, so the
 * round trips only use bytes the vocabulary can spell. SPM falls back to <0xNN>. */
static bool byte_ok[256];

static void find_representable_bytes(const ct_tokenizer *tok) {
    for (int b = 0; b < 256; b++) {
        if (ct_tokenizer_kind(tok) == CT_VOCAB_SPM) {
            byte_ok[b] = true;
            continue;
        }
        char s[4];
        size_t n = tok_utf8_encode(tok_byte_to_cpt((uint8_t)b), s);
        byte_ok[b] = ct_tokenizer_find(tok, s, n) != CT_TOKEN_NONE;
    }
}

static bool spellable(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!byte_ok[(unsigned char)s[i]]) return false;
    return true;
}

static double cpu_seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }

static void test_round_trips(const char *name, const ct_tokenizer *tok, ct_test_rng *rng) {
    char text[512];
    int failures = 0;
    for (int iter = 0; iter < 300; iter++) {
        size_t n = 0, n_cpts = (size_t)(ct_test_rng_next(rng) % 60);
        for (size_t i = 0; i < n_cpts; i++) {
            char one[4];
            size_t k = put_utf8(random_cpt(rng), one);
            if (spellable(one, k)) memcpy(text + n, one, k), n += k;
        }
        ct_tokens t = {0};
        CHECK_OK(ct_tokenizer_encode(tok, text, n, CT_ENCODE_ADD_SPECIAL, &t));
        char *back = NULL;
        size_t back_len = 0;
        CHECK_OK(ct_tokenizer_decode(tok, t.ids, t.count, 0, &back, &back_len));
        bool same = back && back_len == n && !memcmp(back, text, n);
        if (!same && failures++ < 3) CHECK_MSG(same, "%s: round trip of '%.*s' gave '%s'", name, (int)n, text, back);
        /* streaming gives the same text */
        ct_detok *d = NULL;
        CHECK_OK(ct_detok_create(tok, 0, &d));
        if (d && back) {
            char streamed[2048];
            size_t k = 0, len;
            bool ok = true;
            for (size_t i = 0; i < t.count; i++) {
                const char *piece = ct_detok_push(d, t.ids[i], &len);
                if (k + len > sizeof streamed) ok = false;
                else memcpy(streamed + k, piece, len), k += len;
            }
            const char *tail = ct_detok_flush(d, &len);
            if (k + len <= sizeof streamed) memcpy(streamed + k, tail, len), k += len;
            /* decode drops the SPM prefix space; streaming keeps it */
            size_t skip = ct_tokenizer_adds_space_prefix(tok) && k > 0 && streamed[0] == ' ' ? 1 : 0;
            bool match = ok && k - skip == back_len && !memcmp(streamed + skip, back, back_len);
            if (!match && failures++ < 3) CHECK_MSG(match, "%s: streaming differs for '%.*s'", name, (int)n, text);
        }
        ct_detok_free(d);
        free(back);
        ct_tokens_free(&t);
    }
    CHECK_MSG(failures == 0, "%s: %d random round trips failed", name, failures);
}

static void test_random_bytes(const char *name, const ct_tokenizer *tok, ct_test_rng *rng) {
    unsigned char bytes[256];
    char want[1024];
    int failures = 0;
    for (int iter = 0; iter < 200; iter++) {
        size_t n = (size_t)(ct_test_rng_next(rng) % sizeof bytes);
        for (size_t i = 0; i < n; i++) bytes[i] = (unsigned char)ct_test_rng_next(rng);
        ct_tokens t = {0};
        CHECK_OK(ct_tokenizer_encode(tok, (const char *)bytes, n, CT_ENCODE_PARSE_SPECIAL, &t));
        for (size_t i = 0; i < t.count; i++) CHECK(t.ids[i] >= 0 && t.ids[i] < ct_tokenizer_n_vocab(tok));
        /* the pieces, concatenated */
        char got[4096];
        size_t k = 0;
        for (size_t i = 0; i < t.count && k < sizeof got - 512; i++) {
            size_t len;
            const char *p = ct_tokenizer_piece(tok, t.ids[i], true, &len);
            memcpy(got + k, p, len);
            k += len;
        }
        size_t wn;
        if (ct_tokenizer_kind(tok) == CT_VOCAB_SPM) {
            /* byte fallback keeps every byte; the first fragment gets the prefix space */
            wn = 0;
            if (ct_tokenizer_adds_space_prefix(tok) && n > 0) want[wn++] = ' ';
            memcpy(want + wn, bytes, n);
            wn += n;
        } else {
            char clean[1024];
            size_t cn = sanitize_bytewise(bytes, n, clean);
            wn = 0;
            for (size_t i = 0; i < cn; i++)
                if (byte_ok[(unsigned char)clean[i]]) want[wn++] = clean[i];
        }
        /* Special tokens matched in the bytes shift SPM prefixes; only compare without them. */
        bool has_special = false;
        for (size_t i = 0; i < t.count; i++)
            has_special |= ct_tokenizer_token_type(tok, t.ids[i]) == CT_TOKEN_CONTROL ||
                           ct_tokenizer_token_type(tok, t.ids[i]) == CT_TOKEN_USER_DEFINED;
        bool same = has_special || (k == wn && !memcmp(got, want, k));
        if (!same && failures++ < 3) CHECK_MSG(same, "%s: random bytes (%zu) do not come back from the pieces", name, n);
        char *text = NULL;
        size_t len;
        CHECK_OK(ct_tokenizer_decode(tok, t.ids, t.count, CT_DECODE_RENDER_SPECIAL, &text, &len));
        free(text);
        ct_tokens_free(&t);
    }
    CHECK_MSG(failures == 0, "%s: %d random byte strings failed", name, failures);
}

/* 1 MB (256 KB under sanitizers) of one character: must stay near-linear. The bound is
 * generous (a quadratic algorithm takes minutes on 1 MB); the times are printed. */
static void test_repeated(const char *name, const ct_tokenizer *tok) {
    static const char *const chars[] = {"a", " ", "\n", "1", ".", "\xE4\xB8\xAD", "<"};
    const size_t target = SANITIZED ? (256u << 10) : (1u << 20);
    char *buf = malloc(target + 8);
    if (!buf) return;
    for (size_t c = 0; c < sizeof chars / sizeof chars[0]; c++) {
        size_t clen = strlen(chars[c]), n = 0;
        while (n + clen <= target) memcpy(buf + n, chars[c], clen), n += clen;
        ct_tokens t = {0};
        double t0 = cpu_seconds();
        CHECK_OK(ct_tokenizer_encode(tok, buf, n, 0, &t));
        double dt = cpu_seconds() - t0;
        CHECK_MSG(dt < (SANITIZED ? 60.0 : 15.0), "%s: %zu bytes of '%s' took %.1f s", name, n, chars[c], dt);
        CHECK(t.count > 0);
        printf("  %s: %zu x '%s' -> %zu tokens in %.3f s\n", name, n / clen, chars[c][0] == '\n' ? "\\n" : chars[c],
               t.count, dt);
        ct_tokens_free(&t);
    }
    free(buf);
}

static bool run_file(const char *path, const char *name, ct_test_rng *rng) {
    gguf_file *f = NULL;
    if (gguf_open(path, &f) != CT_OK) {
        printf("skipped %s: not found at %s\n", name, path);
        return false;
    }
    ct_tokenizer *tok = NULL;
    CHECK_OK(ct_tokenizer_load(f, &tok));
    if (tok) {
        find_representable_bytes(tok);
        test_round_trips(name, tok, rng);
        test_random_bytes(name, tok, rng);
        test_repeated(name, tok);
    }
    ct_tokenizer_free(tok);
    gguf_close(f);
    return true;
}

int main(void) {
    ct_test_rng rng = {0x7E57C0FFEEull};
    static const char *const vocabs[] = {"llama-spm", "phi-3", "gpt-2", "starcoder"};
    static const char *const models[] = {"SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"};
    char path[2048];
    int ran = 0;
    for (size_t i = 0; i < sizeof vocabs / sizeof vocabs[0]; i++) {
        snprintf(path, sizeof path, "%s/testdata/vocab/ggml-vocab-%s.gguf", CT_TEST_SHARED_DIR, vocabs[i]);
        ran += run_file(path, vocabs[i], &rng);
    }
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", CT_TEST_MODELS_DIR, models[i]);
        ran += run_file(path, models[i], &rng);
    }
    if (!ran) TEST_SKIP("no vocabulary found (shared vectors or models)");
    return ct_test_finish("test_tokenizer_robust");
}
