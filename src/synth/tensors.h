/* The tensors of a model shape: the names and shapes llama.cpp uses for each architecture. */
#ifndef CT_SYNTH_TENSORS_H
#define CT_SYNTH_TENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "synth/hparams.h"

/* What a tensor is for: decides its type in a mix and how its values are drawn. */
typedef enum synth_role {
    SYNTH_ROLE_TOKEN_EMBD,
    SYNTH_ROLE_POS_EMBD,
    SYNTH_ROLE_OUTPUT,
    SYNTH_ROLE_NORM, /* 1-D scale, values near 1 */
    SYNTH_ROLE_BIAS, /* 1-D, small values */
    SYNTH_ROLE_ATTN_Q,
    SYNTH_ROLE_ATTN_K,
    SYNTH_ROLE_ATTN_V,
    SYNTH_ROLE_ATTN_QKV,
    SYNTH_ROLE_ATTN_OUT,
    SYNTH_ROLE_FFN_GATE,
    SYNTH_ROLE_FFN_UP,
    SYNTH_ROLE_FFN_DOWN,
} synth_role;

#define SYNTH_TENSOR_NAME_MAX 64

typedef struct synth_tensor {
    char name[SYNTH_TENSOR_NAME_MAX];
    synth_role role;
    int32_t layer;   /* block index, -1 outside the blocks */
    uint32_t n_dims; /* 1 or 2 */
    uint64_t ne[2];  /* ne[0] innermost (row length), as in GGUF */
} synth_tensor;

/* All tensors of the model, in file order: token_embd (position_embd), the blocks, output_norm,
 * output. Free *out with free(). */
ct_status synth_tensor_list(const synth_hparams *hp, synth_tensor **out, size_t *count);

#endif
