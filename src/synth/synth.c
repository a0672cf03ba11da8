/* Writing a synthetic model: metadata and vocabulary, then the tensor data generated in
 * fixed-size chunks by a pool of threads and streamed to the file in order.
 *
 * Pipeline: the data is cut into units (a run of rows of one tensor, about CHUNK_BYTES), in
 * file order. Workers claim units in order and fill the slot unit % n_slots once the writer
 * has consumed what was there; the writer (the calling thread) takes the units in order and
 * appends them to the file. A unit's bytes depend only on (seed, tensor name, chunk index),
 * so the file does not depend on the number of threads, and memory is n_slots chunks. */
#define _POSIX_C_SOURCE 200809L
#include "synth/synth.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "gguf/gguf.h"
#include "quant/types.h"
#include "synth/metadata.h"
#include "synth/tensors.h"
#include "synth/vocab.h"
#include "synth/weights.h"

#define CHUNK_BYTES (1u << 20)

typedef struct unit {
    uint32_t tensor;
    uint64_t chunk;   /* index within the tensor */
    uint64_t n_elems; /* whole rows */
    uint64_t nbytes;
} unit;

typedef struct pipeline {
    const synth_tensor *tensors;
    const ct_type *types;
    uint64_t seed;
    unit *units;
    uint64_t n_units;
    int n_slots;
    uint8_t **slots;
    uint64_t *slot_unit; /* which unit a ready slot holds */
    bool *slot_ready;

    pthread_mutex_t mutex;
    pthread_cond_t ready; /* a slot was filled (or stop) */
    pthread_cond_t freed; /* a slot was consumed (or stop) */
    uint64_t next_claim;
    uint64_t consumed;
    bool stop;
    ct_status error;
    char message[512]; /* a worker's failure message (messages are thread-local) */
} pipeline;

/* ---- units -------------------------------------------------------------------------- */

static ct_status plan_units(pipeline *p, size_t n_tensors, size_t *slot_bytes, uint64_t *data_bytes) {
    uint64_t n_units = 0, max_unit = 0, total = 0;
    for (int pass = 0; pass < 2; pass++) {
        uint64_t k = 0;
        for (size_t i = 0; i < n_tensors; i++) {
            const synth_tensor *t = &p->tensors[i];
            uint64_t row_bytes;
            CT_TRY(ct_type_row_bytes(p->types[i], t->ne[0], &row_bytes));
            uint64_t rows_per_unit = row_bytes >= CHUNK_BYTES ? 1 : CHUNK_BYTES / row_bytes;
            for (uint64_t row = 0, chunk = 0; row < t->ne[1]; row += rows_per_unit, chunk++, k++) {
                uint64_t rows = t->ne[1] - row < rows_per_unit ? t->ne[1] - row : rows_per_unit;
                if (pass == 1)
                    p->units[k] = (unit){.tensor = (uint32_t)i, .chunk = chunk, .n_elems = rows * t->ne[0],
                                         .nbytes = rows * row_bytes};
                if (pass == 0 && rows * row_bytes > max_unit) max_unit = rows * row_bytes;
            }
            if (pass == 0) total += row_bytes * t->ne[1];
        }
        if (pass == 0) {
            n_units = k;
            p->units = ct_alloc_array((size_t)n_units, sizeof *p->units, "synth work units");
            if (!p->units) return CT_ERR_OUT_OF_MEMORY;
        }
    }
    p->n_units = n_units;
    *slot_bytes = (size_t)max_unit;
    *data_bytes = total;
    return CT_OK;
}

/* ---- workers and writer ------------------------------------------------------------- */

static void fail_locked(pipeline *p, ct_status st, const char *message) {
    if (!p->stop) {
        p->error = st;
        snprintf(p->message, sizeof p->message, "%s", message);
    }
    p->stop = true;
    pthread_cond_broadcast(&p->ready);
    pthread_cond_broadcast(&p->freed);
}

static void *worker_main(void *arg) {
    pipeline *p = arg;
    pthread_mutex_lock(&p->mutex);
    while (!p->stop && p->next_claim < p->n_units) {
        uint64_t u = p->next_claim++;
        while (!p->stop && u >= p->consumed + (uint64_t)p->n_slots) pthread_cond_wait(&p->freed, &p->mutex);
        if (p->stop) break;
        pthread_mutex_unlock(&p->mutex);

        const unit *un = &p->units[u];
        const synth_tensor *t = &p->tensors[un->tensor];
        int slot = (int)(u % (uint64_t)p->n_slots);
        ct_status st = synth_fill(p->types[un->tensor], t->role, un->n_elems,
                                  synth_chunk_key(p->seed, t->name, un->chunk), p->slots[slot]);

        pthread_mutex_lock(&p->mutex);
        if (st != CT_OK) {
            fail_locked(p, st, ct_last_error());
            break;
        }
        p->slot_unit[slot] = u;
        p->slot_ready[slot] = true;
        pthread_cond_broadcast(&p->ready);
    }
    pthread_mutex_unlock(&p->mutex);
    return NULL;
}

