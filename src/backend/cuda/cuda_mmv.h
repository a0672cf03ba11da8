/* Matrix-vector kernels for small batches (decode): out[t] = W in[t] (+ bias) for up to
 * CT_CUDA_MMV_MAX_TOKENS rows of F32 activations, W in its GGUF block type (as uploaded by
 * ct_cuda_weight_upload). Each weight byte is read once, with wide coalesced loads, and
 * decoded in registers.
 *
 * `act`: device scratch of ct_cuda_mmv_act_bytes(n, ne0) bytes, 16-byte aligned, or NULL.
 * Given, quantized weights take the integer path: the activations are quantized once per
 * call to int16 per 32 columns (scale max|x| / 32767: relative error <= 1.5e-5 of the
 * block's largest value) and each group's products are summed exactly in integers (dp2a).
 * NULL (and for F32/F16/BF16 weights), the products are F32. */
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

/* Scratch the int16 path needs for n tokens of rows of ne0 elements. */
size_t ct_cuda_mmv_act_bytes(int64_t n_tokens, int64_t ne0);

/* out: [n][w->ne1] F32, in: [n][w->ne0] F32, n = in->ne1 <= CT_CUDA_MMV_MAX_TOKENS; bias NULL
 * or w->ne1 F32. Row strides come from the tensors' row_bytes. */
cudaError_t ct_cuda_mmv(cudaStream_t stream, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                        const ct_tensor *in, void *act);

/* out[t] += W in[t] (+ bias): the residual add fused into the epilogue, bit-identical to
 * ct_cuda_mmv into a temporary followed by out = out + temporary. */
cudaError_t ct_cuda_mmv_add(cudaStream_t stream, const ct_tensor *out, const ct_tensor *w, const ct_tensor *bias,
                            const ct_tensor *in, void *act);

/* Up to 3 matrices of one weight type and row stride on the same input, one launch (q, k and
 * v): out[i] = W[i] in (+ bias[i]), bias entries may be NULL. cudaErrorNotSupported where they
 * cannot share a launch (types or strides differ, rows only the plain fallback takes): run
 * them one by one. */
cudaError_t ct_cuda_mmv_multi(cudaStream_t stream, int n, const ct_tensor *const out[], const ct_tensor *const w[],
                              const ct_tensor *const bias[], const ct_tensor *in, void *act);

/* The gated FFN's first half in one launch: out = act(W_gate in + b_gate) * (W_up in + b_up),
 * act = silu (swiglu) or gelu_tanh (geglu), rounded exactly as ct_cuda_swiglu/ct_cuda_geglu
 * after two ct_cuda_mmv calls. The two products meet in `scratch`
 * (ct_cuda_mmv_glu_scratch_bytes for the token count and W_gate's rows, device memory zeroed
 * once; each launch leaves it zeroed). cudaErrorNotSupported as for ct_cuda_mmv_multi. */
size_t ct_cuda_mmv_glu_scratch_bytes(int64_t n_tokens, int64_t rows);
cudaError_t ct_cuda_mmv_glu(cudaStream_t stream, const ct_tensor *out, const ct_tensor *w_gate,
                            const ct_tensor *b_gate, const ct_tensor *w_up, const ct_tensor *b_up,
                            const ct_tensor *in, bool geglu, void *scratch, void *act);

#ifdef __cplusplus
}
#endif

#endif
