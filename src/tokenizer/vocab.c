/* Loading a tokenizer from GGUF metadata (`tokenizer.ggml.*`), with llama.cpp's defaults and
 * inferences: special ids, add_bos/add_eos/add_space_prefix, the end-of-generation set. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode_bytes.h"

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_PRE "tokenizer.ggml.pre"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_MERGES "tokenizer.ggml.merges"

/* llama.cpp's token-text lists (the GGUF converters do not record these roles). Each list
 * ends with NULL; where a role takes one token, the first text present wins. */
#define DEEPSEEK_EOS "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>"
static const char *const eot_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                        "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", DEEPSEEK_EOS,
                                        "<end_of_utterance>", NULL};
static const char *const eom_texts[] = {"<|eom_id|>", NULL};
/* fill-in-the-middle pad / repository / file-separator tokens also end generation */
static const char *const fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
static const char *const fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL};
static const char *const fim_sep_texts[] = {"<|file_sep|>", NULL};
/* every token with one of these texts ends generation */
static const char *const eog_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                        "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
                                        "<|end_of_text|>", "<end_of_utterance>", "<eos>", DEEPSEEK_EOS, NULL};

static uint16_t attr_of_type(int64_t type) {
    switch (type) {
    case CT_TOKEN_NORMAL: return TOK_ATTR_NORMAL;
    case CT_TOKEN_UNKNOWN: return TOK_ATTR_UNKNOWN;
    case CT_TOKEN_CONTROL: return TOK_ATTR_CONTROL;
    case CT_TOKEN_USER_DEFINED: return TOK_ATTR_USER_DEFINED;
    case CT_TOKEN_UNUSED: return TOK_ATTR_UNUSED;
    case CT_TOKEN_BYTE: return TOK_ATTR_BYTE;
    default: return 0;
    }
}

void ct_tokenizer_free(ct_tokenizer *tok) {
    if (!tok) return;
    tok_strtab_free(&tok->strs);
    free(tok->space_joiners);
    free(tok->scores);
    free(tok->types);
    free(tok->attrs);
    tok_pairmap_free(&tok->merges);
    tok_pretok_free(tok->pretok);
    tok_special_free(tok->special);
    free(tok->piece_bytes);
    free(tok->piece_off);
    free(tok);
}

