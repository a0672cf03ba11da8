/* Hyper-parameters from GGUF metadata, with the defaults llama.cpp's converters assume. */
#include "model/hparams.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    ct_arch arch;
} known_archs[] = {
    {"llama", CT_ARCH_LLAMA},
    {"qwen2", CT_ARCH_QWEN2},
    {"gemma3", CT_ARCH_GEMMA3},
    {"gpt2", CT_ARCH_GPT2},
};
#define N_ARCHS (sizeof known_archs / sizeof known_archs[0])

const char *ct_arch_name(ct_arch arch) {
    for (size_t i = 0; i < N_ARCHS; i++)
        if (known_archs[i].arch == arch) return known_archs[i].name;
    return "unknown";
}

typedef struct {
    const gguf_file *file;
    const char *arch;
} meta;

static const char *key(const meta *m, const char *suffix, char *buf, size_t size) {
    snprintf(buf, size, "%s.%s", m->arch, suffix);
    return buf;
}

/* A positive integer that fits in int32; optional ones keep *out when absent. */
static ct_status get_i32(const meta *m, const char *suffix, bool required, int32_t lo, int32_t *out) {
    char k[128];
    key(m, suffix, k, sizeof k);
    if (!required && !gguf_find(m->file, k)) return CT_OK;
    int64_t v;
    CT_TRY(gguf_get_i64(m->file, k, &v));
    if (v < lo || v > INT32_MAX)
        return ct_fail(CT_ERR_FORMAT, "%s: metadata %s = %lld is out of range (expected %d..%d)",
                       gguf_path(m->file), k, (long long)v, (int)lo, (int)INT32_MAX);
    *out = (int32_t)v;
    return CT_OK;
}

static ct_status get_f32(const meta *m, const char *suffix, bool required, float *out) {
    char k[128];
    key(m, suffix, k, sizeof k);
    if (!required && !gguf_find(m->file, k)) return CT_OK;
    double v;
    CT_TRY(gguf_get_f64(m->file, k, &v));
    if (!isfinite(v)) return ct_fail(CT_ERR_FORMAT, "%s: metadata %s is not a finite number", gguf_path(m->file), k);
    *out = (float)v;
    return CT_OK;
}

static ct_status read_rope_scaling(const meta *m, ct_hparams *hp) {
    char k[128];
    float factor = 1.0f;
    gguf_str type = {"none", 4};
    if (gguf_find(m->file, key(m, "rope.scaling.type", k, sizeof k))) {
        CT_TRY(gguf_get_str(m->file, k, &type));
        CT_TRY(get_f32(m, "rope.scaling.factor", false, &factor));
    } else if (gguf_find(m->file, key(m, "rope.scale_linear", k, sizeof k))) { /* older files */
        type = (gguf_str){"linear", 6};
        CT_TRY(get_f32(m, "rope.scale_linear", true, &factor));
    }
    if (gguf_str_eq(type, "yarn") || gguf_str_eq(type, "longrope"))
        return ct_fail(CT_ERR_UNSUPPORTED, "%s: rope scaling '%.*s' is not supported (supported: none, linear)",
                       gguf_path(m->file), (int)type.len, type.data);
    if (gguf_str_eq(type, "none")) return CT_OK;
    if (!gguf_str_eq(type, "linear"))
        return ct_fail(CT_ERR_FORMAT, "%s: unknown rope scaling type '%.*s'", gguf_path(m->file),
                       (int)(type.len > 64 ? 64 : type.len), type.data);
    if (!(factor > 0.0f))
        return ct_fail(CT_ERR_FORMAT, "%s: rope scaling factor %g must be positive", gguf_path(m->file), factor);
    hp->rope_scale = 1.0f / factor;
    return CT_OK;
}

static ct_status read_swa_pattern(const meta *m, ct_hparams *hp) {
    char k[128];
    int32_t period = 6; /* five local layers, then one global: Gemma 3's fixed pattern */
    const gguf_value *v = gguf_find(m->file, key(m, "attention.sliding_window_pattern", k, sizeof k));
    if (v && v->type == GGUF_TYPE_ARRAY) {
        if (v->arr.count != (uint64_t)hp->n_layer)
            return ct_fail(CT_ERR_FORMAT, "%s: %s has %llu entries for %d layers", gguf_path(m->file), k,
                           (unsigned long long)v->arr.count, (int)hp->n_layer);
        for (int32_t l = 0; l < hp->n_layer; l++) {
            int64_t flag;
            if (!gguf_array_i64(v, (uint64_t)l, &flag))
                return ct_fail(CT_ERR_FORMAT, "%s: %s[%d] is not a bool or integer", gguf_path(m->file), k, (int)l);
            hp->swa_layer[l] = flag != 0;
        }
        return CT_OK;
    }
    if (v) CT_TRY(get_i32(m, "attention.sliding_window_pattern", true, 1, &period));
    for (int32_t l = 0; l < hp->n_layer; l++) hp->swa_layer[l] = (l + 1) % period != 0;
    return CT_OK;
}

static ct_status check_divides(const gguf_file *f, const char *what, int32_t a, const char *by, int32_t b) {
    if (b <= 0 || a % b != 0)
        return ct_fail(CT_ERR_FORMAT, "%s: %s (%d) is not a multiple of %s (%d)", gguf_path(f), what, (int)a, by, (int)b);
    return CT_OK;
}

