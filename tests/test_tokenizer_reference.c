/* The fast merge loops (priority queues, SPM chunking, piece-id merge table) against naive
 * references written from the definitions, on random text over real vocabularies:
 *   SPM: repeatedly merge the adjacent pair whose concatenation is the token with the
 *        highest score (leftmost on ties), rescanning everything each step;
 *   BPE: repeatedly merge the adjacent pair with the lowest rank in tokenizer.ggml.merges
 *        (read here straight from the GGUF file and searched with bsearch).
 * The references are O(n^2) per string; strings are short. */
#include <stdbool.h>
#include <string.h>

#include "gguf/gguf.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

#define MAX_SYMS 512

typedef struct sym {
    size_t start, len;
} sym;

/* Split into UTF-8 characters (an invalid byte alone). */
static int split_chars(const unsigned char *s, size_t n, sym *out) {
    int k = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 1;
        if (i + len > n) len = 1;
        for (size_t j = 1; j < len; j++)
            if ((s[i + j] & 0xC0) != 0x80) len = 1;
        out[k++] = (sym){i, len};
        i += len;
    }
    return k;
}

/* ---- SPM reference ------------------------------------------------------------------ */

static size_t spm_reference(const ct_tokenizer *tok, const char *text, size_t n, int32_t *ids) {
    /* ▁ prefix and spaces as ▁ */
    char esc[4096];
    size_t m = 0;
    memcpy(esc, "\xE2\x96\x81", 3);
    m = 3;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ') memcpy(esc + m, "\xE2\x96\x81", 3), m += 3;
        else esc[m++] = text[i];
    }
    sym s[MAX_SYMS];
    int k = split_chars((const unsigned char *)esc, m, s);
    for (;;) {
        int best = -1;
        float best_score = 0;
        for (int i = 0; i + 1 < k; i++) {
            int32_t id = ct_tokenizer_find(tok, esc + s[i].start, s[i].len + s[i + 1].len);
            if (id < 0) continue;
            float sc = ct_tokenizer_score(tok, id);
            if (best < 0 || sc > best_score) best = i, best_score = sc;
        }
        if (best < 0) break;
        s[best].len += s[best + 1].len;
        memmove(&s[best + 1], &s[best + 2], (size_t)(k - best - 2) * sizeof *s);
        k--;
    }
    size_t out = 0;
    for (int i = 0; i < k; i++) {
        int32_t id = ct_tokenizer_find(tok, esc + s[i].start, s[i].len);
        if (id >= 0) {
            ids[out++] = id;
            continue;
        }
        for (size_t j = 0; j < s[i].len; j++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", (unsigned char)esc[s[i].start + j]);
            ids[out++] = ct_tokenizer_find(tok, name, 6);
        }
    }
    return out;
}

/* ---- BPE reference ------------------------------------------------------------------- */

typedef struct merge_entry {
    const char *text; /* "left right", NUL-terminated copy */
    int rank;
} merge_entry;

static int cmp_merge(const void *a, const void *b) {
    return strcmp(((const merge_entry *)a)->text, ((const merge_entry *)b)->text);
}

static int cmp_merge_rank(const void *a, const void *b) {
    int c = cmp_merge(a, b);
    return c ? c : ((const merge_entry *)a)->rank - ((const merge_entry *)b)->rank;
}

static merge_entry *g_merges;
static size_t g_n_merges;

static int merge_rank(const char *left, size_t ln, const char *right, size_t rn) {
    char key[512];
    if (ln + rn + 2 > sizeof key) return -1;
    memcpy(key, left, ln);
    key[ln] = ' ';
    memcpy(key + ln + 1, right, rn);
    key[ln + 1 + rn] = '\0';
    merge_entry probe = {key, 0};
    const merge_entry *hit = bsearch(&probe, g_merges, g_n_merges, sizeof *g_merges, cmp_merge);
    return hit ? hit->rank : -1;
}

