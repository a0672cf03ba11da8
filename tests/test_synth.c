/* ctorch synth: presets against the real models' published sizes and files, llama.cpp's
 * Q4_K_M type rule, the statistics of the generated blocks, and files written by the CLI read
 * back with our reader (tensors, metadata, vocabulary, determinism across thread counts). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "gguf/gguf.h"
#include "quant/quant.h"
#include "quant/types.h"
#include "synth/hparams.h"
#include "synth/metadata.h"
#include "synth/tensors.h"
#include "synth/type_mix.h"
#include "synth/vocab.h"
#include "synth/weights.h"
#include "tokenizer/tokenizer.h"
#include "test_util.h"

static char tmp_dir[256];
static const char *ctorch_bin;

static void tmp_path(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", tmp_dir, name); }

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Run `ctorch ARGS` quietly; returns the exit status. */
static int run_ctorch(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null 2>&1", ctorch_bin, args);
    int rc = system(cmd);
    return rc == -1 ? -1 : (rc >> 8) & 0xff;
}

typedef struct stats {
    double mean, std, max_abs;
    uint64_t non_finite;
} stats;

static stats stats_of(const float *x, uint64_t n) {
    stats s = {0};
    double sum = 0, sq = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            s.non_finite++;
            continue;
        }
        sum += x[i];
        sq += (double)x[i] * x[i];
        if (fabs(x[i]) > s.max_abs) s.max_abs = fabs(x[i]);
    }
    s.mean = sum / (double)n;
    s.std = sqrt(sq / (double)n - s.mean * s.mean);
    return s;
}

/* ---- presets: sizes of the real models ------------------------------------------------- */

static void test_presets_match_published_sizes(void) {
    /* tensor and parameter counts of the real checkpoints (as llama.cpp files hold them; the
     * gpt2 converter stores the tied head a second time as output.weight) */
    static const struct {
        const char *preset;
        size_t n_tensors;
        uint64_t n_params;
    } want[] = {
        {"llama2-7b", 291, 6738415616ull},     {"llama3-8b", 291, 8030261248ull},
        {"tinyllama-1.1b", 201, 1100048384ull}, {"smollm2-135m", 272, 134515008ull},
        {"qwen2-7b", 339, 7615616512ull},      {"gemma3-270m", 236, 268098176ull},
        {"gpt2-124m", 149, 124439808ull + 38597376ull},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        synth_hparams hp;
        CHECK_OK(synth_preset_find(want[i].preset, &hp));
        CHECK_OK(synth_hparams_validate(&hp));
        synth_tensor *ts = NULL;
        size_t n = 0;
        CHECK_OK(synth_tensor_list(&hp, &ts, &n));
        uint64_t params = 0;
        for (size_t k = 0; k < n; k++) params += ts[k].ne[0] * ts[k].ne[1];
        CHECK_MSG(n == want[i].n_tensors, "%s: %zu tensors, want %zu", want[i].preset, n, want[i].n_tensors);
        CHECK_MSG(params == want[i].n_params, "%s: %llu parameters, want %llu", want[i].preset,
                  (unsigned long long)params, (unsigned long long)want[i].n_params);
        free(ts);
    }
    synth_hparams hp;
    CHECK(synth_preset_find("llama-9000b", &hp) == CT_ERR_NOT_FOUND);
    CHECK(strstr(ct_last_error(), "gemma3-270m") != NULL); /* the message lists the valid names */
}

static void test_validation(void) {
    synth_hparams hp;
    CHECK_OK(synth_preset_find("tinyllama-1.1b", &hp));
    synth_hparams bad = hp;
    bad.n_head = 30; /* does not divide 2048 */
    synth_hparams_complete(&bad);
    CHECK(synth_hparams_validate(&bad) == CT_ERR_INVALID_ARGUMENT);
    bad = hp;
    bad.n_head_kv = 5;
    CHECK(synth_hparams_validate(&bad) == CT_ERR_INVALID_ARGUMENT && strstr(ct_last_error(), "n_head_kv"));
    bad = hp;
    bad.n_ff = 0;
    CHECK(synth_hparams_validate(&bad) == CT_ERR_INVALID_ARGUMENT && strstr(ct_last_error(), "n_ff"));
}

/* ---- the Q4_K_M rule -------------------------------------------------------------------- */

static ct_type type_of(const synth_ftype *ft, const synth_hparams *hp, const synth_tensor *ts, size_t n,
                       const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ts[i].name, name)) return synth_tensor_type(ft, hp, &ts[i]);
    CHECK_MSG(0, "no tensor %s", name);
    return CT_TYPE_COUNT_;
}

