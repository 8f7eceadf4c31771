#include "dm_hist_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_h5.h"
#include "dm_prov.h"

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
  memset(h, 0, sizeof *h);
}

void dm_hist_free_set(dm_hist *hs, int n)
{
  for (int i = 0; hs && i < n; i++)
    dm_hist_free(&hs[i]);
  free(hs);
}

dm_status dm_hist_init(dm_hist *h, const char *channel, const char *variable, int n_proc,
                       const char *const *proc_names, int n_bins, const double *edges)
{
  memset(h, 0, sizeof *h);
  if (n_bins < 1 || n_proc < 0)
    return dm_error(DM_ERR_ARG, "histogram of channel '%s': %d bins, %d processes", channel,
                    n_bins, n_proc);
  for (int j = 0; j < n_bins; j++)
    if (!(edges[j] < edges[j + 1]))
      return dm_error(DM_ERR_ARG,
                      "histogram of channel '%s': edges must increase strictly (edge %d = %.17g, "
                      "edge %d = %.17g)",
                      channel, j, edges[j], j + 1, edges[j + 1]);
  snprintf(h->channel, sizeof h->channel, "%s", channel);
  snprintf(h->variable, sizeof h->variable, "%s", variable ? variable : "score");
  h->n_proc = n_proc;
  h->n_bins = n_bins;
  size_t cells = (size_t)(n_proc > 0 ? n_proc : 1) * (size_t)(n_bins + 2);
  h->proc_names = calloc((size_t)(n_proc > 0 ? n_proc : 1), sizeof(char *));
  h->edges = malloc((size_t)(n_bins + 1) * sizeof(double));
  h->count = calloc(cells, sizeof(int64_t));
  h->sumw = calloc(cells, sizeof(double));
  h->sumw2 = calloc(cells, sizeof(double));
  int ok = h->proc_names && h->edges && h->count && h->sumw && h->sumw2;
  for (int i = 0; ok && i < n_proc; i++)
    ok = (h->proc_names[i] = dup_str(proc_names[i])) != NULL;
  if (!ok) {
    dm_hist_free(h);
    return dm_error(DM_ERR_NOMEM, "no memory for the histogram of channel '%s'", channel);
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

dm_status dm_hist_merge(dm_hist *into, const dm_hist *add)
{
  if (strcmp(into->channel, add->channel) != 0)
    return dm_error(DM_ERR_SCHEMA, "cannot merge histograms of channels '%s' and '%s'",
                    into->channel, add->channel);
  if (into->n_bins != add->n_bins ||
      memcmp(into->edges, add->edges, (size_t)(into->n_bins + 1) * sizeof(double)) != 0)
    return dm_error(DM_ERR_SCHEMA,
                    "channel '%s': bin edges differ (%d and %d bins); histograms can only be "
                    "merged when made with the same edges (see --hist-edges)",
                    into->channel, into->n_bins, add->n_bins);
  int n_new = 0;
  for (int i = 0; i < add->n_proc; i++)
    if (dm_hist_process(into, add->proc_names[i]) < 0)
      n_new++;
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
    size_t row = (size_t)(into->n_bins + 2);
    memcpy(g.count, into->count, (size_t)into->n_proc * row * sizeof(int64_t));
    memcpy(g.sumw, into->sumw, (size_t)into->n_proc * row * sizeof(double));
    memcpy(g.sumw2, into->sumw2, (size_t)into->n_proc * row * sizeof(double));
    dm_hist_free(into);
    *into = g;
  }
  size_t row = (size_t)(into->n_bins + 2);
  for (int i = 0; i < add->n_proc; i++) {
    int t = dm_hist_process(into, add->proc_names[i]);
    for (size_t j = 0; j < row; j++) {
      into->count[(size_t)t * row + j] += add->count[(size_t)i * row + j];
      into->sumw[(size_t)t * row + j] += add->sumw[(size_t)i * row + j];
      into->sumw2[(size_t)t * row + j] += add->sumw2[(size_t)i * row + j];
    }
  }
  return DM_OK;
}

static dm_status copy_hist(dm_hist *dst, const dm_hist *src)
{
  DM_FORWARD(dm_hist_init(dst, src->channel, src->variable, src->n_proc,
                          (const char *const *)src->proc_names, src->n_bins, src->edges));
  snprintf(dst->binning, sizeof dst->binning, "%s", src->binning);
  size_t cells = (size_t)src->n_proc * (size_t)(src->n_bins + 2);
  memcpy(dst->count, src->count, cells * sizeof(int64_t));
  memcpy(dst->sumw, src->sumw, cells * sizeof(double));
  memcpy(dst->sumw2, src->sumw2, cells * sizeof(double));
  return DM_OK;
}

dm_status dm_hist_merge_set(dm_hist **into, int *n_into, const dm_hist *add, int n_add)
{
  for (int a = 0; a < n_add; a++) {
    int found = -1;
    for (int i = 0; i < *n_into; i++)
      if (strcmp((*into)[i].channel, add[a].channel) == 0)
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

static dm_status write_one(hid_t f, const dm_hist *h, MPI_Comm comm)
{
  char g[160];
  snprintf(g, sizeof g, "channels/%s", h->channel);
  DM_FORWARD_AGREED(dm_h5_group_ensure(f, g), comm);
  char p[256];
  int64_t de[1] = {h->n_bins + 1};
  snprintf(p, sizeof p, "%s/edges", g);
  DM_FORWARD_AGREED(dm_h5_array_write(f, p, H5T_NATIVE_DOUBLE, 1, de, h->edges, comm), comm);
  snprintf(p, sizeof p, "%s/process_names", g);
  DM_FORWARD_AGREED(dm_h5_strings_write(f, p, (const char *const *)h->proc_names, h->n_proc, comm), comm);
  int64_t d2[2] = {h->n_proc, h->n_bins + 2};
  snprintf(p, sizeof p, "%s/count", g);
  DM_FORWARD_AGREED(dm_h5_array_write(f, p, H5T_NATIVE_INT64, 2, d2, h->count, comm), comm);
  snprintf(p, sizeof p, "%s/sumw", g);
  DM_FORWARD_AGREED(dm_h5_array_write(f, p, H5T_NATIVE_DOUBLE, 2, d2, h->sumw, comm), comm);
  snprintf(p, sizeof p, "%s/sumw2", g);
  DM_FORWARD_AGREED(dm_h5_array_write(f, p, H5T_NATIVE_DOUBLE, 2, d2, h->sumw2, comm), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_str_at(f, g, "variable", h->variable), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_str_at(f, g, "binning", h->binning), comm);
  return DM_OK;
}

dm_status dm_hist_file_write(const char *path, const dm_hist *hs, int n, MPI_Comm comm,
                             const char *command_line, const char *inputs)
{
  dm_h5_out out;
  DM_FORWARD(dm_h5_out_create(&out, path, comm));
  dm_status s = DM_OK;
  const char **names = malloc((size_t)(n > 0 ? n : 1) * sizeof(char *));
  if (!names)
    s = dm_error(DM_ERR_NOMEM, "no memory writing %s", path);
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    for (int i = 0; i < n; i++)
      names[i] = hs[i].channel;
    s = dm_h5_strings_write(out.file, "channel_names", names, n, comm);
    for (int i = 0; s == DM_OK && i < n; i++)
      s = write_one(out.file, &hs[i], comm);
    if (s == DM_OK)
      s = dm_prov_write(out.file, DM_FORMAT_HIST, DM_HIST_VERSION,
                        command_line ? command_line : "", inputs ? inputs : "");
    if (s != DM_OK)
      dm_error_context("writing %s", path);
  }
  free(names);
  return dm_h5_out_finish(&out, s);
}

/* COLLECTIVE, agreed: each read is a collective transfer, agreed before the
 * next (a rank short of memory must not skip one the others make). */
static dm_status read_one(hid_t f, const char *path, const char *channel, dm_hist *h,
                          MPI_Comm comm)
{
  char g[160], p[256];
  snprintf(g, sizeof g, "channels/%s", channel);
  int nd = 0;
  int64_t dims[4] = {0}, cnt = 0;
  double *edges = NULL;
  char **names = NULL;
  int64_t n_names = 0;
  void *count = NULL, *sumw = NULL, *sumw2 = NULL;
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
  const char *cols[3] = {"count", "sumw", "sumw2"};
  void **bufs[3] = {&count, &sumw, &sumw2};
  hid_t types[3] = {H5T_NATIVE_INT64, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE};
  for (int c = 0; s == DM_OK && c < 3; c++) {
    snprintf(p, sizeof p, "%s/%s", g, cols[c]);
    s = dm_h5_array_read(f, p, types[c], &nd, dims, &cnt, bufs[c]);
    if (s == DM_OK && (nd != 2 || dims[0] != n_names || dims[1] != n_bins + 2))
      s = dm_error(DM_ERR_SCHEMA, "%s has shape [%lld, %lld]; expected [%lld, %lld]", p,
                   (long long)dims[0], (long long)dims[1], (long long)n_names,
                   (long long)(n_bins + 2));
    s = dm_agree(s, comm);
  }
  if (s == DM_OK)
    s = dm_hist_init(h, channel, "score", (int)n_names, (const char *const *)names, (int)n_bins,
                     edges);
  if (s == DM_OK) {
    size_t cells = (size_t)n_names * (size_t)(n_bins + 2);
    memcpy(h->count, count, cells * sizeof(int64_t));
    memcpy(h->sumw, sumw, cells * sizeof(double));
    memcpy(h->sumw2, sumw2, cells * sizeof(double));
    hid_t go = H5Gopen2(f, g, H5P_DEFAULT);
    if (go >= 0) {
      if (dm_h5_attr_get_str(go, "variable", h->variable, sizeof h->variable) != DM_OK)
        snprintf(h->variable, sizeof h->variable, "score");
      if (dm_h5_attr_get_str(go, "binning", h->binning, sizeof h->binning) != DM_OK)
        h->binning[0] = '\0';
      H5Gclose(go);
    }
    dm_error_clear();
  }
  free(edges);
  free(names);
  free(count);
  free(sumw);
  free(sumw2);
  if (s != DM_OK)
    dm_error_context("%s", path);
  return s;
}

dm_status dm_hist_file_read(const char *path, MPI_Comm comm, dm_hist **hs_out, int *n_out)
{
  *hs_out = NULL;
  *n_out = 0;
  hid_t f;
  DM_FORWARD(dm_h5_open(path, comm, 0, &f));
  dm_status s = dm_agree(dm_prov_check(f, path, DM_FORMAT_HIST, DM_HIST_VERSION, NULL), comm);
  char **chan = NULL;
  int64_t n = 0;
  if (s == DM_OK) {
    s = dm_h5_strings_read(f, "channel_names", &chan, &n);
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
  for (int64_t i = 0; s == DM_OK && i < n; i++)
    s = read_one(f, path, chan[i], &hs[i], comm);
  free(chan);
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
