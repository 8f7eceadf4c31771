/* dmpipe score: every event of a store through a model file (any backend). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "dm_cli_run.h"
#include "dm_cmd.h"
#include "dm_comm.h"
#include "dm_score.h"

static const char help[] =
    "usage: dmpipe score --model MODEL.h5 --in STORE.h5 --out SCORES.h5 [options]\n"
    "\n"
    "Score every event of a store or selection with a model file (any model:\n"
    "kde, svdd, ...); larger scores are more anomalous (KDE: -log p(x)). SCORES.h5\n"
    "holds, per event in store order, event_id, process index and score, plus the\n"
    "store's process table and the checksums of model and store. The output does\n"
    "not depend on the number of ranks.\n"
    "\n"
    "Training events: the model file records which events it trained on (the\n"
    "split rule and the training store's checksum). SCORES.h5 then has a\n"
    "/scores/train column: 1 for the model's training events when the scored\n"
    "store is that training store (same XXH3-128 checksum), all 0 for an unrelated\n"
    "store (a test split, another sample), and no column for a store related by\n"
    "selection (a selection of the training store, or its parent), whose training\n"
    "events cannot be located. dmpipe metrics leaves the 1s out, and refuses a file\n"
    "without the column, unless --include-train.\n"
    "\n"
    "  --model FILE       model file (dmpipe train)\n"
    "  --in FILE          store or selection to score (read only)\n"
    "  --out FILE         score file to write (as FILE.<host>-<pid>.tmp, then renamed)\n"
    "  --set KEY=VALUE    a scoring setting of the model (repeatable; the last one\n"
    "                     of a key wins). KDE:\n"
    "                       mode=replicated  every rank holds the reference sample\n"
    "                                        and scores its own events (default)\n"
    "                       mode=sharded     each rank reads only its shard of the\n"
    "                                        reference; the shards pass around a\n"
    "                                        ring of the ranks while every rank\n"
    "                                        scores its own events. Same scores,\n"
    "                                        bit for bit; for a reference too large\n"
    "                                        for one rank's memory\n"
    "  --channel NAME     channel name recorded in the score file\n"
    "  --batch N          events per rank per round (default 65536): bounds memory;\n"
    "                     read in pieces of at most 262144 objects\n"
    "  --no-checksums     do not checksum model and store (saves a read of each); the\n"
    "                     store is still checksummed when the model records its\n"
    "                     training store (to fill /scores/train)\n"
    "  --json FILE        also write the report as JSON (rank 0)\n"
    "  --quiet            do not print the report\n"
    DM_CLI_RUN_HELP
    "  --help             this text\n"
    "\n"
    "Threads: OpenMP inside each rank, by default the rank's share of its node's\n"
    "cores (its affinity mask divided among the ranks that share it).\n";

static dm_status write_json(const char *path, const dm_score_opts *o, const dm_score_report *r)
{
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "command", "score");
  cJSON_AddStringToObject(j, "model", o->model_path);
  cJSON_AddStringToObject(j, "backend", r->backend);
  cJSON_AddStringToObject(j, "in", o->in_path);
  cJSON_AddStringToObject(j, "out", o->out_path);
  cJSON_AddNumberToObject(j, "n_events", (double)r->n_events);
  cJSON_AddNumberToObject(j, "dim", r->dim);
  cJSON_AddNumberToObject(j, "n_nonfinite", (double)r->n_nonfinite);
  cJSON_AddNumberToObject(j, "n_train", (double)r->n_train);
  cJSON_AddStringToObject(j, "train_marking", r->train_marking);
  if (r->score_min <= r->score_max) {
    cJSON_AddNumberToObject(j, "score_min", r->score_min);
    cJSON_AddNumberToObject(j, "score_max", r->score_max);
  }
  cJSON_AddNumberToObject(j, "seconds_load", r->seconds_load);
  cJSON_AddNumberToObject(j, "seconds_features", r->seconds_features);
  cJSON_AddNumberToObject(j, "seconds_score", r->seconds_score);
  cJSON_AddNumberToObject(j, "seconds_write", r->seconds_write);
  cJSON_AddNumberToObject(j, "seconds_total", r->seconds_total);
  cJSON_AddNumberToObject(j, "events_per_second", r->events_per_second);
  dm_status s = dm_cli_write_json(path, j);
  cJSON_Delete(j);
  return s;
}

int dm_cmd_score(int argc, char **argv, MPI_Comm comm)
{
  static const struct option longopts[] = {
      {"model", required_argument, NULL, 'm'},  {"in", required_argument, NULL, 'i'},
      {"out", required_argument, NULL, 'o'},    {"set", required_argument, NULL, 'S'},
      {"channel", required_argument, NULL, 'c'}, {"batch", required_argument, NULL, 'b'},
      {"no-checksums", no_argument, NULL, 'n'}, {"json", required_argument, NULL, 'j'},
      {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
      DM_CLI_RUN_LONGOPTS,                      {NULL, 0, NULL, 0}};
  dm_score_opts o;
  dm_score_opts_default(&o);
  dm_cli_run run;
  dm_cli_run_init(&run);
  const char *json = NULL;
  int quiet = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'm': o.model_path = optarg; break;
    case 'i': o.in_path = optarg; break;
    case 'o': o.out_path = optarg; break;
    case 'S':
      if (o.n_set >= DM_SCORE_MAX_SET)
        return dm_cli_usage_error("score", comm, "at most %d --set options", DM_SCORE_MAX_SET);
      if (!strchr(optarg, '=') || optarg[0] == '=')
        return dm_cli_usage_error("score", comm, "--set '%s': expected KEY=VALUE", optarg);
      o.set[o.n_set++] = optarg;
      break;
    case 'c': o.channel = optarg; break;
    case 'b':
      if (dm_cli_i64("--batch", optarg, 1, (int64_t)1 << 28, &o.batch) != DM_OK)
        return dm_cli_usage_error("score", comm, "%s", dm_error_message());
      break;
    case 'n': o.checksums = 0; break;
    case 'j': json = optarg; break;
    case 'q': quiet = 1; break;
    case 'h': return dm_cli_help(help, comm);
    default:
      if (dm_cli_run_is_option(c)) {
        if (dm_cli_run_option(&run, c, optarg) != DM_OK)
          return dm_cli_usage_error("score", comm, "%s", dm_error_message());
        break;
      }
      return dm_cli_usage_error("score", comm, "unknown or incomplete option '%s'",
                                argv[optind - 1]);
    }
  }
  if (optind < argc)
    return dm_cli_usage_error("score", comm, "unexpected argument '%s'", argv[optind]);
  if (!o.model_path || !o.in_path || !o.out_path)
    return dm_cli_usage_error("score", comm, "--model, --in and --out are required");
  dm_status out_ok = dm_cli_check_outputs(comm, "--out", o.out_path, "--json", json, NULL);
  if (out_ok != DM_OK)
    return dm_cli_finish("score", out_ok, comm);
  o.command_line = dm_cli_command_line();
  dm_score_report rep;
  memset(&rep, 0, sizeof rep);
  dm_status s = dm_cli_run_setup(&run, comm, &o.progress, &o.progress_interval);
  if (s == DM_OK)
    s = dm_score_run(&o, comm, &rep);
  if (s == DM_OK && dm_rank(comm) == 0) {
    if (!quiet) {
      printf("score: %s model %s on %s -> %s\n", rep.backend, o.model_path, o.in_path,
             o.out_path);
      printf("  %-20s %lld\n", "events scored", (long long)rep.n_events);
      printf("  %-20s %d\n", "model inputs", rep.dim);
      if (rep.score_min <= rep.score_max)
        printf("  %-20s %.6g .. %.6g\n", "score range", rep.score_min, rep.score_max);
      printf("  %-20s %lld\n", "non-finite scores", (long long)rep.n_nonfinite);
      printf("  %-20s %lld (%s)\n", "training events", (long long)rep.n_train,
             rep.train_marking);
      printf("  %-20s load %.2f, features %.2f, score %.2f, write %.2f, total %.2f\n",
             "seconds", rep.seconds_load, rep.seconds_features, rep.seconds_score,
             rep.seconds_write, rep.seconds_total);
      printf("  %-20s %.4g\n", "events per second", rep.events_per_second);
    }
    if (json)
      s = write_json(json, &o, &rep);
  }
  return dm_cli_finish("score", s, comm);
}
