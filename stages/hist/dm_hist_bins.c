/* Binnings of the hist stage: "NAME:NBINS:LO:HI[:log]" flags, INI files,
 * the built-in defaults and the edges they give. */
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dm_hist_stage.h"
#include "dm_physics.h"

#define MAX_BINS 1000000

static int is_score_name(const char *name)
{
  return strncmp(name, "score", 5) == 0 && (name[5] == '\0' || name[5] == '_');
}

/* A number, or "auto" (NaN) where allowed; the whole text must be used. */
static int parse_num(const char *text, double *out)
{
  while (*text == ' ' || *text == '\t')
    text++;
  if (!strcasecmp(text, "auto")) {
    *out = NAN;
    return 1;
  }
  char *end = NULL;
  errno = 0;
  double v = strtod(text, &end);
  while (end && (*end == ' ' || *end == '\t'))
    end++;
  if (end == text || !end || *end || errno == ERANGE || !isfinite(v))
    return 0;
  *out = v;
  return 1;
}

static int parse_bool(const char *text, int *out)
{
  if (!strcasecmp(text, "yes") || !strcasecmp(text, "true") || !strcmp(text, "1") ||
      !strcasecmp(text, "log")) {
    *out = 1;
    return 1;
  }
  if (!strcasecmp(text, "no") || !strcasecmp(text, "false") || !strcmp(text, "0") ||
      !strcasecmp(text, "linear")) {
    *out = 0;
    return 1;
  }
  return 0;
}

/* Checks shared by flags and files; `where` names the source. */
static dm_status check_spec(const dm_hist_spec *s, const char *where, int check_name)
{
  if (check_name && !is_score_name(s->name) && dm_physics_var_index(s->name) < 0)
    return dm_error(DM_ERR_ARG,
                    "%s: unknown variable '%s' (ht, n_jets, n_bjets, n_leptons, n_photons, "
                    "lead_jet_pt, met_over_ht, m_eff, met, n_obj, score, score_NAME)",
                    where, s->name);
  if (s->n_bins < 1 || s->n_bins > MAX_BINS)
    return dm_error(DM_ERR_ARG, "%s: %s: bins must be 1..%d", where, s->name, MAX_BINS);
  int autorange = isnan(s->lo) || isnan(s->hi);
  if (autorange && !(isnan(s->lo) && isnan(s->hi) && (!check_name || is_score_name(s->name))))
    return dm_error(DM_ERR_ARG, "%s: %s: 'auto' range is for scores only, and for both ends",
                    where, s->name);
  if (!autorange && !(s->lo < s->hi))
    return dm_error(DM_ERR_ARG, "%s: %s: range [%g, %g) is empty", where, s->name, s->lo, s->hi);
  if (!autorange && s->log_scale && !(s->lo > 0))
    return dm_error(DM_ERR_ARG, "%s: %s: log binning needs lo > 0 (got %g)", where, s->name,
                    s->lo);
  return DM_OK;
}

dm_status dm_hist_spec_parse(const char *text, dm_hist_spec *spec)
{
  memset(spec, 0, sizeof *spec);
  char buf[256];
  if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf)
    return dm_error(DM_ERR_ARG, "--var '%.40s...': too long", text);
  char *field[6];
  int nf = 0;
  for (char *p = buf, *tok; nf < 6 && (tok = strsep(&p, ":")) != NULL;)
    field[nf++] = tok;
  int64_t nb = 0;
  char *end = NULL;
  if (nf >= 2) {
    errno = 0;
    nb = strtoll(field[1], &end, 10);
  }
  if (nf < 4 || nf > 5 || strlen(field[0]) == 0 || strlen(field[0]) >= sizeof spec->name ||
      !end || end == field[1] || *end || errno || nb < 1 || nb > MAX_BINS ||
      !parse_num(field[2], &spec->lo) || !parse_num(field[3], &spec->hi) ||
      (nf == 5 && strcmp(field[4], "log") && strcmp(field[4], "linear")))
    return dm_error(DM_ERR_ARG, "--var '%s': expected NAME:NBINS:LO:HI[:log], NBINS 1..%d", text,
                    MAX_BINS);
  snprintf(spec->name, sizeof spec->name, "%s", field[0]);
  spec->n_bins = (int)nb;
  spec->log_scale = nf == 5 && !strcmp(field[4], "log");
  char where[300];
  snprintf(where, sizeof where, "--var '%s'", text);
  return check_spec(spec, where, 1);
}

