#include "dm_roc.h"

#include "dm_comm.h"

dm_status dm_roc_compute(const dm_osel_set *bkg, const dm_osel_set *sig, const double *eps_b,
                         int n_eps, MPI_Comm comm, double *auc, double *eps_s)
{
  if (bkg->n_total == 0 || !(bkg->w_total > 0))
    return dm_error(DM_ERR_NUMERIC, "the background is empty (or has no positive weight)");
  if (sig->n_total == 0 || !(sig->w_total > 0))
    return dm_error(DM_ERR_NUMERIC, "the signal is empty (or has no positive weight)");
  dm_osel_result res[8];
  if (n_eps > 8)
    return dm_error(DM_ERR_INTERNAL, "at most 8 working points");
  DM_FORWARD(dm_osel_upper(bkg, eps_b, n_eps, comm, res));
  for (int q = 0; q < n_eps; q++) {
    if (!res[q].found) {
      eps_s[q] = dm_roc_eps_s(eps_b[q], &res[q], 0, 0, 0, 0);
      continue;
    }
    double s_gt, s_ge;
    if (sig->weight) {
      dm_xsum a[2];
      dm_xsum_clear(&a[0]);
      dm_xsum_clear(&a[1]);
      dm_osel_local_above(sig, res[q].key, NULL, NULL, &a[0], &a[1]);
      DM_FORWARD(dm_xsum_allreduce(a, 2, comm));
      DM_FORWARD(dm_xsum_check(a, 2, "signal weight above a working point"));
      s_gt = dm_xsum_value(&a[0]);
      s_ge = dm_xsum_value(&a[1]);
    } else {
      int64_t c[2] = {0, 0};
      dm_osel_local_above(sig, res[q].key, &c[0], &c[1], NULL, NULL);
      DM_FORWARD(dm_allsum_i64_array(c, 2, comm));
      s_gt = (double)c[0];
      s_ge = (double)c[1];
    }
    eps_s[q] = dm_roc_eps_s(eps_b[q], &res[q], bkg->w_total, s_gt, s_ge, sig->w_total);
  }
  return dm_roc_auc(bkg, sig, comm, auc);
}

double dm_roc_eps_s(double eps_b, const dm_osel_result *r, double w_bkg, double s_gt,
                    double s_ge, double w_sig)
{
  if (!r->found)
    return 1.0; /* beyond the last ROC point numpy returns its value */
  /* The same arithmetic as numpy.interp on (fpr, tpr). */
  double x0 = r->mass_gt / w_bkg, x1 = r->mass_ge / w_bkg;
  double y0 = s_gt / w_sig, y1 = s_ge / w_sig;
  if (eps_b == x0)
    return y0;
  return (y1 - y0) / (x1 - x0) * (eps_b - x0) + y0;
}
