/* dmpipe train svdd: parse the Deep SVDD flags into the train stage's and the
 * svdd backend's options (the ones shared with train kde in dm_cli_train.c),
 * run the train stage, print the report. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_cli_train.h"
#include "dm_cmd.h"
#include "dm_comm.h"
#include "dm_mem.h"
#include "dm_progress.h"
#include "dm_svdd.h"
#include "dm_train.h"

static const char help[] =
    "usage: dmpipe train svdd --in SEL.h5 --out MODEL.h5 [options]\n"
    "\n"
    "Train a Deep SVDD model (Ruff et al. 2018) on the background events of a store\n"
    "or selection: a multilayer network without bias terms (leaky ReLU hidden layers,\n"
    "linear output) is trained so that training events map close to a fixed centre c\n"
    "(the mean of the first forward pass over all training events); the anomaly score\n"
    "is |phi(x) - c|^2 (dmpipe score --model MODEL.h5). Training is data-parallel:\n"
    "every rank trains on its share of the events and the gradients are summed over\n"
    "ranks at every step; the global batches are the same for any number of ranks, so\n"
    "results agree across rank counts up to float rounding. Matrix products use\n"
    "OpenBLAS with --threads threads per rank (default: the rank's share of its node's\n"
    "cores). Training rows are chosen as for dmpipe train kde. With progress on, rank 0\n"
    "prints an epoch's line at most once per progress interval (--verbose: every epoch).\n"
    "\n"
    DM_CLI_TRAIN_HELP_IO
    "  --features SET        objects (default: the leading K objects' log E, log pT,\n"
    "                        eta, phi and one-hot type, plus MET and its phi: 222\n"
    "                        columns for K = 20) or highlevel (13 event variables)\n"
    DM_CLI_TRAIN_HELP_FEATURES
    "  --hidden LIST         widths of the hidden layers, comma-separated (default\n"
    "                        256,128; 'none' for a single linear layer)\n"
    "  --out-dim D           dimension of the output space (default 13)\n"
    "  --epochs E            passes over the training events (default 20)\n"
    "  --batch B             events per global batch, over all ranks (default 500)\n"
    "  --lr X                Adam learning rate (default 1e-3)\n"
    "  --min-rows-per-rank M\n"
    "                        below M rows per rank per step (B < ranks x M) the\n"
    "                        global batch becomes ranks x M and the learning rate\n"
    "                        grows with it (lr x ranks x M / B, reached linearly over\n"
    "                        --lr-warm-up epochs): fewer, fuller allreduces on many\n"
    "                        ranks. Printed and recorded in the model; 0 = never\n"
    "                        (default 8: unchanged up to 62 ranks at B = 500)\n"
    "  --lr-warm-up E        epochs of that linear warm-up (default 5)\n"
    "  --weight-decay X      L2 weight decay added to the gradient, as PyTorch's\n"
    "                        Adam(weight_decay=X) (default 1e-6)\n"
    "  --milestones A,B,...  epochs at which the learning rate is multiplied by 0.1\n"
    "                        (as MultiStepLR; default none)\n"
    "  --objective OBJ       one-class (mean squared distance; default) or\n"
    "                        soft-boundary (R^2 + mean hinge / nu)\n"
    "  --nu X                soft-boundary: share of training events allowed outside\n"
    "                        the sphere, in (0, 1] (default 0.1)\n"
    "  --warm-up E           soft-boundary: epochs before R is set; afterwards R^2 is\n"
    "                        the (1 - nu) quantile of the epoch's training distances,\n"
    "                        over all ranks (default 10)\n"
    "  --ensemble K          train K networks with seeds S, S+1, ...; the score is\n"
    "                        their mean (default 1)\n"
    "  --seed S              seed of weights, batch order and training rows (default 1)\n"
    "  --checkpoint FILE     training state after every epoch, written atomically\n"
    "                        (default MODEL.h5.ckpt; 'none' to disable). Kept after\n"
    "                        success so a run can be extended with more --epochs\n"
    "  --resume              continue from the checkpoint if it exists (start afresh\n"
    "                        if not): ends with the same weights as an uninterrupted\n"
    "                        run on the same number of ranks and threads. Only\n"
    "                        --epochs may differ from the interrupted run. On\n"
    "                        SIGTERM or SIGUSR1 (Slurm preemption, time limit,\n"
    "                        dmpipe run passing either on) training stops\n"
    "                        after the current epoch's checkpoint (all ranks agree)\n"
    "                        and exits with status 75; --resume continues it\n"
    "  --strict              fail when a network has collapsed (training scores\n"
    "                        nearly constant); without it a warning is printed\n"
    "  --max-train M         fit on at most M training-pool events (0 = all; default 0)\n"
    DM_CLI_TRAIN_HELP_POOL
    "  --read-batch N        events per rank per read (default 65536): bounds memory\n"
    "  --pool-mb M           memory per rank for the training rows (default 4096).\n"
    "                        When a rank's share does not fit, the rows stay in the\n"
    "                        store and every epoch reads them again in windows of\n"
    "                        fixed blocks of events (block order shuffled per epoch,\n"
    "                        rows shuffled inside a window); results then differ\n"
    "                        from the in-memory mode but not with the rank count\n"
    DM_CLI_TRAIN_HELP_JSON
    "  --verbose             one line per epoch on stderr (loss, lr, R, rate)\n"
    DM_CLI_TRAIN_HELP_TAIL;

enum { W = 24 }; /* report label width */

