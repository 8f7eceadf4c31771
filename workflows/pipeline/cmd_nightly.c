/* dmpipe nightly: incremental reprocessing of an archive that grows.
 * One process, no MPI (like run): a lock, the per-sample graph (new and
 * changed samples ingested alone, the catalog rebuilt when the set of samples
 * changed, later steps only where their inputs changed), a manifest of the
 * archive and a summary of what changed. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dm_cmd.h"
#include "dm_pipe.h"
#include "dm_pipe_cli.h"
#include "dm_prov.h"


static const char help[] =
    "usage: dmpipe nightly PIPELINE.yaml [--workdir DIR] [--json] [--quiet]\n"
    "\n"
    "Brings a pipeline's outputs up to date with its archive, for cron or scrontab:\n"
    "  - a manifest of the archive (WORKDIR/nightly/manifest.json: each sample's name,\n"
    "    path, size, mtime and XXH3-128 checksum);\n"
    "  - each new or changed sample is ingested alone into WORKDIR/samples/NAME.h5 (step\n"
    "    ingest.NAME); removed samples are reported, their stores deleted, and they\n"
    "    leave the catalog;\n"
    "  - the catalog WORKDIR/store.h5 (step catalog, dmpipe catalog) joins the sample\n"
    "    stores into one store that every stage and h5py read; its datasets equal one\n"
    "    ingest of all the samples (file name order);\n"
    "  - weight, select, train, score and metrics rerun only where their inputs changed\n"
    "    (the rules of dmpipe run; see dmpipe run --help);\n"
    "  - with histograms: each new or changed sample's histograms with unit weights\n"
    "    (step hist.NAME, WORKDIR/hist/samples/NAME.hist.h5), then step hist adds them\n"
    "    with each process's weight (weight.json) into WORKDIR/hist/all.hist.h5, exactly:\n"
    "    the same bits as dmpipe hist of the catalog from scratch;\n"
    "  - a lock (WORKDIR/.dmpipe/lock, an OFD lock that dies with its holder, naming its\n"
    "    host, pid and start): a second nightly or run on the same work folder exits at\n"
    "    once with status 75 naming the holder; the lock of a killed process is taken\n"
    "    over (on any host);\n"
    "  - every output and record is written under a temporary name and renamed, and a\n"
    "    step's record only after it succeeded: a kill -9 at any moment leaves the\n"
    "    previous catalog and results readable, and the next run redoes exactly what was\n"
    "    not finished (steps started by a killed nightly are stopped with it);\n"
    "  - with nothing new it runs nothing and says so; every run writes a summary of\n"
    "    what changed to WORKDIR/nightly/summary.txt and summary.json (and run.json).\n"
    "\n"
    "  --workdir DIR    instead of the file's workdir:\n"
    "  --json           print the summary as JSON\n"
    "  --quiet          no line per step\n"
    "  --help           this text\n"
    "\n"
    "Exit status: 0 done (or nothing to do), 1 a step failed (named, with its log),\n"
    "75 another nightly holds the lock, 2 usage.\n"
    "\n";

/* ---- the manifest ---- */

static const cJSON *find_sample(const cJSON *arr, const char *name)
{
  const cJSON *x;
  cJSON_ArrayForEach(x, arr)
  {
    const char *n = dm_pipe_jstr(x, "name");
    if (n && !strcmp(n, name))
      return x;
  }
  return NULL;
}

static dm_status write_json(const char *path, const cJSON *j)
{
  char *t = cJSON_Print(j);
  if (!t)
    return dm_error(DM_ERR_NOMEM, "no memory");
  size_t n = strlen(t);
  t[n] = '\n';
  dm_status s = dm_pipe_write_atomic(path, t, n + 1);
  free(t);
  return s;
}

