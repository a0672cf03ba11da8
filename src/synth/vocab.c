/* Vocabulary copying and generation. */
#include "synth/vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define TOKENS_KEY "tokenizer.ggml.tokens"
#define SPACE_MARK "\xe2\x96\x81" /* U+2581, SentencePiece's word-start mark */

ct_status synth_vocab_size(const gguf_file *src, uint32_t *n_vocab) {
    const gguf_value *tokens;
    ct_status st = gguf_get_array(src, TOKENS_KEY, GGUF_TYPE_STRING, &tokens);
    if (st != CT_OK) return ct_fail_context(st, "vocabulary source %s", gguf_path(src));
    if (tokens->arr.count == 0 || tokens->arr.count > UINT32_MAX)
        return ct_fail(CT_ERR_FORMAT, "vocabulary source %s: %s has %llu tokens", gguf_path(src), TOKENS_KEY,
                       (unsigned long long)tokens->arr.count);
    *n_vocab = (uint32_t)tokens->arr.count;
    return CT_OK;
}

ct_status synth_vocab_copy(gguf_writer *w, const gguf_file *src) {
    static const char prefix[] = "tokenizer.";
    uint64_t n = gguf_kv_count(src);
    for (uint64_t i = 0; i < n; i++) {
        const gguf_kv *kv = gguf_kv_at(src, i);
        if (kv->key.len < sizeof prefix - 1 || memcmp(kv->key.data, prefix, sizeof prefix - 1) != 0) continue;
        char *key = ct_strndup(kv->key.data, (size_t)kv->key.len, "vocabulary key");
        if (!key) return CT_ERR_OUT_OF_MEMORY;
        ct_status st = gguf_writer_set_value(w, key, &kv->value);
        if (st != CT_OK) st = ct_fail_context(st, "copying %s from %s", key, gguf_path(src));
        free(key);
        CT_TRY(st);
    }
    return CT_OK;
}

/* Synthetic pieces, in order: groups of strings over an alphabet, each group bare then marked. */
static const char printable[] =
    "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
static const char lower[] = "abcdefghijklmnopqrstuvwxyz";
#define N_PRINTABLE (sizeof printable - 1)
#define N_LOWER (sizeof lower - 1)
#define MAX_WORD_LEN 4 /* lowercase words of 2..4 letters */

static uint64_t ipow(uint64_t b, unsigned e) {
    uint64_t r = 1;
    while (e--) r *= b;
    return r;
}

static uint64_t synthetic_piece_count(void) {
    uint64_t n = 1 + 2 * N_PRINTABLE;
    for (unsigned len = 2; len <= MAX_WORD_LEN; len++) n += 2 * ipow(N_LOWER, len);
    return n;
}

uint32_t synth_vocab_generate_max(void) { return (uint32_t)(SYNTH_VOCAB_MIN + synthetic_piece_count()); }

/* The k-th synthetic piece. */
static void synthetic_piece(uint64_t k, char *buf, size_t size) {
    if (k == 0) {
        snprintf(buf, size, SPACE_MARK);
        return;
    }
    k -= 1;
    if (k < 2 * N_PRINTABLE) {
        snprintf(buf, size, "%s%c", k < N_PRINTABLE ? "" : SPACE_MARK, printable[k % N_PRINTABLE]);
        return;
    }
    k -= 2 * N_PRINTABLE;
    for (unsigned len = 2; len <= MAX_WORD_LEN; len++) {
        uint64_t group = ipow(N_LOWER, len);
        if (k < 2 * group) {
            size_t pos = (size_t)snprintf(buf, size, "%s", k < group ? "" : SPACE_MARK);
            uint64_t idx = k % group;
            for (unsigned c = 0; c < len; c++) /* most significant letter first */
                buf[pos + c] = lower[(idx / ipow(N_LOWER, len - 1 - c)) % N_LOWER];
            buf[pos + len] = '\0';
            return;
        }
        k -= 2 * group;
    }
    buf[0] = '\0'; /* unreachable for k < synthetic_piece_count() */
}