/* The writer's side: append the units in order. A failure (here or in a worker) sets p->stop
 * with the message; the caller reports it. */
static void write_units(pipeline *p, gguf_writer *w) {
    for (uint64_t u = 0; u < p->n_units; u++) {
        int slot = (int)(u % (uint64_t)p->n_slots);
        pthread_mutex_lock(&p->mutex);
        while (!p->stop && !(p->slot_ready[slot] && p->slot_unit[slot] == u)) pthread_cond_wait(&p->ready, &p->mutex);
        bool stopped = p->stop;
        pthread_mutex_unlock(&p->mutex);
        if (stopped) return;

        const unit *un = &p->units[u];
        ct_status st = gguf_writer_write_tensor_part(w, un->tensor, p->slots[slot], un->nbytes);

        pthread_mutex_lock(&p->mutex);
        if (st != CT_OK) {
            fail_locked(p, st, ct_last_error());
        } else {
            p->slot_ready[slot] = false;
            p->consumed++;
            pthread_cond_broadcast(&p->freed);
        }
        pthread_mutex_unlock(&p->mutex);
        if (st != CT_OK) return;
    }
}

static ct_status run_pipeline(pipeline *p, gguf_writer *w, int n_threads, size_t slot_bytes) {
    p->n_slots = 2 * n_threads + 2;
    p->slots = ct_calloc_array((size_t)p->n_slots, sizeof *p->slots, "synth buffers");
    p->slot_unit = ct_calloc_array((size_t)p->n_slots, sizeof *p->slot_unit, "synth buffers");
    p->slot_ready = ct_calloc_array((size_t)p->n_slots, sizeof *p->slot_ready, "synth buffers");
    pthread_t *threads = ct_calloc_array((size_t)n_threads, sizeof *threads, "synth threads");
    ct_status st = p->slots && p->slot_unit && p->slot_ready && threads ? CT_OK : CT_ERR_OUT_OF_MEMORY;
    for (int i = 0; st == CT_OK && i < p->n_slots; i++) {
        p->slots[i] = ct_alloc_aligned(slot_bytes ? slot_bytes : 1, "synth chunk buffer");
        if (!p->slots[i]) st = CT_ERR_OUT_OF_MEMORY;
    }
    int started = 0;
    if (st == CT_OK) {
        pthread_mutex_init(&p->mutex, NULL);
        pthread_cond_init(&p->ready, NULL);
        pthread_cond_init(&p->freed, NULL);
        for (; started < n_threads; started++)
            if (pthread_create(&threads[started], NULL, worker_main, p) != 0) break;
        if (started == 0) {
            st = ct_fail(CT_ERR_INTERNAL, "synth: cannot start a generator thread");
        } else {
            write_units(p, w);
            pthread_mutex_lock(&p->mutex);
            if (p->stop) st = ct_fail(p->error, "%s", p->message);
            p->stop = true; /* release workers that wait for a slot after an early exit */
            pthread_cond_broadcast(&p->freed);
            pthread_mutex_unlock(&p->mutex);
        }
        for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
        pthread_cond_destroy(&p->freed);
        pthread_cond_destroy(&p->ready);
        pthread_mutex_destroy(&p->mutex);
    }
    for (int i = 0; p->slots && i < p->n_slots; i++) ct_free_aligned(p->slots[i]);
    free(p->slots);
    free(p->slot_unit);
    free(p->slot_ready);
    free(threads);
    return st;
}

/* ---- the file ----------------------------------------------------------------------- */

static int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 256 ? 256 : n) : 1;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct job {
    const synth_options *opt;
    synth_hparams hp;
    gguf_file *vocab;
    synth_tensor *tensors;
    size_t n_tensors;
    ct_type *types;
    gguf_writer *w;
} job;

