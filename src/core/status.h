/* Errors are values: functions return ct_status and leave a thread-local message. */
#ifndef CT_CORE_STATUS_H
#define CT_CORE_STATUS_H

#include "ctorch.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CT_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define CT_PRINTF(fmt_idx, arg_idx)
#endif

/* Record a failure: sets the thread-local message from fmt and returns status,
 * so a call site reads `return ct_fail(CT_ERR_FORMAT, "%s: bad magic", path);`. */
ct_status ct_fail(ct_status status, const char *fmt, ...) CT_PRINTF(2, 3);

/* Prefix the current message with context ("loading model.gguf: <old message>")
 * and return status unchanged. Use when passing an error up a layer. */
ct_status ct_fail_context(ct_status status, const char *fmt, ...) CT_PRINTF(2, 3);

/* Forget the last message. */
void ct_clear_error(void);

/* Propagate a failing status from an expression. */
#define CT_TRY(expr)                        \
    do {                                    \
        ct_status ct_try_status_ = (expr);  \
        if (ct_try_status_ != CT_OK)        \
            return ct_try_status_;          \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif
