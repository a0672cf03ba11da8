/* Level detection, the per-level kernel tables, and the public entry points. */
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>

#include "backend/cpu/kernels/qk_internal.h"
#include "core/status.h"

static const char *const level_names[CT_CPU_LEVEL_COUNT] = {"scalar", "avx2", "avx512", "avx512vnni"};

const char *ct_cpu_level_name(ct_cpu_level level) {
    return (unsigned)level < CT_CPU_LEVEL_COUNT ? level_names[level] : "unknown";
}

ct_status ct_cpu_level_parse(const char *name, ct_cpu_level *out) {
    for (int l = 0; l < CT_CPU_LEVEL_COUNT; l++) {
        if (name && strcasecmp(name, level_names[l]) == 0) {
            *out = (ct_cpu_level)l;
            return CT_OK;
        }
    }
    return ct_fail(CT_ERR_INVALID_ARGUMENT, "unknown CPU level '%s' (expected scalar, avx2, avx512 or avx512vnni)",
                   name ? name : "(null)");
}

static const char *const precision_names[CT_CPU_ACT_PRECISION_COUNT] = {"q16", "q8"};

const char *ct_cpu_act_precision_name(ct_cpu_act_precision p) {
    return (unsigned)p < CT_CPU_ACT_PRECISION_COUNT ? precision_names[p] : "unknown";
}

ct_status ct_cpu_act_precision_parse(const char *name, ct_cpu_act_precision *out) {
    for (int p = 0; p < CT_CPU_ACT_PRECISION_COUNT; p++) {
        if (name && strcasecmp(name, precision_names[p]) == 0) {
            *out = (ct_cpu_act_precision)p;
            return CT_OK;
        }
    }
    return ct_fail(CT_ERR_INVALID_ARGUMENT, "unknown activation precision '%s' (expected q16 or q8)",
                   name ? name : "(null)");
}

#if defined(__x86_64__) && defined(__GNUC__)
#define CT_QK_X86 1
#include <cpuid.h>

/* CPUID.1:ECX bit 29 (clang's __builtin_cpu_supports has no "f16c") */
static bool cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}
#endif

static bool cpu_has_bf16(void) {
#ifdef CT_QK_X86
    return __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

ct_cpu_level ct_cpu_level_best(void) {
#ifdef CT_QK_X86
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c()))
        return CT_CPU_SCALAR;
    if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512vl")))
        return CT_CPU_AVX2;
    if (!__builtin_cpu_supports("avx512vnni")) return CT_CPU_AVX512;
    return CT_CPU_AVX512_VNNI;
#else
    return CT_CPU_SCALAR;
#endif
}

/* Tables are built once for every level the CPU has; a level inherits the entries of the
 * levels below it that it has no kernel of its own for. */
static ct_qkernels tables[CT_CPU_LEVEL_COUNT][CT_CPU_ACT_PRECISION_COUNT];
static ct_cpu_level best_level;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
    best_level = ct_cpu_level_best();
    for (int l = 0; l <= (int)best_level; l++)
        for (int p = 0; p < CT_CPU_ACT_PRECISION_COUNT; p++) {
            ct_qkernels *k = &tables[l][p];
            k->level = (ct_cpu_level)l;
            k->precision = (ct_cpu_act_precision)p;
            ct_qk_fill_scalar(k);
#ifdef CT_QK_X86
            if (l >= CT_CPU_AVX2) ct_qk_fill_avx2(k);
            if (l >= CT_CPU_AVX512) ct_qk_fill_avx512(k);
            if (l >= CT_CPU_AVX512_VNNI) ct_qk_fill_avx512vnni(k, cpu_has_bf16());
#endif
        }
}

ct_status ct_qkernels_for(ct_cpu_level level, ct_cpu_act_precision precision, const ct_qkernels **out) {
    *out = NULL;
    if ((unsigned)level >= CT_CPU_LEVEL_COUNT)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "CPU level %d does not exist", (int)level);
    if ((unsigned)precision >= CT_CPU_ACT_PRECISION_COUNT)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "activation precision %d does not exist", (int)precision);
    pthread_once(&tables_once, build_tables);
    if (level > best_level)
        return ct_fail(CT_ERR_UNSUPPORTED, "this CPU does not support the %s kernels (best level: %s)",
                       ct_cpu_level_name(level), ct_cpu_level_name(best_level));
    *out = &tables[level][precision];
    return CT_OK;
}

