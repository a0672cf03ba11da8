/* Public API: tokenization through the model's tokenizer. */
#include <stdlib.h>

#include "ctorch.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

static ct_status need_tokenizer(const ct_model *m) {
    if (m->tokenizer) return CT_OK;
    return ct_fail(CT_ERR_UNSUPPORTED, "%s: the model file has no vocabulary (tokenizer.ggml.tokens)", gguf_path(m->file));
}

ct_token ct_token_bos(const ct_model *m) { return m->tokenizer ? ct_tokenizer_bos(m->tokenizer) : -1; }
ct_token ct_token_eos(const ct_model *m) { return m->tokenizer ? ct_tokenizer_eos(m->tokenizer) : -1; }

bool ct_token_is_eog(const ct_model *m, ct_token token) {
    return m->tokenizer && ct_tokenizer_is_eog(m->tokenizer, token);
}

ct_status ct_tokenize(const ct_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                      ct_token **tokens, size_t *n_tokens) {
    *tokens = NULL;
    *n_tokens = 0;
    CT_TRY(need_tokenizer(m));
    ct_tokens out = {0};
    unsigned flags = (add_special ? CT_ENCODE_ADD_SPECIAL : 0u) | (parse_special ? CT_ENCODE_PARSE_SPECIAL : 0u);
    ct_status st = ct_tokenizer_encode(m->tokenizer, text, len, flags, &out);
    if (st != CT_OK) {
        ct_tokens_free(&out);
        return st;
    }
    *tokens = out.ids;
    *n_tokens = out.count;
    return CT_OK;
}

ct_status ct_detokenize(const ct_model *m, const ct_token *tokens, size_t n_tokens, bool render_special, char **text,
                        size_t *len) {
    *text = NULL;
    CT_TRY(need_tokenizer(m));
    return ct_tokenizer_decode(m->tokenizer, tokens, n_tokens, render_special ? CT_DECODE_RENDER_SPECIAL : 0u, text, len);
}

ct_status ct_detok_new(const ct_model *m, bool render_special, ct_detok **out) {
    *out = NULL;
    CT_TRY(need_tokenizer(m));
    return ct_detok_create(m->tokenizer, render_special ? CT_DECODE_RENDER_SPECIAL : 0u, out);
}
