/* `ctorch inspect`: a GGUF file's summary, metadata and tensor table, as one JSON object (the
 * single source for both outputs) and as aligned text rendered from it. */
#ifndef CT_CLI_INSPECT_H
#define CT_CLI_INSPECT_H

#include <jansson.h>
#include <stdio.h>

#include "gguf/gguf.h"

/* Number of leading elements shown for an array value. */
#define INSPECT_ARRAY_HEAD 4

/* The summary object (fields documented in tests/scripts/gen_inspect_golden.py, which
 * computes the same object with the PyPI gguf reader). NULL when out of memory. */
json_t *inspect_summary_json(const gguf_file *file);

/* Human-readable rendering of that object. */
void inspect_print_text(FILE *out, const json_t *summary);

/* llama.cpp's llama_ftype name of general.file_type ("MOSTLY_Q4_K_M"), NULL if unknown. */
const char *inspect_file_type_name(int64_t file_type);

#endif
