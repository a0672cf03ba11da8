/* Llama-family decoder (Llama 2/3, Mistral, SmolLM, TinyLlama) and Qwen2, which differs only
 * by biases on q, k, v and the NEOX rope layout (hparams.c picks the rope style):
 *
 *   x = E[token]
 *   per layer:  h = rmsnorm(x) * w_attn_norm
 *               q, k, v = Wq h (+bq), Wk h (+bk), Wv h (+bv);  q, k = rope(q), rope(k)
 *               x += Wo attention(q, K, V)          (GQA: n_head/n_head_kv queries per key head)
 *               h = rmsnorm(x) * w_ffn_norm
 *               x += W_down (silu(W_gate h) * W_up h)
 *   logits = W_out rmsnorm(x) * w_out_norm          (W_out = E when tied) */
#include "model/forward.h"

static ct_status llama_load_weights(ct_model *m) {
    const ct_hparams *hp = &m->hp;
    int64_t d = hp->n_embd, dq = (int64_t)hp->n_head * hp->head_dim_k;
    int64_t dk = (int64_t)hp->n_head_kv * hp->head_dim_k, dv = (int64_t)hp->n_head_kv * hp->head_dim_v;
    int64_t dav = (int64_t)hp->n_head * hp->head_dim_v;
    bool qkv_bias = hp->arch == CT_ARCH_QWEN2;
    CT_TRY(ct_model_embeddings_and_head(m, false));
    CT_TRY(ct_model_tensor(m, "rope_freqs.weight", hp->rope_dims / 2, 1, false, &m->w.rope_freqs));
    for (int32_t l = 0; l < hp->n_layer; l++) {
        ct_layer_weights *L = &m->w.layers[l];
        CT_TRY(ct_model_layer_tensor(m, l, "attn_norm.weight", d, 1, true, &L->attn_norm));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_q.weight", d, dq, true, &L->wq));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_k.weight", d, dk, true, &L->wk));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_v.weight", d, dv, true, &L->wv));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_q.bias", dq, 1, qkv_bias, &L->bq));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_k.bias", dk, 1, qkv_bias, &L->bk));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_v.bias", dv, 1, qkv_bias, &L->bv));
        CT_TRY(ct_model_layer_tensor(m, l, "attn_output.weight", dav, d, true, &L->wo));
        CT_TRY(ct_model_layer_tensor(m, l, "ffn_norm.weight", d, 1, true, &L->ffn_norm));
        CT_TRY(ct_model_layer_tensor(m, l, "ffn_gate.weight", d, hp->n_ff, true, &L->ffn_gate));
        CT_TRY(ct_model_layer_tensor(m, l, "ffn_up.weight", d, hp->n_ff, true, &L->ffn_up));
        CT_TRY(ct_model_layer_tensor(m, l, "ffn_down.weight", hp->n_ff, d, true, &L->ffn_down));
    }
    return CT_OK;
}

static ct_status llama_forward(const ct_model *m, ct_forward_state *s) {
    const ct_hparams *hp = &m->hp;
    ct_backend *be = s->be;
    ct_tensor x = ct_act(s, s->x), h = ct_act(s, s->h);
    ct_tensor q = ct_act(s, s->q), k = ct_act(s, s->k), v = ct_act(s, s->v), att = ct_act(s, s->att);
    ct_tensor gate = ct_act(s, s->gate), up = ct_act(s, s->up);
    const ct_rope rope = {hp->rope_style, hp->head_dim_k, hp->rope_dims, hp->rope_base, hp->rope_scale, m->w.rope_freqs};
    const ct_attn attn = {hp->n_head, hp->n_head_kv, hp->head_dim_k, hp->head_dim_v, hp->attn_scale, 0};

    be->embed_tokens(be, &x, m->w.tok_embd);
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const ct_layer_weights *L = &m->w.layers[l];
        const ct_tensor *k_cache = &s->kv->k[l], *v_cache = &s->kv->v[l];
        /* attention */
        be->rmsnorm(be, &h, &x, L->attn_norm, hp->norm_eps);
        be->matmul(be, &q, L->wq, L->bq, &h);
        be->matmul(be, &k, L->wk, L->bk, &h);
        be->matmul(be, &v, L->wv, L->bv, &h);
        be->rope(be, &q, &rope);
        be->rope(be, &k, &rope);
        be->kv_store(be, k_cache, v_cache, &k, &v);
        be->attention(be, &att, &q, k_cache, v_cache, &attn);
        be->matmul(be, &h, L->wo, NULL, &att);
        be->add(be, &x, &x, &h);
        /* feed-forward: SwiGLU */
        be->rmsnorm(be, &h, &x, L->ffn_norm, hp->norm_eps);
        be->matmul(be, &gate, L->ffn_gate, NULL, &h);
        be->matmul(be, &up, L->ffn_up, NULL, &h);
        be->swiglu(be, &gate, &gate, &up);
        be->matmul(be, &h, L->ffn_down, NULL, &gate);
        be->add(be, &x, &x, &h);
        ct_forward_layer_done(s, l, &x);
    }
    return ct_forward_output(m, s, &x);
}

static const ct_arch_desc llama_desc = {CT_ARCH_LLAMA, llama_load_weights, llama_forward};
const ct_arch_desc *ct_arch_llama(void) { return &llama_desc; }
