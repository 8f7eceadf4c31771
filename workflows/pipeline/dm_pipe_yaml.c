/* dm_pipe_yaml.c - the pipeline file: YAML (libyaml's document API, which
 * keeps each node's line) into a dm_pipe, every key and value checked. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "dm_hist_stage.h"
#include "dm_pipe.h"

typedef struct {
  yaml_document_t *doc;
  const char *file;
} ctx;

static int line_of(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

static dm_status bad(ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static dm_status bad(ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return dm_error(DM_ERR_FORMAT, "%s:%d: %s: %s", c->file, line_of(n), key, msg);
}

static const char *scalar(const yaml_node_t *n)
{
  return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static dm_status want_scalar(ctx *c, const yaml_node_t *n, const char *key, const char **out)
{
  *out = scalar(n);
  if (!*out || !**out)
    return bad(c, n, key, "expected a value");
  return DM_OK;
}

static dm_status want_int(ctx *c, const yaml_node_t *n, const char *key, long long lo,
                          long long hi, long long *out)
{
  const char *s;
  DM_FORWARD(want_scalar(c, n, key, &s));
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < lo || v > hi)
    return bad(c, n, key, "'%s' is not an integer in [%lld, %lld]", s, lo, hi);
  *out = v;
  return DM_OK;
}

static dm_status want_num(ctx *c, const yaml_node_t *n, const char *key, double lo, double hi,
                          double *out)
{
  const char *s;
  DM_FORWARD(want_scalar(c, n, key, &s));
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || !isfinite(v) || v < lo || v > hi)
    return bad(c, n, key, "'%s' is not a number in [%g, %g]", s, lo, hi);
  *out = v;
  return DM_OK;
}

static dm_status want_bool(ctx *c, const yaml_node_t *n, const char *key, int *out)
{
  const char *s;
  DM_FORWARD(want_scalar(c, n, key, &s));
  if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
    *out = 1;
  else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
    *out = 0;
  else
    return bad(c, n, key, "'%s' is not true or false", s);
  return DM_OK;
}

static dm_status want_path(ctx *c, const dm_pipe *p, const yaml_node_t *n, const char *key,
                           char **out)
{
  const char *s;
  DM_FORWARD(want_scalar(c, n, key, &s));
  free(*out);
  *out = dm_pipe_join(p->dir, s);
  return *out ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
}

/* Iterate a mapping: for each pair, k is the key text, v the value node. */
#define MAP_EACH(c, node, k, kn, v)                                                         \
  for (yaml_node_pair_t *pr_ = (node)->data.mapping.pairs.start;                           \
       pr_ < (node)->data.mapping.pairs.top; pr_++)                                          \
    for (yaml_node_t *kn = yaml_document_get_node((c)->doc, pr_->key),                     \
                     *v = yaml_document_get_node((c)->doc, pr_->value);                     \
         kn; kn = NULL)                                                                      \
      for (const char *k = scalar(kn) ? scalar(kn) : ""; k; k = NULL)

static dm_status want_map(ctx *c, const yaml_node_t *n, const char *key)
{
  if (n->type != YAML_MAPPING_NODE)
    return bad(c, n, key, "expected a mapping (key: value lines)");
  return DM_OK;
}

/* Flags a command's --help lists, to check `options:` before anything runs. */
typedef struct {
  char cmd[32];
  char *text;
} help_cache;

static const char *help_text(help_cache *hc, int *nhc, const char *exe, const char *cmd)
{
  for (int i = 0; i < *nhc; i++)
    if (!strcmp(hc[i].cmd, cmd))
      return hc[i].text;
  if (*nhc >= 16)
    return NULL;
  char *line = dm_pipe_fmt("'%s' %s --help 2>/dev/null", exe, cmd);
  FILE *f = line ? popen(line, "r") : NULL;
  free(line);
  if (!f)
    return NULL;
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  size_t r;
  while (buf && (r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += r;
    if (len + 1 == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) {
        free(buf);
        buf = NULL;
      }
      buf = nb;
    }
  }
  pclose(f);
  if (!buf)
    return NULL;
  buf[len] = 0;
  snprintf(hc[*nhc].cmd, sizeof hc[*nhc].cmd, "%s", cmd);
  hc[*nhc].text = buf;
  return hc[(*nhc)++].text;
}

static int help_has_flag(const char *help, const char *flag)
{
  size_t fl = strlen(flag);
  for (const char *q = help; (q = strstr(q, "--")); q += 2)
    if (!strncmp(q + 2, flag, fl) && !(q[2 + fl] == '-' || (q[2 + fl] >= 'a' && q[2 + fl] <= 'z')))
      return 1;
  return 0;
}

/* Flags the pipeline sets itself: an option may not override them. */
static const char *const reserved[] = {"in",      "out",   "json",   "xsec",  "lumi",
                                       "channel", "cuts",  "cutflow", "model", "scores",
                                       "store",   "hist-out", "rejects", "events", "seed",
                                       "processes", "checkpoint", "resume", "help", NULL};