typedef struct {
  const char *path;
  dm_hist_spec *specs;
  int *n, cap, first;  /* first: index of the first spec this file added */
  int cur;             /* spec of the current section, -1 before any */
  unsigned seen;       /* keys seen in the current section: 1 bins, 2 lo, 4 hi */
  char msg[200];
} bins_ctx;

static int finish_section(bins_ctx *c)
{
  if (c->cur < 0)
    return 1;
  if ((c->seen & 7) != 7) {
    snprintf(c->msg, sizeof c->msg, "[%s] needs bins, lo and hi", c->specs[c->cur].name);
    return 0;
  }
  return 1;
}

static int bins_handler(void *user, const char *section, const char *key, const char *value)
{
  bins_ctx *c = user;
  if (c->cur < 0 || strcmp(c->specs[c->cur].name, section) != 0) {
    if (!finish_section(c))
      return 0;
    if (strlen(section) == 0 || strlen(section) >= sizeof c->specs[0].name) {
      snprintf(c->msg, sizeof c->msg, "key '%s' outside a [variable] section", key);
      return 0;
    }
    int k = -1;
    for (int i = 0; i < *c->n; i++)
      if (!strcmp(c->specs[i].name, section))
        k = i;
    if (k >= c->first) {
      snprintf(c->msg, sizeof c->msg, "[%s] appears twice", section);
      return 0;
    }
    if (k < 0) {
      if (*c->n >= c->cap) {
        snprintf(c->msg, sizeof c->msg, "more than %d variables", c->cap);
        return 0;
      }
      k = (*c->n)++;
    }
    memset(&c->specs[k], 0, sizeof c->specs[k]);
    snprintf(c->specs[k].name, sizeof c->specs[k].name, "%s", section);
    c->cur = k;
    c->seen = 0;
  }
  dm_hist_spec *s = &c->specs[c->cur];
  if (!strcmp(key, "bins")) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (end == value || *end || errno || v < 1 || v > MAX_BINS) {
      snprintf(c->msg, sizeof c->msg, "[%s] bins = '%s': not an integer in 1..%d", section,
               value, MAX_BINS);
      return 0;
    }
    s->n_bins = (int)v;
    c->seen |= 1;
  } else if (!strcmp(key, "lo") || !strcmp(key, "hi")) {
    double v;
    if (!parse_num(value, &v)) {
      snprintf(c->msg, sizeof c->msg, "[%s] %s = '%s': not a number or 'auto'", section, key,
               value);
      return 0;
    }
    *(key[0] == 'l' ? &s->lo : &s->hi) = v;
    c->seen |= key[0] == 'l' ? 2 : 4;
  } else if (!strcmp(key, "log")) {
    if (!parse_bool(value, &s->log_scale)) {
      snprintf(c->msg, sizeof c->msg, "[%s] log = '%s': expected yes or no", section, value);
      return 0;
    }
  } else {
    snprintf(c->msg, sizeof c->msg, "[%s] unknown key '%s' (bins, lo, hi, log)", section, key);
    return 0;
  }
  return 1;
}

