/* A model's weights as backend tensors, by role. A NULL pointer is a tensor the file does
 * not have (biases of a bias-free architecture, gemma's extra norms elsewhere, ...). */
#ifndef CT_MODEL_WEIGHTS_H
#define CT_MODEL_WEIGHTS_H

#include "backend/backend.h"

typedef struct ct_layer_weights {
    const ct_tensor *attn_norm, *attn_norm_b;   /* pre-attention norm (and LayerNorm bias) */
    const ct_tensor *wq, *wk, *wv, *wo;         /* attention projections: [in][out] as GGUF [ne0=in, ne1=out] */
    const ct_tensor *bq, *bk, *bv, *bo;         /* their biases (qwen2: q, k, v; gpt2: all) */
    const ct_tensor *q_norm, *k_norm;           /* per-head RMSNorm of q and k (gemma3) */
    const ct_tensor *post_attn_norm;            /* norm of the attention output before the residual add (gemma3) */
    const ct_tensor *ffn_norm, *ffn_norm_b;     /* pre-FFN norm */
    const ct_tensor *ffn_gate, *ffn_up, *ffn_down;
    const ct_tensor *ffn_up_b, *ffn_down_b;     /* gpt2 */
    const ct_tensor *post_ffn_norm;             /* gemma3 */
} ct_layer_weights;

typedef struct ct_weights {
    const ct_tensor *tok_embd;                  /* [n_vocab][n_embd] */
    const ct_tensor *pos_embd;                  /* gpt2: [n_ctx_train][n_embd] */
    const ct_tensor *output_norm, *output_norm_b;
    const ct_tensor *output;                    /* [n_vocab][n_embd]; tok_embd when tied */
    const ct_tensor *rope_freqs;                /* Llama 3.1 rope frequency divisors, or NULL */
    ct_layer_weights *layers;                   /* [n_layer] */
} ct_weights;

#endif