static void print_report(const dm_train_opts *o, const dm_svdd_opts *so, const dm_train_report *r)
{
  dm_cli_train_print_head(o, r, W);
  dm_cli_train_print_features(o, r, W, "network inputs");
  printf("\n");
  cJSON *b = r->backend_info;
  if (b) {
    double n = cJSON_GetNumberValue(cJSON_GetObjectItem(b, "members"));
    printf("  %-*s %lld rows, %.0f member(s) x %.0f epochs (%.0f epochs resumed)\n", W,
           "training", (long long)r->n_train, n,
           cJSON_GetNumberValue(cJSON_GetObjectItem(b, "epochs")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(b, "resumed_epochs")));
    printf("  %-*s %.0f per member\n", W, "parameters",
           cJSON_GetNumberValue(cJSON_GetObjectItem(b, "parameters")));
    double be = cJSON_GetNumberValue(cJSON_GetObjectItem(b, "batch_effective"));
    double le = cJSON_GetNumberValue(cJSON_GetObjectItem(b, "lr_effective"));
    if (be != so->batch)
      printf("  %-*s %.0f (asked %d; %.0f ranks x %.0f rows per rank), lr %g (asked %g) after a "
             "%.0f-epoch warm-up\n", W, "global batch", be, so->batch,
             cJSON_GetNumberValue(cJSON_GetObjectItem(b, "ranks")),
             cJSON_GetNumberValue(cJSON_GetObjectItem(b, "min_rows_per_rank")), le, so->lr,
             cJSON_GetNumberValue(cJSON_GetObjectItem(b, "lr_warm_up")));
    else
      printf("  %-*s %.0f, lr %g\n", W, "global batch", be, le);
    if (r->pool_streamed)
      printf("  %-*s streamed from the store (%.0f MB per rank in memory > --pool-mb %lld): "
             "windows of %.0f blocks of %.0f events\n", W, "training pool",
             (double)r->pool_bytes / 1048576.0, (long long)o->pool_mb,
             cJSON_GetNumberValue(cJSON_GetObjectItem(b, "pool_window_blocks")),
             cJSON_GetNumberValue(cJSON_GetObjectItem(b, "pool_block_events")));
    else
      printf("  %-*s in memory (%.1f MB per rank)\n", W, "training pool",
             (double)r->pool_bytes / 1048576.0);
    printf("  %-*s %.0f events/s, %.1f GFLOP/s (%.2f s)\n", W, "training rate",
           cJSON_GetNumberValue(cJSON_GetObjectItem(b, "train_events_per_s")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(b, "train_gflops")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(b, "train_seconds")));
    const char *cols[] = {"final_loss", "radius", "score_mean", "score_std", "distinct_scores",
                          "collapsed"};
    printf("  %-7s %12s %10s %12s %12s %10s  %s\n", "member", "final loss", "R", "score mean",
           "score std", "distinct", "status");
    for (int k = 0; k < (int)n; k++) {
      double v[6];
      for (int i = 0; i < 6; i++)
        v[i] = cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItem(b, cols[i]), k));
      printf("  %-7d %12.6g %10.4g %12.6g %12.6g %10.0f  %s\n", k, v[0], v[1], v[2], v[3], v[4],
             v[5] != 0 ? "COLLAPSED" : "ok");
    }
  }
  dm_cli_train_print_seconds(r, W);
}