/* The manifest from the report: each ingest.NAME step's input and checksum. */
static cJSON *manifest_now(const cJSON *rep)
{
  cJSON *m = cJSON_CreateArray();
  const cJSON *st;
  cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(rep, "steps"))
  {
    const char *name = dm_pipe_jstr(st, "name");
    if (!name || strncmp(name, "ingest.", 7))
      continue;
    const cJSON *in = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "inputs"), 0);
    const char *path = in ? dm_pipe_jstr(in, "path") : NULL;
    const char *sum = in ? dm_pipe_jstr(in, "checksum") : NULL;
    if (!path || !sum)
      continue;
    struct stat sb;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name + 7);
    cJSON_AddStringToObject(o, "path", path);
    if (stat(path, &sb) == 0) {
      char when[40];
      struct tm tm;
      gmtime_r(&sb.st_mtime, &tm);
      strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
      cJSON_AddNumberToObject(o, "size", (double)sb.st_size);
      cJSON_AddStringToObject(o, "mtime", when);
    }
    cJSON_AddStringToObject(o, "checksum", sum);
    cJSON_AddStringToObject(o, "state", dm_pipe_jstr(st, "state") ? dm_pipe_jstr(st, "state") : "");
    cJSON_AddItemToArray(m, o);
  }
  return m;
}

static void list_add(cJSON *arr, const char *s) { cJSON_AddItemToArray(arr, cJSON_CreateString(s)); }

static void print_list(FILE *f, const char *what, const cJSON *arr)
{
  fprintf(f, "%-9s %d", what, cJSON_GetArraySize(arr));
  const cJSON *x;
  int k = 0;
  cJSON_ArrayForEach(x, arr) fprintf(f, "%s%s", k++ ? ", " : ": ", x->valuestring);
  fputc('\n', f);
}

