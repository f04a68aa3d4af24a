/* Checkpoint and resume for `pmhmc sample` (output.checkpoint, --resume),
 * and the stop on SIGINT/SIGTERM/SIGHUP.
 *
 * Every output.checkpoint_every transitions a chain flushes and fsyncs its
 * draws file and snapshots its sampler state into its slot in memory; when
 * the slowest chain has moved on to a new multiple, the file is rewritten
 * atomically with every chain's latest snapshot (chains may stand at
 * different iterations: each continues from its own). A signal sets a flag;
 * each chain finishes its transition, snapshots and stops; the main thread
 * writes the checkpoint once more and keeps the draws files as they are
 * (their temporary names, recorded in the checkpoint). A resumed run cuts
 * each draws file back to the length its snapshot recorded and appends.
 *
 * Test hook (for the test suite only, not a user feature): with
 * PMHMC_TEST_STOP_AT_ITERATION=n in the environment, chain 1 raises SIGTERM
 * (SIGINT when PMHMC_TEST_STOP_SIGNAL=INT) on itself once it has done n
 * transitions (warm-up included), so tests can interrupt a run at an exact
 * point. */
#ifndef PMHMC_CLI_CHECKPOINT_RUN_H
#define PMHMC_CLI_CHECKPOINT_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/out_file.h"
#include "cli/summary.h"
#include "io/config.h"
#include "pmhmc/pmhmc.h"

/* Counters kept beside a chain's state: its saved draws that were accepted
 * (for the end-of-run acceptance rate) and, for progress, all its accepted
 * and divergent transitions. */
typedef struct ckpt_counters {
    uint64_t saved_accepted, accepted, divergent, max_depth;
} ckpt_counters;

typedef struct ckpt_run ckpt_run;

/* Prepares checkpointing for a run of n_chains (output.checkpoint, or the
 * --resume file when that is not set; neither: off, *out is still made) and,
 * with resume_path, reads that file and checks it belongs to this config,
 * data and build. Locks the checkpoint for this run, and refuses a path
 * where a file already is (unless it is the one resumed). Returns a CLI exit
 * code after printing the error. */
int ckpt_run_create(const pmhmc_config *cfg, const char *backend_used, const char *precision_used, size_t n_chains,
                    const char *resume_path, ckpt_run **out);
void ckpt_run_free(ckpt_run *ck);
int ckpt_enabled(const ckpt_run *ck);
/* Whether this run has written its checkpoint file (a run that fails then
 * keeps its draws files: the checkpoint refers to them). */
int ckpt_written(const ckpt_run *ck);
/* `<checkpoint>.lock`, the file a run holds a lock on while it lives (a new
 * string; NULL for an empty checkpoint or out of memory). */
char *ckpt_lock_path(const char *checkpoint);

/* The comments pmhmc sample writes in a draws file, which a resume reads
 * back: with model.N = auto, in the header, before the N the chain warms up
 * with; at the end of warm-up, before the noise there, and before the N the
 * chain samples with from then on (model.N = auto chooses it there). */
#define CKPT_AUTO_N_COMMENT "model.N = auto: N = "
#define CKPT_NOISE_COMMENT "Noise of log phat at the end of warm-up: sd = "
#define CKPT_NOISE_N "(model.N = "

/* What a chain's draws file says of its estimator: the N it warmed up with
 * (model.N = auto), the noise at the end of warm-up and the N it samples
 * with; 0, NAN and 0 where the file does not say (yet). */
typedef struct ckpt_estimator_notes {
    size_t n_warmup;
    double noise_sd;
    size_t n_sampling;
} ckpt_estimator_notes;

/* Resume, main thread, before the chains start: opens chain k's draws file
 * at its recorded length and feeds the saved draws it holds (n_values
 * columns after the sampler's) to summary and to draws[(j * n_chains + k) *
 * n_iter + i] (when draws is not NULL); fills the counters, and *notes from
 * the CKPT_AUTO_N_COMMENT and CKPT_NOISE_COMMENT lines. Returns a CLI exit
 * code after printing the error. */
int ckpt_resume_chain(ckpt_run *ck, size_t k, cli_out *out, const char *path, size_t n_values, cli_summary *summary,
                      double *draws, size_t n_chains, size_t n_iter, ckpt_counters *counters, ckpt_estimator_notes *notes);
/* Resume, chain k's thread, after creating its sampler as usual. */
pmhmc_status ckpt_load_chain(ckpt_run *ck, size_t k, pmhmc_sampler *sampler, pmhmc_error *err);

/* Chain k's thread, once it has done `done` transitions: at a multiple of
 * output.checkpoint_every (or when `leaving`: stopping or finished) takes
 * a snapshot, and writes the file when the periodic checkpoint is due. Also
 * runs the test hook. Returns 0, or -1 with msg filled. */
int ckpt_chain_point(ckpt_run *ck, size_t k, pmhmc_sampler *sampler, FILE *draws, const char *draws_path,
                     const ckpt_counters *counters, size_t done, int leaving, char *msg, size_t msg_len);

/* After an interrupted run's chains have stopped: writes the checkpoint.
 * Returns a CLI exit code after printing the error. */
int ckpt_write_final(ckpt_run *ck);
/* After a completed run: its checkpoint (and the one it resumed from) no
 * longer describe files that exist; removes them. */
void ckpt_run_completed(ckpt_run *ck);
const char *ckpt_path(const ckpt_run *ck);

/* Signals: SIGINT, SIGTERM and SIGHUP set a flag the chains poll; a second
 * one ends the process at once (without removing the draws files when
 * keep_files, so the last checkpoint stays usable). */
void ckpt_signals_install(int keep_files);
int ckpt_stop_signal(void); /* 0, or the first signal received */

#endif
