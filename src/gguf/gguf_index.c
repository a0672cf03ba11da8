/* A hash index from names to positions, for keys and tensor names: O(1) lookups and
 * duplicate detection without comparing every pair. The names live elsewhere; a slot holds
 * the name's hash and its position, and key_at() fetches the name to compare. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "gguf/gguf_internal.h"

static uint64_t hash_bytes(const char *s, uint64_t len) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (uint64_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

ct_status gguf_index_init(gguf_index *ix, uint64_t count, gguf_index_key_fn key_at, const void *ctx) {
    memset(ix, 0, sizeof *ix);
    uint64_t n_slots = 8;
    while (n_slots < count * 2) {
        if (n_slots > (UINT64_MAX >> 2)) return ct_fail(CT_ERR_OUT_OF_MEMORY, "name index of %llu entries", (unsigned long long)count);
        n_slots *= 2;
    }
    if (n_slots > SIZE_MAX / sizeof(gguf_index_slot))
        return ct_fail(CT_ERR_OUT_OF_MEMORY, "name index of %llu entries", (unsigned long long)count);
    ix->slots = ct_calloc_array((size_t)n_slots, sizeof(gguf_index_slot), "GGUF name index");
    if (!ix->slots) return CT_ERR_OUT_OF_MEMORY;
    ix->mask = n_slots - 1;
    ix->key_at = key_at;
    ix->ctx = ctx;
    return CT_OK;
}

void gguf_index_free(gguf_index *ix) {
    free(ix->slots);
    memset(ix, 0, sizeof *ix);
}

static bool slot_matches(const gguf_index *ix, const gguf_index_slot *slot, uint64_t hash, const char *key,
                         uint64_t len) {
    if (slot->hash != hash) return false;
    gguf_str other = ix->key_at(ix->ctx, slot->index_plus_1 - 1);
    return other.len == len && (len == 0 || memcmp(other.data, key, (size_t)len) == 0);
}

bool gguf_index_insert(gguf_index *ix, gguf_str key, uint64_t index, uint64_t *existing) {
    uint64_t hash = hash_bytes(key.data, key.len);
    for (uint64_t i = hash & ix->mask;; i = (i + 1) & ix->mask) {
        gguf_index_slot *slot = &ix->slots[i];
        if (slot->index_plus_1 == 0) {
            slot->hash = hash;
            slot->index_plus_1 = index + 1;
            return true;
        }
        if (slot_matches(ix, slot, hash, key.data, key.len)) {
            if (existing) *existing = slot->index_plus_1 - 1;
            return false;
        }
    }
}

bool gguf_index_find(const gguf_index *ix, const char *key, size_t len, uint64_t *index) {
    if (!ix->slots) return false;
    uint64_t hash = hash_bytes(key, len);
    for (uint64_t i = hash & ix->mask;; i = (i + 1) & ix->mask) {
        const gguf_index_slot *slot = &ix->slots[i];
        if (slot->index_plus_1 == 0) return false;
        if (slot_matches(ix, slot, hash, key, len)) {
            *index = slot->index_plus_1 - 1;
            return true;
        }
    }
}
