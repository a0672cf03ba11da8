/* Fused dequantize+MMA matmul (dequant_mma.cuh), instantiated for the k-quant types. */
#include "backend/cuda/dequant_mma.cuh"

CT_MM_FUSED_INSTANTIATE(CT_TYPE_Q2_K)
CT_MM_FUSED_INSTANTIATE(CT_TYPE_Q3_K)
CT_MM_FUSED_INSTANTIATE(CT_TYPE_Q4_K)
CT_MM_FUSED_INSTANTIATE(CT_TYPE_Q5_K)
CT_MM_FUSED_INSTANTIATE(CT_TYPE_Q6_K)