ct_status ct_qkernels_for_level(ct_cpu_level level, const ct_qkernels **out) {
    return ct_qkernels_for(level, CT_CPU_ACT_Q16, out);
}

ct_status ct_qkernels_select(const ct_qkernels **out) {
    *out = NULL;
    pthread_once(&tables_once, build_tables);
    ct_cpu_act_precision precision = CT_CPU_ACT_Q16;
    const char *act = getenv("CTORCH_CPU_ACTIVATIONS");
    if (act && *act && ct_cpu_act_precision_parse(act, &precision) != CT_OK)
        return ct_fail_context(CT_ERR_INVALID_ARGUMENT, "environment variable CTORCH_CPU_ACTIVATIONS");
    const char *forced = getenv("CTORCH_CPU_LEVEL");
    if (!forced || !*forced) return ct_qkernels_for(best_level, precision, out);
    ct_cpu_level level = CT_CPU_SCALAR;
    if (ct_cpu_level_parse(forced, &level) != CT_OK)
        return ct_fail_context(CT_ERR_INVALID_ARGUMENT, "environment variable CTORCH_CPU_LEVEL");
    if (ct_qkernels_for(level, precision, out) != CT_OK)
        return ct_fail_context(CT_ERR_UNSUPPORTED, "environment variable CTORCH_CPU_LEVEL=%s", forced);
    return CT_OK;
}

ct_cpu_level ct_qkernels_level(const ct_qkernels *k) { return k->level; }

ct_cpu_act_precision ct_qkernels_precision(const ct_qkernels *k) { return k->precision; }

ct_cpu_level ct_qkernels_type_level(const ct_qkernels *k, uint32_t weight_type) {
    return weight_type < CT_TYPE_COUNT_ && k->matmul[weight_type] ? k->matmul_level[weight_type] : CT_CPU_SCALAR;
}

ct_act_kind ct_qk_act_kind(uint32_t weight_type, ct_cpu_act_precision precision) {
    const bool q16 = precision == CT_CPU_ACT_Q16;
    switch (weight_type) {
    case CT_TYPE_Q4_0:
    case CT_TYPE_Q4_1:
    case CT_TYPE_Q5_0:
    case CT_TYPE_Q5_1:
    case CT_TYPE_Q8_0: return q16 ? CT_ACT_Q16_32 : CT_ACT_Q8_32;
    case CT_TYPE_Q2_K:
    case CT_TYPE_Q3_K:
    case CT_TYPE_Q4_K:
    case CT_TYPE_Q5_K:
    case CT_TYPE_Q6_K: return q16 ? CT_ACT_Q16_256 : CT_ACT_Q8_256;
    case CT_TYPE_F32:
    case CT_TYPE_F16: return CT_ACT_F32;
    case CT_TYPE_BF16: return q16 ? CT_ACT_F32 : CT_ACT_BF16;
    default: return CT_ACT_NONE;
    }
}

bool ct_cpu_act_shared(const ct_qkernels *k, uint32_t type_a, uint32_t type_b) {
    const ct_act_kind a = ct_qk_act_kind(type_a, k->precision);
    return a != CT_ACT_NONE && a == ct_qk_act_kind(type_b, k->precision);
}

bool ct_cpu_qmatmul_supports(uint32_t weight_type) { return ct_qk_act_kind(weight_type, CT_CPU_ACT_Q8) != CT_ACT_NONE; }

static size_t round_up_64(size_t v) { return (v + 63) & ~(size_t)63; }

/* bytes of a row's data in each format (before the padding to 64) */
static size_t act_used_bytes(ct_act_kind kind, size_t n) {
    switch (kind) {
    case CT_ACT_Q8_32:
    case CT_ACT_Q16_32: return n % 32 ? 0 : 2 * n + 8 * (n / 32);
    case CT_ACT_Q8_256:
    case CT_ACT_Q16_256: return n % 256 ? 0 : 2 * n + 4 * (n / 256) + 4 * (n / 16);
    case CT_ACT_F32: return 4 * n;
    case CT_ACT_BF16: return 2 * n;
    default: return 0;
    }
}

