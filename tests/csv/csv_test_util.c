#include "csv_test_util.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static int append_file(const char *path, char **buf, size_t *len, size_t *cap)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    return 0;
  }
  ZSTD_DStream *ds = ZSTD_createDStream();
  size_t in_cap = ZSTD_DStreamInSize();
  char *in = malloc(in_cap);
  int ok = ds && in;
  if (ok)
    ZSTD_initDStream(ds);
  size_t got;
  while (ok && (got = fread(in, 1, in_cap, f)) > 0) {
    ZSTD_inBuffer ib = {in, got, 0};
    while (ib.pos < ib.size) {
      if (*cap - *len < (1 << 20)) {
        *cap = *cap * 2 + (1 << 22);
        char *n = realloc(*buf, *cap);
        if (!n) {
          ok = 0;
          break;
        }
        *buf = n;
      }
      ZSTD_outBuffer ob = {*buf + *len, *cap - *len, 0};
      size_t r = ZSTD_decompressStream(ds, &ob, &ib);
      if (ZSTD_isError(r)) {
        fprintf(stderr, "%s: %s\n", path, ZSTD_getErrorName(r));
        ok = 0;
        break;
      }
      *len += ob.pos;
    }
  }
  if (ok && *len > 0 && (*buf)[*len - 1] != '\n')
    (*buf)[(*len)++] = '\n';
  free(in);
  ZSTD_freeDStream(ds);
  fclose(f);
  return ok;
}

char *csv_test_load_sample(size_t *len, int *n_files)
{
  const char *fixtures = getenv("DM_FIXTURES");
  if (!fixtures) {
    fprintf(stderr, "DM_FIXTURES is not set\n");
    return NULL;
  }
  char pattern[4096];
  snprintf(pattern, sizeof pattern, "%s/pythia-sample/*.csv.zst", fixtures);
  glob_t g;
  if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
    fprintf(stderr, "no sample files match %s\n", pattern);
    return NULL;
  }
  char *buf = NULL;
  size_t cap = 0;
  *len = 0;
  int ok = 1;
  for (size_t i = 0; ok && i < g.gl_pathc; i++)
    ok = append_file(g.gl_pathv[i], &buf, len, &cap);
  *n_files = (int)g.gl_pathc;
  globfree(&g);
  if (!ok) {
    free(buf);
    return NULL;
  }
  return buf;
}

void csv_test_free_events(dm_events *ev)
{
  void *arrays[] = {ev->event_id, ev->process, ev->weight, ev->met,   ev->met_phi, ev->obj_offset,
                    ev->type,     ev->e,       ev->pt,     ev->eta,   ev->phi,     ev->met_d,
                    ev->met_phi_d, ev->e_d,    ev->pt_d,   ev->eta_d, ev->phi_d};
  for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++)
    free(arrays[i]);
  memset(ev, 0, sizeof *ev);
}

/* [+-] (digits [. digits*] | . digits) [(e|E) [+-] digits] */
static int ref_is_number(const char *s)
{
  if (*s == '+' || *s == '-')
    s++;
  int before = 0, after = 0;
  while (*s >= '0' && *s <= '9')
    s++, before++;
  if (*s == '.') {
    s++;
    while (*s >= '0' && *s <= '9')
      s++, after++;
  }
  if (before + after == 0)
    return 0;
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-')
      s++;
    int ex = 0;
    while (*s >= '0' && *s <= '9')
      s++, ex++;
    if (ex == 0)
      return 0;
  }
  return *s == '\0';
}

static int ref_number(const char *s, double *v)
{
  if (!ref_is_number(s))
    return 0;
  *v = strtod(s, NULL);
  return isfinite(*v);
}

static int ref_float_ok(double v, int want_double) { return want_double || fabs(v) <= FLT_MAX; }

void csv_ref_free(csv_ref_event *ev)
{
  free(ev->process);
  free(ev->type);
  free(ev->e);
  free(ev->pt);
  free(ev->eta);
  free(ev->phi);
  memset(ev, 0, sizeof *ev);
}

