/* The backend registry and the model file: transform + backend state. */
#include "dm_model.h"

#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_h5.h"
#include "dm_model_file.h"
#include "dm_prov.h"

extern const dm_model_backend dm_model_backend_kde;
extern const dm_model_backend dm_model_backend_null;
#if DM_HAVE_SVDD_BACKEND
extern const dm_model_backend dm_model_backend_svdd;
#endif

static const dm_model_backend *const registry[] = {
    &dm_model_backend_kde,
#if DM_HAVE_SVDD_BACKEND
    &dm_model_backend_svdd,
#endif
    &dm_model_backend_null,
};
#define N_BACKENDS ((int)(sizeof registry / sizeof registry[0]))

const dm_model_backend *dm_model_backend_find(const char *name)
{
  for (int i = 0; name && i < N_BACKENDS; i++)
    if (!strcmp(registry[i]->name, name))
      return registry[i];
  return NULL;
}

int dm_model_backend_count(void) { return N_BACKENDS; }

const dm_model_backend *dm_model_backend_at(int i)
{
  return i >= 0 && i < N_BACKENDS ? registry[i] : NULL;
}

void dm_model_free(dm_model *m)
{
  if (!m)
    return;
  if (m->backend && m->state)
    m->backend->free(m->state);
  dm_transform_free(&m->transform);
  dm_split_free(m->split);
  memset(m, 0, sizeof *m);
}

dm_status dm_model_save(const dm_model *m, const char *path, const char *training,
                        const char *command_line, const char *inputs, MPI_Comm comm)
{
  dm_model_file_header hdr;
  memset(&hdr, 0, sizeof hdr);
  snprintf(hdr.backend, sizeof hdr.backend, "%s", m->backend->name);
  hdr.backend_version = m->backend->version;
  snprintf(hdr.training, sizeof hdr.training, "%s", training ? training : "");
  hdr.n_train = m->n_train;
  hdr.n_train_pool = m->n_train_pool;
  hdr.seed = m->seed;
  dm_h5_out out;
  DM_FORWARD(dm_model_file_create(&out, path, &hdr, comm));
  dm_status s = dm_transform_save(&m->transform, out.file, DM_MODEL_GROUP_FEATURES, comm);
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    hid_t g = H5Gopen2(out.file, DM_MODEL_GROUP_BACKEND, H5P_DEFAULT);
    s = g >= 0 ? DM_OK : dm_error(DM_ERR_HDF5, "%s: cannot open group /model", path);
    s = dm_agree(s, comm);
    if (s == DM_OK) {
      s = dm_h5_attr_set_i64(g, "version", m->backend->version);
      if (s == DM_OK)
        s = m->backend->save(m->state, g, comm);
      H5Gclose(g);
    }
    s = dm_agree(s, comm);
  }
  if (s == DM_OK && m->split)
    s = dm_agree(dm_split_save(m->split, out.file, comm), comm);
  return dm_model_file_finish(&out, s, command_line, inputs);
}

/* LOCAL. Check every setting is KEY=VALUE, with key into key (size cap). */
static dm_status setting_key(const char *set, char *key, size_t cap)
{
  const char *eq = strchr(set, '=');
  if (!eq || eq == set || (size_t)(eq - set) >= cap)
    return dm_error(DM_ERR_ARG, "--set '%s': expected KEY=VALUE", set);
  memcpy(key, set, (size_t)(eq - set));
  key[eq - set] = '\0';
  return DM_OK;
}

dm_status dm_model_load(dm_model *m, const char *path, MPI_Comm comm)
{
  return dm_model_load_set(m, path, 0, NULL, comm);
}

