/* Presets of real model shapes, with the hyper-parameters of their published configs (and,
 * for SmolLM2-135M and Gemma 3 270M, checked against the metadata of their llama.cpp GGUFs). */
#include "synth/hparams.h"

#include <string.h>

static const char *const arch_names[] = {
    [SYNTH_ARCH_LLAMA] = "llama",
    [SYNTH_ARCH_QWEN2] = "qwen2",
    [SYNTH_ARCH_GEMMA3] = "gemma3",
    [SYNTH_ARCH_GPT2] = "gpt2",
};
#define N_ARCHS (sizeof arch_names / sizeof arch_names[0])

const char *synth_arch_name(synth_arch arch) {
    return (unsigned)arch < N_ARCHS ? arch_names[arch] : "unknown";
}

ct_status synth_arch_from_name(const char *name, synth_arch *out) {
    for (unsigned i = 0; i < N_ARCHS; i++)
        if (!strcmp(name, arch_names[i])) {
            *out = (synth_arch)i;
            return CT_OK;
        }
    return ct_fail(CT_ERR_INVALID_ARGUMENT, "unknown architecture '%s' (expected llama, qwen2, gemma3 or gpt2)",
                   name);
}

/* head_dim 0 means n_embd / n_head. */
static const synth_hparams presets[] = {
    /* meta-llama/Llama-2-7b-hf */
    {.preset = "llama2-7b", .name = "Llama 2 7B (synthetic)", .arch = SYNTH_ARCH_LLAMA, .n_embd = 4096,
     .n_layer = 32, .n_head = 32, .n_head_kv = 32, .n_ff = 11008, .n_vocab = 32000, .n_ctx = 4096,
     .norm_eps = 1e-5f, .rope_base = 10000.0f},
    /* meta-llama/Meta-Llama-3-8B */
    {.preset = "llama3-8b", .name = "Llama 3 8B (synthetic)", .arch = SYNTH_ARCH_LLAMA, .n_embd = 4096,
     .n_layer = 32, .n_head = 32, .n_head_kv = 8, .n_ff = 14336, .n_vocab = 128256, .n_ctx = 8192,
     .norm_eps = 1e-5f, .rope_base = 500000.0f},
    /* TinyLlama/TinyLlama-1.1B-Chat-v1.0 */
    {.preset = "tinyllama-1.1b", .name = "TinyLlama 1.1B (synthetic)", .arch = SYNTH_ARCH_LLAMA,
     .n_embd = 2048, .n_layer = 22, .n_head = 32, .n_head_kv = 4, .n_ff = 5632, .n_vocab = 32000,
     .n_ctx = 2048, .norm_eps = 1e-5f, .rope_base = 10000.0f},
    /* HuggingFaceTB/SmolLM2-135M-Instruct (ties embeddings) */
    {.preset = "smollm2-135m", .name = "SmolLM2 135M (synthetic)", .arch = SYNTH_ARCH_LLAMA, .n_embd = 576,
     .n_layer = 30, .n_head = 9, .n_head_kv = 3, .n_ff = 1536, .n_vocab = 49152, .n_ctx = 8192,
     .norm_eps = 1e-5f, .rope_base = 100000.0f, .tied_output = true},
    /* Qwen/Qwen2-7B-Instruct */
    {.preset = "qwen2-7b", .name = "Qwen2 7B (synthetic)", .arch = SYNTH_ARCH_QWEN2, .n_embd = 3584,
     .n_layer = 28, .n_head = 28, .n_head_kv = 4, .n_ff = 18944, .n_vocab = 152064, .n_ctx = 32768,
     .norm_eps = 1e-6f, .rope_base = 1000000.0f},
    /* google/gemma-3-270m (ties embeddings; head_dim 256 with 4 heads of a 640-wide model) */
    {.preset = "gemma3-270m", .name = "Gemma 3 270M (synthetic)", .arch = SYNTH_ARCH_GEMMA3, .n_embd = 640,
     .n_layer = 18, .n_head = 4, .n_head_kv = 1, .head_dim = 256, .n_ff = 2048, .n_vocab = 262144,
     .n_ctx = 32768, .norm_eps = 1e-6f, .rope_base = 1000000.0f, .rope_base_local = 10000.0f,
     .sliding_window = 512, .swa_pattern = 6, .tied_output = true},
    /* openai-community/gpt2 (llama.cpp's converter writes the tied head out as output.weight) */
    {.preset = "gpt2-124m", .name = "GPT-2 124M (synthetic)", .arch = SYNTH_ARCH_GPT2, .n_embd = 768,
     .n_layer = 12, .n_head = 12, .n_head_kv = 12, .n_ff = 3072, .n_vocab = 50257, .n_ctx = 1024,
     .norm_eps = 1e-5f},
};
#define N_PRESETS (sizeof presets / sizeof presets[0])

