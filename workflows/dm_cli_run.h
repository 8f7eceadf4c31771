/* dm_cli_run.h - the options every long command shares: progress on stderr
 * and threads per rank. Only workflows/ includes this.
 *
 * Both are decided once for the whole job (dm_cli_run_setup): progress on
 * rank 0, whose stderr prints it, and broadcast, because whether a stage
 * starts progress reductions must not depend on what each rank sees; threads
 * from each rank's share of its node's cores (dm_threads.h).
 */
#ifndef DM_CLI_RUN_H
#define DM_CLI_RUN_H

#include <getopt.h>
#include <mpi.h>

#include "dm_status.h"

/* getopt_long codes, clear of single characters and of the train options. */
enum {
  DM_CLI_RUN_PROGRESS = 3000,
  DM_CLI_RUN_NO_PROGRESS,
  DM_CLI_RUN_PROGRESS_INTERVAL,
  DM_CLI_RUN_THREADS,
  DM_CLI_RUN_END
};

#define DM_CLI_RUN_LONGOPTS                                                            \
  {"progress", no_argument, NULL, DM_CLI_RUN_PROGRESS},                                \
      {"no-progress", no_argument, NULL, DM_CLI_RUN_NO_PROGRESS},                      \
      {"progress-interval", required_argument, NULL, DM_CLI_RUN_PROGRESS_INTERVAL},    \
      {"threads", required_argument, NULL, DM_CLI_RUN_THREADS}

#define DM_CLI_RUN_HELP                                                                       \
  "  --progress            progress lines on stderr from rank 0 (the default; every 2 s\n"   \
  "                        when rank 0's stderr is a terminal, every 30 s otherwise, as\n"   \
  "                        in a batch log: events, rate, percentage and ETA)\n"              \
  "  --no-progress         no progress lines\n"                                               \
  "  --progress-interval S seconds between progress lines (> 0)\n"                           \
  "  --threads T           OpenMP (and OpenBLAS) threads per rank (default:\n"               \
  "                        OMP_NUM_THREADS, else the cores of the rank's affinity mask\n"    \
  "                        divided among the ranks of its node that share them)\n"

/* What the options say before the job decides. */
typedef struct {
  int progress;      /* -1 automatic, 0 --no-progress, 1 --progress */
  double interval;   /* --progress-interval, 0 = the mode's default */
  int threads;       /* --threads, 0 = automatic */
} dm_cli_run;

/* LOCAL. Defaults: automatic progress and threads. */
void dm_cli_run_init(dm_cli_run *r);

/* LOCAL. 1 if c is one of the DM_CLI_RUN_* option codes. */
int dm_cli_run_is_option(int c);

/* LOCAL. Handles one option (code c, argument arg). DM_OK, or DM_ERR_ARG
 * naming the flag. */
dm_status dm_cli_run_option(dm_cli_run *r, int c, const char *arg);

/* LOCAL. The progress mode (DM_PROGRESS_*) for a rank whose stderr is a
 * terminal (tty != 0) or not. Exposed for tests. */
int dm_cli_run_progress_mode(const dm_cli_run *r, int tty);

/* COLLECTIVE, agreed. Decides the progress mode on rank 0 from its stderr
 * and broadcasts it (*progress, a DM_PROGRESS_* value, and *interval, the
 * same on every rank), then sets the threads (dm_threads_setup, warning once
 * about oversubscription). progress or interval may be NULL. */
dm_status dm_cli_run_setup(const dm_cli_run *r, MPI_Comm comm, int *progress, double *interval);

#endif
