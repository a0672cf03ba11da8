/* Special tokens written in the text ("<|im_start|>", Gemma's "\n\n" user tokens).
 *
 * Matching follows llama.cpp's tokenizer_st_partition: the special tokens are tried one at
 * a time, longest text first (ties: lower id first); each claims its leftmost
 * non-overlapping occurrences inside the text pieces that earlier tokens left, splitting
 * them. Control and unknown tokens take part only when the caller parses specials;
 * user-defined tokens always do.
 *
 * To keep this linear in practice, a byte trie first finds which special tokens occur in
 * the text at all; only those get a splitting pass. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "tokenizer/tok_internal.h"

typedef struct trie_node {
    int32_t first_child, next_sibling;
    int32_t special; /* index into order[], or -1 */
    uint8_t byte;
} trie_node;

struct tok_special {
    int32_t *order; /* token ids, longest text first */
    int32_t n;
    trie_node *nodes;
    int32_t n_nodes, cap_nodes;
    int32_t root_child[256];
};

void tok_special_free(tok_special *s) {
    if (!s) return;
    free(s->order);
    free(s->nodes);
    free(s);
}

typedef struct sort_key {
    uint32_t len;
    int32_t id;
} sort_key;

static int by_length_desc(const void *a, const void *b) {
    const sort_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int32_t new_node(tok_special *s, uint8_t byte) {
    if (s->n_nodes == s->cap_nodes) {
        int32_t cap = s->cap_nodes ? s->cap_nodes * 2 : 1024;
        trie_node *grown = ct_realloc_array(s->nodes, (size_t)cap, sizeof *grown, "special-token trie");
        if (!grown) return -1;
        s->nodes = grown;
        s->cap_nodes = cap;
    }
    s->nodes[s->n_nodes] = (trie_node){-1, -1, -1, byte};
    return s->n_nodes++;
}

static int32_t find_child(const tok_special *s, int32_t node, uint8_t byte) {
    for (int32_t c = s->nodes[node].first_child; c >= 0; c = s->nodes[c].next_sibling)
        if (s->nodes[c].byte == byte) return c;
    return -1;
}

static ct_status trie_insert(tok_special *s, const uint8_t *text, size_t len, int32_t special) {
    int32_t node = s->root_child[text[0]];
    if (node < 0) {
        if ((node = new_node(s, text[0])) < 0) return CT_ERR_OUT_OF_MEMORY;
        s->root_child[text[0]] = node;
    }
    for (size_t i = 1; i < len; i++) {
        int32_t child = find_child(s, node, text[i]);
        if (child < 0) {
            if ((child = new_node(s, text[i])) < 0) return CT_ERR_OUT_OF_MEMORY;
            s->nodes[child].next_sibling = s->nodes[node].first_child;
            s->nodes[node].first_child = child;
        }
        node = child;
    }
    s->nodes[node].special = special;
    return CT_OK;
}

ct_status tok_special_build(const ct_tokenizer *tok, tok_special **out) {
    tok_special *s = calloc(1, sizeof *s);
    if (!s) return ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory building the special-token table");
    for (int i = 0; i < 256; i++) s->root_child[i] = -1;
    s->order = ct_alloc_array((size_t)tok->n_vocab, sizeof *s->order, "special-token table");
    if (!s->order) {
        tok_special_free(s);
        return CT_ERR_OUT_OF_MEMORY;
    }
    sort_key *keys = ct_alloc_array((size_t)tok->n_vocab, sizeof *keys, "special-token table");
    if (!keys) {
        tok_special_free(s);
        return CT_ERR_OUT_OF_MEMORY;
    }
    for (int32_t id = 0; id < tok->n_vocab; id++)
        if ((tok->attrs[id] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN)) && tok->strs.len[id] > 0)
            keys[s->n++] = (sort_key){tok->strs.len[id], id};
    qsort(keys, (size_t)s->n, sizeof *keys, by_length_desc);
    for (int32_t i = 0; i < s->n; i++) s->order[i] = keys[i].id;
    free(keys);
    for (int32_t i = 0; i < s->n; i++) {
        size_t len;
        const char *text = tok_strtab_str(&tok->strs, s->order[i], &len);
        ct_status st = trie_insert(s, (const uint8_t *)text, len, i);
        if (st != CT_OK) {
            tok_special_free(s);
            return st;
        }
    }
    *out = s;
    return CT_OK;
}