const char *synth_preset_list(void) {
    return "llama2-7b, llama3-8b, tinyllama-1.1b, smollm2-135m, qwen2-7b, gemma3-270m, gpt2-124m";
}

void synth_hparams_complete(synth_hparams *hp) {
    if (hp->head_dim == 0 && hp->n_head != 0) hp->head_dim = hp->n_embd / hp->n_head;
}

ct_status synth_preset_find(const char *name, synth_hparams *out) {
    for (unsigned i = 0; i < N_PRESETS; i++)
        if (!strcmp(name, presets[i].preset)) {
            *out = presets[i];
            synth_hparams_complete(out);
            return CT_OK;
        }
    return ct_fail(CT_ERR_NOT_FOUND, "unknown preset '%s' (valid presets: %s)", name, synth_preset_list());
}

void synth_hparams_defaults(synth_arch arch, synth_hparams *out) {
    memset(out, 0, sizeof *out);
    out->arch = arch;
    out->name = "custom (synthetic)";
    out->n_ctx = 2048;
    switch (arch) {
    case SYNTH_ARCH_LLAMA:
        out->norm_eps = 1e-5f;
        out->rope_base = 10000.0f;
        break;
    case SYNTH_ARCH_QWEN2:
        out->norm_eps = 1e-6f;
        out->rope_base = 1000000.0f;
        break;
    case SYNTH_ARCH_GEMMA3:
        out->norm_eps = 1e-6f;
        out->rope_base = 1000000.0f;
        out->rope_base_local = 10000.0f;
        out->sliding_window = 512;
        out->swa_pattern = 6;
        out->tied_output = true;
        break;
    case SYNTH_ARCH_GPT2:
        out->norm_eps = 1e-5f;
        break;
    }
}

static ct_status need_positive(uint32_t v, const char *field) {
    if (v == 0) return ct_fail(CT_ERR_INVALID_ARGUMENT, "%s must be positive (got 0)", field);
    return CT_OK;
}

ct_status synth_hparams_validate(const synth_hparams *hp) {
    CT_TRY(need_positive(hp->n_embd, "n_embd"));
    CT_TRY(need_positive(hp->n_layer, "n_layer"));
    CT_TRY(need_positive(hp->n_head, "n_head"));
    CT_TRY(need_positive(hp->n_head_kv, "n_head_kv"));
    CT_TRY(need_positive(hp->n_ff, "n_ff"));
    CT_TRY(need_positive(hp->n_vocab, "n_vocab"));
    CT_TRY(need_positive(hp->n_ctx, "n_ctx"));
    if (hp->n_layer > 10000) return ct_fail(CT_ERR_INVALID_ARGUMENT, "n_layer %u is too large (at most 10000)", hp->n_layer);
    if (hp->n_head % hp->n_head_kv != 0)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "n_head_kv %u does not divide n_head %u", hp->n_head_kv, hp->n_head);
    if (hp->arch == SYNTH_ARCH_GEMMA3) {
        /* Gemma's heads need not tile the embedding: q is n_head * head_dim wide */
        CT_TRY(need_positive(hp->head_dim, "head_dim"));
    } else {
        if (hp->n_embd % hp->n_head != 0)
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "n_head %u does not divide n_embd %u", hp->n_head, hp->n_embd);
        if (hp->head_dim != hp->n_embd / hp->n_head)
            return ct_fail(CT_ERR_INVALID_ARGUMENT, "head_dim %u must be n_embd / n_head = %u for %s", hp->head_dim,
                           hp->n_embd / hp->n_head, synth_arch_name(hp->arch));
    }
    if (hp->arch == SYNTH_ARCH_GPT2 && hp->n_head_kv != hp->n_head)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "gpt2 has no grouped-query attention: n_head_kv %u must equal n_head %u",
                       hp->n_head_kv, hp->n_head);
    if (hp->arch != SYNTH_ARCH_GPT2 && hp->head_dim % 2 != 0)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "head_dim %u must be even for RoPE", hp->head_dim);
    if (!(hp->norm_eps > 0.0f)) return ct_fail(CT_ERR_INVALID_ARGUMENT, "norm epsilon must be positive");
    if (hp->arch != SYNTH_ARCH_GPT2 && !(hp->rope_base > 0.0f))
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "rope base must be positive");
    return CT_OK;
}
