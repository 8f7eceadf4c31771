#include "dm_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dm_progress {
  MPI_Comm comm;
  int rank;
  char label[64];
  int64_t total_bytes, total_items;
  int mode, printed;
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

void dm_progress_format(char *buf, size_t size, const char *label, int64_t items, int64_t bytes,
                        int64_t total_items, int64_t total_bytes, double seconds, int final)
{
  double rate = seconds > 0 ? (double)items / seconds : 0;
  double mbs = seconds > 0 ? (double)bytes / 1e6 / seconds : 0;
  /* The fraction done comes from events when their total is known (every
   * stage that reads a store), else from bytes (ingest). */
  double frac = -1;
  if (total_items > 0)
    frac = (double)items / (double)total_items;
  else if (total_bytes > 0)
    frac = (double)bytes / (double)total_bytes;
  int n = 0;
  if (final)
    n = snprintf(buf, size, "%s: %lld events in %.1f s, %.0f events/s", label, (long long)items,
                 seconds, rate);
  else
    n = snprintf(buf, size, "%s: %lld events, %.0f events/s", label, (long long)items, rate);
  if (n < 0 || (size_t)n >= size)
    return;
  if (bytes > 0)
    n += snprintf(buf + n, size - (size_t)n, ", %.1f MB/s", mbs);
  if (n < 0 || (size_t)n >= size)
    return;
  if (final)
    snprintf(buf + n, size - (size_t)n, " (done)");
  else if (frac >= 0) {
    double eta = frac > 0 ? seconds * (1 - frac) / frac : 0;
    if (frac > 0 && eta >= 0)
      snprintf(buf + n, size - (size_t)n, ", %.1f%%, ETA %.0f s", 100 * frac, eta);
    else
      snprintf(buf + n, size - (size_t)n, ", %.1f%%", 100 * frac);
  }
}

static void print_line(dm_progress *p, int final)
{
  char line[512];
  dm_progress_format(line, sizeof line, p->label, p->global[0], p->global[1], p->total_items,
                     p->total_bytes, MPI_Wtime() - p->t0, final);
  fprintf(stderr, "%s\n", line);
  /* A batch log is a file: flush so a tail -f shows the line now. */
  fflush(stderr);
  p->printed = 1;
}

dm_progress *dm_progress_start(MPI_Comm comm, const char *label, int64_t total_bytes,
                               int enabled, double interval_s)
{
  /* Always one reduction, even when disabled here: the mode is agreed (the
   * largest wins) and so is an allocation failure, which turns progress off
   * everywhere. */
  int mode = enabled == DM_PROGRESS_TERMINAL || enabled == DM_PROGRESS_LOG ? enabled : 0;
  dm_progress *p = calloc(1, sizeof *p);
  int mine[2] = {mode, p == NULL}, all[2] = {0, 0};
  MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MAX, comm);
  if (!all[0] || all[1]) {
    free(p);
    return NULL;
  }
  p->mode = all[0];
  MPI_Comm_dup(comm, &p->comm);
  MPI_Comm_rank(p->comm, &p->rank);
  snprintf(p->label, sizeof p->label, "%s", label);
  p->total_bytes = total_bytes;
  p->t0 = p->last = MPI_Wtime();
  p->interval = interval_s > 0                    ? interval_s
                : p->mode == DM_PROGRESS_LOG ? DM_PROGRESS_LOG_INTERVAL
                                             : DM_PROGRESS_TERMINAL_INTERVAL;
  return p;
}

void dm_progress_expect(dm_progress *p, int64_t total_items)
{
  if (p)
    p->total_items = total_items;
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
  /* A log gets its closing line only when it got a progress line before:
   * short runs stay as quiet as they were. */
  if (p->rank == 0 && (p->mode == DM_PROGRESS_TERMINAL || p->printed))
    print_line(p, 1);
  MPI_Comm_free(&p->comm);
  free(p);
}
