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
 * unweighted). eps_b[0..n_eps) are the working points (0 < eps_b < 1).
 * Fills *auc and eps_s[0..n_eps). The signal sample is gathered on every
 * rank for the AUC (at most 2^31 - 1 signal events; DM_ERR_ARG beyond).
 * An empty background or signal is DM_ERR_NUMERIC. */
dm_status dm_roc_compute(const dm_osel_set *bkg, const dm_osel_set *sig, const double *eps_b,
                         int n_eps, MPI_Comm comm, double *auc, double *eps_s);

#endif
