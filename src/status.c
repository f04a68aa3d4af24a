#include "pmhmc/status.h"

const char *pmhmc_status_str(pmhmc_status status)
{
    switch (status) {
#define PMHMC_STATUS_CASE(name, value, message) \
    case name:                                  \
        return message;
        PMHMC_STATUS_TABLE(PMHMC_STATUS_CASE)
#undef PMHMC_STATUS_CASE
    }
    return "unknown status";
}
