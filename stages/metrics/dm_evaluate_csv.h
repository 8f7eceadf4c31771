/* dm_evaluate_csv.h - PRIVATE to stages/metrics: the CSV submission of
 * dm_evaluate (dm_evaluate.h), read by all ranks at once.
 *
 * The file is `event_id,score` lines (blanks around fields allowed, LF or
 * CRLF ends, the last newline optional); blank lines are skipped; the file's
 * first non-blank line may be a header (its event ID field not an integer),
 * wherever it falls. The first bad line stops the reading:
 *   PATH:LINE: expected 2 fields event_id,score, found N
 *   PATH:LINE: event ID 'X' is not an integer
 *   PATH:LINE: score 'X' of event E is not a finite number
 * with LINE counted from 1 over the whole file (blank lines included).
 *
 * Rank r reads only block r of the file's bytes (dm_partition), and a bit
 * past its end to finish its last line: a line belongs to the rank whose
 * block holds its first byte, so a rank skips the partial line its block
 * starts in. Memory per rank: its pairs, a read step of 1 MiB and the longest
 * of its lines. Line numbers and the header rule come from exclusive scans of
 * the ranks' line counts and non-blank flags.
 */
#ifndef DM_EVALUATE_CSV_H
#define DM_EVALUATE_CSV_H

#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"

/* COLLECTIVE, agreed. This rank's pairs (*ids, *scores malloc'ed, *n of
 * them) in file order; ranks hold consecutive stretches of the file in rank
 * order. On a bad line every rank returns the same status and message: the
 * bad line that comes first in the file. */
dm_status dm_evaluate_read_csv(const char *path, MPI_Comm comm, int64_t **ids, double **scores,
                               int64_t *n);

#endif
