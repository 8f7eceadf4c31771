/* dm_physics.h - per-event derived quantities of the Dark Machines events,
 * computed from a dm_events batch, and the call that makes sure a store has
 * them as /derived columns (see dm_derived.h).
 *
 * Definitions (GeV; "jets" are j and b objects, "leptons" e-, e+, m-, m+;
 * every stored object already passed the archive's pT/|eta| thresholds, so
 * no further threshold applies here):
 *   ht          scalar sum of jet pT (0 with no jets)
 *   n_jets      number of j and b objects
 *   n_bjets     number of b objects
 *   n_leptons   number of electrons and muons
 *   n_photons   number of photons
 *   lead_jet_pt largest jet pT (0 with no jets)
 *   met_over_ht MET / ht; with ht = 0 it is +inf when MET > 0 (the limit: an
 *               event with no jets and some MET is as MET-dominated as it
 *               gets, so it passes any ">=" cut on the ratio) and 0 when
 *               MET = 0 too (no activity: fails any positive threshold)
 *   m_eff       ht + MET
 * Sums run over the event's objects in stored order in double precision from
 * the values the store holds, so they do not depend on how events are split
 * over ranks.
 *
 * Calls are LOCAL unless marked COLLECTIVE.
 */
#ifndef DM_PHYSICS_H
#define DM_PHYSICS_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"
#include "dm_store.h"

/* Derived variables, in the order of their /derived columns. */
enum {
  DM_VAR_HT = 0,
  DM_VAR_N_JETS,
  DM_VAR_N_BJETS,
  DM_VAR_N_LEPTONS,
  DM_VAR_N_PHOTONS,
  DM_VAR_LEAD_JET_PT,
  DM_VAR_MET_OVER_HT,
  DM_VAR_M_EFF,
  DM_VAR_NDERIVED, /* the columns above are stored under /derived */
  DM_VAR_MET = DM_VAR_NDERIVED, /* raw columns cuts may use too */
  DM_VAR_N_OBJ,
  DM_VAR_COUNT
};

/* Name of variable v ("ht", ..., "met", "n_obj"); NULL if out of range. */
const char *dm_physics_var_name(int v);
/* Index of a variable name, -1 if unknown. */
int dm_physics_var_index(const char *name);
/* 1 if variable v is an integer count (compared exactly). */
int dm_physics_var_is_count(int v);

/* Object type classes. */
int dm_physics_is_jet(int type);
int dm_physics_is_lepton(int type);

/* All variables of event i of a batch (DM_VAR_COUNT values). */
void dm_physics_event(const dm_events *ev, int64_t i, double out[DM_VAR_COUNT]);

/* Columns of the n events of a batch: cols[v] (v < DM_VAR_NDERIVED) must
 * hold ev->n_events doubles. Counts are stored as int32 but computed here as
 * doubles (exact). */
void dm_physics_batch(const dm_events *ev, double *cols[DM_VAR_NDERIVED]);

/* HDF5 file type of the /derived column of variable v (float64 or int32). */
hid_t dm_physics_var_h5type(int v);

/* ---- streaming a store ------------------------------------------------------ */

/* Stages stream a store in rounds: round k covers the global events
 * [k*B*size, (k+1)*B*size) split over the ranks by dm_partition, B events per
 * rank. Appending each rank's results in rank order then keeps the global
 * event order, so outputs do not depend on the number of ranks, and memory
 * stays bounded by B events per rank. */
#define DM_PHYSICS_BATCH_DEFAULT 65536

/* Number of rounds (same on every rank). */
int64_t dm_physics_rounds(int64_t n_events, int64_t batch, int size);
/* This rank's [*begin, *begin + *count) in round k. */
void dm_physics_round(int64_t n_events, int64_t batch, int64_t k, int rank, int size,
                      int64_t *begin, int64_t *count);

/* ---- the store-level call ------------------------------------------------- */

typedef struct {
  const char *store_path; /* the store (or selection) to complete */
  int force;              /* recompute even if all columns exist */
  int64_t batch_events;   /* events per rank per round (0 = default 65536) */
  int progress;           /* DM_PROGRESS_* mode (dm_progress.h), same on every rank */
  double progress_interval;  /* seconds between progress lines; 0 = the mode's default */
} dm_physics_opts;

typedef struct {
  int computed;      /* 1 if columns were (re)computed, 0 if already present */
  int64_t n_events;  /* events in the store */
  double seconds;    /* wall time (max over ranks) */
} dm_physics_report;

/* COLLECTIVE. Make sure the store has every /derived column listed above:
 * if any is missing (or opts->force), compute all of them in one rank-
 * parallel pass and commit them as a new part atomically, keeping the other
 * derived columns (weights) it had. Needs write access to the store's folder
 * only when something is computed. */
dm_status dm_physics_ensure(const dm_physics_opts *opts, MPI_Comm comm, dm_physics_report *rep);

#endif
