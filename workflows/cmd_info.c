/* dmpipe info: describe a dmpipe file. Dispatches on the root "format"
 * attribute; stores are described here, other formats by their own branch. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dm_cmd.h"
#include "dm_comm.h"
#include "dm_derived.h"
#include "dm_h5.h"
#include "dm_hist_file.h"
#include "dm_model.h"
#include "dm_prov.h"
#include "dm_store.h"

static const char usage[] =
    "usage: dmpipe info FILE.h5 [--json[=OUT.json]] [--no-verify]\n"
    "\n"
    "Describe a dmpipe file. For an event store: events, objects, processes with their\n"
    "event counts, bytes on disk, raw (uncompressed) bytes, compression ratio, the source\n"
    "CSV size, and the provenance attributes (dmpipe version, git revision, command line,\n"
    "creation time, each input's name, size and checksum), the store's identity and\n"
    "its derived columns with the index file they are reached through; for a catalog\n"
    "(dmpipe catalog) its parts, whose bytes count in the bytes on disk. A store is read\n"
    "through once first and verified (offsets, object counts, process indices, object\n"
    "types, every chunk readable); a damaged store is an error naming dataset and index.\n"
    "For a histogram file: each histogram's channel, variable, bins, binning, events\n"
    "filled and weights.\n"    "\n"
    "options:\n"
    "  --json          print the description as JSON on stdout instead of a table\n"
    "  --json=FILE     write the JSON to FILE (the table is still printed)\n"
    "  --no-verify     describe a store from its metadata only, without reading it\n"
    "  --help          this text\n";

typedef struct {
  int64_t raw, stored;
  int n;
} sizes;

static herr_t visit(hid_t obj, const char *name, const H5O_info_t *info, void *data)
{
  if (info->type != H5O_TYPE_DATASET)
    return 0;
  sizes *z = data;
  hid_t d = H5Dopen2(obj, name, H5P_DEFAULT);
  if (d < 0)
    return 0;
  hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  z->raw += (int64_t)n * (int64_t)H5Tget_size(t);
  z->stored += (int64_t)H5Dget_storage_size(d);
  z->n++;
  H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(d);
  return 0;
}

static void attr_str(hid_t f, const char *name, char *buf, size_t cap)
{
  if (dm_h5_attr_get_str(f, name, buf, cap) != DM_OK)
    snprintf(buf, cap, "-");
}

static int64_t attr_i64(hid_t f, const char *name)
{
  int64_t v = -1;
  if (dm_h5_attr_get_i64(f, name, &v) != DM_OK)
    v = -1;
  return v;
}

/* A histogram file: one line per histogram (rank 0 prints). */
static dm_status describe_hist(const char *path, MPI_Comm comm)
{
  dm_hist *hs = NULL;
  int n = 0;
  DM_FORWARD(dm_hist_file_read(path, comm, &hs, &n));
  if (dm_rank(comm) == 0) {
    printf("%s: %d histogram%s (dmpipe-hist)\n", path, n, n == 1 ? "" : "s");
    for (int i = 0; i < n; i++) {
      const dm_hist *h = &hs[i];
      int64_t entries = 0;
      size_t cells = (size_t)h->n_proc * (size_t)(h->n_bins + 2);
      for (size_t c = 0; c < cells; c++)
        entries += h->count[c];
      printf("  %s/%s: %d bins over [%g, %g)%s, %d processes, %lld entries\n", h->channel,
             h->variable, h->n_bins, h->edges[0], h->edges[h->n_bins],
             h->log_scale ? " log-spaced" : "", h->n_proc, (long long)entries);
      if (h->subset[0])
        printf("      events: %s\n", h->subset);
      if (h->weights[0])
        printf("      weights: %s\n", h->weights);
    }
  }
  dm_hist_free_set(hs, n);
  return DM_OK;
}