static void test_q4_k_m_rule(void) {
    const synth_ftype *ft;
    CHECK_OK(synth_ftype_parse("Q4_K_M", &ft));
    CHECK(ft->file_type == 15);
    synth_hparams hp;
    CHECK_OK(synth_preset_find("llama2-7b", &hp));
    synth_tensor *ts;
    size_t n;
    CHECK_OK(synth_tensor_list(&hp, &ts, &n));
    /* llama.cpp's use_more_bits(i, 32): i < 4, i >= 28, or (i - 4) % 3 == 2 */
    for (int i = 0; i < 32; i++) {
        char name[64];
        int more = i < 4 || i >= 28 || (i - 4) % 3 == 2;
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", i);
        CHECK_MSG(type_of(ft, &hp, ts, n, name) == (more ? CT_TYPE_Q6_K : CT_TYPE_Q4_K), "%s", name);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", i);
        CHECK_MSG(type_of(ft, &hp, ts, n, name) == (more ? CT_TYPE_Q6_K : CT_TYPE_Q4_K), "%s", name);
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", i);
        CHECK(type_of(ft, &hp, ts, n, name) == CT_TYPE_Q4_K);
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", i);
        CHECK(type_of(ft, &hp, ts, n, name) == CT_TYPE_F32);
    }
    CHECK(type_of(ft, &hp, ts, n, "output.weight") == CT_TYPE_Q6_K);
    CHECK(type_of(ft, &hp, ts, n, "token_embd.weight") == CT_TYPE_Q4_K);
    free(ts);

    /* gpt2: fused qkv is Q5_K, position_embd is left unquantized */
    CHECK_OK(synth_preset_find("gpt2-124m", &hp));
    CHECK_OK(synth_tensor_list(&hp, &ts, &n));
    CHECK(type_of(ft, &hp, ts, n, "blk.0.attn_qkv.weight") == CT_TYPE_Q5_K);
    CHECK(type_of(ft, &hp, ts, n, "blk.0.attn_qkv.bias") == CT_TYPE_F32);
    CHECK(type_of(ft, &hp, ts, n, "position_embd.weight") == CT_TYPE_F16);
    free(ts);

    /* single types: every matrix in that type, with llama.cpp's fallback for short rows */
    CHECK_OK(synth_ftype_parse("q6_k", &ft));
    CHECK_OK(synth_preset_find("gemma3-270m", &hp)); /* rows of 640 are not whole 256-blocks */
    CHECK_OK(synth_tensor_list(&hp, &ts, &n));
    CHECK(type_of(ft, &hp, ts, n, "blk.0.attn_q.weight") == CT_TYPE_Q8_0);
    CHECK(type_of(ft, &hp, ts, n, "blk.0.attn_output.weight") == CT_TYPE_Q6_K); /* rows of 1024 */
    free(ts);
    CHECK(synth_ftype_parse("q3_k_xl", &ft) == CT_ERR_INVALID_ARGUMENT && strstr(ct_last_error(), "q4_k_m"));
}

/* ---- real files: names, shapes, types, metadata ------------------------------------------ */

/* Every tensor of the real file exists in the preset with the same shape (and vice versa);
 * with check_types, also llama.cpp's type. */
