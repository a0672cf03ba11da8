#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

static ct_log_level current_level = CT_LOG_INFO;

void ct_log_set_level(ct_log_level level) { current_level = level; }
ct_log_level ct_log_get_level(void) { return current_level; }

void ct_log(ct_log_level level, const char *fmt, ...) {
    if (level > current_level) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
