#include "dm_hist_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_h5.h"
#include "dm_prov.h"

/* Per cell in the file: the limbs of the canonical exact sum, then the
 * undefined mark. */
#define XCELL (DM_XSUM_LIMBS + 1)

static char *dup_str(const char *s)
{
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

void dm_hist_free(dm_hist *h)
{
  if (!h)
    return;
  for (int i = 0; h->proc_names && i < h->n_proc; i++)
    free(h->proc_names[i]);
  free(h->proc_names);
  free(h->edges);
  free(h->count);
  free(h->sumw);
  free(h->sumw2);
  free(h->xsumw);
  free(h->xsumw2);
  memset(h, 0, sizeof *h);
}

void dm_hist_free_set(dm_hist *hs, int n)
{
  for (int i = 0; hs && i < n; i++)
    dm_hist_free(&hs[i]);
  free(hs);
}

static int bad_name(const char *s, size_t cap)
{
  return !s || !*s || strchr(s, '/') || strlen(s) >= cap;
}

dm_status dm_hist_init(dm_hist *h, const char *channel, const char *variable, int n_proc,
                       const char *const *proc_names, int n_bins, const double *edges)
{
  memset(h, 0, sizeof *h);
  if (!variable)
    variable = "score";
  if (bad_name(channel, sizeof h->channel) || bad_name(variable, sizeof h->variable))
    return dm_error(DM_ERR_ARG,
                    "histogram '%s/%s': channel and variable names must be 1 to 63 bytes "
                    "without '/'",
                    channel ? channel : "", variable);
  if (n_bins < 1 || n_proc < 0)
    return dm_error(DM_ERR_ARG, "histogram of %s in channel '%s': %d bins, %d processes",
                    variable, channel, n_bins, n_proc);
  for (int j = 0; j <= n_bins; j++)
    if (!isfinite(edges[j]) || (j < n_bins && !(edges[j] < edges[j + 1])))
      return dm_error(DM_ERR_ARG,
                      "histogram of %s in channel '%s': edges must be finite and increase "
                      "strictly (edge %d = %.17g, edge %d = %.17g)",
                      variable, channel, j, edges[j], j + 1, j < n_bins ? edges[j + 1] : NAN);
  snprintf(h->channel, sizeof h->channel, "%s", channel);
  snprintf(h->variable, sizeof h->variable, "%s", variable);
  h->n_proc = n_proc;
  h->n_bins = n_bins;
  size_t cells = (size_t)(n_proc > 0 ? n_proc : 1) * (size_t)(n_bins + 2);
  h->proc_names = calloc((size_t)(n_proc > 0 ? n_proc : 1), sizeof(char *));
  h->edges = malloc((size_t)(n_bins + 1) * sizeof(double));
  h->count = calloc(cells, sizeof(int64_t));
  h->sumw = calloc(cells, sizeof(double));
  h->sumw2 = calloc(cells, sizeof(double));
  h->xsumw = calloc(cells, sizeof(dm_xsum));
  h->xsumw2 = calloc(cells, sizeof(dm_xsum));
  int ok = h->proc_names && h->edges && h->count && h->sumw && h->sumw2 && h->xsumw && h->xsumw2;
  for (int i = 0; ok && i < n_proc; i++)
    ok = (h->proc_names[i] = dup_str(proc_names[i])) != NULL;
  if (!ok) {
    dm_hist_free(h);
    return dm_error(DM_ERR_NOMEM, "no memory for the histogram of %s in channel '%s'", variable,
                    channel);
  }
  memcpy(h->edges, edges, (size_t)(n_bins + 1) * sizeof(double));
  return DM_OK;
}

int dm_hist_bin(const dm_hist *h, double x)
{
  if (isnan(x))
    return -1;
  if (x < h->edges[0])
    return 0;
  if (x >= h->edges[h->n_bins])
    return h->n_bins + 1;
  /* Largest j with edges[j] <= x. */
  int lo = 0, hi = h->n_bins;
  while (hi - lo > 1) {
    int mid = lo + (hi - lo) / 2;
    if (h->edges[mid] <= x)
      lo = mid;
    else
      hi = mid;
  }
  return lo + 1;
}

int dm_hist_process(const dm_hist *h, const char *name)
{
  for (int i = 0; i < h->n_proc; i++)
    if (strcmp(h->proc_names[i], name) == 0)
      return i;
  return -1;
}

static size_t n_cells(const dm_hist *h)
{
  return (size_t)h->n_proc * (size_t)(h->n_bins + 2);
}

void dm_hist_round(dm_hist *h)
{
  size_t cells = n_cells(h);
  for (size_t c = 0; c < cells; c++) {
    h->sumw[c] = dm_xsum_value(&h->xsumw[c]);
    h->sumw2[c] = dm_xsum_value(&h->xsumw2[c]);
  }
}

dm_status dm_hist_fill_local(dm_hist *h, const uint16_t *proc, const double *x, const double *w,
                             const uint8_t *keep, int64_t n)
{
  size_t row = (size_t)(h->n_bins + 2);
  /* Check first, so a failing call adds nothing. */
  int64_t n_nan = 0, bad_proc = -1;
  for (int64_t i = 0; i < n; i++) {
    if (keep && !keep[i])
      continue;
    if (proc[i] >= h->n_proc)
      bad_proc = proc[i];
    n_nan += isnan(x[i]);
  }
  if (bad_proc >= 0)
    return dm_error(DM_ERR_INTERNAL, "histogram of %s in channel '%s': process index %lld of %d",
                    h->variable, h->channel, (long long)bad_proc, h->n_proc);
  if (n_nan > 0)
    return dm_error(DM_ERR_NUMERIC, "histogram of %s in channel '%s': %lld NaN values",
                    h->variable, h->channel, (long long)n_nan);
  for (int64_t i = 0; i < n; i++) {
    if (keep && !keep[i])
      continue;
    size_t c = (size_t)proc[i] * row + (size_t)dm_hist_bin(h, x[i]);
    double wi = w ? w[i] : 1.0;
    h->count[c]++;
    if (isfinite(wi)) {
      dm_xsum_add(&h->xsumw[c], wi);
      dm_xsum_add(&h->xsumw2[c], wi * wi);
    } else {
      /* The mark travels with the sums through reductions and merges. */
      for (size_t j = 0; j < row; j++)
        h->xsumw[(size_t)proc[i] * row + j].invalid = h->xsumw2[(size_t)proc[i] * row + j].invalid = 1;
    }
  }
  return DM_OK;
}

dm_status dm_hist_allreduce(dm_hist *h, MPI_Comm comm)
{
  size_t cells = n_cells(h);
  DM_FORWARD(dm_allsum_i64_array(h->count, (int64_t)cells, comm));
  DM_FORWARD(dm_xsum_allreduce(h->xsumw, (int64_t)cells, comm));
  DM_FORWARD(dm_xsum_allreduce(h->xsumw2, (int64_t)cells, comm));
  dm_hist_round(h);
  return DM_OK;
}

dm_status dm_hist_fill(dm_hist *h, const uint16_t *proc, const double *x, const double *w,
                       const uint8_t *keep, int64_t n, MPI_Comm comm)
{
  DM_FORWARD(dm_agree(dm_hist_fill_local(h, proc, x, w, keep, n), comm));
  return dm_hist_allreduce(h, comm);
}

static dm_status copy_hist(dm_hist *dst, const dm_hist *src)
{
  DM_FORWARD(dm_hist_init(dst, src->channel, src->variable, src->n_proc,
                          (const char *const *)src->proc_names, src->n_bins, src->edges));
  snprintf(dst->binning, sizeof dst->binning, "%s", src->binning);
  snprintf(dst->subset, sizeof dst->subset, "%s", src->subset);
  snprintf(dst->weights, sizeof dst->weights, "%s", src->weights);
  dst->log_scale = src->log_scale;
  size_t cells = n_cells(src);
  memcpy(dst->count, src->count, cells * sizeof(int64_t));
  memcpy(dst->sumw, src->sumw, cells * sizeof(double));
  memcpy(dst->sumw2, src->sumw2, cells * sizeof(double));
  memcpy(dst->xsumw, src->xsumw, cells * sizeof(dm_xsum));
  memcpy(dst->xsumw2, src->xsumw2, cells * sizeof(dm_xsum));
  return DM_OK;
}

dm_status dm_hist_merge(dm_hist *into, const dm_hist *add)
{
  if (strcmp(into->channel, add->channel) != 0 || strcmp(into->variable, add->variable) != 0)
    return dm_error(DM_ERR_SCHEMA, "cannot merge histograms of %s/%s and %s/%s", into->channel,
                    into->variable, add->channel, add->variable);
  if (into->n_bins != add->n_bins ||
      memcmp(into->edges, add->edges, (size_t)(into->n_bins + 1) * sizeof(double)) != 0)
    return dm_error(DM_ERR_SCHEMA,
                    "channel '%s', %s: bin edges differ (%d and %d bins); histograms can only "
                    "be merged when made with the same edges (see --hist-edges, --bins)",
                    into->channel, into->variable, into->n_bins, add->n_bins);
  int n_new = 0;
  for (int i = 0; i < add->n_proc; i++)
    if (dm_hist_process(into, add->proc_names[i]) < 0)
      n_new++;
  size_t row = (size_t)(into->n_bins + 2);
  if (n_new > 0) {
    /* Grow into a fresh histogram with the union of processes. */
    int np = into->n_proc + n_new;
    const char **names = malloc((size_t)np * sizeof(char *));
    if (!names)
      return dm_error(DM_ERR_NOMEM, "no memory to merge channel '%s'", into->channel);
    int k = 0;
    for (int i = 0; i < into->n_proc; i++)
      names[k++] = into->proc_names[i];
    for (int i = 0; i < add->n_proc; i++)
      if (dm_hist_process(into, add->proc_names[i]) < 0)
        names[k++] = add->proc_names[i];
    dm_hist g;
    dm_status s = dm_hist_init(&g, into->channel, into->variable, np, names, into->n_bins,
                               into->edges);
    free(names);
    if (s != DM_OK)
      return s;
    snprintf(g.binning, sizeof g.binning, "%s", into->binning);
    snprintf(g.subset, sizeof g.subset, "%s", into->subset);
    snprintf(g.weights, sizeof g.weights, "%s", into->weights);
    g.log_scale = into->log_scale;
    size_t cells = n_cells(into);
    memcpy(g.count, into->count, cells * sizeof(int64_t));
    memcpy(g.xsumw, into->xsumw, cells * sizeof(dm_xsum));
    memcpy(g.xsumw2, into->xsumw2, cells * sizeof(dm_xsum));
    dm_hist_free(into);
    *into = g;
  }
  for (int i = 0; i < add->n_proc; i++) {
    size_t t = (size_t)dm_hist_process(into, add->proc_names[i]) * row, a = (size_t)i * row;
    for (size_t j = 0; j < row; j++) {
      into->count[t + j] += add->count[a + j];
      dm_xsum_merge(&into->xsumw[t + j], &add->xsumw[a + j]);
      dm_xsum_merge(&into->xsumw2[t + j], &add->xsumw2[a + j]);
    }
  }
  dm_hist_round(into);
  return DM_OK;
}

dm_status dm_hist_merge_set(dm_hist **into, int *n_into, const dm_hist *add, int n_add)
{
  for (int a = 0; a < n_add; a++) {
    int found = -1;
    for (int i = 0; i < *n_into; i++)
      if (strcmp((*into)[i].channel, add[a].channel) == 0 &&
          strcmp((*into)[i].variable, add[a].variable) == 0)
        found = i;
    if (found >= 0) {
      DM_FORWARD(dm_hist_merge(&(*into)[found], &add[a]));
      continue;
    }
    dm_hist *g = realloc(*into, (size_t)(*n_into + 1) * sizeof(dm_hist));
    if (!g)
      return dm_error(DM_ERR_NOMEM, "no memory to merge histograms");
    *into = g;
    DM_FORWARD(copy_hist(&g[*n_into], &add[a]));
    (*n_into)++;
  }
  return DM_OK;
}

/* ---- file ------------------------------------------------------------------ */

/* Exact sums to and from their file form (canonical limbs + undefined mark),
 * so that equal sums are equal bytes on disk. */
static void xsum_export(const dm_xsum *x, size_t cells, int64_t *out)
{
  for (size_t c = 0; c < cells; c++) {
    dm_xsum t = x[c];
    dm_xsum_normalize(&t);
    memcpy(out + c * XCELL, t.limb, DM_XSUM_LIMBS * sizeof(int64_t));
    out[c * XCELL + DM_XSUM_LIMBS] = t.invalid != 0;
  }
}

static dm_status xsum_import(const int64_t *in, size_t cells, dm_xsum *x, const char *what)
{
  for (size_t c = 0; c < cells; c++) {
    const int64_t *v = in + c * XCELL;
    for (int l = 0; l < DM_XSUM_LIMBS - 1; l++)
      if (v[l] < 0 || v[l] > (int64_t)0xffffffff)
        return dm_error(DM_ERR_SCHEMA, "%s: cell %zu is not a canonical exact sum", what, c);
    memset(&x[c], 0, sizeof x[c]);
    memcpy(x[c].limb, v, DM_XSUM_LIMBS * sizeof(int64_t));
    x[c].invalid = v[DM_XSUM_LIMBS] != 0;
  }
  return DM_OK;
}

static dm_status write_one(hid_t f, const dm_hist *h, MPI_Comm comm)
{
  char g[192], p[256];
  snprintf(g, sizeof g, "histograms/%s/%s", h->channel, h->variable);
  DM_FORWARD_AGREED(dm_h5_group_ensure(f, g), comm);
  int64_t de[1] = {h->n_bins + 1};
  snprintf(p, sizeof p, "%s/edges", g);
  DM_FORWARD_AGREED(dm_h5_array_write(f, p, H5T_NATIVE_DOUBLE, 1, de, h->edges, comm), comm);
  snprintf(p, sizeof p, "%s/process_names", g);
  DM_FORWARD_AGREED(
      dm_h5_strings_write(f, p, (const char *const *)h->proc_names, h->n_proc, comm), comm);
  int64_t d2[2] = {h->n_proc, h->n_bins + 2};
  snprintf(p, sizeof p, "%s/count", g);
  DM_FORWARD_AGREED(dm_h5_array_write(f, p, H5T_NATIVE_INT64, 2, d2, h->count, comm), comm);
  snprintf(p, sizeof p, "%s/sumw", g);
  DM_FORWARD_AGREED(dm_h5_array_write(f, p, H5T_NATIVE_DOUBLE, 2, d2, h->sumw, comm), comm);
  snprintf(p, sizeof p, "%s/sumw2", g);
  DM_FORWARD(dm_h5_array_write(f, p, H5T_NATIVE_DOUBLE, 2, d2, h->sumw2, comm));
  size_t cells = n_cells(h);
  int64_t *ex = malloc((cells > 0 ? cells : 1) * XCELL * sizeof(int64_t));
  /* Agreed: a rank short of memory must not skip the collective writes. */
  dm_status s = dm_agree(
      ex ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory writing the histogram of %s", h->variable),
      comm);
  int64_t d3[3] = {h->n_proc, h->n_bins + 2, XCELL};
  const dm_xsum *src[2] = {h->xsumw, h->xsumw2};
  const char *name[2] = {"sumw_exact", "sumw2_exact"};
  for (int k = 0; s == DM_OK && k < 2; k++) {
    xsum_export(src[k], cells, ex);
    snprintf(p, sizeof p, "%s/%s", g, name[k]);
    s = dm_h5_array_write(f, p, H5T_NATIVE_INT64, 3, d3, ex, comm);
  }
  free(ex);
  DM_FORWARD(s);
  DM_FORWARD_AGREED(dm_h5_attr_set_str_at(f, g, "channel", h->channel), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_str_at(f, g, "variable", h->variable), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_str_at(f, g, "binning", h->binning), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_str_at(f, g, "subset", h->subset), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_str_at(f, g, "weights", h->weights), comm);
  hid_t go = H5Gopen2(f, g, H5P_DEFAULT);
  s = go < 0 ? dm_error(DM_ERR_HDF5, "cannot open group %s", g)
             : dm_h5_attr_set_i64(go, "log_scale", h->log_scale);
  if (go >= 0)
    H5Gclose(go);
  return dm_agree(s, comm);
}

dm_status dm_hist_file_write(const char *path, const dm_hist *hs, int n, MPI_Comm comm,
                             const char *command_line, const char *inputs)
{
  dm_h5_out out;
  DM_FORWARD(dm_h5_out_create(&out, path, comm));
  dm_status s = DM_OK;
  char **names = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
  if (!names)
    s = dm_error(DM_ERR_NOMEM, "no memory writing %s", path);
  for (int i = 0; s == DM_OK && i < n; i++) {
    size_t len = strlen(hs[i].channel) + strlen(hs[i].variable) + 2;
    if (!(names[i] = malloc(len)))
      s = dm_error(DM_ERR_NOMEM, "no memory writing %s", path);
    else
      snprintf(names[i], len, "%s/%s", hs[i].channel, hs[i].variable);
  }
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    s = dm_h5_strings_write(out.file, "histogram_names", (const char *const *)names, n, comm);
    for (int i = 0; s == DM_OK && i < n; i++)
      s = write_one(out.file, &hs[i], comm);
    if (s == DM_OK)
      s = dm_prov_write(out.file, DM_FORMAT_HIST, DM_HIST_VERSION,
                        command_line ? command_line : "", inputs ? inputs : "");
    if (s != DM_OK)
      dm_error_context("writing %s", path);
  }
  for (int i = 0; names && i < n; i++)
    free(names[i]);
  free(names);
  return dm_h5_out_finish(&out, s);
}

