/* How the samplers name their random streams: every draw of a run is
 * Philox stream (seed, chain, step), step = iteration * PMHMC_DRAW_PURPOSES +
 * purpose, with a few reserved steps at the top of the range for the start.
 * Element e of a draw is normal e % 2 of pair e / 2, so a draw never depends
 * on how the work is split. */
#ifndef PMHMC_MATH_STREAMS_H
#define PMHMC_MATH_STREAMS_H

#include <stdint.h>

#define PMHMC_STREAM_INITIAL UINT64_C(0xFFFFFFFFFFFFFF00)   /* initial theta */
#define PMHMC_STREAM_INITIAL_U UINT64_C(0xFFFFFFFFFFFFFF01) /* initial u */
/* The CLI's dispersal of each chain's start (sampler.init_jitter). */
#define PMHMC_STREAM_INIT_JITTER UINT64_C(0xFFFFFFFFFFFFFF02)
/* The step-size search (Stan's init_stepsize) redraws both momenta at every
 * try: search s (0 at the start, then one per metric window), try t, draws
 * PMHMC_DRAW_RHO / PMHMC_DRAW_P use step BASE + (s << 24) + t * 8 + purpose,
 * far above any iteration's steps and below the reserved ones. */
#define PMHMC_STREAM_STEPSIZE_SEARCH UINT64_C(0xFFFFFFF000000000)

enum pmhmc_draw_purpose {
    PMHMC_DRAW_RHO = 0,    /* theta momentum */
    PMHMC_DRAW_P = 1,      /* u momentum */
    PMHMC_DRAW_ACCEPT = 2, /* Metropolis uniform (HNN-HMC: pair 0 the surrogate
                              test's, pair 1 the exact test's) */
    PMHMC_DRAW_NUTS_DIRECTION = 3, /* uniform d: the direction of doubling d */
    PMHMC_DRAW_NUTS_SUBTREE = 4,   /* uniforms of the multinomial choices, in order */
    PMHMC_DRAW_CN = 5,             /* HNN exact modes: xi of the Crank-Nicolson move of u */
    PMHMC_DRAW_FRESH_U = 6,        /* HNN-PM-NUTS: a new u when a cooldown starts */
    PMHMC_DRAW_PURPOSES = 8
};

static inline uint64_t pmhmc_stream_step(uint64_t iteration, enum pmhmc_draw_purpose purpose)
{
    return iteration * PMHMC_DRAW_PURPOSES + (uint64_t)purpose;
}

static inline uint64_t pmhmc_stream_search_step(uint64_t search, uint64_t attempt, enum pmhmc_draw_purpose purpose)
{
    return PMHMC_STREAM_STEPSIZE_SEARCH + (search << 24) + attempt * PMHMC_DRAW_PURPOSES + (uint64_t)purpose;
}

#endif
