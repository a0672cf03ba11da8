/* Gemma 3 decoder:
 *
 *   x = E[token] * sqrt(n_embd)
 *   per layer:  h = rmsnorm(x) * w_attn_norm
 *               q, k, v = Wq h, Wk h, Wv h
 *               q, k = rmsnorm per head (* w_q_norm, * w_k_norm), then rope
 *               x += rmsnorm(Wo attention(q, K, V)) * w_post_attn_norm
 *               h = rmsnorm(x) * w_ffn_norm
 *               x += rmsnorm(W_down (gelu_tanh(W_gate h) * W_up h)) * w_post_ffn_norm
 *   logits = E rmsnorm(x) * w_out_norm
 *
 * Five of every six layers are local: they attend to the last sliding_window positions
 * only and use their own rope base (10000); every sixth layer is global. Norm weights in
 * GGUF already include Gemma's "+1" (the converter adds it), so they multiply as stored. */
#include "model/forward.h"

static ct_status gemma3_load_weights(ct_model *m) {
    const ct_hparams *hp = &m->hp;
    int64_t d = hp->n_embd, dq = (int64_t)hp->n_head * hp->head_dim_k;
    int64_t dk = (int64_t)hp->n_head_kv * hp->head_dim_k, dv = (int64_t)hp->n_head_kv * hp->head_dim_v;
    int64_t dav = (int64_t)hp->n_head * hp->head_dim_v;
    CT_TRY(ct_model_embeddings_and_head(m, false));
    for (int32_t l = 0; l < hp->n_layer; l++) {
        ct_layer_weights *L = &m->w.layers[l];
        CT_TRY(ct_model_layer_tensor(m, l, "attn_norm.weight", d, 1, true, &L->attn_norm));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_q.weight", d, dq, true, &L->wq));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_k.weight", d, dk, true, &L->wk));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_v.weight", d, dv, true, &L->wv));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_q_norm.weight", hp->head_dim_k, 1, true, &L->q_norm));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_k_norm.weight", hp->head_dim_k, 1, true, &L->k_norm));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_output.weight", dav, d, true, &L->wo));
        CT_TRY(ct_model_layer_tensor(m, l, "post_attention_norm.weight", d, 1, true, &L->post_attn_norm));
        CT_TRY(ct_model_layer_tensor(m, l, "ffn_norm.weight", d, 1, true, &L->ffn_norm));
        CT_TRY(ct_model_layer_tensor(m, l, "ffn_gate.weight", d, hp->n_ff, true, &L->ffn_gate));
        CT_TRY(ct_model_layer_tensor(m, l, "ffn_up.weight", d, hp->n_ff, true, &L->ffn_up));
        CT_TRY(ct_model_layer_tensor(m, l, "ffn_down.weight", hp->n_ff, d, true, &L->ffn_down));
        CT_TRY(ct_model_layer_tensor(m, l, "post_ffw_norm.weight", d, 1, true, &L->post_ffn_norm));
    }
    return CT_OK;
}

static ct_status gemma3_forward(const ct_model *m, ct_forward_state *s) {
    const ct_hparams *hp = &m->hp;
    ct_backend *be = s->be;
    ct_tensor x = ct_act(s, s->x), h = ct_act(s, s->h), h2 = ct_act(s, s->h2);
    ct_tensor q = ct_act(s, s->q), k = ct_act(s, s->k), v = ct_act(s, s->v), att = ct_act(s, s->att);
    ct_tensor q_heads = ct_tensor_heads(q, hp->head_dim_k), k_heads = ct_tensor_heads(k, hp->head_dim_k);
    ct_tensor gate = ct_act(s, s->gate), up = ct_act(s, s->up);
    const ct_rope rope_global = {CT_ROPE_NEOX, hp->head_dim_k, hp->rope_dims, hp->rope_base, hp->rope_scale, NULL};
    const ct_rope rope_local = {CT_ROPE_NEOX, hp->head_dim_k, hp->rope_dims, hp->rope_base_swa, 1.0f, NULL};
    const ct_attn attn_global = {hp->n_head, hp->n_head_kv, hp->head_dim_k, hp->head_dim_v, hp->attn_scale, 0};
    const ct_attn attn_local = {hp->n_head, hp->n_head_kv, hp->head_dim_k, hp->head_dim_v, hp->attn_scale,
                                hp->sliding_window};

    be->embed_tokens(be, &x, m->w.tok_embd);
    be->scale(be, &x, hp->embd_scale);
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const ct_layer_weights *L = &m->w.layers[l];
        const ct_tensor *k_cache = &s->kv->k[l], *v_cache = &s->kv->v[l];
        bool local = ct_hparams_layer_is_swa(hp, l);
        /* attention, with per-head q/k norms and a norm on its output */
        be->rmsnorm(be, &h, &x, L->attn_norm, hp->norm_eps);
        be->matmul(be, &q, L->wq, NULL, &h);
        be->matmul(be, &k, L->wk, NULL, &h);
        be->matmul(be, &v, L->wv, NULL, &h);
        be->rmsnorm(be, &q_heads, &q_heads, L->q_norm, hp->norm_eps);
        be->rmsnorm(be, &k_heads, &k_heads, L->k_norm, hp->norm_eps);
        be->rope(be, &q, local ? &rope_local : &rope_global);
        be->rope(be, &k, local ? &rope_local : &rope_global);
        be->kv_store(be, k_cache, v_cache, &k, &v);
        be->attention(be, &att, &q, k_cache, v_cache, local ? &attn_local : &attn_global);
        be->matmul(be, &h, L->wo, NULL, &att);
        be->rmsnorm(be, &h2, &h, L->post_attn_norm, hp->norm_eps);
        be->add(be, &x, &x, &h2);
        /* feed-forward: GeGLU, normed before and after */
        be->rmsnorm(be, &h, &x, L->ffn_norm, hp->norm_eps);
        be->matmul(be, &gate, L->ffn_gate, NULL, &h);
        be->matmul(be, &up, L->ffn_up, NULL, &h);
        be->geglu(be, &gate, &gate, &up);
        be->matmul(be, &h, L->ffn_down, NULL, &gate);
        be->rmsnorm(be, &h2, &h, L->post_ffn_norm, hp->norm_eps);
        be->add(be, &x, &x, &h2);
        ct_forward_layer_done(s, l, &x);
    }
    return ct_forward_output(m, s, &x);
}

static const ct_arch_desc gemma3_desc = {CT_ARCH_GEMMA3, gemma3_load_weights, gemma3_forward};
const ct_arch_desc *ct_arch_gemma3(void) { return &gemma3_desc; }