static void compare_with_real_file(const char *file_name, const char *preset, int check_types) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", CT_TEST_MODELS_DIR, file_name);
    if (!file_exists(path)) {
        printf("  %s absent: comparison with %s skipped\n", file_name, preset);
        return;
    }
    gguf_file *f;
    CHECK_OK(gguf_open(path, &f));
    synth_hparams hp;
    CHECK_OK(synth_preset_find(preset, &hp));
    synth_tensor *ts;
    size_t n;
    CHECK_OK(synth_tensor_list(&hp, &ts, &n));
    const synth_ftype *ft;
    CHECK_OK(synth_ftype_parse("q4_k_m", &ft));
    CHECK_MSG(gguf_tensor_count(f) == n, "%s: %llu tensors, preset %zu", file_name,
              (unsigned long long)gguf_tensor_count(f), n);
    for (size_t i = 0; i < n; i++) {
        const gguf_tensor_info *t = gguf_find_tensor(f, ts[i].name);
        CHECK_MSG(t != NULL, "%s: preset tensor %s not in the real file", file_name, ts[i].name);
        if (!t) continue;
        CHECK_MSG(t->n_dims == ts[i].n_dims && t->ne[0] == ts[i].ne[0] && t->ne[1] == ts[i].ne[1],
                  "%s: %s is %llu x %llu, preset %llu x %llu", file_name, ts[i].name, (unsigned long long)t->ne[0],
                  (unsigned long long)t->ne[1], (unsigned long long)ts[i].ne[0], (unsigned long long)ts[i].ne[1]);
        if (check_types)
            CHECK_MSG(t->type == (uint32_t)synth_tensor_type(ft, &hp, &ts[i]), "%s: %s is %s in the file, rule says %s",
                      file_name, ts[i].name, ct_type_name(t->type), ct_type_name(synth_tensor_type(ft, &hp, &ts[i])));
    }

    /* every <arch>.* key of the real file, with the same value, in a synthetic header */
    gguf_writer *w;
    CHECK_OK(gguf_writer_create(&w));
    CHECK_OK(synth_write_model_metadata(w, &hp, ft));
    char out[512];
    tmp_path(out, sizeof out, "metadata.gguf");
    CHECK_OK(gguf_writer_write_file(w, out));
    gguf_writer_free(w);
    gguf_file *syn;
    if (gguf_open(out, &syn) == CT_OK) {
        const char *arch = synth_arch_name(hp.arch);
        size_t arch_len = strlen(arch);
        int compared = 0;
        for (uint64_t i = 0; i < gguf_kv_count(f); i++) {
            const gguf_kv *kv = gguf_kv_at(f, i);
            if (kv->key.len <= arch_len || memcmp(kv->key.data, arch, arch_len) != 0 || kv->key.data[arch_len] != '.')
                continue;
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.data);
            const gguf_value *v = gguf_find(syn, key);
            CHECK_MSG(v != NULL, "%s: key %s missing from the synthetic header", file_name, key);
            if (!v) continue;
            CHECK_MSG(v->type == kv->value.type, "%s: %s has type %s, real %s", file_name, key, gguf_type_name(v->type),
                      gguf_type_name(kv->value.type));
            if (v->type == GGUF_TYPE_FLOAT32) CHECK_MSG(v->f64 == kv->value.f64, "%s: %s = %g, real %g", file_name, key, v->f64, kv->value.f64);
            else if (v->type == GGUF_TYPE_UINT32) CHECK_MSG(v->u64 == kv->value.u64, "%s: %s = %llu, real %llu", file_name, key, (unsigned long long)v->u64, (unsigned long long)kv->value.u64);
            compared++;
        }
        CHECK(compared >= 8);
        printf("  %s: %zu tensors and %d %s.* keys agree with preset %s\n", file_name, n, compared, arch, preset);
        gguf_close(syn);
    } else {
        CHECK_MSG(0, "cannot read back %s: %s", out, ct_last_error());
    }
    remove(out);
    free(ts);
    gguf_close(f);
}

/* ---- generated blocks ---------------------------------------------------------------------- */