/* GPT-2's byte -> code point spelling, from its definition. */
static size_t spell_byte(unsigned b, char *out) {
    unsigned cpt = b, n = 0;
    if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
        for (unsigned c = 0; c < b; c++)
            if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE)) n++;
        cpt = 0x100 + n;
    }
    if (cpt < 0x80) {
        out[0] = (char)cpt;
        return 1;
    }
    out[0] = (char)(0xC0 | (cpt >> 6));
    out[1] = (char)(0x80 | (cpt & 0x3F));
    return 2;
}

/* One word (no pre-tokenization): byte symbols merged by lowest rank, leftmost first. */
static size_t bpe_reference(const ct_tokenizer *tok, const char *text, size_t n, int32_t *ids) {
    char spelled[2048];
    sym s[MAX_SYMS];
    size_t m = 0;
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = spell_byte((unsigned char)text[i], spelled + m);
        s[k++] = (sym){m, len};
        m += len;
    }
    for (;;) {
        int best = -1, best_rank = 0;
        for (int i = 0; i + 1 < k; i++) {
            int r = merge_rank(spelled + s[i].start, s[i].len, spelled + s[i + 1].start, s[i + 1].len);
            if (r >= 0 && (best < 0 || r < best_rank)) best = i, best_rank = r;
        }
        if (best < 0) break;
        s[best].len += s[best + 1].len;
        memmove(&s[best + 1], &s[best + 2], (size_t)(k - best - 2) * sizeof *s);
        k--;
    }
    size_t out = 0;
    for (int i = 0; i < k; i++) ids[out++] = ct_tokenizer_find(tok, spelled + s[i].start, s[i].len);
    return out;
}

static bool load_merges(const gguf_file *f) {
    const gguf_value *arr;
    if (gguf_get_array(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &arr) != CT_OK) return false;
    g_n_merges = arr->arr.count;
    g_merges = calloc(g_n_merges, sizeof *g_merges);
    for (size_t i = 0; i < g_n_merges; i++) {
        char *t = malloc(arr->arr.strs[i].len + 1);
        memcpy(t, arr->arr.strs[i].data, arr->arr.strs[i].len);
        t[arr->arr.strs[i].len] = '\0';
        g_merges[i] = (merge_entry){t, (int)i};
    }
    /* the first occurrence of a pair wins: sort by text then rank, keep the first */
    qsort(g_merges, g_n_merges, sizeof *g_merges, cmp_merge_rank);
    size_t k = 0;
    for (size_t i = 0; i < g_n_merges; i++) {
        if (k > 0 && !strcmp(g_merges[k - 1].text, g_merges[i].text)) {
            free((void *)g_merges[i].text);
            continue;
        }
        g_merges[k++] = g_merges[i];
    }
    g_n_merges = k;
    return true;
}

static void free_merges(void) {
    for (size_t i = 0; i < g_n_merges; i++) free((void *)g_merges[i].text);
    free(g_merges);
    g_merges = NULL;
    g_n_merges = 0;
}

/* ---- random text ------------------------------------------------------------------------ */

static size_t put_utf8(uint32_t c, char *o) {
    if (c < 0x80) return o[0] = (char)c, 1;
    if (c < 0x800) return o[0] = (char)(0xC0 | (c >> 6)), o[1] = (char)(0x80 | (c & 0x3F)), 2;
    o[0] = (char)(0xE0 | (c >> 12));
    o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[2] = (char)(0x80 | (c & 0x3F));
    return 3;
}

/* Letters-heavy text so that many merges apply: lowercase/uppercase ASCII, a few accented
 * and Cyrillic letters; with_spaces adds spaces and punctuation (SPM only). */
