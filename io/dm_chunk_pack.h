/* dm_chunk_pack.h - PRIVATE to io/: HDF5's filter pipeline for a whole chunk
 * (shuffle, then zstd: what dm_h5_col_create sets up), run outside HDF5 so
 * that a rank compresses its chunks itself, on OpenMP threads, with one
 * reused zstd context and shuffle buffer per thread. The output is the
 * chunk exactly as HDF5's pipeline would store it; a chunk given fewer
 * elements than its size (a dataset's last chunk) is padded with zeros.
 * All calls are LOCAL.
 */
#ifndef DM_CHUNK_PACK_H
#define DM_CHUNK_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "dm_status.h"

typedef struct {
  const void *src; /* n_valid elements of esz bytes */
  int64_t n_valid, n_chunk;
  size_t esz;
  int level;   /* 0: stored as is; 1..22 zstd */
  int shuffle; /* HDF5's shuffle first */
  char *dst;   /* dm_chunk_pack_bound bytes */
  int64_t size; /* out: bytes written to dst */
} dm_chunk_job;

typedef struct dm_chunk_packer dm_chunk_packer;

/* NULL when out of memory. _free accepts NULL. */
dm_chunk_packer *dm_chunk_packer_new(void);
void dm_chunk_packer_free(dm_chunk_packer *p);

/* Bytes dst must hold for a chunk of n_chunk elements. */
int64_t dm_chunk_pack_bound(int64_t n_chunk, size_t esz, int level);

/* The threads dm_chunk_pack spreads jobs over (1 without OpenMP). */
int dm_chunk_pack_threads(void);

/* Pack every job, spread over OpenMP's threads. */
dm_status dm_chunk_pack(dm_chunk_packer *p, dm_chunk_job *jobs, int n);

#endif
