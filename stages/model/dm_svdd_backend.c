/* dm_svdd_backend.c - Deep SVDD as a model backend: scoring, the model group
 * of the model file, description, and the registry table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_h5.h"
#include "dm_svdd_impl.h"

/* Rows per scoring round: a multiple of the threads' blocks of 1024 rows
 * (dm_svdd_dist2_rows), large enough to keep every thread busy. */
#define DM_SVDD_SCORE_BLOCK 65536

void dm_svdd_model_free(dm_svdd_model *m)
{
  if (!m)
    return;
  for (int k = 0; m->nets && k < m->n_members; k++)
    dm_svdd_net_free(&m->nets[k]);
  free(m->nets);
  free(m->c);
  free(m->r2);
  free(m);
}

dm_status dm_svdd_score(const dm_svdd_model *m, const float *x, int64_t n, int dim,
                        double *score)
{
  if (n <= 0)
    return DM_OK;
  const dm_svdd_net *net0 = &m->nets[0];
  if (dim != net0->dims[0])
    return dm_error(DM_ERR_ARG, "svdd model takes %d input columns; got rows of %d",
                    net0->dims[0], dim);
  int out = net0->dims[net0->n_layers];
  int64_t cap = n < DM_SVDD_SCORE_BLOCK ? n : DM_SVDD_SCORE_BLOCK;
  float *d2 = malloc((size_t)cap * sizeof(float));
  if (!d2)
    return dm_error(DM_ERR_NOMEM, "svdd scoring buffer");
  dm_status s = DM_OK;
  /* Blocks bound the buffer; members are added in order for every row. */
  for (int64_t b = 0; s == DM_OK && b < n; b += cap) {
    int64_t nb = n - b < cap ? n - b : cap;
    for (int64_t i = 0; i < nb; i++)
      score[b + i] = 0.0;
    for (int k = 0; s == DM_OK && k < m->n_members; k++) {
      s = dm_svdd_dist2_rows(&m->nets[k], m->c + (size_t)k * out, x + b * dim, nb, d2);
      for (int64_t i = 0; s == DM_OK && i < nb; i++)
        score[b + i] += d2[i];
    }
    if (m->n_members > 1)
      for (int64_t i = 0; i < nb; i++)
        score[b + i] /= m->n_members;
  }
  free(d2);
  return s;
}

void dm_svdd_report_print(const dm_svdd_report *r, FILE *out)
{
  fprintf(out, "Deep SVDD training\n");
  fprintf(out, "  %-24s %lld\n", "training events", (long long)r->n_train);
  fprintf(out, "  %-24s %lld per member\n", "parameters", (long long)r->n_params);
  fprintf(out, "  %-24s %d x %d epochs (%d resumed from checkpoint)\n", "members x epochs",
          r->n_members, r->epochs, r->resumed_epochs);
  fprintf(out, "  %-24s %.2f s\n", "training time", r->seconds);
  fprintf(out, "  %-24s %.0f events/s, %.1f GFLOP/s\n", "training rate", r->events_per_s,
          r->gflops);
  if (r->resyncs)
    fprintf(out, "  %-24s %d\n", "state re-broadcasts", r->resyncs);
  fprintf(out, "  %-7s %12s %10s %12s %12s %10s  %s\n", "member", "final loss", "R",
          "score mean", "score std", "distinct", "status");
  for (int k = 0; k < r->n_members; k++)
    fprintf(out, "  %-7d %12.6g %10.4g %12.6g %12.6g %10lld  %s\n", k, r->final_loss[k], r->r[k],
            r->score_mean[k], r->score_std[k], (long long)r->n_distinct[k],
            r->collapsed[k] ? "COLLAPSED" : "ok");
}

/* ---- backend table glue ---------------------------------------------------------- */

static void add_array(cJSON *obj, const char *name, const double *v, int n)
{
  cJSON *a = cJSON_AddArrayToObject(obj, name);
  for (int i = 0; a && i < n; i++)
    cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
}

