/* The general.* and <arch>.* metadata of a synthetic model: the keys llama.cpp's converter
 * writes for each architecture. */
#ifndef CT_SYNTH_METADATA_H
#define CT_SYNTH_METADATA_H

#include "core/status.h"
#include "gguf/gguf.h"
#include "synth/hparams.h"
#include "synth/type_mix.h"

/* general.architecture, general.type, general.name, the architecture's hyper-parameters and
 * general.file_type. */
ct_status synth_write_model_metadata(gguf_writer *w, const synth_hparams *hp, const synth_ftype *ft);

/* general.quantization_version (written last, as llama.cpp's quantizer does). */
ct_status synth_write_quantization_version(gguf_writer *w);

#endif
