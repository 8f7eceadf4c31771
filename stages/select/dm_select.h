/* dm_select.h - the select stage: apply a selection (a challenge channel or
 * user cuts, dm_cuts.h) to a store, write the selected events as a new store
 * with the same schema, and count a cutflow.
 *
 * The output SEL.h5 holds the selected events in their input order with
 * their objects, the parent's process table with the selected counts, and as
 * root attributes the parent's path and checksum ("parent", "parent_checksum")
 * and the selection ("selection_name", "selection" as cut-file text). Its
 * /derived (dm_derived.h: side files of its own identity, written with it)
 * holds the physics columns of dm_physics.h and every other /derived column
 * of the parent (weights), for the selected events, so later stages need not
 * recompute them.
 * The parent is only read: nothing is written next to it.
 *
 * Cutflow: per process and per cut, in the selection's order (row 0 is
 * "all events"), the raw count, the sum of weights and the sum of squared
 * weights of events passing every cut up to that one. Weights come from
 * /derived/weight when the parent has it (dmpipe weight), else from
 * /events/weight; the report says which. Sums are exact (dm_xsum.h), so the
 * cutflow is identical on any number of ranks. Totals per kind (sm, bsm,
 * other = not in the process table) come from the process table.
 */
#ifndef DM_SELECT_H
#define DM_SELECT_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "dm_cuts.h"
#include "dm_status.h"

/* Events per chunk of SEL.h5 (objects 4x). Smaller than ingest's 65536: the
 * store writer holds a selection's partial chunk (events kept but not yet a
 * whole chunk) uncompressed on one rank until it fills, and a selection
 * keeps few events per round, so that partial chunk is what grows with the
 * parent's size (chan2a: 3,600 kept events of 1e7 against 35,600 of 1e8).
 * 16384 bounds it at a quarter of that; the files are 2% larger and read as
 * fast (validation/README.md, select). */
#define DM_SELECT_CHUNK_EVENTS 16384

typedef struct {
  const char *in_path;      /* parent store */
  const char *out_path;     /* SEL.h5 */
  const char *cutflow_path; /* JSON cutflow, or NULL */
  const dm_cutset *cuts;
  const char *xsec_path;    /* process table for the kinds; NULL = shipped table */
  const char *command_line; /* for provenance; may be NULL */
  int64_t batch_events;     /* events per rank per round; 0 = default */
  int64_t piece_objects;    /* a round is read in pieces of at most this many
                               objects (dm_store_pieces.h); 0 = default */
  int zstd_level;           /* of SEL.h5; 0 = default 3, -1 = none */
  int progress;             /* DM_PROGRESS_* mode (dm_progress.h), same on every rank */
  double progress_interval;  /* seconds between progress lines; 0 = the mode's default */
} dm_select_opts;

enum { DM_KIND_SM = 0, DM_KIND_BSM, DM_KIND_OTHER, DM_KIND_ALL, DM_KIND_COUNT };

/* One cutflow row: events passing cuts 1..c. */
typedef struct {
  int64_t count;
  double sumw, sumw2;
} dm_cutflow_row;

typedef struct {
  int n_proc;
  char **proc_names;          /* n_proc strings (one malloc block) */
  int *proc_kind;             /* DM_KIND_SM/BSM/OTHER per process */
  int n_rows;                 /* cuts + 1 */
  char (*row_names)[DM_CUT_NAME_MAX];     /* "all", then the cut names */
  char (*row_defs)[160];                  /* "", then dm_cut_describe */
  dm_cutflow_row *rows;       /* [p * n_rows + c] */
  dm_cutflow_row *totals;     /* [kind * n_rows + c], kind < DM_KIND_COUNT */
  char selection[DM_CUT_NAME_MAX];
  char weight_source[32];     /* "derived/weight" or "events/weight" */
  char in_checksum[33];
  int64_t n_in, n_out;
  int n_derived_copied;       /* parent's extra derived columns carried over */
  double seconds;
} dm_select_report;

/* COLLECTIVE. Run the selection. On failure nothing is left under
 * out_path, its derived-column files or cutflow_path (earlier files there are kept). */
dm_status dm_select_run(const dm_select_opts *opts, MPI_Comm comm, dm_select_report *rep);

/* LOCAL. Free the report's arrays (accepts a zeroed report). */
void dm_select_report_free(dm_select_report *rep);

/* LOCAL. The cutflow as a readable table: per kind totals, then per process. */
void dm_cutflow_print(FILE *f, const dm_select_report *rep);

/* LOCAL. The cutflow as JSON text (malloc'ed; free()), NULL on no memory.
 * Holds no timings or output paths, so runs on different rank counts give
 * identical text. */
char *dm_cutflow_json(const dm_select_report *rep, const char *in_path);

/* COLLECTIVE. Write the JSON to path.tmp on rank 0 and rename it. */
dm_status dm_cutflow_write(const dm_select_report *rep, const char *in_path, const char *path,
                           MPI_Comm comm);

#endif
