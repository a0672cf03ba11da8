/* Fused dequantize+MMA matmul (dequant_mma.cuh), instantiated for F32, F16 and BF16 weights. */
#include "backend/cuda/dequant_mma.cuh"

CT_MM_FUSED_INSTANTIATE(CT_TYPE_F32)
CT_MM_FUSED_INSTANTIATE(CT_TYPE_F16)
CT_MM_FUSED_INSTANTIATE(CT_TYPE_BF16)
