#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CT_ERROR_CAPACITY 1024

static _Thread_local char ct_error_message[CT_ERROR_CAPACITY];

const char *ct_status_name(ct_status status) {
    switch (status) {
    case CT_OK: return "ok";
    case CT_ERR_INVALID_ARGUMENT: return "invalid argument";
    case CT_ERR_IO: return "I/O error";
    case CT_ERR_FORMAT: return "format error";
    case CT_ERR_UNSUPPORTED: return "unsupported";
    case CT_ERR_OUT_OF_MEMORY: return "out of memory";
    case CT_ERR_NOT_FOUND: return "not found";
    case CT_ERR_RANGE: return "out of range";
    case CT_ERR_DEVICE: return "device error";
    case CT_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *ct_last_error(void) { return ct_error_message; }

const char *ct_version(void) { return "0.1.0"; }

void ct_clear_error(void) { ct_error_message[0] = '\0'; }

ct_status ct_fail(ct_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ct_error_message, sizeof ct_error_message, fmt, ap);
    va_end(ap);
    return status;
}

ct_status ct_fail_context(ct_status status, const char *fmt, ...) {
    char old[CT_ERROR_CAPACITY];
    memcpy(old, ct_error_message, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ct_error_message, sizeof ct_error_message, fmt, ap);
    va_end(ap);
    if (n < 0 || old[0] == '\0') return status;
    /* append ": <old>" by hand, truncating silently (snprintf here trips -Wformat-truncation) */
    size_t used = strlen(ct_error_message);
    const char *parts[2] = {": ", old};
    for (int i = 0; i < 2; i++) {
        size_t len = strlen(parts[i]), room = sizeof ct_error_message - 1 - used;
        if (len > room) len = room;
        memcpy(ct_error_message + used, parts[i], len);
        used += len;
    }
    ct_error_message[used] = '\0';
    return status;
}
