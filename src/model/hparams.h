/* Hyper-parameters of a model, read from its GGUF metadata ("<arch>.embedding_length", ...). */
#ifndef CT_MODEL_HPARAMS_H
#define CT_MODEL_HPARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/status.h"
#include "gguf/gguf.h"

#define CT_MAX_LAYERS 512

typedef enum ct_arch { CT_ARCH_LLAMA, CT_ARCH_QWEN2, CT_ARCH_GEMMA3, CT_ARCH_GPT2 } ct_arch;

typedef struct ct_hparams {
    ct_arch arch;
    char arch_name[32];   /* general.architecture */
    int32_t n_vocab;
    int32_t n_ctx_train;  /* context_length */
    int32_t n_embd;       /* embedding_length */
    int32_t n_layer;      /* block_count */
    int32_t n_ff;         /* feed_forward_length */
    int32_t n_head;       /* attention.head_count */
    int32_t n_head_kv;    /* attention.head_count_kv (default n_head) */
    int32_t head_dim_k;   /* attention.key_length (default n_embd / n_head) */
    int32_t head_dim_v;   /* attention.value_length (default head_dim_k) */
    float norm_eps;       /* layer_norm_rms_epsilon or layer_norm_epsilon */

    ct_rope_style rope_style;
    int32_t rope_dims;    /* rope.dimension_count (default head_dim_k) */
    float rope_base;      /* rope.freq_base (default 10000) */
    float rope_scale;     /* 1 / rope.scaling.factor for linear scaling, else 1 */

    /* sliding-window attention (gemma3): local layers attend to the last sliding_window
     * positions. attention.sliding_window_pattern is either a period p (layer l is local
     * unless (l + 1) % p == 0; Gemma 3's fixed 6 when absent) or one bool per layer. */
    int32_t sliding_window;            /* 0: none */
    bool swa_layer[CT_MAX_LAYERS];
    float rope_base_swa;               /* rope base of the local layers */

    float attn_scale;       /* multiplies q.k */
    float embd_scale;       /* multiplies the token embeddings (gemma: sqrt(n_embd)); 1 otherwise */
} ct_hparams;

/* Read and validate the hyper-parameters of the file's architecture. Unknown architectures
 * are CT_ERR_UNSUPPORTED; missing or out-of-range values CT_ERR_FORMAT, naming the key. */
ct_status ct_hparams_read(const gguf_file *file, ct_hparams *hp);

/* Whether layer l uses sliding-window attention. */
bool ct_hparams_layer_is_swa(const ct_hparams *hp, int32_t l);

/* "llama", "qwen2", ... */
const char *ct_arch_name(ct_arch arch);

#endif