static dm_status parse_options(ctx *c, const yaml_node_t *n, const char *key, const char *exe,
                               const char *cmd, help_cache *hc, int *nhc, dm_pipe_flags *fl)
{
  DM_FORWARD(want_map(c, n, key));
  const char *help = help_text(hc, nhc, exe, cmd);
  if (!help)
    return dm_error(DM_ERR_IO, "cannot run '%s %s --help' to check the options of %s:%d", exe,
                    cmd, c->file, line_of(n));
  MAP_EACH(c, n, k, kn, v)
  {
    for (int i = 0; reserved[i]; i++)
      if (!strcmp(k, reserved[i]))
        return bad(c, kn, key, "--%s is set by the pipeline itself", k);
    if (!*k || !help_has_flag(help, k))
      return bad(c, kn, key, "'%s' is not a flag of 'dmpipe %s' (see dmpipe %s --help)", k, cmd,
                 cmd);
    const char *val = NULL;
    if (v->type == YAML_SEQUENCE_NODE) {
      return bad(c, v, k, "expected a value, not a list (write lists as \"a,b\")");
    } else if (v->type != YAML_SCALAR_NODE) {
      return bad(c, v, k, "expected a value");
    }
    val = scalar(v);
    int b;
    /* true: the flag alone; false: left out. */
    if (want_bool(c, v, k, &b) == DM_OK) {
      dm_error_clear();
      if (!b)
        continue;
      val = NULL;
    } else {
      dm_error_clear();
      if (!*val)
        return bad(c, v, k, "expected a value");
    }
    char **nk = realloc(fl->key, (fl->n + 1) * sizeof *nk);
    if (!nk)
      return dm_error(DM_ERR_NOMEM, "no memory");
    fl->key = nk;
    char **nv = realloc(fl->val, (fl->n + 1) * sizeof *nv);
    if (!nv)
      return dm_error(DM_ERR_NOMEM, "no memory");
    fl->val = nv;
    fl->key[fl->n] = dm_pipe_strdup(k);
    fl->val[fl->n] = val ? dm_pipe_strdup(val) : NULL;
    fl->n++;
  }
  return DM_OK;
}

/* ranks / threads / time, shared by every step section and by a model. */
static dm_status parse_res_key(ctx *c, const char *k, const yaml_node_t *v, dm_pipe_res *r,
                               int *used)
{
  long long x;
  *used = 1;
  if (!strcmp(k, "ranks")) {
    DM_FORWARD(want_int(c, v, k, 1, 1 << 20, &x));
    r->ranks = (int)x;
  } else if (!strcmp(k, "threads")) {
    DM_FORWARD(want_int(c, v, k, 1, 1024, &x));
    r->threads = (int)x;
  } else if (!strcmp(k, "time")) {
    DM_FORWARD(want_num(c, v, k, 0.1, 1e6, &r->minutes));
  } else {
    *used = 0;
  }
  return DM_OK;
}

static dm_status parse_archive(ctx *c, dm_pipe *p, const yaml_node_t *n)
{
  /* A string or a list: folders and globs; a mapping: paths: or generate:. */
  const yaml_node_t *paths = NULL, *gen = NULL;
  if (n->type == YAML_MAPPING_NODE) {
    MAP_EACH(c, n, k, kn, v)
    {
      if (!strcmp(k, "paths"))
        paths = v;
      else if (!strcmp(k, "generate"))
        gen = v;
      else
        return bad(c, kn, "archive", "unknown key '%s' (paths, generate)", k);
    }
    if (!!paths == !!gen)
      return bad(c, n, "archive", "give either paths: or generate:");
  } else {
    paths = n;
  }
  if (paths) {
    const yaml_node_t *items[1] = {paths};
    int n_items = 1;
    yaml_node_item_t *it0 = NULL, *it1 = NULL;
    if (paths->type == YAML_SEQUENCE_NODE) {
      it0 = paths->data.sequence.items.start;
      it1 = paths->data.sequence.items.top;
      n_items = (int)(it1 - it0);
    }
    if (n_items == 0)
      return bad(c, paths, "archive", "no folder or pattern given");
    p->archive = calloc(n_items, sizeof *p->archive);
    if (!p->archive)
      return dm_error(DM_ERR_NOMEM, "no memory");
    for (int i = 0; i < n_items; i++) {
      const yaml_node_t *e = it0 ? yaml_document_get_node(c->doc, it0[i]) : items[0];
      DM_FORWARD(want_path(c, p, e, "archive", &p->archive[i]));
      p->n_archive++;
    }
  }
  if (gen) {
    DM_FORWARD(want_map(c, gen, "generate"));
    p->generate = 1;
    p->gen_events = -1;
    p->gen_seed = 1;
    MAP_EACH(c, gen, k, kn, v)
    {
      long long x;
      const char *s;
      if (!strcmp(k, "events")) {
        DM_FORWARD(want_int(c, v, k, 1, LLONG_MAX, &x));
        p->gen_events = x;
      } else if (!strcmp(k, "seed")) {
        DM_FORWARD(want_int(c, v, k, 0, LLONG_MAX, &x));
        p->gen_seed = (uint64_t)x;
      } else if (!strcmp(k, "processes")) {
        DM_FORWARD(want_scalar(c, v, k, &s));
        p->gen_processes = dm_pipe_strdup(s);
      } else {
        return bad(c, kn, "generate", "unknown key '%s' (events, seed, processes)", k);
      }
    }
    if (p->gen_events < 0)
      return bad(c, gen, "generate", "events: is required");
  }
  return DM_OK;
}

