#include "cli/stat_format.h"

#include <math.h>
#include <stdio.h>

void cli_fmt_sig(char *buf, size_t size, double x)
{
    if (isnan(x)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(buf, size, x > 0 ? "inf" : "-inf");
        return;
    }
    int decimals = 2;
    if (x != 0.0) {
        decimals = 1 - (int)floor(log10(fabs(x)));
        if (decimals < 0)
            decimals = 0;
        if (decimals > 5) { /* below 1e-4: exponent form, as MCSE */
            snprintf(buf, size, "%.1e", x);
            return;
        }
    }
    snprintf(buf, size, "%.*f", decimals, x);
}

void cli_fmt_mcse(char *buf, size_t size, double x)
{
    if (isnan(x))
        snprintf(buf, size, "nan");
    else
        snprintf(buf, size, "%.1e", x);
}

void cli_fmt_ess(char *buf, size_t size, double x)
{
    if (isnan(x))
        snprintf(buf, size, "nan");
    else if (x < 10.0) /* a slow run's ESS_bulk/s: 2 significant digits, not 0 */
        cli_fmt_sig(buf, size, x);
    else
        snprintf(buf, size, "%.0f", x);
}

void cli_fmt_rhat(char *buf, size_t size, double x)
{
    if (isnan(x))
        snprintf(buf, size, "nan");
    else if (isinf(x))
        snprintf(buf, size, "inf");
    else if (x >= 100.0) /* chains far apart: the size is what matters, not 16 digits */
        snprintf(buf, size, "%.2g", x);
    else
        snprintf(buf, size, "%.2f", x);
}