static dm_status be_fit(const dm_model_data *train, const void *opts, MPI_Comm comm, void **state,
                        cJSON *info)
{
  dm_svdd_report rep;
  dm_svdd_model *m = NULL;
  DM_FORWARD(dm_svdd_fit(train, (const dm_svdd_opts *)opts, comm, &m, &rep));
  *state = m;
  if (info) {
    cJSON_AddNumberToObject(info, "members", rep.n_members);
    cJSON_AddNumberToObject(info, "epochs", rep.epochs);
    cJSON_AddNumberToObject(info, "resumed_epochs", rep.resumed_epochs);
    cJSON_AddNumberToObject(info, "parameters", (double)rep.n_params);
    cJSON_AddNumberToObject(info, "train_seconds", rep.seconds);
    cJSON_AddNumberToObject(info, "train_events_per_s", rep.events_per_s);
    cJSON_AddNumberToObject(info, "train_gflops", rep.gflops);
    cJSON_AddNumberToObject(info, "resyncs", rep.resyncs);
    add_array(info, "final_loss", rep.final_loss, rep.n_members);
    add_array(info, "radius", rep.r, rep.n_members);
    add_array(info, "score_mean", rep.score_mean, rep.n_members);
    add_array(info, "score_std", rep.score_std, rep.n_members);
    double d[DM_SVDD_MAX_ENSEMBLE], c[DM_SVDD_MAX_ENSEMBLE];
    for (int k = 0; k < rep.n_members; k++) {
      d[k] = (double)rep.n_distinct[k];
      c[k] = rep.collapsed[k];
    }
    add_array(info, "distinct_scores", d, rep.n_members);
    add_array(info, "collapsed", c, rep.n_members);
    cJSON_AddBoolToObject(info, "any_collapsed", rep.any_collapsed);
    cJSON_AddNumberToObject(info, "distinct_of", (double)rep.distinct_of);
    const dm_svdd_schedule *sc = &rep.sched;
    cJSON_AddNumberToObject(info, "ranks", sc->ranks);
    cJSON_AddNumberToObject(info, "min_rows_per_rank", sc->min_rows_per_rank);
    cJSON_AddNumberToObject(info, "batch_effective", (double)sc->batch_eff);
    cJSON_AddNumberToObject(info, "lr_effective", sc->lr_eff);
    cJSON_AddNumberToObject(info, "lr_warm_up", sc->lr_warm_up);
    cJSON_AddStringToObject(info, "pool", sc->streamed ? "streamed" : "memory");
    if (sc->streamed) {
      cJSON_AddNumberToObject(info, "pool_mb", (double)sc->pool_mb);
      cJSON_AddNumberToObject(info, "pool_block_events", (double)sc->block_events);
      cJSON_AddNumberToObject(info, "pool_window_blocks", (double)sc->window_blocks);
    }
  }
  return DM_OK;
}

static dm_status be_score(void *state, const float *x, int64_t n, int dim, double *score,
                          MPI_Comm comm)
{
  (void)comm;
  return dm_svdd_score((const dm_svdd_model *)state, x, n, dim, score);
}

