/* dm_gen_model.h - simple but plausible event models for `dmpipe generate`.
 *
 * Each process of the table names a model in its `model` column
 * ("ttbar", "vv:wz", "gluino:1400:1", ...). A model produces the hard
 * process (bosons, tops, sparticles), decays it with two-body kinematics in
 * the rest frame boosted to the lab (so every 4-vector is consistent), adds
 * initial-state jets with falling pT spectra, then applies the archive's
 * object acceptance, b-tagging and lepton/photon efficiencies, the storage
 * trigger and the generator-level cuts of the table's gen_cut column.
 * Events failing the trigger or the cuts are regenerated from the same
 * random stream, so an event stays a pure function of (seed, process, index).
 *
 * Units: GeV. MET is the truth missing pT (neutrinos and invisible BSM
 * particles), as in the archive.
 * All calls are LOCAL and thread-compatible.
 */
#ifndef DM_GEN_MODEL_H
#define DM_GEN_MODEL_H

#include <stdint.h>

#include "dm_proctable.h"
#include "dm_status.h"

/* The archive's files keep at most 20 objects per event. */
#define DM_GEN_MAX_OBJ 20

/* One stored event: objects pT-ordered (descending), types from dm_store.h
 * (DM_OBJ_JET ...). */
typedef struct {
  int n;
  uint8_t type[DM_GEN_MAX_OBJ];
  double e[DM_GEN_MAX_OBJ], pt[DM_GEN_MAX_OBJ], eta[DM_GEN_MAX_OBJ], phi[DM_GEN_MAX_OBJ];
  double met, met_phi;
} dm_gen_event;

/* A parsed model: family and parameters, plus the generator-level cuts. */
typedef struct {
  int family;     /* internal enum */
  int variant;    /* e.g. which boson pair for "vv" */
  double par[3];  /* masses in GeV */
  double ht_min;  /* from gen_cut "ht>X" (0 = none) */
  double met_min; /* from gen_cut "met>X" (0 = none) */
} dm_gen_model;

/* LOCAL. Parse the model and gen_cut columns of a table entry. Errors
 * (DM_ERR_FORMAT, or DM_ERR_UNKNOWN for an empty model) name the table file
 * `source` and line of the entry. */
dm_status dm_gen_model_parse(const dm_process *p, const char *source, dm_gen_model *m);

/* LOCAL. Stable 64-bit key of a process name (FNV-1a): the random stream of
 * event i of process P is dm_rng_init(seed, key(P), i), which does not
 * depend on the table's order, on the other processes chosen or on ranks. */
uint64_t dm_gen_process_key(const char *name);

/* Attempts after which a model that never passes its cuts is an error. */
#define DM_GEN_MAX_ATTEMPTS 100000

/* LOCAL. Event `index` of the process with key `key`. Returns DM_OK, or
 * DM_ERR_NUMERIC if DM_GEN_MAX_ATTEMPTS draws all failed the cuts. */
dm_status dm_gen_model_event(const dm_gen_model *m, uint64_t seed, uint64_t key, int64_t index,
                             dm_gen_event *ev);

/* LOCAL. Short text of the model families, for --help. */
const char *dm_gen_model_families(void);

#endif
