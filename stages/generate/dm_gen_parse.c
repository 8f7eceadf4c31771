/* Parsing the model and gen_cut columns of the process table. */
#include "dm_gen_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_gen_private.h"

static const struct {
  const char *name;
  int npar;          /* numeric parameters */
  const char *words; /* allowed variant words, "" if none */
} families[F_NFAM] = {
    [F_QCD] = {"qcd", 0, ""},          [F_WJETS] = {"wjets", 0, ""},
    [F_ZJETS] = {"zjets", 0, ""},      [F_GAMJETS] = {"gamjets", 0, ""},
    [F_TTBAR] = {"ttbar", 0, ""},      [F_TW] = {"tw", 0, ""},
    [F_T] = {"t", 0, ""},              [F_VV] = {"vv", 0, "ww zw zz wa za aa"},
    [F_HIGGS] = {"higgs", 0, ""},      [F_TTX] = {"ttx", 0, "a z h w ww"},
    [F_TX] = {"tx", 0, "a z"},         [F_4TOP] = {"4top", 0, ""},
    [F_GLUINO] = {"gluino", 2, ""},    [F_STOP] = {"stop", 2, ""},
    [F_SQUARK] = {"squark", 2, ""},    [F_ZPRIME] = {"zprime", 1, ""},
    [F_MONOJET] = {"monojet", 2, ""},  [F_MONOTOP] = {"monotop", 1, ""},
    [F_EWKINO] = {"ewkino", 2, "ww wz"},
};

const char *dm_gen_model_families(void)
{
  return "qcd wjets zjets gamjets ttbar tw t vv:{ww,zw,zz,wa,za,aa} higgs ttx:{a,z,h,w,ww} "
         "tx:{a,z} 4top gluino:M:Mchi stop:M:Mchi squark:M:Mchi zprime:M monojet:M:Mdm "
         "monotop:M ewkino:{ww,wz}:M:Mchi";
}

uint64_t dm_gen_process_key(const char *name)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    h ^= *p;
    h *= 0x100000001b3ULL;
  }
  return h;
}

static int word_index(const char *words, const char *w)
{
  int idx = 0;
  const char *p = words;
  size_t wl = strlen(w);
  while (*p) {
    const char *e = strchr(p, ' ');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == wl && !memcmp(p, w, l))
      return idx;
    idx++;
    if (!e)
      break;
    p = e + 1;
  }
  return -1;
}

static dm_status parse_cut(const dm_process *p, const char *source, dm_gen_model *m)
{
  char buf[256];
  snprintf(buf, sizeof buf, "%s", p->gen_cut);
  char *save = NULL;
  for (char *tok = strtok_r(buf, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
    while (*tok == ' ')
      tok++;
    double *dst = NULL;
    if (!strncmp(tok, "ht>", 3))
      dst = &m->ht_min;
    else if (!strncmp(tok, "met>", 4))
      dst = &m->met_min;
    char *num = dst ? strchr(tok, '>') + 1 : NULL, *end = NULL;
    double x = num ? strtod(num, &end) : NAN;
    while (end && *end == ' ')
      end++;
    if (!dst || !end || end == num || *end || !isfinite(x) || x < 0)
      return dm_error(DM_ERR_FORMAT,
                      "%s:%d: gen_cut '%s' of %s: expected terms 'ht>X' or 'met>X' (GeV) "
                      "joined by '&'",
                      source, p->line, p->gen_cut, p->name);
    *dst = x;
  }
  return DM_OK;
}

dm_status dm_gen_model_parse(const dm_process *p, const char *source, dm_gen_model *m)
{
  memset(m, 0, sizeof *m);
  if (!p->model || !*p->model)
    return dm_error(DM_ERR_UNKNOWN,
                    "%s:%d: process %s has no event model (column 'model'), so it cannot be "
                    "generated; models: %s",
                    source, p->line, p->name, dm_gen_model_families());
  char buf[256];
  snprintf(buf, sizeof buf, "%s", p->model);
  char *parts[5];
  int np = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ":", &save); tok && np < 5; tok = strtok_r(NULL, ":", &save))
    parts[np++] = tok;
  int fam = -1;
  for (int f = 0; f < F_NFAM; f++)
    if (np > 0 && !strcmp(parts[0], families[f].name))
      fam = f;
  if (fam < 0)
    return dm_error(DM_ERR_FORMAT, "%s:%d: unknown model '%s' for %s; models: %s", source, p->line,
                    p->model, p->name, dm_gen_model_families());
  m->family = fam;
  int k = 1;
  if (*families[fam].words) {
    int v = k < np ? word_index(families[fam].words, parts[k]) : -1;
    if (v < 0)
      return dm_error(DM_ERR_FORMAT, "%s:%d: model '%s' of %s needs a variant (%s)", source,
                      p->line, p->model, p->name, families[fam].words);
    m->variant = v;
    k++;
  }
  if (np - k != families[fam].npar)
    return dm_error(DM_ERR_FORMAT, "%s:%d: model '%s' of %s needs %d mass parameter(s)", source,
                    p->line, p->model, p->name, families[fam].npar);
  for (int i = 0; i < families[fam].npar; i++) {
    char *end;
    double x = strtod(parts[k + i], &end);
    if (*end || !isfinite(x) || x < 0 || x > 1e5)
      return dm_error(DM_ERR_FORMAT, "%s:%d: model '%s' of %s: bad mass '%s' (GeV)", source,
                      p->line, p->model, p->name, parts[k + i]);
    m->par[i] = x;
  }
  if ((fam == F_GLUINO || fam == F_STOP || fam == F_SQUARK || fam == F_EWKINO ||
       fam == F_MONOJET) &&
      !(m->par[0] > m->par[1] + 1.0))
    return dm_error(DM_ERR_FORMAT, "%s:%d: model '%s' of %s: the parent must be heavier than "
                                   "the invisible particle",
                    source, p->line, p->model, p->name);
  if ((fam == F_ZPRIME && m->par[0] < 2 * M_TOP + 10) || (fam == F_MONOTOP && m->par[0] <= 0))
    return dm_error(DM_ERR_FORMAT, "%s:%d: model '%s' of %s: mass too small", source, p->line,
                    p->model, p->name);
  return parse_cut(p, source, m);
}