static int valid_name(const char *s)
{
  if (!*s || strlen(s) > 40)
    return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_' || *s == '-'))
      return 0;
  return 1;
}

static dm_status parse_channels(ctx *c, dm_pipe *p, const yaml_node_t *n)
{
  if (n->type != YAML_SEQUENCE_NODE)
    return bad(c, n, "channels", "expected a list");
  int cnt = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
  if (cnt == 0)
    return bad(c, n, "channels", "no channel given");
  p->channels = calloc(cnt, sizeof *p->channels);
  if (!p->channels)
    return dm_error(DM_ERR_NOMEM, "no memory");
  static const char *const builtin[] = {"chan1", "chan2a", "chan2b", "chan3", NULL};
  for (int i = 0; i < cnt; i++) {
    yaml_node_t *e = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
    dm_pipe_channel *ch = &p->channels[p->n_channels++];
    if (e->type == YAML_SCALAR_NODE) {
      const char *s = scalar(e);
      int ok = 0;
      for (int b = 0; builtin[b]; b++)
        ok |= !strcmp(s, builtin[b]);
      if (!ok)
        return bad(c, e, "channels",
                   "'%s' is not a built-in channel (chan1 chan2a chan2b chan3); for cuts of "
                   "your own write {name: NAME, cuts: FILE.ini}",
                   s);
      ch->name = dm_pipe_strdup(s);
    } else if (e->type == YAML_MAPPING_NODE) {
      MAP_EACH(c, e, k, kn, v)
      {
        if (!strcmp(k, "name")) {
          const char *s;
          DM_FORWARD(want_scalar(c, v, k, &s));
          if (!valid_name(s))
            return bad(c, v, k, "'%s': use letters, digits, _ and - (at most 40)", s);
          ch->name = dm_pipe_strdup(s);
        } else if (!strcmp(k, "cuts")) {
          DM_FORWARD(want_path(c, p, v, k, &ch->cuts));
        } else {
          return bad(c, kn, "channels", "unknown key '%s' (name, cuts)", k);
        }
      }
      if (!ch->name || !ch->cuts)
        return bad(c, e, "channels", "a channel of your own needs name: and cuts:");
    } else {
      return bad(c, e, "channels", "expected a channel name or {name:, cuts:}");
    }
    for (int j = 0; j < p->n_channels - 1; j++)
      if (!strcmp(p->channels[j].name, ch->name))
        return bad(c, e, "channels", "'%s' appears twice", ch->name);
  }
  return DM_OK;
}

