/* dm_chunk_writer.h - PRIVATE to io/: a new HDF5 file of extendible 1-D
 * columns that every rank appends to, in rank order, with each chunk
 * compressed (shuffle + zstd, the pipeline of dm_h5_col_create) by the rank
 * that owns it and written by that rank at the address HDF5 gave it.
 *
 * Who does what:
 *  - rank 0 keeps the HDF5 file (dm_h5_vfd.h): datasets, chunk index, space
 *    allocation, attributes. It allocates each round's chunks with
 *    H5Dwrite_chunk, raw-data writes switched off (the driver records where
 *    each was to go: no chunk-index lookup, whose cost grows with the index),
 *    and sends the addresses back: a few bytes per chunk, in one gather and
 *    one scatter per sub-round (below);
 *  - every rank owns the chunks whose first element it holds, receives the
 *    rest of such a chunk from the following ranks (one message per rank and
 *    column at most), shuffles and compresses its chunks with a reused zstd
 *    context (OpenMP threads when there are several), and writes them with
 *    independent MPI-IO at their addresses;
 *  - a chunk is written once, whole: what is left after the last full chunk of
 *    a round stays with the rank that holds its first element and is joined
 *    with the next round's first elements;
 *  - a round's chunks are compressed, placed and written in sub-rounds of at
 *    most half the writer's budget of compressed bytes per rank (two such
 *    buffers: one sub-round's writes are under way while the next one
 *    compresses), so the memory an append takes does not grow with the
 *    number of chunks it completes; a chunk joined from several ranks is
 *    assembled in the buffer of the carried piece when that is free, so a
 *    rank holds one chunk buffer per column, two at most.
 * The result is an ordinary HDF5 file whose chunks are bit-identical to what
 * the HDF5 filter pipeline would store (the last chunk padded with zeros), so
 * the file's datasets and chunks are the same for any number of ranks and
 * any budget (where each chunk lies in the file may differ).
 *
 * The other ranks get an in-memory scratch HDF5 file that takes the same
 * calls (dataset creation, attributes, small arrays) and is thrown away, so
 * callers make every "COLLECTIVE" HDF5 call on every rank as usual.
 */
#ifndef DM_CHUNK_WRITER_H
#define DM_CHUNK_WRITER_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "dm_h5.h"
#include "dm_status.h"

#define DM_CHUNKW_MAX_COLS 32
/* Bytes of compressed chunks a rank holds at most (both buffers, each chunk
 * counted at its bound, dm_chunk_pack_bound), unless one chunk per
 * compressing thread exceeds half of it: then that, twice. */
#define DM_CHUNKW_BUDGET_DEFAULT ((int64_t)2 << 20)

typedef struct dm_chunkw dm_chunkw;

/* COLLECTIVE, agreed. Claim final_path and start its temporary (dm_atomic.h). */
dm_status dm_chunkw_create(const char *final_path, MPI_Comm comm, dm_chunkw **w);

/* LOCAL. The HDF5 file: the real one on rank 0, the scratch one elsewhere.
 * Attribute and small-array calls on it are COLLECTIVE as usual. */
hid_t dm_chunkw_file(const dm_chunkw *w);

/* LOCAL. Set the budget of compressed bytes (<= 0: the default). It may
 * differ between ranks: the number of sub-rounds is agreed in each round. It
 * changes how many chunks go at once, never the chunks or their order. */
void dm_chunkw_set_budget(dm_chunkw *w, int64_t bytes);

/* COLLECTIVE. Add an extendible column (dm_h5_col_create's layout); *col
 * receives its index, the same on every rank. */
dm_status dm_chunkw_add(dm_chunkw *w, const char *path, hid_t type, const dm_h5_layout *layout,
                        int *col);

/* COLLECTIVE. Append n[c] elements of bufs[c] (memory type = the column's
 * type) to every column c, after everything appended so far and after the
 * elements of lower ranks. first (may be NULL) receives, per column, the
 * global index of this rank's first new element. */
dm_status dm_chunkw_append(dm_chunkw *w, const void *const *bufs, const int64_t *n,
                           int64_t *first);

/* LOCAL. Elements appended to column c by all ranks so far. */
int64_t dm_chunkw_length(const dm_chunkw *w, int col);

/* COLLECTIVE. Agree on `local`; if ok, write the last, partial chunks and
 * finish the data writes. After this, only small calls on dm_chunkw_file
 * (attributes, dm_h5_array_write, ...) may follow. Returns the agreed
 * status. */
dm_status dm_chunkw_flush(dm_chunkw *w, dm_status local);

/* COLLECTIVE. Agree on `local`, close, rename to the final name when every
 * rank succeeded, remove the temporary file otherwise; frees w (accepts
 * NULL). Returns the agreed status. */
dm_status dm_chunkw_finish(dm_chunkw *w, dm_status local);

/* Seconds spent so far by this rank. compress = shuffle + zstd; allocate =
 * the counts, the joined chunks, rank 0's HDF5 bookkeeping and the address
 * exchange, waits for other ranks included; write = MPI-IO. Chunk
 * placement, rank 0 only: place = resize + write_chunk, the HDF5 calls that
 * give each chunk its address (dataset extension, H5Dwrite_chunk with raw
 * writes off, which allocates the chunk), for `chunks` chunks;
 * addr_wait (every rank) = from sending its chunk sizes to rank 0 until it
 * holds their addresses, which on the other ranks is rank 0's placement
 * plus any wait for the slowest rank to arrive. With DMPIPE_CHUNK_TIMES set
 * in the environment, finish prints them on stderr. */
typedef struct {
  double compress, allocate, write;
  double place, place_resize, place_write_chunk;
  int64_t chunks;
  double addr_wait;
  int64_t sub_rounds; /* sub-rounds taken so far (a round has at least one
                       * when any rank completes a chunk) */
  int64_t out_peak;   /* the largest size of the two compressed buffers, bytes */
  int64_t writebacks; /* early write-backs started (DMPIPE_WRITEBACK, dm_io_tune.h) */
} dm_chunkw_stats;

/* LOCAL. */
void dm_chunkw_get_stats(const dm_chunkw *w, dm_chunkw_stats *st);

#endif