static ct_status load_tokens(ct_tokenizer *tok, const gguf_file *f, const char *path) {
    const gguf_value *arr;
    ct_status st = gguf_get_array(f, KEY_TOKENS, GGUF_TYPE_STRING, &arr);
    if (st != CT_OK) return ct_fail_context(st, "reading the vocabulary");
    if (arr->arr.count == 0 || arr->arr.count > INT32_MAX / 2)
        return ct_fail(CT_ERR_FORMAT, "%s: %s has %llu entries", path, KEY_TOKENS,
                       (unsigned long long)arr->arr.count);
    int32_t n = (int32_t)arr->arr.count;
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) total += arr->arr.strs[i].len ? arr->arr.strs[i].len : 24;
    CT_TRY(tok_strtab_reserve(&tok->strs, n, total + 1));
    for (int32_t i = 0; i < n; i++) {
        gguf_str s = arr->arr.strs[i];
        char empty[32];
        if (s.len == 0) { /* llama.cpp names empty tokens so that they stay distinct */
            int k = snprintf(empty, sizeof empty, "[EMPTY_%d]", (int)i);
            s.data = empty;
            s.len = (uint64_t)k;
        }
        int32_t dup = tok_strtab_find(&tok->strs, s.data, s.len);
        if (dup >= 0)
            return ct_fail(CT_ERR_FORMAT, "%s: duplicate token in %s: '%.*s' has ids %d and %d", path, KEY_TOKENS,
                           (int)(s.len > 64 ? 64 : s.len), s.data, (int)dup, (int)i);
        int32_t id;
        CT_TRY(tok_strtab_append(&tok->strs, s.data, s.len, &id));
    }
    tok->n_vocab = n;

    tok->scores = ct_calloc_array((size_t)n, sizeof *tok->scores, "token scores");
    tok->types = ct_calloc_array((size_t)n, sizeof *tok->types, "token types");
    tok->attrs = ct_calloc_array((size_t)n, sizeof *tok->attrs, "token attributes");
    if (!tok->scores || !tok->types || !tok->attrs) return CT_ERR_OUT_OF_MEMORY;

    if (gguf_find(f, KEY_SCORES)) {
        CT_TRY(gguf_get_array(f, KEY_SCORES, GGUF_TYPE_COUNT_, &arr));
        if (arr->arr.count < (uint64_t)n)
            return ct_fail(CT_ERR_FORMAT, "%s: %s has %llu entries for %d tokens", path, KEY_SCORES,
                           (unsigned long long)arr->arr.count, (int)n);
        for (int32_t i = 0; i < n; i++) {
            double v;
            if (!gguf_array_f64(arr, (uint64_t)i, &v))
                return ct_fail(CT_ERR_FORMAT, "%s: %s[%d] is not a number", path, KEY_SCORES, (int)i);
            tok->scores[i] = isnan(v) ? -INFINITY : v == 0 ? 0.0f : (float)v; /* -0 ties with 0 */
        }
    }
    if (gguf_find(f, KEY_TYPES)) {
        CT_TRY(gguf_get_array(f, KEY_TYPES, GGUF_TYPE_COUNT_, &arr));
        if (arr->arr.count < (uint64_t)n)
            return ct_fail(CT_ERR_FORMAT, "%s: %s has %llu entries for %d tokens", path, KEY_TYPES,
                           (unsigned long long)arr->arr.count, (int)n);
        for (int32_t i = 0; i < n; i++) {
            int64_t v;
            if (!gguf_array_i64(arr, (uint64_t)i, &v))
                return ct_fail(CT_ERR_FORMAT, "%s: %s[%d] is not an integer", path, KEY_TYPES, (int)i);
            tok->types[i] = (v >= 0 && v <= CT_TOKEN_BYTE) ? (uint8_t)v : CT_TOKEN_UNDEFINED;
            tok->attrs[i] = attr_of_type(v);
        }
    } else {
        for (int32_t i = 0; i < n; i++) {
            tok->types[i] = CT_TOKEN_NORMAL;
            tok->attrs[i] = TOK_ATTR_NORMAL;
        }
    }
    return CT_OK;
}

/* Merges are "left right" strings, lowest rank first. Parts and results become pieces. */
static ct_status load_merges(ct_tokenizer *tok, const gguf_file *f, const char *path) {
    const gguf_value *arr;
    ct_status st = gguf_get_array(f, KEY_MERGES, GGUF_TYPE_STRING, &arr);
    if (st != CT_OK) return ct_fail_context(st, "a gpt2 tokenizer needs merges");
    if (arr->arr.count > INT32_MAX / 4)
        return ct_fail(CT_ERR_FORMAT, "%s: %s has %llu entries", path, KEY_MERGES, (unsigned long long)arr->arr.count);
    CT_TRY(tok_pairmap_init(&tok->merges, (size_t)arr->arr.count));
    char *joined = NULL;
    size_t joined_cap = 0;
    for (uint64_t i = 0; i < arr->arr.count; i++) {
        gguf_str s = arr->arr.strs[i];
        /* split at the first space after the first byte, as llama.cpp does */
        const char *sp = s.len > 1 ? memchr(s.data + 1, ' ', s.len - 1) : NULL;
        if (!sp) continue; /* matches no pair of symbols */
        size_t left_len = (size_t)(sp - s.data), right_len = s.len - left_len - 1;
        if (left_len + right_len + 1 > joined_cap) {
            joined_cap = 2 * (left_len + right_len) + 64;
            char *grown = realloc(joined, joined_cap);
            if (!grown) {
                free(joined);
                return ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory reading merges");
            }
            joined = grown;
        }
        memcpy(joined, s.data, left_len);
        memcpy(joined + left_len, sp + 1, right_len);
        int32_t left, right, result;
        st = tok_strtab_intern(&tok->strs, s.data, left_len, &left);
        if (st == CT_OK) st = tok_strtab_intern(&tok->strs, sp + 1, right_len, &right);
        if (st == CT_OK) st = tok_strtab_intern(&tok->strs, joined, left_len + right_len, &result);
        if (st == CT_OK) st = tok_pairmap_put(&tok->merges, left, right, (int32_t)i, result);
        if (st != CT_OK) {
            free(joined);
            return st;
        }
    }
    free(joined);
    for (int b = 0; b < 256; b++) {
        char spelled[4];
        size_t k = tok_utf8_encode(tok_byte_to_cpt((uint8_t)b), spelled);
        tok->byte_piece[b] = tok_strtab_find(&tok->strs, spelled, k);
    }
    return CT_OK;
}

