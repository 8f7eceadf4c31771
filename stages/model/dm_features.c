/* Feature extraction: events -> raw rows. The fitted transform is in
 * dm_transform.c. */
#include "dm_features.h"
#include "dm_physics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const hl_names[DM_FEATURES_HIGHLEVEL_DIM] = {
    "log1p_ht",    "log1p_met",   "log1p_meff",  "log1p_met_over_ht", "n_jets",
    "n_b",         "n_leptons",   "n_photons",   "log1p_pt_j1",       "log1p_pt_j2",
    "log1p_pt_j3", "log1p_pt_l1", "log1p_pt_g1"};

void dm_feature_spec_default(dm_feature_spec *spec)
{
  spec->kind = DM_FEATURES_HIGHLEVEL;
  spec->k_objects = DM_FEATURES_K_DEFAULT;
  spec->phi_mode = DM_PHI_RAW;
}

const char *dm_feature_kind_name(dm_feature_kind kind)
{
  return kind == DM_FEATURES_OBJECTS ? "objects" : "highlevel";
}

dm_status dm_feature_kind_parse(const char *text, dm_feature_kind *kind)
{
  if (!strcmp(text, "highlevel")) {
    *kind = DM_FEATURES_HIGHLEVEL;
    return DM_OK;
  }
  if (!strcmp(text, "objects")) {
    *kind = DM_FEATURES_OBJECTS;
    return DM_OK;
  }
  return dm_error(DM_ERR_UNKNOWN, "unknown feature set '%s' (highlevel, objects)", text);
}

static int per_object(dm_phi_mode m) { return (m == DM_PHI_SINCOS ? 5 : 4) + DM_OBJ_NTYPES; }

dm_status dm_features_dim(const dm_feature_spec *spec, int *dim)
{
  *dim = 0;
  if (spec->kind == DM_FEATURES_HIGHLEVEL) {
    *dim = DM_FEATURES_HIGHLEVEL_DIM;
    return DM_OK;
  }
  if (spec->kind != DM_FEATURES_OBJECTS)
    return dm_error(DM_ERR_ARG, "invalid feature kind %d", (int)spec->kind);
  if (spec->k_objects < 1 || spec->k_objects > DM_FEATURES_K_MAX)
    return dm_error(DM_ERR_ARG, "objects per event %d outside 1..%d", spec->k_objects,
                    DM_FEATURES_K_MAX);
  if (spec->phi_mode != DM_PHI_RAW && spec->phi_mode != DM_PHI_SINCOS)
    return dm_error(DM_ERR_ARG, "invalid phi mode %d", (int)spec->phi_mode);
  *dim = spec->k_objects * per_object(spec->phi_mode) + (spec->phi_mode == DM_PHI_SINCOS ? 3 : 2);
  return DM_OK;
}

void dm_features_column_name(const dm_feature_spec *spec, int j, char *buf, size_t cap)
{
  if (spec->kind == DM_FEATURES_HIGHLEVEL) {
    snprintf(buf, cap, "%s", j >= 0 && j < DM_FEATURES_HIGHLEVEL_DIM ? hl_names[j] : "?");
    return;
  }
  static const char *const raw[] = {"log1p_e", "log1p_pt", "eta", "phi"};
  static const char *const sc[] = {"log1p_e", "log1p_pt", "eta", "sin_phi", "cos_phi"};
  int po = per_object(spec->phi_mode), nkin = po - DM_OBJ_NTYPES;
  int tail = j - spec->k_objects * po;
  if (tail >= 0) {
    static const char *const t_raw[] = {"log1p_met", "met_phi"};
    static const char *const t_sc[] = {"log1p_met", "sin_met_phi", "cos_met_phi"};
    int ntail = spec->phi_mode == DM_PHI_SINCOS ? 3 : 2;
    snprintf(buf, cap, "%s",
             tail < ntail ? (spec->phi_mode == DM_PHI_SINCOS ? t_sc : t_raw)[tail] : "?");
    return;
  }
  int slot = j / po, c = j % po;
  if (c < nkin)
    snprintf(buf, cap, "obj%d_%s", slot + 1, (spec->phi_mode == DM_PHI_SINCOS ? sc : raw)[c]);
  else
    snprintf(buf, cap, "obj%d_is_%s", slot + 1, dm_obj_code(c - nkin));
}

static inline float lg(double x) { return (float)log1p(x > 0 ? x : 0); }

/* One event's high-level row. H_T, counts and m_eff come from the physics
 * helpers (one definition for selection and features); the leading pTs are
 * found in one pass, so an unsorted object list gives the same row. */