ct_status ct_hparams_read(const gguf_file *file, ct_hparams *hp) {
    memset(hp, 0, sizeof *hp);
    gguf_str arch;
    CT_TRY(gguf_get_str(file, "general.architecture", &arch));
    size_t i = 0;
    while (i < N_ARCHS && !gguf_str_eq(arch, known_archs[i].name)) i++;
    if (i == N_ARCHS)
        return ct_fail(CT_ERR_UNSUPPORTED,
                       "%s: architecture '%.*s' is not supported (supported: llama, qwen2, gemma3, gpt2)",
                       gguf_path(file), (int)(arch.len > 64 ? 64 : arch.len), arch.data);
    hp->arch = known_archs[i].arch;
    snprintf(hp->arch_name, sizeof hp->arch_name, "%s", known_archs[i].name);
    meta m = {file, hp->arch_name};

    CT_TRY(get_i32(&m, "block_count", true, 1, &hp->n_layer));
    if (hp->n_layer > CT_MAX_LAYERS)
        return ct_fail(CT_ERR_UNSUPPORTED, "%s: %s.block_count %d exceeds ctorch's limit of %d layers", gguf_path(file),
                       hp->arch_name, (int)hp->n_layer, CT_MAX_LAYERS);
    CT_TRY(get_i32(&m, "embedding_length", true, 1, &hp->n_embd));
    CT_TRY(get_i32(&m, "feed_forward_length", true, 1, &hp->n_ff));
    CT_TRY(get_i32(&m, "attention.head_count", true, 1, &hp->n_head));
    hp->n_ctx_train = 2048;
    CT_TRY(get_i32(&m, "context_length", hp->arch == CT_ARCH_GPT2, 1, &hp->n_ctx_train));
    hp->n_head_kv = hp->n_head;
    CT_TRY(get_i32(&m, "attention.head_count_kv", false, 1, &hp->n_head_kv));
    CT_TRY(check_divides(file, "attention.head_count", hp->n_head, "attention.head_count_kv", hp->n_head_kv));
    if (hp->n_embd % hp->n_head == 0) hp->head_dim_k = hp->n_embd / hp->n_head;
    CT_TRY(get_i32(&m, "attention.key_length", false, 1, &hp->head_dim_k));
    if (hp->head_dim_k == 0)
        CT_TRY(check_divides(file, "embedding_length", hp->n_embd, "attention.head_count", hp->n_head));
    hp->head_dim_v = hp->head_dim_k;
    CT_TRY(get_i32(&m, "attention.value_length", false, 1, &hp->head_dim_v));

    if (hp->arch == CT_ARCH_GPT2) {
        CT_TRY(get_f32(&m, "attention.layer_norm_epsilon", true, &hp->norm_eps));
    } else {
        CT_TRY(get_f32(&m, "attention.layer_norm_rms_epsilon", true, &hp->norm_eps));
    }
    if (!(hp->norm_eps > 0.0f && hp->norm_eps < 1.0f))
        return ct_fail(CT_ERR_FORMAT, "%s: norm epsilon %g is out of range (0, 1)", gguf_path(file), hp->norm_eps);

    hp->rope_style = (hp->arch == CT_ARCH_LLAMA) ? CT_ROPE_NORM : CT_ROPE_NEOX;
    hp->rope_dims = hp->head_dim_k;
    hp->rope_base = 10000.0f;
    hp->rope_scale = 1.0f;
    if (hp->arch != CT_ARCH_GPT2) {
        CT_TRY(get_i32(&m, "rope.dimension_count", false, 2, &hp->rope_dims));
        if (hp->rope_dims % 2 != 0 || hp->rope_dims > hp->head_dim_k)
            return ct_fail(CT_ERR_FORMAT, "%s: %s.rope.dimension_count %d must be even and at most the head size %d",
                           gguf_path(file), hp->arch_name, (int)hp->rope_dims, (int)hp->head_dim_k);
        CT_TRY(get_f32(&m, "rope.freq_base", false, &hp->rope_base));
        if (!(hp->rope_base > 1.0f))
            return ct_fail(CT_ERR_FORMAT, "%s: %s.rope.freq_base %g must be greater than 1", gguf_path(file),
                           hp->arch_name, hp->rope_base);
        CT_TRY(read_rope_scaling(&m, hp));
    }

    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim_k);
    hp->embd_scale = 1.0f;
    if (hp->arch == CT_ARCH_GEMMA3) {
        CT_TRY(get_i32(&m, "attention.sliding_window", true, 1, &hp->sliding_window));
        CT_TRY(read_swa_pattern(&m, hp));
        hp->rope_base_swa = 10000.0f; /* local layers keep the original base */
        CT_TRY(get_f32(&m, "rope.freq_base_swa", false, &hp->rope_base_swa));
        hp->embd_scale = sqrtf((float)hp->n_embd);
        /* Gemma 3 27B scales queries by 1/sqrt(n_embd / n_head) (its query_pre_attn_scalar);
         * the other sizes by 1/sqrt(head_dim) */
        if (hp->n_layer == 62) hp->attn_scale = 1.0f / sqrtf((float)hp->n_embd / (float)hp->n_head);
    }

    /* vocabulary: explicit, else the tokenizer's, else the embedding's rows (set by the loader) */
    const gguf_value *tokens = NULL;
    if (gguf_find(file, "tokenizer.ggml.tokens") &&
        gguf_get_array(file, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens) == CT_OK && tokens->arr.count <= INT32_MAX)
        hp->n_vocab = (int32_t)tokens->arr.count;
    CT_TRY(get_i32(&m, "vocab_size", false, 1, &hp->n_vocab));
    return CT_OK;
}

bool ct_hparams_layer_is_swa(const ct_hparams *hp, int32_t l) {
    return hp->sliding_window > 0 && l >= 0 && l < hp->n_layer && hp->swa_layer[l];
}