/* Optional integer key holding a token id; out-of-range ids keep the default. */
static void read_token_id(const gguf_file *f, const char *key, int32_t n_vocab, int32_t *id) {
    if (*id >= n_vocab) *id = CT_TOKEN_NONE;
    if (!gguf_find(f, key)) return;
    uint64_t v;
    if (gguf_get_u64(f, key, &v) != CT_OK || v >= (uint64_t)n_vocab) {
        ct_log_info("tokenizer: ignoring %s (not a token id below %d)", key, (int)n_vocab);
        ct_clear_error();
        return;
    }
    *id = (int32_t)v;
}

static void read_flag(const gguf_file *f, const char *key, bool *flag) {
    if (!gguf_find(f, key)) return;
    bool v;
    if (gguf_get_bool(f, key, &v) == CT_OK) *flag = v;
    else ct_clear_error();
}

/* The first token whose text is in the list, or CT_TOKEN_NONE. */
static int32_t find_first(const ct_tokenizer *tok, const char *const *texts) {
    for (size_t i = 0; texts[i]; i++) {
        int32_t id = tok_strtab_find(&tok->strs, texts[i], strlen(texts[i]));
        if (id >= 0 && id < tok->n_vocab) return id;
    }
    return CT_TOKEN_NONE;
}

/* End-of-generation tokens, EOT/EOM detection, and the control type that llama.cpp forces
 * on tokens that look like turn ends (so that plain text cannot produce them). */
static void mark_eog(ct_tokenizer *tok) {
    /* roles found by text (not named by the file) become control tokens */
    int32_t found[] = {tok->eot < 0 ? (tok->eot = find_first(tok, eot_texts)) : CT_TOKEN_NONE,
                       tok->eom < 0 ? (tok->eom = find_first(tok, eom_texts)) : CT_TOKEN_NONE,
                       find_first(tok, fim_pad_texts), find_first(tok, fim_rep_texts), find_first(tok, fim_sep_texts)};
    for (size_t i = 0; i < sizeof found / sizeof found[0]; i++)
        if (found[i] >= 0) tok->attrs[found[i]] |= TOK_ATTR_EOG | TOK_ATTR_CONTROL;
    for (size_t i = 0; eog_texts[i]; i++) {
        int32_t id = tok_strtab_find(&tok->strs, eog_texts[i], strlen(eog_texts[i]));
        if (id >= 0 && id < tok->n_vocab) tok->attrs[id] |= TOK_ATTR_EOG | TOK_ATTR_CONTROL;
    }
    int32_t named[] = {tok->eos, tok->eot, tok->eom};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (named[i] >= 0) tok->attrs[named[i]] |= TOK_ATTR_EOG;
}

