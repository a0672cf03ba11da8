/* Running a forward pass: the activation buffers of a context, the driver that runs an
 * architecture over one batch, and the output head every architecture ends with. */
#ifndef CT_MODEL_FORWARD_H
#define CT_MODEL_FORWARD_H

#include "backend/backend.h"
#include "model/kv_cache.h"
#include "model/model.h"

/* Called after each layer with the residual stream (rows = the batch's tokens), for tests
 * that compare hidden states with a reference. */
typedef void (*ct_layer_hook)(void *user, int32_t layer, const ct_tensor *x, ct_backend *be);

struct ct_forward_state {
    ct_backend *be;
    ct_kv_cache *kv;
    int32_t n_batch;   /* row capacity of the activations */
    int32_t out_chunk; /* row capacity of the output head's buffers */

    /* the batch being run */
    const ct_forward_batch *batch;
    int32_t n_tokens;

    /* activations, [n_batch rows][width] F32 in backend memory */
    ct_tensor x;       /* residual stream, n_embd */
    ct_tensor h, h2;   /* normed input / branch output, n_embd */
    ct_tensor q, att;  /* n_head * head_dim_k, n_head * head_dim_v */
    ct_tensor k, v;    /* n_head_kv * head_dim_k, n_head_kv * head_dim_v */
    ct_tensor gate, up; /* n_ff */
    /* output head, [out_chunk rows] */
    ct_tensor out_x, out_h; /* n_embd */
    ct_tensor logits;       /* n_vocab */

    float *logits_host; /* [n_out][n_vocab] for the batch being run, host memory */
    ct_layer_hook hook;
    void *hook_user;
};

ct_status ct_forward_state_init(ct_forward_state *s, const ct_model *m, ct_kv_cache *kv, int32_t n_batch);
void ct_forward_state_free(ct_forward_state *s);

/* Run the model over batch; logits of its out_rows land in logits_host ([n_out][n_vocab]). */
ct_status ct_forward(const ct_model *m, ct_forward_state *s, const ct_forward_batch *batch, float *logits_host);

/* ---- for the architectures ---- */
/* The rows of a buffer the current batch uses. */
static inline ct_tensor ct_act(const ct_forward_state *s, ct_tensor buffer) { return ct_tensor_rows(buffer, s->n_tokens); }

/* Report layer l's output to the hook, if any. */
static inline void ct_forward_layer_done(ct_forward_state *s, int32_t l, const ct_tensor *x) {
    if (s->hook) s->hook(s->hook_user, l, x, s->be);
}

/* logits = output · norm(x) for the rows whose logits are wanted: RMSNorm, or LayerNorm when
 * the model has an output-norm bias. */
ct_status ct_forward_output(const ct_model *m, ct_forward_state *s, const ct_tensor *x);

#endif
