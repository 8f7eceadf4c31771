/* Reading raw features from a store in pieces of bounded object count
 * (dm_features_read, dm_features.h). */
#include "dm_features.h"

#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"

void dm_features_batch_free(dm_features_batch *b)
{
  dm_events_free(&b->piece);
  free(b->process);
  free(b->event_id);
  free(b->offset);
  int64_t keep = b->max_objects;
  memset(b, 0, sizeof *b);
  b->max_objects = keep;
}

static int grow(void **p, int64_t n, size_t elem)
{
  void *q = realloc(*p, (size_t)(n > 0 ? n : 1) * elem);
  if (!q)
    return 0;
  *p = q;
  return 1;
}

/* LOCAL. The end of the piece that starts at event i of the read: the
 * events after i whose objects, with i's, stay within max (offsets of the
 * read, n events). */
static int64_t piece_end(const int64_t *off, int64_t i, int64_t n, int64_t max)
{
  int64_t e = i + 1;
  while (e < n && off[e + 1] - off[i] <= max)
    e++;
  return e;
}

dm_status dm_features_read(dm_store *st, const dm_feature_spec *spec, int64_t begin,
                           int64_t count, dm_features_batch *b, float *out)
{
  int dim = 0;
  dm_status s = dm_features_dim(spec, &dim);
  int64_t max = b->max_objects > 0 ? b->max_objects : DM_FEATURES_PIECE_OBJECTS;
  if (s == DM_OK && count > b->cap) {
    /* Exact sizes: a read's count is the same batch every round. */
    if (grow((void **)&b->process, count, sizeof *b->process) &&
        grow((void **)&b->event_id, count, sizeof *b->event_id) &&
        grow((void **)&b->offset, count + 1, sizeof *b->offset))
      b->cap = count;
    else
      s = dm_error(DM_ERR_NOMEM, "no memory for a read of %lld events", (long long)count);
  }
  DM_FORWARD(dm_agree(s, dm_store_comm(st)));
  /* The index first (checked as dm_store_read checks it): the offsets say
   * where the pieces end. */
  DM_FORWARD(dm_store_read_index(st, begin, count, b->process, b->offset));
  int64_t pieces = 0;
  for (int64_t i = 0; i < count; i = piece_end(b->offset, i, count, max))
    pieces++;
  pieces = dm_allmax_i64(pieces, dm_store_comm(st));
  int64_t i = 0;
  for (int64_t p = 0; p < pieces; p++) {
    int64_t e = i < count ? piece_end(b->offset, i, count, max) : count;
    s = dm_store_read(st, begin + i, e - i, 0, &b->piece);
    if (s == DM_OK)
      s = dm_features_extract(spec, &b->piece, out + i * dim);
    if (s == DM_OK && e > i)
      memcpy(b->event_id + i, b->piece.event_id, (size_t)(e - i) * sizeof *b->event_id);
    DM_FORWARD(dm_agree(s, dm_store_comm(st)));
    i = e;
  }
  return DM_OK;
}
