/* The export stage (dm_export.h). */
#include "dm_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_csv.h"
#include "dm_h5.h"
#include "dm_progress.h"
#include "dm_store.h"
#include "dm_text_out.h"

void dm_export_opts_default(dm_export_opts *o)
{
  memset(o, 0, sizeof *o);
  o->trailing_semicolon = 1;
  o->block_events = 65536;
}

/* Format events of a batch into *buf (grown as needed). */
static dm_status format_batch(const dm_store *st, const dm_events *ev, int dbl, int semi,
                              char **buf, int64_t *cap, int64_t *len)
{
  int64_t pos = 0;
  for (int64_t i = 0; i < ev->n_events; i++) {
    for (;;) {
      /* A line needs at most ~60 bytes per object plus the header. */
      int64_t need = 256 + 64 * (ev->obj_offset[i + 1] - ev->obj_offset[i]) +
                     (int64_t)strlen(dm_store_process_name(st, ev->process[i]));
      if (*cap - pos < need) {
        int64_t c = 2 * (*cap + need);
        char *b = realloc(*buf, (size_t)c);
        if (!b)
          return dm_error(DM_ERR_NOMEM, "no memory for %lld bytes of CSV", (long long)c);
        *buf = b;
        *cap = c;
      }
      size_t n = dm_csv_format_event(ev, i, dm_store_process_name(st, ev->process[i]), dbl, semi,
                                     *buf + pos, (size_t)(*cap - pos));
      if (n > 0) {
        pos += (int64_t)n;
        break;
      }
      need = *cap * 2;
      char *b = realloc(*buf, (size_t)need);
      if (!b)
        return dm_error(DM_ERR_NOMEM, "no memory for CSV text");
      *buf = b;
      *cap = need;
    }
  }
  *len = pos;
  return DM_OK;
}

dm_status dm_export_run(const dm_export_opts *o, MPI_Comm comm, dm_export_report *rep)
{
  double t0 = MPI_Wtime();
  memset(rep, 0, sizeof *rep);
  int rank = dm_rank(comm), size = dm_size(comm);
  rep->n_ranks = size;
  if (!o->in || !o->out)
    return dm_error(DM_ERR_ARG, "export needs --in and --out");
  if (o->block_events < 1)
    return dm_error(DM_ERR_ARG, "block of events must be positive");
  dm_store *st = NULL;
  DM_FORWARD(dm_store_open(o->in, comm, 0, &st));
  /* One ordered text output: each round's pieces land in rank order. */
  dm_text_out *out = NULL;
  dm_status s = dm_text_out_create(o->out, comm, &out);
  int dbl = dm_store_is_double(st);
  int64_t n = dm_store_n_events(st), per_round = o->block_events * size;
  dm_events ev = {0};
  char *buf = NULL;
  int64_t cap = 0;
  dm_progress *pr = dm_progress_start(comm, "export", 0, o->progress, o->progress_interval);
  dm_progress_expect(pr, n);
  for (int64_t r0 = 0; s == DM_OK && r0 < n; r0 += per_round) {
    int64_t m = n - r0 < per_round ? n - r0 : per_round, b, e;
    dm_partition(m, rank, size, &b, &e);
    s = dm_store_read(st, r0 + b, e - b, dbl, &ev);
    if (s != DM_OK)
      break;
    int64_t len = 0;
    s = dm_agree(format_batch(st, &ev, dbl, o->trailing_semicolon, &buf, &cap, &len), comm);
    if (s == DM_OK)
      s = dm_text_out_append(out, buf, len);
    if (s != DM_OK)
      break;
    dm_progress_add(pr, e - b, len);
    dm_progress_tick(pr);
  }
  dm_progress_finish(pr);
  int64_t base = out ? dm_text_out_bytes(out) : 0;
  s = dm_text_out_finish(out, dm_agree(s, comm));
  dm_events_free(&ev);
  free(buf);
  rep->n_events = s == DM_OK ? n : 0;
  rep->bytes = base;
  dm_store_close(st);
  rep->seconds = dm_allmax_f64(MPI_Wtime() - t0, comm);
  return s;
}
