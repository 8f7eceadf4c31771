#include "dm_cli_train.h"

#include <stdio.h>
#include <string.h>

#include "dm_cli.h"

void dm_cli_train_defaults(dm_train_opts *o, const char *backend, dm_cli_train_common *common,
                           const char *read_batch_flag)
{
  dm_train_opts_default(o);
  o->backend = backend;
  memset(common, 0, sizeof *common);
  dm_cli_run_init(&common->run);
  common->read_batch_flag = read_batch_flag;
}

int dm_cli_train_is_option(int c)
{
  return (c >= DM_CLI_TRAIN_IN && c < DM_CLI_TRAIN_END && c != DM_CLI_TRAIN_HELP) ||
         dm_cli_run_is_option(c);
}

dm_status dm_cli_train_option(int c, const char *arg, dm_train_opts *o,
                              dm_cli_train_common *common)
{
  int64_t v = 0;
  dm_status s = DM_OK;
  if (dm_cli_run_is_option(c))
    return dm_cli_run_option(&common->run, c, arg);
  switch (c) {
  case DM_CLI_TRAIN_IN: o->in_path = arg; break;
  case DM_CLI_TRAIN_OUT: o->out_path = arg; break;
  case DM_CLI_TRAIN_FEATURES: s = dm_feature_kind_parse(arg, &o->features.kind); break;
  case DM_CLI_TRAIN_K_OBJECTS:
    s = dm_cli_i64("--k-objects", arg, 1, DM_FEATURES_K_MAX, &v);
    if (s == DM_OK)
      o->features.k_objects = (int)v;
    break;
  case DM_CLI_TRAIN_PHI:
    if (!strcmp(arg, "raw"))
      o->features.phi_mode = DM_PHI_RAW;
    else if (!strcmp(arg, "sincos"))
      o->features.phi_mode = DM_PHI_SINCOS;
    else
      s = dm_error(DM_ERR_ARG, "--phi '%s': expected raw or sincos", arg);
    break;
  case DM_CLI_TRAIN_PCA:
    s = dm_cli_i64("--pca", arg, 0, 1000, &v);
    if (s == DM_OK)
      o->pca_dim = (int)v;
    break;
  case DM_CLI_TRAIN_MAX_TRAIN:
    s = dm_cli_i64("--max-train", arg, 0, (int64_t)1 << 40, &o->max_train);
    break;
  case DM_CLI_TRAIN_FRACTION:
    s = dm_cli_f64("--train-fraction", arg, 1e-9, 1.0, &o->train_fraction);
    break;
  case DM_CLI_TRAIN_SPLIT:
    if (!strcmp(arg, "per-process") || !strcmp(arg, "global"))
      o->split_global = !strcmp(arg, "global");
    else
      s = dm_error(DM_ERR_ARG, "--split '%s': expected per-process or global", arg);
    break;
  case DM_CLI_TRAIN_BACKGROUND: o->background = arg; break;
  case DM_CLI_TRAIN_XSEC: o->xsec = arg; break;
  case DM_CLI_TRAIN_SEED:
    s = dm_cli_i64("--seed", arg, 0, INT64_MAX, &v);
    if (s == DM_OK)
      o->seed = (uint64_t)v;
    break;
  case DM_CLI_TRAIN_READ_BATCH:
    s = dm_cli_i64(common->read_batch_flag, arg, 1, (int64_t)1 << 28, &o->batch);
    break;
  case DM_CLI_TRAIN_JSON: common->json = arg; break;
  case DM_CLI_TRAIN_QUIET: common->quiet = 1; break;
  case DM_CLI_TRAIN_WEIGHTED: o->weighted = 1; break;
  default: s = dm_error(DM_ERR_ARG, "not a train option (code %d)", c); break;
  }
  return s;
}

int dm_cli_train_check_args(const char *cmd, int argc, char **argv, const dm_train_opts *o,
                            MPI_Comm comm)
{
  if (optind < argc)
    return dm_cli_usage_error(cmd, comm, "unexpected argument '%s'", argv[optind]);
  if (!o->in_path || !o->out_path)
    return dm_cli_usage_error(cmd, comm, "--in and --out are required");
  dm_status s = dm_cli_check_outputs(comm, "--out", o->out_path, NULL);
  return s == DM_OK ? 0 : dm_cli_finish(cmd, s, comm);
}

void dm_cli_train_print_head(const dm_train_opts *o, const dm_train_report *r, int width)
{
  printf("train %s: %s -> %s\n", o->backend, o->in_path, o->out_path);
  printf("  %-*s %lld\n", width, "events in store", (long long)r->n_events);
  printf("  %-*s %lld (%d processes)\n", width, "background events",
         (long long)r->n_background, r->n_background_processes);
  printf("  %-*s %lld (first %.4g)\n", width, "training pool", (long long)r->n_pool,
         o->train_fraction);
  if (o->weighted)
    printf("  %-*s %s (Kish effective count of the fitted rows %.6g)\n", width, "event weights",
           r->weight_source, r->n_train_eff);
}

void dm_cli_train_print_features(const dm_train_opts *o, const dm_train_report *r, int width,
                                 const char *inputs)
{
  printf("  %-*s %s, %d columns -> %d %s", width, "features",
         dm_feature_kind_name(o->features.kind), r->dim_in, r->dim, inputs);
}

void dm_cli_train_print_seconds(const dm_train_report *r, int width)
{
  printf("  %-*s scan %.2f, features %.2f, fit %.2f, write %.2f, total %.2f\n", width,
         "seconds", r->seconds_scan, r->seconds_features, r->seconds_fit, r->seconds_write,
         r->seconds_total);
}

cJSON *dm_cli_train_json(const dm_train_opts *o, const dm_train_report *r)
{
  cJSON *j = cJSON_CreateObject();
  if (!j)
    return NULL;
  cJSON_AddStringToObject(j, "command", "train");
  cJSON_AddStringToObject(j, "model", o->backend);
  cJSON_AddStringToObject(j, "in", o->in_path);
  cJSON_AddStringToObject(j, "out", o->out_path);
  cJSON_AddNumberToObject(j, "n_events", (double)r->n_events);
  cJSON_AddNumberToObject(j, "n_background", (double)r->n_background);
  cJSON_AddStringToObject(j, "background", r->background);
  cJSON_AddNumberToObject(j, "n_pool", (double)r->n_pool);
  cJSON_AddNumberToObject(j, "n_train", (double)r->n_train);
  cJSON_AddBoolToObject(j, "weighted", o->weighted);
  cJSON_AddStringToObject(j, "weight_source", r->weight_source);
  if (o->weighted)
    cJSON_AddNumberToObject(j, "n_train_effective", r->n_train_eff);
  cJSON_AddStringToObject(j, "features", dm_feature_kind_name(o->features.kind));
  cJSON_AddNumberToObject(j, "dim_in", r->dim_in);
  cJSON_AddNumberToObject(j, "dim", r->dim);
  return j;
}