static dm_status be_save(const void *state, hid_t g, MPI_Comm comm)
{
  const dm_svdd_model *m = state;
  const dm_svdd_net *net = &m->nets[0];
  int out = net->dims[net->n_layers];
  double dims[DM_SVDD_MAX_LAYERS + 1];
  for (int l = 0; l <= net->n_layers; l++)
    dims[l] = net->dims[l];
  DM_FORWARD(dm_h5_attr_set_str(g, "objective", dm_svdd_objective_name(m->objective)));
  DM_FORWARD(dm_h5_attr_set_f64(g, "nu", m->nu));
  DM_FORWARD(dm_h5_attr_set_i64(g, "n_members", m->n_members));
  DM_FORWARD(dm_h5_attr_set_i64(g, "n_layers", net->n_layers));
  DM_FORWARD(dm_h5_attr_set_f64_array(g, "dims", dims, net->n_layers + 1));
  DM_FORWARD(dm_h5_attr_set_f64(g, "leak", DM_SVDD_LEAK));
  const dm_svdd_schedule *sc = &m->sched;
  DM_FORWARD(dm_h5_attr_set_i64(g, "ranks", sc->ranks));
  DM_FORWARD(dm_h5_attr_set_i64(g, "batch", sc->batch));
  DM_FORWARD(dm_h5_attr_set_i64(g, "batch_effective", sc->batch_eff));
  DM_FORWARD(dm_h5_attr_set_f64(g, "lr", sc->lr));
  DM_FORWARD(dm_h5_attr_set_f64(g, "lr_effective", sc->lr_eff));
  DM_FORWARD(dm_h5_attr_set_i64(g, "lr_warm_up", sc->lr_warm_up));
  DM_FORWARD(dm_h5_attr_set_i64(g, "min_rows_per_rank", sc->min_rows_per_rank));
  DM_FORWARD(dm_h5_attr_set_str(g, "pool", sc->streamed ? "streamed" : "memory"));
  DM_FORWARD(dm_h5_attr_set_i64(g, "pool_mb", sc->pool_mb));
  DM_FORWARD(dm_h5_attr_set_i64(g, "pool_block_events", sc->block_events));
  DM_FORWARD(dm_h5_attr_set_i64(g, "pool_window_blocks", sc->window_blocks));
  size_t P = (size_t)net->n_params;
  float *w = malloc((size_t)m->n_members * P * sizeof(float));
  dm_status s = w ? DM_OK : dm_error(DM_ERR_NOMEM, "svdd save: weights");
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    free(w);
    return s;
  }
  for (int k = 0; k < m->n_members; k++)
    memcpy(w + (size_t)k * P, m->nets[k].w, P * sizeof(float));
  int64_t wd[2] = {m->n_members, (int64_t)P}, cd[2] = {m->n_members, out}, rd[1] = {m->n_members};
  s = dm_h5_array_write(g, "weights", H5T_NATIVE_FLOAT, 2, wd, w, comm);
  free(w);
  DM_FORWARD(s);
  DM_FORWARD(dm_h5_array_write(g, "centre", H5T_NATIVE_FLOAT, 2, cd, m->c, comm));
  return dm_h5_array_write(g, "r2", H5T_NATIVE_DOUBLE, 1, rd, m->r2, comm);
}

static dm_status read_dims(hid_t g, int *n_layers, int *dims)
{
  int64_t nl = 0;
  if (dm_h5_attr_get_i64(g, "n_layers", &nl) != DM_OK)
    return dm_error(DM_ERR_SCHEMA, "attribute n_layers missing");
  if (nl < 1 || nl > DM_SVDD_MAX_LAYERS)
    return dm_error(DM_ERR_SCHEMA, "attribute n_layers = %lld (allowed 1..%d)", (long long)nl,
                    DM_SVDD_MAX_LAYERS);
  hid_t a = H5Aopen(g, "dims", H5P_DEFAULT);
  if (a < 0)
    return dm_error(DM_ERR_SCHEMA, "attribute dims missing");
  hid_t sp = H5Aget_space(a);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  double d[DM_SVDD_MAX_LAYERS + 1];
  herr_t rc = -1;
  if (np == nl + 1)
    rc = H5Aread(a, H5T_NATIVE_DOUBLE, d);
  H5Sclose(sp);
  H5Aclose(a);
  if (np != nl + 1)
    return dm_error(DM_ERR_SCHEMA, "attribute dims has %lld values; n_layers = %lld needs %lld",
                    (long long)np, (long long)nl, (long long)nl + 1);
  if (rc < 0)
    return dm_error(DM_ERR_SCHEMA, "attribute dims cannot be read as numbers");
  for (int l = 0; l <= nl; l++) {
    if (!(d[l] >= 1 && d[l] <= (1 << 20)) || d[l] != floor(d[l]))
      return dm_error(DM_ERR_SCHEMA, "attribute dims[%d] = %g is not a width in 1..%d", l, d[l],
                      1 << 20);
    dims[l] = (int)d[l];
  }
  *n_layers = (int)nl;
  return DM_OK;
}