static dm_status write_json(const char *path, const dm_train_opts *o, const dm_svdd_opts *so,
                            const dm_train_report *r, const int64_t *peak_kb, int size)
{
  cJSON *j = dm_cli_train_json(o, r);
  if (j) {
    cJSON_AddStringToObject(j, "objective", dm_svdd_objective_name(so->objective));
    cJSON_AddNumberToObject(j, "batch", so->batch);
    cJSON_AddNumberToObject(j, "lr", so->lr);
    cJSON_AddNumberToObject(j, "seconds_total", r->seconds_total);
    cJSON_AddNumberToObject(j, "seconds_fit", r->seconds_fit);
    cJSON_AddNumberToObject(j, "min_rows_per_rank", so->min_rows_per_rank);
    cJSON_AddNumberToObject(j, "lr_warm_up", so->lr_warm_up);
    cJSON_AddNumberToObject(j, "pool_mb", (double)o->pool_mb);
    cJSON_AddBoolToObject(j, "pool_streamed", r->pool_streamed);
    cJSON_AddNumberToObject(j, "pool_bytes_in_memory", (double)r->pool_bytes);
    /* Peak resident memory of each rank (VmHWM), for checks of the budget. */
    int64_t hi = -1;
    cJSON *a = cJSON_AddArrayToObject(j, "peak_rss_kb_per_rank");
    for (int i = 0; i < size; i++) {
      cJSON_AddItemToArray(a, cJSON_CreateNumber((double)peak_kb[i]));
      hi = peak_kb[i] > hi ? peak_kb[i] : hi;
    }
    cJSON_AddNumberToObject(j, "peak_rss_kb", (double)hi);
    if (r->backend_info)
      cJSON_AddItemToObject(j, "backend", cJSON_Duplicate(r->backend_info, 1));
  }
  dm_status s = dm_cli_write_json(path, j);
  cJSON_Delete(j);
  return s;
}

static dm_status parse_hidden(const char *text, dm_svdd_opts *so)
{
  if (!strcmp(text, "none")) {
    so->n_hidden = 0;
    return DM_OK;
  }
  int64_t v[DM_SVDD_MAX_LAYERS];
  int n = DM_SVDD_MAX_LAYERS - 1;
  DM_FORWARD(dm_cli_i64_list("--hidden", text, 1, 1 << 20, v, &n));
  so->n_hidden = n;
  for (int i = 0; i < n; i++)
    so->hidden[i] = (int)v[i];
  return DM_OK;
}

static dm_status parse_milestones(const char *text, dm_svdd_opts *so)
{
  int64_t v[DM_SVDD_MAX_MILESTONES];
  int n = DM_SVDD_MAX_MILESTONES;
  DM_FORWARD(dm_cli_i64_list("--milestones", text, 1, 1000000, v, &n));
  for (int i = 0; i < n; i++) {
    if (i > 0 && v[i] <= v[i - 1])
      return dm_error(DM_ERR_ARG, "--milestones '%s': epochs must increase", text);
    so->milestones[i] = (int)v[i];
  }
  so->n_milestones = n;
  return DM_OK;
}

