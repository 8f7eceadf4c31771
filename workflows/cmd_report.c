/* dmpipe report: an HTML report with figures from a run's outputs.
 *
 * The division of work: a Python program in the repository
 * (workflows/report/dmpipe_report.py, matplotlib) finds the run's outputs by
 * content and draws; this command fills the per-channel histograms in
 * parallel (the hist stage: the only per-event pass over the stores), and
 * keeps every rank together. Python runs on rank 0 only; its exit status is
 * broadcast, so every rank leaves through the same door. */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dm_cmd.h"
#include "dm_comm.h"
#include "dm_hist_stage.h"
#include "dm_text.h"

#ifndef DM_REPORT_PROGRAM
#define DM_REPORT_PROGRAM ""
#endif
#ifndef DM_REPORT_PYTHON
#define DM_REPORT_PYTHON "python3"
#endif
#ifndef DM_REPORT_PLUGIN_DIR
#define DM_REPORT_PLUGIN_DIR ""
#endif

static const char help[] =
    "usage: dmpipe report --in WORKDIR|PIPELINE.yaml --out DIR [options]\n"
    "\n"
    "Writes a self-contained report of a run: DIR/index.html with PNG figures beside\n"
    "it (no external URLs; open it offline) and DIR/data/ with the histograms drawn.\n"
    "Inputs are found by content anywhere under WORKDIR (or the 'workdir:' of a\n"
    "pipeline file): dmpipe stores, selections and scores files by their format\n"
    "attributes; cutflow, metrics and bumphunt JSON by their shape. Per channel\n"
    "(selection): stacked weighted distributions per process of H_T, MET, MET/H_T,\n"
    "jet and lepton counts, leading-jet pT, ... (log y, signals as lines, bands of\n"
    "sqrt(sum w^2)); the cutflow as a process x cut table with cumulative\n"
    "efficiencies and errors; per scores file the score distributions, ROC curves\n"
    "(unresolved region shaded) and SI against eps_B on the test split (or all\n"
    "events, saying the split is unknown). Then the total improvement beside the\n"
    "published challenge models, the bump-hunt spectrum and significance, and the\n"
    "provenance of every file. A missing piece is said in the page, not fatal.\n"
    "A set of 'dmpipe dataset' is read through its manifest.json: one section per\n"
    "channel with its train and test parts added, the signals at the same\n"
    "luminosity, the channel's cutflow, and per model (scores grouped by the model\n"
    "they name) the test background against each signal file.\n"
    "The histograms are filled here, in parallel (as dmpipe hist); the figures are\n"
    "drawn by workflows/report/dmpipe_report.py with matplotlib on rank 0.\n"
    "DIR is written as DIR.tmp and moved into place when complete.\n"
    "\n"
    "  --in PATH            run folder, or a pipeline YAML file with 'workdir:'\n"
    "  --out DIR            report folder (an earlier report there is replaced)\n"
    "  --bins FILE          binnings of the distributions (dmpipe hist --print-bins)\n"
    "  --python PATH        Python 3 with numpy, h5py, matplotlib, yaml (default\n"
    "                       " DM_REPORT_PYTHON ")\n"
    "  --program FILE       the report program (default: found beside dmpipe, else\n"
    "                       the source tree's workflows/report/dmpipe_report.py)\n"
    "  --roc-max-events N   read at most about N events per scores file for the ROC\n"
    "                       curves (every k-th event beyond; default 20000000)\n"
    "  --batch N            events per rank per round while filling (default 65536)\n"
    "  --help               this text\n";

/* The report program: the flag, else beside the executable (installed:
 * PREFIX/bin/dmpipe -> PREFIX/share/dmpipe/report; build tree:
 * SRC/build/bin/dmpipe -> SRC/workflows/report), else the configured path. */
static int find_program(const char *flag, char *out, size_t cap)
{
  if (flag) {
    snprintf(out, cap, "%s", flag);
    return access(out, R_OK) == 0;
  }
  char exe[PATH_MAX - 64];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
      *slash = '\0';
    const char *rel[2] = {"/../share/dmpipe/report/dmpipe_report.py",
                          "/../../workflows/report/dmpipe_report.py"};
    for (int i = 0; i < 2; i++) {
      snprintf(out, cap, "%s%s", exe, rel[i]);
      if (access(out, R_OK) == 0)
        return 1;
    }
  }
  snprintf(out, cap, "%s", DM_REPORT_PROGRAM);
  return out[0] && access(out, R_OK) == 0;
}

