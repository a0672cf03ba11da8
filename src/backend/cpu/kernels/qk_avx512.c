/* AVX-512 F/BW/VL level: the shared AVX-512 kernels with vpmaddubsw + vpmaddwd products. */
#include "backend/cpu/kernels/qk_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define QK_VNNI 0
#define QK_TARGET_STR "avx2,fma,f16c,avx512f,avx512bw,avx512vl"
#define QK_LEVEL CT_CPU_AVX512
#include "backend/cpu/kernels/qk_avx512_body.h"

void ct_qk_fill_avx512(ct_qkernels *k) { fill_common(k); }
#endif
