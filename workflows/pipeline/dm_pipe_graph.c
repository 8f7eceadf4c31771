/* dm_pipe_graph.c - the steps of a pipeline: each one dmpipe command with
 * its input and output files, in dependency order. Output names are fixed
 * by the step (WORKDIR/<channel>/<model>.scores.h5, ...), so a step's
 * outputs are found again by the next run, by `status` and by Slurm jobs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dm_atomic.h"
#include "dm_pipe.h"
#include "dm_proctable.h"
#include "dm_text.h"

const char *dm_pipe_kind_name(dm_pipe_kind k)
{
  static const char *const names[] = {"generate", "ingest", "weight",  "select",
                                      "train",    "score",  "metrics", "hist",
                                      "dataset"};
  return k < DM_PIPE_KINDS ? names[k] : "?";
}

char *dm_pipe_strdup(const char *s)
{
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

char *dm_pipe_fmt(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0)
    s = NULL;
  va_end(ap);
  return s;
}

char *dm_pipe_join(const char *dir, const char *rel)
{
  if (rel[0] == '/')
    return dm_pipe_strdup(rel);
  if (!strcmp(rel, "."))
    return dm_pipe_strdup(dir);
  return dm_pipe_fmt("%s/%s", dir, rel);
}

void dm_pipe_strv_free(char **v, int n)
{
  if (!v)
    return;
  for (int i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

dm_status dm_pipe_mkdirs(const char *dir)
{
  char *d = dm_pipe_strdup(dir);
  if (!d)
    return dm_error(DM_ERR_NOMEM, "no memory");
  for (char *q = d + 1;; q++) {
    if (*q == '/' || !*q) {
      char c = *q;
      *q = 0;
      if (mkdir(d, 0777) != 0 && errno != EEXIST) {
        dm_status s = dm_error(DM_ERR_IO, "cannot create folder %s: %s", d, strerror(errno));
        free(d);
        return s;
      }
      *q = c;
      if (!c)
        break;
    }
  }
  free(d);
  return DM_OK;
}

cJSON *dm_pipe_read_json(const char *path)
{
  char *buf = NULL;
  size_t len = 0;
  /* Records and manifests are small; a missing or unreadable one is "none". */
  if (dm_text_read_file(path, NULL, (size_t)1 << 30, &buf, &len) != DM_OK) {
    dm_error_clear();
    return NULL;
  }
  cJSON *j = cJSON_ParseWithLength(buf, len);
  free(buf);
  return j;
}

const char *dm_pipe_jstr(const cJSON *o, const char *k)
{
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(x) ? x->valuestring : NULL;
}