/* COLLECTIVE, agreed: each read is a collective transfer, agreed before the
 * next (a rank short of memory must not skip one the others make). One
 * histogram at group g; version 1 groups have no exact sums, no
 * channel/variable attributes (the variable is "score"). */
static dm_status read_one(hid_t f, const char *path, const char *g, const char *channel,
                          const char *variable, int version, dm_hist *h, MPI_Comm comm)
{
  char p[256];
  int nd = 0;
  int64_t dims[4] = {0}, cnt = 0;
  double *edges = NULL;
  char **names = NULL;
  int64_t n_names = 0;
  void *count = NULL, *sumw = NULL, *sumw2 = NULL, *ex = NULL, *ex2 = NULL;
  dm_status s;
  snprintf(p, sizeof p, "%s/edges", g);
  s = dm_h5_array_read(f, p, H5T_NATIVE_DOUBLE, &nd, dims, &cnt, (void **)&edges);
  if (s == DM_OK && (nd != 1 || cnt < 2))
    s = dm_error(DM_ERR_SCHEMA, "%s has %lld entries; at least 2 needed", p, (long long)cnt);
  s = dm_agree(s, comm);
  int64_t n_bins = cnt - 1;
  if (s == DM_OK) {
    snprintf(p, sizeof p, "%s/process_names", g);
    s = dm_agree(dm_h5_strings_read(f, p, &names, &n_names), comm);
  }
  const char *cols[5] = {"count", "sumw", "sumw2", "sumw_exact", "sumw2_exact"};
  void **bufs[5] = {&count, &sumw, &sumw2, &ex, &ex2};
  hid_t types[5] = {H5T_NATIVE_INT64, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE, H5T_NATIVE_INT64,
                    H5T_NATIVE_INT64};
  for (int c = 0; s == DM_OK && c < (version >= 2 ? 5 : 3); c++) {
    snprintf(p, sizeof p, "%s/%s", g, cols[c]);
    s = dm_h5_array_read(f, p, types[c], &nd, dims, &cnt, bufs[c]);
    int want_nd = c < 3 ? 2 : 3;
    if (s == DM_OK && (nd != want_nd || dims[0] != n_names || dims[1] != n_bins + 2 ||
                       (c >= 3 && dims[2] != XCELL)))
      s = dm_error(DM_ERR_SCHEMA, "%s has shape [%lld, %lld%s]; expected [%lld, %lld%s]", p,
                   (long long)dims[0], (long long)dims[1], nd == 3 ? ", ..." : "",
                   (long long)n_names, (long long)(n_bins + 2), c >= 3 ? ", 15" : "");
    s = dm_agree(s, comm);
  }
  if (s == DM_OK)
    s = dm_hist_init(h, channel, variable, (int)n_names, (const char *const *)names, (int)n_bins,
                     edges);
  if (s == DM_OK) {
    size_t cells = n_cells(h);
    memcpy(h->count, count, cells * sizeof(int64_t));
    if (version >= 2) {
      snprintf(p, sizeof p, "%s/sumw_exact", g);
      s = xsum_import(ex, cells, h->xsumw, p);
      snprintf(p, sizeof p, "%s/sumw2_exact", g);
      if (s == DM_OK)
        s = xsum_import(ex2, cells, h->xsumw2, p);
    } else {
      /* The rounded sums are all a version 1 file has: take them as exact. */
      for (size_t c = 0; c < cells; c++) {
        dm_xsum_add(&h->xsumw[c], ((double *)sumw)[c]);
        dm_xsum_add(&h->xsumw2[c], ((double *)sumw2)[c]);
      }
    }
    if (s == DM_OK)
      dm_hist_round(h);
  }
  if (s == DM_OK) {
    hid_t go = H5Gopen2(f, g, H5P_DEFAULT);
    if (go >= 0) {
      if (dm_h5_attr_get_str(go, "binning", h->binning, sizeof h->binning) != DM_OK)
        h->binning[0] = '\0';
      if (dm_h5_attr_get_str(go, "subset", h->subset, sizeof h->subset) != DM_OK)
        h->subset[0] = '\0';
      if (dm_h5_attr_get_str(go, "weights", h->weights, sizeof h->weights) != DM_OK)
        h->weights[0] = '\0';
      int64_t ls = 0;
      if (dm_h5_attr_get_i64(go, "log_scale", &ls) == DM_OK)
        h->log_scale = ls != 0;
      H5Gclose(go);
    }
    dm_error_clear();
  }
  free(edges);
  free(names);
  free(count);
  free(sumw);
  free(sumw2);
  free(ex);
  free(ex2);
  if (s != DM_OK) {
    dm_hist_free(h);
    dm_error_context("%s", path);
  }
  return s;
}

