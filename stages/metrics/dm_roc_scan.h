/* dm_roc_scan.h - the exact ROC quantities of several signals against one
 * background (dm_roc.h's definitions, bit for bit the same numbers) with a
 * memory budget per rank that does not depend on the number of events: the
 * rows are not kept, they are read again, in passes over ranges of score.
 *
 * Each rank reads its rows from a source (a score file, say) in batches.
 * Pass p keeps the rows whose score lies in a range [lo_p, hi_p) of the
 * ordered keys (dm_osel_key), settles what the range holds, and the next
 * pass starts at hi_p:
 *   - the range: while reading, each rank keeps at most R rows (the R
 *     smallest keys >= lo_p it has seen; when its buffer of 1.5 R rows
 *     fills it keeps the smallest R, lowering its own cut), and hi_p is the
 *     smallest cut over the ranks, so every rank then holds all its rows of
 *     [lo_p, hi_p). No histogram or plan is needed, and a rank holding most
 *     rows of a range (a file in process order, with scores that depend on
 *     the process) only makes the range narrower. When more than R rows of
 *     one rank share the key lo_p, the pass is a tie pass: that one key is
 *     settled from counts (and weight sums) gathered while reading, never
 *     from rows, so no run of equal scores, however long, is held.
 *   - carries: the background mass below lo_p (a count, or an exact sum:
 *     mpi/dm_xsum.h) and each signal's, and the mass at or above hi_p as the
 *     total less those (exact subtraction). So in a range the AUC's
 *     B_<(k) is the carry plus the range's own (dm_roc_auc_add), and a
 *     background quantile whose answer lies in the range is found there
 *     (dm_osel_upper_part) from the mass above it: the same exact sums as
 *     on the whole sample, hence the same doubles.
 *   - weighted ties: each signal entry of a tied key adds w_s (B_< + B_=/2),
 *     a product rounded per entry, so the tie pass only finds that factor;
 *     the next pass adds the products while it reads.
 * Quantiles equal dm_osel_upper's on the whole background when no weight is
 * negative (see dm_osel_upper_part); with negative weights they are the
 * largest key whose background mass at or above it exceeds the target.
 *
 * Memory per rank, at most 24 R bytes (48 R weighted) plus O(groups +
 * queries): while reading, the buffer of 1.5 R rows (key, group and
 * weight: 10 bytes a row, 18 weighted); then the kept rows by group (8 or
 * 16 bytes a row, the buffer freed once they are grouped); then
 * dm_roc_auc_add's slice of at most R entries and the merge copy of one of
 * its sets. R = budget / 24 (or 48). Passes: at least (rows of the busiest
 * rank) / R, more when the ranks' rows of a score range are uneven; one
 * more for a weighted tie at the top.
 * Messages per pass: the source's, a few small reductions, one
 * dm_roc_auc_add for all signals when the range holds any, and one
 * dm_osel_upper_part per kind of query when the range answers any.
 *
 * Use: create; dm_roc_scan_read (the first pass also counts the totals);
 * read the totals, set the queries; then dm_roc_scan_settle and
 * dm_roc_scan_read alternately until settle says done; read the results.
 * Calls are COLLECTIVE with agreed status unless marked LOCAL.
 */
#ifndef DM_ROC_SCAN_H
#define DM_ROC_SCAN_H

#include <mpi.h>
#include <stdint.h>

#include "dm_osel.h"
#include "dm_status.h"
#include "dm_xsum.h"

#define DM_ROC_SCAN_MAX_EPS 8

/* A batch of a rank's rows. group[i]: 0 = not in the ROC (skipped),
 * 1 = background, 2 + j = signal j. Scores finite; weights NULL when the
 * scan is unweighted. */
typedef struct {
  int64_t n;
  const uint16_t *group;
  const double *score;
  const double *weight;
} dm_roc_rows;

/* COLLECTIVE. The next batch of this rank's rows into *rows (valid until the
 * next call), *more = 1; or *more = 0 on every rank at once when the rows
 * are exhausted, after which the next call starts them again from the first
 * (the same rows in every pass). Status agreed. */
typedef dm_status (*dm_roc_source)(void *ctx, dm_roc_rows *rows, int *more);

typedef struct dm_roc_scan dm_roc_scan;

/* LOCAL. A scan of n_signals signals, weighted or not, holding at most
 * budget_bytes of rows per rank (rows R = budget / 24, or / 48 weighted;
 * at least 2). */
dm_status dm_roc_scan_create(int n_signals, int weighted, double budget_bytes,
                             dm_roc_scan **out);
/* LOCAL. Accepts NULL. */
void dm_roc_scan_free(dm_roc_scan *sc);

/* COLLECTIVE. One pass over the source. The first also counts, per group,
 * the rows and (weighted) the exact weight sum over all ranks. */
dm_status dm_roc_scan_read(dm_roc_scan *sc, dm_roc_source src, void *ctx, MPI_Comm comm);

/* LOCAL, after the first read: group g's rows over all ranks, and its
 * weights' exact sum (NULL unweighted). */
int64_t dm_roc_scan_count(const dm_roc_scan *sc, int group);
const dm_xsum *dm_roc_scan_weight(const dm_roc_scan *sc, int group);

/* LOCAL, after the first read and before the first settle. The working
 * points eps[0..n_eps) (n_eps <= DM_ROC_SCAN_MAX_EPS): dm_osel_upper on the
 * background (weighted when the scan is) and each signal's mass above the
 * answer, for dm_roc_scan_eps_s. And n_f more targets f of dm_osel_upper on
 * the background counts (weights ignored), for dm_roc_scan_quantile. The
 * arrays are copied. */
dm_status dm_roc_scan_queries(dm_roc_scan *sc, const double *eps, int n_eps, const double *f,
                              int n_f);

/* COLLECTIVE, after each read: settle the pass's range; *done = 1 (on every
 * rank) when nothing is left, else read again. */
dm_status dm_roc_scan_settle(dm_roc_scan *sc, MPI_Comm comm, int *done);

/* LOCAL, when done. The AUC of signal j (dm_roc_auc's value; weighted, an
 * invalid sum is DM_ERR_NUMERIC); eps_S of signal j at working point q
 * (dm_roc_compute's); the result of count target q (dm_osel_upper's); the
 * passes read. The signal must have rows and (weighted) positive weight,
 * as must the background. */
dm_status dm_roc_scan_auc(const dm_roc_scan *sc, int j, double *auc);
double dm_roc_scan_eps_s(const dm_roc_scan *sc, int j, int q);
const dm_osel_result *dm_roc_scan_quantile(const dm_roc_scan *sc, int q);
int dm_roc_scan_passes(const dm_roc_scan *sc);

#endif
