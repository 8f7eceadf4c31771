/* dmpipe run / dmpipe status: a pipeline file's graph on this machine.
 * These commands drive other dmpipe commands (each under mpirun or srun)
 * and are not MPI programs themselves: main starts them without MPI, and
 * comm is MPI_COMM_NULL. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_cmd.h"
#include "dm_pipe.h"
#include "dm_pipe_cli.h"

const char dm_pipe_keys_help[] =
    "Pipeline file (YAML; relative paths are relative to the file's folder; unknown keys and\n"
    "bad values are errors naming the line and key):\n"
    "  workdir: DIR            folder of every output, log and record (required)\n"
    "  archive:                the CSV samples (required), one of:\n"
    "    - FOLDER or GLOB      a folder (its *.csv) or a pattern, or a list of them\n"
    "    paths: [..]           the same, as a key\n"
    "    generate:             a seeded synthetic archive made in WORKDIR/archive\n"
    "      events: N           events in all (required)\n"
    "      seed: S             seed (default 1)\n"
    "      processes: LIST     all | sm | bsm | NAME,... (default: generate's)\n"
    "  process_table: FILE     cross sections and SM/BSM kinds (default: the shipped\n"
    "                          data/processes.csv); passed as --xsec to every step\n"
    "  lumi: L                 luminosity of the weights in fb^-1 (default 10)\n"
    "  ranks: N                MPI ranks of every step (default 1)\n"
    "  threads: T              OpenMP threads per rank of every step (default 1)\n"
    "  time: MIN               Slurm time limit of every step in minutes (default 60)\n"
    "  launcher: auto          how steps start: auto (srun inside a Slurm allocation,\n"
    "                          else mpirun; one rank runs directly), mpirun, srun, direct\n"
    "  channels: [..]          chan1 chan2a chan2b chan3, or {name: NAME, cuts: FILE.ini}\n"
    "  models:                 one entry per model (required):\n"
    "    NAME:                 label used in file names (letters, digits, _ -)\n"
    "      kind: kde|svdd|null the backend (dmpipe train KIND)\n"
    "      options: {..}       flags of dmpipe train KIND without '--' (true = the flag\n"
    "                          alone, false = left out; lists as \"64,32\")\n"
    "      ranks:, threads:, time:   override train's for this model\n"
    "  ingest: | weight: | select: | train: | score: | metrics:\n"
    "      ranks:, threads:, time:   this step's resources\n"
    "      options: {..}       extra flags of that command (not train: see models)\n"
    "  metrics:\n"
    "      histograms: BOOL    also write WORKDIR/MODEL.hist.h5 (default false)\n"
    "  histograms: BOOL        the store's histograms in WORKDIR/hist/all.hist.h5 (step\n"
    "                          hist, dmpipe hist); or a mapping:\n"
    "    bins: FILE.ini        binnings (dmpipe hist --bins; default the built-in ones)\n"
    "    vars: [SPEC, ..]      NAME:NBINS:LO:HI[:log] each (dmpipe hist --var)\n"
    "    ranks:, threads:, time:   the resources of the steps that fill (a merge runs\n"
    "                          on one rank)\n"
    "                          With --nightly (dmpipe nightly): one step hist.NAME per\n"
    "                          sample (unit weights, only new or changed samples) and\n"
    "                          step hist adding them with each process's weight from\n"
    "                          weight.json, exactly: equal to dmpipe hist of the catalog\n"
    "  datasets:               the challenge's datasets, a list of entries, each one step\n"
    "                          dataset.KIND.CHANNEL: dmpipe dataset KIND on WORKDIR/store.h5\n"
    "                          into WORKDIR/datasets/KIND/CHANNEL/ (after weight):\n"
    "    - kind: hackathon|secret   (required)\n"
    "      channel: C          chan1 chan2a chan2b chan3 (required)\n"
    "      lumi: L|max         luminosity in fb^-1 (default max)\n"
    "      seed: S             (required for secret: a rerun must draw the same set)\n"
    "      weight_lumi: L      luminosity of /events/weight when the store has no weights\n"
    "      signals: bsm|NAMES  hackathon: signal processes (a list or A,B)\n"
    "      train_fraction: F   hackathon: training share of the background\n"
    "      inject: {NAME: MU}  secret: injected signals and strengths (required)\n"
    "      decoys: F           secret: decoy fraction\n"
    "      exclude: hackathon  secret: none of this pipeline's hackathon set of C\n"
    "      options: {..}       other flags of dmpipe dataset KIND (e.g. keep-selections)\n"
    "      ranks:, threads:, time:\n"
    "Flags the pipeline sets itself (--in, --out, --json, --xsec, --lumi, --channel, --cuts,\n"
    "--scores, --checkpoint, ...; a dataset's keys) cannot be given as options.\n";

static const char run_help[] =
    "usage: dmpipe run PIPELINE.yaml [--workdir DIR] [--step NAME] [--quiet] [--nightly]\n"
    "\n"
    "Runs a pipeline's graph on this machine: [generate ->] ingest -> weight -> select per\n"
    "channel -> train per channel and model -> score -> metrics per model across the\n"
    "channels (AUC, eps_S, SI, min/median/max TI); weight -> hist, weight -> dataset.KIND.C\n"
    "when the file asks for histograms or datasets. Each step is one dmpipe command, run as\n"
    "`mpirun -np RANKS dmpipe ...` (srun inside a Slurm allocation; directly for one rank)\n"
    "with OMP_NUM_THREADS=THREADS, its output in WORKDIR/logs/STEP.log.\n"
    "\n"
    "A step is skipped only when its record (WORKDIR/.dmpipe/steps/STEP.json, written after\n"
    "it succeeded) names the same dmpipe version and git revision, the same command and\n"
    "the same input checksums as now, and every output it recorded is there with the same\n"
    "checksum. So a changed input, option, process table or dmpipe reruns exactly the\n"
    "affected steps and everything downstream of them; changing ranks or threads does not\n"
    "(outputs are identical for any rank count). Checksums (XXH3-128) of unchanged files\n"
    "(same path, size, mtime) come from WORKDIR/.dmpipe/checksums.tsv. A failing step stops\n"
    "the steps that depend on it; the others go on; the exit status is then 1 and the\n"
    "failed step and its log are named. SIGTERM and SIGINT are passed to the running step\n"
    "(a Deep SVDD training stops after its next epoch's checkpoint). A training's\n"
    "checkpoint is resumed only by a step with the same command and inputs.\n"
    "\n"
    "One dmpipe run or nightly at a time per work folder (WORKDIR/.dmpipe/lock; a second\n"
    "exits with status 75 naming the holder: host, pid, start), one process per step (a\n"
    "Slurm job of it). The locks die with their holders: a killed one's is taken over.\n"
    "\n"
    "WORKDIR/run.json (rewritten atomically after every step): each step's name, kind,\n"
    "state (ran, skipped, failed, blocked), reason, seconds, ranks, threads, command, log,\n"
    "depends, inputs (path, checksum) and outputs (path, size, checksum), the counts per\n"
    "state, and each model's min/median/max TI.\n"
    "\n"
    "Outputs: WORKDIR/store.h5 (+ store.derived-ID*.h5, its derived columns), WORKDIR/CHANNEL/\n"
    "{sel.h5, cutflow.json, MODEL.model.h5, MODEL.scores.h5}, WORKDIR/MODEL.metrics.json,\n"
    "WORKDIR/hist/all.hist.h5 (histograms:), WORKDIR/datasets/KIND/CHANNEL/ (datasets:).\n"
    "\n"
    "  --workdir DIR    instead of the file's workdir:\n"
    "  --step NAME      run only this step (if stale), e.g. select.chan3; run.json is\n"
    "                   left alone (the Slurm jobs of dmpipe submit use this). A failed\n"
    "                   step's own exit status is returned (75: a training stopped by\n"
    "                   SIGTERM with its checkpoint; the same command resumes it)\n"
    "  --quiet          no line per step\n"
    "  --nightly        the graph of dmpipe nightly (a store per sample and the catalog;\n"
    "                   no manifest or summary: dmpipe nightly writes those)\n"
    "  --help           this text\n"
    "\n";

static const char status_help[] =
    "usage: dmpipe status PIPELINE.yaml [--workdir DIR] [--json] [--nightly]\n"
    "\n"
    "What dmpipe run would do, without running anything: each step up-to-date, stale (with\n"
    "the reason: never ran, input changed: FILE, its command changed, output missing, dmpipe\n"
    "changed) or waiting (after a stale step), with the last run's seconds. --json prints\n"
    "the document dmpipe run writes to WORKDIR/run.json, with these states.\n"
    "Exit status: 0 when every step is up to date, 3 when some would run, 1 on errors.\n"
    "\n"
    "  --workdir DIR    instead of the file's workdir:\n"
    "  --json           JSON on stdout\n"
    "  --nightly        the graph of dmpipe nightly (a store per sample, the catalog)\n"
    "  --help           this text\n"
    "\n";

int dm_pipe_cli_exe(char *buf, size_t n)
{
  ssize_t r = readlink("/proc/self/exe", buf, n - 1);
  if (r <= 0)
    return -1;
  buf[r] = 0;
  return 0;
}

int dm_pipe_cli_refuse_mpi(const char *cmd)
{
  /* Under mpirun every rank would drive its own copy of the graph. */
  const char *sz = getenv("OMPI_COMM_WORLD_SIZE");
  if (!sz)
    sz = getenv("PMI_SIZE");
  if (sz && atoi(sz) > 1) {
    fprintf(stderr,
            "dmpipe %s: run it as one process (not under mpirun or srun): it starts the MPI "
            "steps itself\n",
            cmd);
    return 1;
  }
  return 0;
}

