/* dmpipe generate: flags -> dm_generate_opts, run the stage, print the report. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_cli_run.h"
#include "dm_cmd.h"
#include "dm_comm.h"
#include "dm_generate.h"

static const char help_text[] =
    "usage: dmpipe generate --out DIR --events N [options]\n"
    "       (alone or under mpirun -np R; the files are byte-identical for any R)\n"
    "\n"
    "Write a seeded synthetic archive in the Dark Machines CSV format: one file\n"
    "DIR/<process>.csv per process, lines\n"
    "  ID;process;weight;MET;METphi;obj,E,pt,eta,phi;...;\n"
    "with MeV units, %g numbers (6 significant digits), pT-ordered objects (at most\n"
    "20), event IDs 1..N_lines per file, the archive's object acceptance, storage\n"
    "trigger and generator-level cuts, and plausible physics per process (see the\n"
    "README). Files are written as DIR/<process>.csv.<host>-<pid>.tmp and renamed when every\n"
    "rank has succeeded.\n"
    "\n"
    "options:\n"
    "  --out DIR          output folder (created if missing; its parent must exist)\n"
    "  --events N         events in all, over the chosen processes (N >= number of\n"
    "                     processes). Each process gets a floor of\n"
    "                     max(1, floor(0.05 N / P)) events, the rest is shared in\n"
    "                     proportion to the cross sections (largest remainders)\n"
    "  --seed S           random seed (default 20200227); event i of process P is a\n"
    "                     pure function of (S, P, i)\n"
    "  --processes LIST   comma list of all | sm | bsm | NAME (default all).\n"
    "                     all/sm/bsm take the table's processes that have a known\n"
    "                     cross section and an event model; a NAME must have both\n"
    "  --xsec FILE        process table (CSV; default: the shipped data/processes.csv)\n"
    "  --lumi L           luminosity in fb^-1 for the weights (default 10):\n"
    "                     w = sigma[pb] x L x 1000 / N_lines\n"
    "  --bad-rate R       replace a fraction R (0..1) of lines by malformed ones of\n"
    "                     every kind the readers reject: field-count, number,\n"
    "                     non-finite, object-code, empty-process, truncated (only as\n"
    "                     a file's last line, no newline) and too-long (over 1 MiB;\n"
    "                     min(3, floor(N_lines R / 50)) per file). Counts per kind\n"
    "                     are printed and written to --json (default 0)\n"
    "  --no-trailing-semicolon\n"
    "                     end lines after the last object's phi, without ';'\n"
    "  --block N          events per block a rank formats at a time: memory per rank\n"
    "                     is two blocks of text (default: per file, the events that\n"
    "                     make about 4 MiB at the file's mean line length)\n"
    "  --json FILE        also write the report as JSON\n"
    "  --quiet            do not print the report table\n"
    DM_CLI_RUN_HELP
    "  --help             this text\n";

static cJSON *report_json(const dm_generate_opts *o, const dm_generate_report *r)
{
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "command", "generate");
  cJSON_AddStringToObject(j, "command_line", dm_cli_command_line());
  cJSON_AddStringToObject(j, "out", o->out_dir);
  cJSON_AddNumberToObject(j, "seed", (double)r->seed);
  cJSON_AddNumberToObject(j, "events", (double)r->n_events);
  cJSON_AddNumberToObject(j, "bytes", (double)r->bytes);
  cJSON_AddNumberToObject(j, "bad_lines", (double)r->n_bad);
  cJSON_AddNumberToObject(j, "floor_events", (double)r->floor_events);
  cJSON_AddNumberToObject(j, "lumi_fb", r->lumi_fb);
  cJSON_AddNumberToObject(j, "bad_rate", r->bad_rate);
  cJSON_AddBoolToObject(j, "trailing_semicolon", o->trailing_semicolon);
  cJSON_AddStringToObject(j, "table", r->table_path);
  cJSON_AddStringToObject(j, "table_xxh3_128", r->table_checksum);
  cJSON_AddNumberToObject(j, "ranks", r->ranks);
  cJSON_AddNumberToObject(j, "seconds", r->seconds);
  cJSON_AddNumberToObject(j, "events_per_s_per_rank", r->events_per_s_per_rank);
  cJSON *procs = cJSON_AddArrayToObject(j, "processes");
  for (int i = 0; i < r->n_proc; i++) {
    const dm_generate_proc *p = &r->proc[i];
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "name", p->name);
    cJSON_AddNumberToObject(q, "sigma_pb", p->sigma_pb);
    cJSON_AddNumberToObject(q, "events", (double)p->n_events);
    cJSON_AddNumberToObject(q, "weight", p->weight);
    cJSON_AddNumberToObject(q, "bytes", (double)p->bytes);
    cJSON *bad = cJSON_AddObjectToObject(q, "bad");
    for (int k = 1; k < DM_BAD_NKINDS; k++)
      if (k != DM_BAD_TOO_MANY_OBJECTS)
        cJSON_AddNumberToObject(bad, dm_bad_kind_name((dm_bad_kind)k), (double)p->bad[k]);
    cJSON_AddItemToArray(procs, q);
  }
  return j;
}

static dm_status write_json(const char *path, const dm_generate_opts *o,
                            const dm_generate_report *r)
{
  cJSON *j = report_json(o, r);
  dm_status st = j ? dm_cli_write_json(path, j) : dm_error(DM_ERR_NOMEM, "--json: out of memory");
  cJSON_Delete(j);
  return st;
}

static void print_table(const dm_generate_report *r)
{
  int bad = r->bad_rate > 0;
  printf("%-28s %12s %12s %12s %12s", "process", "sigma [pb]", "events", "weight", "MB");
  static const int kinds[] = {DM_BAD_FIELD_COUNT, DM_BAD_NUMBER,        DM_BAD_NONFINITE,
                              DM_BAD_OBJECT_CODE, DM_BAD_EMPTY_PROCESS, DM_BAD_TRUNCATED,
                              DM_BAD_TOO_LONG};
  int nk = (int)(sizeof kinds / sizeof kinds[0]);
  if (bad)
    for (int k = 0; k < nk; k++)
      printf(" %13s", dm_bad_kind_name((dm_bad_kind)kinds[k]));
  printf("\n");
  for (int i = 0; i < r->n_proc; i++) {
    const dm_generate_proc *p = &r->proc[i];
    printf("%-28s %12g %12lld %12g %12.3f", p->name, p->sigma_pb, (long long)p->n_events,
           p->weight, p->bytes / 1e6);
    if (bad)
      for (int k = 0; k < nk; k++)
        printf(" %13lld", (long long)p->bad[kinds[k]]);
    printf("\n");
  }
  printf("%-28s %12s %12lld %12s %12.3f", "total", "", (long long)r->n_events, "",
         r->bytes / 1e6);
  if (bad) {
    for (int k = 0; k < nk; k++) {
      long long s = 0;
      for (int i = 0; i < r->n_proc; i++)
        s += r->proc[i].bad[kinds[k]];
      printf(" %13lld", s);
    }
  }
  printf("\n\n%d processes, floor %lld events each, seed %llu, L = %g fb^-1", r->n_proc,
         (long long)r->floor_events, (unsigned long long)r->seed, r->lumi_fb);
  if (bad)
    printf(", %lld bad lines (rate %g)", (long long)r->n_bad, r->bad_rate);
  printf("\ntable %s (xxh3-128 %s)\n", r->table_path, r->table_checksum);
  printf("%.3f s on %d rank(s): %.3g events/s per rank\n", r->seconds, r->ranks,
         r->events_per_s_per_rank);
}

int dm_cmd_generate(int argc, char **argv, MPI_Comm comm)
{
  static const struct option longopts[] = {
      {"out", required_argument, 0, 'o'},        {"events", required_argument, 0, 'n'},
      {"seed", required_argument, 0, 's'},       {"processes", required_argument, 0, 'p'},
      {"xsec", required_argument, 0, 'x'},       {"lumi", required_argument, 0, 'L'},
      {"bad-rate", required_argument, 0, 'b'},   {"no-trailing-semicolon", no_argument, 0, 'T'},
      {"block", required_argument, 0, 'B'},      {"json", required_argument, 0, 'j'},
      {"quiet", no_argument, 0, 'q'},            {"help", no_argument, 0, 'h'},
      DM_CLI_RUN_LONGOPTS,
      {0, 0, 0, 0}};
  dm_generate_opts o;
  dm_generate_opts_default(&o);
  dm_cli_run run;
  dm_cli_run_init(&run);
  const char *json = NULL;
  int quiet = 0, have_events = 0;
  dm_status st = DM_OK;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
    int64_t v;
    switch (c) {
    case 'o':
      o.out_dir = optarg;
      break;
    case 'n':
      st = dm_cli_i64("--events", optarg, 1, INT64_MAX / 4, &o.n_events);
      have_events = 1;
      break;
    case 's':
      st = dm_cli_i64("--seed", optarg, 0, INT64_MAX, &v);
      o.seed = (uint64_t)v;
      break;
    case 'p':
      o.processes = optarg;
      break;
    case 'x':
      o.xsec_path = optarg;
      break;
    case 'L':
      st = dm_cli_f64("--lumi", optarg, 1e-12, 1e12, &o.lumi_fb);
      break;
    case 'b':
      st = dm_cli_f64("--bad-rate", optarg, 0, 1, &o.bad_rate);
      break;
    case 'T':
      o.trailing_semicolon = 0;
      break;
    case 'B':
      st = dm_cli_i64("--block", optarg, 1, 1 << 24, &o.block_events);
      break;
    case 'j':
      json = optarg;
      break;
    case 'q':
      quiet = 1;
      break;
    case 'h':
      return dm_cli_help(help_text, comm);
    case ':':
      return dm_cli_usage_error("generate", comm, "%s needs a value", argv[optind - 1]);
    default:
      if (dm_cli_run_is_option(c)) {
        st = dm_cli_run_option(&run, c, optarg);
        break;
      }
      return dm_cli_usage_error("generate", comm, "unknown option '%s'", argv[optind - 1]);
    }
    if (st != DM_OK)
      return dm_cli_usage_error("generate", comm, "%s", dm_error_message());
  }
  if (optind < argc)
    return dm_cli_usage_error("generate", comm, "unexpected argument '%s'", argv[optind]);
  if (!o.out_dir)
    return dm_cli_usage_error("generate", comm, "--out DIR is required");
  if (!have_events)
    return dm_cli_usage_error("generate", comm, "--events N is required");

  dm_generate_report rep;
  memset(&rep, 0, sizeof rep);
  st = dm_cli_run_setup(&run, comm, &o.progress, &o.progress_interval);
  if (st == DM_OK)
    st = dm_generate_run(&o, comm, &rep);
  if (st == DM_OK && dm_rank(comm) == 0) {
    if (!quiet) {
      print_table(&rep);
      fflush(stdout);
    }
    if (json)
      st = write_json(json, &o, &rep);
  }
  dm_generate_report_free(&rep);
  return dm_cli_finish("generate", st, comm);
}