dm_status dm_pipe_write_atomic(const char *path, const char *buf, size_t len)
{
  /* The one atomic write path (io/dm_atomic.h): claimed, written under a
   * temporary of this process, synced, renamed, folder synced. */
  dm_atomic a;
  FILE *f = NULL;
  DM_FORWARD(dm_atomic_fopen(&a, path, &f));
  dm_status s = DM_OK;
  if (len > 0 && fwrite(buf, 1, len, f) != len)
    s = dm_error(DM_ERR_IO, "writing %s failed: %s", a.tmp_path, dm_strerror_io(errno));
  return dm_atomic_fclose(&a, f, s);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static dm_status push(char ***v, int *n, int *cap, char *s)
{
  if (!s)
    return dm_error(DM_ERR_NOMEM, "no memory");
  if (*n == *cap) {
    int nc = *cap ? 2 * *cap : 16;
    char **nv = realloc(*v, nc * sizeof *nv);
    if (!nv) {
      free(s);
      return dm_error(DM_ERR_NOMEM, "no memory");
    }
    *v = nv;
    *cap = nc;
  }
  (*v)[(*n)++] = s;
  return DM_OK;
}

dm_status dm_pipe_archive_files(const dm_pipe *p, char ***files, int *n)
{
  char **v = NULL;
  int cnt = 0, cap = 0;
  dm_status s = DM_OK;
  int n_src = p->generate ? 1 : p->n_archive;
  for (int a = 0; a < n_src && s == DM_OK; a++) {
    char *pat = p->generate ? dm_pipe_fmt("%s/archive/*.csv", p->workdir)
                            : dm_pipe_strdup(p->archive[a]);
    struct stat st;
    if (pat && !p->generate && stat(pat, &st) == 0 && S_ISDIR(st.st_mode)) {
      char *g = dm_pipe_fmt("%s/*.csv", pat);
      free(pat);
      pat = g;
    }
    if (!pat) {
      s = dm_error(DM_ERR_NOMEM, "no memory");
      break;
    }
    glob_t g;
    int rc = glob(pat, 0, NULL, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
      s = dm_error(DM_ERR_IO, "archive: nothing matches %s", pat);
    } else if (rc != 0) {
      s = dm_error(DM_ERR_IO, "archive: cannot list %s", pat);
    } else {
      for (size_t i = 0; i < g.gl_pathc && s == DM_OK; i++) {
        /* Only files: a temporary of a running generate is not a sample. */
        size_t l = strlen(g.gl_pathv[i]);
        if (l > 4 && !strcmp(g.gl_pathv[i] + l - 4, ".tmp"))
          continue;
        s = push(&v, &cnt, &cap, dm_pipe_strdup(g.gl_pathv[i]));
      }
    }
    if (rc == 0 || rc == GLOB_NOMATCH)
      globfree(&g);
    free(pat);
  }
  if (s != DM_OK) {
    dm_pipe_strv_free(v, cnt);
    return s;
  }
  qsort(v, cnt, sizeof *v, cmp_str);
  int u = 0;
  for (int i = 0; i < cnt; i++) {
    if (u && !strcmp(v[u - 1], v[i]))
      free(v[i]);
    else
      v[u++] = v[i];
  }
  *files = v;
  *n = u;
  return DM_OK;
}

/* Building one step. */
typedef struct {
  char **argv;
  int argc, cap_a;
  char **in;
  int n_in, cap_in;
  char **out;
  int n_out, cap_out;
  dm_status s;
} builder;

static void arg(builder *b, const char *a)
{
  if (b->s == DM_OK)
    b->s = push(&b->argv, &b->argc, &b->cap_a, dm_pipe_strdup(a));
}
static void arg2(builder *b, const char *a, const char *v)
{
  arg(b, a);
  arg(b, v);
}
static void in(builder *b, const char *path)
{
  if (b->s == DM_OK)
    b->s = push(&b->in, &b->n_in, &b->cap_in, dm_pipe_strdup(path));
}
static void out(builder *b, const char *path)
{
  if (b->s == DM_OK)
    b->s = push(&b->out, &b->n_out, &b->cap_out, dm_pipe_strdup(path));
}
static void flags(builder *b, const dm_pipe_flags *f)
{
  for (int i = 0; i < f->n; i++) {
    char *k = dm_pipe_fmt("--%s", f->key[i]);
    arg(b, k);
    free(k);
    if (f->val[i])
      arg(b, f->val[i]);
  }
}
/* The process table is an input of every step that reads it: pass it when
 * the pipeline names one, checksum the shipped one otherwise. */
static void table(builder *b, const dm_pipe *p, int pass)
{
  if (p->xsec) {
    if (pass)
      arg2(b, "--xsec", p->xsec);
    in(b, p->xsec);
  } else {
    in(b, dm_proctable_default_path());
  }
}

/* The binnings of histograms: (the built-in ones when none is given). */
static void hist_binning(builder *b, const dm_pipe *p)
{
  if (p->hist_bins) {
    arg2(b, "--bins", p->hist_bins);
    in(b, p->hist_bins);
  }
  for (int i = 0; i < p->n_hist_vars; i++)
    arg2(b, "--var", p->hist_vars[i]);
  arg(b, "--quiet");
}

static dm_status finish(dm_pipe_step *st, builder *b, const dm_pipe *p)
{
  if (b->s != DM_OK) {
    dm_pipe_strv_free(b->argv, b->argc);
    dm_pipe_strv_free(b->in, b->n_in);
    dm_pipe_strv_free(b->out, b->n_out);
    return b->s;
  }
  st->argv = b->argv;
  st->argc = b->argc;
  st->in = b->in;
  st->n_in = b->n_in;
  st->out = b->out;
  st->n_out = b->n_out;
  st->log = dm_pipe_fmt("%s/logs/%s.log", p->workdir, st->name);
  return st->log ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
}

static dm_status build_ingest(const dm_pipe *p, dm_pipe_step *st, builder *b)
{
  char **files = NULL;
  int nf = 0;
  char *store = dm_pipe_fmt("%s/store.h5", p->workdir);
  char *rej = dm_pipe_fmt("%s/ingest.rejects.txt", p->workdir);
  char *js = dm_pipe_fmt("%s/ingest.json", p->workdir);
  arg(b, "ingest");
  arg2(b, "--out", store);
  arg2(b, "--rejects", rej);
  arg2(b, "--json", js);
  flags(b, &st->res.flags);
  out(b, store);
  out(b, js);
  /* Before a generate step has run there is nothing to list yet. */
  dm_status s = dm_pipe_archive_files(p, &files, &nf);
  if (s != DM_OK && p->generate) {
    dm_error_clear();
    s = DM_OK;
  }
  for (int i = 0; i < nf; i++) {
    arg(b, files[i]);
    in(b, files[i]);
  }
  dm_pipe_strv_free(files, nf);
  free(store);
  free(rej);
  free(js);
  if (s != DM_OK)
    b->s = s;
  return DM_OK;
}

dm_status dm_pipe_step_refresh(const dm_pipe *p, dm_pipe_step *st)
{
  if (st->kind != DM_PIPE_INGEST || p->per_sample)
    return DM_OK;
  builder b = {0};
  b.s = DM_OK;
  build_ingest(p, st, &b);
  if (b.s != DM_OK) {
    dm_pipe_strv_free(b.argv, b.argc);
    dm_pipe_strv_free(b.in, b.n_in);
    dm_pipe_strv_free(b.out, b.n_out);
    return b.s;
  }
  dm_pipe_strv_free(st->argv, st->argc);
  dm_pipe_strv_free(st->in, st->n_in);
  dm_pipe_strv_free(st->out, st->n_out);
  free(st->log);
  return finish(st, &b, p);
}

dm_status dm_pipe_steps(const dm_pipe *p, dm_pipe_step **steps, int *n)
{
  char **samples = NULL;
  int n_samples = 0;
  if (p->per_sample) {
    dm_status ls = dm_pipe_archive_files(p, &samples, &n_samples);
    /* Before a generate step ran there are no samples yet. */
    if (ls != DM_OK && p->generate)
      dm_error_clear();
    else
      DM_FORWARD(ls);
  }
  int max = 6 + 2 * n_samples + p->n_channels * (1 + 2 * p->n_models) + p->n_models +
            p->n_datasets;
  int dep_cap = 4 + n_samples + p->n_channels;
  dm_pipe_step *v = calloc(max, sizeof *v);
  int *dep_mem = calloc((size_t)max * dep_cap, sizeof *dep_mem);
  if (!v || !dep_mem) {
    free(v);
    free(dep_mem);
    dm_pipe_strv_free(samples, n_samples);
    return dm_error(DM_ERR_NOMEM, "no memory");
  }
  /* One block holds every step's dependency list (freed with step 0's). */
  for (int i = 0; i < max; i++)
    v[i].deps = dep_mem + (size_t)i * dep_cap;
  int cnt = 0;
  dm_status s = DM_OK;
  const char *w = p->workdir;
  char *store = dm_pipe_fmt("%s/store.h5", w);
  char *store_side = dm_pipe_fmt("%s/store.h5" DM_PIPE_DERIVED, w);
#define NEW_STEP(K, ...)                                                   \
  dm_pipe_step *st = &v[cnt++];                                            \
  builder b = {0};                                                         \
  b.s = DM_OK;                                                             \
  st->kind = (K);                                                          \
  st->channel = st->model = -1;                                            \
  st->res = p->res[K];                                                     \
  snprintf(st->name, sizeof st->name, __VA_ARGS__)

  int i_gen = -1, i_ingest, i_weight, first_sample = -1;
  if (p->generate) {
    NEW_STEP(DM_PIPE_GENERATE, "generate");
    char *dir = dm_pipe_fmt("%s/archive", w);
    char *ev = dm_pipe_fmt("%lld", (long long)p->gen_events);
    char *seed = dm_pipe_fmt("%llu", (unsigned long long)p->gen_seed);
    arg(&b, "generate");
    arg2(&b, "--out", dir);
    arg2(&b, "--events", ev);
    arg2(&b, "--seed", seed);
    if (p->gen_processes)
      arg2(&b, "--processes", p->gen_processes);
    table(&b, p, 1);
    st->out_glob = dm_pipe_fmt("%s/*.csv", dir);
    free(dir);
    free(ev);
    free(seed);
    s = finish(st, &b, p);
    i_gen = cnt - 1;
  }
  if (s == DM_OK && p->per_sample) {
    /* One store per sample, then the catalog of them all. */
    int first = cnt;
    first_sample = first;
    for (int i = 0; i < n_samples && s == DM_OK; i++) {
      const char *base = strrchr(samples[i], '/') ? strrchr(samples[i], '/') + 1 : samples[i];
      size_t bl = strlen(base);
      if (bl > 4 && !strcmp(base + bl - 4, ".csv"))
        bl -= 4;
      for (int j = first; j < cnt && s == DM_OK; j++)
        if (!strncmp(v[j].name + 7, base, bl) && v[j].name[7 + bl] == 0)
          s = dm_error(DM_ERR_ARG, "archive: two samples named %.*s (%s and %s)", (int)bl,
                       base, v[j].in[0], samples[i]);
      if (s != DM_OK)
        break;
      NEW_STEP(DM_PIPE_INGEST, "ingest.%.*s", (int)bl, base);
      char *out_h5 = dm_pipe_fmt("%s/samples/%.*s.h5", w, (int)bl, base);
      char *rej = dm_pipe_fmt("%s/samples/%.*s.rejects.txt", w, (int)bl, base);
      char *js = dm_pipe_fmt("%s/samples/%.*s.ingest.json", w, (int)bl, base);
      arg(&b, "ingest");
      arg2(&b, "--out", out_h5);
      arg2(&b, "--rejects", rej);
      arg2(&b, "--json", js);
      flags(&b, &st->res.flags);
      arg(&b, samples[i]);
      in(&b, samples[i]);
      out(&b, out_h5);
      out(&b, js);
      if (i_gen >= 0)
        st->deps[st->n_deps++] = i_gen;
      free(out_h5);
      free(rej);
      free(js);
      s = finish(st, &b, p);
    }
    if (s == DM_OK) {
      NEW_STEP(DM_PIPE_INGEST, "catalog");
      arg(&b, "catalog");
      arg2(&b, "--out", store);
      arg(&b, "--quiet");
      for (int j = first; j < cnt - 1; j++) {
        arg(&b, v[j].out[0]);
        in(&b, v[j].out[0]);
        st->deps[st->n_deps++] = j;
      }
      out(&b, store);
      s = finish(st, &b, p);
    }
  } else if (s == DM_OK) {
    NEW_STEP(DM_PIPE_INGEST, "ingest");
    build_ingest(p, st, &b);
    if (i_gen >= 0)
      st->deps[st->n_deps++] = i_gen;
    s = finish(st, &b, p);
  }
  i_ingest = cnt - 1;
  if (s == DM_OK) {
    NEW_STEP(DM_PIPE_WEIGHT, "weight");
    char *lumi = dm_pipe_fmt("%.17g", p->lumi);
    char *js = dm_pipe_fmt("%s/weight.json", w);
    arg(&b, "weight");
    arg2(&b, "--in", store);
    arg2(&b, "--lumi", lumi);
    table(&b, p, 1);
    arg2(&b, "--json", js);
    arg(&b, "--quiet");
    flags(&b, &st->res.flags);
    in(&b, store);
    out(&b, store_side);
    out(&b, js);
    st->deps[st->n_deps++] = i_ingest;
    free(lumi);
    free(js);
    s = finish(st, &b, p);
  }
  i_weight = cnt - 1;
  int *i_sel = calloc(p->n_channels, sizeof *i_sel);
  int *i_score = calloc((size_t)p->n_channels * p->n_models + 1, sizeof *i_score);
  if (!i_sel || !i_score)
    s = dm_error(DM_ERR_NOMEM, "no memory");
  for (int c = 0; c < p->n_channels && s == DM_OK; c++) {
    const dm_pipe_channel *ch = &p->channels[c];
    char *cdir = dm_pipe_fmt("%s/%s", w, ch->name);
    char *sel = dm_pipe_fmt("%s/sel.h5", cdir);
    char *side = dm_pipe_fmt("%s/sel.h5" DM_PIPE_DERIVED, cdir);
    {
      NEW_STEP(DM_PIPE_SELECT, "select.%s", ch->name);
      st->channel = c;
      char *cf = dm_pipe_fmt("%s/cutflow.json", cdir);
      arg(&b, "select");
      arg2(&b, "--in", store);
      if (ch->cuts) {
        arg2(&b, "--cuts", ch->cuts);
        in(&b, ch->cuts);
      } else {
        arg2(&b, "--channel", ch->name);
      }
      arg2(&b, "--out", sel);
      arg2(&b, "--cutflow", cf);
      table(&b, p, 1);
      arg(&b, "--quiet");
      flags(&b, &st->res.flags);
      in(&b, store);
      in(&b, store_side);
      out(&b, sel);
      out(&b, side);
      out(&b, cf);
      st->deps[st->n_deps++] = i_weight;
      free(cf);
      s = finish(st, &b, p);
      i_sel[c] = cnt - 1;
    }
    for (int m = 0; m < p->n_models && s == DM_OK; m++) {
      const dm_pipe_model *md = &p->models[m];
      char *model = dm_pipe_fmt("%s/%s.model.h5", cdir, md->name);
      {
        NEW_STEP(DM_PIPE_TRAIN, "train.%s.%s", ch->name, md->name);
        st->channel = c;
        st->model = m;
        st->res = md->res;
        char *js = dm_pipe_fmt("%s/%s.train.json", cdir, md->name);
        arg(&b, "train");
        arg(&b, md->kind);
        arg2(&b, "--in", sel);
        arg2(&b, "--out", model);
        arg2(&b, "--json", js);
        table(&b, p, 1);
        arg(&b, "--quiet");
        if (!strcmp(md->kind, "svdd")) {
          /* Per-epoch checkpoints: a preempted or requeued job resumes to
           * the same weights (bitwise). A fresh run removes it first. */
          st->checkpoint = dm_pipe_fmt("%s/%s.ckpt.h5", cdir, md->name);
          arg2(&b, "--checkpoint", st->checkpoint);
          arg(&b, "--resume");
        }
        flags(&b, &md->res.flags);
        in(&b, sel);
        in(&b, side);
        out(&b, model);
        out(&b, js);
        st->deps[st->n_deps++] = i_sel[c];
        free(js);
        s = finish(st, &b, p);
      }
      if (s == DM_OK) {
        NEW_STEP(DM_PIPE_SCORE, "score.%s.%s", ch->name, md->name);
        st->channel = c;
        st->model = m;
        char *sc = dm_pipe_fmt("%s/%s.scores.h5", cdir, md->name);
        char *js = dm_pipe_fmt("%s/%s.score.json", cdir, md->name);
        arg(&b, "score");
        arg2(&b, "--model", model);
        arg2(&b, "--in", sel);
        arg2(&b, "--out", sc);
        arg2(&b, "--channel", ch->name);
        arg2(&b, "--json", js);
        arg(&b, "--quiet");
        flags(&b, &st->res.flags);
        in(&b, model);
        in(&b, sel);
        in(&b, side);
        out(&b, sc);
        out(&b, js);
        st->deps[st->n_deps++] = cnt - 2;
        free(sc);
        free(js);
        s = finish(st, &b, p);
        i_score[c * p->n_models + m] = cnt - 1;
      }
      free(model);
    }
    free(cdir);
    free(sel);
    free(side);
  }
  for (int m = 0; m < p->n_models && s == DM_OK; m++) {
    const dm_pipe_model *md = &p->models[m];
    NEW_STEP(DM_PIPE_METRICS, "metrics.%s", md->name);
    st->model = m;
    char *js = dm_pipe_fmt("%s/%s.metrics.json", w, md->name);
    char *hist = dm_pipe_fmt("%s/%s.hist.h5", w, md->name);
    arg(&b, "metrics");
    for (int c = 0; c < p->n_channels; c++) {
      const char *cn = p->channels[c].name;
      char *sc = dm_pipe_fmt("%s/%s/%s.scores.h5", w, cn, md->name);
      char *sa = dm_pipe_fmt("%s=%s", cn, sc);
      char *sel = dm_pipe_fmt("%s/%s/sel.h5", w, cn);
      char *side = dm_pipe_fmt("%s/%s/sel.h5" DM_PIPE_DERIVED, w, cn);
      arg2(&b, "--scores", sa);
      in(&b, sc);
      /* The weights come from the scored stores. */
      in(&b, sel);
      in(&b, side);
      st->deps[st->n_deps++] = i_score[c * p->n_models + m];
      free(sc);
      free(sa);
      free(sel);
      free(side);
    }
    table(&b, p, 1);
    arg2(&b, "--json", js);
    out(&b, js);
    if (p->histograms) {
      arg2(&b, "--hist-out", hist);
      out(&b, hist);
    }
    flags(&b, &st->res.flags);
    free(js);
    free(hist);
    s = finish(st, &b, p);
  }
  /* histograms: of the store (dmpipe run), or per sample with unit weights
   * and merged with each process's weight (nightly: only new or changed
   * samples are histogrammed again; the merge equals dmpipe hist of the
   * catalog, bit for bit). */
  if (s == DM_OK && p->hist && p->per_sample) {
    /* The merge gives each process one weight: per-event weights cannot be
     * rebuilt from counts. */
    for (int f = 0; f < p->res[DM_PIPE_WEIGHT].flags.n && s == DM_OK; f++)
      if (!strcmp(p->res[DM_PIPE_WEIGHT].flags.key[f], "rescale-lumi"))
        s = dm_error(DM_ERR_ARG,
                     "%s:%d: histograms: dmpipe nightly merges per-sample histograms with one "
                     "weight per process from the process table, and weight: options: "
                     "rescale-lumi gives weights per event: the merge could not equal the "
                     "histograms of the catalog. Drop rescale-lumi or histograms:",
                     p->path, p->hist_line);
  }
  if (s == DM_OK && p->hist) {
    char *all = dm_pipe_fmt("%s/hist/all.hist.h5", w);
    char *wjs = dm_pipe_fmt("%s/weight.json", w);
    int first_hist = cnt;
    for (int j = first_sample; p->per_sample && j >= 0 && j < i_ingest && s == DM_OK; j++) {
      if (v[j].kind != DM_PIPE_INGEST || strncmp(v[j].name, "ingest.", 7))
        continue;
      const char *nm = v[j].name + 7;
      NEW_STEP(DM_PIPE_HIST, "hist.%s", nm);
      char *h = dm_pipe_fmt("%s/hist/samples/%s.hist.h5", w, nm);
      arg(&b, "hist");
      arg2(&b, "--in", v[j].out[0]);
      arg2(&b, "--out", h);
      arg(&b, "--unit-weights");
      hist_binning(&b, p);
      in(&b, v[j].out[0]);
      out(&b, h);
      st->deps[st->n_deps++] = j;
      free(h);
      s = finish(st, &b, p);
    }
    if (s == DM_OK) {
      NEW_STEP(DM_PIPE_HIST, "hist");
      if (p->per_sample) {
        /* Small files, read whole by every rank with a collective call per
         * dataset: one rank is fastest (3 s here for 43 samples, where 2
         * ranks on a loaded machine took 39 s). */
        st->res.ranks = 1;
        st->res.threads = 1;
        arg(&b, "hist");
        arg2(&b, "--merge", all);
        arg2(&b, "--scale-weights", wjs);
        arg(&b, "--quiet");
        for (int j = first_hist; j < cnt - 1; j++) {
          arg(&b, v[j].out[0]);
          in(&b, v[j].out[0]);
          st->deps[st->n_deps++] = j;
        }
        in(&b, wjs);
      } else {
        arg(&b, "hist");
        arg2(&b, "--in", store);
        arg2(&b, "--out", all);
        hist_binning(&b, p);
        in(&b, store);
        in(&b, store_side);
      }
      out(&b, all);
      st->deps[st->n_deps++] = i_weight;
      s = finish(st, &b, p);
    }
    free(all);
    free(wjs);
  }
  /* datasets: each a dmpipe dataset KIND of one channel, from the weighted
   * store into WORKDIR/datasets/KIND/CHANNEL (a folder the step owns: its
   * files are its outputs, replaced when it reruns). Hackathon sets first:
   * a secret set may exclude one. */
  int first_dataset = cnt;
  for (int pass = 0; pass < 2 && s == DM_OK; pass++)
    for (int i = 0; i < p->n_datasets && s == DM_OK; i++) {
      const dm_pipe_dataset *d = &p->datasets[i];
      int secret = !strcmp(d->kind, "secret");
      if (secret != pass)
        continue;
      NEW_STEP(DM_PIPE_DATASET, "dataset.%s.%s", d->kind, d->channel);
      st->res = d->res;
      char *dir = dm_pipe_fmt("%s/datasets/%s/%s", w, d->kind, d->channel);
      arg(&b, "dataset");
      arg(&b, d->kind);
      arg2(&b, "--in", store);
      arg2(&b, "--out", dir);
      arg2(&b, secret ? "--channel" : "--channels", d->channel);
      if (d->lumi)
        arg2(&b, "--lumi", d->lumi);
      if (d->signals)
        arg2(&b, "--signals", d->signals);
      if (d->train_fraction)
        arg2(&b, "--train-fraction", d->train_fraction);
      if (d->inject)
        arg2(&b, "--inject", d->inject);
      if (d->decoys)
        arg2(&b, "--decoys", d->decoys);
      if (d->seed)
        arg2(&b, "--seed", d->seed);
      if (d->weight_lumi)
        arg2(&b, "--weight-lumi", d->weight_lumi);
      table(&b, p, 1);
      in(&b, store);
      in(&b, store_side);
      st->deps[st->n_deps++] = i_weight;
      if (d->exclude) {
        char *man = dm_pipe_fmt("%s/datasets/hackathon/%s/manifest.json", w, d->channel);
        arg2(&b, "--exclude", man);
        in(&b, man);
        for (int j = first_dataset; j < cnt - 1; j++)
          if (!strcmp(v[j].out[0], man))
            st->deps[st->n_deps++] = j;
        free(man);
      }
      arg(&b, "--quiet");
      flags(&b, &d->res.flags);
      /* The file names carry the luminosity (max: known only afterwards):
       * every file of the folder is an output. out[0] names the main one. */
      if (secret) {
        char *lab = dm_pipe_fmt("%s/labels_%s.h5", dir, d->channel);
        out(&b, lab);
        free(lab);
      } else {
        char *man = dm_pipe_fmt("%s/manifest.json", dir);
        out(&b, man);
        free(man);
      }
      st->out_glob = dm_pipe_fmt("%s/*", dir);
      free(dir);
      s = finish(st, &b, p);
    }
#undef NEW_STEP
  free(i_sel);
  free(i_score);
  free(store);
  free(store_side);
  dm_pipe_strv_free(samples, n_samples);
  if (s != DM_OK) {
    dm_pipe_steps_free(v, cnt);
    return s;
  }
  *steps = v;
  *n = cnt;
  return DM_OK;
}

void dm_pipe_steps_free(dm_pipe_step *steps, int n)
{
  if (!steps)
    return;
  for (int i = 0; i < n; i++) {
    dm_pipe_strv_free(steps[i].argv, steps[i].argc);
    dm_pipe_strv_free(steps[i].in, steps[i].n_in);
    dm_pipe_strv_free(steps[i].out, steps[i].n_out);
    free(steps[i].out_glob);
    free(steps[i].log);
    free(steps[i].checkpoint);
  }
  free(steps[0].deps);
  free(steps);
}
