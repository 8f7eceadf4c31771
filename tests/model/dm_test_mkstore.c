/* Test helper: a small seeded store with two SM processes and one BSM
 * process, written through the store writer (no CSV, no ingest), so the
 * model tests do not depend on other stages. Objects are written in a
 * shuffled order on purpose: feature extraction must sort them by pT.
 *
 * usage: dm_test_mkstore OUT.h5 EVENTS_PER_PROCESS SEED   (any rank count)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_h5.h"
#include "dm_rng.h"
#include "dm_store.h"

static const char *const procs[] = {"ttbar", "gluino_01", "w_jets"};

static void event(dm_rng *r, int bsm, dm_events *ev, int64_t i, int64_t *no)
{
  int nj = bsm ? 4 + (int)dm_rng_poisson(r, 4.0) : 1 + (int)dm_rng_poisson(r, 2.0);
  int nl = dm_rng_uniform(r) < (bsm ? 0.5 : 0.3) ? 1 + (dm_rng_uniform(r) < 0.2) : 0;
  int ng = dm_rng_uniform(r) < 0.05;
  int n = nj + nl + ng;
  if (n > 24)
    n = 24;
  ev->met[i] = (float)((bsm ? 100.0 : 5.0) + dm_rng_exponential(r) * (bsm ? 200.0 : 40.0));
  ev->met_phi[i] = (float)(M_PI * (2 * dm_rng_uniform(r) - 1));
  for (int k = 0; k < n; k++) {
    int64_t o = *no + k;
    int type;
    double pt;
    if (k < nj) {
      type = dm_rng_uniform(r) < 0.2 ? DM_OBJ_BJET : DM_OBJ_JET;
      pt = (bsm ? 50.0 : 25.0) + dm_rng_exponential(r) * (bsm ? 150.0 : 60.0);
    } else if (k < nj + nl) {
      type = DM_OBJ_EMINUS + (int)dm_rng_below(r, 4);
      pt = 20.0 + dm_rng_exponential(r) * 30.0;
    } else {
      type = DM_OBJ_PHOTON;
      pt = 25.0 + dm_rng_exponential(r) * 40.0;
    }
    double eta = fmax(-2.7, fmin(2.7, 1.2 * dm_rng_normal(r)));
    ev->type[o] = (uint8_t)type;
    ev->pt[o] = (float)pt;
    ev->eta[o] = (float)eta;
    ev->phi[o] = (float)(M_PI * (2 * dm_rng_uniform(r) - 1));
    ev->e[o] = (float)(pt * cosh(eta));
  }
  /* Shuffle the objects of the event. */
  for (int k = n - 1; k > 0; k--) {
    int j = (int)dm_rng_below(r, (uint64_t)k + 1);
    int64_t a = *no + k, b = *no + j;
    uint8_t t = ev->type[a];
    ev->type[a] = ev->type[b];
    ev->type[b] = t;
    float *cols[] = {ev->pt, ev->eta, ev->phi, ev->e};
    for (int c = 0; c < 4; c++) {
      float x = cols[c][a];
      cols[c][a] = cols[c][b];
      cols[c][b] = x;
    }
  }
  *no += n;
  ev->obj_offset[i + 1] = *no;
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  MPI_Comm comm = MPI_COMM_WORLD;
  dm_h5_quiet();
  if (argc != 4) {
    if (dm_rank(comm) == 0)
      fprintf(stderr, "usage: dm_test_mkstore OUT.h5 EVENTS_PER_PROCESS SEED\n");
    MPI_Finalize();
    return 2;
  }
  int64_t per = atoll(argv[2]);
  uint64_t seed = strtoull(argv[3], NULL, 10);
  int np = 3;
  int64_t total = per * np, b, e;
  dm_partition(total, dm_rank(comm), dm_size(comm), &b, &e);
  dm_events ev;
  memset(&ev, 0, sizeof ev);
  dm_status s = dm_events_reserve(&ev, e - b, (e - b) * 24, 0);
  int64_t no = 0;
  if (s == DM_OK) {
    ev.obj_offset[0] = 0;
    for (int64_t g = b; g < e; g++) {
      int64_t i = g - b;
      int p = (int)(g / per);
      dm_rng r;
      dm_rng_init(&r, seed, (uint64_t)p, (uint64_t)(g % per));
      ev.event_id[i] = g % per + 1;
      ev.process[i] = (uint16_t)p;
      ev.weight[i] = 1.0;
      event(&r, p == 1, &ev, i, &no);
    }
    ev.n_events = e - b;
    ev.n_objects = no;
  }
  dm_store_layout lay = {3, 4096, 0};
  dm_store_writer *w = NULL;
  s = dm_agree(s, comm);
  if (s == DM_OK)
    s = dm_store_writer_create(argv[1], &lay, comm, &w);
  if (s == DM_OK)
    s = dm_store_writer_append(w, &ev);
  int64_t counts[3] = {per, per, per};
  if (w)
    s = dm_store_writer_finish(w, s, procs, counts, np, "dm_test_mkstore", "");
  if (s != DM_OK)
    fprintf(stderr, "dm_test_mkstore: %s\n", dm_error_message());
  dm_events_free(&ev);
  MPI_Finalize();
  return s == DM_OK ? 0 : 1;
}
