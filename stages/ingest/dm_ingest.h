/* dm_ingest.h - the ingest stage: Dark Machines CSV archive files -> one
 * columnar, zstd-compressed HDF5 event store (io/dm_store.h), on any number
 * of ranks, with identical output for every rank count.
 *
 * How the work is split (why: bounded memory, input order kept, every rank
 * busy whether the archive is one huge file or many small ones):
 *  - every input file is cut into STRIPES of one size: buffer_mb / 4 MiB, or
 *    a few MiB less when that makes the stripe count a multiple of the rank
 *    count, so no rank idles through the last round (the output does not
 *    depend on the stripe size); the stripes of all files, in input order,
 *    form one list;
 *  - work proceeds in ROUNDS: in round k, rank r takes stripe k*N + r, so the
 *    ranks' batches, appended in rank order, are in input order;
 *  - a stripe owns the lines whose first byte lies in it: a rank reads a
 *    little past the stripe's end to finish its last line, and skips the
 *    partial first line of a stripe that does not start a file;
 *  - process names get their uint16 index by first appearance in input
 *    order: after each round the names each rank saw first are merged in
 *    rank order, identically on every rank;
 *  - line numbers for rejected lines follow from the line counts of all
 *    stripes before, exchanged after each round;
 *  - each input's checksum is a tree hash that ranks compute in parallel:
 *    XXH3-128 of the concatenated XXH3-128 digests (canonical, big-endian)
 *    of consecutive 1 MiB blocks ("xxh3-128-tree-1MiB"), independent of the
 *    stripe size and the rank count.
 * Memory per rank: two stripe buffers (the next one is read while the
 * current one is parsed) plus the parsed batch, about buffer_mb in all.
 *
 * Compressed inputs (.zst, .gz, .xz; io/dm_instream.h) are cut into stripes
 * of their decompressed content like plain ones, so the store is the plain
 * CSV's. Their content sizes come first (zstd frame headers, xz indexes, or
 * for gzip a decoding pass, one file per rank at a time, largest first),
 * with each file's checksum taken over its compressed bytes as given; then
 * every rank decodes each compressed file forward as one stream, keeping
 * only its own stripes (a few MiB of window per rank). Line numbers of
 * rejects are lines of the decompressed CSV.
 *
 * Rejected lines go to the rejects file (tab-separated: input, line number,
 * reason, the line verbatim; a line longer than DM_INGEST_MAX_LINE is cut to
 * its first DM_INGEST_REJECT_PREFIX bytes followed by "...[N bytes]").
 * The rejects file is kept when the run fails only because of too many bad
 * lines (it explains the failure); on any other failure nothing is left.
 */
#ifndef DM_INGEST_H
#define DM_INGEST_H

#include <mpi.h>
#include <stdint.h>

#include "dm_csv.h"
#include "dm_status.h"

/* Lines longer than this are rejected as too-long without being parsed. */
#define DM_INGEST_MAX_LINE ((int64_t)1 << 20)
#define DM_INGEST_REJECT_PREFIX 4096
/* Block size of the input checksum tree (smaller only when the stripe is:
 * stripes are multiples of it). */
#define DM_INGEST_HASH_BLOCK ((int64_t)1 << 20)

typedef struct {
  const char *out;            /* store path (written as out.tmp, renamed at the end) */
  const char *const *inputs;  /* CSV files, in order */
  int n_inputs;
  const char *rejects;        /* rejects file, or NULL for none (lines are still counted) */
  double max_bad_fraction;    /* fail above this fraction of rejected lines (1e-6) */
  int zstd_level;             /* 0 = no compression, 1..22 (1: as small as 3 here, faster) */
  int64_t chunk_events;       /* events per chunk (65536); objects get 4x */
  int precision_double;       /* float64 for met, met_phi and object floats */
  int64_t buffer_mb;          /* memory budget per rank in MiB (128); stripe = buffer / 4 */
  int64_t stripe_kb;          /* 0: from buffer_mb; else the stripe in KiB (a multiple of
                                 1024 from 1 MiB up; below, the checksum block shrinks to
                                 the stripe: for tests of stripe boundaries) */
  int progress;               /* DM_PROGRESS_* mode (dm_progress.h), same on every rank */
  double progress_interval;  /* seconds between progress lines; 0 = the mode's default */
  int threads;                /* OpenMP threads to parse a stripe; 0 = OpenMP's default */
  const char *command_line;   /* for provenance */
} dm_ingest_opts;

/* LOCAL. Defaults as documented above (inputs and out left empty). */
void dm_ingest_opts_default(dm_ingest_opts *o);

typedef struct {
  int64_t n_events, n_objects;    /* written to the store */
  int64_t n_lines;                /* lines read (accepted + rejected) */
  int64_t n_bad;                  /* rejected lines */
  int64_t bad[DM_BAD_NKINDS];     /* per reason (index dm_bad_kind) */
  int64_t inexact_values;         /* values with more digits than float32 keeps */
  int64_t inexact_events;         /* events holding at least one */
  int64_t input_bytes;            /* all inputs */
  int64_t store_bytes;            /* size of the finished store (0 on failure) */
  int n_processes;
  int64_t stripe_bytes, n_stripes, n_rounds;
  int n_ranks, n_threads;
  /* Wall time, and the slowest rank's time in each part. */
  double seconds, t_read_wait, t_parse, t_write, t_exchange;
  /* Inside t_write (dm_store.h's dm_store_write_stats): the slowest rank's
   * compression and MPI-IO; chunk placement: the chunks rank 0 placed in
   * the file, its time doing so, and the longest any other rank spent
   * waiting for its chunks' addresses (rank 0's placement plus waits for
   * the slowest rank to arrive). */
  double t_compress, t_mpiio;
  int64_t chunks;
  double t_chunk_register, t_addr_wait;
  /* The slowest rank's time in finishing the store: its last chunks, the
   * metadata, the sync to disk and the rename; and the early write-backs
   * all ranks started (io/dm_io_tune.h, DMPIPE_WRITEBACK). */
  double t_finish;
  int64_t writebacks;
} dm_ingest_report;

/* COLLECTIVE. Run the ingest; every rank returns the same status. The
 * report is filled on every rank (global numbers). */
dm_status dm_ingest_run(const dm_ingest_opts *opts, MPI_Comm comm, dm_ingest_report *report);

#endif