static dm_status parse_models(ctx *c, dm_pipe *p, const yaml_node_t *n, const char *exe,
                              help_cache *hc, int *nhc)
{
  DM_FORWARD(want_map(c, n, "models"));
  int cnt = (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
  if (cnt == 0)
    return bad(c, n, "models", "no model given");
  p->models = calloc(cnt, sizeof *p->models);
  if (!p->models)
    return dm_error(DM_ERR_NOMEM, "no memory");
  MAP_EACH(c, n, name, kn, v)
  {
    if (!valid_name(name))
      return bad(c, kn, "models", "model name '%s': use letters, digits, _ and - (at most 40)",
                 name);
    for (int j = 0; j < p->n_models; j++)
      if (!strcmp(p->models[j].name, name))
        return bad(c, kn, "models", "'%s' appears twice", name);
    dm_pipe_model *m = &p->models[p->n_models++];
    m->name = dm_pipe_strdup(name);
    DM_FORWARD(want_map(c, v, name));
    const yaml_node_t *opts = NULL;
    MAP_EACH(c, v, k, kn2, v2)
    {
      int used;
      DM_FORWARD(parse_res_key(c, k, v2, &m->res, &used));
      if (used)
        continue;
      if (!strcmp(k, "kind")) {
        const char *s;
        DM_FORWARD(want_scalar(c, v2, k, &s));
        if (strcmp(s, "kde") && strcmp(s, "svdd") && strcmp(s, "null"))
          return bad(c, v2, k, "'%s' is not a model kind (kde, svdd, null)", s);
        m->kind = dm_pipe_strdup(s);
      } else if (!strcmp(k, "options")) {
        opts = v2;
      } else {
        return bad(c, kn2, name, "unknown key '%s' (kind, options, ranks, threads, time)", k);
      }
    }
    if (!m->kind)
      return bad(c, v, name, "kind: is required (kde, svdd, null)");
    if (opts) {
      char cmd[32];
      snprintf(cmd, sizeof cmd, "train %s", m->kind);
      DM_FORWARD(parse_options(c, opts, "options", exe, cmd, hc, nhc, &m->res.flags));
    }
  }
  return DM_OK;
}

/* histograms: true | false | {bins: FILE, vars: [SPEC, ...], ranks:, threads:, time:} */
static dm_status parse_histograms(ctx *c, dm_pipe *p, const yaml_node_t *n)
{
  p->hist_line = line_of(n);
  if (n->type == YAML_SCALAR_NODE)
    return want_bool(c, n, "histograms", &p->hist);
  if (n->type != YAML_MAPPING_NODE)
    return bad(c, n, "histograms", "expected true, false or a mapping (bins:, vars:, ranks:, "
               "threads:, time:)");
  p->hist = 1;
  MAP_EACH(c, n, k, kn, v)
  {
    int used;
    DM_FORWARD(parse_res_key(c, k, v, &p->res[DM_PIPE_HIST], &used));
    if (used)
      continue;
    if (!strcmp(k, "bins")) {
      DM_FORWARD(want_path(c, p, v, k, &p->hist_bins));
      /* Checked now (its own errors name its line), not when the step runs. */
      dm_hist_spec specs[DM_HIST_MAX_SPECS];
      int ns = 0;
      dm_status s = dm_hist_bins_load(p->hist_bins, specs, &ns, DM_HIST_MAX_SPECS);
      if (s != DM_OK)
        return bad(c, v, k, "%s", dm_error_message());
    } else if (!strcmp(k, "vars")) {
      const yaml_node_t *one[1] = {v};
      const yaml_node_t **items = one;
      int cnt = 1;
      yaml_node_t *tmp[DM_HIST_MAX_SPECS];
      if (v->type == YAML_SEQUENCE_NODE) {
        cnt = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (cnt > DM_HIST_MAX_SPECS)
          return bad(c, v, k, "at most %d variables", DM_HIST_MAX_SPECS);
        for (int i = 0; i < cnt; i++)
          tmp[i] = yaml_document_get_node(c->doc, v->data.sequence.items.start[i]);
        items = (const yaml_node_t **)tmp;
      }
      if (cnt <= 0)
        return bad(c, v, k, "no variable given");
      p->hist_vars = calloc((size_t)cnt, sizeof *p->hist_vars);
      if (!p->hist_vars)
        return dm_error(DM_ERR_NOMEM, "no memory");
      for (int i = 0; i < cnt; i++) {
        const char *t;
        DM_FORWARD(want_scalar(c, items[i], k, &t));
        dm_hist_spec sp;
        if (dm_hist_spec_parse(t, &sp) != DM_OK) {
          dm_status s = bad(c, items[i], k, "%s", dm_error_message());
          return s;
        }
        p->hist_vars[p->n_hist_vars++] = dm_pipe_strdup(t);
      }
    } else {
      return bad(c, kn, "histograms", "unknown key '%s' (bins, vars, ranks, threads, time)", k);
    }
  }
  return DM_OK;
}

/* datasets: - {kind: hackathon|secret, channel: C, ...}: one dmpipe dataset
 * KIND of one channel each. Values are checked here (as the command would)
 * and kept as the flags' text. */
static dm_status want_flag_num(ctx *c, const yaml_node_t *v, const char *k, double lo,
                               double hi, int allow_max, char **out)
{
  const char *t;
  DM_FORWARD(want_scalar(c, v, k, &t));
  if (!(allow_max && !strcmp(t, "max"))) {
    double x;
    char *end;
    errno = 0;
    x = strtod(t, &end);
    if (errno || *end || !isfinite(x) || x < lo || x > hi)
      return bad(c, v, k, "'%s' is not %sa number in [%g, %g]", t, allow_max ? "max or " : "",
                 lo, hi);
  }
  free(*out);
  *out = dm_pipe_strdup(t);
  return *out ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
}

static int valid_process(const char *s)
{
  return valid_name(s) || (*s && strlen(s) <= 63 && strspn(s, "abcdefghijklmnopqrstuvwxyz"
                                                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                               "0123456789_-.+") == strlen(s));
}

/* signals: bsm | NAME | [NAME, ...] | "A,B" -> "A,B" */
static dm_status want_names(ctx *c, const yaml_node_t *v, const char *k, char **out)
{
  size_t cap = 1, len = 0;
  char *t = calloc(1, 1);
  int n = v->type == YAML_SEQUENCE_NODE
              ? (int)(v->data.sequence.items.top - v->data.sequence.items.start)
              : 1;
  if (n <= 0) {
    free(t);
    return bad(c, v, k, "no name given");
  }
  for (int i = 0; t && i < n; i++) {
    const yaml_node_t *e =
        v->type == YAML_SEQUENCE_NODE ? yaml_document_get_node(c->doc, v->data.sequence.items.start[i]) : v;
    const char *x;
    dm_status s = want_scalar(c, e, k, &x);
    if (s != DM_OK) {
      free(t);
      return s;
    }
    /* Each comma-separated name. */
    const char *q = x;
    while (1) {
      size_t l = strcspn(q, ",");
      char nm[80];
      if (l == 0 || l >= sizeof nm) {
        free(t);
        return bad(c, e, k, "'%s': expected process names separated by commas", x);
      }
      memcpy(nm, q, l);
      nm[l] = 0;
      if (!valid_process(nm)) {
        free(t);
        return bad(c, e, k, "'%s' is not a process name", nm);
      }
      q += l;
      if (!*q)
        break;
      q++;
    }
    size_t xl = strlen(x);
    char *g = realloc(t, cap = len + xl + 2);
    if (!g) {
      free(t);
      t = NULL;
      break;
    }
    t = g;
    len += (size_t)sprintf(t + len, "%s%s", len ? "," : "", x);
  }
  if (!t)
    return dm_error(DM_ERR_NOMEM, "no memory");
  free(*out);
  *out = t;
  return DM_OK;
}

/* inject: {NAME: MU, ...} | "NAME=MU,..." -> "NAME=MU,..." */
static dm_status want_inject(ctx *c, const yaml_node_t *v, const char *k, char **out)
{
  char *t = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&t, &len);
  if (!f)
    return dm_error(DM_ERR_NOMEM, "no memory");
  dm_status s = DM_OK;
  int n = 0;
  if (v->type == YAML_MAPPING_NODE) {
    MAP_EACH(c, v, name, kn, mu)
    {
      if (s != DM_OK)
        break;
      const char *m;
      double x;
      char *end;
      if (!valid_process(name)) {
        s = bad(c, kn, k, "'%s' is not a process name", name);
        break;
      }
      s = want_scalar(c, mu, name, &m);
      if (s != DM_OK)
        break;
      errno = 0;
      x = strtod(m, &end);
      if (errno || *end || !isfinite(x) || x < 0) {
        s = bad(c, mu, name, "'%s' is not a signal strength (a number >= 0)", m);
        break;
      }
      fprintf(f, "%s%s=%s", n++ ? "," : "", name, m);
    }
  } else {
    const char *x;
    s = want_scalar(c, v, k, &x);
    for (const char *q = x; s == DM_OK && *q;) {
      size_t l = strcspn(q, ",");
      char item[160];
      if (l >= sizeof item) {
        s = bad(c, v, k, "'%s': expected NAME=MU,...", x);
        break;
      }
      memcpy(item, q, l);
      item[l] = 0;
      char *eq = strchr(item, '='), *end;
      double mu = 0;
      if (eq) {
        *eq = 0;
        errno = 0;
        mu = strtod(eq + 1, &end);
      }
      if (!eq || !valid_process(item) || !eq[1] || errno || *end || !isfinite(mu) || mu < 0) {
        s = bad(c, v, k, "'%s': expected NAME=MU,... (MU >= 0)", x);
        break;
      }
      n++;
      q += l;
      if (*q)
        q++;
    }
    if (s == DM_OK)
      fputs(x, f);
  }
  fclose(f);
  if (s == DM_OK && n == 0)
    s = bad(c, v, k, "no signal given");
  if (s != DM_OK) {
    free(t);
    return s;
  }
  free(*out);
  *out = t;
  return DM_OK;
}

