#include "tokenizer/strtab.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* A fast non-cryptographic hash: 8 bytes at a time, multiply-xorshift mixing. */
uint64_t tok_hash_bytes(const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (len * 0xC2B2AE3D27D4EB4Full);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < len; i++) tail |= (uint64_t)p[i] << (8 * i);
    h = (h ^ tail) * 0x94D049BB133111EBull;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
}

/* ---- string table ------------------------------------------------------------- */

void tok_strtab_free(tok_strtab *t) {
    free(t->bytes);
    free(t->off);
    free(t->len);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static ct_status strtab_rehash(tok_strtab *t, size_t n_slots) {
    tok_strtab_slot *slots = ct_alloc_array(n_slots, sizeof *slots, "tokenizer hash table");
    if (!slots) return CT_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < n_slots; i++) slots[i] = (tok_strtab_slot){-1, 0};
    for (int32_t id = 0; id < t->count; id++) {
        uint64_t h = tok_hash_bytes(t->bytes + t->off[id], t->len[id]);
        size_t i = (size_t)h & (n_slots - 1);
        while (slots[i].id >= 0) i = (i + 1) & (n_slots - 1);
        slots[i] = (tok_strtab_slot){id, (uint32_t)(h >> 32)};
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n_slots;
    return CT_OK;
}

ct_status tok_strtab_reserve(tok_strtab *t, int32_t n, size_t total_bytes) {
    if (n > t->cap) {
        uint32_t *off = ct_realloc_array(t->off, (size_t)n, sizeof *off, "tokenizer strings");
        if (!off) return CT_ERR_OUT_OF_MEMORY;
        t->off = off;
        uint32_t *len = ct_realloc_array(t->len, (size_t)n, sizeof *len, "tokenizer strings");
        if (!len) return CT_ERR_OUT_OF_MEMORY;
        t->len = len;
        t->cap = n;
    }
    if (total_bytes > t->bytes_cap) {
        char *bytes = ct_realloc_array(t->bytes, total_bytes, 1, "tokenizer strings");
        if (!bytes) return CT_ERR_OUT_OF_MEMORY;
        t->bytes = bytes;
        t->bytes_cap = total_bytes;
    }
    size_t want = 16;
    while (want < 2 * (size_t)n) want *= 2;
    if (want > t->n_slots) return strtab_rehash(t, want);
    return CT_OK;
}

int32_t tok_strtab_find(const tok_strtab *t, const char *s, size_t n) {
    if (!t->n_slots) return -1;
    size_t mask = t->n_slots - 1;
    uint64_t h = tok_hash_bytes(s, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        tok_strtab_slot slot = t->slots[i];
        if (slot.id < 0) return -1;
        if (slot.tag == tag && t->len[slot.id] == n && memcmp(t->bytes + t->off[slot.id], s, n) == 0) return slot.id;
    }
}

ct_status tok_strtab_append(tok_strtab *t, const char *s, size_t n, int32_t *id) {
    if (t->count == INT32_MAX || n > UINT32_MAX || t->bytes_len + n > UINT32_MAX)
        return ct_fail(CT_ERR_RANGE, "tokenizer strings exceed 4 GiB or 2^31 entries");
    if (t->count == t->cap) {
        int32_t cap = t->cap ? (t->cap > INT32_MAX / 2 ? INT32_MAX : t->cap * 2) : 256;
        CT_TRY(tok_strtab_reserve(t, cap, t->bytes_cap));
    }
    if (t->bytes_len + n > t->bytes_cap) {
        size_t cap = t->bytes_cap ? t->bytes_cap : 4096;
        while (cap < t->bytes_len + n) cap *= 2;
        CT_TRY(tok_strtab_reserve(t, t->cap, cap));
    }
    if (2 * ((size_t)t->count + 1) > t->n_slots) CT_TRY(strtab_rehash(t, t->n_slots ? 2 * t->n_slots : 16));
    int32_t new_id = t->count++;
    if (n) memcpy(t->bytes + t->bytes_len, s, n);
    t->off[new_id] = (uint32_t)t->bytes_len;
    t->len[new_id] = (uint32_t)n;
    t->bytes_len += n;
    size_t mask = t->n_slots - 1;
    uint64_t h = tok_hash_bytes(s, n);
    size_t i = (size_t)h & mask;
    while (t->slots[i].id >= 0) i = (i + 1) & mask;
    t->slots[i] = (tok_strtab_slot){new_id, (uint32_t)(h >> 32)};
    *id = new_id;
    return CT_OK;
}

ct_status tok_strtab_intern(tok_strtab *t, const char *s, size_t n, int32_t *id) {
    int32_t found = tok_strtab_find(t, s, n);
    if (found >= 0) {
        *id = found;
        return CT_OK;
    }
    return tok_strtab_append(t, s, n, id);
}

/* ---- pair map ----------------------------------------------------------------- */

static inline size_t pair_slot(uint64_t key, size_t mask) {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 29)) & mask;
}

void tok_pairmap_free(tok_pairmap *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

ct_status tok_pairmap_init(tok_pairmap *m, size_t expected) {
    size_t n = 16;
    while (n < 2 * expected + 2) n *= 2;
    m->slots = ct_alloc_array(n, sizeof *m->slots, "BPE merge table");
    if (!m->slots) return CT_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < n; i++) m->slots[i].key = UINT64_MAX;
    m->n_slots = n;
    m->count = 0;
    return CT_OK;
}

static ct_status pairmap_grow(tok_pairmap *m) {
    tok_pairmap bigger;
    CT_TRY(tok_pairmap_init(&bigger, m->n_slots));
    for (size_t i = 0; i < m->n_slots; i++) {
        if (m->slots[i].key == UINT64_MAX) continue;
        size_t j = pair_slot(m->slots[i].key, bigger.n_slots - 1);
        while (bigger.slots[j].key != UINT64_MAX) j = (j + 1) & (bigger.n_slots - 1);
        bigger.slots[j] = m->slots[i];
    }
    bigger.count = m->count;
    free(m->slots);
    *m = bigger;
    return CT_OK;
}

ct_status tok_pairmap_put(tok_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t result) {
    if (2 * (m->count + 1) > m->n_slots) CT_TRY(pairmap_grow(m));
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    size_t mask = m->n_slots - 1;
    size_t i = pair_slot(key, mask);
    while (m->slots[i].key != UINT64_MAX) {
        if (m->slots[i].key == key) return CT_OK;
        i = (i + 1) & mask;
    }
    m->slots[i] = (tok_merge){key, rank, result};
    m->count++;
    return CT_OK;
}

const tok_merge *tok_pairmap_get(const tok_pairmap *m, int32_t left, int32_t right) {
    if (!m->n_slots) return NULL;
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    size_t mask = m->n_slots - 1;
    size_t i = pair_slot(key, mask);
    for (;;) {
        const tok_merge *s = &m->slots[i];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
        i = (i + 1) & mask;
    }
}