static dm_status load_checked(hid_t g, dm_svdd_model *m, float **w, float **c, double **r2)
{
  char obj[32] = "";
  int64_t k = 0;
  int n_layers = 0, dims[DM_SVDD_MAX_LAYERS + 1];
  if (dm_h5_attr_get_str(g, "objective", obj, sizeof obj) != DM_OK ||
      dm_h5_attr_get_f64(g, "nu", &m->nu) != DM_OK ||
      dm_h5_attr_get_i64(g, "n_members", &k) != DM_OK)
    return dm_error(DM_ERR_SCHEMA, "attribute objective, nu or n_members missing");
  if (dm_svdd_objective_parse(obj, &m->objective) != DM_OK)
    return dm_error(DM_ERR_SCHEMA, "attribute objective = '%s' (known: one-class, soft-boundary)",
                    obj);
  if (k < 1 || k > DM_SVDD_MAX_ENSEMBLE)
    return dm_error(DM_ERR_SCHEMA, "attribute n_members = %lld (allowed 1..%d)", (long long)k,
                    DM_SVDD_MAX_ENSEMBLE);
  DM_FORWARD(read_dims(g, &n_layers, dims));
  m->n_members = (int)k;
  m->nets = calloc((size_t)k, sizeof(dm_svdd_net));
  if (!m->nets)
    return dm_error(DM_ERR_NOMEM, "svdd model of %lld members", (long long)k);
  for (int i = 0; i < k; i++)
    DM_FORWARD(dm_svdd_net_alloc(&m->nets[i], n_layers, dims));
  int64_t P = m->nets[0].n_params, out = dims[n_layers];
  int nd = 0;
  int64_t sh[4] = {0}, count = 0;
  struct {
    const char *name;
    hid_t type;
    void **buf;
    int nd;
    int64_t d0, d1;
  } want[3] = {{"weights", H5T_NATIVE_FLOAT, (void **)w, 2, k, P},
               {"centre", H5T_NATIVE_FLOAT, (void **)c, 2, k, out},
               {"r2", H5T_NATIVE_DOUBLE, (void **)r2, 1, k, 1}};
  for (int a = 0; a < 3; a++) {
    DM_FORWARD(dm_h5_array_read(g, want[a].name, want[a].type, &nd, sh, &count, want[a].buf));
    if (nd != want[a].nd || sh[0] != want[a].d0 || (nd == 2 && sh[1] != want[a].d1))
      return dm_error(DM_ERR_SCHEMA, "dataset %s has shape %lld x %lld; expected %lld x %lld",
                      want[a].name, (long long)sh[0], (long long)(nd == 2 ? sh[1] : 1),
                      (long long)want[a].d0, (long long)want[a].d1);
  }
  for (int64_t i = 0; i < k * P; i++)
    if (!isfinite((*w)[i]))
      return dm_error(DM_ERR_SCHEMA, "dataset weights: value %lld is not finite", (long long)i);
  for (int64_t i = 0; i < k * out; i++)
    if (!isfinite((*c)[i]))
      return dm_error(DM_ERR_SCHEMA, "dataset centre: value %lld is not finite", (long long)i);
  for (int64_t i = 0; i < k; i++)
    if (!((*r2)[i] >= 0) || !isfinite((*r2)[i]))
      return dm_error(DM_ERR_SCHEMA, "dataset r2: value %lld is negative or not finite",
                      (long long)i);
  for (int i = 0; i < k; i++)
    memcpy(m->nets[i].w, *w + (size_t)i * P, (size_t)P * sizeof(float));
  m->c = *c;
  m->r2 = *r2;
  *c = NULL;
  *r2 = NULL;
  return DM_OK;
}

/* The schedule attributes, when the file has them (older files do not:
 * the record stays zero and describe leaves it out). */
static void load_schedule(hid_t g, dm_svdd_schedule *sc)
{
  memset(sc, 0, sizeof *sc);
  if (H5Aexists(g, "batch_effective") <= 0)
    return;
  int64_t v[8] = {0};
  const char *in[8] = {"ranks", "batch", "batch_effective", "lr_warm_up", "min_rows_per_rank",
                       "pool_mb", "pool_block_events", "pool_window_blocks"};
  for (int i = 0; i < 8; i++)
    if (dm_h5_attr_get_i64(g, in[i], &v[i]) != DM_OK)
      dm_error_clear();
  sc->ranks = (int)v[0];
  sc->batch = v[1];
  sc->batch_eff = v[2];
  sc->lr_warm_up = (int)v[3];
  sc->min_rows_per_rank = (int)v[4];
  sc->pool_mb = v[5];
  sc->block_events = v[6];
  sc->window_blocks = v[7];
  if (dm_h5_attr_get_f64(g, "lr", &sc->lr) != DM_OK ||
      dm_h5_attr_get_f64(g, "lr_effective", &sc->lr_eff) != DM_OK)
    dm_error_clear();
  char pool[16] = "";
  if (dm_h5_attr_get_str(g, "pool", pool, sizeof pool) != DM_OK)
    dm_error_clear();
  sc->streamed = strcmp(pool, "streamed") == 0;
}

