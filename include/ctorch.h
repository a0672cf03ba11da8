/* ctorch — fast LLM inference in C. The public C API.
 *
 * Every fallible function returns a ct_status; on failure, ct_last_error() returns a
 * thread-local message naming what went wrong and where (file, tensor, field, offset). */
#ifndef CTORCH_H
#define CTORCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ct_status {
    CT_OK = 0,
    CT_ERR_INVALID_ARGUMENT, /* a flag, parameter or request field is wrong */
    CT_ERR_IO,               /* a file could not be opened, read, mapped or written */
    CT_ERR_FORMAT,           /* a file is malformed: truncated, corrupted, hostile */
    CT_ERR_UNSUPPORTED,      /* well-formed but not something ctorch handles */
    CT_ERR_OUT_OF_MEMORY,    /* host or device allocation failed */
    CT_ERR_NOT_FOUND,        /* a key, tensor or file that was asked for is absent */
    CT_ERR_RANGE,            /* a value is outside its allowed range (context full, ...) */
    CT_ERR_DEVICE,           /* a GPU error, or no GPU */
    CT_ERR_INTERNAL,         /* a bug in ctorch */
} ct_status;

/* Short constant name of a status, e.g. "format error". */
const char *ct_status_name(ct_status status);

/* The message of the last failure on this thread ("" when none). */
const char *ct_last_error(void);

/* Library version string, e.g. "0.1.0". */
const char *ct_version(void);

#ifdef __cplusplus
}
#endif
#endif /* CTORCH_H */