/* llama.cpp strips whitespace after Phi-3's special tokens (its HF config says rstrip). */
static void apply_model_quirks(ct_tokenizer *tok, const gguf_file *f) {
    gguf_str name;
    if (!gguf_find(f, "general.name") || gguf_get_str(f, "general.name", &name) != CT_OK) {
        ct_clear_error();
        return;
    }
    char lower[128];
    size_t n = name.len < sizeof lower - 1 ? (size_t)name.len : sizeof lower - 1;
    for (size_t i = 0; i < n; i++) lower[i] = (char)tolower((unsigned char)name.data[i]);
    lower[n] = '\0';
    if (!strstr(lower, "phi-3") && !strstr(lower, "phi3")) return;
    for (int32_t i = 0; i < tok->n_vocab; i++)
        if (tok->attrs[i] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN)) tok->attrs[i] |= TOK_ATTR_RSTRIP;
    static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
    int32_t id = tok_strtab_find(&tok->strs, "</s>", 4);
    if (id >= 0 && id < tok->n_vocab) tok->attrs[id] |= TOK_ATTR_RSTRIP;
    for (size_t i = 0; i < 3; i++) {
        id = tok_strtab_find(&tok->strs, keep[i], strlen(keep[i]));
        if (id >= 0 && id < tok->n_vocab) tok->attrs[id] &= (uint16_t)~TOK_ATTR_RSTRIP;
    }
}

ct_status ct_tokenizer_load(const gguf_file *f, ct_tokenizer **out) { return tok_load_with_pre(f, NULL, out); }

ct_status tok_load_with_pre(const gguf_file *f, const char *pre_override, ct_tokenizer **out) {
    *out = NULL;
    const char *path = gguf_path(f);
    gguf_str model;
    ct_status st = gguf_get_str(f, KEY_MODEL, &model);
    if (st != CT_OK) return ct_fail_context(st, "reading the tokenizer");

    ct_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory loading the tokenizer of %s", path);
    tok->eot = tok->eom = tok->pad = CT_TOKEN_NONE;

    tok_pre_traits traits = {0};
    if (gguf_str_eq(model, "llama")) {
        tok->kind = CT_VOCAB_SPM;
        tok->bos = 1;
        tok->eos = 2;
        tok->unk = 0;
        tok->add_bos = true;
        tok->add_space_prefix = true;
        snprintf(tok->pre_name, sizeof tok->pre_name, "default");
    } else if (gguf_str_eq(model, "gpt2")) {
        tok->kind = CT_VOCAB_BPE;
        tok->bos = tok->eos = 11;
        tok->unk = CT_TOKEN_NONE;
        gguf_str pre = {"default", 7};
        if (pre_override) {
            pre.data = pre_override;
            pre.len = strlen(pre_override);
        } else if (gguf_find(f, KEY_PRE)) {
            st = gguf_get_str(f, KEY_PRE, &pre);
            if (st != CT_OK) goto fail;
        } else {
            ct_log_info("%s: no %s, using the default pre-tokenizer (quality may suffer)", path, KEY_PRE);
        }
        if (pre.len >= sizeof tok->pre_name) {
            st = ct_fail(CT_ERR_UNSUPPORTED, "%s: unknown pre-tokenizer '%.*s' (%s)", path, 64, pre.data, KEY_PRE);
            goto fail;
        }
        memcpy(tok->pre_name, pre.data, pre.len);
        tok->pre_name[pre.len] = '\0';
        st = tok_pretok_create(tok->pre_name, &tok->pretok, &traits);
        if (st != CT_OK) {
            ct_fail_context(st, "%s", path);
            goto fail;
        }
        tok->add_bos = traits.add_bos;
        tok->ignore_merges = traits.ignore_merges;
        if (traits.no_bos) tok->bos = CT_TOKEN_NONE;
    } else {
        st = ct_fail(CT_ERR_UNSUPPORTED, "%s: unsupported tokenizer model '%.*s' in %s (ctorch reads llama, gpt2)",
                     path, (int)(model.len > 64 ? 64 : model.len), model.data, KEY_MODEL);
        goto fail;
    }

    st = load_tokens(tok, f, path);
    if (st != CT_OK) goto fail;
    if (tok->kind == CT_VOCAB_BPE) {
        st = load_merges(tok, f, path);
        if (st != CT_OK) goto fail;
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        int32_t id = tok_strtab_find(&tok->strs, name, 6);
        tok->byte_token[b] = id < tok->n_vocab ? id : -1;
    }

    read_flag(f, "tokenizer.ggml.add_space_prefix", &tok->add_space_prefix);
    read_token_id(f, "tokenizer.ggml.bos_token_id", tok->n_vocab, &tok->bos);
    read_token_id(f, "tokenizer.ggml.eos_token_id", tok->n_vocab, &tok->eos);
    read_token_id(f, "tokenizer.ggml.eot_token_id", tok->n_vocab, &tok->eot);
    read_token_id(f, "tokenizer.ggml.eom_token_id", tok->n_vocab, &tok->eom);
    read_token_id(f, "tokenizer.ggml.unknown_token_id", tok->n_vocab, &tok->unk);
    read_token_id(f, "tokenizer.ggml.padding_token_id", tok->n_vocab, &tok->pad);
    read_flag(f, "tokenizer.ggml.add_bos_token", &tok->add_bos);
    read_flag(f, "tokenizer.ggml.add_eos_token", &tok->add_eos);
    if (tok->add_bos && tok->bos < 0) {
        st = ct_fail(CT_ERR_FORMAT, "%s: tokenizer.ggml.add_bos_token is true but there is no BOS token", path);
        goto fail;
    }
    if (tok->add_eos && tok->eos < 0) {
        st = ct_fail(CT_ERR_FORMAT, "%s: tokenizer.ggml.add_eos_token is true but there is no EOS token", path);
        goto fail;
    }
    mark_eog(tok);
    apply_model_quirks(tok, f);

    if (tok->kind == CT_VOCAB_SPM && (st = tok_spm_prepare(tok)) != CT_OK) goto fail;
    st = tok_special_build(tok, &tok->special);
    if (st == CT_OK) st = tok_build_pieces(tok);
    if (st != CT_OK) goto fail;
    *out = tok;
    return CT_OK;
fail:
    ct_tokenizer_free(tok);
    return st;
}

