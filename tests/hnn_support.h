// RAII owners for the HNN handles (src/hnn, src/io/safetensors.h), shared by
// the HNN test files.
#ifndef PMHMC_TESTS_HNN_SUPPORT_H
#define PMHMC_TESTS_HNN_SUPPORT_H

#include <memory>

#include "hnn/adam.h"
#include "hnn/mlp.h"
#include "hnn/mlp_device.h"
#include "io/safetensors.h"

namespace pmhmc_test {

struct HnnFree {
    void operator()(pmhmc_mlp *m) const { pmhmc_mlp_free(m); }
    void operator()(pmhmc_mlp_work *w) const { pmhmc_mlp_work_free(w); }
    void operator()(pmhmc_adam *a) const { pmhmc_adam_free(a); }
    void operator()(pmhmc_safetensors *s) const { pmhmc_safetensors_free(s); }
    void operator()(pmhmc_mlp_device *d) const { pmhmc_mlp_device_free(d); }
};
using Mlp = std::unique_ptr<pmhmc_mlp, HnnFree>;
using Work = std::unique_ptr<pmhmc_mlp_work, HnnFree>;
using Adam = std::unique_ptr<pmhmc_adam, HnnFree>;
using St = std::unique_ptr<pmhmc_safetensors, HnnFree>;
using MlpDevice = std::unique_ptr<pmhmc_mlp_device, HnnFree>;

} // namespace pmhmc_test

#endif
