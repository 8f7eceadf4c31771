/* dmpipe train: "train kde" (and the plumbing model "train null") here;
 * "train svdd" is dispatched to cmd_train_svdd.c; the options both share are
 * in dm_cli_train.c. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "dm_cli_train.h"
#include "dm_cmd.h"
#include "dm_comm.h"
#include "dm_kde.h"
#include "dm_train.h"

static const char help[] =
    "usage: dmpipe train kde --in SEL.h5 --out MODEL.h5 [options]\n"
    "       dmpipe train svdd --help       (Deep SVDD: its own options)\n"
    "       dmpipe train null --in SEL.h5 --out MODEL.h5   (scores 0; for tests)\n"
    "\n"
    "Fit an exact Gaussian kernel density estimate on the background events of a\n"
    "store or selection; the anomaly score of an event is -log p(x) (dmpipe score).\n"
    "Training pool: the first --train-fraction of each background (SM) process's\n"
    "events in store order (--split), the rest held out; standardisation (and PCA) are fitted\n"
    "on the whole pool; the KDE's reference sample is at most --max-train pool\n"
    "events, those with the smallest hash(seed, event index): the same rows for\n"
    "any number of ranks.\n"
    "\n"
    DM_CLI_TRAIN_HELP_IO
    "  --features SET        highlevel (13 columns: log H_T, MET, m_eff, MET/H_T,\n"
    "                        object counts, leading pTs; default) or objects (the\n"
    "                        leading K objects: log E, log pT, eta, phi, one-hot\n"
    "                        type, zero-padded, plus MET and MET phi)\n"
    DM_CLI_TRAIN_HELP_FEATURES
    "  --bandwidth B         scott, silverman, cv or a number (in standardised\n"
    "                        units; default scott)\n"
    "  --cv-folds K          folds of the cross-validation (default 5)\n"
    "  --cv-grid G           bandwidth grid points (default 13)\n"
    "  --cv-range LO,HI      grid from LO to HI times Scott's bandwidth, log-spaced\n"
    "                        (default 0.25,2)\n"
    "  --cv-rows N           at most N reference rows take part in cv (default 20000)\n"
    "  --max-train M         reference sample size; 0 = the whole pool (default\n"
    "                        100000)\n"
    DM_CLI_TRAIN_HELP_POOL
    "  --seed S              seed of the subsample and cv folds (default 1)\n"
    "  --batch N             events per rank per read (default 65536): bounds memory;\n"
    "                        read in pieces of at most 262144 objects\n"
    DM_CLI_TRAIN_HELP_JSON
    DM_CLI_TRAIN_HELP_TAIL;

enum { W = 28 }; /* report label width */

static void print_report(const dm_train_opts *o, const dm_train_report *r)
{
  dm_cli_train_print_head(o, r, W);
  printf("  %-*s %lld\n", W, "rows fitted", (long long)r->n_train);
  dm_cli_train_print_features(o, r, W, "model inputs");
  if (o->pca_dim > 0)
    printf(" (PCA keeps %.2f%% of the variance)", 100.0 * r->pca_explained);
  printf("\n");
  cJSON *bw = r->backend_info ? cJSON_GetObjectItem(r->backend_info, "bandwidth") : NULL;
  cJSON *rule = r->backend_info ? cJSON_GetObjectItem(r->backend_info, "bandwidth_rule") : NULL;
  if (bw && rule)
    printf("  %-*s %.6g (%s)\n", W, "bandwidth", bw->valuedouble, rule->valuestring);
  cJSON *cv = r->backend_info ? cJSON_GetObjectItem(r->backend_info, "cv") : NULL;
  if (cv) {
    cJSON *f = cJSON_GetObjectItem(cv, "factor"), *l = cJSON_GetObjectItem(cv, "mean_heldout_loglik");
    printf("  cross-validation (factor x Scott -> mean held-out log p):\n");
    for (int i = 0; f && l && i < cJSON_GetArraySize(f); i++)
      printf("    %8.4f  %12.6f\n", cJSON_GetArrayItem(f, i)->valuedouble,
             cJSON_GetArrayItem(l, i)->valuedouble);
    cJSON *edge = cJSON_GetObjectItem(cv, "best_at_grid_edge");
    if (edge && cJSON_IsTrue(edge))
      printf("    note: the best bandwidth is at the edge of the grid (--cv-range)\n");
  }
  dm_cli_train_print_seconds(r, W);
}