/* Rank 0: run PYTHON PROGRAM args..., wait; its exit status (127: could not
 * be started). stdout/stderr are the command's. */
static int run_python(const char *python, const char *program, const char *const *args)
{
  const char *argv[16];
  int k = 0;
  argv[k++] = python;
  argv[k++] = program;
  for (int i = 0; args[i] && k < 15; i++)
    argv[k++] = args[i];
  argv[k] = NULL;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0)
    return 127;
  if (pid == 0) {
    /* The stores need the zstd filter; our own plugin when none is set. */
    if (DM_REPORT_PLUGIN_DIR[0])
      setenv("HDF5_PLUGIN_PATH", DM_REPORT_PLUGIN_DIR, 0);
    execvp(python, (char *const *)argv);
    fprintf(stderr, "dmpipe report: cannot run %s: %s\n", python, strerror(errno));
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return 127;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

/* Every rank: the python step's status from rank 0, as an agreed dm_status. */
static dm_status python_step(int rank, const char *python, const char *program,
                             const char *const *args, const char *what, MPI_Comm comm)
{
  int rc = 0;
  if (rank == 0)
    rc = run_python(python, program, args);
  if (MPI_Bcast(&rc, 1, MPI_INT, 0, comm) != MPI_SUCCESS)
    return dm_error(DM_ERR_MPI, "broadcast of the report program's status failed");
  if (rc == 0)
    return DM_OK;
  if (rc == 127)
    return dm_error(DM_ERR_ARG, "cannot run %s (install python3 and python3-matplotlib, or pass "
                                "--python)", python);
  if (rc == 3)
    return dm_error(DM_ERR_ARG, "%s lacks a package the report needs (see above)", python);
  return dm_error(DM_ERR_IO, "%s failed (exit %d; see above)", what, rc);
}

/* Fill the histograms the plan asks for; a channel that fails is reported
 * in the page (hist_errors.json), not fatal. */
static dm_status fill_hists(const char *staging, const dm_hist_spec *specs, int n_specs,
                            int64_t batch, MPI_Comm comm)
{
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/data/plan.json", staging);
  char *text = NULL;
  size_t len = 0;
  DM_FORWARD(dm_text_read_bcast(path, "report plan", (size_t)1 << 30, comm, &text, &len));
  cJSON *plan = cJSON_ParseWithLength(text, len);
  free(text);
  cJSON *jobs = cJSON_GetObjectItemCaseSensitive(plan, "hist_jobs");
  if (!cJSON_IsArray(jobs)) {
    cJSON_Delete(plan);
    return dm_error(DM_ERR_FORMAT, "%s: no hist_jobs list", path);
  }
  cJSON *errs = cJSON_CreateObject();
  dm_status s = DM_OK;
  cJSON *job;
  cJSON_ArrayForEach(job, jobs)
  {
    dm_hist_opts o;
    memset(&o, 0, sizeof o);
    o.in_path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "in"));
    o.out_path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "out"));
    o.channel = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "channel"));
    cJSON *sc, *scs = cJSON_GetObjectItemCaseSensitive(job, "scores");
    cJSON_ArrayForEach(sc, scs)
    {
      if (o.n_scores >= DM_HIST_MAX_SCORES)
        break;
      o.score_names[o.n_scores] = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sc, "name"));
      o.scores[o.n_scores++] = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sc, "path"));
    }
    if (!o.in_path || !o.out_path || !o.channel) {
      s = dm_error(DM_ERR_FORMAT, "%s: a hist job lacks in, out or channel", path);
      break;
    }
    o.specs = specs;
    o.n_specs = n_specs;
    o.batch_events = batch;
    o.command_line = dm_cli_command_line();
    dm_hist_report rep;
    dm_status hs = dm_hist_run(&o, comm, &rep);
    if (hs != DM_OK) {
      const char *msg = dm_error_message();
      if (hs != DM_ERR_REMOTE)
        fprintf(stderr, "dmpipe report: channel %s: %s (the page says so)\n", o.channel, msg);
      cJSON_AddStringToObject(errs, o.channel,
                              hs == DM_ERR_REMOTE ? "failed on another rank (see its message)"
                                                  : msg);
      dm_error_clear();
    }
  }
  if (s == DM_OK && cJSON_GetArraySize(errs) > 0) {
    snprintf(path, sizeof path, "%s/data/hist_errors.json", staging);
    s = dm_cli_write_json_agreed(path, errs, comm);
  }
  cJSON_Delete(errs);
  cJSON_Delete(plan);
  return dm_agree(s, comm);
}

