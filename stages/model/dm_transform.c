/* The fitted feature transform: standardisation and whitened PCA, with sums
 * that are exact (fixed-point integers) so the fit does not depend on how the
 * training rows are split over ranks and threads. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_features.h"
#include "dm_h5.h"

__extension__ typedef __int128 i128;

/* Raw columns are quantised to 2^-20 and must stay within +-2^20 (all our
 * features are logs, angles and counts, far inside); then q <= 2^40,
 * q^2 <= 2^80 and int128 sums hold 2^46 rows. */
#define RAW_FRAC 20
#define RAW_LIMIT 1048576.0
/* Standardised values for the covariance: 2^-10 steps, clamped to +-2^11, so
 * products are integers below 2^42 and a block of 1024 rows sums below 2^52:
 * double arithmetic on such a block is exact in any order, which lets BLAS
 * (dsyrk, any threading) do the block sums. */
#define STD_FRAC 10
#define STD_CLAMP 2048.0
#define COV_BLOCK 1024

/* COLLECTIVE. Exact sum over ranks of int128 values: split each into three
 * limbs (40, 40 and the signed rest), sum limbs as int64, reassemble. */
static dm_status allsum_i128(i128 *v, int64_t n, MPI_Comm comm)
{
  int64_t *limb = malloc((size_t)(3 * n > 0 ? 3 * n : 1) * sizeof *limb);
  if (!limb)
    return dm_error(DM_ERR_NOMEM, "no memory for a reduction of %lld values", (long long)n);
  const i128 mask = ((i128)1 << 40) - 1;
  for (int64_t i = 0; i < n; i++) {
    limb[3 * i] = (int64_t)(v[i] & mask);
    limb[3 * i + 1] = (int64_t)((v[i] >> 40) & mask);
    limb[3 * i + 2] = (int64_t)(v[i] >> 80);
  }
  dm_status s = dm_allsum_i64_array(limb, 3 * n, comm);
  if (s == DM_OK)
    for (int64_t i = 0; i < n; i++)
      /* Multiplied, not shifted: the top limb is signed, and shifting a
       * negative value left is undefined in C. */
      v[i] = (i128)limb[3 * i] + (i128)limb[3 * i + 1] * ((i128)1 << 40) +
             (i128)limb[3 * i + 2] * ((i128)1 << 80);
  free(limb);
  return s;
}

/* Fitting state between dm_transform_begin and the last end_pass. */
struct dm_transform_fit {
  int pass;         /* 1: moments, 2: covariance */
  dm_status err;    /* first local error, agreed at the end of the pass */
  int64_t n_local;  /* rows added this pass */
  i128 *mom;        /* pass 1: d sums, then d sums of squares */
  i128 *cov;        /* pass 2: d x d (upper triangle used), then d column sums */
  double *blk;      /* COV_BLOCK x d quantised standardised rows */
  double *c;        /* d x d block product */
};

static void fit_state_free(struct dm_transform_fit *f)
{
  if (!f)
    return;
  free(f->mom);
  free(f->cov);
  free(f->blk);
  free(f->c);
  free(f);
}

void dm_transform_free(dm_transform *t)
{
  if (!t)
    return;
  free(t->mean);
  free(t->scale);
  free(t->pca);
  free(t->pca_var);
  fit_state_free(t->fit);
  memset(t, 0, sizeof *t);
}

dm_status dm_transform_begin(dm_transform *t, const dm_feature_spec *spec, int pca_dim)
{
  memset(t, 0, sizeof *t);
  int d = 0;
  DM_FORWARD(dm_features_dim(spec, &d));
  if (pca_dim < 0 || pca_dim > d)
    return dm_error(DM_ERR_ARG, "PCA dimension %d outside 0..%d (the feature set has %d columns)",
                    pca_dim, d, d);
  t->spec = *spec;
  t->dim_in = d;
  t->pca_dim = pca_dim;
  t->dim = pca_dim > 0 ? pca_dim : d;
  t->mean = calloc((size_t)d, sizeof(double));
  t->scale = calloc((size_t)d, sizeof(double));
  t->fit = calloc(1, sizeof *t->fit);
  if (t->fit)
    t->fit->mom = calloc((size_t)(2 * d), sizeof(i128));
  if (pca_dim > 0) {
    t->pca = calloc((size_t)pca_dim * d, sizeof(double));
    t->pca_var = calloc((size_t)pca_dim, sizeof(double));
  }
  if (!t->mean || !t->scale || !t->fit || !t->fit->mom ||
      (pca_dim > 0 && (!t->pca || !t->pca_var))) {
    dm_transform_free(t);
    return dm_error(DM_ERR_NOMEM, "no memory for the feature transform");
  }
  t->fit->pass = 1;
  return DM_OK;
}

