#include "dm_weight.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_derived.h"
#include "dm_h5.h"
#include "dm_physics.h"
#include "dm_proctable.h"
#include "dm_progress.h"
#include "dm_store.h"
#include "dm_xsum.h"

void dm_weight_report_free(dm_weight_report *rep)
{
  free(rep->proc);
  memset(rep, 0, sizeof *rep);
}

/* Events per process, counted over every rank, and the store's own weights
 * per process (exact sum, min, max). */
static dm_status count_processes(dm_store *st, int64_t batch, uint16_t *buf, double *wbuf,
                                 int64_t *counts, dm_weight_report *rep, MPI_Comm comm)
{
  int rank = dm_rank(comm), size = dm_size(comm), P = dm_store_n_processes(st);
  int64_t n = dm_store_n_events(st), rounds = dm_physics_rounds(n, batch, size);
  dm_xsum *sum = calloc((size_t)P + 1, sizeof *sum);
  double *mn = malloc(((size_t)P + 1) * sizeof *mn), *mx = malloc(((size_t)P + 1) * sizeof *mx);
  dm_status s = sum && mn && mx ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
  s = dm_agree(s, comm);
  for (int p = 0; s == DM_OK && p < P; p++) {
    mn[p] = INFINITY;
    mx[p] = -INFINITY;
  }
  for (int64_t k = 0; s == DM_OK && k < rounds; k++) {
    int64_t begin, count;
    dm_physics_round(n, batch, k, rank, size, &begin, &count);
    /* Verified: offsets, n_obj and process indices of the range. */
    s = dm_store_read_process(st, begin, count, buf);
    dm_status r = dm_h5_col_read(dm_store_file(st), "/events/weight", H5T_NATIVE_DOUBLE, begin,
                                 count, wbuf);
    if (s == DM_OK)
      s = r;
    for (int64_t i = 0; s == DM_OK && i < count; i++) {
      counts[buf[i]]++;
      dm_xsum_add(&sum[buf[i]], wbuf[i]);
      if (wbuf[i] < mn[buf[i]])
        mn[buf[i]] = wbuf[i];
      if (wbuf[i] > mx[buf[i]])
        mx[buf[i]] = wbuf[i];
    }
    s = dm_agree(s, comm);
  }
  if (s == DM_OK)
    s = dm_agree(dm_allsum_i64_array(counts, P, comm), comm);
  if (s == DM_OK)
    s = dm_agree(dm_xsum_allreduce(sum, P, comm), comm);
  if (s == DM_OK) {
    MPI_Allreduce(MPI_IN_PLACE, mn, P, MPI_DOUBLE, MPI_MIN, comm);
    MPI_Allreduce(MPI_IN_PLACE, mx, P, MPI_DOUBLE, MPI_MAX, comm);
    for (int p = 0; p < P; p++) {
      rep->proc[p].own_sum = dm_xsum_value(&sum[p]);
      rep->proc[p].own_min = counts[p] > 0 ? mn[p] : NAN;
      rep->proc[p].own_max = counts[p] > 0 ? mx[p] : NAN;
    }
  }
  free(sum);
  free(mn);
  free(mx);
  for (int p = 0; s == DM_OK && p < P; p++)
    if (counts[p] != dm_store_process_events(st, p))
      s = dm_error(DM_ERR_SCHEMA, "%s: process %s has %lld events but /processes/n_events says %lld",
                   dm_store_path(st), dm_store_process_name(st, p), (long long)counts[p],
                   (long long)dm_store_process_events(st, p));
  return s;
}

/* Per-process weights from the table; every rank holds the same table, so
 * every rank reaches the same verdict without communication. */
static dm_status process_weights(const dm_weight_opts *o, dm_store *st, const dm_proctable *tab,
                                 const int64_t *counts, dm_weight_report *rep)
{
  int P = dm_store_n_processes(st);
  for (int p = 0; p < P; p++) {
    dm_weight_process *wp = &rep->proc[p];
    snprintf(wp->name, sizeof wp->name, "%s", dm_store_process_name(st, p));
    wp->n_events = counts[p];
    const dm_process *pr = NULL;
    dm_status s = dm_proctable_lookup(tab, dm_store_process_name(st, p), 1, &pr);
    if (s != DM_OK) {
      if (!o->allow_unknown) {
        dm_error_context("%s: process of the store not usable (pass --allow-unknown to weight "
                         "it NaN)",
                         o->store_path);
        return s;
      }
      rep->n_unknown++;
      wp->sigma_pb = NAN;
      wp->weight = NAN;
      continue;
    }
    wp->sigma_pb = pr->sigma_pb;
    /* lumi x 1000 first: exact for usual luminosities, so a table whose
     * sigma x 10000 is the event count gives exactly 1 at 10 fb^-1. */
    wp->weight = counts[p] > 0 ? pr->sigma_pb * (o->lumi_fb * 1000.0) / (double)counts[p] : NAN;
  }
  dm_error_clear();
  return DM_OK;
}