dm_status dm_hist_file_read(const char *path, MPI_Comm comm, dm_hist **hs_out, int *n_out)
{
  *hs_out = NULL;
  *n_out = 0;
  hid_t f;
  DM_FORWARD(dm_h5_open(path, comm, 0, &f));
  int version = 0;
  dm_status s =
      dm_agree(dm_prov_check(f, path, DM_FORMAT_HIST, DM_HIST_VERSION, &version), comm);
  char **keys = NULL;
  int64_t n = 0;
  if (s == DM_OK) {
    s = dm_h5_strings_read(f, version >= 2 ? "histogram_names" : "channel_names", &keys, &n);
    if (s != DM_OK)
      dm_error_context("%s", path);
    s = dm_agree(s, comm);
  }
  dm_hist *hs = NULL;
  if (s == DM_OK) {
    hs = calloc((size_t)(n > 0 ? n : 1), sizeof(dm_hist));
    if (!hs)
      s = dm_error(DM_ERR_NOMEM, "no memory reading %s", path);
  }
  for (int64_t i = 0; s == DM_OK && i < n; i++) {
    char g[192], chan[64], var[64];
    if (version >= 2) {
      const char *slash = strchr(keys[i], '/');
      if (!slash || (size_t)(slash - keys[i]) >= sizeof chan || strlen(slash + 1) >= sizeof var) {
        s = dm_error(DM_ERR_SCHEMA, "%s: histogram name '%s' is not CHANNEL/VARIABLE", path,
                     keys[i]);
        break;
      }
      snprintf(chan, sizeof chan, "%.*s", (int)(slash - keys[i]), keys[i]);
      snprintf(var, sizeof var, "%s", slash + 1);
      snprintf(g, sizeof g, "histograms/%s", keys[i]);
    } else {
      snprintf(chan, sizeof chan, "%s", keys[i]);
      snprintf(var, sizeof var, "score");
      snprintf(g, sizeof g, "channels/%s", keys[i]);
    }
    s = read_one(f, path, g, chan, var, version, &hs[i], comm);
  }
  free(keys);
  /* Every rank read the same bytes; agree anyway so all leave together. */
  s = dm_agree(s, comm);
  dm_h5_close(f);
  if (s != DM_OK) {
    dm_hist_free_set(hs, (int)n);
    return s;
  }
  *hs_out = hs;
  *n_out = (int)n;
  return DM_OK;
}