static void add_moments(dm_transform *t, const float *raw, int64_t n)
{
  struct dm_transform_fit *f = t->fit;
  int d = t->dim_in;
  const double q = (double)(1 << RAW_FRAC);
  for (int64_t i = 0; i < n; i++) {
    const float *row = raw + i * d;
    for (int j = 0; j < d; j++) {
      double x = row[j];
      if (!(fabs(x) <= RAW_LIMIT)) {
        char name[64];
        dm_features_column_name(&t->spec, j, name, sizeof name);
        f->err = dm_error(DM_ERR_NUMERIC, "feature %s has a value beyond +-%g or not finite",
                          name, RAW_LIMIT);
        return;
      }
      int64_t v = llrint(x * q);
      f->mom[j] += v;
      f->mom[d + j] += (i128)v * v;
    }
  }
}

static void standardise_row(const dm_transform *t, const float *row, double *z)
{
  for (int j = 0; j < t->dim_in; j++)
    z[j] = ((double)row[j] - t->mean[j]) / t->scale[j];
}

static void add_cov(dm_transform *t, const float *raw, int64_t n)
{
  struct dm_transform_fit *f = t->fit;
  int d = t->dim_in;
  size_t dd = (size_t)d * d;
  const double q = (double)(1 << STD_FRAC);
  double z[DM_FEATURES_K_MAX * 13 + 3];
  for (int64_t b0 = 0; b0 < n; b0 += COV_BLOCK) {
    int64_t nb = n - b0 < COV_BLOCK ? n - b0 : COV_BLOCK;
    for (int64_t i = 0; i < nb; i++) {
      standardise_row(t, raw + (b0 + i) * d, z);
      for (int j = 0; j < d; j++) {
        double v = fmin(fmax(z[j], -STD_CLAMP), STD_CLAMP);
        f->blk[i * d + j] = nearbyint(v * q);
      }
    }
    memset(f->c, 0, dd * sizeof *f->c);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, (int)nb, 1.0, f->blk, d, 0.0, f->c, d);
    for (int i = 0; i < d; i++)
      for (int j = i; j < d; j++)
        f->cov[(size_t)i * d + j] += (int64_t)f->c[(size_t)i * d + j];
    for (int64_t i = 0; i < nb; i++)
      for (int j = 0; j < d; j++)
        f->cov[dd + j] += (int64_t)f->blk[i * d + j];
  }
}

dm_status dm_transform_add(dm_transform *t, const float *raw, int64_t n)
{
  struct dm_transform_fit *f = t->fit;
  if (!f)
    return dm_error(DM_ERR_INTERNAL, "dm_transform_add outside a fit");
  if (f->err == DM_OK) {
    f->n_local += n;
    if (f->pass == 1)
      add_moments(t, raw, n);
    else
      add_cov(t, raw, n);
  }
  return f->err;
}

static dm_status finish_moments(dm_transform *t, MPI_Comm comm)
{
  struct dm_transform_fit *f = t->fit;
  int d = t->dim_in;
  DM_FORWARD(allsum_i128(f->mom, 2 * d, comm));
  long double n = (long double)t->n_fit, sc = (long double)(1 << RAW_FRAC);
  for (int j = 0; j < d; j++) {
    long double m = (long double)f->mom[j] / n;
    long double var = (long double)f->mom[d + j] / n - m * m;
    t->mean[j] = (double)(m / sc);
    double sd = var > 0 ? (double)(sqrtl(var) / sc) : 0.0;
    /* A constant column carries no information; scale 1 keeps it at zero
     * instead of dividing by ~0. */
    t->scale[j] = sd > 1e-9 * fmax(1.0, fabs(t->mean[j])) ? sd : 1.0;
  }
  return DM_OK;
}