/* The computed weights against the store's own, per process. Rescaled: the
 * new mean weight (own mean x lumi / store lumi). */
static void compare_own(const dm_weight_opts *o, dm_weight_report *rep)
{
  double scale = o->lumi_fb / rep->store_lumi_fb;
  for (int p = 0; p < rep->n_proc; p++) {
    dm_weight_process *wp = &rep->proc[p];
    double mean = wp->n_events > 0 ? wp->own_sum / (double)wp->n_events : NAN;
    if (o->rescale) {
      wp->sigma_pb = NAN;
      wp->weight = mean * scale;
    }
    wp->ratio = mean != 0 && isfinite(mean) ? wp->weight / mean : NAN;
    /* Own weights that vary inside a process cannot be one cross section's:
     * worth a warning as well. */
    int varies = wp->n_events > 0 &&
                 !(fabs(wp->own_max - wp->own_min) <= rep->tolerance * fabs(mean));
    double want = o->rescale ? scale : 1.0;
    wp->disagree =
        wp->n_events > 0 && (varies || !(fabs(wp->ratio - want) <= rep->tolerance * want));
    rep->n_disagree += wp->disagree;
  }
}

static dm_status write_weights(const dm_weight_opts *o, dm_store *st, dm_derived *old,
                               int64_t batch, uint16_t *pbuf, double *wbuf,
                               const dm_weight_report *rep, const dm_proctable *tab, MPI_Comm comm)
{
  int rank = dm_rank(comm), size = dm_size(comm);
  int64_t n = dm_store_n_events(st);
  char key[256];
  DM_FORWARD(dm_agree(dm_derived_store_key(dm_store_file(st), o->store_path, key, sizeof key), comm));
  dm_derived_writer *w = NULL;
  DM_FORWARD(dm_derived_writer_create(o->store_path, key, n, old, comm, &w));
  int col = -1;
  dm_status s = dm_derived_writer_add(w, "weight", H5T_NATIVE_DOUBLE, &col);
  if (s == DM_OK)
    s = dm_derived_writer_attr_f64(w, col, "lumi_fb", o->lumi_fb);
  if (s == DM_OK)
    s = dm_derived_writer_attr_str(w, col, "xsec_checksum", tab ? dm_proctable_checksum(tab) : "");
  if (s == DM_OK)
    s = dm_derived_writer_attr_str(w, col, "xsec_table", tab ? dm_proctable_source(tab) : "");
  if (s == DM_OK && o->rescale)
    s = dm_derived_writer_attr_f64(w, col, "store_lumi_fb", rep->store_lumi_fb);
  if (s == DM_OK)
    s = dm_derived_writer_attr_str(w, col, "definition",
                                   o->rescale
                                       ? "the store's /events/weight x lumi_fb / store_lumi_fb "
                                         "(no cross-section table)"
                                       : "sigma[pb] x lumi_fb x 1000 / events of the process in "
                                         "the store; NaN for a process without a cross section");
  s = dm_agree(s, comm);
  dm_progress *pr = dm_progress_start(comm, "weight", 0, o->progress, o->progress_interval);
  dm_progress_expect(pr, n);
  int64_t rounds = dm_physics_rounds(n, batch, size);
  for (int64_t k = 0; s == DM_OK && k < rounds; k++) {
    int64_t begin, count;
    dm_physics_round(n, batch, k, rank, size, &begin, &count);
    s = dm_h5_col_read(dm_store_file(st), "/events/process", H5T_NATIVE_UINT16, begin, count,
                       pbuf);
    s = dm_agree(s, comm);
    /* Indices were checked in the counting pass. */
    for (int64_t i = 0; s == DM_OK && i < count; i++)
      wbuf[i] = rep->proc[pbuf[i]].weight;
    if (s == DM_OK && o->rescale) {
      /* Event by event: the store's own weight, at the new luminosity. */
      s = dm_agree(dm_h5_col_read(dm_store_file(st), "/events/weight", H5T_NATIVE_DOUBLE, begin,
                                  count, wbuf),
                   comm);
      double scale = o->lumi_fb / rep->store_lumi_fb;
      for (int64_t i = 0; s == DM_OK && i < count; i++)
        wbuf[i] *= scale;
    }
    if (s == DM_OK)
      s = dm_derived_writer_append(w, col, H5T_NATIVE_DOUBLE, wbuf, count);
    dm_progress_add(pr, count, 0);
    dm_progress_tick(pr);
  }
  dm_progress_finish(pr);
  return dm_derived_writer_finish(w, s);
}

