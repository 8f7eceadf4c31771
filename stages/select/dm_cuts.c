#include "dm_cuts.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const dm_cuts_channels[] = {"chan1", "chan2a", "chan2b", "chan3", NULL};

static const char *const cmp_text[] = {">=", ">", "<=", "<", "=="};

#define JETS ((1u << DM_OBJ_JET) | (1u << DM_OBJ_BJET))
#define LEPTONS \
  ((1u << DM_OBJ_EMINUS) | (1u << DM_OBJ_EPLUS) | (1u << DM_OBJ_MUMINUS) | (1u << DM_OBJ_MUPLUS))

/* ---- built-in channels (physics notes; the files in data/cuts say the same) */

static dm_cut var_cut(const char *name, int var, dm_cmp cmp, double value)
{
  dm_cut c;
  memset(&c, 0, sizeof c);
  snprintf(c.name, sizeof c.name, "%s", name);
  c.kind = DM_CUT_VAR;
  c.var = var;
  c.cmp = cmp;
  c.value = value;
  c.pt_min = -INFINITY;
  c.abs_eta_max = INFINITY;
  c.count_max = -1;
  return c;
}

static dm_cut count_cut(const char *name, unsigned types, double pt_min, int64_t count_min)
{
  dm_cut c = var_cut(name, 0, DM_CMP_GE, 0);
  c.kind = DM_CUT_COUNT;
  c.types = types;
  c.pt_min = pt_min;
  c.count_min = count_min;
  return c;
}

dm_status dm_cuts_channel(const char *name, dm_cutset *out)
{
  memset(out, 0, sizeof *out);
  snprintf(out->name, sizeof out->name, "%s", name);
  dm_cut *c = out->cut;
  int n = 0;
  if (!strcmp(name, "chan1")) {
    c[n++] = var_cut("ht", DM_VAR_HT, DM_CMP_GE, 600);
    c[n++] = var_cut("met", DM_VAR_MET, DM_CMP_GE, 200);
    c[n++] = var_cut("met_over_ht", DM_VAR_MET_OVER_HT, DM_CMP_GE, 0.2);
    c[n++] = count_cut("four_jets_pt50", JETS, 50, 4);
    c[n++] = count_cut("one_jet_pt200", JETS, 200, 1);
  } else if (!strcmp(name, "chan2a")) {
    c[n++] = var_cut("met", DM_VAR_MET, DM_CMP_GE, 50);
    c[n++] = count_cut("three_leptons_pt15", LEPTONS, 15, 3);
  } else if (!strcmp(name, "chan2b")) {
    c[n++] = var_cut("met", DM_VAR_MET, DM_CMP_GE, 50);
    c[n++] = count_cut("two_leptons_pt15", LEPTONS, 15, 2);
    c[n++] = var_cut("ht", DM_VAR_HT, DM_CMP_GE, 50);
  } else if (!strcmp(name, "chan3")) {
    c[n++] = var_cut("ht", DM_VAR_HT, DM_CMP_GE, 600);
    c[n++] = var_cut("met", DM_VAR_MET, DM_CMP_GE, 100);
  } else {
    return dm_error(DM_ERR_UNKNOWN, "unknown channel '%s' (known: chan1 chan2a chan2b chan3)",
                    name);
  }
  out->n = n;
  return DM_OK;
}

/* ---- cut files ----------------------------------------------------------- */

enum { K_VARIABLE = 1, K_OP = 2, K_VALUE = 4, K_OBJECTS = 8, K_PTMIN = 16, K_ETAMAX = 32,
       K_CMIN = 64, K_CMAX = 128 };

typedef struct {
  const char *source;
  dm_cutset *cs;
  char section[DM_CUT_NAME_MAX + 8];
  int cur;       /* index of the cut being read, -1 in [selection] */
  unsigned seen[DM_CUTS_MAX];
  int named;
  char msg[512]; /* first error */
} parse_ctx;

