/* dmpipe hist: weighted per-process histograms of a store's variables and
 * scores, and the merging of histogram files. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dm_cli_run.h"
#include "dm_cmd.h"
#include "dm_comm.h"
#include "dm_hist_file.h"
#include "dm_hist_stage.h"

static const char help[] =
    "usage: dmpipe hist --in STORE|SEL.h5 --out H.h5 [--scores [NAME=]SCORES.h5 ...]\n"
    "                   [--bins FILE.ini] [--var NAME:NBINS:LO:HI[:log] ...] [options]\n"
    "       dmpipe hist --merge OUT.h5 [--scale-weights W.json] IN.h5 [IN.h5 ...]\n"
    "       dmpipe hist --print-bins\n"
    "\n"
    "Weighted histograms per process of a store's (or a selection's) variables and\n"
    "of model scores: per bin the entries, the sum of weights and the sum of squared\n"
    "weights (statistical error sqrt(sum w^2)), with under- and overflow bins. The\n"
    "sums are exact, so the file is identical on any number of ranks, and merging\n"
    "the files of separate runs (--merge) gives the same bits as one run over all\n"
    "their events. One file per input: the channel is the selection's name (or\n"
    "'all' for a store, or --channel). Format: dmpipe-hist (io/dm_hist_file.h),\n"
    "read by h5py as histograms/<channel>/<variable>/{edges,count,sumw,sumw2}.\n"
    "\n"
    "  --in FILE          store or selection (read only)\n"
    "  --out FILE         histogram file (written as FILE.tmp, then renamed)\n"
    "  --scores [NAME=]F  scores of the same store's events (dmpipe score); variable\n"
    "                     NAME (default score_<model kind>). Only the test split\n"
    "                     (scores/train == 0) is filled when the file has that\n"
    "                     column; otherwise every event, and the histogram says the\n"
    "                     split is unknown. Repeatable (up to 8)\n"
    "  --var SPEC         NAME:NBINS:LO:HI[:log], equal bins in x (or log x) over\n"
    "                     [LO, HI); LO:HI may be auto:auto for scores (the range of\n"
    "                     the filled scores; such files merge only if the ranges\n"
    "                     agree). NAME: ht n_jets n_bjets n_leptons n_photons\n"
    "                     lead_jet_pt met_over_ht m_eff met n_obj (GeV), score (any\n"
    "                     score variable) or a score variable's name. Repeatable\n"
    "  --bins FILE        binnings from an INI file, one [NAME] section with bins,\n"
    "                     lo, hi, log = yes|no (dmpipe hist --print-bins shows the\n"
    "                     format). --var after --bins overrides it per variable.\n"
    "                     Without --var and --bins: the built-in binnings\n"
    "  --only-scores      histogram the scores only\n"
    "  --channel NAME     channel name to record (default: from the input)\n"
    "  --unit-weights     every event weighs 1 (sums of weights = entry counts), for\n"
    "                     --merge --scale-weights\n"
    "  --merge OUT        merge the histogram files given as arguments into OUT\n"
    "                     (same edges per channel and variable; score histograms of\n"
    "                     dmpipe metrics too)\n"
    "  --scale-weights W  with --merge: the inputs were filled with --unit-weights;\n"
    "                     each process p of the merged histograms gets the weight\n"
    "                     w_p of W (the --json of dmpipe weight --lumi: one weight\n"
    "                     per process, sigma L 1000 / N_p). Exact: each bin's sum of\n"
    "                     weights is N_bin x w_p and its sum of squares N_bin x w_p^2\n"
    "                     as exact sums, so the file equals, bit for bit, dmpipe hist\n"
    "                     of the weighted store those events make up. Histograms of\n"
    "                     every event must hold N_p entries of each process (else\n"
    "                     they are not that store's events: an error)\n"
    "  --print-bins       print the built-in binnings as a binning file and exit\n"
    "  --batch N          events per rank per round (default 65536): bounds memory\n"
    "  --quiet            no summary line\n"
    DM_CLI_RUN_HELP
    "  --help             this text\n"
    "\n"
    "Weights: /derived/weight (dmpipe weight) when the store has it, else the\n"
    "archive's /events/weight (with --unit-weights, 1). A process whose weights are not finite gets NaN sums\n"
    "(its counts stay exact). met_over_ht = +inf (no jets) lands in the overflow.\n";

static dm_status add_spec(dm_hist_spec *specs, int *n, const dm_hist_spec *s)
{
  for (int i = 0; i < *n; i++)
    if (!strcmp(specs[i].name, s->name)) {
      specs[i] = *s;
      return DM_OK;
    }
  if (*n >= DM_HIST_MAX_SPECS)
    return dm_error(DM_ERR_ARG, "more than %d binnings", DM_HIST_MAX_SPECS);
  specs[(*n)++] = *s;
  return DM_OK;
}

int dm_cmd_hist(int argc, char **argv, MPI_Comm comm)
{
  static const struct option longopts[] = {
      {"in", required_argument, NULL, 'i'},      {"out", required_argument, NULL, 'o'},
      {"scores", required_argument, NULL, 's'},  {"var", required_argument, NULL, 'v'},
      {"bins", required_argument, NULL, 'B'},    {"only-scores", no_argument, NULL, 'S'},
      {"channel", required_argument, NULL, 'c'}, {"merge", required_argument, NULL, 'm'},
      {"print-bins", no_argument, NULL, 'P'},    {"batch", required_argument, NULL, 'b'},
      {"unit-weights", no_argument, NULL, 'U'},  {"scale-weights", required_argument, NULL, 'W'},
      {"quiet", no_argument, NULL, 'q'},         {"help", no_argument, NULL, 'h'},
      DM_CLI_RUN_LONGOPTS,                       {NULL, 0, NULL, 0}};
  dm_hist_opts o;
  memset(&o, 0, sizeof o);
  dm_cli_run run;
  dm_cli_run_init(&run);
  static dm_hist_spec specs[DM_HIST_MAX_SPECS];
  int n_specs = 0, user_specs = 0, quiet = 0, print_bins = 0;
  const char *merge_out = NULL, *scale_path = NULL;
  int64_t v = 0;
  dm_status s = DM_OK;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'i': o.in_path = optarg; break;
    case 'o': o.out_path = optarg; break;
    case 's': {
      if (o.n_scores >= DM_HIST_MAX_SCORES)
        return dm_cli_usage_error("hist", comm, "at most %d --scores", DM_HIST_MAX_SCORES);
      char *eq = strchr(optarg, '=');
      if (eq) {
        *eq = '\0';
        if (!*optarg || strchr(optarg, '/') || strlen(optarg) >= 64)
          return dm_cli_usage_error("hist", comm, "--scores NAME=FILE: bad NAME '%s'", optarg);
        o.score_names[o.n_scores] = optarg;
        o.scores[o.n_scores++] = eq + 1;
      } else {
        o.scores[o.n_scores++] = optarg;
      }
      break;
    }
    case 'v': {
      dm_hist_spec sp;
      if (dm_hist_spec_parse(optarg, &sp) != DM_OK || add_spec(specs, &n_specs, &sp) != DM_OK)
        return dm_cli_usage_error("hist", comm, "%s", dm_error_message());
      user_specs = 1;
      break;
    }
    case 'B':
      /* Every rank reads the small file; agree so all stop together. */
      s = dm_agree(dm_hist_bins_load(optarg, specs, &n_specs, DM_HIST_MAX_SPECS), comm);
      if (s != DM_OK)
        return dm_cli_finish("hist", s, comm);
      user_specs = 1;
      break;
    case 'S': o.no_physics = 1; break;
    case 'c':
      if (!*optarg || strchr(optarg, '/') || strlen(optarg) >= 64)
        return dm_cli_usage_error("hist", comm, "--channel '%s': 1..63 bytes without '/'",
                                  optarg);
      o.channel = optarg;
      break;
    case 'm': merge_out = optarg; break;
    case 'U': o.unit_weights = 1; break;
    case 'W': scale_path = optarg; break;
    case 'P': print_bins = 1; break;
    case 'b':
      if (dm_cli_i64("--batch", optarg, 1, (int64_t)1 << 28, &v) != DM_OK)
        return dm_cli_usage_error("hist", comm, "%s", dm_error_message());
      o.batch_events = v;
      break;
    case 'q': quiet = 1; break;
    case 'h': return dm_cli_help(help, comm);
    default:
      if (dm_cli_run_is_option(c)) {
        if (dm_cli_run_option(&run, c, optarg) != DM_OK)
          return dm_cli_usage_error("hist", comm, "%s", dm_error_message());
        break;
      }
      return dm_cli_usage_error("hist", comm, "unknown or incomplete option '%s'",
                                argv[optind - 1]);
    }
  }
  if (print_bins) {
    dm_hist_default_specs(specs, &n_specs);
    if (dm_rank(comm) == 0)
      dm_hist_specs_print(stdout, specs, n_specs);
    return 0;
  }
  if (merge_out) {
    if (o.in_path || o.out_path || o.n_scores || user_specs || o.unit_weights)
      return dm_cli_usage_error("hist", comm, "--merge takes only histogram files");
    if (optind >= argc)
      return dm_cli_usage_error("hist", comm, "--merge needs input histogram files");
    dm_hist_scale sc;
    memset(&sc, 0, sizeof sc);
    if (scale_path)
      s = dm_hist_weights_load(scale_path, comm, &sc);
    if (s == DM_OK)
      s = dm_hist_files_merge(merge_out, (const char *const *)(argv + optind), argc - optind,
                              scale_path ? &sc : NULL, comm, dm_cli_command_line());
    dm_hist_scale_free(&sc);
    if (s == DM_OK && !quiet && dm_rank(comm) == 0)
      printf("merged %d histogram files into %s\n", argc - optind, merge_out);
    return dm_cli_finish("hist", s, comm);
  }
  if (optind < argc)
    return dm_cli_usage_error("hist", comm, "unexpected argument '%s'", argv[optind]);
  if (scale_path)
    return dm_cli_usage_error("hist", comm, "--scale-weights goes with --merge");
  if (!o.in_path || !o.out_path)
    return dm_cli_usage_error("hist", comm, "--in and --out are required");
  if (o.no_physics && o.n_scores == 0)
    return dm_cli_usage_error("hist", comm, "--only-scores needs --scores");
  if (!user_specs) {
    dm_hist_default_specs(specs, &n_specs);
  } else {
    /* Scores without a binning of their own take the built-in one. */
    int has_score = 0;
    for (int i = 0; i < n_specs; i++)
      has_score |= !strncmp(specs[i].name, "score", 5);
    dm_hist_spec def[16];
    int nd = 0;
    dm_hist_default_specs(def, &nd);
    for (int i = 0; !has_score && i < nd; i++)
      if (!strcmp(def[i].name, "score") && add_spec(specs, &n_specs, &def[i]) != DM_OK)
        return dm_cli_usage_error("hist", comm, "%s", dm_error_message());
  }
  o.specs = specs;
  o.n_specs = n_specs;
  o.command_line = dm_cli_command_line();
  dm_hist_report rep;
  s = dm_cli_run_setup(&run, comm, &o.progress, &o.progress_interval);
  if (s == DM_OK)
    s = dm_hist_run(&o, comm, &rep);
  if (s == DM_OK && !quiet && dm_rank(comm) == 0)
    printf("wrote %s: %d histograms of channel %s, %lld events, weights from %s, %.2f s\n",
           o.out_path, rep.n_hists, rep.channel, (long long)rep.n_events, rep.weight_source,
           rep.seconds);
  return dm_cli_finish("hist", s, comm);
}