ct_status synth_vocab_piece(uint32_t id, char *buf, size_t size) {
    if (size < 32) return ct_fail(CT_ERR_INVALID_ARGUMENT, "synth_vocab_piece: buffer of %zu bytes is too small", size);
    if (id >= synth_vocab_generate_max())
        return ct_fail(CT_ERR_RANGE, "token id %u is beyond the generated vocabulary (%u tokens at most)", id,
                       synth_vocab_generate_max());
    if (id == SYNTH_VOCAB_UNK) snprintf(buf, size, "<unk>");
    else if (id == SYNTH_VOCAB_BOS) snprintf(buf, size, "<s>");
    else if (id == SYNTH_VOCAB_EOS) snprintf(buf, size, "</s>");
    else if (id < SYNTH_VOCAB_MIN) snprintf(buf, size, "<0x%02X>", id - SYNTH_VOCAB_FIRST_BYTE);
    else synthetic_piece(id - SYNTH_VOCAB_MIN, buf, size);
    return CT_OK;
}

#define PIECE_MAX 32

static ct_status write_generated(gguf_writer *w, uint32_t n_vocab, char *text, const char **strs, float *scores,
                                 int32_t *types) {
    for (uint32_t id = 0; id < n_vocab; id++) {
        char *piece = text + (size_t)id * PIECE_MAX;
        CT_TRY(synth_vocab_piece(id, piece, PIECE_MAX));
        strs[id] = piece;
        if (id == SYNTH_VOCAB_UNK) types[id] = SYNTH_TOKEN_UNKNOWN;
        else if (id < SYNTH_VOCAB_FIRST_BYTE) types[id] = SYNTH_TOKEN_CONTROL;
        else if (id < SYNTH_VOCAB_MIN) types[id] = SYNTH_TOKEN_BYTE;
        else types[id] = SYNTH_TOKEN_NORMAL;
        /* earlier (shorter) pieces merge first, as in a trained SentencePiece model */
        scores[id] = id < SYNTH_VOCAB_MIN ? 0.0f : -(float)(id - SYNTH_VOCAB_MIN);
    }
    CT_TRY(gguf_writer_set_str(w, "tokenizer.ggml.model", "llama"));
    CT_TRY(gguf_writer_set_str(w, "tokenizer.ggml.pre", "default"));
    CT_TRY(gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", strs, NULL, n_vocab));
    CT_TRY(gguf_writer_set_array(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, n_vocab));
    CT_TRY(gguf_writer_set_array(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, n_vocab));
    CT_TRY(gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", SYNTH_VOCAB_BOS));
    CT_TRY(gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", SYNTH_VOCAB_EOS));
    CT_TRY(gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", SYNTH_VOCAB_UNK));
    CT_TRY(gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true));
    CT_TRY(gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false));
    return CT_OK;
}

ct_status synth_vocab_generate(gguf_writer *w, uint32_t n_vocab) {
    if (n_vocab < SYNTH_VOCAB_MIN || n_vocab > synth_vocab_generate_max())
        return ct_fail(CT_ERR_INVALID_ARGUMENT,
                       "a generated vocabulary has %u to %u tokens (<unk>, <s>, </s>, 256 bytes, then pieces); "
                       "%u asked",
                       SYNTH_VOCAB_MIN, synth_vocab_generate_max(), n_vocab);
    char *text = ct_alloc_array(n_vocab, PIECE_MAX, "generated vocabulary");
    const char **strs = ct_alloc_array(n_vocab, sizeof *strs, "generated vocabulary");
    float *scores = ct_alloc_array(n_vocab, sizeof *scores, "generated vocabulary");
    int32_t *types = ct_alloc_array(n_vocab, sizeof *types, "generated vocabulary");
    ct_status st = text && strs && scores && types ? write_generated(w, n_vocab, text, strs, scores, types)
                                                   : CT_ERR_OUT_OF_MEMORY;
    free(text);
    free(strs);
    free(scores);
    free(types);
    return st;
}