static dm_status finish_cov(dm_transform *t, MPI_Comm comm)
{
  struct dm_transform_fit *f = t->fit;
  int d = t->dim_in;
  size_t dd = (size_t)d * d;
  DM_FORWARD(allsum_i128(f->cov, (int64_t)(dd + d), comm));
  double *cov = malloc(dd * sizeof *cov);
  if (!cov)
    return dm_error(DM_ERR_NOMEM, "no memory for a %d x %d covariance", d, d);
  long double n = (long double)t->n_fit, q = (long double)(1 << STD_FRAC);
  for (int i = 0; i < d; i++)
    for (int j = i; j < d; j++) {
      long double mi = (long double)f->cov[dd + i] / n, mj = (long double)f->cov[dd + j] / n;
      double v = (double)(((long double)f->cov[(size_t)i * d + j] / n - mi * mj) / (q * q));
      cov[(size_t)i * d + j] = cov[(size_t)j * d + i] = v;
    }
  dm_status s = dm_pca_from_cov(cov, d, t->pca_dim, t->pca, t->pca_var, &t->pca_explained);
  free(cov);
  return s;
}

dm_status dm_transform_end_pass(dm_transform *t, MPI_Comm comm, int *again)
{
  struct dm_transform_fit *f = t->fit;
  *again = 0;
  dm_status s = f ? f->err : dm_error(DM_ERR_INTERNAL, "dm_transform_end_pass outside a fit");
  s = dm_agree(s, comm);
  if (s != DM_OK)
    goto fail;
  int64_t n = dm_allsum_i64(f->n_local, comm);
  if (f->pass == 1) {
    t->n_fit = n;
    if (n < 2) {
      s = dm_error(DM_ERR_NUMERIC, "%lld training rows: need at least 2 to fit the transform",
                   (long long)n);
      goto fail;
    }
    s = dm_agree(finish_moments(t, comm), comm);
    if (s != DM_OK)
      goto fail;
    if (t->pca_dim == 0) {
      t->pca_explained = 1.0;
      fit_state_free(f);
      t->fit = NULL;
      return DM_OK;
    }
    int d = t->dim_in;
    f->pass = 2;
    f->n_local = 0;
    f->cov = calloc((size_t)d * d + d, sizeof(i128));
    f->blk = malloc((size_t)COV_BLOCK * d * sizeof(double));
    f->c = malloc((size_t)d * d * sizeof(double));
    s = f->cov && f->blk && f->c ? DM_OK
                                 : dm_error(DM_ERR_NOMEM, "no memory for a %d x %d covariance",
                                            d, d);
    s = dm_agree(s, comm);
    if (s != DM_OK)
      goto fail;
    *again = 1;
    return DM_OK;
  }
  if (n != t->n_fit) {
    s = dm_error(DM_ERR_INTERNAL, "second pass saw %lld rows, first %lld", (long long)n,
                 (long long)t->n_fit);
    goto fail;
  }
  /* Every rank solves the same eigenproblem from the same integers. */
  s = dm_agree(finish_cov(t, comm), comm);
  if (s != DM_OK)
    goto fail;
  fit_state_free(f);
  t->fit = NULL;
  return DM_OK;
fail:
  dm_transform_free(t);
  return s;
}

dm_status dm_transform_fit(dm_transform *t, const dm_feature_spec *spec, int pca_dim,
                           const float *raw, int64_t n_local, MPI_Comm comm)
{
  dm_status s = dm_agree(dm_transform_begin(t, spec, pca_dim), comm);
  if (s != DM_OK) {
    dm_transform_free(t);
    return s;
  }
  int again = 1;
  while (again) {
    dm_transform_add(t, raw, n_local);
    DM_FORWARD(dm_transform_end_pass(t, comm, &again));
  }
  return DM_OK;
}

void dm_transform_apply(const dm_transform *t, const float *raw, int64_t n, float *out)
{
  int d = t->dim_in, D = t->pca_dim;
  if (D == 0) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
      for (int j = 0; j < d; j++)
        out[i * d + j] = (float)(((double)raw[i * d + j] - t->mean[j]) / t->scale[j]);
    return;
  }
#pragma omp parallel
  {
    double z[DM_FEATURES_K_MAX * 13 + 3];
    double *zz = d <= (int)(sizeof z / sizeof z[0]) ? z : malloc((size_t)d * sizeof *zz);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; i++) {
      standardise_row(t, raw + i * d, zz);
      for (int c = 0; c < D; c++) {
        const double *w = t->pca + (size_t)c * d;
        double acc = 0;
        for (int j = 0; j < d; j++)
          acc += w[j] * zz[j];
        out[i * D + c] = (float)(acc / sqrt(t->pca_var[c]));
      }
    }
    if (zz != z)
      free(zz);
  }
}