int dm_pipe_cli_load(const char *cmd, const char *path, const char *workdir, dm_pipe **p,
                     char *exe, size_t exe_len)
{
  if (dm_pipe_cli_exe(exe, exe_len) != 0) {
    fprintf(stderr, "dmpipe %s: cannot find the dmpipe program (/proc/self/exe)\n", cmd);
    return 1;
  }
  dm_status s = dm_pipe_load(path, exe, p);
  if (s == DM_OK && workdir) {
    char cwd[PATH_MAX];
    free((*p)->workdir);
    (*p)->workdir = dm_pipe_join(getcwd(cwd, sizeof cwd) ? cwd : ".", workdir);
  }
  if (s != DM_OK) {
    fprintf(stderr, "dmpipe %s: %s\n", cmd, dm_error_message());
    return 1;
  }
  return 0;
}

int dm_pipe_cli_lock(const char *cmd, const dm_pipe *p, dm_claim *c)
{
  memset(c, 0, sizeof *c);
  c->fd = -1;
  char *dmdir = dm_pipe_fmt("%s/.dmpipe", p->workdir);
  char *lock = dm_pipe_fmt("%s/.dmpipe/lock", p->workdir);
  dm_status s = dmdir && lock ? dm_pipe_mkdirs(dmdir) : dm_error(DM_ERR_NOMEM, "no memory");
  if (s == DM_OK)
    s = dm_claim_take(c, lock);
  int rc = 0;
  if (s != DM_OK && c->busy) {
    fprintf(stderr, "dmpipe %s: %s is busy: another run or nightly holds %s (%s)\n", cmd,
            p->workdir, lock, c->holder);
    rc = DM_PIPE_BUSY;
  } else if (s != DM_OK) {
    fprintf(stderr, "dmpipe %s: %s\n", cmd, dm_error_message());
    rc = 1;
  } else if (c->holder[0]) {
    fprintf(stderr, "dmpipe %s: taking over the lock %s of %s (that process has ended)\n", cmd,
            lock, c->holder);
  }
  dm_error_clear();
  free(dmdir);
  free(lock);
  return rc;
}