static dm_status parse_datasets(ctx *c, dm_pipe *p, const yaml_node_t *n, const char *exe,
                                help_cache *hc, int *nhc)
{
  if (n->type != YAML_SEQUENCE_NODE)
    return bad(c, n, "datasets", "expected a list of {kind: hackathon|secret, channel: ...}");
  int cnt = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
  if (cnt <= 0)
    return bad(c, n, "datasets", "no dataset given");
  p->datasets = calloc((size_t)cnt, sizeof *p->datasets);
  if (!p->datasets)
    return dm_error(DM_ERR_NOMEM, "no memory");
  static const char *const builtin[] = {"chan1", "chan2a", "chan2b", "chan3", NULL};
  /* Flags set from the entry's keys: not options. */
  static const char *const own[] = {"channels", "signals", "train-fraction", "weight-lumi",
                                    "inject",   "decoys",  "exclude",        "quiet", NULL};
  for (int i = 0; i < cnt; i++) {
    yaml_node_t *e = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
    dm_pipe_dataset *d = &p->datasets[p->n_datasets++];
    d->line = line_of(e);
    DM_FORWARD(want_map(c, e, "datasets"));
    const yaml_node_t *kind_n = NULL, *opts = NULL;
    const yaml_node_t *hack_only = NULL, *secret_only = NULL;
    MAP_EACH(c, e, k, kn, v)
    {
      int used;
      DM_FORWARD(parse_res_key(c, k, v, &d->res, &used));
      if (used)
        continue;
      if (!strcmp(k, "kind")) {
        const char *t;
        DM_FORWARD(want_scalar(c, v, k, &t));
        if (strcmp(t, "hackathon") && strcmp(t, "secret"))
          return bad(c, v, k, "'%s' is not a dataset kind (hackathon, secret)", t);
        d->kind = dm_pipe_strdup(t);
        kind_n = v;
      } else if (!strcmp(k, "channel")) {
        const char *t;
        int ok = 0;
        DM_FORWARD(want_scalar(c, v, k, &t));
        for (int b = 0; builtin[b]; b++)
          ok |= !strcmp(t, builtin[b]);
        if (!ok)
          return bad(c, v, k, "'%s' is not a challenge channel (chan1 chan2a chan2b chan3)", t);
        d->channel = dm_pipe_strdup(t);
      } else if (!strcmp(k, "lumi")) {
        DM_FORWARD(want_flag_num(c, v, k, 1e-12, 1e12, 1, &d->lumi));
      } else if (!strcmp(k, "seed")) {
        long long x;
        DM_FORWARD(want_int(c, v, k, 0, LLONG_MAX, &x));
        free(d->seed);
        d->seed = dm_pipe_fmt("%lld", x);
      } else if (!strcmp(k, "weight_lumi")) {
        DM_FORWARD(want_flag_num(c, v, k, 1e-12, 1e12, 0, &d->weight_lumi));
      } else if (!strcmp(k, "signals")) {
        DM_FORWARD(want_names(c, v, k, &d->signals));
        hack_only = kn;
      } else if (!strcmp(k, "train_fraction")) {
        DM_FORWARD(want_flag_num(c, v, k, 1e-9, 1, 0, &d->train_fraction));
        hack_only = kn;
      } else if (!strcmp(k, "inject")) {
        DM_FORWARD(want_inject(c, v, k, &d->inject));
        secret_only = kn;
      } else if (!strcmp(k, "decoys")) {
        DM_FORWARD(want_flag_num(c, v, k, 0, 0.9, 0, &d->decoys));
        secret_only = kn;
      } else if (!strcmp(k, "exclude")) {
        const char *t;
        DM_FORWARD(want_scalar(c, v, k, &t));
        if (strcmp(t, "hackathon"))
          return bad(c, v, k, "'%s': the only set to exclude is hackathon (this pipeline's "
                     "hackathon set of the same channel)", t);
        d->exclude = 1;
        secret_only = kn;
      } else if (!strcmp(k, "options")) {
        opts = v;
      } else {
        return bad(c, kn, "datasets",
                   "unknown key '%s' (kind, channel, lumi, seed, weight_lumi, signals, "
                   "train_fraction, inject, decoys, exclude, options, ranks, threads, time)",
                   k);
      }
    }
    if (!d->kind)
      return bad(c, e, "datasets", "kind: is required (hackathon, secret)");
    if (!d->channel)
      return bad(c, e, "datasets", "channel: is required (chan1, chan2a, chan2b, chan3)");
    int secret = !strcmp(d->kind, "secret");
    if (secret && hack_only)
      return bad(c, hack_only, scalar(hack_only), "is a key of kind: hackathon, not secret");
    if (!secret && secret_only)
      return bad(c, secret_only, scalar(secret_only), "is a key of kind: secret, not hackathon");
    if (secret && !d->inject)
      return bad(c, e, "datasets", "a secret set needs inject: {NAME: MU, ...}");
    /* Without a seed dmpipe dataset secret draws one from the system's
     * entropy: a rerun of the step would make another set. */
    if (secret && !d->seed)
      return bad(c, e, "datasets", "a secret set needs seed: (the pipeline reruns a step "
                 "only when its inputs change, and must make the same set when it does)");
    for (int j = 0; j < p->n_datasets - 1; j++)
      if (!strcmp(p->datasets[j].kind, d->kind) && !strcmp(p->datasets[j].channel, d->channel))
        return bad(c, kind_n, "datasets", "a %s set of %s is already on line %d", d->kind,
                   d->channel, p->datasets[j].line);
    if (opts) {
      char cmd[32];
      snprintf(cmd, sizeof cmd, "dataset %s", d->kind);
      DM_FORWARD(parse_options(c, opts, "options", exe, cmd, hc, nhc, &d->res.flags));
      for (int f = 0; f < d->res.flags.n; f++)
        for (int o = 0; own[o]; o++)
          if (!strcmp(d->res.flags.key[f], own[o]))
            return bad(c, opts, "options", "--%s is set by the pipeline from the entry's keys",
                       own[o]);
    }
  }
  /* exclude: hackathon needs that set. */
  for (int i = 0; i < p->n_datasets; i++) {
    dm_pipe_dataset *d = &p->datasets[i];
    if (!d->exclude)
      continue;
    int found = 0;
    for (int j = 0; j < p->n_datasets; j++)
      found |= !strcmp(p->datasets[j].kind, "hackathon") &&
               !strcmp(p->datasets[j].channel, d->channel);
    if (!found)
      return dm_error(DM_ERR_FORMAT,
                      "%s:%d: datasets: exclude: hackathon needs a hackathon set of %s in "
                      "datasets:",
                      c->file, d->line, d->channel);
  }
  return DM_OK;
}

