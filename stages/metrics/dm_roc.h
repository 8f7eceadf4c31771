/* dm_roc.h - exact ROC quantities of one signal against one background,
 * both spread over ranks, defined exactly as the Dark Machines challenge
 * computed them (scikit-learn's roc_curve and roc_auc_score, then numpy's
 * linear interpolation of eps_S at fixed eps_B):
 *   - an event passes a threshold t when its score >= t; ties in score are
 *     one ROC point;
 *   - eps_S(eps_B) interpolates linearly between the last ROC point with
 *     background efficiency <= eps_B and the next one (at an exact hit the
 *     point with the highest eps_S);
 *   - AUC = P(s > b) + P(s = b) / 2 over signal/background pairs.
 * Unweighted, every quantity is an exact integer count until the final
 * division; weighted, the sums are exact (dm_xsum). So the answer does not
 * depend on the number of ranks.
 */
#ifndef DM_ROC_H
#define DM_ROC_H

#include <mpi.h>

#include "dm_osel.h"
#include "dm_status.h"

/* COLLECTIVE. bkg and sig are this rank's parts (both weighted or both
 * unweighted), spread over the ranks in any way (a rank may hold none).
 * eps_b[0..n_eps) are the working points (0 < eps_b < 1, n_eps <= 8).
 * Fills *auc (dm_roc_auc) and eps_s[0..n_eps). An empty background or
 * signal (or one without positive weight) is DM_ERR_NUMERIC. Status agreed.
 *
 * eps_S: one dm_osel_upper on the background (8 MPI_Allreduce rounds of 256
 * cells), then one MPI_Allreduce of 2 int64 (or 2 exact sums) per working
 * point; nothing per event travels. */
dm_status dm_roc_compute(const dm_osel_set *bkg, const dm_osel_set *sig, const double *eps_b,
                         int n_eps, MPI_Comm comm, double *auc, double *eps_s);

/* COLLECTIVE. The AUC alone, with the same guarantees. Nothing is gathered:
 *   - what each rank holds: its own parts, plus (P > 1) a slice of the
 *     sorted union of both sets, (N_b + N_s) / P entries rounded up or down
 *     (dm_osel_balance; 8 bytes per entry, 16 weighted), a transient second
 *     copy of that slice while its parts are merged, and O(P) counters and
 *     edges (about 0.4 KB per rank of comm, 2 KB per splitter during the
 *     splitter search). Ties never pile up on one rank: a run of equal
 *     scores continues on the next ranks.
 *   - messages per call (P > 1): the splitter search (dm_osel_at_positions
 *     for P - 1 positions: at most 8 MPI_Allreduce of 2 KB per distinct
 *     splitter prefix, 2 KB in the first round), one MPI_Exscan of P - 1
 *     int64, one MPI_Alltoall of 2 int64 per peer, the exchange of the keys
 *     (and weights) of both sets (dm_exchange: one MPI_Alltoallv per array,
 *     2 unweighted, 4 weighted, together at most the local part, 8 or 16
 *     bytes per entry; rounds of 1 GiB per pair beyond 2^31 entries), one
 *     MPI_Allgather of the 408-byte edges of each rank, one MPI_Allreduce of
 *     2 int64 (unweighted) or 16 int64 (weighted), and about ten one-integer
 *     agreements and small reductions. P = 1 moves nothing and copies
 *     nothing.
 *   - limits: more than 2^63 signal-background pairs (e.g. 3e9 x 3e9 events)
 *     is DM_ERR_ARG; event counts are otherwise 64-bit.
 * Status agreed. */
dm_status dm_roc_auc(const dm_osel_set *bkg, const dm_osel_set *sig, MPI_Comm comm, double *auc);

/* COLLECTIVE. The AUC's sums of n_sig signals against one background over
 * one key range of larger samples, for a computation in parts
 * (dm_roc_scan.h): bkg and sig[0..n_sig) hold the entries of the samples
 * with keys in a range [lo, hi) (spread over the ranks in any way, a rank
 * may hold none; n_total the range's counts), `below` the background mass
 * below lo (an exact sum, of counts when unweighted; the same on every
 * rank). Adds signal j's pairs of the range to cnt[2j] (pairs with s > b,
 * b over the whole background) and cnt[2j + 1] (s == b), or weighted its
 * exact sum of w_s (B_< + B_= / 2) to acc[j]; the same on every rank.
 * Summed over ranges that tile the keys these are exactly dm_roc_auc's
 * sums. All signals go together: one dm_osel_balance of the n_sig + 1 sets
 * (each rank a slice of their union, at most its share of the range's
 * entries, 8 bytes an entry, 16 weighted, plus the merge copy of one set),
 * one MPI_Allgather of the edges, one reduction of the sums; a range
 * without background moves nothing (one reduction). Status agreed. */
dm_status dm_roc_auc_add(const dm_osel_set *bkg, const dm_osel_set *sig, int n_sig,
                         const dm_xsum *below, MPI_Comm comm, int64_t *cnt, dm_xsum *acc);

/* LOCAL. The AUC from those sums and the samples' totals (counts, and weight
 * totals as the sets' w_total). Weighted, an invalid sum is DM_ERR_NUMERIC. */
dm_status dm_roc_auc_value(const int64_t cnt[2], const dm_xsum *acc, int weighted, int64_t n_sig,
                           int64_t n_bkg, double w_sig, double w_bkg, double *auc);

/* LOCAL. eps_S at eps_b from the background query r (dm_osel_upper at
 * eps_b, total w_bkg) and the signal mass above r's value (s_gt) and at or
 * above it (s_ge), of total w_sig: numpy.interp's arithmetic; 1 when r was
 * not found. */
double dm_roc_eps_s(double eps_b, const dm_osel_result *r, double w_bkg, double s_gt,
                    double s_ge, double w_sig);

#endif
