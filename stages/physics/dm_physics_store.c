/* dm_physics_ensure: the /derived physics columns of a store, computed in one
 * rank-parallel pass when missing, committed as one new part of the store.s derived columns. */
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_derived.h"
#include "dm_h5.h"
#include "dm_physics.h"
#include "dm_progress.h"

int64_t dm_physics_rounds(int64_t n_events, int64_t batch, int size)
{
  int64_t block = batch * (int64_t)size;
  return (n_events + block - 1) / block;
}

void dm_physics_round(int64_t n_events, int64_t batch, int64_t k, int rank, int size,
                      int64_t *begin, int64_t *count)
{
  int64_t block = batch * (int64_t)size;
  int64_t g0 = k * block, g1 = g0 + block < n_events ? g0 + block : n_events;
  int64_t b = 0, e = 0;
  if (g1 > g0)
    dm_partition(g1 - g0, rank, size, &b, &e);
  *begin = g0 + b;
  *count = e - b;
}

static const char *const var_doc[DM_VAR_NDERIVED] = {
    "scalar sum of jet (j, b) pT",
    "number of j and b objects",
    "number of b objects",
    "number of electrons and muons",
    "number of photons",
    "largest jet pT, 0 without jets",
    "MET / ht; +inf if ht = 0 and MET > 0; 0 if both are 0",
    "ht + MET",
};

static dm_status compute_all(dm_store *st, dm_derived_writer *w, int64_t batch, int progress,
                             double interval, MPI_Comm comm)
{
  int rank = dm_rank(comm), size = dm_size(comm);
  int64_t n = dm_store_n_events(st);
  int col[DM_VAR_NDERIVED];
  dm_status s = DM_OK;
  for (int v = 0; s == DM_OK && v < DM_VAR_NDERIVED; v++) {
    s = dm_derived_writer_add(w, dm_physics_var_name(v), dm_physics_var_h5type(v), &col[v]);
    if (s == DM_OK)
      s = dm_derived_writer_attr_str(w, col[v], "definition", var_doc[v]);
    if (s == DM_OK)
      s = dm_derived_writer_attr_str(w, col[v], "units", dm_physics_var_is_count(v) ? "" : "GeV");
    s = dm_agree(s, comm);
  }
  if (s != DM_OK)
    return s;
  double *cols[DM_VAR_NDERIVED];
  int32_t *icol = malloc((size_t)batch * sizeof *icol);
  double *block = malloc((size_t)batch * DM_VAR_NDERIVED * sizeof(double));
  for (int v = 0; v < DM_VAR_NDERIVED; v++)
    cols[v] = block ? block + (size_t)v * (size_t)batch : NULL;
  if (!icol || !block)
    s = dm_error(DM_ERR_NOMEM, "no memory for %lld events of derived columns", (long long)batch);
  s = dm_agree(s, comm);
  dm_events ev;
  memset(&ev, 0, sizeof ev);
  dm_progress *pr = dm_progress_start(comm, "derive", 0, progress, interval);
  dm_progress_expect(pr, n);
  int want_double = dm_store_is_double(st);
  int64_t rounds = dm_physics_rounds(n, batch, size);
  for (int64_t k = 0; s == DM_OK && k < rounds; k++) {
    int64_t begin, count;
    dm_physics_round(n, batch, k, rank, size, &begin, &count);
    s = dm_agree(dm_store_read(st, begin, count, want_double, &ev), comm);
    if (s != DM_OK)
      break;
    dm_physics_batch(&ev, cols);
    for (int v = 0; s == DM_OK && v < DM_VAR_NDERIVED; v++) {
      if (dm_physics_var_is_count(v)) {
        for (int64_t i = 0; i < count; i++)
          icol[i] = (int32_t)cols[v][i];
        s = dm_derived_writer_append(w, col[v], H5T_NATIVE_INT32, icol, count);
      } else {
        s = dm_derived_writer_append(w, col[v], H5T_NATIVE_DOUBLE, cols[v], count);
      }
    }
    dm_progress_add(pr, count, 0);
    dm_progress_tick(pr);
  }
  dm_progress_finish(pr);
  dm_events_free(&ev);
  free(icol);
  free(block);
  return s;
}

dm_status dm_physics_ensure(const dm_physics_opts *opts, MPI_Comm comm, dm_physics_report *rep)
{
  double t0 = MPI_Wtime();
  memset(rep, 0, sizeof *rep);
  int64_t batch = opts->batch_events > 0 ? opts->batch_events : DM_PHYSICS_BATCH_DEFAULT;
  dm_store *st = NULL;
  DM_FORWARD(dm_agree(dm_store_open(opts->store_path, comm, 0, &st), comm));
  int64_t n = dm_store_n_events(st);
  rep->n_events = n;
  dm_derived *old = NULL;
  dm_status s = dm_derived_open(opts->store_path, dm_store_file(st), n, comm, &old);
  int complete = s == DM_OK;
  for (int v = 0; complete && v < DM_VAR_NDERIVED; v++)
    complete = dm_derived_has(old, dm_physics_var_name(v));
  if (s == DM_OK && (!complete || opts->force)) {
    char key[256];
    s = dm_agree(dm_derived_store_key(dm_store_file(st), opts->store_path, key, sizeof key), comm);
    dm_derived_writer *w = NULL;
    if (s == DM_OK)
      s = dm_derived_writer_create(opts->store_path, key, n, old, comm, &w);
    if (s == DM_OK) {
      s = compute_all(st, w, batch, opts->progress, opts->progress_interval, comm);
      s = dm_derived_writer_finish(w, s);
    }
    rep->computed = s == DM_OK;
  }
  dm_derived_close(old);
  dm_store_close(st);
  rep->seconds = dm_allmax_f64(MPI_Wtime() - t0, comm);
  return s;
}
