/* Helpers shared by the CSV tests: the real-physics sample, decompressed. */
#ifndef CSV_TEST_UTIL_H
#define CSV_TEST_UTIL_H

#include <stddef.h>

#include "dm_store.h"

/* All lines of every .csv.zst file in $DM_FIXTURES/pythia-sample, concatenated
 * (each file ends with '\n'). Returns NULL (and prints why) on failure. */
char *csv_test_load_sample(size_t *len, int *n_files);

/* Free the arrays a parser test grew (the tests do not depend on the store
 * module for this). */
void csv_test_free_events(dm_events *ev);

/* An independent, slow reference reading of one line, written differently
 * from the parser: split on ';' and ',' with strchr, check each number
 * against the grammar with a small state machine, convert with strtod (and
 * strtoll for the ID). Values in GeV as the parser promises (MeV / 1000).
 * Returns 1 if the line is acceptable. The caller frees with
 * csv_ref_free. */
typedef struct {
  long long id;
  char *process;
  double weight, met, met_phi;
  int n_obj;
  int *type;
  double *e, *pt, *eta, *phi;
} csv_ref_event;

int csv_ref_parse(const char *line, size_t len, int want_double, csv_ref_event *ev);
void csv_ref_free(csv_ref_event *ev);

#endif
