/* How the diagnostics tables (`pmhmc summary`, the end of `pmhmc sample`)
 * print their numbers, in stansummary's style. Each writes into buf. */
#ifndef PMHMC_CLI_STAT_FORMAT_H
#define PMHMC_CLI_STAT_FORMAT_H

#include <stddef.h>

/* 2 significant digits, never in exponent form above 1e-4. */
void cli_fmt_sig(char *buf, size_t size, double x);
/* An MCSE: one digit in exponent form. */
void cli_fmt_mcse(char *buf, size_t size, double x);
/* An ESS (or ESS per second): whole numbers, 2 significant digits below 10. */
void cli_fmt_ess(char *buf, size_t size, double x);
/* R-hat: two decimals, so the 1.01 threshold shows. */
void cli_fmt_rhat(char *buf, size_t size, double x);

#endif
