/* pmhmc: pseudo-marginal HMC for models with an estimated likelihood.
 * The whole public interface. */
#ifndef PMHMC_H
#define PMHMC_H

#include "pmhmc/backend.h"
#include "pmhmc/diagnostics.h"
#include "pmhmc/hnn.h"
#include "pmhmc/io.h"
#include "pmhmc/model.h"
#include "pmhmc/run.h"
#include "pmhmc/sampler.h"
#include "pmhmc/simulate.h"
#include "pmhmc/status.h"

#define PMHMC_VERSION "0.1.0"

#endif
