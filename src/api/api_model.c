/* Public API: loading a model and reading its facts. */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/threadpool.h"
#include "ctorch.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

ct_model_params ct_model_params_default(void) { return (ct_model_params){.backend = "cpu", .n_threads = 0}; }

static ct_status load_extras(ct_model *m) {
    if (gguf_find(m->file, "tokenizer.ggml.tokens")) CT_TRY(ct_tokenizer_load(m->file, &m->tokenizer));
    if (gguf_find(m->file, "tokenizer.chat_template")) {
        gguf_str t;
        CT_TRY(gguf_get_str(m->file, "tokenizer.chat_template", &t));
        m->chat_template = ct_strndup(t.data, (size_t)t.len, "chat template");
        if (!m->chat_template) return CT_ERR_OUT_OF_MEMORY;
    }
    if (m->tokenizer && ct_tokenizer_n_vocab(m->tokenizer) > m->hp.n_vocab)
        return ct_fail(CT_ERR_FORMAT, "%s: the tokenizer has %d tokens but the model only %d embeddings",
                       gguf_path(m->file), (int)ct_tokenizer_n_vocab(m->tokenizer), (int)m->hp.n_vocab);
    return CT_OK;
}

ct_status ct_model_load(const char *path, const ct_model_params *params, ct_model **out) {
    *out = NULL;
    ct_model_params p = params ? *params : ct_model_params_default();
    if (!path) return ct_fail(CT_ERR_INVALID_ARGUMENT, "model path: missing");
    ct_backend *be;
    CT_TRY(ct_backend_create(p.backend, p.n_threads, &be));
    ct_model *m;
    ct_status st = ct_model_open(path, be, &m);
    if (st != CT_OK) {
        ct_backend_destroy(be);
        return st;
    }
    m->n_threads = p.n_threads > 0 ? p.n_threads : ct_cpu_count();
    st = load_extras(m);
    if (st != CT_OK) {
        ct_model_free(m);
        return st;
    }
    ct_log_info("loaded %s: %s, %d layers, %d embd, %d heads (%d kv), vocab %d, backend %s", path, m->hp.arch_name,
                (int)m->hp.n_layer, (int)m->hp.n_embd, (int)m->hp.n_head, (int)m->hp.n_head_kv, (int)m->hp.n_vocab,
                be->name);
    *out = m;
    return CT_OK;
}

void ct_model_free(ct_model *model) {
    if (!model) return;
    ct_tokenizer_free(model->tokenizer);
    free(model->chat_template);
    ct_model_close(model);
}

void ct_model_get_info(const ct_model *m, ct_model_info *info) {
    memset(info, 0, sizeof *info);
    const ct_hparams *hp = &m->hp;
    info->arch = hp->arch_name;
    info->backend = m->be->name;
    info->n_threads = m->n_threads;
    info->n_vocab = hp->n_vocab;
    info->n_ctx_train = hp->n_ctx_train;
    info->n_embd = hp->n_embd;
    info->n_layer = hp->n_layer;
    info->n_head = hp->n_head;
    info->n_head_kv = hp->n_head_kv;
    info->n_ff = hp->n_ff;
    for (uint64_t i = 0; i < gguf_tensor_count(m->file); i++) {
        const gguf_tensor_info *t = gguf_tensor_at(m->file, i);
        info->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        info->weight_bytes += t->nbytes;
    }
}

const char *ct_model_chat_template(const ct_model *model) { return model->chat_template; }

void ct_free(void *ptr) { free(ptr); }