static ct_status check_generatable(const job *j) {
    for (size_t i = 0; i < j->n_tensors; i++) {
        switch (j->types[i]) {
        case CT_TYPE_F32: case CT_TYPE_F16: case CT_TYPE_BF16: case CT_TYPE_Q4_0: case CT_TYPE_Q4_1:
        case CT_TYPE_Q5_0: case CT_TYPE_Q5_1: case CT_TYPE_Q8_0: case CT_TYPE_Q4_K: case CT_TYPE_Q5_K:
        case CT_TYPE_Q6_K:
            break;
        default:
            return ct_fail(CT_ERR_UNSUPPORTED, "synth: tensor '%s' would be %s, which synth cannot generate",
                           j->tensors[i].name, ct_type_name(j->types[i]));
        }
    }
    return CT_OK;
}

static ct_status build_header(job *j) {
    const synth_options *opt = j->opt;
    if (opt->vocab_path) {
        CT_TRY(gguf_open(opt->vocab_path, &j->vocab));
        CT_TRY(synth_vocab_size(j->vocab, &j->hp.n_vocab));
    }
    CT_TRY(synth_hparams_validate(&j->hp));
    CT_TRY(synth_tensor_list(&j->hp, &j->tensors, &j->n_tensors));
    j->types = ct_alloc_array(j->n_tensors, sizeof *j->types, "synth tensor types");
    if (!j->types) return CT_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < j->n_tensors; i++) j->types[i] = synth_tensor_type(opt->ftype, &j->hp, &j->tensors[i]);
    CT_TRY(check_generatable(j));

    CT_TRY(gguf_writer_create(&j->w));
    CT_TRY(synth_write_model_metadata(j->w, &j->hp, opt->ftype));
    if (j->vocab)
        CT_TRY(synth_vocab_copy(j->w, j->vocab));
    else
        CT_TRY(synth_vocab_generate(j->w, j->hp.n_vocab));
    CT_TRY(synth_write_quantization_version(j->w));
    for (size_t i = 0; i < j->n_tensors; i++) {
        const synth_tensor *t = &j->tensors[i];
        CT_TRY(gguf_writer_add_tensor(j->w, t->name, j->types[i], t->n_dims, t->ne, NULL));
    }
    return CT_OK;
}

static ct_status write_body(job *j, synth_report *rep) {
    const synth_options *opt = j->opt;
    int n_threads = opt->n_threads > 0 ? opt->n_threads : default_threads();
    pipeline p = {.tensors = j->tensors, .types = j->types, .seed = opt->seed};
    size_t slot_bytes = 0;
    uint64_t data_bytes = 0;
    ct_status st = plan_units(&p, j->n_tensors, &slot_bytes, &data_bytes);
    if (st == CT_OK) st = gguf_writer_begin(j->w, opt->out_path);
    if (st == CT_OK) {
        st = run_pipeline(&p, j->w, n_threads, slot_bytes);
        if (st == CT_OK) st = gguf_writer_finish(j->w);
        if (st != CT_OK) {
            char message[1024];
            snprintf(message, sizeof message, "%s", ct_last_error());
            gguf_writer_finish(j->w); /* closes the stream; its own complaint is not the news */
            struct stat sb; /* never remove a device such as /dev/full */
            if (stat(opt->out_path, &sb) == 0 && S_ISREG(sb.st_mode) && remove(opt->out_path) == 0)
                st = ct_fail(st, "%s (partial %s removed)", message, opt->out_path);
            else
                st = ct_fail(st, "%s", message);
        }
    }
    free(p.units);
    if (st == CT_OK) {
        rep->n_threads = n_threads;
        rep->data_bytes = data_bytes;
    }
    return st;
}

ct_status synth_write(const synth_options *opt, synth_report *report) {
    if (!opt || !opt->ftype || !opt->out_path)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "synth_write: options, type and output path are required");
    double t0 = now_seconds();
    job j = {.opt = opt, .hp = opt->hp};
    synth_report rep = {0};
    ct_status st = build_header(&j);
    if (j.vocab) {
        gguf_close(j.vocab);
        j.vocab = NULL;
    }
    if (st == CT_OK) st = write_body(&j, &rep);
    if (st == CT_OK) {
        rep.n_tensors = j.n_tensors;
        for (size_t i = 0; i < j.n_tensors; i++) rep.n_params += j.tensors[i].ne[0] * j.tensors[i].ne[1];
        rep.n_vocab = j.hp.n_vocab;
        rep.seconds = now_seconds() - t0;
        if (report) *report = rep;
    }
    gguf_writer_free(j.w);
    free(j.types);
    free(j.tensors);
    return st;
}
