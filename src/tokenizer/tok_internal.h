/* The tokenizer's internals, shared by its .c files (not for use outside src/tokenizer). */
#ifndef CT_TOKENIZER_TOK_INTERNAL_H
#define CT_TOKENIZER_TOK_INTERNAL_H

#include <string.h>

#include "tokenizer/pretokenize.h"
#include "tokenizer/strtab.h"
#include "tokenizer/tokenizer.h"

/* Token attributes: the file's token type plus what loading infers (llama.cpp's attrs). */
enum {
    TOK_ATTR_UNKNOWN = 1 << 0,
    TOK_ATTR_UNUSED = 1 << 1,
    TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,
    TOK_ATTR_USER_DEFINED = 1 << 4,
    TOK_ATTR_BYTE = 1 << 5,
    TOK_ATTR_LSTRIP = 1 << 6, /* swallow whitespace before the token when matched in text */
    TOK_ATTR_RSTRIP = 1 << 7, /* ... and after it */
    TOK_ATTR_EOG = 1 << 8,    /* ends generation */
};

/* ct_tokenizer_load with another pre-tokenizer than the file names (tests run every regex
 * set over one vocabulary); NULL means the file's. */
ct_status tok_load_with_pre(const gguf_file *f, const char *pre_override, ct_tokenizer **out);

/* Special tokens matched verbatim in text, as a byte trie. */
typedef struct tok_special tok_special;
ct_status tok_special_build(const ct_tokenizer *tok, tok_special **out);
void tok_special_free(tok_special *s);

/* A piece of the input after special-token matching: text, or one token. */
typedef struct tok_fragment {
    int32_t token; /* -1 for text */
    size_t start, len;
} tok_fragment;

/* Split text into fragments (allocating *frags). parse_control: also match control and
 * unknown tokens; user-defined ones always match. */
ct_status tok_special_partition(const ct_tokenizer *tok, const char *text, size_t len, bool parse_control,
                                tok_fragment **frags, size_t *n_frags);

struct ct_tokenizer {
    ct_vocab_kind kind;
    char pre_name[64];
    int32_t n_vocab;
    /* ids 0..n_vocab-1 are the tokens; BPE appends merge pieces that are not tokens */
    tok_strtab strs;
    float *scores;
    uint8_t *types;  /* ct_token_type per token */
    uint16_t *attrs; /* TOK_ATTR_* per token */

    int32_t bos, eos, eot, eom, unk, pad;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;

    /* SPM: <0xNN> token of each byte (or -1) */
    int32_t byte_token[256];
    /* SPM: sorted codes of the characters that come right before a '▁' inside some token
     * (code points, or TOK_SPM_RAW_BYTE + byte); a '▁' after any other character starts
     * an independent chunk of merging */
    uint32_t *space_joiners;
    int32_t n_space_joiners;

    /* BPE */
    tok_pairmap merges;
    int32_t byte_piece[256]; /* piece id of the code point that spells each byte, or -1 */
    tok_pretok *pretok;

    tok_special *special;

    /* decoded text of every token (control/unknown ones are hidden by attrs unless rendered) */
    char *piece_bytes;
    uint32_t *piece_off; /* n_vocab + 1 offsets */
    int32_t max_piece_len;
};

/* Per-call working memory of the encoders, reused across fragments and words. */
typedef struct tok_work {
    tok_split_scratch *split; /* BPE only */
    struct tok_symbol *syms;
    size_t syms_cap;
    struct tok_heap *heap;
    char *buf; /* escaped (SPM) or sanitized (BPE) text */
    size_t buf_cap;
    char *word; /* BPE: a word spelled in byte-level code points */
    size_t word_cap;
} tok_work;

ct_status tok_work_init(tok_work *w, const ct_tokenizer *tok);
void tok_work_free(tok_work *w);
/* Grow the symbol array to at least n entries. */
ct_status tok_reserve_symbols(tok_work *w, size_t n);
/* Grow a byte buffer to at least n bytes. */
ct_status tok_reserve_bytes(char **buf, size_t *cap, size_t n);

/* SPM symbol code of a byte that starts no valid UTF-8 sequence: past all code points. */
#define TOK_SPM_RAW_BYTE 0x110000u
/* Build the SPM chunking table (called once by the loader). */
ct_status tok_spm_prepare(ct_tokenizer *tok);

/* Encoders: append the tokens of one text fragment (any bytes). SPM: add_prefix puts the
 * SentencePiece space in front. */
ct_status tok_spm_encode(const ct_tokenizer *tok, tok_work *w, const char *text, size_t len, bool add_prefix,
                         ct_tokens *out);
ct_status tok_bpe_encode(const ct_tokenizer *tok, tok_work *w, const char *text, size_t len, ct_tokens *out);

/* Build the per-token decoded pieces (called once by the loader). */
ct_status tok_build_pieces(ct_tokenizer *tok);

/* A candidate merge of symbol `left` with the symbol after it. The queue pops the smallest
 * key: (priority << 32 | left), priority being the BPE rank, or the SPM score mapped so
 * that higher scores come first; ties go to the leftmost pair, as in llama.cpp. */
typedef struct tok_merge_cand {
    uint64_t key;
    uint32_t size;  /* left + right length when queued: stale if the symbols changed since */
    int32_t result; /* BPE: piece id of the merge */
} tok_merge_cand;

static inline uint64_t tok_cand_key(uint32_t priority, int32_t left) { return (uint64_t)priority << 32 | (uint32_t)left; }
static inline int32_t tok_cand_left(const tok_merge_cand *c) { return (int32_t)(uint32_t)c->key; }
/* An SPM score as a priority: higher scores give smaller priorities. */
static inline uint32_t tok_score_priority(float score) {
    uint32_t u;
    memcpy(&u, &score, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* order-preserving map of float bits */
    return ~u;
}

typedef struct tok_heap {
    tok_merge_cand *items;
    size_t count, cap;
} tok_heap;

ct_status tok_heap_push(tok_heap *h, tok_merge_cand c);
tok_merge_cand tok_heap_pop(tok_heap *h); /* count must be > 0 */
void tok_heap_free(tok_heap *h);

/* A symbol of the merge loop: a span of the text, in a doubly linked list. */
typedef struct tok_symbol {
    uint32_t start, len;
    int32_t prev, next;
    int32_t piece; /* BPE: piece id or -1 */
} tok_symbol;

#endif
