/* The vocabulary of a synthetic model: copied from another GGUF, or generated. */
#ifndef CT_SYNTH_VOCAB_H
#define CT_SYNTH_VOCAB_H

#include <stdint.h>

#include "core/status.h"
#include "gguf/gguf.h"

/* SentencePiece token types, as llama.cpp stores them in tokenizer.ggml.token_type. */
enum {
    SYNTH_TOKEN_NORMAL = 1,
    SYNTH_TOKEN_UNKNOWN = 2,
    SYNTH_TOKEN_CONTROL = 3,
    SYNTH_TOKEN_BYTE = 6,
};

/* Ids of the special tokens in a generated vocabulary. */
#define SYNTH_VOCAB_UNK 0
#define SYNTH_VOCAB_BOS 1
#define SYNTH_VOCAB_EOS 2
#define SYNTH_VOCAB_FIRST_BYTE 3
#define SYNTH_VOCAB_MIN 259 /* <unk>, <s>, </s> and the 256 byte tokens */

/* Number of tokens in src's tokenizer.ggml.tokens (CT_ERR_NOT_FOUND naming the file if none). */
ct_status synth_vocab_size(const gguf_file *src, uint32_t *n_vocab);

/* Copy every tokenizer.* key of src into w, values unchanged. */
ct_status synth_vocab_copy(gguf_writer *w, const gguf_file *src);

/* Write a SentencePiece-style ("llama") vocabulary of n_vocab tokens: <unk>, <s>, </s>, the 256
 * byte tokens <0x00>..<0xFF> (type BYTE, so any text encodes by byte fallback), then synthetic
 * pieces with decreasing scores: "▁", printable ASCII characters, "▁"+character, then lowercase
 * letter pairs, triples, ... each bare and with a leading "▁". Every piece is unique. */
ct_status synth_vocab_generate(gguf_writer *w, uint32_t n_vocab);

/* The largest n_vocab synth_vocab_generate() supports. */
uint32_t synth_vocab_generate_max(void);

/* Piece i of a generated vocabulary (0 <= i < n_vocab), NUL-terminated into buf (>= 32 bytes). */
ct_status synth_vocab_piece(uint32_t id, char *buf, size_t size);

#endif
