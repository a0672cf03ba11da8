/* `ctorch synth`: write a GGUF of a real model shape with seeded random weights. */
#ifndef CT_SYNTH_SYNTH_H
#define CT_SYNTH_SYNTH_H

#include <stdint.h>

#include "core/status.h"
#include "synth/hparams.h"
#include "synth/type_mix.h"

typedef struct synth_options {
    synth_hparams hp;         /* shape; n_vocab is replaced by the vocabulary file's size */
    const synth_ftype *ftype; /* tensor types */
    const char *vocab_path;   /* copy tokenizer.* from this GGUF; NULL: generate a vocabulary */
    uint64_t seed;
    int n_threads;            /* generator threads; <= 0: one per core */
    const char *out_path;
} synth_options;

typedef struct synth_report {
    uint64_t n_tensors;
    uint64_t n_params;
    uint64_t data_bytes; /* tensor data, without padding */
    uint32_t n_vocab;
    int n_threads;
    double seconds;
} synth_report;

/* Write the model. The data of each tensor is fixed by (seed, tensor name): the same options
 * give the same bytes whatever n_threads is. Memory stays bounded (a few MiB per thread): the
 * tensors are generated in chunks and streamed to the file in order. On failure the partial
 * output file is removed. report may be NULL. */
ct_status synth_write(const synth_options *opt, synth_report *report);

#endif