int dm_cmd_report(int argc, char **argv, MPI_Comm comm)
{
  static const struct option longopts[] = {
      {"in", required_argument, NULL, 'i'},     {"out", required_argument, NULL, 'o'},
      {"bins", required_argument, NULL, 'B'},   {"python", required_argument, NULL, 'y'},
      {"program", required_argument, NULL, 'g'}, {"roc-max-events", required_argument, NULL, 'r'},
      {"batch", required_argument, NULL, 'b'},  {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *in = NULL, *out = NULL, *bins = NULL, *python = DM_REPORT_PYTHON,
             *program_flag = NULL, *roc_max = "20000000";
  int64_t batch = 0, v = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'i': in = optarg; break;
    case 'o': out = optarg; break;
    case 'B': bins = optarg; break;
    case 'y': python = optarg; break;
    case 'g': program_flag = optarg; break;
    case 'r':
      if (dm_cli_i64("--roc-max-events", optarg, 1000, INT64_C(1) << 40, &v) != DM_OK)
        return dm_cli_usage_error("report", comm, "%s", dm_error_message());
      roc_max = optarg;
      break;
    case 'b':
      if (dm_cli_i64("--batch", optarg, 1, (int64_t)1 << 28, &batch) != DM_OK)
        return dm_cli_usage_error("report", comm, "%s", dm_error_message());
      break;
    case 'h': return dm_cli_help(help, comm);
    default:
      return dm_cli_usage_error("report", comm, "unknown or incomplete option '%s'",
                                argv[optind - 1]);
    }
  }
  if (optind < argc)
    return dm_cli_usage_error("report", comm, "unexpected argument '%s'", argv[optind]);
  if (!in || !out)
    return dm_cli_usage_error("report", comm, "--in and --out are required");
  char outdir[PATH_MAX - 16], staging[PATH_MAX];
  snprintf(outdir, sizeof outdir, "%s", out);
  for (size_t l = strlen(outdir); l > 1 && outdir[l - 1] == '/'; l--)
    outdir[l - 1] = '\0';
  snprintf(staging, sizeof staging, "%s.tmp", outdir);

  static dm_hist_spec specs[DM_HIST_MAX_SPECS];
  int n_specs = 0;
  dm_hist_default_specs(specs, &n_specs);
  dm_status s = DM_OK;
  if (bins) {
    /* The file's binnings replace the defaults of the same variables. */
    s = dm_agree(dm_hist_bins_load(bins, specs, &n_specs, DM_HIST_MAX_SPECS), comm);
    if (s != DM_OK)
      return dm_cli_finish("report", s, comm);
  }
  /* Where the program is is decided on rank 0 and agreed. */
  int rank = dm_rank(comm);
  char program[PATH_MAX] = "";
  int found = rank == 0 ? find_program(program_flag, program, sizeof program) : 0;
  if (MPI_Bcast(&found, 1, MPI_INT, 0, comm) != MPI_SUCCESS)
    return dm_cli_finish("report", dm_error(DM_ERR_MPI, "broadcast failed"), comm);
  if (!found) {
    if (rank == 0)
      s = dm_error(DM_ERR_IO,
                   "cannot find the report program %s (pass --program "
                   "workflows/report/dmpipe_report.py)",
                   program_flag ? program_flag : "dmpipe_report.py");
    else
      s = dm_error(DM_ERR_REMOTE, "rank 0 cannot find the report program");
    return dm_cli_finish("report", s, comm);
  }
  const char *discover[] = {"--discover", "--in", in, "--out", outdir, "--staging", staging,
                            NULL};
  s = python_step(rank, python, program, discover, "finding the run's outputs", comm);
  if (s == DM_OK)
    s = fill_hists(staging, specs, n_specs, batch, comm);
  const char *render[] = {"--render", "--out", outdir, "--staging", staging,
                          "--roc-max-events", roc_max, NULL};
  if (s == DM_OK)
    s = python_step(rank, python, program, render, "drawing the report", comm);
  s = dm_agree(s, comm);
  if (s != DM_OK && rank == 0 && access(staging, F_OK) == 0)
    nftw(staging, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return dm_cli_finish("report", s, comm);
}
