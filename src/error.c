#include "error.h"

#include <stdarg.h>
#include <stdio.h>

pmhmc_status pmhmc_fail(pmhmc_error *err, pmhmc_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}
