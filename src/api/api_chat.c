/* Public API: chat templates (the rendering lives in src/chat). */
#include <stdlib.h>
#include <string.h>

#include "chat/chat_template.h"
#include "core/alloc.h"
#include "ctorch.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

/* The text of a special token, NUL-terminated, or NULL. */
static char *token_text(const ct_model *m, int32_t id) {
    if (!m->tokenizer || id < 0) return NULL;
    size_t len;
    const char *s = ct_tokenizer_token_text(m->tokenizer, id, &len);
    return s ? ct_strndup(s, len, "special token text") : NULL;
}

ct_status ct_chat_template_load(const ct_model *model, const char *name, ct_chat_template **out) {
    *out = NULL;
    if (!name && !model->chat_template)
        return ct_fail(CT_ERR_UNSUPPORTED, "%s has no chat template (tokenizer.chat_template); name one with --template (%s)",
                       gguf_path(model->file), CT_CHAT_FORMAT_NAMES);
    char *bos = token_text(model, ct_token_bos(model)), *eos = token_text(model, ct_token_eos(model));
    ct_status st = ct_chat_template_create(model->chat_template, name, bos, eos, out);
    free(bos);
    free(eos);
    return st;
}

const char *ct_chat_template_name(const ct_chat_template *t) { return ct_chat_format_name(ct_chat_template_format(t)); }

ct_status ct_chat_render(const ct_chat_template *t, const ct_message *messages, size_t n_messages,
                         bool add_generation_prompt, char **text, size_t *len) {
    *text = NULL;
    if (n_messages == 0) return ct_fail(CT_ERR_INVALID_ARGUMENT, "chat: no messages to render");
    ct_chat_message *msgs = ct_alloc_array(n_messages, sizeof *msgs, "chat messages");
    if (!msgs) return CT_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < n_messages; i++) msgs[i] = (ct_chat_message){messages[i].role, messages[i].content};
    ct_status st = ct_chat_template_apply(t, msgs, n_messages, add_generation_prompt, text, len);
    free(msgs);
    return st;
}

ct_status ct_chat_stop_tokens(const ct_chat_template *t, const ct_model *model, ct_token **tokens, size_t *n_tokens) {
    *tokens = NULL;
    *n_tokens = 0;
    size_t count;
    const char *const *stops = ct_chat_template_stop_strings(t, &count);
    ct_token *ids = ct_alloc_array(count ? count : 1, sizeof *ids, "chat stop tokens");
    if (!ids) return CT_ERR_OUT_OF_MEMORY;
    size_t n = 0;
    for (size_t i = 0; i < count && model->tokenizer; i++) {
        int32_t id = ct_tokenizer_find(model->tokenizer, stops[i], strlen(stops[i]));
        if (id != CT_TOKEN_NONE) ids[n++] = id;
    }
    *tokens = ids;
    *n_tokens = n;
    return CT_OK;
}