/* A step section: ingest:, weight:, select:, train:, score:, metrics:. */
static dm_status parse_step(ctx *c, dm_pipe *p, dm_pipe_kind kind, const yaml_node_t *n,
                            const char *exe, help_cache *hc, int *nhc)
{
  const char *sec = dm_pipe_kind_name(kind);
  DM_FORWARD(want_map(c, n, sec));
  MAP_EACH(c, n, k, kn, v)
  {
    int used;
    DM_FORWARD(parse_res_key(c, k, v, &p->res[kind], &used));
    if (used)
      continue;
    if (!strcmp(k, "options") && kind != DM_PIPE_TRAIN) {
      DM_FORWARD(parse_options(c, v, "options", exe, sec, hc, nhc, &p->res[kind].flags));
    } else if (!strcmp(k, "histograms") && kind == DM_PIPE_METRICS) {
      DM_FORWARD(want_bool(c, v, k, &p->histograms));
    } else {
      return bad(c, kn, sec, "unknown key '%s' (ranks, threads, time%s)", k,
                 kind == DM_PIPE_TRAIN     ? "; model options go under models:"
                 : kind == DM_PIPE_METRICS ? ", options, histograms"
                                           : ", options");
    }
  }
  return DM_OK;
}

/* YAML allows a key twice in a mapping and the parser keeps both: one of
 * them would be ignored silently, so every mapping is checked first. */