static int highlevel_row(const dm_events *ev, int64_t i, float *row)
{
  double v[DM_VAR_COUNT];
  double j1 = 0, j2 = 0, j3 = 0, l1 = 0, g1 = 0;
  for (int64_t o = ev->obj_offset[i]; o < ev->obj_offset[i + 1]; o++) {
    double pt = ev->pt[o];
    int t = ev->type[o];
    if (!isfinite(pt) || t >= DM_OBJ_NTYPES)
      return 0;
    if (dm_physics_is_jet(t)) {
      if (pt > j1) {
        j3 = j2;
        j2 = j1;
        j1 = pt;
      } else if (pt > j2) {
        j3 = j2;
        j2 = pt;
      } else if (pt > j3) {
        j3 = pt;
      }
    } else if (dm_physics_is_lepton(t)) {
      if (pt > l1)
        l1 = pt;
    } else if (pt > g1) {
      g1 = pt;
    }
  }
  double met = ev->met[i];
  if (!isfinite(met))
    return 0;
  dm_physics_event(ev, i, v);
  double ht = v[DM_VAR_HT];
  row[0] = lg(ht);
  row[1] = lg(met);
  row[2] = lg(v[DM_VAR_M_EFF]);
  /* Not the physics helper's met_over_ht, which is +inf without jets: a
   * feature must stay finite, so H_T is floored at 1 GeV here. */
  row[3] = lg(met / (ht > 1.0 ? ht : 1.0));
  row[4] = (float)v[DM_VAR_N_JETS];
  row[5] = (float)v[DM_VAR_N_BJETS];
  row[6] = (float)v[DM_VAR_N_LEPTONS];
  row[7] = (float)v[DM_VAR_N_PHOTONS];
  row[8] = lg(j1);
  row[9] = lg(j2);
  row[10] = lg(j3);
  row[11] = lg(l1);
  row[12] = lg(g1);
  return 1;
}

/* One event's object row: leading K by pT (ties keep store order). */
static int objects_row(const dm_feature_spec *spec, int dim, const dm_events *ev, int64_t i,
                       float *row)
{
  int64_t top[DM_FEATURES_K_MAX];
  int ntop = 0, k = spec->k_objects, po = per_object(spec->phi_mode);
  int sincos = spec->phi_mode == DM_PHI_SINCOS;
  memset(row, 0, (size_t)dim * sizeof *row);
  for (int64_t o = ev->obj_offset[i]; o < ev->obj_offset[i + 1]; o++) {
    float pt = ev->pt[o];
    if (!isfinite(pt) || !isfinite(ev->e[o]) || !isfinite(ev->eta[o]) ||
        !isfinite(ev->phi[o]) || ev->type[o] >= DM_OBJ_NTYPES)
      return 0;
    /* Insertion into a short sorted list: strict '>' keeps earlier objects
     * ahead of later ones with the same pT. */
    int pos = ntop;
    while (pos > 0 && pt > ev->pt[top[pos - 1]])
      pos--;
    if (pos >= k)
      continue;
    int last = ntop < k ? ntop : k - 1;
    for (int q = last; q > pos; q--)
      top[q] = top[q - 1];
    top[pos] = o;
    if (ntop < k)
      ntop++;
  }
  for (int s = 0; s < ntop; s++) {
    int64_t o = top[s];
    float *r = row + s * po;
    r[0] = lg(ev->e[o]);
    r[1] = lg(ev->pt[o]);
    r[2] = ev->eta[o];
    if (sincos) {
      r[3] = (float)sin(ev->phi[o]);
      r[4] = (float)cos(ev->phi[o]);
    } else {
      r[3] = ev->phi[o];
    }
    r[po - DM_OBJ_NTYPES + ev->type[o]] = 1.0f;
  }
  float *t = row + k * po;
  if (!isfinite(ev->met[i]) || !isfinite(ev->met_phi[i]))
    return 0;
  t[0] = lg(ev->met[i]);
  if (sincos) {
    t[1] = (float)sin(ev->met_phi[i]);
    t[2] = (float)cos(ev->met_phi[i]);
  } else {
    t[1] = ev->met_phi[i];
  }
  return 1;
}

dm_status dm_features_extract(const dm_feature_spec *spec, const dm_events *ev, float *out)
{
  int dim;
  DM_FORWARD(dm_features_dim(spec, &dim));
  int64_t n = ev->n_events, bad = INT64_MAX;
#pragma omp parallel for schedule(static) reduction(min : bad)
  for (int64_t i = 0; i < n; i++) {
    float *row = out + i * dim;
    int ok = spec->kind == DM_FEATURES_HIGHLEVEL ? highlevel_row(ev, i, row)
                                                 : objects_row(spec, dim, ev, i, row);
    if (!ok && i < bad)
      bad = i;
  }
  if (bad != INT64_MAX)
    return dm_error(DM_ERR_NUMERIC,
                    "event %lld (event_id %lld): non-finite value or unknown object type",
                    (long long)(ev->first_event + bad),
                    (long long)(ev->event_id ? ev->event_id[bad] : -1));
  return DM_OK;
}
