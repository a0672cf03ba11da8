/* GPT-2:
 *
 *   x = E[token] + P[pos]
 *   per layer:  h = layernorm(x) * w + b
 *               q, k, v = split(W_qkv h + b_qkv)       (no rope: positions are learned)
 *               x += Wo attention(q, K, V) + bo
 *               h = layernorm(x) * w + b
 *               x += W_down gelu(W_up h + b_up) + b_down
 *   logits = W_out layernorm(x)                     (W_out = E when tied)
 *
 * The fused QKV weight's rows are [q; k; v], so it is split at load into three row slices
 * of the mapped tensor (no copy) and the layer reads like the others. */
#include "model/forward.h"

static ct_status gpt2_load_weights(ct_model *m) {
    const ct_hparams *hp = &m->hp;
    int64_t d = hp->n_embd;
    if (hp->n_head_kv != hp->n_head || hp->head_dim_k * hp->n_head != d || hp->head_dim_v != hp->head_dim_k)
        return ct_fail(CT_ERR_FORMAT, "%s: gpt2 needs head_count_kv == head_count and key_length == embedding_length / head_count",
                       gguf_path(m->file));
    CT_TRY(ct_model_embeddings_and_head(m, true));
    CT_TRY(ct_model_tensor(m, "position_embd.weight", d, hp->n_ctx_train, true, &m->w.pos_embd));
    for (int32_t l = 0; l < hp->n_layer; l++) {
        ct_layer_weights *L = &m->w.layers[l];
        const ct_tensor *wqkv, *bqkv;
        CT_TRY(ct_model_layer_tensor(m, l, "attn_norm.weight", d, 1, true, &L->attn_norm));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_norm.bias", d, 1, true, &L->attn_norm_b));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_qkv.weight", d, 3 * d, true, &wqkv));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_qkv.bias", 3 * d, 1, true, &bqkv));
        CT_TRY(ct_model_slice(m, wqkv, 0, d, &L->wq));
        CT_TRY(ct_model_slice(m, wqkv, d, d, &L->wk));
        CT_TRY(ct_model_slice(m, wqkv, 2 * d, d, &L->wv));
        CT_TRY(ct_model_slice(m, bqkv, 0, d, &L->bq));
        CT_TRY(ct_model_slice(m, bqkv, d, d, &L->bk));
        CT_TRY(ct_model_slice(m, bqkv, 2 * d, d, &L->bv));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_output.weight", d, d, true, &L->wo));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_output.bias", d, 1, true, &L->bo));
        CT_TRY(ct_model_layer_tensor(m, l, "ffn_norm.weight", d, 1, true, &L->ffn_norm));
        CT_TRY(ct_model_layer_tensor(m, l, "ffn_norm.bias", d, 1, true, &L->ffn_norm_b));
        CT_TRY(ct_model_layer_tensor(m, l, "ffn_up.weight", d, hp->n_ff, true, &L->ffn_up));
        CT_TRY(ct_model_layer_tensor(m, l, "ffn_up.bias", hp->n_ff, 1, true, &L->ffn_up_b));
        CT_TRY(ct_model_layer_tensor(m, l, "ffn_down.weight", hp->n_ff, d, true, &L->ffn_down));
        CT_TRY(ct_model_layer_tensor(m, l, "ffn_down.bias", d, 1, true, &L->ffn_down_b));
    }
    return CT_OK;
}

static ct_status gpt2_forward(const ct_model *m, ct_forward_state *s) {
    const ct_hparams *hp = &m->hp;
    ct_backend *be = s->be;
    ct_tensor x = ct_act(s, s->x), h = ct_act(s, s->h);
    ct_tensor q = ct_act(s, s->q), k = ct_act(s, s->k), v = ct_act(s, s->v), att = ct_act(s, s->att);
    ct_tensor up = ct_act(s, s->up);
    const ct_attn attn = {hp->n_head, hp->n_head_kv, hp->head_dim_k, hp->head_dim_v, hp->attn_scale, 0};

    be->embed_tokens(be, &x, m->w.tok_embd);
    be->add_positions(be, &x, m->w.pos_embd);
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const ct_layer_weights *L = &m->w.layers[l];
        const ct_tensor *k_cache = &s->kv->k[l], *v_cache = &s->kv->v[l];
        /* attention */
        be->layernorm(be, &h, &x, L->attn_norm, L->attn_norm_b, hp->norm_eps);
        be->matmul(be, &q, L->wq, L->bq, &h);
        be->matmul(be, &k, L->wk, L->bk, &h);
        be->matmul(be, &v, L->wv, L->bv, &h);
        be->kv_store(be, k_cache, v_cache, &k, &v);
        be->attention(be, &att, &q, k_cache, v_cache, &attn);
        be->matmul(be, &h, L->wo, L->bo, &att);
        be->add(be, &x, &x, &h);
        /* feed-forward: GELU MLP */
        be->layernorm(be, &h, &x, L->ffn_norm, L->ffn_norm_b, hp->norm_eps);
        be->matmul(be, &up, L->ffn_up, L->ffn_up_b, &h);
        be->gelu(be, &up);
        be->matmul(be, &h, L->ffn_down, L->ffn_down_b, &up);
        be->add(be, &x, &x, &h);
        ct_forward_layer_done(s, l, &x);
    }
    return ct_forward_output(m, s, &x);
}

static const ct_arch_desc gpt2_desc = {CT_ARCH_GPT2, gpt2_load_weights, gpt2_forward};
const ct_arch_desc *ct_arch_gpt2(void) { return &gpt2_desc; }