static void test_fill_statistics(void) {
    static const ct_type types[] = {CT_TYPE_F32, CT_TYPE_F16, CT_TYPE_BF16, CT_TYPE_Q4_0, CT_TYPE_Q4_1, CT_TYPE_Q5_0,
                                    CT_TYPE_Q5_1, CT_TYPE_Q8_0, CT_TYPE_Q4_K, CT_TYPE_Q5_K, CT_TYPE_Q6_K};
    const uint64_t n = 256 * 256; /* 65536 weights: 256 k-quant blocks, 2048 32-blocks */
    float *x = malloc(n * sizeof *x);
    unsigned char *a = malloc(n * 4), *b = malloc(n * 4);
    for (size_t i = 0; x && a && b && i < sizeof types / sizeof types[0]; i++) {
        ct_type t = types[i];
        uint64_t bytes;
        CHECK_OK(ct_type_row_bytes(t, n, &bytes));
        CHECK_OK(synth_fill(t, SYNTH_ROLE_ATTN_Q, n, 42, a));
        CHECK_OK(ct_dequantize_row(t, a, x, (int64_t)n));
        stats s = stats_of(x, n);
        /* Deviation: target 0.02; the per-block jitter (uniform [0.8, 1.2)) and sub-block
         * scales average out over hundreds of blocks, leaving fp16 rounding and the
         * discreteness of the means: 10% covers them. Mean: the random signs and k-quant
         * mins centre it; over >= 256 independent blocks its spread is below 0.02/sqrt(256)
         * = 0.00125, so 0.003 is a safe bound. No weight beyond 4 deviations: the formats
         * cap it (Q6_K at 15 * 32 * d = 0.054). */
        CHECK_MSG(s.non_finite == 0, "%s: %llu non-finite", ct_type_name(t), (unsigned long long)s.non_finite);
        CHECK_MSG(fabs(s.std - SYNTH_WEIGHT_STD) < 0.1 * SYNTH_WEIGHT_STD, "%s: std %g", ct_type_name(t), s.std);
        CHECK_MSG(fabs(s.mean) < 0.003, "%s: mean %g", ct_type_name(t), s.mean);
        CHECK_MSG(s.max_abs < 4 * SYNTH_WEIGHT_STD, "%s: max |w| %g", ct_type_name(t), s.max_abs);
        /* same key, same bytes; another key, other bytes */
        CHECK_OK(synth_fill(t, SYNTH_ROLE_ATTN_Q, n, 42, b));
        CHECK_MSG(memcmp(a, b, bytes) == 0, "%s: not reproducible", ct_type_name(t));
        CHECK_OK(synth_fill(t, SYNTH_ROLE_ATTN_Q, n, 43, b));
        CHECK_MSG(memcmp(a, b, bytes) != 0, "%s: another key gives the same data", ct_type_name(t));
    }
    /* norms: 1 +- SYNTH_NORM_SPREAD, uniform (deviation 0.05/sqrt(3) = 0.0289) */
    CHECK_OK(synth_fill(CT_TYPE_F32, SYNTH_ROLE_NORM, 4096, 7, x));
    stats s = stats_of(x, 4096);
    CHECK_NEAR(s.mean, 1.0, 0.005); /* spread of the mean: 0.0289/sqrt(4096) = 0.00045 */
    CHECK_NEAR(s.std, SYNTH_NORM_SPREAD / sqrt(3.0), 0.003);
    CHECK(synth_fill(CT_TYPE_Q4_K, SYNTH_ROLE_ATTN_Q, 100, 1, a) == CT_ERR_INVALID_ARGUMENT);
    CHECK(synth_fill(CT_TYPE_Q2_K, SYNTH_ROLE_ATTN_Q, 256, 1, a) == CT_ERR_UNSUPPORTED);
    /* chunk keys depend on seed, name and chunk */
    CHECK(synth_chunk_key(1, "a.weight", 0) != synth_chunk_key(2, "a.weight", 0));
    CHECK(synth_chunk_key(1, "a.weight", 0) != synth_chunk_key(1, "b.weight", 0));
    CHECK(synth_chunk_key(1, "a.weight", 0) != synth_chunk_key(1, "a.weight", 1));
    free(x);
    free(a);
    free(b);
}

static void test_generated_vocab_pieces(void) {
    char piece[32], prev[32] = "";
    CHECK_OK(synth_vocab_piece(0, piece, sizeof piece));
    CHECK(!strcmp(piece, "<unk>"));
    CHECK_OK(synth_vocab_piece(2, piece, sizeof piece));
    CHECK(!strcmp(piece, "</s>"));
    CHECK_OK(synth_vocab_piece(3, piece, sizeof piece));
    CHECK(!strcmp(piece, "<0x00>"));
    CHECK_OK(synth_vocab_piece(258, piece, sizeof piece));
    CHECK(!strcmp(piece, "<0xFF>"));
    CHECK_OK(synth_vocab_piece(259, piece, sizeof piece));
    CHECK(!strcmp(piece, "\xe2\x96\x81"));
    /* pieces are distinct by construction (groups differ in length or leading mark, and a
     * group enumerates its strings in order); check neighbours and a few known positions */
    uint32_t max = synth_vocab_generate_max();
    int dup = 0;
    for (uint32_t id = 259; id < max; id += 1) {
        if (synth_vocab_piece(id, piece, sizeof piece) != CT_OK || !strcmp(piece, prev) || piece[0] == '\0') dup++;
        memcpy(prev, piece, sizeof prev);
        if (id > 300000) id += 997; /* sample the long tail */
    }
    CHECK_MSG(dup == 0, "%d repeated or empty pieces", dup);
    CHECK(max >= 262144); /* enough for Gemma 3's vocabulary */
    CHECK(synth_vocab_piece(max, piece, sizeof piece) == CT_ERR_RANGE);
}

/* ---- files written by the CLI -------------------------------------------------------------- */

/* The generated vocabulary loads with ctorch's tokenizer and any text round-trips, through
 * byte fallback where no piece fits. */
