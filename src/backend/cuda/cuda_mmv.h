/* Matrix-vector kernels for small batches (decode): out[t] = W in[t] (+ bias) for up to
 * CT_CUDA_MMV_MAX_TOKENS rows of F32 activations, W in its GGUF block type (as uploaded by
 * ct_cuda_weight_upload). Memory-bound: each weight byte is read once, with wide coalesced
 * loads, and dequantized in registers. */
#ifndef CT_BACKEND_CUDA_CUDA_MMV_H
#define CT_BACKEND_CUDA_CUDA_MMV_H

#include <stdbool.h>

#include <cuda_runtime_api.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CT_CUDA_MMV_MAX_TOKENS 8

bool ct_cuda_mmv_type_supported(uint32_t type);

/* Which kernel runs: CT_CUDA_MMV_DIRECT (the default) loads each lane's slice of a block
 * straight into registers (mmv_direct.cuh) for Q4_0, Q4_1, Q8_0, Q4_K, Q5_K and Q6_K (Q6_K
 * from 2 tokens) up to 2 tokens, on the F32 input; CT_CUDA_MMV_DIRECT_Q16 is the same kernel
 * for 1..8 tokens dotting the weights with the input quantized to Q16 (two int8 halves a
 * value, the CPU fast path's format; mmv_q16.cuh) where the call brings an activation
 * scratch: opt-in (CTORCH_CUDA_MMV=q16) until it has been measured and tested on a GPU;
 * CT_CUDA_MMV_RING runs the ring kernel (mmv_kernel.cuh) for every type, which also takes the
 * other types and the token counts the direct modes leave. Process-wide: set it before
 * launching (the CUDA matmul module sets it from CTORCH_CUDA_MMV at create; tests and
 * benchmarks compare them). */
typedef enum { CT_CUDA_MMV_DIRECT = 0, CT_CUDA_MMV_RING = 1, CT_CUDA_MMV_DIRECT_Q16 = 2 } ct_cuda_mmv_kernel;
void ct_cuda_mmv_set_kernel(ct_cuda_mmv_kernel kernel);
ct_cuda_mmv_kernel ct_cuda_mmv_get_kernel(void);

/* Device scratch a call may use (any field NULL/0 where the caller has none):
 *   act: the input quantized to Q16, at least ct_cuda_mmv_act_bytes(token count, ne0) bytes,
 *        16-byte aligned; without it the direct kernel takes the F32 input;
 *   glu: the gate/up pairing place of ct_cuda_mmv_glu (below).
 * Calls on one stream may share it: each call is done with it before the next starts. */
typedef struct ct_cuda_mmv_scratch {
    void *act;
    size_t act_bytes;
    /* act already holds this call's input as Q16 rows (ct_cuda_rmsnorm_q16 wrote them): no
     * quantizer launch. The caller vouches for it; a call that does not take the integer path
     * reads the F32 input as always. */
    bool act_ready;
    void *glu;
    size_t glu_bytes;
} ct_cuda_mmv_scratch;
size_t ct_cuda_mmv_act_bytes(int64_t n_tokens, int64_t row);
/* whether a call on weights of this type over n_tokens rows takes the integer path (given a
 * scratch), in the current kernel mode */
bool ct_cuda_mmv_takes_q16(uint32_t type, int64_t n_tokens);
/* The integer path's quantizer on its own (for tests): in's in->ne1 rows of in->ne0 F32 (a
 * multiple of 32; 16-byte aligned rows) to Q16 rows of ct_cuda_mmv_act_bytes(1, ne0) bytes at
 * act: int8 qs[ne0] | int8 ql[ne0] | float d[ne0/32], rounded as the CPU's Q16 quantizer. */
cudaError_t ct_cuda_mmv_quantize(cudaStream_t stream, const ct_tensor *in, void *act, size_t act_bytes);

/* out: [n][w->ne1] F32, in: [n][w->ne0] F32, n = in->ne1 <= CT_CUDA_MMV_MAX_TOKENS; bias NULL
 * or w->ne1 F32. Row strides come from the tensors' row_bytes. scratch may be NULL. */
cudaError_t ct_cuda_mmv(cudaStream_t stream, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                        const ct_tensor *in, const ct_cuda_mmv_scratch *scratch);

/* out[t] += W in[t] (+ bias): the residual add fused into the epilogue, bit-identical to
 * ct_cuda_mmv into a temporary (with the same scratch) followed by out = out + temporary. */
cudaError_t ct_cuda_mmv_add(cudaStream_t stream, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                            const ct_tensor *in, const ct_cuda_mmv_scratch *scratch);

/* Up to 3 matrices of one weight type and row stride on the same input, one launch (q, k and
 * v): out[i] = W[i] in (+ bias[i]), bias entries may be NULL. cudaErrorNotSupported where they
 * cannot share a launch (types or strides differ, rows only the plain fallback takes): run
 * them one by one. */
cudaError_t ct_cuda_mmv_multi(cudaStream_t stream, int n, const ct_tensor *const out[], const ct_tensor *const w[],
                              const ct_tensor *const bias[], const ct_tensor *in, const ct_cuda_mmv_scratch *scratch);

/* The gated FFN's first half in one launch: out = act(W_gate in + b_gate) * (W_up in + b_up),
 * act = silu (swiglu) or gelu_tanh (geglu), rounded exactly as ct_cuda_swiglu/ct_cuda_geglu
 * after two ct_cuda_mmv calls (with the same scratch). The ring kernel pairs the two products
 * in scratch->glu: glu_bytes of device memory, at least ct_cuda_mmv_glu_scratch_bytes(token
 * count, W_gate's rows), zeroed once before first use. Its first third holds pairing
 * counters, which every launch leaves at zero (so calls of any token and row counts may share
 * one scratch); the rest takes the products. cudaErrorNotSupported as for ct_cuda_mmv_multi;
 * cudaErrorInvalidValue if it is missing or too small. */
size_t ct_cuda_mmv_glu_scratch_bytes(int64_t n_tokens, int64_t rows);
cudaError_t ct_cuda_mmv_glu(cudaStream_t stream, const ct_tensor *out, const ct_tensor *w_gate,
                            const ct_tensor *b_gate, const ct_tensor *w_up, const ct_tensor *b_up,
                            const ct_tensor *in, bool geglu, const ct_cuda_mmv_scratch *scratch);

#ifdef __cplusplus
}
#endif

#endif