static size_t random_text(ct_test_rng *rng, char *out, size_t max_chars, bool with_spaces) {
    static const char common[] = "etaoinshrdlucmfwypvbgkjqxz";
    size_t n = 0, chars = 1 + (size_t)(ct_test_rng_next(rng) % max_chars);
    for (size_t i = 0; i < chars; i++) {
        unsigned r = (unsigned)(ct_test_rng_next(rng) % 100);
        if (r < 15 && n > 0 && (unsigned char)out[n - 1] < 0x80) out[n] = out[n - 1], n++; /* runs: ties */
        else if (r < 70) out[n++] = common[ct_test_rng_next(rng) % 13 + (r % 2) * (ct_test_rng_next(rng) % 13)];
        else if (r < 78) out[n++] = (char)('A' + ct_test_rng_next(rng) % 26);
        else if (r < 84) n += put_utf8(0xE0 + (uint32_t)(ct_test_rng_next(rng) % 32), out + n);
        else if (r < 90) n += put_utf8(0x430 + (uint32_t)(ct_test_rng_next(rng) % 32), out + n);
        else if (with_spaces && r < 97) out[n++] = ' ';
        else if (with_spaces) out[n++] = ".,!'\n"[ct_test_rng_next(rng) % 5];
        else out[n++] = 'e';
    }
    return n;
}

static void compare(const char *name, const char *text, size_t n, const int32_t *want, size_t n_want,
                    const ct_tokens *got, int *failures) {
    bool same = got->count == n_want && !memcmp(got->ids, want, n_want * sizeof *want);
    if (!same && (*failures)++ < 3) CHECK_MSG(same, "%s: '%.*s': %zu ids, reference %zu", name, (int)n, text, got->count, n_want);
}

int main(void) {
    ct_test_rng rng = {0x5EEDF00Dull};
    char path[2048];
    int ran = 0;

    snprintf(path, sizeof path, "%s/testdata/vocab/ggml-vocab-llama-spm.gguf", CT_TEST_SHARED_DIR);
    gguf_file *f = NULL;
    ct_tokenizer *tok = NULL;
    if (gguf_open(path, &f) == CT_OK) {
        ran++;
        CHECK_OK(ct_tokenizer_load(f, &tok));
        int failures = 0;
        for (int iter = 0; tok && iter < 400; iter++) {
            char text[1024];
            size_t n = random_text(&rng, text, 80, true);
            int32_t want[4096];
            size_t n_want = spm_reference(tok, text, n, want);
            ct_tokens got = {0};
            CHECK_OK(ct_tokenizer_encode(tok, text, n, 0, &got));
            compare("llama-spm", text, n, want, n_want, &got, &failures);
            ct_tokens_free(&got);
        }
        CHECK_MSG(failures == 0, "llama-spm: %d strings differ from the reference", failures);
        printf("llama-spm: 400 random strings vs the naive SPM reference\n");
        ct_tokenizer_free(tok);
        gguf_close(f);
    }

    snprintf(path, sizeof path, "%s/testdata/vocab/ggml-vocab-gpt-2.gguf", CT_TEST_SHARED_DIR);
    f = NULL;
    tok = NULL;
    if (gguf_open(path, &f) == CT_OK) {
        ran++;
        CHECK_OK(ct_tokenizer_load(f, &tok));
        CHECK(load_merges(f));
        int failures = 0;
        for (int iter = 0; tok && g_merges && iter < 400; iter++) {
            char text[1024];
            size_t n = random_text(&rng, text, 60, false); /* letters only: one pre-tokenizer word */
            int32_t want[2048];
            size_t n_want = bpe_reference(tok, text, n, want);
            ct_tokens got = {0};
            CHECK_OK(ct_tokenizer_encode(tok, text, n, 0, &got));
            compare("gpt-2", text, n, want, n_want, &got, &failures);
            ct_tokens_free(&got);
        }
        CHECK_MSG(failures == 0, "gpt-2: %d strings differ from the reference", failures);
        printf("gpt-2: 400 random words vs the naive BPE reference\n");
        free_merges();
        ct_tokenizer_free(tok);
        gguf_close(f);
    }
    if (!ran) TEST_SKIP("no shared vocabularies");
    return ct_test_finish("test_tokenizer_reference");
}
