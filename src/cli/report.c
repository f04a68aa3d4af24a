#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* Messages can quote file contents; a stray newline would break the
 * one-line-per-error promise, so control characters become spaces. */
static void print_one_line(const char *message)
{
    fputs("pmhmc: ", stderr);
    for (const char *c = message; *c; ++c)
        fputc((unsigned char)*c < 0x20 ? ' ' : *c, stderr);
    fputc('\n', stderr);
}

int cli_fail(int code, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    print_one_line(message);
    return code;
}

int cli_fail_status(int code, pmhmc_status status, const pmhmc_error *err)
{
    print_one_line(err && err->message[0] ? err->message : pmhmc_status_str(status));
    return code;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; ++i)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}