/* ---- file I/O --------------------------------------------------------------- */

dm_status dm_transform_save(const dm_transform *t, hid_t loc, const char *path, MPI_Comm comm)
{
  DM_FORWARD(dm_h5_group_ensure(loc, path));
  hid_t g = H5Gopen2(loc, path, H5P_DEFAULT);
  if (g < 0)
    return dm_error(DM_ERR_HDF5, "cannot open group %s", path);
  dm_status s = DM_OK;
  char **names = calloc((size_t)t->dim_in, sizeof(char *));
  char *text = calloc((size_t)t->dim_in, 64);
  if (!names || !text)
    s = dm_error(DM_ERR_NOMEM, "no memory for column names");
  for (int j = 0; s == DM_OK && j < t->dim_in; j++) {
    names[j] = text + (size_t)j * 64;
    dm_features_column_name(&t->spec, j, names[j], 64);
  }
  int64_t d1[1] = {t->dim_in}, d2[2] = {t->pca_dim, t->dim_in}, dp[1] = {t->pca_dim};
  if (s == DM_OK)
    s = dm_h5_attr_set_str(g, "kind", dm_feature_kind_name(t->spec.kind));
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(g, "k_objects", t->spec.k_objects);
  if (s == DM_OK)
    s = dm_h5_attr_set_str(g, "phi_mode", t->spec.phi_mode == DM_PHI_SINCOS ? "sincos" : "raw");
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(g, "dim_in", t->dim_in);
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(g, "dim", t->dim);
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(g, "pca_dim", t->pca_dim);
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(g, "n_fit", t->n_fit);
  if (s == DM_OK)
    s = dm_h5_attr_set_f64(g, "pca_explained", t->pca_explained);
  if (s == DM_OK)
    s = dm_h5_array_write(g, "mean", H5T_NATIVE_DOUBLE, 1, d1, t->mean, comm);
  if (s == DM_OK)
    s = dm_h5_array_write(g, "scale", H5T_NATIVE_DOUBLE, 1, d1, t->scale, comm);
  if (s == DM_OK)
    s = dm_h5_strings_write(g, "columns", (const char *const *)names, t->dim_in, comm);
  if (s == DM_OK && t->pca_dim > 0)
    s = dm_h5_array_write(g, "pca", H5T_NATIVE_DOUBLE, 2, d2, t->pca, comm);
  if (s == DM_OK && t->pca_dim > 0)
    s = dm_h5_array_write(g, "pca_var", H5T_NATIVE_DOUBLE, 1, dp, t->pca_var, comm);
  free(names);
  free(text);
  H5Gclose(g);
  return s;
}

static dm_status read_f64(hid_t g, const char *name, int want_nd, int64_t d0, int64_t d1,
                          double **out)
{
  int nd = 0;
  int64_t dims[4] = {0}, count = 0;
  void *buf = NULL;
  DM_FORWARD(dm_h5_array_read(g, name, H5T_NATIVE_DOUBLE, &nd, dims, &count, &buf));
  if (nd != want_nd || dims[0] != d0 || (want_nd == 2 && dims[1] != d1)) {
    free(buf);
    return dm_error(DM_ERR_SCHEMA, "features/%s has the wrong shape", name);
  }
  for (int64_t i = 0; i < count; i++)
    if (!isfinite(((double *)buf)[i])) {
      free(buf);
      return dm_error(DM_ERR_SCHEMA, "features/%s holds a non-finite value", name);
    }
  *out = buf;
  return DM_OK;
}