/* SIGTERM (Slurm's preemption and time-limit signal, mpirun's stop) or
 * SIGUSR1 (which srun and mpirun pass on to their tasks unchanged, while srun
 * turns SIGTERM into a kill) asks training to stop at the next epoch boundary
 * with its checkpoint written. */
static volatile sig_atomic_t svdd_stop;
static void svdd_on_term(int sig)
{
  (void)sig;
  svdd_stop = 1;
}

/* Exit status of a training stopped by SIGTERM with its state saved (sysexits'
 * EX_TEMPFAIL): a batch script requeues the job, which resumes. */
#define SVDD_EXIT_STOPPED 75

int dm_cmd_train_svdd(int argc, char **argv, MPI_Comm comm)
{
  static const char *cmd = "train svdd";
  static const struct option longopts[] = {
      DM_CLI_TRAIN_LONGOPTS("read-batch"),
      {"hidden", required_argument, NULL, 'H'},
      {"out-dim", required_argument, NULL, 'D'},
      {"epochs", required_argument, NULL, 'E'},
      {"batch", required_argument, NULL, 'B'},
      {"lr", required_argument, NULL, 'l'},
      {"weight-decay", required_argument, NULL, 'W'},
      {"milestones", required_argument, NULL, 'M'},
      {"objective", required_argument, NULL, 'O'},
      {"nu", required_argument, NULL, 'n'},
      {"warm-up", required_argument, NULL, 'u'},
      {"ensemble", required_argument, NULL, 'e'},
      {"checkpoint", required_argument, NULL, 'c'},
      {"resume", no_argument, NULL, 'r'},
      {"strict", no_argument, NULL, 'S'},
      {"verbose", no_argument, NULL, 'v'},
      {"min-rows-per-rank", required_argument, NULL, 'm'},
      {"lr-warm-up", required_argument, NULL, 'w'},
      {"pool-mb", required_argument, NULL, 'P'},
      {NULL, 0, NULL, 0}};
  dm_train_opts o;
  dm_cli_train_common com;
  dm_cli_train_defaults(&o, "svdd", &com, "--read-batch");
  o.features.kind = DM_FEATURES_OBJECTS;
  o.max_train = 0;
  o.pool_mb = 4096;
  dm_svdd_opts so;
  dm_svdd_opts_default(&so);
  const char *ckpt = NULL;
  int64_t v = 0;
  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    dm_status s = DM_OK;
    switch (c) {
    case 'H': s = parse_hidden(optarg, &so); break;
    case 'D':
      s = dm_cli_i64("--out-dim", optarg, 1, 1 << 20, &v);
      so.out_dim = (int)v;
      break;
    case 'E':
      s = dm_cli_i64("--epochs", optarg, 0, 1000000, &v);
      so.epochs = (int)v;
      break;
    case 'B':
      s = dm_cli_i64("--batch", optarg, 1, 1 << 24, &v);
      so.batch = (int)v;
      break;
    case 'l': s = dm_cli_f64("--lr", optarg, 1e-12, 1e3, &so.lr); break;
    case 'W': s = dm_cli_f64("--weight-decay", optarg, 0.0, 1e3, &so.weight_decay); break;
    case 'M': s = parse_milestones(optarg, &so); break;
    case 'O':
      s = dm_svdd_objective_parse(optarg, &so.objective);
      if (s != DM_OK)
        s = dm_error(DM_ERR_ARG, "--objective '%s': expected one-class or soft-boundary",
                     optarg);
      break;
    case 'n': s = dm_cli_f64("--nu", optarg, 1e-9, 1.0, &so.nu); break;
    case 'u':
      s = dm_cli_i64("--warm-up", optarg, 0, 1000000, &v);
      so.warm_up = (int)v;
      break;
    case 'e':
      s = dm_cli_i64("--ensemble", optarg, 1, DM_SVDD_MAX_ENSEMBLE, &v);
      so.ensemble = (int)v;
      break;
    case 'c': ckpt = optarg; break;
    case 'r': so.resume = 1; break;
    case 'S': so.strict = 1; break;
    case 'v': so.verbose = 1; break;
    case 'm':
      s = dm_cli_i64("--min-rows-per-rank", optarg, 0, 1 << 24, &v);
      so.min_rows_per_rank = (int)v;
      break;
    case 'w':
      s = dm_cli_i64("--lr-warm-up", optarg, 0, 1000000, &v);
      so.lr_warm_up = (int)v;
      break;
    case 'P': s = dm_cli_i64("--pool-mb", optarg, 1, (int64_t)1 << 30, &o.pool_mb); break;
    case DM_CLI_TRAIN_HELP: return dm_cli_help(help, comm);
    default:
      if (!dm_cli_train_is_option(c))
        return dm_cli_usage_error(cmd, comm, "unknown or incomplete option '%s'",
                                  argv[optind - 1]);
      s = dm_cli_train_option(c, optarg, &o, &com);
    }
    if (s != DM_OK)
      return dm_cli_usage_error(cmd, comm, "%s", dm_error_message());
  }
  int bad = dm_cli_train_check_args(cmd, argc, argv, &o, comm);
  if (bad)
    return bad;
  if (!ckpt)
    snprintf(so.checkpoint, sizeof so.checkpoint, "%s.ckpt", o.out_path);
  else if (strcmp(ckpt, "none") != 0)
    snprintf(so.checkpoint, sizeof so.checkpoint, "%s", ckpt);
  if (so.resume && !so.checkpoint[0])
    return dm_cli_usage_error(cmd, comm, "--resume needs a checkpoint (not --checkpoint none)");
  if (dm_svdd_opts_check(&so) != DM_OK)
    return dm_cli_usage_error(cmd, comm, "%s", dm_error_message());
  o.backend_opts = &so;
  o.command_line = dm_cli_command_line();
  dm_train_report rep;
  memset(&rep, 0, sizeof rep);
  if (so.checkpoint[0]) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = svdd_on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    so.stop = &svdd_stop;
  }
  dm_status s = dm_cli_run_setup(&com.run, comm, &o.progress, &o.progress_interval);
  /* The fit's progress is one line per epoch, no more often than the
   * progress interval (the reading phase reports through the train stage). */
  if (o.progress)
    so.progress_interval = o.progress_interval > 0 ? o.progress_interval
                           : o.progress == DM_PROGRESS_LOG ? DM_PROGRESS_LOG_INTERVAL
                                                           : DM_PROGRESS_TERMINAL_INTERVAL;
  if (s == DM_OK)
    s = dm_train_run(&o, comm, &rep);
  int size = dm_size(comm);
  int64_t *peak = calloc((size_t)size, sizeof *peak);
  if (dm_alltrue(peak != NULL, comm))
    dm_mem_peak_kb_all(comm, peak);
  else {
    free(peak);
    peak = NULL;
  }
  if (s == DM_OK && dm_rank(comm) == 0) {
    if (!com.quiet)
      print_report(&o, &so, &rep);
    if (com.json)
      s = peak ? write_json(com.json, &o, &so, &rep, peak, size)
               : dm_error(DM_ERR_NOMEM, "no memory for the report");
  }
  free(peak);
  dm_train_report_free(&rep);
  int stopped = 0, mine = s != DM_OK && svdd_stop;
  MPI_Allreduce(&mine, &stopped, 1, MPI_INT, MPI_MAX, comm);
  int rc = dm_cli_finish(cmd, s, comm);
  return stopped && rc ? SVDD_EXIT_STOPPED : rc;
}
