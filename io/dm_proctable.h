/* dm_proctable.h - the process table: name, kind, cross section, generator
 * cut and expected event count of every physics process, read from a CSV
 * file shipped as data (data/processes.csv), so users correct numbers
 * without touching code and pass their own table with --xsec FILE.
 *
 * File format (UTF-8 or ASCII text, one process per line):
 *   - lines starting with '#' and blank lines are ignored;
 *   - the first other line is the header and must name these columns, in any
 *     order (unknown extra columns are allowed and ignored):
 *       name      process ID as it appears in archive lines and file names
 *       kind      sm | bsm
 *       sigma_pb  cross section in pb (finite, >= 0), or empty / "unknown"
 *                 when not known (then dm_process.sigma_pb is NAN)
 *     and may name these optional ones:
 *       gen_cut   generator-level cut as text ("ht>600"), may be empty
 *       n_10fb    events expected in 10 fb^-1 (integer >= 0), may be empty
 *       model     event model generate uses, with parameters separated by
 *                 ':' ("gluino:1000:1"); empty = not generatable
 *       aliases   other names of the same process, separated by spaces
 *       description free text (quote with "..." if it holds commas)
 *   - fields are separated by ','; a field may be quoted with "..." (a
 *     doubled "" inside stands for one "); no field may span lines.
 * Names and aliases are unique across the table (case-sensitive) and may
 * not contain ';' ',' or whitespace (they are archive field values).
 * Errors name the file and line: "processes.csv:12: sigma_pb 'abc' ...".
 *
 * Calls are LOCAL unless marked COLLECTIVE. A loaded table is immutable and
 * may be shared by threads for reading.
 */
#ifndef DM_PROCTABLE_H
#define DM_PROCTABLE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "dm_status.h"

typedef enum { DM_PROC_SM = 0, DM_PROC_BSM = 1 } dm_proc_kind;

typedef struct {
  const char *name;
  dm_proc_kind kind;
  double sigma_pb;          /* NAN when the table says unknown */
  const char *gen_cut;      /* "" if none */
  int64_t n_10fb;           /* -1 if not given */
  const char *model;        /* "" if none */
  const char *aliases;      /* space-separated, "" if none */
  const char *description;  /* "" if none */
  int line;                 /* line number in the table file (for messages) */
} dm_process;

typedef struct dm_proctable dm_proctable;

/* LOCAL. Path of the table shipped with dmpipe: <exe dir>/../share/dmpipe/
 * processes.csv when that exists (an installed program), else the source
 * tree's data/processes.csv (compiled in as DM_DATA_DIR). Static storage. */
const char *dm_proctable_default_path(void);

/* LOCAL. Read and parse a table file; path NULL or "" = the default table. */
dm_status dm_proctable_load(const char *path, dm_proctable **out);

/* COLLECTIVE. Rank 0 reads the file and broadcasts its bytes; every rank
 * parses the same text, so every rank returns the same status (errors are
 * agreed) and an identical table. path may be NULL (default table). */
dm_status dm_proctable_load_comm(const char *path, MPI_Comm comm, dm_proctable **out);

/* LOCAL. Parse table text held in memory; `source` names it in messages. */
dm_status dm_proctable_parse(const char *text, size_t len, const char *source,
                             dm_proctable **out);

/* LOCAL. Accepts NULL. */
void dm_proctable_free(dm_proctable *t);

/* LOCAL. Number of processes and the i-th one, in file order (0 <= i < count). */
int dm_proctable_count(const dm_proctable *t);
const dm_process *dm_proctable_get(const dm_proctable *t, int i);

/* LOCAL. Index of the process with this name or alias, -1 if none. The _n
 * form takes a name that is not NUL-terminated (a view into a CSV line). */
int dm_proctable_index(const dm_proctable *t, const char *name);
int dm_proctable_index_n(const dm_proctable *t, const char *name, size_t len);

/* LOCAL. Same, NULL if none. */
const dm_process *dm_proctable_find(const dm_proctable *t, const char *name);

/* LOCAL. Like dm_proctable_find but an unknown name is DM_ERR_UNKNOWN with a
 * message naming the process and the table file; with require_sigma, an
 * unknown cross section is DM_ERR_UNKNOWN naming the table line to fill. */
dm_status dm_proctable_lookup(const dm_proctable *t, const char *name, int require_sigma,
                              const dm_process **out);

/* LOCAL. Where the table came from (the path, or the `source` of parse). */
const char *dm_proctable_source(const dm_proctable *t);

/* LOCAL. XXH3-128 of the table's exact bytes as 32 hex digits, for
 * provenance ("which cross sections were used"). */
const char *dm_proctable_checksum(const dm_proctable *t);

/* LOCAL. Total bytes of the table text (for provenance lines). */
int64_t dm_proctable_size(const dm_proctable *t);

#endif
