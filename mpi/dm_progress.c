#include "dm_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dm_progress {
  MPI_Comm comm;
  int rank;
  char label[64];
  int64_t total_bytes;
  double t0, last, interval;
  int64_t local[2]; /* items, bytes of this rank */
  /* Ring of in-flight reductions; every rank starts them in the same order,
   * which is what makes the non-blocking collectives match up. */
  int64_t send[DM_PROGRESS_DEPTH][2];
  int64_t recv[DM_PROGRESS_DEPTH][2];
  MPI_Request req[DM_PROGRESS_DEPTH];
  int head, count; /* oldest slot, slots in flight */
  int64_t global[2];
};

static void print_line(const dm_progress *p, int final)
{
  double dt = MPI_Wtime() - p->t0;
  double mb = (double)p->global[1] / 1e6;
  double rate = dt > 0 ? mb / dt : 0;
  if (p->total_bytes > 0 && !final) {
    double frac = (double)p->global[1] / (double)p->total_bytes;
    double eta = frac > 0 ? dt * (1 - frac) / frac : 0;
    fprintf(stderr, "%s: %lld events, %5.1f%%, %.1f MB/s, ETA %.0f s\n", p->label,
            (long long)p->global[0], 100 * frac, rate, eta);
  } else {
    fprintf(stderr, "%s: %lld events, %.1f MB in %.1f s, %.1f MB/s%s\n", p->label,
            (long long)p->global[0], mb, dt, rate, final ? " (done)" : "");
  }
}

dm_progress *dm_progress_start(MPI_Comm comm, const char *label, int64_t total_bytes,
                               int enabled, double interval_s)
{
  if (!enabled)
    return NULL;
  dm_progress *p = calloc(1, sizeof *p);
  /* Allocation failure must not diverge ranks: dup first (collective), then
   * treat a failed calloc as "disabled" only after agreeing. */
  int ok = p != NULL, all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, comm);
  if (!all) {
    free(p);
    return NULL;
  }
  MPI_Comm_dup(comm, &p->comm);
  MPI_Comm_rank(p->comm, &p->rank);
  snprintf(p->label, sizeof p->label, "%s", label);
  p->total_bytes = total_bytes;
  p->t0 = p->last = MPI_Wtime();
  p->interval = interval_s > 0 ? interval_s : 1.0;
  return p;
}

void dm_progress_add(dm_progress *p, int64_t items, int64_t bytes)
{
  if (!p)
    return;
  p->local[0] += items;
  p->local[1] += bytes;
}

/* Complete finished reductions, oldest first; wait for the oldest if asked. */
static void drain(dm_progress *p, int wait_oldest)
{
  while (p->count > 0) {
    int done = 0;
    if (wait_oldest) {
      MPI_Wait(&p->req[p->head], MPI_STATUS_IGNORE);
      done = 1;
      wait_oldest = 0;
    } else {
      MPI_Test(&p->req[p->head], &done, MPI_STATUS_IGNORE);
    }
    if (!done)
      break;
    memcpy(p->global, p->recv[p->head], sizeof p->global);
    p->head = (p->head + 1) % DM_PROGRESS_DEPTH;
    p->count--;
  }
}

void dm_progress_tick(dm_progress *p)
{
  if (!p)
    return;
  drain(p, p->count == DM_PROGRESS_DEPTH);
  int slot = (p->head + p->count) % DM_PROGRESS_DEPTH;
  memcpy(p->send[slot], p->local, sizeof p->local);
  MPI_Iallreduce(p->send[slot], p->recv[slot], 2, MPI_INT64_T, MPI_SUM, p->comm, &p->req[slot]);
  p->count++;
  double now = MPI_Wtime();
  if (p->rank == 0 && now - p->last >= p->interval && p->global[0] > 0) {
    print_line(p, 0);
    p->last = now;
  }
}

void dm_progress_finish(dm_progress *p)
{
  if (!p)
    return;
  while (p->count > 0)
    drain(p, 1);
  MPI_Allreduce(p->local, p->global, 2, MPI_INT64_T, MPI_SUM, p->comm);
  if (p->rank == 0)
    print_line(p, 1);
  MPI_Comm_free(&p->comm);
  free(p);
}
