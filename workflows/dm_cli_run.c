#include "dm_cli_run.h"

#include <unistd.h>

#include "dm_cli.h"
#include "dm_comm.h"
#include "dm_progress.h"
#include "dm_threads.h"

void dm_cli_run_init(dm_cli_run *r)
{
  r->progress = -1;
  r->interval = 0;
  r->threads = 0;
}

int dm_cli_run_is_option(int c) { return c >= DM_CLI_RUN_PROGRESS && c < DM_CLI_RUN_END; }

dm_status dm_cli_run_option(dm_cli_run *r, int c, const char *arg)
{
  int64_t v = 0;
  switch (c) {
  case DM_CLI_RUN_PROGRESS: r->progress = 1; return DM_OK;
  case DM_CLI_RUN_NO_PROGRESS: r->progress = 0; return DM_OK;
  case DM_CLI_RUN_PROGRESS_INTERVAL:
    return dm_cli_f64("--progress-interval", arg, 1e-3, 1e6, &r->interval);
  case DM_CLI_RUN_THREADS:
    DM_FORWARD(dm_cli_i64("--threads", arg, 1, 4096, &v));
    r->threads = (int)v;
    return DM_OK;
  default: return dm_error(DM_ERR_ARG, "not a progress or threads option (code %d)", c);
  }
}

int dm_cli_run_progress_mode(const dm_cli_run *r, int tty)
{
  if (r->progress == 0)
    return DM_PROGRESS_OFF;
  return tty ? DM_PROGRESS_TERMINAL : DM_PROGRESS_LOG;
}

dm_status dm_cli_run_setup(const dm_cli_run *r, MPI_Comm comm, int *progress, double *interval)
{
  /* Rank 0 alone looks at its terminal: under `srun --pty` or a terminal
   * on rank 0's stderr only, per-rank answers differ, and a stage whose
   * ranks disagree on progress would mismatch its reductions. */
  double d[2] = {0, 0};
  if (dm_rank(comm) == 0) {
    d[0] = dm_cli_run_progress_mode(r, isatty(2));
    d[1] = r->interval;
  }
  MPI_Bcast(d, 2, MPI_DOUBLE, 0, comm);
  if (progress)
    *progress = (int)d[0];
  if (interval)
    *interval = d[1];
  return dm_threads_setup(comm, r->threads, 1, NULL);
}
