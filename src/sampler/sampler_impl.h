/* The sampler's insides, shared by the files of src/sampler: the chain state
 * and the list of what a checkpoint must hold to continue it bit-identically.
 *
 * Workspace vectors: U (current u), P (its momentum), U_START (u at the start
 * of the transition, restored on rejection). */
#ifndef PMHMC_SAMPLER_SAMPLER_IMPL_H
#define PMHMC_SAMPLER_SAMPLER_IMPL_H

#include <stddef.h>

#include "pmhmc/sampler.h"
#include "sampler/integrator.h"

enum { VEC_U, VEC_P, VEC_U_START, N_VECTORS };

struct pmhmc_sampler {
    const pmhmc_model *model;
    pmhmc_workspace *ws;
    pmhmc_sampler_config config;
    pmhmc_integrator integ;
    size_t dim;
    size_t iteration;
    double *theta;       /* [dim] current state */
    double *theta_start; /* [dim] */
    double *rho;         /* [dim] */
    double *inv_mass;    /* [dim] */
    double *sqrt_mass;   /* [dim] */
    double *scratch;     /* [2 dim] integrator gradients */
    double log_prior, log_phat;
};

/* What a chain's state is made of: host arrays (copied byte for byte) and
 * workspace vectors (downloaded and uploaded as doubles, exact for float
 * storage too). Everything else in the sampler is derived from the config,
 * the model and these. The list depends only on the config and the model, so
 * two samplers made from the same ones have the same parts in the same order
 * with the same sizes. */
typedef struct pmhmc_state_host_part {
    const char *name;
    void *data;
    size_t bytes;
} pmhmc_state_host_part;

#define PMHMC_STATE_MAX_PARTS 32
typedef struct pmhmc_sampler_state_parts {
    pmhmc_state_host_part host[PMHMC_STATE_MAX_PARTS];
    size_t n_host;
    int vectors[PMHMC_STATE_MAX_PARTS];
    size_t n_vectors;
} pmhmc_sampler_state_parts;

void pmhmc_sampler_state_parts_of(pmhmc_sampler *sampler, pmhmc_sampler_state_parts *parts);

#endif
