/* dm_evaluate.h - scoring a submission against the sealed labels of a
 * blinded dataset (dmpipe dataset secret): the organisers' side of the
 * challenge.
 *
 * Inputs:
 *   - the labels file (io/dm_labels_file.h);
 *   - the submission: a CSV of `event_id,score` lines (an optional header
 *     line naming the columns; what challenge participants sent; read by
 *     all ranks, each its own byte range: dm_evaluate_csv.h) or a dmpipe
 *     score file (io/dm_scores_file.h) of the unlabeled store;
 *   - the commitment: the SHA-256 the participants were given with the
 *     unlabeled file. Either 64 hex digits, or a file carrying it as its
 *     "labels_sha256" attribute (the unlabeled store), or, for a score file
 *     submission and no commitment given, the scored store the score file
 *     names (its "store_path", whose checksum must equal the score file's
 *     "store_checksum" when it records one, so the attribute read is that of
 *     the store scored).
 *     The labels file's own SHA-256 must equal the commitment: labels changed
 *     after publication are refused.
 * Every event ID of the labels must be scored exactly once: missing,
 * duplicate and unknown IDs and non-finite scores are DM_ERR_FORMAT naming
 * the first few of each. Decoys are scored by participants but ignored here.
 * Per injected signal (every process with signal-labelled events): AUC and
 * eps_S at eps_B = 1e-2, 1e-3, 1e-4 against the labelled background, exact
 * and rank-count independent (dm_roc.h, the challenge's definitions, as
 * `dmpipe metrics`).
 *
 * Calls are COLLECTIVE and return an agreed status unless marked LOCAL.
 */
#ifndef DM_EVALUATE_H
#define DM_EVALUATE_H

#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"

#define DM_EVALUATE_N_EPS 3

typedef struct {
  const char *labels;      /* LABELS.h5 */
  const char *submission;  /* CSV or score file */
  const char *commitment;  /* hex SHA-256 or a file with labels_sha256; NULL: see above */
  const char *model;       /* model name in the table; NULL = submission's base name */
} dm_evaluate_opts;

typedef struct {
  char signal[64];
  int64_t n_signal;
  double auc;
  double eps_s[DM_EVALUATE_N_EPS]; /* at eps_B = 1e-2, 1e-3, 1e-4 */
} dm_evaluate_row;

typedef struct {
  char channel[64];
  char model[160];
  char submission_kind[16];      /* "csv" or "scores" */
  char labels_sha256[65];
  char commitment_source[160];   /* "hex", "file <path>", "scored store <path>" */
  int64_t n_events, n_background, n_signal, n_decoy;
  int n_rows;
  dm_evaluate_row *rows;
  double seconds;
} dm_evaluate_report;

/* COLLECTIVE. The report is the same on every rank. */
dm_status dm_evaluate_run(const dm_evaluate_opts *opts, MPI_Comm comm, dm_evaluate_report *rep);

/* LOCAL. Accepts a zeroed report. */
void dm_evaluate_report_free(dm_evaluate_report *rep);

/* LOCAL. The table in the challenge's format (header
 * Signal,Model,Chan,AUC,1e-2,1e-3,1e-4; Chan without the "chan" prefix, as
 * published; numbers shortest round-trip), malloc'ed; NULL on no memory. */
char *dm_evaluate_table(const dm_evaluate_report *rep);

#endif
