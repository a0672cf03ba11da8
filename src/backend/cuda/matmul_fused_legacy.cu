/* Fused dequantize+MMA matmul (dequant_mma.cuh), instantiated for the 32-element block types. */
#include "backend/cuda/dequant_mma.cuh"

CT_MM_FUSED_INSTANTIATE(CT_TYPE_Q4_0)
CT_MM_FUSED_INSTANTIATE(CT_TYPE_Q4_1)
CT_MM_FUSED_INSTANTIATE(CT_TYPE_Q5_0)
CT_MM_FUSED_INSTANTIATE(CT_TYPE_Q5_1)
CT_MM_FUSED_INSTANTIATE(CT_TYPE_Q8_0)
