/* pmhmc: the command-line tool. Dispatches to one command per file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "pmhmc/pmhmc.h"

static const char USAGE[] =
    "usage: pmhmc <command> [arguments]\n"
    "\n"
    "Pseudo-marginal HMC for models whose likelihood is estimated by importance sampling.\n"
    "\n"
    "commands:\n"
    "  simulate   write a synthetic data set and its true parameters\n"
    "  sample     run the sampler from an INI config; write a CmdStan-style draws CSV\n"
    "  log_prob   evaluate the log density and its gradients at one point\n"
    "  summary    posterior summary and convergence diagnostics (R-hat, ESS) of draws files\n"
    "  report     an HTML page of draws files: summary table, trace plots, histograms, energy\n"
    "  train      fit an HNN surrogate to the gradients sample recorded (hnn.collect)\n"
    "  pipeline   the HNN workflow in one command: PM-NUTS recording training data,\n"
    "             train, then HNN-HMC on the trained network\n"
    "  noise      how noisy a config's likelihood estimate is (sd of log phat over fresh u)\n"
    "\n"
    "  pmhmc <command> --help   the command's arguments\n"
    "  pmhmc --version          the program version\n"
    "\n"
    "exit codes:\n"
    "  0  success\n"
    "  1  the command line, the config or an input file is wrong (nothing was run)\n"
    "  2  a failure while running or writing results\n"
    "Every error is one line on stderr starting with 'pmhmc: '.\n";

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} command;

static const command COMMANDS[] = {
    {"simulate", cli_simulate},
    {"sample", cli_sample},
    {"log_prob", cli_log_prob},
    {"summary", cli_summarize},
    {"report", cli_report},
    {"train", cli_train},
    {"pipeline", cli_pipeline},
    {"noise", cli_noise},
};

/* What a command printed must have reached its destination: output lost
 * to a full disk or a closed pipe (pmhmc log_prob > /dev/full) is a failure,
 * not a silent success. */
static int finish(int rc)
{
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno;
        if (rc == CLI_EXIT_OK)
            return cli_fail(CLI_EXIT_RUNTIME, "cannot write the output to stdout: %s",
                            e ? strerror(e) : "write error");
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_fail(CLI_EXIT_USAGE,
                        "no command given; expected simulate, sample, log_prob, summary, report, train, pipeline or noise (see pmhmc --help)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(USAGE, stdout);
        return finish(CLI_EXIT_OK);
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("pmhmc %s\n", PMHMC_VERSION);
        return finish(CLI_EXIT_OK);
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; ++i)
        if (strcmp(argv[1], COMMANDS[i].name) == 0)
            return finish(COMMANDS[i].run(argc - 1, argv + 1));
    return cli_fail(CLI_EXIT_USAGE, "unknown command '%s'; expected simulate, sample, log_prob, summary, report, train, pipeline or noise (see pmhmc --help)",
                    argv[1]);
}
