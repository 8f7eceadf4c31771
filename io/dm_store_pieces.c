/* Reading a range of a store in pieces of bounded object count
 * (dm_store_pieces.h). */
#include "dm_store_pieces.h"

#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"

void dm_store_pieces_free(dm_store_pieces *pc)
{
  free(pc->process);
  free(pc->offset);
  int64_t keep = pc->max_objects;
  memset(pc, 0, sizeof *pc);
  pc->max_objects = keep;
}

static int64_t max_of(const dm_store_pieces *pc)
{
  return pc->max_objects > 0 ? pc->max_objects : DM_STORE_PIECE_OBJECTS;
}

int64_t dm_store_piece_end(const dm_store_pieces *pc, int64_t i)
{
  if (i >= pc->count)
    return pc->count;
  const int64_t *off = pc->offset;
  int64_t e = i + 1, max = max_of(pc);
  while (e < pc->count && off[e + 1] - off[i] <= max)
    e++;
  return e;
}

dm_status dm_store_pieces_plan(dm_store *st, int64_t begin, int64_t count, dm_store_pieces *pc)
{
  MPI_Comm comm = dm_store_comm(st);
  dm_status s = DM_OK;
  pc->count = 0;
  pc->n_pieces = 0;
  if (count > pc->cap || !pc->process) {
    /* Exact sizes: a stage's ranges are the same batch every round (and
     * never none: the index read takes buffers even for no events). */
    int64_t n = count > 0 ? count : 1;
    uint16_t *p = realloc(pc->process, (size_t)n * sizeof *p);
    if (p)
      pc->process = p;
    int64_t *o = p ? realloc(pc->offset, (size_t)(n + 1) * sizeof *o) : NULL;
    if (o)
      pc->offset = o;
    if (p && o)
      pc->cap = n;
    else
      s = dm_error(DM_ERR_NOMEM, "no memory for the index of %lld events", (long long)count);
  }
  DM_FORWARD(dm_agree(s, comm));
  /* The index first: its offsets say where the pieces end. */
  DM_FORWARD(dm_store_read_index(st, begin, count, pc->process, pc->offset));
  pc->count = count;
  int64_t pieces = 0;
  for (int64_t i = 0; i < count; i = dm_store_piece_end(pc, i))
    pieces++;
  pc->n_pieces = dm_allmax_i64(pieces, comm);
  return DM_OK;
}