/* the larger of the two precisions' formats, so one stride serves both */
size_t ct_cpu_act_row_bytes(uint32_t weight_type, int64_t n) {
    if (n <= 0) return 0;
    const size_t a = act_used_bytes(ct_qk_act_kind(weight_type, CT_CPU_ACT_Q8), (size_t)n);
    const size_t b = act_used_bytes(ct_qk_act_kind(weight_type, CT_CPU_ACT_Q16), (size_t)n);
    return a && b ? round_up_64(a > b ? a : b) : 0;
}

void ct_cpu_quantize_activations(const ct_qkernels *k, uint32_t weight_type, const float *x, int64_t n, void *dst) {
    const ct_act_kind kind = ct_qk_act_kind(weight_type, k->precision);
    const size_t bytes = ct_cpu_act_row_bytes(weight_type, n);
    if (!bytes) return; /* the caller checked ct_cpu_qmatmul_supports and the block size */
    k->quantize[kind](x, n, dst);
    /* zero the padding so rows are fully defined bytes */
    const size_t used = act_used_bytes(kind, (size_t)n);
    memset((uint8_t *)dst + used, 0, bytes - used);
}

/* Matrix-matrix kernels take every token over each tile of weight rows, so a call's
 * activation rows are read once per tile of rows: they must stay in the core's L2 (1 MiB on
 * the development VM), or every tile re-reads them from L3 (Q16 rows of ffn_down, 5632
 * values, are ~12.8 KB: 128 tokens were 1.6 MB and ran at half speed). Longer calls go in
 * blocks of tokens of at most this many activation bytes, each block re-reading the
 * weights (from cache or memory: ~1 byte per 2 x 128 multiply-adds). */
#define CT_QK_TOKEN_BLOCK_BYTES ((size_t)1 << 20)

static void qmatmul(const ct_qkernels *k, const ct_tensor *w, const void *act, int64_t n_tokens, float *out,
                    size_t out_stride, int64_t r0, int64_t r1, bool invariant) {
    if (r0 >= r1 || n_tokens <= 0) return;
    const size_t act_bytes = ct_cpu_act_row_bytes(w->type, w->ne0);
    /* bytes a kernel reads of each row: the Q8 formats leave the ql half of the stride unread */
    const ct_act_kind kind = ct_qk_act_kind(w->type, k->precision);
    const size_t touched = kind == CT_ACT_Q8_32 || kind == CT_ACT_Q8_256 ? act_bytes / 2 : act_bytes;
    int64_t block = (int64_t)(CT_QK_TOKEN_BLOCK_BYTES / touched);
    if (block < 4) block = 4;
    if (n_tokens > block) { /* balanced blocks, multiples of the 4-token tile */
        const int64_t n_blocks = (n_tokens + block - 1) / block;
        block = ((n_tokens + n_blocks - 1) / n_blocks + 3) & ~(int64_t)3;
    }
    if (n_tokens <= block) {
        k->matmul[w->type](w->data, w->row_bytes, w->ne0, act, act_bytes, n_tokens, out, out_stride, r0, r1, invariant);
        return;
    }
    /* more than 4 tokens: the whole call would take the matrix-matrix tiles, so a block of
     * fewer than 4 must too (invariant), whatever its size */
    for (int64_t t0 = 0; t0 < n_tokens; t0 += block) {
        const int64_t nb = n_tokens - t0 < block ? n_tokens - t0 : block;
        k->matmul[w->type](w->data, w->row_bytes, w->ne0, (const uint8_t *)act + (size_t)t0 * act_bytes, act_bytes, nb,
                           out + (size_t)t0 * out_stride, out_stride, r0, r1, invariant || nb < 4);
    }
}

void ct_cpu_qmatmul(const ct_qkernels *k, const ct_tensor *w, const void *act, int64_t n_tokens, float *out,
                    size_t out_stride, int64_t r0, int64_t r1) {
    qmatmul(k, w, act, n_tokens, out, out_stride, r0, r1, false);
}

void ct_cpu_qmatmul_invariant(const ct_qkernels *k, const ct_tensor *w, const void *act, int64_t n_tokens,
                              float *out, size_t out_stride, int64_t r0, int64_t r1) {
    qmatmul(k, w, act, n_tokens, out, out_stride, r0, r1, true);
}