int csv_ref_parse(const char *line, size_t len, int want_double, csv_ref_event *ev)
{
  memset(ev, 0, sizeof *ev);
  if (len > 0 && line[len - 1] == '\n')
    len--;
  if (len > 0 && line[len - 1] == '\r')
    len--;
  if (memchr(line, '\0', len))
    return 0; /* the parser sees a NUL as junk in some field */
  char *buf = malloc(len + 1);
  memcpy(buf, line, len);
  buf[len] = '\0';
  /* fields */
  size_t nf = 1;
  for (size_t i = 0; i < len; i++)
    nf += buf[i] == ';';
  char **f = malloc(nf * sizeof *f);
  f[0] = buf;
  size_t k = 1;
  for (char *c = buf; (c = strchr(c, ';')) != NULL; c++) {
    *c = '\0';
    f[k++] = c + 1;
  }
  if (nf > 5 && f[nf - 1][0] == '\0')
    nf--; /* trailing ';' */
  int ok = nf >= 5 && len > 0;
  int n_obj = ok ? (int)(nf - 5) : 0;
  ok = ok && n_obj <= 65535;
  if (ok) {
    char *endp;
    errno = 0;
    long long id = strtoll(f[0], &endp, 10);
    double idv;
    if ((isdigit((unsigned char)f[0][0]) || f[0][0] == '-' || f[0][0] == '+') && *endp == '\0' &&
        errno == 0) {
      ev->id = id;
    } else if (ref_number(f[0], &idv) && idv == floor(idv) && fabs(idv) <= 9007199254740992.0) {
      ev->id = (long long)idv;
    } else {
      ok = 0;
    }
  }
  ok = ok && f[1][0] != '\0' && strchr(f[1], ',') == NULL;
  for (const char *c = f[1]; ok && *c; c++)
    ok = (unsigned char)*c >= 0x20 && *c != 0x7f;
  if (ok)
    ev->process = strdup(f[1]);
  double met = 0, met_phi = 0;
  ok = ok && ref_number(f[2], &ev->weight) && ref_number(f[3], &met) && ref_number(f[4], &met_phi);
  ev->met = met / 1000.0;
  ev->met_phi = met_phi;
  ok = ok && ref_float_ok(ev->met, want_double) && ref_float_ok(ev->met_phi, want_double);
  ev->n_obj = n_obj;
  size_t m = n_obj > 0 ? (size_t)n_obj : 1;
  ev->type = malloc(m * sizeof *ev->type);
  ev->e = malloc(m * sizeof(double));
  ev->pt = malloc(m * sizeof(double));
  ev->eta = malloc(m * sizeof(double));
  ev->phi = malloc(m * sizeof(double));
  static const char *const codes[] = {"j", "b", "e-", "e+", "m-", "m+", "g", "mu-", "mu+", "a"};
  static const int types[] = {0, 1, 2, 3, 4, 5, 6, 4, 5, 6};
  for (int i = 0; ok && i < n_obj; i++) {
    char *o = f[5 + i], *part[5];
    int np = 0;
    part[np++] = o;
    for (char *c = o; (c = strchr(c, ',')) != NULL; c++) {
      *c = '\0';
      if (np == 5) {
        np = 6;
        break;
      }
      part[np++] = c + 1;
    }
    if (np != 5) {
      ok = 0;
      break;
    }
    int t = -1;
    for (int c = 0; c < 10; c++)
      if (strcmp(part[0], codes[c]) == 0)
        t = types[c];
    double e, pt, eta, phi;
    ok = t >= 0 && ref_number(part[1], &e) && ref_number(part[2], &pt) &&
         ref_number(part[3], &eta) && ref_number(part[4], &phi);
    if (!ok)
      break;
    ev->type[i] = t;
    ev->e[i] = e / 1000.0;
    ev->pt[i] = pt / 1000.0;
    ev->eta[i] = eta;
    ev->phi[i] = phi;
    ok = ref_float_ok(ev->e[i], want_double) && ref_float_ok(ev->pt[i], want_double) &&
         ref_float_ok(eta, want_double) && ref_float_ok(phi, want_double);
  }
  free(f);
  free(buf);
  return ok;
}