dm_status dm_hist_bins_load(const char *path, dm_hist_spec *specs, int *n, int cap)
{
  bins_ctx c = {.path = path, .specs = specs, .n = n, .cap = cap, .first = *n, .cur = -1};
  errno = 0;
  FILE *f = fopen(path, "r");
  if (!f)
    return dm_error(DM_ERR_IO, "cannot open binning file %s: %s", path, strerror(errno));
  int rc = ini_parse_file(f, bins_handler, &c);
  fclose(f);
  if (rc == -2)
    return dm_error(DM_ERR_NOMEM, "%s: no memory", path);
  if (rc > 0)
    return dm_error(DM_ERR_FORMAT, "%s:%d: %s", path, rc,
                    c.msg[0] ? c.msg : "not a valid INI line");
  if (!finish_section(&c))
    return dm_error(DM_ERR_FORMAT, "%s: %s", path, c.msg);
  if (*n == c.first)
    return dm_error(DM_ERR_FORMAT, "%s: no [variable] section", path);
  for (int i = c.first; i < *n; i++)
    DM_FORWARD(check_spec(&specs[i], path, 1));
  return DM_OK;
}

void dm_hist_default_specs(dm_hist_spec *specs, int *n)
{
  /* Ranges cover the challenge channels' events (GeV): H_T and m_eff up to a
   * few TeV, counts as integers centred in their bins. Scores take the
   * range of the filled events. */
  static const dm_hist_spec def[] = {
      {"ht", 60, 0, 6000, 0},          {"met", 50, 0, 2500, 0},
      {"met_over_ht", 50, 0, 2.5, 0},  {"n_jets", 16, -0.5, 15.5, 0},
      {"n_bjets", 8, -0.5, 7.5, 0},    {"n_leptons", 8, -0.5, 7.5, 0},
      {"n_photons", 6, -0.5, 5.5, 0},  {"lead_jet_pt", 50, 0, 2500, 0},
      {"m_eff", 60, 0, 7500, 0},       {"score", 100, NAN, NAN, 0},
  };
  *n = (int)(sizeof def / sizeof def[0]);
  memcpy(specs, def, sizeof def);
}

void dm_hist_specs_print(FILE *f, const dm_hist_spec *specs, int n)
{
  fprintf(f, "# dmpipe hist binnings: one [variable] per section; bins equal in x, or in\n"
             "# log x with log = yes (lo > 0); lo/hi = auto (scores only) takes the range\n"
             "# of the filled events. Entries below lo / at or above hi go to the under-\n"
             "# and overflow bins.\n");
  for (int i = 0; i < n; i++) {
    fprintf(f, "\n[%s]\nbins = %d\n", specs[i].name, specs[i].n_bins);
    if (isnan(specs[i].lo))
      fprintf(f, "lo = auto\nhi = auto\n");
    else
      fprintf(f, "lo = %.17g\nhi = %.17g\n", specs[i].lo, specs[i].hi);
    fprintf(f, "log = %s\n", specs[i].log_scale ? "yes" : "no");
  }
}

dm_status dm_hist_spec_edges(const dm_hist_spec *spec, double *edges)
{
  /* Score variables may carry any name the user gave them. */
  DM_FORWARD(check_spec(spec, "binning", 0));
  if (isnan(spec->lo))
    return dm_error(DM_ERR_INTERNAL, "%s: range not resolved", spec->name);
  int n = spec->n_bins;
  if (spec->log_scale) {
    double a = log(spec->lo), b = log(spec->hi);
    for (int j = 0; j <= n; j++)
      edges[j] = exp(a + (b - a) * ((double)j / n));
  } else {
    for (int j = 0; j <= n; j++)
      edges[j] = spec->lo + (spec->hi - spec->lo) * ((double)j / n);
  }
  edges[0] = spec->lo;
  edges[n] = spec->hi;
  for (int j = 0; j < n; j++)
    if (!(edges[j] < edges[j + 1]))
      return dm_error(DM_ERR_ARG, "%s: %d bins over [%g, %g) are narrower than a double's step",
                      spec->name, n, spec->lo, spec->hi);
  return DM_OK;
}
