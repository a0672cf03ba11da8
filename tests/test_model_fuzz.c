/* Hostile model files: a tiny valid model with seeded random corruptions (bytes flipped,
 * integers in the header set to extreme values, the file cut short) must load with an error
 * message or load and run; never crash, hang or leak (the ASan build checks). Models that
 * load run a short prompt; their logits may be anything (a flipped scale can be inf) but
 * decoding must return a status. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "ctorch.h"
#include "test_util.h"

#define N_CASES 300

int main(void) {
    ct_log_set_level(CT_LOG_QUIET);
    const char *src = CT_SOURCE_DIR "/tests/golden/layers/qwen2_q4_0.gguf";
    size_t n;
    unsigned char *orig = ct_test_read_file(src, &n);
    CHECK_MSG(orig != NULL, "cannot read %s", src);
    if (!orig) return ct_test_finish("test_model_fuzz");
    char path[] = "/tmp/ctorch_fuzz_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return ct_test_finish("test_model_fuzz");
    close(fd);

    unsigned char *buf = malloc(n);
    ct_test_rng rng = {12345};
    int loaded = 0, failed_with_message = 0, failures_without_message = 0;
    /* the metadata and tensor infos sit in the first ~1.5 KB: aim most corruptions there */
    size_t header = n < 1536 ? n : 1536;
    for (int c = 0; c < N_CASES; c++) {
        memcpy(buf, orig, n);
        size_t len = n;
        int kind = c % 4;
        if (kind == 0) { /* flip a few bytes in the header */
            for (int k = 0; k < 3; k++) buf[ct_test_rng_next(&rng) % header] ^= (unsigned char)(1 + ct_test_rng_next(&rng) % 255);
        } else if (kind == 1) { /* an extreme 32-bit value somewhere in the header */
            static const uint32_t extremes[] = {0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 65536, 3};
            uint32_t v = extremes[ct_test_rng_next(&rng) % 7];
            size_t at = ct_test_rng_next(&rng) % (header - 4);
            memcpy(buf + at, &v, 4);
        } else if (kind == 2) { /* cut short */
            len = ct_test_rng_next(&rng) % n;
        } else { /* flip bytes anywhere, tensor data included */
            for (int k = 0; k < 8; k++) buf[ct_test_rng_next(&rng) % n] ^= (unsigned char)(1 + ct_test_rng_next(&rng) % 255);
        }
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, len, f) != len) {
            CHECK(!"could not write the fuzz file");
            if (f) fclose(f);
            break;
        }
        fclose(f);

        ct_model_params mp = ct_model_params_default();
        mp.n_threads = 2;
        ct_model *m = NULL;
        ct_status st = ct_model_load(path, &mp, &m);
        if (st != CT_OK) {
            if (m != NULL || ct_last_error()[0] == '\0') failures_without_message++;
            else failed_with_message++;
            continue;
        }
        loaded++;
        ct_context_params cp = ct_context_params_default();
        cp.n_ctx = 16;
        ct_context *ctx = NULL;
        if (ct_context_create(m, &cp, &ctx) == CT_OK) {
            ct_model_info info;
            ct_model_get_info(m, &info);
            ct_token toks[4];
            for (int i = 0; i < 4; i++) toks[i] = (ct_token)((unsigned)(i * 7 + c) % (unsigned)info.n_vocab);
            const float *logits = NULL;
            ct_status ds = ct_eval(ctx, 0, toks, 4, &logits);
            CHECK(ds == CT_OK ? logits != NULL : logits == NULL);
            ct_context_free(ctx);
        }
        ct_model_free(m);
    }
    unlink(path);
    printf("%d corrupted files: %d loaded and ran, %d refused with a message\n", N_CASES, loaded, failed_with_message);
    CHECK_MSG(failures_without_message == 0, "%d failures without a message", failures_without_message);
    CHECK(loaded + failed_with_message == N_CASES);
    CHECK(failed_with_message > N_CASES / 4); /* the corruptions do reach the checks */
    free(buf);
    free(orig);
    return ct_test_finish("test_model_fuzz");
}
