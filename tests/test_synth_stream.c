/* gguf_writer_write_tensor_part(), which `ctorch synth` streams its chunks through: a file
 * written in pieces of any size is byte-identical to one written a whole tensor at a time,
 * and misuse (overrun, out of order, mixing with whole writes) is refused with a message. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "quant/blocks.h"
#include "test_util.h"

#define N_TENSORS 3

/* Three F32 tensors of 37, 1000 and 5 elements (sizes that are not multiples of the
 * alignment, so the padding between pieces' tensors is exercised), random contents. */
static float data[N_TENSORS][1000];
static const uint64_t lens[N_TENSORS] = {37, 1000, 5};

static gguf_writer *make_writer(void) {
    gguf_writer *w;
    if (gguf_writer_create(&w) != CT_OK) return NULL;
    CHECK_OK(gguf_writer_set_str(w, "general.architecture", "test"));
    char name[32];
    for (int i = 0; i < N_TENSORS; i++) {
        snprintf(name, sizeof name, "t%d.weight", i);
        CHECK_OK(gguf_writer_add_tensor(w, name, CT_TYPE_F32, 1, &lens[i], NULL));
    }
    return w;
}

int main(void) {
    ct_test_rng rng = {0x5eed};
    for (int i = 0; i < N_TENSORS; i++)
        for (int k = 0; k < 1000; k++) data[i][k] = ct_test_rng_uniform(&rng);
    char dir[256], whole[300], parts[300];
    snprintf(dir, sizeof dir, "%s/ctorch-stream-XXXXXX", ct_test_env_or("TMPDIR", "/tmp"));
    if (!mkdtemp(dir)) return 1;
    snprintf(whole, sizeof whole, "%s/whole.gguf", dir);
    snprintf(parts, sizeof parts, "%s/parts.gguf", dir);

    gguf_writer *w = make_writer();
    CHECK_OK(gguf_writer_begin(w, whole));
    for (int i = 0; i < N_TENSORS; i++) CHECK_OK(gguf_writer_write_tensor(w, (uint64_t)i, data[i]));
    CHECK_OK(gguf_writer_finish(w));
    gguf_writer_free(w);

    /* pieces of 7 floats (28 bytes), an empty piece, and the rest */
    w = make_writer();
    CHECK_OK(gguf_writer_begin(w, parts));
    for (int i = 0; i < N_TENSORS; i++) {
        uint64_t done = 0, total = lens[i] * 4;
        CHECK_OK(gguf_writer_write_tensor_part(w, (uint64_t)i, (const char *)data[i], 0));
        while (done < total) {
            uint64_t piece = total - done < 28 ? total - done : 28;
            CHECK_OK(gguf_writer_write_tensor_part(w, (uint64_t)i, (const char *)data[i] + done, piece));
            done += piece;
        }
    }
    CHECK_OK(gguf_writer_finish(w));
    gguf_writer_free(w);

    size_t na, nb;
    unsigned char *a = ct_test_read_file(whole, &na), *b = ct_test_read_file(parts, &nb);
    CHECK_MSG(a && b && na == nb && memcmp(a, b, na) == 0, "pieces give a different file (%zu vs %zu bytes)", na, nb);
    free(a);
    free(b);
    gguf_file *f;
    CHECK_OK(gguf_open(parts, &f));
    if (f) {
        const gguf_tensor_info *t = gguf_find_tensor(f, "t1.weight");
        CHECK(t && t->nbytes == 4000 && memcmp(t->data, data[1], 4000) == 0);
        gguf_close(f);
    }

    /* misuse */
    w = make_writer();
    CHECK(gguf_writer_write_tensor_part(w, 0, data[0], 4) == CT_ERR_INVALID_ARGUMENT); /* not begun */
    CHECK_OK(gguf_writer_begin(w, parts));
    CHECK(gguf_writer_write_tensor_part(w, 1, data[1], 4) == CT_ERR_INVALID_ARGUMENT); /* out of order */
    CHECK(strstr(ct_last_error(), "t0.weight") != NULL);
    CHECK_OK(gguf_writer_write_tensor_part(w, 0, data[0], 100));
    CHECK(gguf_writer_write_tensor_part(w, 0, data[0], 100) == CT_ERR_INVALID_ARGUMENT); /* 200 > 148 */
    CHECK(strstr(ct_last_error(), "overruns") != NULL);
    CHECK(gguf_writer_write_tensor_part(w, 0, NULL, 4) == CT_ERR_INVALID_ARGUMENT);
    CHECK(gguf_writer_write_tensor(w, 0, data[0]) != CT_OK); /* a whole write in the middle of pieces */
    CHECK(gguf_writer_finish(w) != CT_OK);                    /* incomplete: refused, file closed */
    gguf_writer_free(w);

    remove(whole);
    remove(parts);
    rmdir(dir);
    return ct_test_finish("test_synth_stream");
}
