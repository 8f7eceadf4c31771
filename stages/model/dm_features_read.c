/* Reading raw features from a store in pieces of bounded object count
 * (dm_features_read, dm_features.h; the pieces are io/dm_store_pieces.h's). */
#include "dm_features.h"

#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"

void dm_features_batch_free(dm_features_batch *b)
{
  dm_events_free(&b->piece);
  dm_store_pieces_free(&b->index);
  free(b->event_id);
  int64_t keep = b->max_objects;
  memset(b, 0, sizeof *b);
  b->max_objects = keep;
}

dm_status dm_features_read(dm_store *st, const dm_feature_spec *spec, int64_t begin,
                           int64_t count, dm_features_batch *b, float *out)
{
  int dim = 0;
  dm_status s = dm_features_dim(spec, &dim);
  if (s == DM_OK && count > b->cap) {
    /* Exact sizes: a read's count is the same batch every round. */
    int64_t *q = realloc(b->event_id, (size_t)(count > 0 ? count : 1) * sizeof *q);
    if (q) {
      b->event_id = q;
      b->cap = count;
    } else {
      s = dm_error(DM_ERR_NOMEM, "no memory for a read of %lld events", (long long)count);
    }
  }
  DM_FORWARD(dm_agree(s, dm_store_comm(st)));
  b->index.max_objects = b->max_objects;
  DM_FORWARD(dm_store_pieces_plan(st, begin, count, &b->index));
  b->process = b->index.process;
  int64_t i = 0;
  for (int64_t p = 0; p < b->index.n_pieces; p++) {
    int64_t e = dm_store_piece_end(&b->index, i);
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
