/* dmpipe dataset hackathon|secret: the challenge's datasets from a store.
 * A chain of two stages per channel: select (the one selection routine),
 * then the dataset stage on the selection. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dm_cmd.h"
#include "dm_comm.h"
#include "dm_cuts.h"
#include "dm_dataset.h"
#include "dm_derived.h"
#include "dm_h5.h"
#include "dm_select.h"

static const char help_top[] =
    "usage: dmpipe dataset hackathon --in STORE.h5 --out DIR [options]\n"
    "       dmpipe dataset secret --in STORE.h5 --out DIR --channel CH --inject NAME=MU[,...]\n"
    "                             [options]\n"
    "\n"
    "The challenge's datasets from one store: a hackathon set (unit-weight background\n"
    "at a luminosity, shuffled and split, signals beside it, a manifest) or a blinded\n"
    "secret set (background and injected signals, decoys, IDs and labels hidden, the\n"
    "labels sealed in a separate file). dmpipe dataset hackathon --help and dmpipe\n"
    "dataset secret --help document each.\n";

static const char help_hackathon[] =
    "usage: dmpipe dataset hackathon --in STORE.h5 --out DIR\n"
    "                                [--channels chan1,chan2a,chan2b,chan3]\n"
    "                                [--lumi L|max] [--signals bsm|NAMES] [--train-fraction 0.9]\n"
    "                                [--seed S] [--xsec FILE] [options]\n"
    "\n"
    "Per channel (selected with the challenge's cuts, as dmpipe select does):\n"
    "  background: unit-weight SM events at luminosity L. Process p expects\n"
    "    mu_p = (sum of the weights of its selected events) x L / L_w events, the\n"
    "    weights being /derived/weight (dmpipe weight; L_w its lumi_fb) when the store\n"
    "    has it, else the archive's /events/weight at L_w = --weight-lumi. It gets\n"
    "    floor(mu_p + 1/2) events drawn without replacement (seeded); a process with\n"
    "    fewer selected events is an error naming it. --lumi max takes the largest L\n"
    "    (3 significant digits) every SM process allows and names the limiting one.\n"
    "  The background is shuffled (seeded); its first floor(f N + 1/2) events train,\n"
    "    the rest test: DIR/background_<chan>_<L>.csv (archive format, shuffled\n"
    "    order, weight 1, event and process IDs kept), and the stores\n"
    "    DIR/background_<chan>_<L>_train.h5 and _test.h5.\n"
    "  Signals: every selected event of each signal as DIR/<signal>_<chan>.csv and\n"
    "    .h5, in store order, weight w / (1000 L_w) pb (the archive's sigma/N_lines).\n"
    "DIR/manifest.json lists every file with its role (background, train, test,\n"
    "signal), channel, luminosity, events per process, size and XXH3-128 checksum,\n"
    "plus the seed, the parent store's checksum and the command line.\n"
    "DIR/cutflow_<chan>.json keeps each channel's cutflow. CSV files and the\n"
    "manifest are byte-identical for any number of ranks.\n"
    "\n"
    "  --in FILE            store (dmpipe ingest), read only\n"
    "  --out DIR            output folder (created if missing)\n"
    "  --channels LIST      challenge channels (default chan1,chan2a,chan2b,chan3)\n"
    "  --lumi L|max         luminosity in fb^-1 (default max, per channel)\n"
    "  --signals bsm|NAMES  signal processes: the BSM ones of the process table\n"
    "                       (default) or a comma-separated list\n"
    "  --train-fraction F   training share of the background, (0, 1] (default 0.9)\n"
    "  --seed S             seed of the draws and the shuffle (default 1)\n"
    "  --xsec FILE          process table telling SM from BSM (default: the shipped\n"
    "                       data/processes.csv); every process of the store must be in it\n"
    "  --weight-lumi L      luminosity of /events/weight (default 10, the archive's)\n"
    "  --batch N            events per rank per round of output (default 65536):\n"
    "                       bounds the memory of the exchange\n"
    "  --keep-selections    keep DIR/selection_<chan>.h5 (removed by default)\n"
    "  --quiet              do not print the table\n"
    "  --help               this text\n";

static const char help_secret[] =
    "usage: dmpipe dataset secret --in STORE.h5 --out DIR --channel CH [--lumi L|max]\n"
    "                             --inject NAME=MU[,...] [--decoys F] [--exclude MANIFEST.json]\n"
    "                             [--seed S] [options]\n"
    "\n"
    "A blinded dataset of one channel. Background as for the hackathon set (rates\n"
    "from all selected events, draws from the events not excluded); each injected\n"
    "signal with floor(MU x mu_s + 1/2) events, mu_s its expected count at L. Decoys\n"
    "make a fraction F of the file: copies of real events of the set chosen\n"
    "uniformly, rotated in phi by a uniform angle and reflected eta -> -eta with\n"
    "probability 1/2 (exact symmetries of the collisions, the detector and the\n"
    "cuts, so they are distributed exactly as real events), angles rounded to the\n"
    "archive's 6 digits; no evaluation counts them. --exclude keeps every event\n"
    "(process, event ID) of a hackathon set's stores out, so the two sets are\n"
    "independent. Everything is shuffled, IDs renumbered 1..N, the process field is\n"
    "'unlabeled', every weight 1.\n"
    "  DIR/unlabeled_<chan>.csv and .h5   for participants; the store's attribute\n"
    "                                     labels_sha256 commits to the labels\n"
    "  DIR/labels_<chan>.h5               for the organisers: event ID -> process and\n"
    "                                     kind (background, signal, decoy), the seed\n"
    "\n"
    "  --in FILE            store, read only\n"
    "  --out DIR            output folder (created if missing)\n"
    "  --channel CH         challenge channel\n"
    "  --lumi L|max         luminosity in fb^-1 (default max)\n"
    "  --inject LIST        NAME=MU,...: signals and their signal strengths (MU >= 0)\n"
    "  --decoys F           decoy fraction of the file, [0, 0.9] (default 0.1)\n"
    "  --exclude FILE       manifest.json of a hackathon set from the same store\n"
    "  --seed S             seed (default: drawn from the system's entropy and\n"
    "                       recorded only in the labels file; the seed is what keeps\n"
    "                       the labels secret, since the parent store may be public)\n"
    "  --xsec FILE          process table (as for hackathon)\n"
    "  --weight-lumi L      luminosity of /events/weight (default 10)\n"
    "  --batch N            events per rank per round (default 65536)\n"
    "  --keep-selections    keep DIR/selection_<chan>.h5\n"
    "  --quiet              do not print the table (it names the injection)\n"
    "  --help               this text\n";

/* Rank 0 makes the folder; every rank learns the outcome. */
static dm_status make_dir(const char *dir, MPI_Comm comm)
{
  dm_status s = DM_OK;
  if (dm_rank(comm) == 0 && mkdir(dir, 0777) != 0 && errno != EEXIST)
    s = dm_error(DM_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
  return dm_agree(s, comm);
}

/* The channel's selection, with its cutflow kept beside the dataset. */
static dm_status select_channel(const char *in, const char *dir, const char *chan,
                                const char *xsec, char *sel_path, MPI_Comm comm)
{
  dm_cutset cs;
  DM_FORWARD(dm_cuts_channel(chan, &cs));
  char cf[DM_PATH_MAX];
  if (snprintf(sel_path, DM_PATH_MAX, "%s/selection_%s.h5", dir, chan) >= DM_PATH_MAX ||
      snprintf(cf, sizeof cf, "%s/cutflow_%s.json", dir, chan) >= (int)sizeof cf)
    return dm_error(DM_ERR_ARG, "path too long: %s", dir);
  dm_select_opts so;
  memset(&so, 0, sizeof so);
  so.in_path = in;
  so.out_path = sel_path;
  so.cutflow_path = cf;
  so.cuts = &cs;
  so.xsec_path = xsec;
  so.command_line = dm_cli_command_line();
  dm_select_report sr;
  dm_status s = dm_select_run(&so, comm, &sr);
  dm_select_report_free(&sr);
  return s;
}

static void remove_selection(const char *sel_path, MPI_Comm comm)
{
  if (dm_rank(comm) == 0 && sel_path[0]) {
    /* The selection and its derived-column files (listed before the store
     * goes: they are found through it). */
    char *side = dm_derived_side_files(sel_path);
    unlink(sel_path);
    dm_derived_remove_listed(side);
    free(side);
  }
  MPI_Barrier(comm);
}

static dm_status parse_lumi(const char *text, double *lumi)
{
  if (!strcmp(text, "max")) {
    *lumi = 0;
    return DM_OK;
  }
  return dm_cli_f64("--lumi", text, 1e-12, 1e12, lumi);
}

static int cmd_hackathon(int argc, char **argv, MPI_Comm comm)
{
  static const struct option longopts[] = {
      {"in", required_argument, NULL, 'i'},          {"out", required_argument, NULL, 'o'},
      {"channels", required_argument, NULL, 'c'},    {"lumi", required_argument, NULL, 'l'},
      {"signals", required_argument, NULL, 's'},
      {"train-fraction", required_argument, NULL, 'f'},
      {"seed", required_argument, NULL, 'S'},        {"xsec", required_argument, NULL, 'x'},
      {"weight-lumi", required_argument, NULL, 'w'}, {"batch", required_argument, NULL, 'b'},
      {"keep-selections", no_argument, NULL, 'k'},   {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0}};
  dm_dataset_hackathon_opts o;
  dm_dataset_hackathon_opts_default(&o);
  const char *in = NULL, *channels = "chan1,chan2a,chan2b,chan3";
  int keep = 0, quiet = 0, c;
  int64_t v = 0;
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    dm_status s = DM_OK;
    switch (c) {
    case 'i': in = optarg; break;
    case 'o': o.out_dir = optarg; break;
    case 'c': channels = optarg; break;
    case 'l': s = parse_lumi(optarg, &o.lumi); break;
    case 's': o.signals = optarg; break;
    case 'f': s = dm_cli_f64("--train-fraction", optarg, 1e-9, 1, &o.train_fraction); break;
    case 'S':
      s = dm_cli_i64("--seed", optarg, 0, INT64_MAX, &v);
      o.seed = (uint64_t)v;
      break;
    case 'x': o.xsec_path = optarg; break;
    case 'w': s = dm_cli_f64("--weight-lumi", optarg, 1e-12, 1e12, &o.weight_lumi); break;
    case 'b':
      s = dm_cli_i64("--batch", optarg, 1, (int64_t)1 << 24, &v);
      o.batch_events = v;
      break;
    case 'k': keep = 1; break;
    case 'q': quiet = 1; break;
    case 'h': return dm_cli_help(help_hackathon, comm);
    default:
      return dm_cli_usage_error("dataset hackathon", comm, "unknown or incomplete option '%s'",
                                argv[optind - 1]);
    }
    if (s != DM_OK)
      return dm_cli_usage_error("dataset hackathon", comm, "%s", dm_error_message());
  }
  if (optind < argc)
    return dm_cli_usage_error("dataset hackathon", comm, "unexpected argument '%s'", argv[optind]);
  if (!in || !o.out_dir)
    return dm_cli_usage_error("dataset hackathon", comm, "--in and --out are required");
  /* Channels: names the select stage knows. */
  char list[512];
  snprintf(list, sizeof list, "%s", channels);
  for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    dm_cutset cs;
    if (dm_cuts_channel(t, &cs) != DM_OK)
      return dm_cli_usage_error("dataset hackathon", comm, "--channels: %s", dm_error_message());
    if (o.n_channels == DM_DATASET_MAX_CHANNELS)
      return dm_cli_usage_error("dataset hackathon", comm, "--channels: too many");
    for (int k = 0; k < o.n_channels; k++)
      if (!strcmp(o.channels[k].name, t))
        return dm_cli_usage_error("dataset hackathon", comm, "--channels: %s named twice", t);
    snprintf(o.channels[o.n_channels++].name, DM_DATASET_NAME_MAX, "%s", t);
  }
  if (o.n_channels == 0)
    return dm_cli_usage_error("dataset hackathon", comm, "--channels: no channel");
  o.parent_path = in;
  o.command_line = dm_cli_command_line();
  static char sel[DM_DATASET_MAX_CHANNELS][DM_PATH_MAX];
  static char what[DM_DATASET_MAX_CHANNELS][DM_PATH_MAX + 64];
  memset(sel, 0, sizeof sel);
  dm_status s = make_dir(o.out_dir, comm);
  for (int k = 0; s == DM_OK && k < o.n_channels; k++) {
    s = select_channel(in, o.out_dir, o.channels[k].name, o.xsec_path, sel[k], comm);
    o.channels[k].selection = sel[k];
    snprintf(what[k], sizeof what[k], "the %s selection of %s", o.channels[k].name, in);
    o.channels[k].what = what[k];
  }
  dm_dataset_report rep;
  memset(&rep, 0, sizeof rep);
  if (s == DM_OK)
    s = dm_dataset_hackathon_run(&o, comm, &rep);
  if (!keep)
    for (int k = 0; k < o.n_channels; k++)
      remove_selection(sel[k], comm);
  if (s == DM_OK && !quiet && dm_rank(comm) == 0) {
    dm_dataset_report_print(stdout, &rep, 0);
    printf("wrote %lld files and %s/manifest.json (parent %s) in %.2f s\n",
           (long long)rep.n_files, o.out_dir, rep.parent_checksum, rep.seconds);
  }
  dm_dataset_report_free(&rep);
  return dm_cli_finish("dataset hackathon", s, comm);
}

