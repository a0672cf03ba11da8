/* Which type each tensor gets: a single type, or llama.cpp's Q4_K_M mix. */
#ifndef CT_SYNTH_TYPE_MIX_H
#define CT_SYNTH_TYPE_MIX_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "quant/blocks.h"
#include "synth/hparams.h"
#include "synth/tensors.h"

typedef struct synth_ftype {
    const char *name;   /* as given on the command line: "q4_k_m", "f16", ... */
    ct_type base;       /* the type of most weight matrices */
    bool q4_k_m;        /* llama.cpp's Q4_K_M rules instead of one type for every matrix */
    uint32_t file_type; /* general.file_type (llama_ftype) */
} synth_ftype;

/* Parse a --type value (case-insensitive): f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_k,
 * q5_k, q6_k, q4_k_m. */
ct_status synth_ftype_parse(const char *name, const synth_ftype **out);
const char *synth_ftype_list(void);

/* The type of tensor t in a model of shape hp written as ft.
 *  - 1-D tensors (norms, biases) are F32; position_embd is not quantized (F32 in an F32
 *    file, BF16 in a BF16 file, else F16), as llama-quantize leaves it.
 *  - A single type puts every other matrix in that type (like `llama-quantize --pure`).
 *  - Q4_K_M follows llama.cpp's llama_tensor_get_type(): output.weight (or token_embd when
 *    the head is tied) Q6_K; attn_v Q6_K on the layers use_more_bits() picks (Q5_K instead
 *    of Q4_K on the others for a 70B llama); ffn_down Q6_K on the use_more_bits()
 *    layers; attn_qkv Q5_K; the rest Q4_K.
 *  - A row length that is not a multiple of the block size falls back as llama.cpp does:
 *    Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, and to F16 when even that does not fit. */
ct_type synth_tensor_type(const synth_ftype *ft, const synth_hparams *hp, const synth_tensor *t);

#endif