static dm_status describe_store(const char *path, MPI_Comm comm, int json_stdout,
                                const char *json_file, int verify)
{
  dm_store *st = NULL;
  DM_FORWARD(dm_store_open(path, comm, 0, &st));
  /* Read it all before printing anything: a damaged store gets an error,
   * not a description followed by one. */
  if (verify) {
    dm_status v = dm_store_verify(st, 0);
    if (v != DM_OK) {
      dm_store_close(st);
      return v;
    }
  }
  hid_t f = dm_store_file(st);
  sizes z = {0, 0, 0};
  /* Every rank makes the same metadata calls (collective metadata reads). */
  H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, visit, &z);
  static char inputs[1 << 16];
  char fmt_v[32], ver[64], rev[64], created[64], prec[16], cmd[4096];
  snprintf(fmt_v, sizeof fmt_v, "%lld", (long long)attr_i64(f, "format_version"));
  attr_str(f, "dmpipe_version", ver, sizeof ver);
  attr_str(f, "git_revision", rev, sizeof rev);
  attr_str(f, "created", created, sizeof created);
  attr_str(f, "precision", prec, sizeof prec);
  attr_str(f, "command_line", cmd, sizeof cmd);
  attr_str(f, "inputs", inputs, sizeof inputs);
  int64_t src = attr_i64(f, "source_bytes"), rej = attr_i64(f, "rejected_lines"),
          inexact = attr_i64(f, "inexact_float32_values");
  /* Derived columns: names, and the luminosity of the weights (attribute
   * reads are collective metadata reads, so every rank makes them). */
  char store_id[DM_STORE_ID_LEN + 8] = "-", derived[4096] = "";
  attr_str(f, "store_id", store_id, sizeof store_id);
  dm_derived *dd = dm_store_derived(st);
  for (int i = 0; i < dm_derived_count(dd); i++) {
    size_t l = strlen(derived);
    double lumi = 0;
    hid_t ds = dm_derived_dataset(dd, i);
    int has_lumi = H5Aexists(ds, "lumi_fb") > 0 && dm_h5_attr_get_f64(ds, "lumi_fb", &lumi) == DM_OK;
    if (has_lumi)
      snprintf(derived + l, sizeof derived - l, "%s%s (%g fb^-1)", l ? " " : "",
               dm_derived_name(dd, i), lumi);
    else
      snprintf(derived + l, sizeof derived - l, "%s%s", l ? " " : "", dm_derived_name(dd, i));
  }
  int rank = dm_rank(comm);
  dm_status s = DM_OK;
  if (rank == 0) {
    struct stat sb;
    int64_t disk = stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1, file_bytes = disk,
            part_bytes = 0;
    /* A catalog's bytes are mostly its parts' (dm_store.h, "Catalogs"). */
    for (int i = 0; i < dm_store_n_parts(st); i++)
      if (stat(dm_store_part_path(st, i), &sb) == 0)
        part_bytes += (int64_t)sb.st_size;
    if (disk >= 0)
      disk += part_bytes;
    double ratio = disk > 0 ? (double)z.raw / (double)disk : 0;
    if (!json_stdout) {
      printf("%s: dmpipe event store (format version %s, %s precision)\n", path, fmt_v, prec);
      printf("  %-22s %lld\n", "events", (long long)dm_store_n_events(st));
      printf("  %-22s %lld\n", "objects", (long long)dm_store_n_objects(st));
      printf("  %-22s %d\n", "processes", dm_store_n_processes(st));
      for (int i = 0; i < dm_store_n_processes(st); i++)
        printf("    %-28s %lld\n", dm_store_process_name(st, i),
               (long long)dm_store_process_events(st, i));
      printf("  %-22s %s\n", "verified",
             verify ? "yes (every event and object read and checked)" : "no (--no-verify)");
      if (dm_store_n_parts(st) > 0)
        printf("  %-22s %.2f MB (the catalog %.2f MB, its %d parts %.2f MB)\n", "bytes on disk",
               (double)disk / 1e6, (double)file_bytes / 1e6, dm_store_n_parts(st),
               (double)part_bytes / 1e6);
      else
        printf("  %-22s %.2f MB\n", "bytes on disk", (double)disk / 1e6);
      printf("  %-22s %.2f MB in %d datasets\n", "raw (uncompressed)", (double)z.raw / 1e6, z.n);
      printf("  %-22s %.2fx\n", "compression ratio", ratio);
      if (src >= 0)
        printf("  %-22s %.2f MB (store is %.1f%% of it)\n", "source CSV", (double)src / 1e6,
               src > 0 ? 100.0 * (double)disk / (double)src : 0.0);
      if (rej >= 0)
        printf("  %-22s %lld\n", "rejected lines", (long long)rej);
      if (inexact >= 0)
        printf("  %-22s %lld\n", "values > float32 digits", (long long)inexact);
      printf("  %-22s %s (git %s)\n", "written by dmpipe", ver, rev);
      printf("  %-22s %s\n", "created", created);
      printf("  %-22s %s\n", "command line", cmd);
      printf("  %-22s %s\n", "store id", store_id);
      printf("  %-22s %s\n", "derived columns", derived[0] ? derived : "none");
      printf("  %-22s %s\n", "  reached through", dm_derived_index(dd)[0] ? dm_derived_index(dd) : "-");
      if (dm_store_n_parts(st) > 0) {
        printf("  catalog of %d parts (virtual columns over these stores):\n",
               dm_store_n_parts(st));
        for (int i = 0; i < dm_store_n_parts(st); i++)
          printf("    %s\n", dm_store_part_path(st, i));
      }
      printf("  inputs (name, bytes, checksum):\n");
      for (char *line = inputs, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) {
          printf("    %s\n", line);
          break;
        }
        printf("    %.*s\n", (int)(nl - line), line);
      }
      fflush(stdout);
    }
    if (json_stdout || json_file) {
      cJSON *j = cJSON_CreateObject();
      cJSON_AddStringToObject(j, "path", path);
      cJSON_AddStringToObject(j, "format", DM_FORMAT_STORE);
      cJSON_AddNumberToObject(j, "format_version", atof(fmt_v));
      cJSON_AddStringToObject(j, "precision", prec);
      cJSON_AddNumberToObject(j, "events", (double)dm_store_n_events(st));
      cJSON_AddNumberToObject(j, "objects", (double)dm_store_n_objects(st));
      cJSON *p = cJSON_AddArrayToObject(j, "processes");
      for (int i = 0; i < dm_store_n_processes(st); i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", dm_store_process_name(st, i));
        cJSON_AddNumberToObject(e, "events", (double)dm_store_process_events(st, i));
        cJSON_AddItemToArray(p, e);
      }
      cJSON_AddBoolToObject(j, "verified", verify);
      cJSON_AddNumberToObject(j, "bytes_on_disk", (double)disk);
      if (dm_store_n_parts(st) > 0) {
        cJSON_AddNumberToObject(j, "catalog_file_bytes", (double)file_bytes);
        cJSON *cp = cJSON_AddArrayToObject(j, "catalog_parts");
        for (int i = 0; i < dm_store_n_parts(st); i++)
          cJSON_AddItemToArray(cp, cJSON_CreateString(dm_store_part_path(st, i)));
      }
      cJSON_AddNumberToObject(j, "raw_bytes", (double)z.raw);
      cJSON_AddNumberToObject(j, "compression_ratio", ratio);
      cJSON_AddNumberToObject(j, "source_bytes", (double)src);
      cJSON_AddNumberToObject(j, "rejected_lines", (double)rej);
      cJSON_AddNumberToObject(j, "inexact_float32_values", (double)inexact);
      cJSON_AddStringToObject(j, "dmpipe_version", ver);
      cJSON_AddStringToObject(j, "git_revision", rev);
      cJSON_AddStringToObject(j, "created", created);
      cJSON_AddStringToObject(j, "command_line", cmd);
      cJSON_AddStringToObject(j, "inputs", inputs);
      cJSON_AddStringToObject(j, "store_id", store_id);
      cJSON_AddStringToObject(j, "derived_index", dm_derived_index(dd));
      cJSON *dc = cJSON_AddArrayToObject(j, "derived");
      for (int i = 0; i < dm_derived_count(dd); i++)
        cJSON_AddItemToArray(dc, cJSON_CreateString(dm_derived_name(dd, i)));
      if (json_stdout) {
        char *text = cJSON_Print(j);
        puts(text ? text : "{}");
        fflush(stdout);
        free(text);
      }
      if (json_file)
        s = dm_cli_write_json(json_file, j);
      cJSON_Delete(j);
    }
  }
  dm_status c = dm_store_close(st);
  return s != DM_OK ? s : c;
}