static int nightly(dm_pipe *p, const char *exe, int json, int quiet)
{
  char *dmdir = dm_pipe_fmt("%s/.dmpipe", p->workdir);
  char *ndir = dm_pipe_fmt("%s/nightly", p->workdir);
  char *mpath = dm_pipe_fmt("%s/nightly/manifest.json", p->workdir);
  char *sjson = dm_pipe_fmt("%s/nightly/summary.json", p->workdir);
  char *stxt = dm_pipe_fmt("%s/nightly/summary.txt", p->workdir);
  int rc = 1;
  dm_claim lock = {.fd = -1};
  dm_status s = dm_pipe_mkdirs(dmdir);
  if (s == DM_OK)
    s = dm_pipe_mkdirs(ndir);
  if (s != DM_OK) {
    fprintf(stderr, "dmpipe nightly: %s\n", dm_error_message());
    goto out;
  }
  int l = dm_pipe_cli_lock("nightly", p, &lock);
  if (l != 0) {
    rc = l;
    goto out;
  }
  char started[32];
  dm_prov_now(started);
  cJSON *old = dm_pipe_read_json(mpath);
  const cJSON *old_samples = old ? cJSON_GetObjectItemCaseSensitive(old, "samples") : NULL;
  cJSON *rep = NULL;
  int failed = 0;
  dm_pipe_exec_opts o = {.run = 1, .quiet = quiet || json, .exe = exe,
                         .cmd = "nightly"};
  /* A generated archive first: the samples are its files. */
  if (p->generate) {
    o.only = "generate";
    p->per_sample = 1;
    s = dm_pipe_execute(p, &o, &rep, &failed);
    cJSON_Delete(rep);
    rep = NULL;
    o.only = NULL;
  }
  p->per_sample = 1;
  if (s == DM_OK && !failed)
    s = dm_pipe_execute(p, &o, &rep, &failed);
  if (s != DM_OK) {
    fprintf(stderr, "dmpipe nightly: %s\n", dm_error_message());
    cJSON_Delete(old);
    goto out;
  }
  if (!rep) { /* the generate step failed */
    fprintf(stderr, "dmpipe nightly: step generate failed; log: %s/logs/generate.log\n",
            p->workdir);
    cJSON_Delete(old);
    goto out;
  }
  cJSON *now = manifest_now(rep);
  cJSON *added = cJSON_CreateArray(), *changed = cJSON_CreateArray(),
        *removed = cJSON_CreateArray(), *reingested = cJSON_CreateArray();
  const cJSON *x;
  cJSON_ArrayForEach(x, now)
  {
    const char *name = dm_pipe_jstr(x, "name");
    const cJSON *was = find_sample(old_samples, name);
    if (!was)
      list_add(added, name);
    else if (strcmp(dm_pipe_jstr(was, "checksum") ? dm_pipe_jstr(was, "checksum") : "", dm_pipe_jstr(x, "checksum")))
      list_add(changed, name);
    if (!strcmp(dm_pipe_jstr(x, "state"), "ran"))
      list_add(reingested, name);
  }
  cJSON_ArrayForEach(x, old_samples)
  {
    const char *name = dm_pipe_jstr(x, "name");
    if (name && !find_sample(now, name)) {
      list_add(removed, name);
      /* Out of the catalog now (it was rebuilt without it): drop its store. */
      if (!failed) {
        const char *suffix[] = {".h5", ".ingest.json", ".rejects.txt"};
        for (int k = 0; k < 3; k++) {
          char *f = dm_pipe_fmt("%s/samples/%s%s", p->workdir, name, suffix[k]);
          if (f)
            unlink(f);
          free(f);
        }
        /* Its histograms (histograms:) left the merge with it. */
        char *h = dm_pipe_fmt("%s/hist/samples/%s.hist.h5", p->workdir, name);
        if (h)
          unlink(h);
        free(h);
        const char *rec[] = {"ingest", "hist"};
        for (int k = 0; k < 2; k++) {
          char *r = dm_pipe_fmt("%s/.dmpipe/steps/%s.%s.json", p->workdir, rec[k], name);
          if (r)
            unlink(r);
          free(r);
        }
      }
    }
  }
  const cJSON *counts = cJSON_GetObjectItemCaseSensitive(rep, "counts");
  const cJSON *ran = cJSON_GetObjectItemCaseSensitive(counts, "ran");
  int n_ran = cJSON_IsNumber(ran) ? ran->valueint : 0;
  int nothing = n_ran == 0 && !failed && cJSON_GetArraySize(removed) == 0 &&
                cJSON_GetArraySize(added) == 0 && cJSON_GetArraySize(changed) == 0;

  cJSON *sum = cJSON_CreateObject();
  char when[32];
  dm_prov_now(when);
  cJSON_AddStringToObject(sum, "format", "dmpipe-nightly");
  cJSON_AddStringToObject(sum, "pipeline", p->path);
  cJSON_AddStringToObject(sum, "workdir", p->workdir);
  cJSON_AddStringToObject(sum, "started", started);
  cJSON_AddStringToObject(sum, "finished", when);
  cJSON_AddBoolToObject(sum, "nothing_new", nothing);
  cJSON_AddBoolToObject(sum, "ok", !failed);
  cJSON_AddNumberToObject(sum, "samples", cJSON_GetArraySize(now));
  cJSON_AddItemToObject(sum, "added", added);
  cJSON_AddItemToObject(sum, "changed", changed);
  cJSON_AddItemToObject(sum, "removed", removed);
  cJSON_AddItemToObject(sum, "ingested", reingested);
  cJSON *sr = cJSON_AddArrayToObject(sum, "steps_ran");
  cJSON *sf = cJSON_AddArrayToObject(sum, "steps_not_done");
  cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(rep, "steps"))
  {
    const char *st = dm_pipe_jstr(x, "state");
    if (st && !strcmp(st, "ran"))
      list_add(sr, dm_pipe_jstr(x, "name"));
    if (st && (!strcmp(st, "failed") || !strcmp(st, "blocked")))
      list_add(sf, dm_pipe_jstr(x, "name"));
  }
  cJSON_AddItemToObject(sum, "counts", cJSON_Duplicate(counts, 1));
  cJSON_AddItemToObject(
      sum, "total_improvement",
      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(rep, "total_improvement"), 1));

  /* The text summary. */
  char *text = NULL;
  size_t tlen = 0;
  FILE *mf = open_memstream(&text, &tlen);
  if (mf) {
    fprintf(mf, "dmpipe nightly %s (%s)\n", when, p->workdir);
    if (nothing)
      fprintf(mf, "nothing new: %d samples unchanged, every step up to date; nothing done\n",
              cJSON_GetArraySize(now));
    print_list(mf, "added", added);
    print_list(mf, "changed", changed);
    print_list(mf, "removed", removed);
    print_list(mf, "ingested", reingested);
    print_list(mf, "steps ran", sr);
    if (failed)
      print_list(mf, "not done", sf);
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(sum, "total_improvement"))
    {
      dm_pipe_ti_line(mf, m);
    }
    fclose(mf);
  }
  s = write_json(sjson, sum);
  if (s == DM_OK && text)
    s = dm_pipe_write_atomic(stxt, text, tlen);
  /* The manifest last, and only when everything succeeded: it is what the
   * next run compares with. */
  if (s == DM_OK && !failed) {
    cJSON *man = cJSON_CreateObject();
    cJSON_AddStringToObject(man, "format", "dmpipe-manifest");
    cJSON_AddStringToObject(man, "updated", when);
    cJSON_AddItemToObject(man, "samples", now);
    now = NULL;
    s = write_json(mpath, man);
    cJSON_Delete(man);
  }
  if (json) {
    char *t = cJSON_Print(sum);
    if (t)
      puts(t);
    free(t);
  } else if (text) {
    fputs(text, stdout);
  }
  if (s != DM_OK)
    fprintf(stderr, "dmpipe nightly: %s\n", dm_error_message());
  if (failed)
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(rep, "steps"))
    {
      const char *st = dm_pipe_jstr(x, "state");
      if (st && !strcmp(st, "failed"))
        fprintf(stderr, "dmpipe nightly: step %s failed; log: %s\n", dm_pipe_jstr(x, "name"),
                dm_pipe_jstr(x, "log"));
    }
  rc = (s == DM_OK && !failed) ? 0 : 1;
  free(text);
  cJSON_Delete(now);
  cJSON_Delete(sum);
  cJSON_Delete(rep);
  cJSON_Delete(old);
