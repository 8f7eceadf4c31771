/* dmpipe ingest: flags -> dm_ingest_opts, run the stage, print the report. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_cli_run.h"
#include "dm_cmd.h"
#include "dm_ingest.h"

static const char usage[] =
    "usage: dmpipe ingest --out STORE.h5 [options] INPUT.csv[.zst|.gz|.xz]...\n"
    "\n"
    "Convert Dark Machines CSV archive files into one columnar, zstd-compressed HDF5\n"
    "event store. Runs alone or under mpirun -np N; the store is identical for every N\n"
    "(events in input order). Work is split in stripes of the inputs.\n"
    "Inputs may be compressed (.csv.zst, .csv.gz, .csv.xz; recognised by name and first\n"
    "bytes): read by streaming decompression, giving the store of the plain CSV; their\n"
    "checksums are of the files as given, and rejects name them with the CSV line.\n"
    "\n"
    "options:\n"
    "  --out FILE              the store to write (written as FILE.<host>-<pid>.tmp, renamed on success)\n"
    "  --zstd-level L          zstd level 1..22 on every dataset, after shuffle; 0 = no\n"
    "                          compression (default 1: as small as 3 here, and faster)\n"
    "  --chunk-events K        events per HDF5 chunk; object columns use 4*K (default 65536)\n"
    "  --rejects FILE          write every rejected line here, tab-separated: input, line\n"
    "                          number, reason, the line verbatim (lines over 1 MiB are cut)\n"
    "  --max-bad-fraction F    fail when more than this fraction of lines is rejected\n"
    "                          (default 1e-6); the rejects file is kept then\n"
    "  --precision single|double\n"
    "                          float32 (default) or float64 for met, met_phi and object\n"
    "                          e, pt, eta, phi; double keeps values printed with more than\n"
    "                          6 significant digits exactly\n"
    "  --buffer-mb M           memory budget per rank in MiB (default 128); stripes are\n"
    "                          M/4 (or a few MiB less, to fill the last round)\n"
    "  --stripe-kb K           stripe size in KiB instead (below 1024, or a multiple of it)\n"
    "  --json FILE             also write the report as JSON\n"
    DM_CLI_RUN_HELP
    "  --help                  this text\n"
    "\n"
    "Exit status: 0 ok, 1 failure (bad input, too many bad lines, I/O), 2 usage error.\n";

static void print_report(const dm_ingest_report *r, const dm_ingest_opts *o)
{
  double mb = (double)r->input_bytes / 1e6;
  printf("ingest: %s\n", o->out);
  printf("  %-26s %lld (%d processes)\n", "events", (long long)r->n_events, r->n_processes);
  printf("  %-26s %lld\n", "objects", (long long)r->n_objects);
  printf("  %-26s %lld read, %lld rejected\n", "lines", (long long)r->n_lines,
         (long long)r->n_bad);
  for (int k = 1; k < DM_BAD_NKINDS; k++)
    if (r->bad[k])
      printf("    %-24s %lld\n", dm_bad_kind_name((dm_bad_kind)k), (long long)r->bad[k]);
  printf("  %-26s %lld values in %lld events%s\n", "more digits than float32",
         (long long)r->inexact_values, (long long)r->inexact_events,
         o->precision_double ? " (kept: double precision)"
                             : (r->inexact_values ? " (use --precision double to keep them)"
                                                  : ""));
  printf("  %-26s %.1f MB of CSV in %d file(s)\n", "input", mb, o->n_inputs);
  if (r->store_bytes > 0)
    printf("  %-26s %.1f MB (%.1f%% of the CSV)\n", "store", (double)r->store_bytes / 1e6,
           r->input_bytes > 0 ? 100.0 * (double)r->store_bytes / (double)r->input_bytes : 0.0);
  printf("  %-26s %.2f s, %.1f MB/s, %.0f events/s (%d ranks x %d threads)\n", "time",
         r->seconds, r->seconds > 0 ? mb / r->seconds : 0.0,
         r->seconds > 0 ? (double)r->n_events / r->seconds : 0.0, r->n_ranks, r->n_threads);
  printf("  %-26s %.1f MB/s\n", "per rank",
         r->seconds > 0 ? mb / r->seconds / r->n_ranks : 0.0);
  printf("  %-26s read wait %.2f s, parse %.2f s, write %.2f s, exchange %.2f s\n",
         "slowest rank", r->t_read_wait, r->t_parse, r->t_write, r->t_exchange);
  printf("  %-26s compress %.2f s, MPI-IO %.2f s (slowest rank)\n", "inside write",
         r->t_compress, r->t_mpiio);
  printf("  %-26s %.2f s (last chunks, metadata, sync to disk, rename); %lld early "
         "write-backs\n", "finish", r->t_finish, (long long)r->writebacks);
  printf("  %-26s %lld chunks placed by rank 0 in %.3f s (%.1f us each); other ranks waited "
         "%.3f s at most for addresses\n", "chunk placement", (long long)r->chunks,
         r->t_chunk_register, r->chunks > 0 ? 1e6 * r->t_chunk_register / (double)r->chunks : 0.0,
         r->t_addr_wait);
  printf("  %-26s %lld stripes of %lld KiB in %lld rounds\n", "work split",
         (long long)r->n_stripes, (long long)(r->stripe_bytes >> 10), (long long)r->n_rounds);
}

static dm_status write_json(const char *path, const dm_ingest_report *r, const dm_ingest_opts *o)
{
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "store", o->out);
  cJSON_AddNumberToObject(j, "events", (double)r->n_events);
  cJSON_AddNumberToObject(j, "objects", (double)r->n_objects);
  cJSON_AddNumberToObject(j, "processes", r->n_processes);
  cJSON_AddNumberToObject(j, "lines", (double)r->n_lines);
  cJSON_AddNumberToObject(j, "rejected", (double)r->n_bad);
  cJSON *bad = cJSON_AddObjectToObject(j, "rejected_by_reason");
  for (int k = 1; k < DM_BAD_NKINDS; k++)
    cJSON_AddNumberToObject(bad, dm_bad_kind_name((dm_bad_kind)k), (double)r->bad[k]);
  cJSON_AddNumberToObject(j, "inexact_float32_values", (double)r->inexact_values);
  cJSON_AddNumberToObject(j, "inexact_float32_events", (double)r->inexact_events);
  cJSON_AddStringToObject(j, "precision", o->precision_double ? "double" : "single");
  cJSON_AddNumberToObject(j, "input_bytes", (double)r->input_bytes);
  cJSON_AddNumberToObject(j, "store_bytes", (double)r->store_bytes);
  cJSON_AddNumberToObject(j, "seconds", r->seconds);
  cJSON_AddNumberToObject(j, "mb_per_s", r->seconds > 0 ? r->input_bytes / 1e6 / r->seconds : 0);
  cJSON_AddNumberToObject(j, "events_per_s", r->seconds > 0 ? r->n_events / r->seconds : 0);
  cJSON_AddNumberToObject(j, "ranks", r->n_ranks);
  cJSON_AddNumberToObject(j, "threads", r->n_threads);
  cJSON_AddNumberToObject(j, "stripe_bytes", (double)r->stripe_bytes);
  cJSON_AddNumberToObject(j, "stripes", (double)r->n_stripes);
  cJSON_AddNumberToObject(j, "rounds", (double)r->n_rounds);
  cJSON *t = cJSON_AddObjectToObject(j, "slowest_rank_seconds");
  cJSON_AddNumberToObject(t, "read_wait", r->t_read_wait);
  cJSON_AddNumberToObject(t, "parse", r->t_parse);
  cJSON_AddNumberToObject(t, "write", r->t_write);
  cJSON_AddNumberToObject(t, "exchange", r->t_exchange);
  cJSON_AddNumberToObject(t, "compress", r->t_compress);
  cJSON_AddNumberToObject(t, "mpiio", r->t_mpiio);
  cJSON_AddNumberToObject(t, "finish", r->t_finish);
  cJSON_AddNumberToObject(j, "writeback_starts", (double)r->writebacks);
  cJSON *cp = cJSON_AddObjectToObject(j, "chunk_placement");
  cJSON_AddNumberToObject(cp, "chunks", (double)r->chunks);
  cJSON_AddNumberToObject(cp, "rank0_seconds", r->t_chunk_register);
  cJSON_AddNumberToObject(cp, "rank0_us_per_chunk",
                          r->chunks > 0 ? 1e6 * r->t_chunk_register / (double)r->chunks : 0.0);
  cJSON_AddNumberToObject(cp, "others_wait_seconds", r->t_addr_wait);
  dm_status s = dm_cli_write_json(path, j);
  cJSON_Delete(j);
  return s;
}

int dm_cmd_ingest(int argc, char **argv, MPI_Comm comm)
{
  dm_ingest_opts o;
  dm_ingest_opts_default(&o);
  dm_cli_run run;
  dm_cli_run_init(&run);
  o.command_line = dm_cli_command_line();
  const char *json = NULL;
  enum { O_OUT = 1000, O_LEVEL, O_CHUNK, O_REJ, O_BAD, O_PREC, O_BUF, O_STRIPE,
         O_JSON, O_HELP };
  static const struct option longopts[] = {
      {"out", required_argument, 0, O_OUT},
      {"zstd-level", required_argument, 0, O_LEVEL},
      {"chunk-events", required_argument, 0, O_CHUNK},
      {"rejects", required_argument, 0, O_REJ},
      {"max-bad-fraction", required_argument, 0, O_BAD},
      {"precision", required_argument, 0, O_PREC},
      {"buffer-mb", required_argument, 0, O_BUF},
      {"stripe-kb", required_argument, 0, O_STRIPE},
      DM_CLI_RUN_LONGOPTS,
      {"json", required_argument, 0, O_JSON},
      {"help", no_argument, 0, O_HELP},
      {0, 0, 0, 0}};
  optind = 1;
  opterr = 0;
  int c;
  dm_status s = DM_OK;
  int64_t v;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case O_OUT: o.out = optarg; break;
    case O_LEVEL:
      s = dm_cli_i64("--zstd-level", optarg, 0, 22, &v);
      o.zstd_level = (int)v;
      break;
    case O_CHUNK: s = dm_cli_i64("--chunk-events", optarg, 1, (int64_t)1 << 26, &o.chunk_events); break;
    case O_REJ: o.rejects = optarg; break;
    case O_BAD: s = dm_cli_f64("--max-bad-fraction", optarg, 0, 1, &o.max_bad_fraction); break;
    case O_PREC:
      if (!strcmp(optarg, "single"))
        o.precision_double = 0;
      else if (!strcmp(optarg, "double"))
        o.precision_double = 1;
      else
        s = dm_error(DM_ERR_ARG, "--precision: '%s' is not single or double", optarg);
      break;
    case O_BUF: s = dm_cli_i64("--buffer-mb", optarg, 8, 1 << 20, &o.buffer_mb); break;
    case O_STRIPE: s = dm_cli_i64("--stripe-kb", optarg, 1, 1 << 20, &o.stripe_kb); break;
    case O_JSON: json = optarg; break;
    case O_HELP: return dm_cli_help(usage, comm);
    default:
      if (dm_cli_run_is_option(c)) {
        s = dm_cli_run_option(&run, c, optarg);
        break;
      }
      return dm_cli_usage_error("ingest", comm, "unknown or incomplete option '%s'",
                                argv[optind - 1]);
    }
    if (s != DM_OK)
      return dm_cli_usage_error("ingest", comm, "%s", dm_error_message());
  }
  if (!o.out)
    return dm_cli_usage_error("ingest", comm, "--out STORE.h5 is required");
  if (optind >= argc)
    return dm_cli_usage_error("ingest", comm, "no input files");
  o.inputs = (const char *const *)(argv + optind);
  o.n_inputs = argc - optind;
  if (o.stripe_kb >= 1024 && o.stripe_kb % 1024)
    return dm_cli_usage_error("ingest", comm, "--stripe-kb: %lld is not below 1024 or a "
                              "multiple of 1024", (long long)o.stripe_kb);

  s = dm_cli_check_outputs(comm, "--out", o.out, "--rejects", o.rejects, "--json", json, NULL);
  if (s != DM_OK)
    return dm_cli_finish("ingest", s, comm);
  dm_ingest_report rep;
  memset(&rep, 0, sizeof rep);
  s = dm_cli_run_setup(&run, comm, &o.progress, &o.progress_interval);
  if (s == DM_OK)
    s = dm_ingest_run(&o, comm, &rep);
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) {
    if (s == DM_OK) {
      print_report(&rep, &o);
    } else if (rep.n_bad > 0) {
      /* A failed run still says why: the counts per reason. */
      fprintf(stderr, "ingest: %lld of %lld lines rejected:\n", (long long)rep.n_bad,
              (long long)rep.n_lines);
      for (int k = 1; k < DM_BAD_NKINDS; k++)
        if (rep.bad[k])
          fprintf(stderr, "  %-24s %lld\n", dm_bad_kind_name((dm_bad_kind)k),
                  (long long)rep.bad[k]);
    }
    fflush(stdout);
  }
  dm_status j = DM_OK;
  if (s == DM_OK && json && rank == 0)
    j = write_json(json, &rep, &o);
  return dm_cli_finish("ingest", s != DM_OK ? s : j, comm);
}