int dm_cmd_info(int argc, char **argv, MPI_Comm comm)
{
  enum { O_JSON = 1000, O_HELP, O_NOVERIFY };
  static const struct option longopts[] = {{"json", optional_argument, 0, O_JSON},
                                           {"no-verify", no_argument, 0, O_NOVERIFY},
                                           {"help", no_argument, 0, O_HELP},
                                           {0, 0, 0, 0}};
  int json_stdout = 0, verify = 1;
  const char *json_file = NULL;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case O_JSON:
      if (optarg)
        json_file = optarg;
      else
        json_stdout = 1;
      break;
    case O_NOVERIFY: verify = 0; break;
    case O_HELP: return dm_cli_help(usage, comm);
    default:
      return dm_cli_usage_error("info", comm, "unknown or incomplete option '%s'",
                                argv[optind - 1]);
    }
  }
  if (optind != argc - 1)
    return dm_cli_usage_error("info", comm, "expected exactly one file");
  const char *path = argv[optind];
  dm_h5_quiet();
  hid_t f;
  dm_status s = dm_h5_open(path, comm, 0, &f);
  char fmt[128] = "";
  if (s == DM_OK) {
    if (dm_h5_attr_get_str(f, "format", fmt, sizeof fmt) != DM_OK)
      s = dm_error(DM_ERR_SCHEMA, "%s is not a dmpipe file (no 'format' attribute)", path);
    dm_h5_close(f);
  }
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    if (!strcmp(fmt, DM_FORMAT_STORE))
      s = describe_store(path, comm, json_stdout, json_file, verify);
    /* section:info-model (the model and scores branches go here) */
    else if (!strcmp(fmt, DM_FORMAT_MODEL) && !json_stdout && !json_file) {
      s = dm_model_info(path, stdout, comm);
      if (s != DM_OK)
        dm_error_context("reading %s as a %s file (its format attribute)", path, fmt);
    }
    else if (!strcmp(fmt, DM_FORMAT_HIST) && !json_stdout && !json_file)
      s = describe_hist(path, comm);
    else if (!strcmp(fmt, DM_FORMAT_MODEL) || !strcmp(fmt, DM_FORMAT_SCORES) ||
             !strcmp(fmt, DM_FORMAT_HIST))
      s = dm_error(DM_ERR_SCHEMA, "%s is a %s file: not yet supported by info", path, fmt);
    else
      s = dm_error(DM_ERR_SCHEMA, "%s has unknown format '%s'", path, fmt);
  }
  return dm_cli_finish("info", s, comm);
}