void dm_hist_scale_free(dm_hist_scale *sc)
{
  if (!sc)
    return;
  for (int i = 0; sc->names && i < sc->n; i++)
    free(sc->names[i]);
  free(sc->names);
  free(sc->weight);
  free(sc->events);
  memset(sc, 0, sizeof *sc);
}

/* The exact sum of c copies of x, as filling adds them one by one: the terms
 * x 2^k (exact: a change of exponent) of the set bits k of c. */
static void xsum_times(dm_xsum *a, double x, int64_t c)
{
  dm_xsum_clear(a);
  for (int k = 0; k < 63; k++)
    if ((c >> k) & 1)
      dm_xsum_add(a, ldexp(x, k));
}

dm_status dm_hist_scale_weights(dm_hist *h, const dm_hist_scale *sc)
{
  size_t row = (size_t)(h->n_bins + 2);
  int all_events = !strcmp(h->subset, "all events");
  for (int p = 0; p < h->n_proc; p++) {
    int k = -1;
    for (int i = 0; i < sc->n && k < 0; i++)
      if (!strcmp(sc->names[i], h->proc_names[p]))
        k = i;
    if (k < 0)
      return dm_error(DM_ERR_UNKNOWN, "histogram %s/%s: process %s has no weight in %s",
                      h->channel, h->variable, h->proc_names[p], sc->path);
    int64_t total = 0;
    for (size_t j = 0; j < row; j++) {
      size_t c = (size_t)p * row + j;
      double n = (double)h->count[c];
      if (dm_xsum_value(&h->xsumw[c]) != n || dm_xsum_value(&h->xsumw2[c]) != n)
        return dm_error(DM_ERR_SCHEMA,
                        "histogram %s/%s, process %s, bin %zu: the sums of weights are not the "
                        "entry counts; only histograms filled with unit weights (dmpipe hist "
                        "--unit-weights) can be given weights per process",
                        h->channel, h->variable, h->proc_names[p], j);
      total += h->count[c];
    }
    if (all_events && total != sc->events[k])
      return dm_error(DM_ERR_SCHEMA,
                      "histogram %s/%s: process %s has %lld entries but %s weights %lld events "
                      "of it: the histograms are not of the weighted store's events",
                      h->channel, h->variable, h->proc_names[p], (long long)total, sc->path,
                      (long long)sc->events[k]);
    double w = sc->weight[k];
    if (total == 0)
      continue;
    if (!isfinite(w)) {
      /* As filling: one non-finite weight makes every sum of the process
       * undefined. */
      for (size_t j = 0; j < row; j++) {
        size_t c = (size_t)p * row + j;
        dm_xsum_clear(&h->xsumw[c]);
        dm_xsum_clear(&h->xsumw2[c]);
        h->xsumw[c].invalid = h->xsumw2[c].invalid = 1;
      }
      continue;
    }
    if (w != 0 && !(fabs(w) >= 0x1p-78 && fabs(w) < 0x1p73))
      return dm_error(DM_ERR_NUMERIC,
                      "process %s: weight %.17g is outside [2^-78, 2^73), where sums of it and "
                      "of its square stop being exact",
                      h->proc_names[p], w);
    double w2 = w * w;
    for (size_t j = 0; j < row; j++) {
      size_t c = (size_t)p * row + j;
      xsum_times(&h->xsumw[c], w, h->count[c]);
      xsum_times(&h->xsumw2[c], w2, h->count[c]);
    }
  }
  /* Every process with events weighted must be here (with no entries, a
   * store's histograms still list it). */
  for (int i = 0; all_events && i < sc->n; i++)
    if (sc->events[i] > 0 && dm_hist_process(h, sc->names[i]) < 0)
      return dm_error(DM_ERR_SCHEMA,
                      "histogram %s/%s has no process %s, of which %s weights %lld events: the "
                      "histograms are not of the weighted store's events",
                      h->channel, h->variable, sc->names[i], sc->path, (long long)sc->events[i]);
  snprintf(h->weights, sizeof h->weights, "%s", sc->label);
  dm_hist_round(h);
  return DM_OK;
}