/* ---- accessors ---------------------------------------------------------------- */

ct_vocab_kind ct_tokenizer_kind(const ct_tokenizer *tok) { return tok->kind; }
const char *ct_tokenizer_pre_name(const ct_tokenizer *tok) { return tok->pre_name; }
int32_t ct_tokenizer_n_vocab(const ct_tokenizer *tok) { return tok->n_vocab; }
int32_t ct_tokenizer_bos(const ct_tokenizer *tok) { return tok->bos; }
int32_t ct_tokenizer_eos(const ct_tokenizer *tok) { return tok->eos; }
int32_t ct_tokenizer_eot(const ct_tokenizer *tok) { return tok->eot; }
int32_t ct_tokenizer_unk(const ct_tokenizer *tok) { return tok->unk; }
int32_t ct_tokenizer_pad(const ct_tokenizer *tok) { return tok->pad; }
bool ct_tokenizer_adds_bos(const ct_tokenizer *tok) { return tok->add_bos; }
bool ct_tokenizer_adds_eos(const ct_tokenizer *tok) { return tok->add_eos; }
bool ct_tokenizer_adds_space_prefix(const ct_tokenizer *tok) { return tok->kind == CT_VOCAB_SPM && tok->add_space_prefix; }

bool ct_tokenizer_is_eog(const ct_tokenizer *tok, int32_t id) {
    return id >= 0 && id < tok->n_vocab && (tok->attrs[id] & TOK_ATTR_EOG);
}

ct_token_type ct_tokenizer_token_type(const ct_tokenizer *tok, int32_t id) {
    return id >= 0 && id < tok->n_vocab ? (ct_token_type)tok->types[id] : CT_TOKEN_UNDEFINED;
}

float ct_tokenizer_score(const ct_tokenizer *tok, int32_t id) {
    return id >= 0 && id < tok->n_vocab ? tok->scores[id] : 0.0f;
}

const char *ct_tokenizer_token_text(const ct_tokenizer *tok, int32_t id, size_t *len) {
    if (id < 0 || id >= tok->n_vocab) {
        *len = 0;
        return "";
    }
    return tok_strtab_str(&tok->strs, id, len);
}

int32_t ct_tokenizer_find(const ct_tokenizer *tok, const char *text, size_t len) {
    int32_t id = tok_strtab_find(&tok->strs, text, len);
    return id >= 0 && id < tok->n_vocab ? id : CT_TOKEN_NONE;
}