static void check_generated_tokenizer(const gguf_file *f, int expect_the_piece) {
    ct_tokenizer *tok;
    ct_status st = ct_tokenizer_load(f, &tok);
    CHECK_MSG(st == CT_OK, "%s: tokenizer does not load: %s", gguf_path(f), ct_last_error());
    if (st != CT_OK) return;
    CHECK(ct_tokenizer_kind(tok) == CT_VOCAB_SPM);
    CHECK(ct_tokenizer_bos(tok) == SYNTH_VOCAB_BOS && ct_tokenizer_eos(tok) == SYNTH_VOCAB_EOS);
    /* "ünïcödé 日本 🙂" spelled in bytes (a hex escape would swallow a following c, d or e) */
    const char text[] = "The quick brown fox, 42 \xc3\xbc" "n\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac "
                        "\xf0\x9f\x99\x82 tab\there";
    ct_tokens ids = {0};
    CHECK_OK(ct_tokenizer_encode(tok, text, sizeof text - 1, CT_ENCODE_ADD_SPECIAL, &ids));
    CHECK(ids.count > 2 && ids.ids[0] == SYNTH_VOCAB_BOS);
    int bytes = 0;
    for (size_t i = 0; i < ids.count; i++) bytes += ct_tokenizer_token_type(tok, ids.ids[i]) == CT_TOKEN_BYTE;
    CHECK_MSG(bytes >= 4, "only %d byte-fallback tokens for the non-ASCII text", bytes); /* 日本 and 🙂 at least */
    char *back = NULL;
    size_t len = 0;
    if (ids.count > 1) CHECK_OK(ct_tokenizer_decode(tok, ids.ids + 1, ids.count - 1, 0, &back, &len));
    CHECK_MSG(back && len == sizeof text - 1 && !memcmp(back, text, len), "decode(encode(text)) = '%s'", back ? back : "");
    free(back);
    if (expect_the_piece) {
        /* "the" merges up to the single piece "▁the" through ▁t, he (scores favour earlier pieces) */
        ct_tokens the = {0};
        CHECK_OK(ct_tokenizer_encode(tok, "the", 3, 0, &the));
        size_t n = 0;
        const char *piece = the.count == 1 ? ct_tokenizer_token_text(tok, the.ids[0], &n) : NULL;
        CHECK_MSG(piece && n == 6 && !memcmp(piece, "\xe2\x96\x81the", 6), "'the' encodes as %zu tokens", the.count);
        ct_tokens_free(&the);
    }
    ct_tokens_free(&ids);
    ct_tokenizer_free(tok);
}

static const gguf_value *find_or_fail(const gguf_file *f, const char *key) {
    const gguf_value *v = gguf_find(f, key);
    CHECK_MSG(v != NULL, "%s: key %s missing", gguf_path(f), key);
    return v;
}

static uint64_t u32_key(const gguf_file *f, const char *key) {
    const gguf_value *v = find_or_fail(f, key);
    CHECK_MSG(!v || v->type == GGUF_TYPE_UINT32, "%s: %s is not UINT32", gguf_path(f), key);
    return v ? v->u64 : 0;
}

/* Every tensor as the preset and type rule say, data finite with the expected statistics;
 * at most `sample` elements of each tensor are dequantized. */
