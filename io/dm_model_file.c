#include "dm_model_file.h"

#include <stdio.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_prov.h"

static dm_status write_header(hid_t file, const dm_model_file_header *hdr, MPI_Comm comm)
{
  DM_FORWARD_AGREED(dm_h5_group_ensure(file, DM_MODEL_GROUP_FEATURES), comm);
  DM_FORWARD_AGREED(dm_h5_group_ensure(file, DM_MODEL_GROUP_BACKEND), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_str(file, "backend", hdr->backend), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_i64(file, "backend_version", hdr->backend_version), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_str(file, "training", hdr->training), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_i64(file, "n_train", hdr->n_train), comm);
  DM_FORWARD_AGREED(dm_h5_attr_set_i64(file, "n_train_pool", hdr->n_train_pool), comm);
  /* Seeds are unsigned 64-bit; the attribute keeps the bit pattern. */
  int64_t seed_bits;
  memcpy(&seed_bits, &hdr->seed, sizeof seed_bits);
  DM_FORWARD_AGREED(dm_h5_attr_set_i64(file, "seed", seed_bits), comm);
  return DM_OK;
}

dm_status dm_model_file_create(dm_h5_out *out, const char *path,
                               const dm_model_file_header *hdr, MPI_Comm comm)
{
  DM_FORWARD(dm_h5_out_create(out, path, comm));
  dm_status s = write_header(out->file, hdr, comm);
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    dm_h5_out_finish(out, s);
    return s;
  }
  return DM_OK;
}

dm_status dm_model_file_finish(dm_h5_out *out, dm_status local, const char *command_line,
                               const char *inputs)
{
  dm_status s = dm_agree(local, out->comm);
  if (s == DM_OK)
    s = dm_prov_write(out->file, DM_FORMAT_MODEL, DM_MODEL_FILE_VERSION, command_line, inputs);
  return dm_h5_out_finish(out, s);
}

static dm_status read_header(hid_t f, const char *path, dm_model_file_header *hdr)
{
  memset(hdr, 0, sizeof *hdr);
  DM_FORWARD(dm_prov_check(f, path, DM_FORMAT_MODEL, DM_MODEL_FILE_VERSION, NULL));
  if (dm_h5_attr_get_str(f, "backend", hdr->backend, sizeof hdr->backend) != DM_OK)
    return dm_error(DM_ERR_SCHEMA, "%s: root attribute 'backend' is missing", path);
  if (dm_h5_attr_get_i64(f, "backend_version", &hdr->backend_version) != DM_OK)
    return dm_error(DM_ERR_SCHEMA, "%s: root attribute 'backend_version' is missing", path);
  if (dm_h5_attr_get_str(f, "training", hdr->training, sizeof hdr->training) != DM_OK)
    hdr->training[0] = '\0';
  if (dm_h5_attr_get_i64(f, "n_train", &hdr->n_train) != DM_OK ||
      dm_h5_attr_get_i64(f, "n_train_pool", &hdr->n_train_pool) != DM_OK)
    return dm_error(DM_ERR_SCHEMA, "%s: root attribute 'n_train' or 'n_train_pool' is missing",
                    path);
  int64_t seed_bits = 0;
  if (dm_h5_attr_get_i64(f, "seed", &seed_bits) != DM_OK)
    return dm_error(DM_ERR_SCHEMA, "%s: root attribute 'seed' is missing", path);
  memcpy(&hdr->seed, &seed_bits, sizeof seed_bits);
  if (!dm_h5_exists(f, DM_MODEL_GROUP_FEATURES) || !dm_h5_exists(f, DM_MODEL_GROUP_BACKEND))
    return dm_error(DM_ERR_SCHEMA, "%s: group /%s or /%s is missing", path,
                    DM_MODEL_GROUP_FEATURES, DM_MODEL_GROUP_BACKEND);
  return DM_OK;
}

dm_status dm_model_file_open(const char *path, MPI_Comm comm, hid_t *file,
                             dm_model_file_header *hdr)
{
  DM_FORWARD(dm_h5_open(path, comm, 0, file));
  /* Metadata reads are collective in this layer, so every rank checks the
   * same values and reaches the same verdict; agree anyway. */
  dm_status s = read_header(*file, path, hdr);
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    dm_h5_close(*file);
    *file = H5I_INVALID_HID;
  }
  return s;
}
