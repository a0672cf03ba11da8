/* Pre-tokenization for byte-level BPE: the list of regexes that `tokenizer.ggml.pre` names,
 * applied in turn. Each regex splits every piece left by the previous ones into its
 * matches and the gaps between them (both kept), as Hugging Face's Split(..., "isolated")
 * and llama.cpp's unicode_regex_split do. Regexes run in PCRE2 with UTF + UCP; `\s` is
 * spelled out as the Unicode White_Space set so that it means the same as in the reference
 * (PCRE2 also counts U+180E). */
#ifndef CT_TOKENIZER_PRETOKENIZE_H
#define CT_TOKENIZER_PRETOKENIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

typedef struct tok_pretok tok_pretok;

/* What a pre-tokenizer name implies beyond its regexes (llama.cpp's per-name settings). */
typedef struct tok_pre_traits {
    bool ignore_merges;  /* a word that is itself a token is not merged (Llama 3) */
    bool add_bos;        /* default of add_bos_token when the file does not say */
    bool no_bos;         /* the family has no BOS token by default (ChatGLM) */
} tok_pre_traits;

/* Compile the regexes for pre-tokenizer `name` ("" or NULL means "default").
 * CT_ERR_UNSUPPORTED for an unknown name. */
ct_status tok_pretok_create(const char *name, tok_pretok **out, tok_pre_traits *traits);
void tok_pretok_free(tok_pretok *p);

typedef struct tok_span {
    size_t start, len;
} tok_span;

/* Per-call scratch (match data, JIT stack, span buffers); one per thread or call. */
typedef struct tok_split_scratch tok_split_scratch;
ct_status tok_split_scratch_create(const tok_pretok *p, tok_split_scratch **out);
void tok_split_scratch_free(tok_split_scratch *s);

/* Split text[0..len) (well-formed UTF-8) into words. *words points into the scratch and
 * stays valid until the next call with it. */
ct_status tok_pretok_split(const tok_pretok *p, tok_split_scratch *s, const char *text, size_t len,
                           const tok_span **words, size_t *n_words);

#endif
