/* Loading a model: open the GGUF file, read the hyper-parameters, and find every weight the
 * architecture needs, checking each one's shape against the metadata. Weights are not
 * copied: tensors point into the mapped file, and the backend decides where they live. */
#include <inttypes.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "model/model.h"
#include "quant/types.h"

static const ct_arch_desc *desc_for(ct_arch arch) {
    switch (arch) {
    case CT_ARCH_LLAMA:
    case CT_ARCH_QWEN2: return ct_arch_llama();
    case CT_ARCH_GEMMA3: return ct_arch_gemma3();
    case CT_ARCH_GPT2: return ct_arch_gpt2();
    }
    return NULL;
}

/* The hyper-parameters shapes are derived from, for mismatch messages. */
static void describe_hparams(const ct_hparams *hp, char *buf, size_t size) {
    snprintf(buf, size,
             "%s: embedding_length %d, block_count %d, head_count %d, head_count_kv %d, key_length %d, "
             "value_length %d, feed_forward_length %d, vocab %d",
             hp->arch_name, (int)hp->n_embd, (int)hp->n_layer, (int)hp->n_head, (int)hp->n_head_kv,
             (int)hp->head_dim_k, (int)hp->head_dim_v, (int)hp->n_ff, (int)hp->n_vocab);
}

static ct_status add_tensor(ct_model *m, ct_tensor t, const ct_tensor **out) {
    if (m->n_tensors == m->cap_tensors)
        return ct_fail(CT_ERR_INTERNAL, "%s: more weight tensors than reserved (%zu)", gguf_path(m->file), m->cap_tensors);
    ct_tensor *slot = &m->tensors[m->n_tensors++];
    *slot = t;
    *out = slot;
    return CT_OK;
}

ct_status ct_model_tensor(ct_model *m, const char *name, int64_t ne0, int64_t ne1, bool required, const ct_tensor **out) {
    *out = NULL;
    const char *path = gguf_path(m->file);
    const gguf_tensor_info *ti = gguf_find_tensor(m->file, name);
    if (!ti) {
        if (!required) return CT_OK;
        return ct_fail(CT_ERR_NOT_FOUND, "%s: tensor '%s' is missing (architecture %s needs it)", path, name,
                       m->hp.arch_name);
    }
    if (ti->ne[0] != (uint64_t)ne0 || ti->ne[1] != (uint64_t)ne1 || ti->ne[2] != 1 || ti->ne[3] != 1) {
        char hp[320];
        describe_hparams(&m->hp, hp, sizeof hp);
        return ct_fail(CT_ERR_FORMAT,
                       "%s: tensor '%s' has shape [%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64
                       "] but the metadata implies [%" PRId64 ", %" PRId64 "] (%s)",
                       path, name, ti->ne[0], ti->ne[1], ti->ne[2], ti->ne[3], ne0, ne1, hp);
    }
    const ct_type_traits *tr = ct_type_traits_of(ti->type);
    if (!tr)
        return ct_fail(CT_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s (id %u), which ctorch does not support", path,
                       name, ct_type_name(ti->type), (unsigned)ti->type);
    if (ti->n_dims == 1 && ti->type != CT_TYPE_F32)
        return ct_fail(CT_ERR_UNSUPPORTED, "%s: tensor '%s' is %s; ctorch needs norm weights and biases in F32", path,
                       name, tr->name);
    uint64_t row_bytes;
    CT_TRY(ct_type_row_bytes((ct_type)ti->type, (uint64_t)ne0, &row_bytes));
    if (ti->nbytes < row_bytes * (uint64_t)ne1)
        return ct_fail(CT_ERR_FORMAT, "%s: tensor '%s' holds %" PRIu64 " bytes, fewer than its shape needs", path, name,
                       ti->nbytes);
    ct_tensor t = {
        .data = (void *)ti->data, .type = ti->type, .ne0 = ne0, .ne1 = ne1, .row_bytes = (size_t)row_bytes, .name = ti->name};
    if (ne0 > m->max_row) m->max_row = ne0;
    CT_TRY(add_tensor(m, t, out));
    return m->be->load_weight(m->be, (ct_tensor *)*out);
}

