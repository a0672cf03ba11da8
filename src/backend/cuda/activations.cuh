/* The activation formulas of the CUDA ops, shared by the element-wise kernels and the fused
 * GEMV epilogues so both round identically (explicit _rn intrinsics: no contraction). */
#ifndef CT_BACKEND_CUDA_ACTIVATIONS_CUH
#define CT_BACKEND_CUDA_ACTIVATIONS_CUH

__device__ __forceinline__ float ct_gelu_tanh(float x) {
    const float k = 0.7978845608028654f;
    const float cube = __fmul_rn(__fmul_rn(__fmul_rn(0.044715f, x), x), x);
    const float t = tanhf(__fmul_rn(k, __fadd_rn(x, cube)));
    return __fmul_rn(__fmul_rn(0.5f, x), __fadd_rn(1.0f, t));
}

/* silu(g) * u = g / (1 + exp(-g)) * u */
__device__ __forceinline__ float ct_swiglu1(float g, float u) {
    return __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, expf(-g))), u);
}

__device__ __forceinline__ float ct_geglu1(float g, float u) { return __fmul_rn(ct_gelu_tanh(g), u); }

#endif
