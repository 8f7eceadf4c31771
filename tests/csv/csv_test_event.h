/* A one-event dm_events view of a parse result, for printing it back. */
#ifndef CSV_TEST_EVENT_H
#define CSV_TEST_EVENT_H

#include <stdint.h>
#include <string.h>

#include "dm_csv.h"

typedef struct {
  dm_events ev; /* arrays below, objects borrowed from the parse output */
  int64_t id, off[2];
  double weight, met_d, met_phi_d;
  float met, met_phi;
  char process[256];
} csv_test_one;

/* Point one->ev at the event just parsed into `ev` / `objs` (objects at
 * objs->n_objects onwards). */
static inline void csv_test_one_set(csv_test_one *one, const dm_csv_event *ev,
                                    const dm_events *objs)
{
  int64_t k = objs->n_objects;
  one->id = ev->event_id;
  one->weight = ev->weight;
  one->met_d = ev->met;
  one->met_phi_d = ev->met_phi;
  one->met = (float)ev->met;
  one->met_phi = (float)ev->met_phi;
  size_t pl = ev->process_len < sizeof one->process - 1 ? ev->process_len : sizeof one->process - 1;
  memcpy(one->process, ev->process, pl);
  one->process[pl] = '\0';
  one->off[0] = 0;
  one->off[1] = ev->n_obj;
  dm_events *e = &one->ev;
  memset(e, 0, sizeof *e);
  e->n_events = 1;
  e->n_objects = ev->n_obj;
  e->event_id = &one->id;
  e->weight = &one->weight;
  e->met = &one->met;
  e->met_phi = &one->met_phi;
  e->met_d = &one->met_d;
  e->met_phi_d = &one->met_phi_d;
  e->obj_offset = one->off;
  e->type = objs->type ? objs->type + k : NULL;
  e->e = objs->e ? objs->e + k : NULL;
  e->pt = objs->pt ? objs->pt + k : NULL;
  e->eta = objs->eta ? objs->eta + k : NULL;
  e->phi = objs->phi ? objs->phi + k : NULL;
  e->e_d = objs->e_d ? objs->e_d + k : NULL;
  e->pt_d = objs->pt_d ? objs->pt_d + k : NULL;
  e->eta_d = objs->eta_d ? objs->eta_d + k : NULL;
  e->phi_d = objs->phi_d ? objs->phi_d + k : NULL;
}

#endif
