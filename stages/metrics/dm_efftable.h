/* dm_efftable.h - the challenge's summary of a model from its published
 * efficiency table (CSV with columns Signal,Model,Chan,AUC,1e-2,1e-3,1e-4,
 * in any order, extra columns ignored; 1e-2.. hold eps_S at that eps_B):
 *   SI = eps_S / sqrt(eps_B) at each working point, best SI = max of the three;
 *   TI(signal) = max of best SI over the channels the signal appears in;
 *   a model's min / median / max TI over its distinct signal names (median of
 *   an even count = mean of the two middle values);
 *   a model lacking any channel that appears in the table is dropped.
 */
#ifndef DM_EFFTABLE_H
#define DM_EFFTABLE_H

#include <mpi.h>

#include "dm_status.h"

typedef struct {
  char name[160];
  int n_signals;
  double min_ti, median_ti, max_ti;
  int complete;        /* 0: dropped, lacking a channel */
  char missing[96];    /* the channels it lacks, comma-separated */
} dm_efftable_model;

typedef struct {
  int n_rows;
  int n_models;
  dm_efftable_model *models; /* in order of first appearance */
  int n_channels;
  char channels[16][16];
} dm_efftable_report;

/* COLLECTIVE. Rank 0 reads the file and broadcasts it; every rank parses the
 * same text and gets the same report (and the same error, naming file, line
 * and column). */
dm_status dm_efftable_run(const char *path, MPI_Comm comm, dm_efftable_report *rep);

/* LOCAL. Parse CSV text held in memory; `source` names it in messages. */
dm_status dm_efftable_parse(const char *text, size_t len, const char *source,
                            dm_efftable_report *rep);

/* LOCAL. */
void dm_efftable_report_free(dm_efftable_report *rep);

#endif