static dm_status no_duplicates(ctx *c, const yaml_node_t *n, int depth)
{
  if (depth > 64)
    return bad(c, n, "pipeline", "nested too deeply");
  if (n->type == YAML_SEQUENCE_NODE) {
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++)
      DM_FORWARD(no_duplicates(c, yaml_document_get_node(c->doc, *it), depth + 1));
  } else if (n->type == YAML_MAPPING_NODE) {
    for (yaml_node_pair_t *a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++) {
      const yaml_node_t *ka = yaml_document_get_node(c->doc, a->key);
      for (yaml_node_pair_t *b = n->data.mapping.pairs.start; b < a; b++) {
        const yaml_node_t *kb = yaml_document_get_node(c->doc, b->key);
        if (scalar(ka) && scalar(kb) && !strcmp(scalar(ka), scalar(kb)))
          return bad(c, ka, scalar(ka), "appears twice (first on line %d)", line_of(kb));
      }
      DM_FORWARD(no_duplicates(c, yaml_document_get_node(c->doc, a->value), depth + 1));
    }
  }
  return DM_OK;
}

static dm_status parse_root(ctx *c, dm_pipe *p, const yaml_node_t *root, const char *exe)
{
  DM_FORWARD(no_duplicates(c, root, 0));
  help_cache hc[16];
  int nhc = 0;
  dm_status s = DM_OK;
  const yaml_node_t *models = NULL, *datasets = NULL;
  int have_archive = 0, have_channels = 0;
  dm_pipe_res defaults = {1, 1, 60.0, {0, NULL, NULL}};
  const yaml_node_t *launcher = NULL;
  if (root->type != YAML_MAPPING_NODE)
    return bad(c, root, "pipeline", "expected a mapping of keys (workdir:, archive:, ...)");
  MAP_EACH(c, root, k, kn, v)
  {
    if (s != DM_OK)
      break;
    int used = 0;
    dm_pipe_res tmp = defaults;
    s = parse_res_key(c, k, v, &tmp, &used);
    if (s != DM_OK)
      break;
    if (used) {
      defaults.ranks = tmp.ranks;
      defaults.threads = tmp.threads;
      defaults.minutes = tmp.minutes;
      continue;
    }
    int kind = -1;
    /* hist and dataset steps have keys of their own (histograms:, datasets:). */
    for (int i = DM_PIPE_INGEST; i <= DM_PIPE_METRICS; i++)
      if (!strcmp(k, dm_pipe_kind_name(i)))
        kind = i;
    if (!strcmp(k, "workdir")) {
      s = want_path(c, p, v, k, &p->workdir);
    } else if (!strcmp(k, "archive")) {
      s = parse_archive(c, p, v);
      have_archive = 1;
    } else if (!strcmp(k, "process_table")) {
      s = want_path(c, p, v, k, &p->xsec);
    } else if (!strcmp(k, "lumi")) {
      s = want_num(c, v, k, 1e-9, 1e12, &p->lumi);
    } else if (!strcmp(k, "launcher")) {
      const char *t = NULL;
      launcher = v;
      s = want_scalar(c, v, k, &t);
      if (s == DM_OK) {
        if (!strcmp(t, "auto"))
          p->launch = DM_LAUNCH_AUTO;
        else if (!strcmp(t, "mpirun"))
          p->launch = DM_LAUNCH_MPIRUN;
        else if (!strcmp(t, "srun"))
          p->launch = DM_LAUNCH_SRUN;
        else if (!strcmp(t, "direct"))
          p->launch = DM_LAUNCH_DIRECT;
        else
          s = bad(c, v, k, "'%s' is not auto, mpirun, srun or direct", t);
      }
    } else if (!strcmp(k, "channels")) {
      s = parse_channels(c, p, v);
      have_channels = 1;
    } else if (!strcmp(k, "models")) {
      models = v;
    } else if (!strcmp(k, "histograms")) {
      s = parse_histograms(c, p, v);
    } else if (!strcmp(k, "datasets")) {
      datasets = v;
    } else if (kind >= 0) {
      s = parse_step(c, p, (dm_pipe_kind)kind, v, exe, hc, &nhc);
    } else if (!strcmp(k, "generate")) {
      s = bad(c, kn, k, "generate: belongs under archive:");
    } else {
      s = bad(c, kn, k,
              "unknown key (workdir, archive, process_table, lumi, ranks, threads, time, "
              "launcher, channels, models, ingest, weight, select, train, score, metrics, "
              "histograms, datasets)");
    }
  }
  if (s == DM_OK && models)
    s = parse_models(c, p, models, exe, hc, &nhc);
  if (s == DM_OK && datasets)
    s = parse_datasets(c, p, datasets, exe, hc, &nhc);
  for (int i = 0; i < nhc; i++)
    free(hc[i].text);
  DM_FORWARD(s);
  if (!p->workdir)
    return bad(c, root, "workdir", "is required (the folder for every output)");
  if (!have_archive)
    return bad(c, root, "archive", "is required (folders, globs, or generate:)");
  if (!have_channels)
    return bad(c, root, "channels", "is required (e.g. [chan1, chan2a, chan2b, chan3])");
  if (!models)
    return bad(c, root, "models", "is required (e.g. kde: {kind: kde})");
  /* Unset per-step values take the top-level ones; a model takes train's. */
  for (int i = 0; i < DM_PIPE_KINDS; i++) {
    if (!p->res[i].ranks)
      p->res[i].ranks = defaults.ranks;
    if (!p->res[i].threads)
      p->res[i].threads = defaults.threads;
    if (!p->res[i].minutes)
      p->res[i].minutes = defaults.minutes;
  }
  for (int i = 0; i < p->n_datasets; i++) {
    dm_pipe_res *r = &p->datasets[i].res;
    if (!r->ranks)
      r->ranks = p->res[DM_PIPE_DATASET].ranks;
    if (!r->threads)
      r->threads = p->res[DM_PIPE_DATASET].threads;
    if (!r->minutes)
      r->minutes = p->res[DM_PIPE_DATASET].minutes;
  }
  for (int i = 0; i < p->n_models; i++) {
    dm_pipe_res *r = &p->models[i].res;
    if (!r->ranks)
      r->ranks = p->res[DM_PIPE_TRAIN].ranks;
    if (!r->threads)
      r->threads = p->res[DM_PIPE_TRAIN].threads;
    if (!r->minutes)
      r->minutes = p->res[DM_PIPE_TRAIN].minutes;
  }
  if (p->launch == DM_LAUNCH_DIRECT) {
    int many = 0;
    for (int i = 0; i < DM_PIPE_KINDS; i++)
      many |= p->res[i].ranks > 1;
    for (int i = 0; i < p->n_models; i++)
      many |= p->models[i].res.ranks > 1;
    for (int i = 0; i < p->n_datasets; i++)
      many |= p->datasets[i].res.ranks > 1;
    if (many)
      return bad(c, launcher, "launcher", "direct starts one process per step: set ranks: 1 "
                 "or use auto, mpirun or srun");
  }
  if (p->n_channels > 256)
    return bad(c, root, "channels", "at most 256");
  return DM_OK;
}

