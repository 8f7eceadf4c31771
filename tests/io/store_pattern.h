/* A deterministic event pattern for store tests: event g of a store is a
 * pure function of g, so any rank can build or check any part of it, and a
 * Python script can check a file written from it (tests/io/check_known_store.py
 * holds the same formulas). Values are exact in float32. */
#ifndef DM_TEST_STORE_PATTERN_H
#define DM_TEST_STORE_PATTERN_H

#include <stdint.h>

#include "dm_store.h"

static inline int pat_nobj(int64_t g) { return (int)((g * 7) % 6); } /* 0..5 */
static inline int64_t pat_event_id(int64_t g) { return 1000 + 3 * g; }
static inline int pat_process(int64_t g) { return (int)((g / 5) % 3); }
static inline double pat_weight(int64_t g) { return 0.5 + (double)g * 0.001; }
static inline double pat_met(int64_t g) { return 10.0 + (double)(g % 1000) * 0.25; }
static inline double pat_met_phi(int64_t g) { return -3.0 + (double)(g % 24) * 0.25; }
/* Object k of event g (k < pat_nobj(g)). */
static inline int pat_type(int64_t g, int k) { return (int)((g + k) % DM_OBJ_NTYPES); }
static inline double pat_pt(int64_t g, int k) { return 20.0 + (double)((g * 13 + k) % 4000) * 0.5; }
static inline double pat_e(int64_t g, int k) { return pat_pt(g, k) * 2.0 + k; }
static inline double pat_eta(int64_t g, int k) { return -2.5 + (double)((g + 3 * k) % 40) * 0.125; }
static inline double pat_phi(int64_t g, int k) { return -3.0 + (double)((g * 5 + k) % 48) * 0.125; }

/* Append events [g0, g0 + n) of the pattern to a batch (which must be empty
 * or hold the events just before). double_too fills the double arrays. */
static inline dm_status pat_fill(dm_events *ev, int64_t g0, int64_t n, int double_too)
{
  int64_t no = 0;
  for (int64_t g = g0; g < g0 + n; g++)
    no += pat_nobj(g);
  dm_events_clear(ev);
  DM_FORWARD(dm_events_reserve(ev, n, no, double_too));
  int64_t o = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t g = g0 + i;
    ev->event_id[i] = pat_event_id(g);
    ev->process[i] = (uint16_t)pat_process(g);
    ev->weight[i] = pat_weight(g);
    ev->met[i] = (float)pat_met(g);
    ev->met_phi[i] = (float)pat_met_phi(g);
    if (double_too) {
      ev->met_d[i] = pat_met(g);
      ev->met_phi_d[i] = pat_met_phi(g);
    }
    for (int k = 0; k < pat_nobj(g); k++, o++) {
      ev->type[o] = (uint8_t)pat_type(g, k);
      ev->e[o] = (float)pat_e(g, k);
      ev->pt[o] = (float)pat_pt(g, k);
      ev->eta[o] = (float)pat_eta(g, k);
      ev->phi[o] = (float)pat_phi(g, k);
      if (double_too) {
        ev->e_d[o] = pat_e(g, k);
        ev->pt_d[o] = pat_pt(g, k);
        ev->eta_d[o] = pat_eta(g, k);
        ev->phi_d[o] = pat_phi(g, k);
      }
    }
    ev->obj_offset[i + 1] = o;
  }
  ev->n_events = n;
  ev->n_objects = o;
  ev->first_event = g0;
  return DM_OK;
}

#endif
