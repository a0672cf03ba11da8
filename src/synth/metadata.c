/* Metadata keys per architecture, in the order and with the value types of real llama.cpp
 * GGUFs (SmolLM2-135M and Gemma 3 270M files; the gpt2 and llama vocab files). */
#include "synth/metadata.h"

#include <stdio.h>

#define GGML_QNT_VERSION 2

typedef struct {
    gguf_writer *w;
    const char *arch;
} kv_ctx;

static ct_status put_u32(kv_ctx *c, const char *suffix, uint32_t v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", c->arch, suffix);
    return gguf_writer_set_u32(c->w, key, v);
}

static ct_status put_f32(kv_ctx *c, const char *suffix, float v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", c->arch, suffix);
    return gguf_writer_set_f32(c->w, key, v);
}

static ct_status put_llama(kv_ctx *c, const synth_hparams *hp) {
    CT_TRY(put_u32(c, "context_length", hp->n_ctx));
    CT_TRY(put_u32(c, "embedding_length", hp->n_embd));
    CT_TRY(put_u32(c, "block_count", hp->n_layer));
    CT_TRY(put_u32(c, "feed_forward_length", hp->n_ff));
    CT_TRY(put_u32(c, "attention.head_count", hp->n_head));
    CT_TRY(put_u32(c, "attention.head_count_kv", hp->n_head_kv));
    CT_TRY(put_f32(c, "rope.freq_base", hp->rope_base));
    CT_TRY(put_f32(c, "attention.layer_norm_rms_epsilon", hp->norm_eps));
    CT_TRY(put_u32(c, "vocab_size", hp->n_vocab));
    return put_u32(c, "rope.dimension_count", hp->head_dim);
}

static ct_status put_qwen2(kv_ctx *c, const synth_hparams *hp) {
    CT_TRY(put_u32(c, "block_count", hp->n_layer));
    CT_TRY(put_u32(c, "context_length", hp->n_ctx));
    CT_TRY(put_u32(c, "embedding_length", hp->n_embd));
    CT_TRY(put_u32(c, "feed_forward_length", hp->n_ff));
    CT_TRY(put_u32(c, "attention.head_count", hp->n_head));
    CT_TRY(put_u32(c, "attention.head_count_kv", hp->n_head_kv));
    CT_TRY(put_f32(c, "rope.freq_base", hp->rope_base));
    return put_f32(c, "attention.layer_norm_rms_epsilon", hp->norm_eps);
}

static ct_status put_gemma3(kv_ctx *c, const synth_hparams *hp) {
    CT_TRY(put_u32(c, "context_length", hp->n_ctx));
    CT_TRY(put_u32(c, "embedding_length", hp->n_embd));
    CT_TRY(put_u32(c, "block_count", hp->n_layer));
    CT_TRY(put_u32(c, "feed_forward_length", hp->n_ff));
    CT_TRY(put_u32(c, "attention.head_count", hp->n_head));
    CT_TRY(put_f32(c, "attention.layer_norm_rms_epsilon", hp->norm_eps));
    CT_TRY(put_u32(c, "attention.key_length", hp->head_dim));
    CT_TRY(put_u32(c, "attention.value_length", hp->head_dim));
    CT_TRY(put_f32(c, "rope.freq_base", hp->rope_base));
    CT_TRY(put_u32(c, "attention.sliding_window", hp->sliding_window));
    return put_u32(c, "attention.head_count_kv", hp->n_head_kv);
}

static ct_status put_gpt2(kv_ctx *c, const synth_hparams *hp) {
    CT_TRY(put_u32(c, "block_count", hp->n_layer));
    CT_TRY(put_u32(c, "context_length", hp->n_ctx));
    CT_TRY(put_u32(c, "embedding_length", hp->n_embd));
    CT_TRY(put_u32(c, "feed_forward_length", hp->n_ff));
    CT_TRY(put_u32(c, "attention.head_count", hp->n_head));
    return put_f32(c, "attention.layer_norm_epsilon", hp->norm_eps);
}

ct_status synth_write_model_metadata(gguf_writer *w, const synth_hparams *hp, const synth_ftype *ft) {
    kv_ctx c = {w, synth_arch_name(hp->arch)};
    CT_TRY(gguf_writer_set_str(w, "general.architecture", c.arch));
    CT_TRY(gguf_writer_set_str(w, "general.type", "model"));
    CT_TRY(gguf_writer_set_str(w, "general.name", hp->name ? hp->name : "synthetic"));
    switch (hp->arch) {
    case SYNTH_ARCH_LLAMA: CT_TRY(put_llama(&c, hp)); break;
    case SYNTH_ARCH_QWEN2: CT_TRY(put_qwen2(&c, hp)); break;
    case SYNTH_ARCH_GEMMA3: CT_TRY(put_gemma3(&c, hp)); break;
    case SYNTH_ARCH_GPT2: CT_TRY(put_gpt2(&c, hp)); break;
    }
    return gguf_writer_set_u32(w, "general.file_type", ft->file_type);
}

ct_status synth_write_quantization_version(gguf_writer *w) {
    return gguf_writer_set_u32(w, "general.quantization_version", GGML_QNT_VERSION);
}
