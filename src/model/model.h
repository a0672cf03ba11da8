/* The loaded model: its file, hyper-parameters, weights on a backend, and tokenizer. */
#ifndef CT_MODEL_MODEL_H
#define CT_MODEL_MODEL_H

#include "backend/backend.h"
#include "gguf/gguf.h"
#include "model/hparams.h"
#include "model/weights.h"

typedef struct ct_forward_state ct_forward_state;

/* What each architecture provides: how to find its weights and its forward pass. */
typedef struct ct_arch_desc {
    ct_arch arch;
    ct_status (*load_weights)(struct ct_model *m);
    /* Run the layers over the batch begun on s, then the output head. */
    ct_status (*forward)(const struct ct_model *m, ct_forward_state *s);
} ct_arch_desc;

const ct_arch_desc *ct_arch_llama(void); /* llama and qwen2 */
const ct_arch_desc *ct_arch_gemma3(void);
const ct_arch_desc *ct_arch_gpt2(void);

struct ct_tokenizer;

struct ct_model {
    gguf_file *file;
    ct_hparams hp;
    const ct_arch_desc *desc;
    ct_backend *be;
    ct_tensor *tensors; /* every weight (and weight slice) used, owned here */
    size_t n_tensors, cap_tensors;
    ct_weights w;
    struct ct_tokenizer *tokenizer; /* NULL when the file has no vocabulary */
    char *chat_template;            /* tokenizer.chat_template, NUL-terminated copy, or NULL */
    int32_t n_threads;              /* as resolved by the backend */
    int64_t max_row;                /* longest weight row, for backend scratch */
};
typedef struct ct_model ct_model;

/* Open path, read hyper-parameters and map the weights onto backend be (taken over by the
 * model on success). */
ct_status ct_model_open(const char *path, ct_backend *be, ct_model **out);
void ct_model_close(ct_model *m);

/* ---- for the architectures' load_weights ---- */
/* Tensor `name` with shape [ne0, ne1] (ne1 = 1 for vectors). A missing tensor is
 * CT_ERR_NOT_FOUND when required (else *out = NULL); a mis-shaped or mistyped one is
 * CT_ERR_FORMAT naming the tensor, its shape and the expected one. */
ct_status ct_model_tensor(ct_model *m, const char *name, int64_t ne0, int64_t ne1, bool required, const ct_tensor **out);
/* The same for "blk.<layer>.<suffix>". */
ct_status ct_model_layer_tensor(ct_model *m, int32_t layer, const char *suffix, int64_t ne0, int64_t ne1,
                                bool required, const ct_tensor **out);
/* Rows [r0, r0 + n) of a weight matrix, or elements [r0, r0 + n) of a vector: no copy. */
ct_status ct_model_slice(ct_model *m, const ct_tensor *t, int64_t r0, int64_t n, const ct_tensor **out);
/* token_embd, output_norm (+ bias if with_bias), and output (tied to token_embd when absent). */
ct_status ct_model_embeddings_and_head(ct_model *m, bool with_bias);

#endif