static dm_status write_json(const char *path, const dm_train_opts *o, const dm_train_report *r)
{
  cJSON *j = dm_cli_train_json(o, r);
  if (j) {
    cJSON_AddNumberToObject(j, "pca_explained", r->pca_explained);
    cJSON_AddNumberToObject(j, "seconds_total", r->seconds_total);
    if (r->backend_info)
      cJSON_AddItemToObject(j, "backend", cJSON_Duplicate(r->backend_info, 1));
  }
  dm_status s = dm_cli_write_json(path, j);
  cJSON_Delete(j);
  return s;
}

int dm_cmd_train(int argc, char **argv, MPI_Comm comm)
{
  if (argc >= 2 && !strcmp(argv[1], "svdd"))
    return dm_cmd_train_svdd(argc - 1, argv + 1, comm);
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
    return argc < 2 ? dm_cli_usage_error("train", comm, "name a model: kde, svdd or null")
                    : dm_cli_help(help, comm);
  const char *model = argv[1];
  if (strcmp(model, "kde") && strcmp(model, "null"))
    return dm_cli_usage_error("train", comm, "unknown model '%s' (kde, svdd, null)", model);
  argc--;
  argv++;
  static const struct option longopts[] = {
      DM_CLI_TRAIN_LONGOPTS("batch"),
      {"bandwidth", required_argument, NULL, 'w'},
      {"cv-folds", required_argument, NULL, 'F'},
      {"cv-grid", required_argument, NULL, 'G'},
      {"cv-range", required_argument, NULL, 'R'},
      {"cv-rows", required_argument, NULL, 'N'},
      {NULL, 0, NULL, 0}};
  dm_train_opts o;
  dm_cli_train_common com;
  dm_cli_train_defaults(&o, model, &com, "--batch");
  o.max_train = 100000;
  dm_kde_opts ko;
  dm_kde_opts_default(&ko);
  int64_t v = 0;
  double range[2];
  int nr = 2;
  opterr = 0;
  optind = 1;
  int c;
  const char *cmd = !strcmp(model, "kde") ? "train kde" : "train null";
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    dm_status s = DM_OK;
    switch (c) {
    case 'w': s = dm_kde_bandwidth_parse(optarg, &ko); break;
    case 'F':
      s = dm_cli_i64("--cv-folds", optarg, 2, 100, &v);
      ko.cv_folds = (int)v;
      break;
    case 'G':
      s = dm_cli_i64("--cv-grid", optarg, 2, 1000, &v);
      ko.cv_grid = (int)v;
      break;
    case 'R':
      s = dm_cli_f64_list("--cv-range", optarg, 1e-6, 1e6, range, &nr);
      if (s == DM_OK && (nr != 2 || !(range[0] < range[1])))
        s = dm_error(DM_ERR_ARG, "--cv-range '%s': expected LO,HI with LO < HI", optarg);
      ko.cv_lo = range[0];
      ko.cv_hi = range[1];
      nr = 2;
      break;
    case 'N': s = dm_cli_i64("--cv-rows", optarg, 4, (int64_t)1 << 40, &ko.cv_rows); break;
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
  o.backend_opts = !strcmp(model, "kde") ? &ko : NULL;
  o.command_line = dm_cli_command_line();
  dm_train_report rep;
  memset(&rep, 0, sizeof rep);
  dm_status s = dm_cli_run_setup(&com.run, comm, &o.progress, &o.progress_interval);
  if (s == DM_OK)
    s = dm_train_run(&o, comm, &rep);
  if (s == DM_OK && dm_rank(comm) == 0) {
    if (!com.quiet)
      print_report(&o, &rep);
    if (com.json)
      s = write_json(com.json, &o, &rep);
  }
  dm_train_report_free(&rep);
  return dm_cli_finish(cmd, s, comm);
}
