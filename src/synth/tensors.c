/* Tensor names and shapes per architecture, as llama.cpp's loader expects them
 * (llama-model.cpp: create_tensor(tn(LLM_TENSOR_..., "weight", i), {ne0, ne1})). */
#include "synth/tensors.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"

typedef struct list {
    synth_tensor *items;
    size_t count, capacity;
} list;

static ct_status add(list *l, synth_role role, int32_t layer, const char *name, uint64_t ne0, uint64_t ne1) {
    if (l->count == l->capacity) {
        size_t cap = l->capacity ? l->capacity * 2 : 64;
        synth_tensor *items = ct_realloc_array(l->items, cap, sizeof *items, "synthetic tensor list");
        if (!items) return CT_ERR_OUT_OF_MEMORY;
        l->items = items;
        l->capacity = cap;
    }
    synth_tensor *t = &l->items[l->count++];
    if (layer >= 0)
        snprintf(t->name, sizeof t->name, "blk.%d.%s", (int)layer, name);
    else
        snprintf(t->name, sizeof t->name, "%s", name);
    t->role = role;
    t->layer = layer;
    t->n_dims = ne1 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1 ? ne1 : 1;
    return CT_OK;
}

static ct_status add_block(list *l, const synth_hparams *hp, int32_t i) {
    const uint64_t embd = hp->n_embd, ff = hp->n_ff;
    const uint64_t q_dim = (uint64_t)hp->n_head * hp->head_dim;
    const uint64_t kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim;
    switch (hp->arch) {
    case SYNTH_ARCH_GPT2:
        CT_TRY(add(l, SYNTH_ROLE_NORM, i, "attn_norm.weight", embd, 0));
        CT_TRY(add(l, SYNTH_ROLE_BIAS, i, "attn_norm.bias", embd, 0));
        CT_TRY(add(l, SYNTH_ROLE_ATTN_QKV, i, "attn_qkv.weight", embd, q_dim + 2 * kv_dim));
        CT_TRY(add(l, SYNTH_ROLE_BIAS, i, "attn_qkv.bias", q_dim + 2 * kv_dim, 0));
        CT_TRY(add(l, SYNTH_ROLE_ATTN_OUT, i, "attn_output.weight", q_dim, embd));
        CT_TRY(add(l, SYNTH_ROLE_BIAS, i, "attn_output.bias", embd, 0));
        CT_TRY(add(l, SYNTH_ROLE_NORM, i, "ffn_norm.weight", embd, 0));
        CT_TRY(add(l, SYNTH_ROLE_BIAS, i, "ffn_norm.bias", embd, 0));
        CT_TRY(add(l, SYNTH_ROLE_FFN_UP, i, "ffn_up.weight", embd, ff));
        CT_TRY(add(l, SYNTH_ROLE_BIAS, i, "ffn_up.bias", ff, 0));
        CT_TRY(add(l, SYNTH_ROLE_FFN_DOWN, i, "ffn_down.weight", ff, embd));
        CT_TRY(add(l, SYNTH_ROLE_BIAS, i, "ffn_down.bias", embd, 0));
        return CT_OK;
    case SYNTH_ARCH_LLAMA:
    case SYNTH_ARCH_QWEN2:
    case SYNTH_ARCH_GEMMA3: {
        const int qwen2 = hp->arch == SYNTH_ARCH_QWEN2, gemma3 = hp->arch == SYNTH_ARCH_GEMMA3;
        CT_TRY(add(l, SYNTH_ROLE_NORM, i, "attn_norm.weight", embd, 0));
        CT_TRY(add(l, SYNTH_ROLE_ATTN_Q, i, "attn_q.weight", embd, q_dim));
        if (qwen2) CT_TRY(add(l, SYNTH_ROLE_BIAS, i, "attn_q.bias", q_dim, 0));
        CT_TRY(add(l, SYNTH_ROLE_ATTN_K, i, "attn_k.weight", embd, kv_dim));
        if (qwen2) CT_TRY(add(l, SYNTH_ROLE_BIAS, i, "attn_k.bias", kv_dim, 0));
        CT_TRY(add(l, SYNTH_ROLE_ATTN_V, i, "attn_v.weight", embd, kv_dim));
        if (qwen2) CT_TRY(add(l, SYNTH_ROLE_BIAS, i, "attn_v.bias", kv_dim, 0));
        if (gemma3) {
            CT_TRY(add(l, SYNTH_ROLE_NORM, i, "attn_q_norm.weight", hp->head_dim, 0));
            CT_TRY(add(l, SYNTH_ROLE_NORM, i, "attn_k_norm.weight", hp->head_dim, 0));
        }
        CT_TRY(add(l, SYNTH_ROLE_ATTN_OUT, i, "attn_output.weight", q_dim, embd));
        if (gemma3) CT_TRY(add(l, SYNTH_ROLE_NORM, i, "post_attention_norm.weight", embd, 0));
        CT_TRY(add(l, SYNTH_ROLE_NORM, i, "ffn_norm.weight", embd, 0));
        CT_TRY(add(l, SYNTH_ROLE_FFN_GATE, i, "ffn_gate.weight", embd, ff));
        CT_TRY(add(l, SYNTH_ROLE_FFN_UP, i, "ffn_up.weight", embd, ff));
        CT_TRY(add(l, SYNTH_ROLE_FFN_DOWN, i, "ffn_down.weight", ff, embd));
        if (gemma3) CT_TRY(add(l, SYNTH_ROLE_NORM, i, "post_ffw_norm.weight", embd, 0));
        return CT_OK;
    }
    }
    return ct_fail(CT_ERR_INTERNAL, "synth: unhandled architecture %d", (int)hp->arch);
}

static ct_status build(list *l, const synth_hparams *hp) {
    CT_TRY(add(l, SYNTH_ROLE_TOKEN_EMBD, -1, "token_embd.weight", hp->n_embd, hp->n_vocab));
    if (hp->arch == SYNTH_ARCH_GPT2)
        CT_TRY(add(l, SYNTH_ROLE_POS_EMBD, -1, "position_embd.weight", hp->n_embd, hp->n_ctx));
    for (uint32_t i = 0; i < hp->n_layer; i++) CT_TRY(add_block(l, hp, (int32_t)i));
    CT_TRY(add(l, SYNTH_ROLE_NORM, -1, "output_norm.weight", hp->n_embd, 0));
    if (hp->arch == SYNTH_ARCH_GPT2) CT_TRY(add(l, SYNTH_ROLE_BIAS, -1, "output_norm.bias", hp->n_embd, 0));
    if (!hp->tied_output) CT_TRY(add(l, SYNTH_ROLE_OUTPUT, -1, "output.weight", hp->n_embd, hp->n_vocab));
    return CT_OK;
}

ct_status synth_tensor_list(const synth_hparams *hp, synth_tensor **out, size_t *count) {
    list l = {0};
    ct_status st = build(&l, hp);
    if (st != CT_OK) {
        free(l.items);
        return st;
    }
    *out = l.items;
    *count = l.count;
    return CT_OK;
}