/* "NAME=MU,NAME=MU" */
static dm_status parse_inject(const char *text, dm_dataset_secret_opts *o)
{
  char buf[2048];
  if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf)
    return dm_error(DM_ERR_ARG, "--inject: list too long");
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(t, '=');
    if (!eq || eq == t)
      return dm_error(DM_ERR_ARG, "--inject: '%s' is not NAME=MU", t);
    *eq = 0;
    if (o->n_inject == DM_DATASET_MAX_INJECT)
      return dm_error(DM_ERR_ARG, "--inject: more than %d signals", DM_DATASET_MAX_INJECT);
    dm_dataset_injection *in = &o->inject[o->n_inject];
    if (strlen(t) >= sizeof in->name)
      return dm_error(DM_ERR_ARG, "--inject: name '%s' too long", t);
    DM_FORWARD(dm_cli_f64("--inject", eq + 1, 0, 1e9, &in->mu));
    snprintf(in->name, sizeof in->name, "%s", t);
    o->n_inject++;
  }
  if (o->n_inject == 0)
    return dm_error(DM_ERR_ARG, "--inject: no signal");
  return DM_OK;
}

static int cmd_secret(int argc, char **argv, MPI_Comm comm)
{
  static const struct option longopts[] = {
      {"in", required_argument, NULL, 'i'},          {"out", required_argument, NULL, 'o'},
      {"channel", required_argument, NULL, 'c'},     {"lumi", required_argument, NULL, 'l'},
      {"inject", required_argument, NULL, 'j'},      {"decoys", required_argument, NULL, 'd'},
      {"exclude", required_argument, NULL, 'e'},     {"seed", required_argument, NULL, 'S'},
      {"xsec", required_argument, NULL, 'x'},        {"weight-lumi", required_argument, NULL, 'w'},
      {"batch", required_argument, NULL, 'b'},       {"keep-selections", no_argument, NULL, 'k'},
      {"quiet", no_argument, NULL, 'q'},             {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  dm_dataset_secret_opts o;
  dm_dataset_secret_opts_default(&o);
  const char *in = NULL, *chan = NULL;
  int keep = 0, quiet = 0, have_seed = 0, have_inject = 0, c;
  int64_t v = 0;
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    dm_status s = DM_OK;
    switch (c) {
    case 'i': in = optarg; break;
    case 'o': o.out_dir = optarg; break;
    case 'c': chan = optarg; break;
    case 'l': s = parse_lumi(optarg, &o.lumi); break;
    case 'j':
      s = parse_inject(optarg, &o);
      have_inject = 1;
      break;
    case 'd': s = dm_cli_f64("--decoys", optarg, 0, 0.9, &o.decoy_fraction); break;
    case 'e': o.exclude_manifest = optarg; break;
    case 'S':
      s = dm_cli_i64("--seed", optarg, 0, INT64_MAX, &v);
      o.seed = (uint64_t)v;
      have_seed = 1;
      break;
    case 'x': o.xsec_path = optarg; break;
    case 'w': s = dm_cli_f64("--weight-lumi", optarg, 1e-12, 1e12, &o.weight_lumi); break;
    case 'b':
      s = dm_cli_i64("--batch", optarg, 1, (int64_t)1 << 24, &v);
      o.batch_events = v;
      break;
    case 'k': keep = 1; break;
    case 'q': quiet = 1; break;
    case 'h': return dm_cli_help(help_secret, comm);
    default:
      return dm_cli_usage_error("dataset secret", comm, "unknown or incomplete option '%s'",
                                argv[optind - 1]);
    }
    if (s != DM_OK)
      return dm_cli_usage_error("dataset secret", comm, "%s", dm_error_message());
  }
  if (optind < argc)
    return dm_cli_usage_error("dataset secret", comm, "unexpected argument '%s'", argv[optind]);
  if (!in || !o.out_dir || !chan || !have_inject)
    return dm_cli_usage_error("dataset secret", comm, "--in, --out, --channel and --inject are "
                                                      "required");
  dm_cutset cs;
  if (dm_cuts_channel(chan, &cs) != DM_OK)
    return dm_cli_usage_error("dataset secret", comm, "--channel: %s", dm_error_message());
  snprintf(o.channel.name, sizeof o.channel.name, "%s", chan);
  dm_status s = DM_OK;
  if (!have_seed) {
    /* Decided once, on rank 0, and shared. */
    uint64_t seed = 0;
    if (dm_rank(comm) == 0 && getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
      s = dm_error(DM_ERR_IO, "no seed from the system's entropy: %s (give --seed)",
                   strerror(errno));
    s = dm_agree(s, comm);
    MPI_Bcast(&seed, 1, MPI_UINT64_T, 0, comm);
    o.seed = seed >> 1; /* printable as a non-negative int64 for --seed */
  }
  o.command_line = dm_cli_command_line();
  static char sel[DM_PATH_MAX];
  sel[0] = 0;
  if (s == DM_OK)
    s = make_dir(o.out_dir, comm);
  if (s == DM_OK)
    s = select_channel(in, o.out_dir, chan, o.xsec_path, sel, comm);
  o.channel.selection = sel;
  static char what[DM_PATH_MAX + 64];
  snprintf(what, sizeof what, "the %s selection of %s", chan, in);
  o.channel.what = what;
  dm_dataset_report rep;
  memset(&rep, 0, sizeof rep);
  if (s == DM_OK)
    s = dm_dataset_secret_run(&o, comm, &rep);
  if (!keep)
    remove_selection(sel, comm);
  if (s == DM_OK && !quiet && dm_rank(comm) == 0) {
    dm_dataset_report_print(stdout, &rep, 1);
    printf("wrote %s/unlabeled_%s.csv, .h5 and labels_%s.h5 (SHA-256 %s) in %.2f s\n", o.out_dir,
           chan, chan, rep.labels_sha256, rep.seconds);
  }
  dm_dataset_report_free(&rep);
  return dm_cli_finish("dataset secret", s, comm);
}

int dm_cmd_dataset(int argc, char **argv, MPI_Comm comm)
{
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
    return argc < 2 ? dm_cli_usage_error("dataset", comm, "say hackathon or secret")
                    : dm_cli_help(help_top, comm);
  if (!strcmp(argv[1], "hackathon"))
    return cmd_hackathon(argc - 1, argv + 1, comm);
  if (!strcmp(argv[1], "secret"))
    return cmd_secret(argc - 1, argv + 1, comm);
  return dm_cli_usage_error("dataset", comm, "unknown dataset kind '%s' (hackathon or secret)",
                            argv[1]);
}