static int usage(const char *cmd, const char *help, const char *fmt, const char *arg)
{
  fprintf(stderr, "dmpipe %s: ", cmd);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "; see dmpipe %s --help\n", cmd);
  (void)help;
  return 2;
}

static int run_or_status(int argc, char **argv, int run)
{
  const char *cmd = run ? "run" : "status";
  const char *help = run ? run_help : status_help;
  const char *path = NULL, *workdir = NULL, *only = NULL;
  int json = 0, quiet = 0, nightly = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(help, stdout);
      fputs(dm_pipe_keys_help, stdout);
      return 0;
    } else if (!strcmp(a, "--workdir") && i + 1 < argc) {
      workdir = argv[++i];
    } else if (run && !strcmp(a, "--step") && i + 1 < argc) {
      only = argv[++i];
    } else if (run && !strcmp(a, "--quiet")) {
      quiet = 1;
    } else if (!run && !strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "--nightly")) {
      nightly = 1;
    } else if (a[0] == '-') {
      return usage(cmd, help, "unknown flag or missing value: %s", a);
    } else if (path) {
      return usage(cmd, help, "one pipeline file only (got a second: %s)", a);
    } else {
      path = a;
    }
  }
  if (!path)
    return usage(cmd, help, "%s", "no pipeline file given");
  if (dm_pipe_cli_refuse_mpi(cmd))
    return 1;
  dm_pipe *p = NULL;
  char exe[PATH_MAX];
  if (dm_pipe_cli_load(cmd, path, workdir, &p, exe, sizeof exe))
    return 1;
  p->per_sample = nightly;
  dm_pipe_exec_opts o = {.run = run, .only = only, .quiet = quiet || json, .exe = exe,
                         .cmd = cmd};
  /* The whole graph: one run or nightly per work folder at a time (a single
   * step, as a Slurm job runs it, locks only that step). */
  dm_claim lock = {.fd = -1};
  if (run && !only) {
    int l = dm_pipe_cli_lock(cmd, p, &lock);
    if (l != 0) {
      dm_pipe_free(p);
      return l;
    }
  }
  cJSON *rep = NULL;
  int failed = 0;
  dm_status s = dm_pipe_execute(p, &o, &rep, &failed);
  dm_claim_release(&lock);
  int rc = 0;
  if (s != DM_OK) {
    fprintf(stderr, "dmpipe %s: %s\n", cmd, dm_error_message());
    rc = 1;
  } else if (json) {
    char *t = cJSON_Print(rep);
    if (t)
      puts(t);
    free(t);
  }
  if (s == DM_OK) {
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(rep, "counts");
    const cJSON *ti = cJSON_GetObjectItemCaseSensitive(rep, "total_improvement");
    if (run && !quiet) {
      const cJSON *m;
      cJSON_ArrayForEach(m, ti)
      {
        dm_pipe_ti_line(stdout, m);
      }
    }
    if (!json && !quiet) {
      printf("%s:", run ? "run" : "status");
      const cJSON *x;
      cJSON_ArrayForEach(x, counts) printf(" %d %s", x->valueint, x->string);
      if (run && !only)
        printf(" (%s/run.json)", p->workdir);
      printf("\n");
    }
    if (failed) {
      rc = 1;
      /* One step (a Slurm job): its own exit status, so a training stopped
       * by SIGTERM with its checkpoint (75) is told from a failure. */
      const cJSON *one;
      cJSON_ArrayForEach(one, cJSON_GetObjectItemCaseSensitive(rep, "steps"))
      {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(one, "exit_status");
        if (only && cJSON_IsNumber(x) && x->valueint > 0 && x->valueint < 256)
          rc = x->valueint;
      }
      const cJSON *st;
      cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(rep, "steps"))
      {
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(st, "state");
        if (cJSON_IsString(state) && !strcmp(state->valuestring, "failed"))
          fprintf(stderr, "dmpipe %s: step %s failed; log: %s\n", cmd,
                  cJSON_GetObjectItemCaseSensitive(st, "name")->valuestring,
                  cJSON_GetObjectItemCaseSensitive(st, "log")->valuestring);
      }
    } else if (!run && cJSON_GetObjectItemCaseSensitive(counts, "stale")) {
      rc = 3;
    }
  }
  cJSON_Delete(rep);
  dm_pipe_free(p);
  return rc;
}

int dm_cmd_run(int argc, char **argv, MPI_Comm comm)
{
  (void)comm;
  return run_or_status(argc, argv, 1);
}

int dm_cmd_status(int argc, char **argv, MPI_Comm comm)
{
  (void)comm;
  return run_or_status(argc, argv, 0);
}

int dm_cmd_is_driver(const char *name)
{
  static const char *const drivers[] = {"run", "status", "submit", "nightly", NULL};
  for (int i = 0; drivers[i]; i++)
    if (!strcmp(name, drivers[i]))
      return 1;
  return 0;
}
