/* dm_text_out.h - text outputs written through the one atomic write path
 * (io/dm_atomic.h: claimed, under a temporary of the run, synced, renamed
 * only when every rank succeeded; the text twin of dm_h5_out_create /
 * dm_h5_settle):
 *   - an ordered parallel text file: each round, every rank contributes its
 *     next piece; an exclusive prefix sum of the piece sizes gives each rank
 *     its byte offset, so the file is the concatenation of the pieces in
 *     (round, rank) order whatever the number of ranks (CSV exports);
 *   - a small text file (JSON, a manifest) that rank 0 holds in full.
 * Calls are COLLECTIVE over the communicator given at create, and each
 * returns the same (agreed) status on every rank.
 */
#ifndef DM_TEXT_OUT_H
#define DM_TEXT_OUT_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "dm_status.h"

typedef struct dm_text_out dm_text_out;

/* COLLECTIVE. Start `path`: rank 0 claims it and creates the run's
 * temporary (dm_atomic_begin_all), then every rank opens it for writing. On
 * failure *w is NULL on every rank and nothing is left on disk. */
dm_status dm_text_out_create(const char *path, MPI_Comm comm, dm_text_out **w);

/* COLLECTIVE. Append this rank's n bytes (n may be 0) after everything
 * written so far and after the pieces of lower ranks in this round. */
dm_status dm_text_out_append(dm_text_out *w, const char *text, int64_t n);

/* LOCAL. Bytes written so far by all ranks (the same on every rank). */
int64_t dm_text_out_bytes(const dm_text_out *w);

/* COLLECTIVE. Close (fsync first, so the rename commits written data),
 * agree on `local`, then rename path.tmp to path on success or remove it on
 * failure. Frees w. w may be NULL on every rank (after a failed create, which
 * every rank sees alike): then `local` is returned unchanged. Returns the
 * agreed status. */
dm_status dm_text_out_finish(dm_text_out *w, dm_status local);

/* COLLECTIVE. Rank 0 writes text[0..n) (other ranks' arguments are ignored)
 * to path.tmp, syncs and renames it to path. Agreed status. */
dm_status dm_text_out_write_whole(const char *path, const char *text, size_t n, MPI_Comm comm);

#endif
