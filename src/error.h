/* Filling a pmhmc_error: the one place library code formats a message. */
#ifndef PMHMC_ERROR_INTERNAL_H
#define PMHMC_ERROR_INTERNAL_H

#include "pmhmc/status.h"

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
/* Writes the formatted message into err (when err is not NULL) and returns
 * status, so a failure reads `return pmhmc_fail(err, PMHMC_ERR_DATA, ...)`. */
pmhmc_status pmhmc_fail(pmhmc_error *err, pmhmc_status status, const char *fmt, ...);

#endif