dm_status dm_weight_run(const dm_weight_opts *o, MPI_Comm comm, dm_weight_report *rep)
{
  double t0 = MPI_Wtime();
  memset(rep, 0, sizeof *rep);
  if (!o->store_path)
    return dm_error(DM_ERR_ARG, "weight needs a store");
  if (!(o->lumi_fb > 0) || !isfinite(o->lumi_fb))
    return dm_error(DM_ERR_ARG, "luminosity must be a positive number of fb^-1, not %g",
                    o->lumi_fb);
  int64_t batch = o->batch_events > 0 ? o->batch_events : DM_PHYSICS_BATCH_DEFAULT;
  rep->lumi_fb = o->lumi_fb;
  rep->rescaled = o->rescale;
  rep->store_lumi_fb = o->store_lumi_fb > 0 ? o->store_lumi_fb : 10.0;
  rep->tolerance = o->tolerance > 0 ? o->tolerance : 1e-3;
  dm_proctable *tab = NULL;
  dm_store *st = NULL;
  dm_derived *old = NULL;
  int64_t *counts = NULL;
  uint16_t *pbuf = NULL;
  double *wbuf = NULL;
  dm_status s = DM_OK;
  if (!o->rescale)
    s = dm_agree(dm_proctable_load_comm(o->xsec_path, comm, &tab), comm);
  if (s == DM_OK) {
    if (tab) {
      snprintf(rep->xsec_checksum, sizeof rep->xsec_checksum, "%s", dm_proctable_checksum(tab));
      snprintf(rep->xsec_path, sizeof rep->xsec_path, "%s", dm_proctable_source(tab));
    }
    s = dm_agree(dm_store_open(o->store_path, comm, 0, &st), comm);
  }
  if (s == DM_OK) {
    int P = dm_store_n_processes(st);
    rep->n_proc = P;
    rep->n_events = dm_store_n_events(st);
    rep->proc = calloc((size_t)P + 1, sizeof *rep->proc);
    counts = calloc((size_t)P + 1, sizeof *counts);
    pbuf = malloc((size_t)batch * sizeof *pbuf);
    wbuf = malloc((size_t)batch * sizeof *wbuf);
    if (!rep->proc || !counts || !pbuf || !wbuf)
      s = dm_error(DM_ERR_NOMEM, "no memory for %lld events", (long long)batch);
    s = dm_agree(s, comm);
  }
  if (s == DM_OK)
    s = count_processes(st, batch, pbuf, wbuf, counts, rep, comm);
  if (s == DM_OK && !o->rescale)
    s = dm_agree(process_weights(o, st, tab, counts, rep), comm);
  if (s == DM_OK && o->rescale)
    for (int p = 0; p < rep->n_proc; p++) {
      snprintf(rep->proc[p].name, sizeof rep->proc[p].name, "%s", dm_store_process_name(st, p));
      rep->proc[p].n_events = counts[p];
    }
  if (s == DM_OK)
    compare_own(o, rep);
  if (s == DM_OK)
    s = dm_derived_open(o->store_path, dm_store_file(st), dm_store_n_events(st), comm, &old);
  if (s == DM_OK)
    s = write_weights(o, st, old, batch, pbuf, wbuf, rep, tab, comm);
  dm_derived_close(old);
  dm_store_close(st);
  dm_proctable_free(tab);
  free(counts);
  free(pbuf);
  free(wbuf);
  rep->seconds = dm_allmax_f64(MPI_Wtime() - t0, comm);
  return s;
}
