#include "dm_physics.h"

#include <math.h>
#include <string.h>

static const char *const var_names[DM_VAR_COUNT] = {
    "ht", "n_jets", "n_bjets", "n_leptons", "n_photons", "lead_jet_pt", "met_over_ht", "m_eff",
    "met", "n_obj"};

const char *dm_physics_var_name(int v)
{
  return v >= 0 && v < DM_VAR_COUNT ? var_names[v] : NULL;
}

int dm_physics_var_index(const char *name)
{
  for (int v = 0; v < DM_VAR_COUNT; v++)
    if (!strcmp(var_names[v], name))
      return v;
  return -1;
}

int dm_physics_var_is_count(int v)
{
  return v == DM_VAR_N_JETS || v == DM_VAR_N_BJETS || v == DM_VAR_N_LEPTONS ||
         v == DM_VAR_N_PHOTONS || v == DM_VAR_N_OBJ;
}

int dm_physics_is_jet(int type) { return type == DM_OBJ_JET || type == DM_OBJ_BJET; }

int dm_physics_is_lepton(int type)
{
  return type == DM_OBJ_EMINUS || type == DM_OBJ_EPLUS || type == DM_OBJ_MUMINUS ||
         type == DM_OBJ_MUPLUS;
}

hid_t dm_physics_var_h5type(int v)
{
  return dm_physics_var_is_count(v) ? H5T_NATIVE_INT32 : H5T_NATIVE_DOUBLE;
}

void dm_physics_event(const dm_events *ev, int64_t i, double out[DM_VAR_COUNT])
{
  /* Double-precision stores carry their values in the _d arrays when they
   * were read with want_double; use the most precise copy available. */
  int dbl = ev->pt_d != NULL && ev->met_d != NULL;
  double ht = 0, lead = 0;
  int nj = 0, nb = 0, nl = 0, ng = 0;
  for (int64_t k = ev->obj_offset[i]; k < ev->obj_offset[i + 1]; k++) {
    int t = ev->type[k];
    double pt = dbl ? ev->pt_d[k] : (double)ev->pt[k];
    if (dm_physics_is_jet(t)) {
      nj++;
      nb += t == DM_OBJ_BJET;
      ht += pt;
      if (pt > lead)
        lead = pt;
    } else if (dm_physics_is_lepton(t)) {
      nl++;
    } else if (t == DM_OBJ_PHOTON) {
      ng++;
    }
  }
  double met = dbl ? ev->met_d[i] : (double)ev->met[i];
  out[DM_VAR_HT] = ht;
  out[DM_VAR_N_JETS] = nj;
  out[DM_VAR_N_BJETS] = nb;
  out[DM_VAR_N_LEPTONS] = nl;
  out[DM_VAR_N_PHOTONS] = ng;
  out[DM_VAR_LEAD_JET_PT] = lead;
  out[DM_VAR_MET_OVER_HT] = ht > 0 ? met / ht : (met > 0 ? INFINITY : 0.0);
  out[DM_VAR_M_EFF] = ht + met;
  out[DM_VAR_MET] = met;
  out[DM_VAR_N_OBJ] = (double)(ev->obj_offset[i + 1] - ev->obj_offset[i]);
}

void dm_physics_batch(const dm_events *ev, double *cols[DM_VAR_NDERIVED])
{
  double v[DM_VAR_COUNT];
  for (int64_t i = 0; i < ev->n_events; i++) {
    dm_physics_event(ev, i, v);
    for (int c = 0; c < DM_VAR_NDERIVED; c++)
      cols[c][i] = v[c];
  }
}