static int fail(parse_ctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(parse_ctx *p, const char *fmt, ...)
{
  if (!p->msg[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof p->msg, fmt, ap);
    va_end(ap);
  }
  return 0;
}

static int parse_num(const char *text, double *out)
{
  char *end = NULL;
  errno = 0;
  double v = strtod(text, &end);
  if (end == text || *end || errno || !isfinite(v))
    return 0;
  *out = v;
  return 1;
}

static int parse_count(const char *text, int64_t *out)
{
  char *end = NULL;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (end == text || *end || errno || v < 0)
    return 0;
  *out = v;
  return 1;
}

static int parse_types(const char *text, unsigned *out)
{
  static const struct {
    const char *name;
    unsigned mask;
  } words[] = {{"j", 1u << DM_OBJ_JET},
               {"b", 1u << DM_OBJ_BJET},
               {"e-", 1u << DM_OBJ_EMINUS},
               {"e+", 1u << DM_OBJ_EPLUS},
               {"m-", 1u << DM_OBJ_MUMINUS},
               {"m+", 1u << DM_OBJ_MUPLUS},
               {"g", 1u << DM_OBJ_PHOTON},
               {"e", (1u << DM_OBJ_EMINUS) | (1u << DM_OBJ_EPLUS)},
               {"m", (1u << DM_OBJ_MUMINUS) | (1u << DM_OBJ_MUPLUS)},
               {"jets", JETS},
               {"bjets", 1u << DM_OBJ_BJET},
               {"leptons", LEPTONS},
               {"electrons", (1u << DM_OBJ_EMINUS) | (1u << DM_OBJ_EPLUS)},
               {"muons", (1u << DM_OBJ_MUMINUS) | (1u << DM_OBJ_MUPLUS)},
               {"photons", 1u << DM_OBJ_PHOTON}};
  char buf[256];
  if (strlen(text) >= sizeof buf)
    return 0;
  strcpy(buf, text);
  unsigned m = 0;
  char *save = NULL;
  for (char *t = strtok_r(buf, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
    size_t k = 0;
    while (k < sizeof words / sizeof words[0] && strcmp(words[k].name, t))
      k++;
    if (k == sizeof words / sizeof words[0])
      return 0;
    m |= words[k].mask;
  }
  *out = m;
  return m != 0;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
  parse_ctx *p = user;
  dm_cutset *cs = p->cs;
  if (strcmp(section, p->section)) {
    /* A new section. */
    snprintf(p->section, sizeof p->section, "%s", section);
    if (!strcmp(section, "selection")) {
      p->cur = -1;
    } else if (!strncmp(section, "cut ", 4) && section[4]) {
      const char *name = section + 4;
      if (strlen(name) >= DM_CUT_NAME_MAX)
        return fail(p, "[%s]: cut name too long", section);
      for (int i = 0; i < cs->n; i++)
        if (!strcmp(cs->cut[i].name, name))
          return fail(p, "[%s]: a cut of this name appears twice", section);
      if (cs->n >= DM_CUTS_MAX)
        return fail(p, "[%s]: more than %d cuts", section, DM_CUTS_MAX);
      p->cur = cs->n++;
      dm_cut *c = &cs->cut[p->cur];
      memset(c, 0, sizeof *c);
      snprintf(c->name, sizeof c->name, "%s", name);
      c->var = -1;
      c->cmp = (dm_cmp)-1;
      c->pt_min = -INFINITY;
      c->abs_eta_max = INFINITY;
      c->count_max = -1;
      p->seen[p->cur] = 0;
    } else {
      return fail(p, "unknown section [%s] (expected [selection] or [cut NAME])", section);
    }
  }
  if (p->cur < 0) {
    if (strcmp(key, "name") && strcmp(key, "description"))
      return fail(p, "[selection]: unknown key '%s' (name, description)", key);
    if (!strcmp(key, "name")) {
      if (!*value || strlen(value) >= DM_CUT_NAME_MAX)
        return fail(p, "[selection]: bad name '%s'", value);
      /* "name =;x" gives ";x", but the canonical text "name = ;x" reads as
       * an empty name and a comment: such a name could not be written back. */
      if (value[0] == ';')
        return fail(p, "[selection]: bad name '%s' (it may not begin with ';', which starts a "
                       "comment)", value);
      snprintf(cs->name, sizeof cs->name, "%s", value);
      p->named = 1;
    }
    return 1;
  }
  dm_cut *c = &cs->cut[p->cur];
  static const struct {
    const char *key;
    unsigned bit;
  } keys[] = {{"variable", K_VARIABLE}, {"op", K_OP},          {"value", K_VALUE},
              {"objects", K_OBJECTS},   {"pt_min", K_PTMIN},   {"abs_eta_max", K_ETAMAX},
              {"count_min", K_CMIN},    {"count_max", K_CMAX}};
  unsigned bit = 0;
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
    if (!strcmp(keys[k].key, key))
      bit = keys[k].bit;
  if (!bit)
    return fail(p, "[%s]: unknown key '%s' (variable op value | objects pt_min abs_eta_max "
                   "count_min count_max)", section, key);
  if (p->seen[p->cur] & bit)
    return fail(p, "[%s]: key '%s' given twice", section, key);
  p->seen[p->cur] |= bit;
  switch (bit) {
  case K_VARIABLE:
    c->var = dm_physics_var_index(value);
    if (c->var < 0)
      return fail(p, "[%s]: unknown variable '%s' (ht n_jets n_bjets n_leptons n_photons "
                     "lead_jet_pt met_over_ht m_eff met n_obj)", section, value);
    break;
  case K_OP: {
    int k = 0;
    while (k < 5 && strcmp(cmp_text[k], value))
      k++;
    if (k == 5)
      return fail(p, "[%s]: op '%s' is not one of >= > <= < ==", section, value);
    c->cmp = (dm_cmp)k;
    break;
  }
  case K_VALUE:
    if (!parse_num(value, &c->value))
      return fail(p, "[%s]: value '%s' is not a finite number", section, value);
    break;
  case K_OBJECTS:
    if (!parse_types(value, &c->types))
      return fail(p, "[%s]: objects '%s': use j b e- e+ m- m+ g e m jets bjets leptons "
                     "electrons muons photons", section, value);
    break;
  case K_PTMIN:
    if (!parse_num(value, &c->pt_min))
      return fail(p, "[%s]: pt_min '%s' is not a finite number", section, value);
    break;
  case K_ETAMAX:
    if (!parse_num(value, &c->abs_eta_max) || c->abs_eta_max <= 0)
      return fail(p, "[%s]: abs_eta_max '%s' is not a positive number", section, value);
    break;
  case K_CMIN:
    if (!parse_count(value, &c->count_min))
      return fail(p, "[%s]: count_min '%s' is not a whole number >= 0", section, value);
    break;
  case K_CMAX:
    if (!parse_count(value, &c->count_max))
      return fail(p, "[%s]: count_max '%s' is not a whole number >= 0", section, value);
    break;
  }
  return 1;
}

/* Checks that need the whole section: which kind of cut, nothing missing. */
static dm_status finish_parse(parse_ctx *p)
{
  dm_cutset *cs = p->cs;
  if (cs->n == 0)
    return dm_error(DM_ERR_FORMAT, "%s: no [cut NAME] sections", p->source);
  for (int i = 0; i < cs->n; i++) {
    dm_cut *c = &cs->cut[i];
    unsigned s = p->seen[i];
    unsigned var_keys = K_VARIABLE | K_OP | K_VALUE;
    unsigned cnt_keys = K_OBJECTS | K_PTMIN | K_ETAMAX | K_CMIN | K_CMAX;
    if ((s & var_keys) && (s & cnt_keys))
      return dm_error(DM_ERR_FORMAT,
                      "%s: [cut %s] mixes a variable threshold with an object count", p->source,
                      c->name);
    if (s & var_keys) {
      if ((s & var_keys) != var_keys)
        return dm_error(DM_ERR_FORMAT, "%s: [cut %s] needs variable, op and value", p->source,
                        c->name);
      c->kind = DM_CUT_VAR;
    } else if (s & cnt_keys) {
      if (!(s & K_OBJECTS) || !(s & (K_CMIN | K_CMAX)))
        return dm_error(DM_ERR_FORMAT,
                        "%s: [cut %s] needs objects and count_min and/or count_max", p->source,
                        c->name);
      if (c->count_max >= 0 && c->count_max < c->count_min)
        return dm_error(DM_ERR_FORMAT, "%s: [cut %s] count_max %lld < count_min %lld",
                        p->source, c->name, (long long)c->count_max, (long long)c->count_min);
      c->kind = DM_CUT_COUNT;
      c->var = 0;
      c->cmp = DM_CMP_GE;
    } else {
      return dm_error(DM_ERR_FORMAT, "%s: [cut %s] is empty", p->source, c->name);
    }
  }
  return DM_OK;
}

static void base_name(const char *path, char *out, size_t cap)
{
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  size_t n = strlen(b);
  if (n > 4 && !strcmp(b + n - 4, ".ini"))
    n -= 4;
  if (n >= cap)
    n = cap - 1;
  memcpy(out, b, n);
  out[n] = '\0';
}

static dm_status run_parse(int rc, parse_ctx *p, const char *path_for_name)
{
  if (rc == -1)
    return dm_error(DM_ERR_IO, "cannot open cut file %s: %s", p->source, strerror(errno));
  if (rc == -2)
    return dm_error(DM_ERR_NOMEM, "%s: no memory", p->source);
  if (rc > 0)
    return dm_error(DM_ERR_FORMAT, "%s:%d: %s", p->source, rc,
                    p->msg[0] ? p->msg : "not a valid INI line");
  DM_FORWARD(finish_parse(p));
  if (!p->named)
    base_name(path_for_name, p->cs->name, sizeof p->cs->name);
  return DM_OK;
}

dm_status dm_cuts_load(const char *path, dm_cutset *out)
{
  memset(out, 0, sizeof *out);
  parse_ctx p;
  memset(&p, 0, sizeof p);
  p.source = path;
  p.cs = out;
  p.cur = -1;
  errno = 0;
  FILE *f = fopen(path, "r");
  if (!f)
    return dm_error(DM_ERR_IO, "cannot open cut file %s: %s", path, strerror(errno));
  int rc = ini_parse_file(f, handler, &p);
  fclose(f);
  return run_parse(rc, &p, path);
}

dm_status dm_cuts_parse(const char *text, const char *source, dm_cutset *out)
{
  memset(out, 0, sizeof *out);
  parse_ctx p;
  memset(&p, 0, sizeof p);
  p.source = source;
  p.cs = out;
  p.cur = -1;
  return run_parse(ini_parse_string(text, handler, &p), &p, source);
}

/* ---- text ------------------------------------------------------------------ */

/* Shortest decimal text that reads back as the same double ("0.2", not
 * "0.20000000000000001"): the canonical text must be readable by people and
 * re-parse to identical thresholds. */
static const char *num(double v, char *buf, size_t cap)
{
  for (int prec = 6; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  return buf;
}

static const char *types_text(unsigned m, char *buf, size_t cap)
{
  if (m == JETS)
    return "jets";
  if (m == LEPTONS)
    return "leptons";
  buf[0] = '\0';
  for (int t = 0; t < DM_OBJ_NTYPES; t++)
    if (m & (1u << t)) {
      size_t l = strlen(buf);
      snprintf(buf + l, cap - l, "%s%s", l ? "," : "", dm_obj_code(t));
    }
  return buf;
}

int dm_cut_describe(const dm_cut *c, char *buf, size_t cap)
{
  int n;
  if (c->kind == DM_CUT_VAR) {
    char nb[40];
    n = snprintf(buf, cap, "%s %s %s", dm_physics_var_name(c->var), cmp_text[c->cmp],
                 num(c->value, nb, sizeof nb));
  } else {
    char tb[64], pt[48] = "", eta[48] = "", mx[48] = "", nb[40];
    if (c->pt_min > -INFINITY)
      snprintf(pt, sizeof pt, " pt>%s", num(c->pt_min, nb, sizeof nb));
    if (c->abs_eta_max < INFINITY)
      snprintf(eta, sizeof eta, " |eta|<%s", num(c->abs_eta_max, nb, sizeof nb));
    if (c->count_max >= 0)
      snprintf(mx, sizeof mx, " count<=%lld", (long long)c->count_max);
    n = snprintf(buf, cap, "%s%s%s count>=%lld%s", types_text(c->types, tb, sizeof tb), pt, eta,
                 (long long)c->count_min, mx);
  }
  return n < 0 || (size_t)n >= cap ? -1 : n;
}

int dm_cuts_format(const dm_cutset *cs, char *buf, size_t cap)
{
  size_t len = 0;
#define EMIT(...)                                                          \
  do {                                                                     \
    int w_ = snprintf(buf + len, len < cap ? cap - len : 0, __VA_ARGS__); \
    if (w_ < 0 || len + (size_t)w_ >= cap)                                 \
      return -1;                                                           \
    len += (size_t)w_;                                                     \
  } while (0)
  char nb[40];
  EMIT("[selection]\nname = %s\n", cs->name);
  for (int i = 0; i < cs->n; i++) {
    const dm_cut *c = &cs->cut[i];
    EMIT("\n[cut %s]\n", c->name);
    if (c->kind == DM_CUT_VAR) {
      EMIT("variable = %s\nop = %s\nvalue = %s\n", dm_physics_var_name(c->var),
           cmp_text[c->cmp], num(c->value, nb, sizeof nb));
    } else {
      char tb[64];
      EMIT("objects = %s\n", types_text(c->types, tb, sizeof tb));
      if (c->pt_min > -INFINITY)
        EMIT("pt_min = %s\n", num(c->pt_min, nb, sizeof nb));
      if (c->abs_eta_max < INFINITY)
        EMIT("abs_eta_max = %s\n", num(c->abs_eta_max, nb, sizeof nb));
      EMIT("count_min = %lld\n", (long long)c->count_min);
      if (c->count_max >= 0)
        EMIT("count_max = %lld\n", (long long)c->count_max);
    }
  }
#undef EMIT
  return (int)len;
}

int dm_cuts_equal(const dm_cutset *a, const dm_cutset *b)
{
  if (strcmp(a->name, b->name) || a->n != b->n)
    return 0;
  for (int i = 0; i < a->n; i++) {
    const dm_cut *x = &a->cut[i], *y = &b->cut[i];
    if (strcmp(x->name, y->name) || x->kind != y->kind)
      return 0;
    if (x->kind == DM_CUT_VAR &&
        (x->var != y->var || x->cmp != y->cmp || x->value != y->value))
      return 0;
    if (x->kind == DM_CUT_COUNT &&
        (x->types != y->types || x->pt_min != y->pt_min || x->abs_eta_max != y->abs_eta_max ||
         x->count_min != y->count_min || x->count_max != y->count_max))
      return 0;
  }
  return 1;
}

/* ---- evaluation ----------------------------------------------------------- */

static int compare(double v, dm_cmp cmp, double t)
{
  switch (cmp) {
  case DM_CMP_GE: return v >= t;
  case DM_CMP_GT: return v > t;
  case DM_CMP_LE: return v <= t;
  case DM_CMP_LT: return v < t;
  case DM_CMP_EQ: return v == t;
  }
  return 0;
}

/* Round to the store's precision (see the header): float32 stores compare
 * float32 values with float32 thresholds. */
static double in_precision(double x, int dbl) { return dbl ? x : (double)(float)x; }

int dm_cut_pass(const dm_cut *c, const dm_events *ev, int64_t i, const double *vars, int dbl)
{
  if (c->kind == DM_CUT_VAR) {
    if (dm_physics_var_is_count(c->var))
      return compare(vars[c->var], c->cmp, c->value);
    return compare(in_precision(vars[c->var], dbl), c->cmp, in_precision(c->value, dbl));
  }
  int use_d = dbl && ev->pt_d && ev->eta_d;
  double ptmin = in_precision(c->pt_min, dbl), etamax = in_precision(c->abs_eta_max, dbl);
  int64_t n = 0;
  for (int64_t k = ev->obj_offset[i]; k < ev->obj_offset[i + 1]; k++) {
    if (!(c->types & (1u << ev->type[k])))
      continue;
    double pt = use_d ? ev->pt_d[k] : (double)ev->pt[k];
    double eta = fabs(use_d ? ev->eta_d[k] : (double)ev->eta[k]);
    n += pt > ptmin && eta < etamax;
  }
  return n >= c->count_min && (c->count_max < 0 || n <= c->count_max);
}
