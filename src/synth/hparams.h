/* The shape of a synthetic model: architecture and hyper-parameters, from a named preset of a
 * real model or from flags. */
#ifndef CT_SYNTH_HPARAMS_H
#define CT_SYNTH_HPARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

typedef enum synth_arch {
    SYNTH_ARCH_LLAMA, /* also TinyLlama, SmolLM2, Llama 3 */
    SYNTH_ARCH_QWEN2,
    SYNTH_ARCH_GEMMA3,
    SYNTH_ARCH_GPT2,
} synth_arch;

typedef struct synth_hparams {
    const char *preset;   /* preset name, NULL for custom dimensions */
    const char *name;     /* general.name */
    synth_arch arch;
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim;    /* per-head size of q/k/v; n_embd / n_head except for Gemma 3 */
    uint32_t n_ff;
    uint32_t n_vocab;
    uint32_t n_ctx;       /* context length the model was trained for */
    float norm_eps;       /* RMSNorm epsilon (LayerNorm for gpt2) */
    float rope_base;      /* global RoPE frequency base (unused by gpt2) */
    /* Gemma 3 only: sliding-window layers use rope_base_local and attend over sliding_window
     * tokens; every swa_pattern-th layer is global. llama.cpp hard-codes the local base and
     * the pattern for gemma3 (the real files carry only sliding_window), so these two are not
     * written as metadata. */
    float rope_base_local;
    uint32_t sliding_window;
    uint32_t swa_pattern;
    bool tied_output;     /* no output.weight: the head reuses token_embd */
} synth_hparams;

/* GGUF architecture string ("llama", "qwen2", "gemma3", "gpt2"). */
const char *synth_arch_name(synth_arch arch);
ct_status synth_arch_from_name(const char *name, synth_arch *out);

/* A preset by name (case-sensitive); CT_ERR_NOT_FOUND listing the valid names otherwise. */
ct_status synth_preset_find(const char *name, synth_hparams *out);
/* Preset names, comma-separated, for help and error messages. */
const char *synth_preset_list(void);

/* Defaults for custom dimensions of an architecture (norm eps, rope base, tying, ...);
 * the caller then sets the sizes. */
void synth_hparams_defaults(synth_arch arch, synth_hparams *out);

/* Derive what the sizes imply (head_dim = n_embd / n_head when 0). */
void synth_hparams_complete(synth_hparams *hp);

/* Check that the sizes make a model: every size non-zero, heads divide as the architecture
 * needs. The message names the offending field. */
ct_status synth_hparams_validate(const synth_hparams *hp);

#endif
