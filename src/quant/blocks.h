/* Quantized block layouts, byte-for-byte those of GGUF/ggml. One header for every backend:
 * it is plain C and also compiles as CUDA C++. Half-precision fields are raw IEEE binary16
 * bits (uint16_t) so the header needs no half type. */
#ifndef CT_QUANT_BLOCKS_H
#define CT_QUANT_BLOCKS_H

#include <stdint.h>

#ifdef __cplusplus
#define CT_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define CT_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* Tensor element types, with ggml's numeric ids (as stored in GGUF tensor infos). */
typedef enum ct_type {
    CT_TYPE_F32 = 0,
    CT_TYPE_F16 = 1,
    CT_TYPE_Q4_0 = 2,
    CT_TYPE_Q4_1 = 3,
    CT_TYPE_Q5_0 = 6,
    CT_TYPE_Q5_1 = 7,
    CT_TYPE_Q8_0 = 8,
    CT_TYPE_Q8_1 = 9,
    CT_TYPE_Q2_K = 10,
    CT_TYPE_Q3_K = 11,
    CT_TYPE_Q4_K = 12,
    CT_TYPE_Q5_K = 13,
    CT_TYPE_Q6_K = 14,
    CT_TYPE_Q8_K = 15,
    CT_TYPE_BF16 = 30,
    CT_TYPE_COUNT_ = 40 /* upper bound of ids, for tables */
} ct_type;

/* ---- 32-element blocks ----------------------------------------------------- */
#define QK4_0 32
typedef struct { uint16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;                 /* x = d*(q-8) */
CT_STATIC_ASSERT(sizeof(block_q4_0) == 2 + QK4_0 / 2, "block_q4_0 size");

#define QK4_1 32
typedef struct { uint16_t d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;              /* x = d*q + m */
CT_STATIC_ASSERT(sizeof(block_q4_1) == 4 + QK4_1 / 2, "block_q4_1 size");

#define QK5_0 32
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;   /* x = d*(q-16) */
CT_STATIC_ASSERT(sizeof(block_q5_0) == 2 + 4 + QK5_0 / 2, "block_q5_0 size");

#define QK5_1 32
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1; /* x = d*q + m */
CT_STATIC_ASSERT(sizeof(block_q5_1) == 4 + 4 + QK5_1 / 2, "block_q5_1 size");

#define QK8_0 32
typedef struct { uint16_t d; int8_t qs[QK8_0]; } block_q8_0;                       /* x = d*q */
CT_STATIC_ASSERT(sizeof(block_q8_0) == 2 + QK8_0, "block_q8_0 size");

#define QK8_1 32
typedef struct { uint16_t d, s; int8_t qs[QK8_1]; } block_q8_1;                   /* s = d*sum(q) */
CT_STATIC_ASSERT(sizeof(block_q8_1) == 4 + QK8_1, "block_q8_1 size");

/* ---- 256-element super-blocks (k-quants) ---------------------------------------- */
#define QK_K 256
#define K_SCALE_SIZE 12

/* 16 sub-blocks of 16; 4-bit scale and 4-bit min per sub-block. x = d*sc*q - dmin*m */
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d, dmin; } block_q2_K;
CT_STATIC_ASSERT(sizeof(block_q2_K) == 2 * 2 + QK_K / 16 + QK_K / 4, "block_q2_K size");

/* 16 sub-blocks of 16; 6-bit scales; 2 low bits in qs, high bit in hmask. x = d*(sc-32)*(q-4*!h) */
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; uint16_t d; } block_q3_K;
CT_STATIC_ASSERT(sizeof(block_q3_K) == 2 + QK_K / 4 + QK_K / 8 + 12, "block_q3_K size");

/* 8 sub-blocks of 32; 6-bit scales and mins packed in 12 bytes. x = d*sc*q - dmin*m */
typedef struct { uint16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K;
CT_STATIC_ASSERT(sizeof(block_q4_K) == 2 * 2 + K_SCALE_SIZE + QK_K / 2, "block_q4_K size");

typedef struct { uint16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;
CT_STATIC_ASSERT(sizeof(block_q5_K) == 2 * 2 + K_SCALE_SIZE + QK_K / 2 + QK_K / 8, "block_q5_K size");

/* 16 sub-blocks of 16; 8-bit signed scales. x = d*sc*(q-32) */
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; } block_q6_K;
CT_STATIC_ASSERT(sizeof(block_q6_K) == 2 + QK_K / 16 + 3 * QK_K / 4, "block_q6_K size");

/* Activation format for k-quant dot products: float scale, bsums = sums of 16 quants. */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;
CT_STATIC_ASSERT(sizeof(block_q8_K) == 4 + QK_K + QK_K / 16 * 2, "block_q8_K size");

#endif
