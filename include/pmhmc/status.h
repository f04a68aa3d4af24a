/* Status codes returned by every fallible pmhmc call.
 *
 * One X-macro table gives each code its value and its message; the library
 * never prints, the caller turns a status (and, where a call takes one, the
 * pmhmc_error it filled) into a message. */
#ifndef PMHMC_STATUS_H
#define PMHMC_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#define PMHMC_STATUS_TABLE(X)                                                   \
    X(PMHMC_OK, 0, "success")                                                   \
    X(PMHMC_ERR_ARG, 1, "invalid argument")                                     \
    X(PMHMC_ERR_NOMEM, 2, "out of memory")                                      \
    X(PMHMC_ERR_IO, 3, "file could not be read or written")                     \
    X(PMHMC_ERR_PARSE, 4, "malformed input")                                    \
    X(PMHMC_ERR_CONFIG, 5, "invalid configuration")                             \
    X(PMHMC_ERR_DATA, 6, "invalid data")                                        \
    X(PMHMC_ERR_NUMERIC, 7, "non-finite value in a computation")                \
    X(PMHMC_ERR_UNSUPPORTED, 8, "not supported by this build or backend")       \
    X(PMHMC_ERR_DEVICE, 9, "GPU device error")

typedef enum pmhmc_status {
#define PMHMC_STATUS_ENUM(name, value, message) name = value,
    PMHMC_STATUS_TABLE(PMHMC_STATUS_ENUM)
#undef PMHMC_STATUS_ENUM
} pmhmc_status;

/* Static message for a status; never NULL ("unknown status" for others). */
const char *pmhmc_status_str(pmhmc_status status);

/* Detail of a failure, filled by calls that take one (file, line, key...).
 * Callers may pass NULL when they do not want the detail. */
typedef struct pmhmc_error {
    char message[512];
} pmhmc_error;

#ifdef __cplusplus
}
#endif
#endif