static void check_written_model(const char *path, const synth_hparams *hp, const char *type, uint64_t sample) {
    gguf_file *f;
    if (gguf_open(path, &f) != CT_OK) {
        CHECK_MSG(0, "cannot read %s: %s", path, ct_last_error());
        return;
    }
    const synth_ftype *ft;
    CHECK_OK(synth_ftype_parse(type, &ft));
    synth_tensor *ts;
    size_t n;
    CHECK_OK(synth_tensor_list(hp, &ts, &n));
    CHECK_MSG(gguf_tensor_count(f) == n, "%s: %llu tensors, want %zu", path, (unsigned long long)gguf_tensor_count(f), n);
    uint64_t largest = 0;
    for (size_t i = 0; i < n; i++)
        if (ts[i].ne[0] * ts[i].ne[1] > largest) largest = ts[i].ne[0] * ts[i].ne[1];
    if (sample > largest) sample = largest;
    float *x = malloc(sample * sizeof *x);
    CHECK(x != NULL);
    for (size_t i = 0; x && i < n && i < gguf_tensor_count(f); i++) {
        const gguf_tensor_info *t = gguf_tensor_at(f, i);
        ct_type want = synth_tensor_type(ft, hp, &ts[i]);
        CHECK_MSG(!strcmp(t->name, ts[i].name), "%s: tensor %zu is %s, want %s", path, i, t->name, ts[i].name);
        CHECK_MSG(t->type == (uint32_t)want, "%s: %s is %s, want %s", path, t->name, ct_type_name(t->type), ct_type_name(want));
        CHECK(t->n_dims == ts[i].n_dims && t->ne[0] == ts[i].ne[0] && t->ne[1] == ts[i].ne[1]);
        uint64_t row;
        CHECK_OK(ct_type_row_bytes(want, ts[i].ne[0], &row));
        CHECK_MSG(t->nbytes == row * ts[i].ne[1], "%s: %s has %llu bytes", path, t->name, (unsigned long long)t->nbytes);
        /* whole rows, up to `sample` elements */
        uint64_t rows = sample / t->ne[0];
        if (rows == 0) continue;
        if (rows > t->ne[1]) rows = t->ne[1];
        CHECK_OK(ct_dequantize_row(want, t->data, x, (int64_t)(rows * t->ne[0])));
        stats s = stats_of(x, rows * t->ne[0]);
        CHECK_MSG(s.non_finite == 0, "%s: %s has non-finite values", path, t->name);
        if (ts[i].role == SYNTH_ROLE_NORM) {
            CHECK_MSG(fabs(s.mean - 1.0) < 0.02 && s.max_abs <= 1.0 + SYNTH_NORM_SPREAD, "%s: %s mean %g", path, t->name, s.mean);
        } else if (rows * t->ne[0] >= 4096) {
            /* as in test_fill_statistics, with a looser 15% for tensors of few blocks */
            CHECK_MSG(fabs(s.std - SYNTH_WEIGHT_STD) < 0.15 * SYNTH_WEIGHT_STD, "%s: %s std %g", path, t->name, s.std);
            CHECK_MSG(s.max_abs < 4 * SYNTH_WEIGHT_STD, "%s: %s max %g", path, t->name, s.max_abs);
        }
    }
    free(x);

    const char *arch = synth_arch_name(hp->arch);
    char key[128];
    gguf_str s;
    CHECK_OK(gguf_get_str(f, "general.architecture", &s));
    CHECK(gguf_str_eq(s, arch));
    CHECK(u32_key(f, "general.file_type") == ft->file_type);
    CHECK(u32_key(f, "general.quantization_version") == 2);
    snprintf(key, sizeof key, "%s.embedding_length", arch);
    CHECK(u32_key(f, key) == hp->n_embd);
    snprintf(key, sizeof key, "%s.block_count", arch);
    CHECK(u32_key(f, key) == hp->n_layer);
    snprintf(key, sizeof key, "%s.feed_forward_length", arch);
    CHECK(u32_key(f, key) == hp->n_ff);
    snprintf(key, sizeof key, "%s.attention.head_count", arch);
    CHECK(u32_key(f, key) == hp->n_head);
    snprintf(key, sizeof key, "%s.context_length", arch);
    CHECK(u32_key(f, key) == hp->n_ctx);
    const gguf_value *tokens = find_or_fail(f, "tokenizer.ggml.tokens");
    CHECK(tokens && tokens->type == GGUF_TYPE_ARRAY && tokens->arr.count == hp->n_vocab);
    free(ts);
    gguf_close(f);
}

