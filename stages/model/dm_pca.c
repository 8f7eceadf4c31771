/* Principal axes of a covariance matrix, with GSL's symmetric eigensolver:
 * serial and deterministic, so every rank computes the same axes. (Kept
 * apart from the BLAS user dm_transform.c: GSL's and OpenBLAS's cblas
 * headers cannot be included together.) */
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>
#include <math.h>

#include "dm_features.h"

dm_status dm_pca_from_cov(const double *cov, int d, int D, double *pca, double *var,
                          double *explained)
{
  gsl_matrix *a = gsl_matrix_alloc(d, d), *evec = gsl_matrix_alloc(d, d);
  gsl_vector *eval = gsl_vector_alloc(d);
  gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc(d);
  dm_status s = DM_OK;
  if (!a || !evec || !eval || !ws)
    s = dm_error(DM_ERR_NOMEM, "no memory for a %d x %d eigenproblem", d, d);
  double total = 0;
  if (s == DM_OK) {
    for (int i = 0; i < d; i++) {
      for (int j = 0; j < d; j++)
        gsl_matrix_set(a, i, j, cov[(size_t)i * d + j]);
      total += cov[(size_t)i * d + i];
    }
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int e = gsl_eigen_symmv(a, eval, evec, ws);
    if (e == 0)
      e = gsl_eigen_symmv_sort(eval, evec, GSL_EIGEN_SORT_VAL_DESC);
    gsl_set_error_handler(old);
    if (e != 0)
      s = dm_error(DM_ERR_NUMERIC, "PCA eigen-decomposition failed: %s", gsl_strerror(e));
  }
  double kept = 0;
  for (int c = 0; s == DM_OK && c < D; c++) {
    double lam = gsl_vector_get(eval, c);
    if (!(lam > 1e-12 * (total > 0 ? total : 1.0))) {
      s = dm_error(DM_ERR_NUMERIC,
                   "PCA component %d of %d has zero variance (the standardised features span "
                   "fewer dimensions): choose --pca below %d",
                   c + 1, D, c + 1);
      break;
    }
    /* Eigenvector signs are arbitrary; fixing them makes the model file and
     * the projected features reproducible. */
    int arg = 0;
    for (int j = 1; j < d; j++)
      if (fabs(gsl_matrix_get(evec, j, c)) > fabs(gsl_matrix_get(evec, arg, c)))
        arg = j;
    double sign = gsl_matrix_get(evec, arg, c) < 0 ? -1.0 : 1.0;
    for (int j = 0; j < d; j++)
      pca[(size_t)c * d + j] = sign * gsl_matrix_get(evec, j, c);
    var[c] = lam;
    kept += lam;
  }
  if (s == DM_OK)
    *explained = total > 0 ? kept / total : 0;
  gsl_eigen_symmv_free(ws);
  gsl_vector_free(eval);
  gsl_matrix_free(evec);
  gsl_matrix_free(a);
  return s;
}
