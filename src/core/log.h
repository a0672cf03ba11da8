/* Diagnostics to stderr. Stdout belongs to generated text and machine output. */
#ifndef CT_CORE_LOG_H
#define CT_CORE_LOG_H

#include "core/status.h"

typedef enum { CT_LOG_QUIET = 0, CT_LOG_ERROR, CT_LOG_INFO, CT_LOG_DEBUG } ct_log_level;

void ct_log_set_level(ct_log_level level);
ct_log_level ct_log_get_level(void);
void ct_log(ct_log_level level, const char *fmt, ...) CT_PRINTF(2, 3);

#define ct_log_info(...) ct_log(CT_LOG_INFO, __VA_ARGS__)
#define ct_log_debug(...) ct_log(CT_LOG_DEBUG, __VA_ARGS__)

#endif
