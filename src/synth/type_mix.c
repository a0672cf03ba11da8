/* Tensor type selection, following llama.cpp's llama-quant.cpp for the Q4_K_M mix. */
#include "synth/type_mix.h"

#include <ctype.h>
#include <string.h>

#include "quant/types.h"

static const synth_ftype ftypes[] = {
    /* file_type ids are llama.cpp's llama_ftype: ALL_F32 0, MOSTLY_F16 1, ... */
    {"f32", CT_TYPE_F32, false, 0},   {"f16", CT_TYPE_F16, false, 1},   {"bf16", CT_TYPE_BF16, false, 32},
    {"q4_0", CT_TYPE_Q4_0, false, 2}, {"q4_1", CT_TYPE_Q4_1, false, 3}, {"q5_0", CT_TYPE_Q5_0, false, 8},
    {"q5_1", CT_TYPE_Q5_1, false, 9}, {"q8_0", CT_TYPE_Q8_0, false, 7},
    /* a file of only Q4_K / Q5_K matrices is what `llama-quantize --pure` writes for Q4_K_S / Q5_K_S */
    {"q4_k", CT_TYPE_Q4_K, false, 14}, {"q5_k", CT_TYPE_Q5_K, false, 16}, {"q6_k", CT_TYPE_Q6_K, false, 18},
    {"q4_k_m", CT_TYPE_Q4_K, true, 15},
};
#define N_FTYPES (sizeof ftypes / sizeof ftypes[0])

const char *synth_ftype_list(void) { return "f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q5_k, q6_k, q4_k_m"; }

static bool equal_ci(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
    return *a == *b;
}

ct_status synth_ftype_parse(const char *name, const synth_ftype **out) {
    for (unsigned i = 0; i < N_FTYPES; i++)
        if (equal_ci(name, ftypes[i].name)) {
            *out = &ftypes[i];
            return CT_OK;
        }
    return ct_fail(CT_ERR_INVALID_ARGUMENT, "unknown type '%s' (valid types: %s)", name, synth_ftype_list());
}

/* llama.cpp: more bits for the first and last eighth of the layers and every third between. */
static bool use_more_bits(int i_layer, int n_layer) {
    return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

static uint32_t block_size(ct_type type) {
    const ct_type_traits *tr = ct_type_traits_of(type);
    return tr ? tr->block_size : 1;
}

static ct_type fallback(ct_type type, uint64_t ne0) {
    if (ne0 % block_size(type) == 0) return type;
    switch (type) {
    case CT_TYPE_Q4_K: type = CT_TYPE_Q5_0; break;
    case CT_TYPE_Q5_K: type = CT_TYPE_Q5_1; break;
    case CT_TYPE_Q6_K: type = CT_TYPE_Q8_0; break;
    default: type = CT_TYPE_F16; break;
    }
    return ne0 % block_size(type) == 0 ? type : CT_TYPE_F16;
}

static ct_type q4_k_m_type(const synth_hparams *hp, const synth_tensor *t) {
    /* llama.cpp's MoE rules (n_expert == 8: attn_v/attn_k Q8_0, attn_output Q5_K) do not
     * apply: these architectures are dense. */
    /* llama.cpp's LLM_TYPE_70B for llama: 80 layers of 8192 */
    const bool llama_70b = hp->arch == SYNTH_ARCH_LLAMA && hp->n_layer == 80 && hp->n_embd == 8192;
    switch (t->role) {
    case SYNTH_ROLE_OUTPUT:
        return t->ne[0] % QK_K != 0 ? CT_TYPE_Q8_0 : CT_TYPE_Q6_K;
    case SYNTH_ROLE_TOKEN_EMBD:
        /* a tied head is quantized as the output would be */
        if (hp->tied_output) return t->ne[0] % QK_K != 0 ? CT_TYPE_Q8_0 : CT_TYPE_Q6_K;
        return CT_TYPE_Q4_K;
    case SYNTH_ROLE_ATTN_V: {
        ct_type type = CT_TYPE_Q4_K;
        if (use_more_bits(t->layer, (int)hp->n_layer)) type = CT_TYPE_Q6_K;
        if (llama_70b && type == CT_TYPE_Q4_K) type = CT_TYPE_Q5_K;
        return type;
    }
    case SYNTH_ROLE_ATTN_QKV: return CT_TYPE_Q5_K;
    case SYNTH_ROLE_FFN_DOWN: return use_more_bits(t->layer, (int)hp->n_layer) ? CT_TYPE_Q6_K : CT_TYPE_Q4_K;
    default: return CT_TYPE_Q4_K;
    }
}

ct_type synth_tensor_type(const synth_ftype *ft, const synth_hparams *hp, const synth_tensor *t) {
    if (t->n_dims < 2) return CT_TYPE_F32;
    if (t->role == SYNTH_ROLE_POS_EMBD)
        return ft->base == CT_TYPE_F32 || ft->base == CT_TYPE_BF16 ? ft->base : CT_TYPE_F16;
    ct_type type = ft->q4_k_m ? q4_k_m_type(hp, t) : ft->base;
    return fallback(type, t->ne[0]);
}