out:
  dm_claim_release(&lock);
  free(dmdir);
  free(ndir);
  free(mpath);
  free(sjson);
  free(stxt);
  return rc;
}

int dm_cmd_nightly(int argc, char **argv, MPI_Comm comm)
{
  (void)comm;
  const char *path = NULL, *workdir = NULL;
  int json = 0, quiet = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(help, stdout);
      fputs(dm_pipe_keys_help, stdout);
      return 0;
    } else if (!strcmp(a, "--workdir") && i + 1 < argc) {
      workdir = argv[++i];
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "--quiet")) {
      quiet = 1;
    } else if (a[0] == '-' || path) {
      fprintf(stderr, "dmpipe nightly: unexpected argument %s; see dmpipe nightly --help\n", a);
      return 2;
    } else {
      path = a;
    }
  }
  if (!path) {
    fprintf(stderr, "dmpipe nightly: no pipeline file given; see dmpipe nightly --help\n");
    return 2;
  }
  if (dm_pipe_cli_refuse_mpi("nightly"))
    return 1;
  dm_pipe *p = NULL;
  char exe[PATH_MAX];
  if (dm_pipe_cli_load("nightly", path, workdir, &p, exe, sizeof exe))
    return 1;
  int rc = nightly(p, exe, json, quiet);
  dm_pipe_free(p);
  return rc;
}
