/* dm_cuts.h - event selections: the four challenge channels and user cuts
 * read from INI files, evaluated one event at a time.
 *
 * A selection is an ordered list of cuts; an event passes when it passes all
 * of them, and the cutflow counts events after each cut in this order. A cut
 * is either
 *   - a threshold on a variable (dm_physics.h: ht, n_jets, n_bjets,
 *     n_leptons, n_photons, lead_jet_pt, met_over_ht, m_eff, met, n_obj)
 *     with one of >=, >, <=, <, ==; or
 *   - an object count: objects of the given types with pT > pt_min and
 *     |eta| < abs_eta_max (both strict, as the archive defines its objects),
 *     at least count_min and at most count_max of them.
 *
 * Precision: a threshold is compared in the precision the store holds. For
 * a float32 store (the default) both the value and the threshold are rounded
 * to float32 first, so "met >= 50.001" passes an event whose CSV said
 * 50001 MeV, exactly as it should; values computed in double from stored
 * floats (ht, met_over_ht, m_eff) are rounded to float32 the same way. For a
 * float64 store both sides stay double. Counts compare exactly.
 *
 * File format (INI; '#' or ';' start comments):
 *     [selection]
 *     name = my_cuts                 ; label (optional, default: file name;
 *                                    ; under 64 bytes, not beginning with ';')
 *     [cut ht]                       ; one section per cut, in order
 *     variable = ht
 *     op = >=
 *     value = 600
 *     [cut four_jets]
 *     objects = jets                 ; j b e- e+ m- m+ g, or e m (both
 *                                    ; charges), jets bjets leptons electrons
 *                                    ; muons photons; comma/space separated
 *     pt_min = 50                    ; optional, default: none
 *     abs_eta_max = 2.5              ; optional, default: none
 *     count_min = 4                  ; at least one of count_min/count_max
 *     count_max = 6
 * Errors name the file and line, or the section and key.
 * All calls are LOCAL.
 */
#ifndef DM_CUTS_H
#define DM_CUTS_H

#include <stddef.h>
#include <stdint.h>

#include "dm_physics.h"
#include "dm_status.h"
#include "dm_store.h"

#define DM_CUT_NAME_MAX 64
#define DM_CUTS_MAX 32

typedef enum { DM_CMP_GE = 0, DM_CMP_GT, DM_CMP_LE, DM_CMP_LT, DM_CMP_EQ } dm_cmp;
typedef enum { DM_CUT_VAR = 0, DM_CUT_COUNT } dm_cut_kind;

typedef struct {
  char name[DM_CUT_NAME_MAX];
  dm_cut_kind kind;
  /* DM_CUT_VAR */
  int var;
  dm_cmp cmp;
  double value;
  /* DM_CUT_COUNT */
  unsigned types;     /* bit (1u << DM_OBJ_*) per counted type */
  double pt_min;      /* -INFINITY: none */
  double abs_eta_max; /* INFINITY: none */
  int64_t count_min;  /* 0: none */
  int64_t count_max;  /* -1: none */
} dm_cut;

typedef struct {
  char name[DM_CUT_NAME_MAX];
  int n;
  dm_cut cut[DM_CUTS_MAX];
} dm_cutset;

/* Names of the built-in channels, NULL-terminated: chan1 chan2a chan2b chan3. */
extern const char *const dm_cuts_channels[];

/* The built-in definition of a channel; DM_ERR_UNKNOWN naming it if none. */
dm_status dm_cuts_channel(const char *name, dm_cutset *out);

/* Read a cut file. */
dm_status dm_cuts_load(const char *path, dm_cutset *out);
/* Parse cut-file text held in memory; `source` names it in messages. */
dm_status dm_cuts_parse(const char *text, const char *source, dm_cutset *out);

/* The selection as cut-file text (canonical: re-parsing it gives the same
 * selection). Returns the length, or -1 if cap is too small. */
int dm_cuts_format(const dm_cutset *cs, char *buf, size_t cap);
/* One cut as a one-line expression ("ht >= 600", "jets pt>50 count>=4"). */
int dm_cut_describe(const dm_cut *c, char *buf, size_t cap);

/* 1 if the two selections define the same cuts (names included). */
int dm_cuts_equal(const dm_cutset *a, const dm_cutset *b);

/* Does event i of ev pass cut c? vars: dm_physics_event of the event;
 * dbl: the store is double precision (see Precision above). */
int dm_cut_pass(const dm_cut *c, const dm_events *ev, int64_t i, const double *vars, int dbl);

#endif