static dm_status be_load(hid_t g, int version, MPI_Comm comm, void **state)
{
  (void)version;
  *state = NULL;
  dm_svdd_model *m = calloc(1, sizeof(*m));
  if (!m)
    return dm_agree(dm_error(DM_ERR_NOMEM, "svdd model"), comm);
  float *w = NULL, *c = NULL;
  double *r2 = NULL;
  /* Every read here is metadata or a whole small array read by every rank,
   * and the file is the same on every rank: so is the outcome. */
  dm_status s = load_checked(g, m, &w, &c, &r2);
  free(w);
  free(c);
  free(r2);
  if (s != DM_OK) {
    dm_svdd_model_free(m);
    return s;
  }
  load_schedule(g, &m->sched);
  *state = m;
  return DM_OK;
}

static void be_describe(const void *state, FILE *out)
{
  const dm_svdd_model *m = state;
  const dm_svdd_net *net = &m->nets[0];
  fprintf(out, "  svdd network:   ");
  for (int l = 0; l <= net->n_layers; l++)
    fprintf(out, "%s%d", l ? "-" : "", net->dims[l]);
  fprintf(out, " (no bias, leaky ReLU %.2g), %lld parameters\n", (double)DM_SVDD_LEAK,
          (long long)net->n_params);
  fprintf(out, "  svdd objective: %s", dm_svdd_objective_name(m->objective));
  if (m->objective == DM_SVDD_SOFT_BOUNDARY)
    fprintf(out, " (nu %g)", m->nu);
  fprintf(out, ", %d member%s\n", m->n_members, m->n_members > 1 ? "s (score = mean)" : "");
  const dm_svdd_schedule *sc = &m->sched;
  if (sc->batch_eff > 0) {
    fprintf(out, "  svdd training:  %d rank%s, batch %lld", sc->ranks, sc->ranks == 1 ? "" : "s",
            (long long)sc->batch_eff);
    if (sc->batch_eff != sc->batch)
      fprintf(out, " (asked %lld; %d rows per rank minimum), lr %g (asked %g, %d-epoch warm-up)",
              (long long)sc->batch, sc->min_rows_per_rank, sc->lr_eff, sc->lr, sc->lr_warm_up);
    else
      fprintf(out, ", lr %g", sc->lr);
    if (sc->streamed)
      fprintf(out, "; pool streamed within %lld MB (windows of %lld blocks of %lld events)",
              (long long)sc->pool_mb, (long long)sc->window_blocks, (long long)sc->block_events);
    else
      fprintf(out, "; pool in memory");
    fprintf(out, "\n");
  }
  int o = net->dims[net->n_layers];
  for (int k = 0; k < m->n_members; k++) {
    double c2 = 0.0;
    for (int j = 0; j < o; j++)
      c2 += (double)m->c[(size_t)k * o + j] * m->c[(size_t)k * o + j];
    fprintf(out, "  member %-3d      |c| %.4g  R %.4g\n", k, sqrt(c2), sqrt(m->r2[k]));
  }
}

static void be_free(void *state) { dm_svdd_model_free(state); }

const dm_model_backend dm_model_backend_svdd = {
    .name = "svdd",
    .summary = "Deep SVDD: bias-free MLP mapped towards a centre c; score = |phi(x) - c|^2",
    .version = DM_SVDD_BACKEND_VERSION,
    .fit = be_fit,
    .score = be_score,
    .save = be_save,
    .load = be_load,
    .set = NULL,
    .describe = be_describe,
    .free = be_free,
    .streams = 1,
};
