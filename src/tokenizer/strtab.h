/* Hash tables for the tokenizer: an interning string table (string <-> dense id) and a
 * map from a pair of ids to a BPE merge. Open addressing, linear probing, power-of-two
 * sizes kept at most half full. */
#ifndef CT_TOKENIZER_STRTAB_H
#define CT_TOKENIZER_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

uint64_t tok_hash_bytes(const void *data, size_t len);

typedef struct tok_strtab_slot {
    int32_t id;   /* -1 when empty */
    uint32_t tag; /* high hash bits: most mismatches are rejected without touching the string */
} tok_strtab_slot;

/* Strings with dense ids 0..count-1 in insertion order; bytes are copied in. */
typedef struct tok_strtab {
    char *bytes;
    size_t bytes_len, bytes_cap;
    uint32_t *off, *len; /* per id */
    int32_t count, cap;
    struct tok_strtab_slot *slots;
    size_t n_slots; /* power of two */
} tok_strtab;

void tok_strtab_free(tok_strtab *t);
/* Reserve room for n strings of total_bytes bytes (a hint; the table grows anyway). */
ct_status tok_strtab_reserve(tok_strtab *t, int32_t n, size_t total_bytes);
/* Id of the string s[0..n), or -1. */
int32_t tok_strtab_find(const tok_strtab *t, const char *s, size_t n);
/* Append s[0..n) as a new id without checking for duplicates. */
ct_status tok_strtab_append(tok_strtab *t, const char *s, size_t n, int32_t *id);
/* The id of s[0..n), adding it when absent. */
ct_status tok_strtab_intern(tok_strtab *t, const char *s, size_t n, int32_t *id);
static inline const char *tok_strtab_str(const tok_strtab *t, int32_t id, size_t *n) {
    *n = t->len[id];
    return t->bytes + t->off[id];
}

/* (left id, right id) -> (rank, id of the merged string). */
typedef struct tok_merge {
    uint64_t key; /* left << 32 | right */
    int32_t rank;
    int32_t result;
} tok_merge;

typedef struct tok_pairmap {
    tok_merge *slots; /* key == UINT64_MAX when empty */
    size_t n_slots, count;
} tok_pairmap;

void tok_pairmap_free(tok_pairmap *m);
ct_status tok_pairmap_init(tok_pairmap *m, size_t expected);
/* Insert unless the pair is present (the first, lowest-ranked merge wins). */
ct_status tok_pairmap_put(tok_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t result);
const tok_merge *tok_pairmap_get(const tok_pairmap *m, int32_t left, int32_t right);

#endif
