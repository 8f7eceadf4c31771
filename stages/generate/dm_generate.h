/* dm_generate.h - seeded synthetic archives in the Dark Machines CSV format.
 *
 * Writes one file per process, OUT/<process>.csv, with plausible events of
 * each process's model (dm_gen_model.h). Every event is a pure function of
 * (seed, process name, event index), and files are the plain concatenation of
 * their lines, so the bytes do not depend on the number of ranks.
 *
 * Parallel layout: the files' events, one file after another, form a global
 * list cut into blocks (a block never spans two files) of block_events
 * events, or by default of the events that make about
 * DM_GENERATE_BLOCK_BYTES of text at the file's mean line length (measured
 * on 256 events of the file, the same on every rank). Block b goes to rank b % size, in rounds of `size` blocks; in each
 * round every rank formats its block in memory, the ranks exchange (file,
 * bytes) with one non-blocking allgather, and each writes its block at the
 * offset that the blocks before it in the list give (MPI-IO, independent
 * writes of 1 MiB pieces). The exchange of a round completes while the next
 * round is formatted, so memory per rank is two blocks of text. Files are
 * written as NAME.tmp and renamed only when every rank succeeded.
 *
 * Event counts: with P processes and N events in all, every process first
 * gets a floor F = max(1, floor(0.05 N / P)) events (so rare processes
 * appear; the floors take at most 5% of N); the other N - P F events are
 * shared in proportion to the cross sections by largest remainders (ties in
 * table order), so the counts sum to exactly N. Event weight
 * w = sigma[pb] x lumi[fb^-1] x 1000 / N_lines, the same on every line of a file.
 *
 * Bad lines (--bad-rate R): event i of a process is replaced by a malformed
 * line when a hash of (seed, process, i) falls below R; its kind is one of
 * field-count, number, non-finite, object-code, empty-process (uniformly,
 * from another hash), except that a file's last line, when chosen, is
 * truncated (no newline). Besides, each file gets min(3, floor(N_f R / 50))
 * too-long lines (over 1 MiB) at evenly spaced positions. Lines keep their
 * event IDs, 1..N_f per file.
 */
#ifndef DM_GENERATE_H
#define DM_GENERATE_H

#include <mpi.h>
#include <stdint.h>

#include "dm_csv.h"
#include "dm_status.h"

typedef struct {
  const char *out_dir;     /* created if missing (one level) */
  int64_t n_events;        /* total over the chosen processes */
  uint64_t seed;
  const char *processes;   /* comma list of all|sm|bsm|NAME (names or aliases) */
  const char *xsec_path;   /* process table; NULL = the shipped one */
  double lumi_fb;          /* fb^-1 for the weights */
  double bad_rate;         /* fraction of malformed lines, [0, 1] */
  int trailing_semicolon;  /* end lines with ';' (the archive's usual form) */
  int64_t block_events;    /* events per block (memory per rank); 0 = about
                            * DM_GENERATE_BLOCK_BYTES of text per block */
  int progress;            /* DM_PROGRESS_* mode (dm_progress.h), same on every rank */
  double progress_interval;  /* seconds between progress lines; 0 = the mode's default */
} dm_generate_opts;

#define DM_GENERATE_DEFAULT_SEED 20200227u
/* Default block: the events of a file that make about this many bytes of
 * text (from the file's mean line length), so memory per rank is about two
 * of these whatever --events and the processes are. */
#define DM_GENERATE_BLOCK_BYTES ((size_t)4 << 20)

/* LOCAL. Defaults: seed DM_GENERATE_DEFAULT_SEED, processes "all", lumi 10,
 * bad_rate 0, trailing semicolons, default block. */
void dm_generate_opts_default(dm_generate_opts *o);

typedef struct {
  char name[128];
  double sigma_pb;
  double weight;
  int64_t n_events; /* lines in the file */
  int64_t bytes;
  int64_t bad[DM_BAD_NKINDS]; /* injected lines by kind (index DM_BAD_NONE unused) */
} dm_generate_proc;

typedef struct {
  int n_proc;
  dm_generate_proc *proc; /* n_proc entries, in table order */
  int64_t n_events, bytes, n_bad;
  int64_t floor_events;   /* F above */
  double lumi_fb, bad_rate;
  uint64_t seed;
  double seconds;         /* wall time, slowest rank */
  double events_per_s_per_rank;
  int ranks;
  char table_path[1024];
  char table_checksum[33];
} dm_generate_report;

/* COLLECTIVE. Generate the archive. Every rank returns the same status; on
 * failure no file is left under a final name (and no .tmp file either). The
 * report (may be NULL) is filled on every rank. */
dm_status dm_generate_run(const dm_generate_opts *opts, MPI_Comm comm, dm_generate_report *rep);

/* LOCAL. Free the report's arrays. Accepts NULL. */
void dm_generate_report_free(dm_generate_report *rep);

/* LOCAL. The event counts rule above, exposed for tests: n[i] for P
 * processes with cross sections sigma[i]. DM_ERR_ARG if N < P. *floor_out
 * (may be NULL) receives F. */
dm_status dm_generate_counts(int64_t n_total, int p, const double *sigma, int64_t *n,
                             int64_t *floor_out);

#endif