static dm_status load_inner(dm_transform *t, hid_t g)
{
  char kind[32], phi[32];
  int64_t k = 0, dim_in = 0, dim = 0, pca_dim = 0;
  if (dm_h5_attr_get_str(g, "kind", kind, sizeof kind) != DM_OK ||
      dm_h5_attr_get_str(g, "phi_mode", phi, sizeof phi) != DM_OK ||
      dm_h5_attr_get_i64(g, "k_objects", &k) != DM_OK ||
      dm_h5_attr_get_i64(g, "dim_in", &dim_in) != DM_OK ||
      dm_h5_attr_get_i64(g, "dim", &dim) != DM_OK ||
      dm_h5_attr_get_i64(g, "pca_dim", &pca_dim) != DM_OK ||
      dm_h5_attr_get_i64(g, "n_fit", &t->n_fit) != DM_OK ||
      dm_h5_attr_get_f64(g, "pca_explained", &t->pca_explained) != DM_OK)
    return dm_error(DM_ERR_SCHEMA, "features: an attribute (kind, phi_mode, k_objects, dim_in, "
                                   "dim, pca_dim, n_fit, pca_explained) is missing");
  if (dm_feature_kind_parse(kind, &t->spec.kind) != DM_OK)
    return dm_error(DM_ERR_SCHEMA, "features: unknown kind '%s'", kind);
  if (strcmp(phi, "raw") && strcmp(phi, "sincos"))
    return dm_error(DM_ERR_SCHEMA, "features: unknown phi_mode '%s'", phi);
  t->spec.phi_mode = strcmp(phi, "sincos") ? DM_PHI_RAW : DM_PHI_SINCOS;
  t->spec.k_objects = (int)(k >= 1 && k <= DM_FEATURES_K_MAX ? k : 0);
  int want = 0;
  if (t->spec.kind == DM_FEATURES_HIGHLEVEL && (k < 1 || k > DM_FEATURES_K_MAX))
    t->spec.k_objects = DM_FEATURES_K_DEFAULT;
  if (dm_features_dim(&t->spec, &want) != DM_OK || want != dim_in)
    return dm_error(DM_ERR_SCHEMA, "features: dim_in %lld does not match the feature spec",
                    (long long)dim_in);
  if (pca_dim < 0 || pca_dim > dim_in || dim != (pca_dim > 0 ? pca_dim : dim_in))
    return dm_error(DM_ERR_SCHEMA, "features: inconsistent dim %lld / pca_dim %lld",
                    (long long)dim, (long long)pca_dim);
  t->dim_in = (int)dim_in;
  t->dim = (int)dim;
  t->pca_dim = (int)pca_dim;
  DM_FORWARD(read_f64(g, "mean", 1, dim_in, 0, &t->mean));
  DM_FORWARD(read_f64(g, "scale", 1, dim_in, 0, &t->scale));
  for (int j = 0; j < t->dim_in; j++)
    if (!(t->scale[j] > 0))
      return dm_error(DM_ERR_SCHEMA, "features/scale[%d] is not positive", j);
  if (pca_dim > 0) {
    DM_FORWARD(read_f64(g, "pca", 2, pca_dim, dim_in, &t->pca));
    DM_FORWARD(read_f64(g, "pca_var", 1, pca_dim, 0, &t->pca_var));
    for (int c = 0; c < t->pca_dim; c++)
      if (!(t->pca_var[c] > 0))
        return dm_error(DM_ERR_SCHEMA, "features/pca_var[%d] is not positive", c);
  }
  return DM_OK;
}

dm_status dm_transform_load(dm_transform *t, hid_t loc, const char *path)
{
  memset(t, 0, sizeof *t);
  hid_t g = H5Gopen2(loc, path, H5P_DEFAULT);
  if (g < 0)
    return dm_error(DM_ERR_SCHEMA, "group /%s is missing", path);
  dm_status s = load_inner(t, g);
  H5Gclose(g);
  if (s != DM_OK)
    dm_transform_free(t);
  return s;
}

void dm_transform_describe(const dm_transform *t, FILE *out)
{
  fprintf(out, "  features:       %s", dm_feature_kind_name(t->spec.kind));
  if (t->spec.kind == DM_FEATURES_OBJECTS)
    fprintf(out, " (K = %d, phi %s)", t->spec.k_objects,
            t->spec.phi_mode == DM_PHI_SINCOS ? "sin/cos" : "raw");
  fprintf(out, ", %d columns\n", t->dim_in);
  fprintf(out, "  standardised:   on %lld training rows\n", (long long)t->n_fit);
  if (t->pca_dim > 0)
    fprintf(out, "  PCA:            %d components (whitened), %.2f%% of the variance\n",
            t->pca_dim, 100.0 * t->pca_explained);
  else
    fprintf(out, "  PCA:            none\n");
  fprintf(out, "  model inputs:   %d columns\n", t->dim);
}
