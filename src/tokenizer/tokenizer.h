/* Tokenizers read from GGUF metadata: SentencePiece-style BPE (`tokenizer.ggml.model` =
 * "llama": merges by score, `<0xNN>` byte fallback) and byte-level BPE ("gpt2": merges by
 * rank, pre-tokenized by the regex set that `tokenizer.ggml.pre` names).
 *
 * The behaviour follows llama.cpp's llama-vocab.cpp, whose test vectors come from the
 * models' own Hugging Face tokenizers; where ctorch deliberately differs (invalid UTF-8 is
 * grouped byte by byte) the .c file says so.
 *
 * A loaded tokenizer owns copies of everything it needs (the GGUF file may be closed after
 * loading) and is read-only afterwards: encode/decode may run on several threads at once. */
#ifndef CT_TOKENIZER_TOKENIZER_H
#define CT_TOKENIZER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "gguf/gguf.h"

typedef struct ct_tokenizer ct_tokenizer;

/* Which algorithm the vocabulary uses. */
typedef enum ct_vocab_kind {
    CT_VOCAB_SPM, /* "llama": SentencePiece BPE over characters, scores, byte fallback */
    CT_VOCAB_BPE, /* "gpt2": byte-level BPE with ranked merges and a regex pre-tokenizer */
} ct_vocab_kind;

/* `tokenizer.ggml.token_type` values, as written by the GGUF converters. */
typedef enum ct_token_type {
    CT_TOKEN_UNDEFINED = 0,
    CT_TOKEN_NORMAL = 1,
    CT_TOKEN_UNKNOWN = 2,
    CT_TOKEN_CONTROL = 3,      /* <s>, </s>, <|im_end|>: never produced from plain text */
    CT_TOKEN_USER_DEFINED = 4, /* always matched verbatim in input text */
    CT_TOKEN_UNUSED = 5,
    CT_TOKEN_BYTE = 6,         /* <0xNN> */
} ct_token_type;

#define CT_TOKEN_NONE (-1) /* "no such token" for the special-id accessors */

/* ---- loading ------------------------------------------------------------------ */
/* Read the vocabulary from an open GGUF file. Errors name the file and the key. */
ct_status ct_tokenizer_load(const gguf_file *file, ct_tokenizer **out);
void ct_tokenizer_free(ct_tokenizer *tok);

/* ---- encoding ----------------------------------------------------------------- */
/* A growable list of token ids. Start from {0}; free with ct_tokens_free(). */
typedef struct ct_tokens {
    int32_t *ids;
    size_t count;
    size_t capacity;
} ct_tokens;
void ct_tokens_free(ct_tokens *tokens);
ct_status ct_tokens_push(ct_tokens *tokens, int32_t id);

enum {
    /* Add BOS/EOS where the model's metadata asks for them (add_bos_token/add_eos_token). */
    CT_ENCODE_ADD_SPECIAL = 1u << 0,
    /* Recognise control tokens written in the text ("<|im_start|>"). Chat templates set it;
     * raw user text must not. User-defined tokens are recognised either way. */
    CT_ENCODE_PARSE_SPECIAL = 1u << 1,
};

/* Append the tokens of text[0..len) to out. Any bytes are accepted; invalid UTF-8 is
 * encoded through byte fallback (SPM) or as U+FFFD (BPE), never rejected. */
ct_status ct_tokenizer_encode(const ct_tokenizer *tok, const char *text, size_t len, unsigned flags,
                              ct_tokens *out);

/* ---- decoding ----------------------------------------------------------------- */
/* The bytes a token stands for (possibly part of a UTF-8 sequence). Control and unknown
 * tokens give "" unless render_special; an out-of-range id gives "". Points into the
 * tokenizer; *len receives the length. */
const char *ct_tokenizer_piece(const ct_tokenizer *tok, int32_t id, bool render_special, size_t *len);

enum {
    /* Show control tokens ("<|im_end|>") in decoded text instead of dropping them. */
    CT_DECODE_RENDER_SPECIAL = 1u << 0,
    /* Keep the space that SentencePiece encoding puts before the text (add_space_prefix);
     * by default decode removes it so that decode(encode(x)) == x. */
    CT_DECODE_KEEP_PREFIX_SPACE = 1u << 1,
};

/* Text of a token sequence as valid UTF-8 (invalid byte sequences become U+FFFD).
 * *out is malloc'd and NUL-terminated; free() it. */
ct_status ct_tokenizer_decode(const ct_tokenizer *tok, const int32_t *ids, size_t n_ids, unsigned flags,
                              char **out, size_t *out_len);

/* Streaming detokenization for generation: push tokens one at a time, get back the text
 * they complete. A token that ends inside a UTF-8 sequence yields nothing until the
 * sequence completes; invalid bytes become U+FFFD. */
typedef struct ct_detok ct_detok;
/* flags: CT_DECODE_RENDER_SPECIAL only (no prefix space is removed while streaming). */
ct_status ct_detok_create(const ct_tokenizer *tok, unsigned flags, ct_detok **out);
void ct_detok_free(ct_detok *d);
/* Returns the newly completed text (valid UTF-8, maybe empty); it stays valid until the
 * next call on d. */
const char *ct_detok_push(ct_detok *d, int32_t id, size_t *len);
/* End of stream: a dangling incomplete sequence comes out as U+FFFD. */
const char *ct_detok_flush(ct_detok *d, size_t *len);

/* ---- vocabulary facts ----------------------------------------------------------- */
ct_vocab_kind ct_tokenizer_kind(const ct_tokenizer *tok);
const char *ct_tokenizer_pre_name(const ct_tokenizer *tok); /* "default" for SPM */
int32_t ct_tokenizer_n_vocab(const ct_tokenizer *tok);
int32_t ct_tokenizer_bos(const ct_tokenizer *tok); /* CT_TOKEN_NONE when absent */
int32_t ct_tokenizer_eos(const ct_tokenizer *tok);
int32_t ct_tokenizer_eot(const ct_tokenizer *tok); /* end of turn: <|im_end|>, <end_of_turn> */
int32_t ct_tokenizer_unk(const ct_tokenizer *tok);
int32_t ct_tokenizer_pad(const ct_tokenizer *tok);
bool ct_tokenizer_adds_bos(const ct_tokenizer *tok);
bool ct_tokenizer_adds_eos(const ct_tokenizer *tok);
bool ct_tokenizer_adds_space_prefix(const ct_tokenizer *tok);
/* Does this token end generation (EOS, EOT, and the end-of-text tokens the model knows)? */
bool ct_tokenizer_is_eog(const ct_tokenizer *tok, int32_t id);
ct_token_type ct_tokenizer_token_type(const ct_tokenizer *tok, int32_t id);
/* The token's SentencePiece score (0 for vocabularies without scores or bad ids). */
float ct_tokenizer_score(const ct_tokenizer *tok, int32_t id);
/* The vocabulary string of a token as stored in the file (SPM "▁the", BPE "Ġthe"). */
const char *ct_tokenizer_token_text(const ct_tokenizer *tok, int32_t id, size_t *len);
/* The id whose vocabulary string is exactly text[0..len), or CT_TOKEN_NONE. */
int32_t ct_tokenizer_find(const ct_tokenizer *tok, const char *text, size_t len);

#endif