static void test_custom_model_roundtrip(void) {
    char a[512], b[512], c[512], args[2048];
    tmp_path(a, sizeof a, "custom-a.gguf");
    tmp_path(b, sizeof b, "custom-b.gguf");
    tmp_path(c, sizeof c, "custom-c.gguf");
    const char *shape = "synth --arch llama --n-embd 256 --n-layer 3 --n-head 4 --n-head-kv 2 --n-ff 512 "
                        "--n-vocab 320 --ctx 128 --type q4_k_m";
    snprintf(args, sizeof args, "%s --seed 7 --threads 1 -o '%s'", shape, a);
    CHECK(run_ctorch(args) == 0);
    snprintf(args, sizeof args, "%s --seed 7 --threads 3 -o '%s'", shape, b);
    CHECK(run_ctorch(args) == 0);
    snprintf(args, sizeof args, "%s --seed 8 --threads 2 -o '%s'", shape, c);
    CHECK(run_ctorch(args) == 0);

    size_t na, nb, nc;
    unsigned char *da = ct_test_read_file(a, &na), *db = ct_test_read_file(b, &nb), *dc = ct_test_read_file(c, &nc);
    CHECK(da && db && dc);
    if (da && db && dc) {
        CHECK_MSG(na == nb && memcmp(da, db, na) == 0, "1 and 3 threads give different files");
        CHECK_MSG(na == nc && memcmp(da, dc, na) != 0, "seeds 7 and 8 give the same file");
    }
    free(da);
    free(db);
    free(dc);

    synth_hparams hp;
    synth_hparams_defaults(SYNTH_ARCH_LLAMA, &hp);
    hp.n_embd = 256, hp.n_layer = 3, hp.n_head = 4, hp.n_head_kv = 2, hp.n_ff = 512, hp.n_vocab = 320, hp.n_ctx = 128;
    synth_hparams_complete(&hp);
    check_written_model(a, &hp, "q4_k_m", UINT64_MAX); /* every element */

    /* the generated vocabulary */
    gguf_file *f;
    if (gguf_open(a, &f) == CT_OK) {
        const gguf_value *tokens = gguf_find(f, "tokenizer.ggml.tokens");
        const gguf_value *types = gguf_find(f, "tokenizer.ggml.token_type");
        const gguf_value *scores = gguf_find(f, "tokenizer.ggml.scores");
        CHECK(tokens && types && scores && types->arr.count == 320 && scores->arr.count == 320);
        if (tokens && types && tokens->arr.count == 320 && types->arr.count == 320) {
            int64_t t;
            CHECK(gguf_str_eq(tokens->arr.strs[0], "<unk>") && gguf_array_i64(types, 0, &t) && t == 2);
            CHECK(gguf_str_eq(tokens->arr.strs[1], "<s>") && gguf_array_i64(types, 1, &t) && t == 3);
            CHECK(gguf_str_eq(tokens->arr.strs[3 + 0x41], "<0x41>") && gguf_array_i64(types, 3 + 0x41, &t) && t == 6);
            CHECK(gguf_array_i64(types, 300, &t) && t == 1);
        }
        gguf_str model;
        CHECK_OK(gguf_get_str(f, "tokenizer.ggml.model", &model));
        CHECK(gguf_str_eq(model, "llama"));
        CHECK(u32_key(f, "tokenizer.ggml.bos_token_id") == 1 && u32_key(f, "tokenizer.ggml.eos_token_id") == 2);
        check_generated_tokenizer(f, 0);
        gguf_close(f);
    }
    remove(a);
    remove(b);
    remove(c);
}

static int values_equal(const gguf_value *a, const gguf_value *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case GGUF_TYPE_STRING: return a->str.len == b->str.len && !memcmp(a->str.data, b->str.data, (size_t)a->str.len);
    case GGUF_TYPE_ARRAY:
        if (a->arr.elem_type != b->arr.elem_type || a->arr.count != b->arr.count) return 0;
        for (uint64_t i = 0; a->arr.elem_type == GGUF_TYPE_STRING && i < a->arr.count; i++)
            if (a->arr.strs[i].len != b->arr.strs[i].len ||
                memcmp(a->arr.strs[i].data, b->arr.strs[i].data, (size_t)a->arr.strs[i].len))
                return 0;
        if (a->arr.elem_type != GGUF_TYPE_STRING) {
            int64_t x, y;
            double fx, fy;
            for (uint64_t i = 0; i < a->arr.count; i++) {
                if (gguf_array_i64(a, i, &x) && gguf_array_i64(b, i, &y) && x != y) return 0;
                if (gguf_array_f64(a, i, &fx) && gguf_array_f64(b, i, &fy) && fx != fy) return 0;
            }
        }
        return 1;
    case GGUF_TYPE_FLOAT32: case GGUF_TYPE_FLOAT64: return a->f64 == b->f64;
    case GGUF_TYPE_BOOL: return a->b == b->b;
    default: return a->u64 == b->u64;
    }
}

static void test_vocab_copy(void) {
    char src[1024], out[512], args[2048];
    snprintf(src, sizeof src, "%s/testdata/vocab/ggml-vocab-gpt-2.gguf", CT_TEST_SHARED_DIR);
    if (!file_exists(src)) {
        printf("  %s absent: vocabulary copy not tested\n", src);
        return;
    }
    tmp_path(out, sizeof out, "vocab.gguf");
    snprintf(args, sizeof args,
             "synth --arch llama --n-embd 64 --n-layer 1 --n-head 2 --n-ff 128 --type q8_0 --vocab '%s' -o '%s'", src, out);
    CHECK(run_ctorch(args) == 0);
    gguf_file *s, *o;
    if (gguf_open(src, &s) != CT_OK) return;
    if (gguf_open(out, &o) == CT_OK) {
        int n = 0;
        for (uint64_t i = 0; i < gguf_kv_count(s); i++) {
            const gguf_kv *kv = gguf_kv_at(s, i);
            if (kv->key.len < 10 || memcmp(kv->key.data, "tokenizer.", 10) != 0) continue;
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.data);
            const gguf_value *v = gguf_find(o, key);
            CHECK_MSG(v && values_equal(v, &kv->value), "tokenizer key %s differs from the source", key);
            n++;
        }
        CHECK(n == 7); /* model, pre, tokens, token_type, merges, bos, eos */
        const gguf_tensor_info *emb = gguf_find_tensor(o, "token_embd.weight");
        CHECK(emb && emb->ne[1] == 50257); /* the vocabulary size follows the source */
        CHECK(u32_key(o, "llama.vocab_size") == 50257);
        gguf_close(o);
    } else {
        CHECK_MSG(0, "cannot read %s: %s", out, ct_last_error());
    }
    gguf_close(s);
    remove(out);
}