dm_status dm_hist_files_merge(const char *out, const char *const *in, int n_in,
                              const dm_hist_scale *scale, MPI_Comm comm,
                              const char *command_line)
{
  if (n_in < 1)
    return dm_error(DM_ERR_ARG, "no histogram files to merge");
  dm_hist *acc = NULL;
  int n_acc = 0;
  dm_status s = DM_OK;
  size_t cap = 4096, len = 0;
  char *inputs = calloc(cap, 1);
  if (!inputs)
    s = dm_error(DM_ERR_NOMEM, "no memory to merge histograms");
  s = dm_agree(s, comm);
  for (int i = 0; s == DM_OK && i < n_in; i++) {
    dm_hist *hs = NULL;
    int n = 0;
    s = dm_hist_file_read(in[i], comm, &hs, &n);
    if (s == DM_OK) {
      s = dm_hist_merge_set(&acc, &n_acc, hs, n);
      if (s != DM_OK)
        dm_error_context("merging %s", in[i]);
      s = dm_agree(s, comm);
    }
    dm_hist_free_set(hs, n);
    /* The inputs are recorded on every rank alike: the checksum is computed
     * by all ranks together and its status is agreed. */
    char hex[33] = "";
    int64_t size = 0;
    if (s == DM_OK) {
      int ok = dm_checksum_file_tree(in[i], comm, hex, &size) == DM_OK;
      dm_error_clear();
      size_t need = strlen(in[i]) + 64;
      if (ok && len + need >= cap) {
        char *g = realloc(inputs, cap = 2 * cap + need);
        if (!g)
          s = dm_error(DM_ERR_NOMEM, "no memory to merge histograms");
        else
          inputs = g;
        s = dm_agree(s, comm);
      }
      if (ok && s == DM_OK)
        len += (size_t)snprintf(inputs + len, cap - len, "%s\t%lld\t" DM_TREE_ALGO ":%s\n",
                                in[i], (long long)size, hex);
    }
  }
  /* Every rank holds the same histograms and weights: the same outcome. */
  for (int i = 0; s == DM_OK && scale && i < n_acc; i++)
    s = dm_agree(dm_hist_scale_weights(&acc[i], scale), comm);
  if (s == DM_OK && scale) {
    char hex[33] = "";
    int64_t size = 0;
    s = dm_checksum_file_tree(scale->path, comm, hex, &size);
    size_t need = strlen(scale->path) + 64;
    if (s == DM_OK && len + need >= cap) {
      char *g = realloc(inputs, cap = len + need + 1);
      if (!g)
        s = dm_error(DM_ERR_NOMEM, "no memory to merge histograms");
      else
        inputs = g;
    }
    if (s == DM_OK)
      len += (size_t)snprintf(inputs + len, cap - len, "%s\t%lld\t" DM_TREE_ALGO ":%s\n",
                              scale->path, (long long)size, hex);
    s = dm_agree(s, comm);
  }
  if (s == DM_OK)
    s = dm_hist_file_write(out, acc, n_acc, comm, command_line, inputs);
  dm_hist_free_set(acc, n_acc);
  free(inputs);
  return s;
}