dm_status dm_pipe_load(const char *path, const char *dmpipe_exe, dm_pipe **out)
{
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f)
    return dm_error(DM_ERR_IO, "cannot open pipeline file %s: %s", path, strerror(errno));
  dm_pipe *p = calloc(1, sizeof *p);
  if (!p) {
    fclose(f);
    return dm_error(DM_ERR_NOMEM, "no memory");
  }
  p->path = dm_pipe_strdup(path);
  p->lumi = 10.0;
  {
    char *copy = dm_pipe_strdup(path);
    char *slash = strrchr(copy, '/');
    const char *d = ".";
    if (slash) {
      *slash = 0;
      d = *copy ? copy : "/";
    }
    char *abs = realpath(d, NULL);
    p->dir = abs ? abs : dm_pipe_strdup(d);
    free(copy);
  }
  yaml_parser_t parser;
  yaml_document_t doc;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_file(&parser, f);
  dm_status s = DM_OK;
  if (!yaml_parser_load(&parser, &doc)) {
    s = dm_error(DM_ERR_FORMAT, "%s:%d: not valid YAML: %s", path,
                 (int)parser.problem_mark.line + 1, parser.problem ? parser.problem : "?");
  } else {
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    ctx c = {&doc, path};
    if (!root)
      s = dm_error(DM_ERR_FORMAT, "%s: empty pipeline file", path);
    else
      s = parse_root(&c, p, root, dmpipe_exe);
    yaml_document_delete(&doc);
  }
  yaml_parser_delete(&parser);
  fclose(f);
  if (s != DM_OK) {
    dm_pipe_free(p);
    return s;
  }
  *out = p;
  return DM_OK;
}

static void flags_free(dm_pipe_flags *f)
{
  dm_pipe_strv_free(f->key, f->n);
  dm_pipe_strv_free(f->val, f->n);
}

void dm_pipe_free(dm_pipe *p)
{
  if (!p)
    return;
  free(p->path);
  free(p->dir);
  free(p->workdir);
  dm_pipe_strv_free(p->archive, p->n_archive);
  free(p->gen_processes);
  free(p->xsec);
  free(p->hist_bins);
  dm_pipe_strv_free(p->hist_vars, p->n_hist_vars);
  for (int i = 0; i < DM_PIPE_KINDS; i++)
    flags_free(&p->res[i].flags);
  for (int i = 0; i < p->n_channels; i++) {
    free(p->channels[i].name);
    free(p->channels[i].cuts);
  }
  free(p->channels);
  for (int i = 0; i < p->n_models; i++) {
    free(p->models[i].name);
    free(p->models[i].kind);
    flags_free(&p->models[i].res.flags);
  }
  free(p->models);
  for (int i = 0; i < p->n_datasets; i++) {
    dm_pipe_dataset *d = &p->datasets[i];
    free(d->kind);
    free(d->channel);
    free(d->lumi);
    free(d->seed);
    free(d->signals);
    free(d->train_fraction);
    free(d->weight_lumi);
    free(d->inject);
    free(d->decoys);
    flags_free(&d->res.flags);
  }
  free(p->datasets);
  free(p);
}