static bool allowed(const ct_tokenizer *tok, int32_t id, bool parse_control) {
    return parse_control || !(tok->attrs[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN));
}

/* Mark present[i] for each special (by order index) that occurs in the text. */
static bool find_present(const ct_tokenizer *tok, const uint8_t *text, size_t len, bool parse_control,
                         uint8_t *present) {
    const tok_special *s = tok->special;
    bool any = false;
    for (size_t p = 0; p < len; p++) {
        int32_t node = s->root_child[text[p]];
        for (size_t k = p + 1; node >= 0; k++) {
            int32_t sp = s->nodes[node].special;
            if (sp >= 0 && allowed(tok, s->order[sp], parse_control)) {
                present[sp] = 1;
                any = true;
            }
            if (k >= len) break;
            node = find_child(s, node, text[k]);
        }
    }
    return any;
}

static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
    if (m == 0 || m > n) return NULL;
    const char *end = hay + (n - m) + 1;
    for (const char *p = hay; p < end;) {
        p = memchr(p, needle[0], (size_t)(end - p));
        if (!p) return NULL;
        if (memcmp(p, needle, m) == 0) return p;
        p++;
    }
    return NULL;
}

typedef struct frag_list {
    tok_fragment *items;
    size_t count, cap;
} frag_list;

static ct_status frag_push(frag_list *l, int32_t token, size_t start, size_t len) {
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        tok_fragment *grown = ct_realloc_array(l->items, cap, sizeof *grown, "text fragments");
        if (!grown) return CT_ERR_OUT_OF_MEMORY;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->count++] = (tok_fragment){token, start, len};
    return CT_OK;
}

static bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Split every text fragment of src at the occurrences of token id into dst. */
static ct_status split_on(const ct_tokenizer *tok, const char *text, int32_t id, const frag_list *src, frag_list *dst) {
    size_t tlen;
    const char *ttext = tok_strtab_str(&tok->strs, id, &tlen);
    bool lstrip = tok->attrs[id] & TOK_ATTR_LSTRIP, rstrip = tok->attrs[id] & TOK_ATTR_RSTRIP;
    dst->count = 0;
    for (size_t i = 0; i < src->count; i++) {
        tok_fragment f = src->items[i];
        if (f.token >= 0) {
            CT_TRY(frag_push(dst, f.token, 0, 0));
            continue;
        }
        size_t start = f.start, end = f.start + f.len;
        for (;;) {
            const char *hit = find_bytes(text + start, end - start, ttext, tlen);
            if (!hit) break;
            size_t at = (size_t)(hit - text), left_end = at;
            if (lstrip)
                while (left_end > start && is_space(text[left_end - 1])) left_end--;
            if (left_end > start) CT_TRY(frag_push(dst, -1, start, left_end - start));
            CT_TRY(frag_push(dst, id, 0, 0));
            start = at + tlen;
            if (rstrip)
                while (start < end && is_space(text[start])) start++;
        }
        if (end > start) CT_TRY(frag_push(dst, -1, start, end - start));
    }
    return CT_OK;
}

ct_status tok_special_partition(const ct_tokenizer *tok, const char *text, size_t len, bool parse_control,
                                tok_fragment **frags, size_t *n_frags) {
    frag_list a = {0}, b = {0};
    uint8_t *present = NULL;
    ct_status st = CT_OK;
    *frags = NULL;
    *n_frags = 0;
    if (len == 0) return CT_OK;
    if ((st = frag_push(&a, -1, 0, len)) != CT_OK) goto done;
    const tok_special *s = tok->special;
    if (s->n > 0) {
        present = calloc((size_t)s->n, 1);
        if (!present) {
            st = ct_fail(CT_ERR_OUT_OF_MEMORY, "out of memory matching special tokens");
            goto done;
        }
        if (find_present(tok, (const uint8_t *)text, len, parse_control, present)) {
            for (int32_t i = 0; i < s->n; i++) {
                if (!present[i]) continue;
                if ((st = split_on(tok, text, s->order[i], &a, &b)) != CT_OK) goto done;
                frag_list t = a;
                a = b;
                b = t;
            }
        }
    }
    *frags = a.items;
    *n_frags = a.count;
    a.items = NULL;
done:
    free(a.items);
    free(b.items);
    free(present);
    return st;
}
