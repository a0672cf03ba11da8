/* Forward-pass driver and activation buffers. */
#include "model/forward.h"

#include <string.h>

static ct_status alloc_act(ct_backend *be, ct_tensor *t, int64_t width, int64_t rows, const char *name) {
    *t = (ct_tensor){.type = CT_TYPE_F32, .ne0 = width, .ne1 = rows, .row_bytes = (size_t)width * sizeof(float), .name = name};
    return be->alloc(be, (size_t)width * (size_t)rows * sizeof(float), &t->data);
}

ct_status ct_forward_state_init(ct_forward_state *s, const ct_model *m, ct_kv_cache *kv, int32_t n_batch) {
    memset(s, 0, sizeof *s);
    const ct_hparams *hp = &m->hp;
    ct_backend *be = m->be;
    s->be = be;
    s->kv = kv;
    s->n_batch = n_batch;
    /* Output rows per head matmul: every chunk reads the whole output matrix (the largest of
     * the model), so 128 sequences in chunks of 8 read it 16 times a step (3.9 of ~36 ms per
     * step on an H100, docs/perf.md). Up to 128 rows, as long as the logits buffer stays
     * within 64 MiB (Gemma 3's 262k vocabulary: 64 rows). */
    int64_t chunk = ((int64_t)64 << 20) / ((int64_t)hp->n_vocab * (int64_t)sizeof(float));
    if (chunk > 128) chunk = 128;
    if (chunk < 8) chunk = 8;
    s->out_chunk = n_batch < chunk ? n_batch : (int32_t)chunk;
    ct_status st = CT_OK;
#define ALLOC(field, width, rows) \
    if (st == CT_OK) st = alloc_act(be, &s->field, (width), (rows), #field)
    ALLOC(x, hp->n_embd, n_batch);
    ALLOC(h, hp->n_embd, n_batch);
    ALLOC(h2, hp->n_embd, n_batch);
    ALLOC(q, (int64_t)hp->n_head * hp->head_dim_k, n_batch);
    ALLOC(att, (int64_t)hp->n_head * hp->head_dim_v, n_batch);
    ALLOC(k, (int64_t)hp->n_head_kv * hp->head_dim_k, n_batch);
    ALLOC(v, (int64_t)hp->n_head_kv * hp->head_dim_v, n_batch);
    ALLOC(gate, hp->n_ff, n_batch);
    ALLOC(up, hp->n_ff, n_batch);
    ALLOC(out_x, hp->n_embd, s->out_chunk);
    ALLOC(out_h, hp->n_embd, s->out_chunk);
    ALLOC(logits, hp->n_vocab, s->out_chunk);
#undef ALLOC
    /* scratch: the longest row an op dequantizes, and attention over a whole sequence */
    int64_t max_row = m->max_row > hp->n_embd ? m->max_row : hp->n_embd;
    if (st == CT_OK) st = be->reserve(be, max_row, kv->n_ctx);
    if (st != CT_OK) ct_forward_state_free(s);
    return st;
}

void ct_forward_state_free(ct_forward_state *s) {
    ct_tensor *bufs[] = {&s->x, &s->h, &s->h2, &s->q, &s->att, &s->k, &s->v,
                         &s->gate, &s->up, &s->out_x, &s->out_h, &s->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]->data) s->be->release(s->be, bufs[i]->data);
    memset(s, 0, sizeof *s);
}

ct_status ct_forward(const ct_model *m, ct_forward_state *s, const ct_forward_batch *batch, float *logits_host) {
    if (batch->n_tokens < 1 || batch->n_tokens > s->n_batch)
        return ct_fail(CT_ERR_INTERNAL, "forward: %d tokens for a batch capacity of %d", (int)batch->n_tokens,
                       (int)s->n_batch);
    s->batch = batch;
    s->n_tokens = batch->n_tokens;
    s->logits_host = logits_host;
    CT_TRY(s->be->begin(s->be, batch));
    ct_status st = m->desc->forward(m, s);
    ct_status end = s->be->end(s->be);
    s->batch = NULL;
    return st != CT_OK ? st : end;
}

ct_status ct_forward_output(const ct_model *m, ct_forward_state *s, const ct_tensor *x) {
    ct_backend *be = s->be;
    const ct_weights *w = &m->w;
    const ct_forward_batch *b = s->batch;
    for (int32_t first = 0; first < b->n_out; first += s->out_chunk) {
        int32_t n = b->n_out - first < s->out_chunk ? b->n_out - first : s->out_chunk;
        ct_tensor xo = ct_tensor_rows(s->out_x, n), ho = ct_tensor_rows(s->out_h, n), logits = ct_tensor_rows(s->logits, n);
        be->gather_outputs(be, &xo, x, first);
        if (w->output_norm_b)
            be->layernorm(be, &ho, &xo, w->output_norm, w->output_norm_b, m->hp.norm_eps);
        else
            be->rmsnorm(be, &ho, &xo, w->output_norm, m->hp.norm_eps);
        be->matmul(be, &logits, w->output, NULL, &ho);
        CT_TRY(be->read_rows(be, &logits, s->logits_host + (size_t)first * (size_t)m->hp.n_vocab));
    }
    return CT_OK;
}