dm_status dm_model_load_set(dm_model *m, const char *path, int n_set, const char *const *set,
                            MPI_Comm comm)
{
  memset(m, 0, sizeof *m);
  hid_t f = H5I_INVALID_HID;
  dm_model_file_header hdr;
  DM_FORWARD(dm_model_file_open(path, comm, &f, &hdr));
  dm_status s = DM_OK;
  m->backend = dm_model_backend_find(hdr.backend);
  if (!m->backend)
    s = dm_error(DM_ERR_UNKNOWN, "%s: model backend '%s' is not built into this dmpipe", path,
                 hdr.backend);
  else if (hdr.backend_version < 1 || hdr.backend_version > m->backend->version)
    s = dm_error(DM_ERR_SCHEMA,
                 "%s: %s model version %lld; this dmpipe reads up to version %d (upgrade dmpipe)",
                 path, hdr.backend, (long long)hdr.backend_version, m->backend->version);
  m->backend_version = (int)hdr.backend_version;
  m->n_train = hdr.n_train;
  m->n_train_pool = hdr.n_train_pool;
  m->seed = hdr.seed;
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    s = dm_transform_load(&m->transform, f, DM_MODEL_GROUP_FEATURES);
    if (s != DM_OK)
      dm_error_context("%s", path);
    s = dm_agree(s, comm);
  }
  if (s == DM_OK) {
    hid_t g = H5Gopen2(f, DM_MODEL_GROUP_BACKEND, H5P_DEFAULT);
    s = g >= 0 ? DM_OK : dm_error(DM_ERR_SCHEMA, "%s: group /model is missing", path);
    s = dm_agree(s, comm);
    if (s == DM_OK) {
      s = m->backend->load_set
              ? m->backend->load_set(g, m->backend_version, n_set, set, comm, &m->state)
              : m->backend->load(g, m->backend_version, comm, &m->state);
      if (s != DM_OK)
        dm_error_context("%s: /model", path);
      s = dm_agree(s, comm);
      H5Gclose(g);
    }
  }
  if (s == DM_OK)
    s = dm_split_load(f, path, comm, &m->split);
  dm_h5_close(f);
  /* The same settings on every rank: the same answers, no agreement needed
   * beyond the one below. */
  for (int i = 0; s == DM_OK && i < n_set; i++) {
    char key[64];
    s = setting_key(set[i], key, sizeof key);
    if (s == DM_OK && !m->backend->set)
      s = dm_error(DM_ERR_ARG, "--set %s: the %s model has no settings", key, m->backend->name);
    if (s == DM_OK)
      s = m->backend->set(m->state, key, strchr(set[i], '=') + 1);
  }
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    if (m->backend && m->state)
      m->backend->free(m->state);
    m->state = NULL;
    dm_model_free(m);
  }
  return s;
}

dm_status dm_model_score_raw(dm_model *m, const float *raw, int64_t n, float *work,
                             double *score, MPI_Comm comm)
{
  dm_transform_apply(&m->transform, raw, n, work);
  return m->backend->score(m->state, work, n, m->transform.dim, score, comm);
}

void dm_model_describe(const dm_model *m, FILE *out)
{
  fprintf(out, "  backend:        %s (version %d): %s\n", m->backend->name, m->backend_version,
          m->backend->summary);
  fprintf(out, "  trained on:     %lld rows (transform fitted on %lld), seed %llu\n",
          (long long)m->n_train, (long long)m->n_train_pool, (unsigned long long)m->seed);
  if (m->split) {
    char line[DM_PATH_MAX + 512];
    dm_split_describe(m->split, line, sizeof line);
    fprintf(out, "  training events: %s\n", line);
  } else {
    fprintf(out, "  training events: not recorded (model file of an older dmpipe)\n");
  }
  dm_transform_describe(&m->transform, out);
  m->backend->describe(m->state, out);
}

dm_status dm_model_info(const char *path, FILE *out, MPI_Comm comm)
{
  dm_model m;
  DM_FORWARD(dm_model_load(&m, path, comm));
  if (dm_rank(comm) == 0) {
    hid_t f = H5I_INVALID_HID;
    char created[64] = "", cmd[1024] = "", ver[64] = "", training[1024] = "";
    if (dm_h5_open_serial(path, 0, &f) == DM_OK) {
      dm_h5_attr_get_str(f, "created", created, sizeof created);
      dm_h5_attr_get_str(f, "command_line", cmd, sizeof cmd);
      dm_h5_attr_get_str(f, "dmpipe_version", ver, sizeof ver);
      dm_h5_attr_get_str(f, "training", training, sizeof training);
      H5Fclose(f);
    }
    fprintf(out, "%s: dmpipe model (format %s version %d)\n", path, DM_FORMAT_MODEL,
            DM_MODEL_FILE_VERSION);
    fprintf(out, "  created:        %s by dmpipe %s\n", created, ver);
    fprintf(out, "  command:        %s\n", cmd);
    if (training[0])
      fprintf(out, "  training rows:  %s\n", training);
    dm_model_describe(&m, out);
  }
  dm_model_free(&m);
  return DM_OK;
}
