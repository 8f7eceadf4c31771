/* The null backend: fits nothing, scores every row 0. It exercises the
 * model plumbing (file, train and score stages) without a real model. */
#include "dm_model.h"

static dm_status null_fit(const dm_model_data *train, const void *opts, MPI_Comm comm,
                          void **state, cJSON *info)
{
  /* A non-NULL state marks "fitted"; the value carries nothing. */
  static int fitted = 1;
  *state = &fitted;
  return DM_OK;
}

static dm_status null_score(void *state, const float *x, int64_t n, int dim, double *score,
                            MPI_Comm comm)
{
  for (int64_t i = 0; i < n; i++)
    score[i] = 0.0;
  return DM_OK;
}

static dm_status null_save(const void *state, hid_t group, MPI_Comm comm) { return DM_OK; }

static dm_status null_load(hid_t group, int version, MPI_Comm comm, void **state)
{
  return null_fit(NULL, NULL, comm, state, NULL);
}

static void null_describe(const void *state, FILE *out)
{
  fprintf(out, "  null model: every score is 0\n");
}

static void null_free(void *state) {}

const dm_model_backend dm_model_backend_null = {
    .name = "null",
    .summary = "scores every event 0 (plumbing tests)",
    .version = 1,
    .fit = null_fit,
    .score = null_score,
    .save = null_save,
    .load = null_load,
    .describe = null_describe,
    .free = null_free,
};