static void test_smollm2_preset_file(void) {
    char out[512], args[1024];
    tmp_path(out, sizeof out, "smollm2.gguf");
    snprintf(args, sizeof args, "synth --preset smollm2-135m --type q4_k_m --seed 3 -o '%s'", out);
    CHECK(run_ctorch(args) == 0);
    synth_hparams hp;
    CHECK_OK(synth_preset_find("smollm2-135m", &hp));
    check_written_model(out, &hp, "q4_k_m", 1 << 16);
    gguf_file *g;
    if (gguf_open(out, &g) == CT_OK) {
        check_generated_tokenizer(g, 1);
        gguf_close(g);
    }
    /* names and shapes against the real file */
    char real[1024];
    snprintf(real, sizeof real, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", CT_TEST_MODELS_DIR);
    gguf_file *r, *s;
    if (file_exists(real) && gguf_open(real, &r) == CT_OK) {
        if (gguf_open(out, &s) == CT_OK) {
            CHECK(gguf_tensor_count(r) == gguf_tensor_count(s));
            for (uint64_t i = 0; i < gguf_tensor_count(r); i++) {
                const gguf_tensor_info *rt = gguf_tensor_at(r, i), *st = gguf_find_tensor(s, rt->name);
                CHECK_MSG(st && st->n_dims == rt->n_dims && st->ne[0] == rt->ne[0] && st->ne[1] == rt->ne[1],
                          "synthetic smollm2: %s differs from the real file", rt->name);
            }
            gguf_close(s);
        }
        gguf_close(r);
    } else {
        printf("  %s absent: synthetic smollm2 not compared with it\n", real);
    }
    remove(out);
}

/* A gpt2 and a gemma3 file of few layers, in single types (F16 and Q8_0). */
static void test_other_architectures(void) {
    static const struct {
        const char *preset, *type;
    } cases[] = {{"gpt2-124m", "f16"}, {"gemma3-270m", "q8_0"}, {"qwen2-7b", "q4_0"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[512], args[1024];
        tmp_path(out, sizeof out, "arch.gguf");
        /* qwen2-7b's 152064 x 3584 embedding is big: shrink it with a custom vocabulary size */
        snprintf(args, sizeof args, "synth --preset %s --type %s --layers 1 --n-vocab 1000 -o '%s'", cases[i].preset,
                 cases[i].type, out);
        CHECK_MSG(run_ctorch(args) == 0, "%s", args);
        synth_hparams hp;
        CHECK_OK(synth_preset_find(cases[i].preset, &hp));
        hp.n_layer = 1;
        hp.n_vocab = 1000;
        check_written_model(out, &hp, cases[i].type, 1 << 15);
        remove(out);
    }
}

int main(void) {
    ctorch_bin = getenv("CTORCH_BIN");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/ctorch-synth-XXXXXX", ct_test_env_or("TMPDIR", "/tmp"));
    if (!mkdtemp(tmp_dir)) {
        fprintf(stderr, "cannot create a temporary directory %s\n", tmp_dir);
        return 1;
    }
    test_presets_match_published_sizes();
    test_validation();
    test_q4_k_m_rule();
    test_fill_statistics();
    test_generated_vocab_pieces();
    compare_with_real_file("gemma-3-270m-q4_k_m.gguf", "gemma3-270m", 1);
    compare_with_real_file("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m", 0);
    if (ctorch_bin && *ctorch_bin) {
        test_custom_model_roundtrip();
        test_vocab_copy();
        test_smollm2_preset_file();
        test_other_architectures();
    } else {
        printf("skipped: CLI file tests (CTORCH_BIN is not set)\n");
    }
    rmdir(tmp_dir);
    return ct_test_finish("test_synth");
}