ct_status ct_model_layer_tensor(ct_model *m, int32_t layer, const char *suffix, int64_t ne0, int64_t ne1,
                                bool required, const ct_tensor **out) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", (int)layer, suffix);
    return ct_model_tensor(m, name, ne0, ne1, required, out);
}

ct_status ct_model_slice(ct_model *m, const ct_tensor *t, int64_t r0, int64_t n, const ct_tensor **out) {
    ct_tensor s = *t;
    if (t->ne1 == 1) { /* a vector: elements (F32) */
        if (r0 < 0 || n < 1 || r0 + n > t->ne0) return ct_fail(CT_ERR_INTERNAL, "slice of '%s' out of range", t->name);
        s.data = (float *)t->data + r0;
        s.ne0 = n;
        s.row_bytes = (size_t)n * sizeof(float);
    } else {
        if (r0 < 0 || n < 1 || r0 + n > t->ne1) return ct_fail(CT_ERR_INTERNAL, "slice of '%s' out of range", t->name);
        s.data = (uint8_t *)t->data + (size_t)r0 * t->row_bytes;
        s.ne1 = n;
    }
    return add_tensor(m, s, out);
}

ct_status ct_model_embeddings_and_head(ct_model *m, bool with_bias) {
    ct_hparams *hp = &m->hp;
    if (hp->n_vocab == 0) { /* no vocabulary in the metadata: the embedding says */
        const gguf_tensor_info *ti = gguf_find_tensor(m->file, "token_embd.weight");
        if (ti && ti->ne[1] >= 1 && ti->ne[1] <= INT32_MAX) hp->n_vocab = (int32_t)ti->ne[1];
    }
    ct_weights *w = &m->w;
    CT_TRY(ct_model_tensor(m, "token_embd.weight", hp->n_embd, hp->n_vocab, true, &w->tok_embd));
    CT_TRY(ct_model_tensor(m, "output_norm.weight", hp->n_embd, 1, true, &w->output_norm));
    if (with_bias) CT_TRY(ct_model_tensor(m, "output_norm.bias", hp->n_embd, 1, true, &w->output_norm_b));
    CT_TRY(ct_model_tensor(m, "output.weight", hp->n_embd, hp->n_vocab, false, &w->output));
    if (!w->output) w->output = w->tok_embd; /* tied embeddings */
    return CT_OK;
}

ct_status ct_model_open(const char *path, ct_backend *be, ct_model **out) {
    *out = NULL;
    ct_model *m = ct_calloc_array(1, sizeof *m, "model");
    if (!m) return CT_ERR_OUT_OF_MEMORY;
    ct_status st = gguf_open(path, &m->file);
    if (st != CT_OK) {
        free(m);
        return st;
    }
    m->be = be;
    st = ct_hparams_read(m->file, &m->hp);
    if (st == CT_OK) {
        m->desc = desc_for(m->hp.arch);
        /* every file tensor at most once, plus row slices (gpt2 splits q, k, v and their biases) */
        m->cap_tensors = gguf_tensor_count(m->file) + 6 * (size_t)m->hp.n_layer + 8;
        m->tensors = ct_calloc_array(m->cap_tensors, sizeof *m->tensors, "model tensors");
        m->w.layers = ct_calloc_array((size_t)m->hp.n_layer, sizeof *m->w.layers, "model layers");
        st = (m->tensors && m->w.layers) ? m->desc->load_weights(m) : CT_ERR_OUT_OF_MEMORY;
    }
    if (st != CT_OK) {
        m->be = NULL; /* the caller still owns the backend */
        ct_model_close(m);
        return st;
    }
    *out = m;
    return CT_OK;
}

void ct_model_close(ct_model *m) {
    if (!m) return;
    ct_backend_destroy(m->be);
    free(m->tensors);
    free(m->w.layers);
    gguf_close(m->file);
    free(m);
}
