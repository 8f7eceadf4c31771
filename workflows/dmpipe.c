/* dmpipe: the one program. Thin by design: MPI start-up, command dispatch,
 * MPI shut-down. Everything else is in the commands and the stages. */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_cmd.h"
#include "dm_h5.h"
#include "dm_version.h"

static const struct {
  const char *name;
  dm_cmd_fn run;
  const char *summary;
} commands[] = {
    {"generate", dm_cmd_generate, "make a seeded synthetic archive in the Dark Machines CSV format"},
    {"ingest", dm_cmd_ingest, "convert CSV archive files into a columnar zstd HDF5 store"},
    {"export", dm_cmd_export, "write a store back as archive CSV"},
    {"info", dm_cmd_info, "describe a store, model or scores file"},
    {"weight", dm_cmd_weight, "recompute cross-section weights at a luminosity"},
    {"derive", dm_cmd_derive, "compute per-event derived variables (H_T, counts, ...)"},
    {"select", dm_cmd_select, "apply a challenge channel or user cuts, with a cutflow"},
    {"train", dm_cmd_train, "train an anomaly model (kde, svdd)"},
    {"score", dm_cmd_score, "score every event of a store with a model"},
    {"metrics", dm_cmd_metrics, "challenge metrics (AUC, eps_S, SI, TI) and significance"},
    {"bumphunt", dm_cmd_bumphunt, "BumpHunter scan with global significance"},
    {"hist", dm_cmd_hist, "weighted per-process histograms of variables and scores"},
    {"report", dm_cmd_report, "an HTML report with figures from a run's outputs"},
    {"dataset", dm_cmd_dataset, "hackathon and blinded secret datasets from a store"},
    {"evaluate", dm_cmd_evaluate, "score a submission against sealed labels"},
    {"catalog", dm_cmd_catalog, "join per-sample stores into one store (nightly's catalog)"},
    {"run", dm_cmd_run, "run a pipeline file's graph of steps, skipping the up-to-date ones"},
    {"nightly", dm_cmd_nightly, "incremental reprocessing of a growing archive (cron, scrontab)"},
    {"submit", dm_cmd_submit, "submit a pipeline file's graph as Slurm jobs (arrays, afterok)"},
    {"status", dm_cmd_status, "what dmpipe run would do (up to date, stale), without running"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
  fprintf(f, "dmpipe %s (git %s): MPI data reduction for the Dark Machines archive\n\n"
             "usage: dmpipe <command> [options]      (alone or under mpirun -np N)\n"
             "       dmpipe <command> --help\n\ncommands:\n",
          DM_VERSION, DM_GIT_REV);
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fputs("\nenvironment (file-system tuning for every file written or read; README, \"Tuning\n"
        "for a cluster file system\"; sizes take K, M, G suffixes):\n"
        "  DMPIPE_H5_ALIGNMENT=THRESHOLD:BYTES  HDF5 objects (chunks) of at least THRESHOLD\n"
        "                                       bytes start at multiples of BYTES\n"
        "  DMPIPE_H5_META_BLOCK=BYTES           HDF5 metadata block size (default 2K)\n"
        "  DMPIPE_H5_MDC=BYTES                  HDF5 metadata cache size, 1K..128M (default\n"
        "                                       HDF5's; 256K for a file only read)\n"
        "  DMPIPE_H5_CHUNK_CACHE=BYTES          HDF5 chunk cache per open dataset (default 1M)\n"
        "  DMPIPE_MPIIO_HINTS=KEY=VALUE,...     MPI-IO hints for every file (cb_buffer_size,\n"
        "                                       cb_nodes, romio_cb_write, striping_unit, ...)\n"
        "  DMPIPE_WRITEBACK=BYTES|0             the store writer starts the disk write-back of\n"
        "                                       what a rank wrote every BYTES (default 8M; 0 off)\n"
        "  DMPIPE_HDF5_DEBUG=1                  print HDF5's own error stacks\n"
        "  DMPIPE_CHUNK_TIMES=1                 per-rank times of the store writer on stderr\n",
        f);
}

int main(int argc, char **argv)
{
  /* FUNNELED: OpenMP threads compute, only the main thread calls MPI and HDF5
   * (HDF5 is not thread-safe). */
  int provided = 0;
  /* Pipeline drivers start MPI programs (mpirun, srun) and are not one. */
  if (argc > 1 && dm_cmd_is_driver(argv[1]))
    for (size_t i = 0; i < N_COMMANDS; i++)
      if (!strcmp(argv[1], commands[i].name)) {
        dm_cli_set_command_line(argc, argv);
        return commands[i].run(argc - 1, argv + 1, MPI_COMM_NULL);
      }
  /* Helper threads (ingest's read-ahead, MPI-IO's writes) share their rank's
   * core, to which mpirun binds it: a rank waiting in MPI must yield the core
   * to them instead of spinning (Open MPI's setting; the user's own value,
   * from the environment or mpirun --mca, wins; other MPIs ignore it). */
  setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
  /* Open MPI's default collective-write component (vulcan, 4.1) loses a
   * write refused by the file system: an HDF5 file on a full disk was
   * reported written, exit 0, its data missing. "individual" has each rank
   * write its own part and return its own result, which dmpipe checks
   * (io/dm_mpiio_guard.h). Parallel HDF5 writes here are whole chunks per
   * rank, so nothing is lost by not aggregating. The user's value wins. */
  setenv("OMPI_MCA_fcoll", "individual", 0);
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm world = MPI_COMM_WORLD;
  /* dmpipe's own messages name file and dataset; HDF5's stack dumps of the
   * same failure (30 lines per rank) only bury them. */
  dm_h5_quiet();
  int rank = 0, rc = 2;
  MPI_Comm_rank(world, &rank);
  /* A file-size limit (ulimit -f) is out of space like a full disk: the
   * write fails with EFBIG and every rank leaves through the error path,
   * instead of one rank dying of SIGXFSZ with the others waiting for it. */
  signal(SIGXFSZ, SIG_IGN);
  /* dmpipe prints its own messages naming the file and dataset; HDF5's error
   * stack (30-50 lines per failure) stays off from here on, on every path
   * (DMPIPE_HDF5_DEBUG=1 keeps it). */
  dm_h5_quiet();

  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
      !strcmp(argv[1], "help")) {
    if (rank == 0)
      usage(stdout);
    rc = argc < 2 ? 2 : 0;
  } else if (!strcmp(argv[1], "--version")) {
    if (rank == 0)
      printf("dmpipe %s (git %s)\n", DM_VERSION, DM_GIT_REV);
    rc = 0;
  } else {
    size_t i = 0;
    while (i < N_COMMANDS && strcmp(argv[1], commands[i].name))
      i++;
    if (i == N_COMMANDS) {
      if (rank == 0) {
        fprintf(stderr, "dmpipe: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
      }
    } else {
      dm_cli_set_command_line(argc, argv);
      rc = commands[i].run(argc - 1, argv + 1, world);
    }
  }
  MPI_Finalize();
  return rc;
}
