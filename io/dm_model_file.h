/* dm_model_file.h - the model file container (format "dmpipe-model").
 *
 * Schema, version DM_MODEL_FILE_VERSION:
 *   / (root)     provenance attributes (dm_prov.h), plus
 *                  backend          string   registry name ("kde", "svdd")
 *                  backend_version  int64    schema version of /model
 *                  training         string   how the training rows were chosen
 *                  n_train          int64    rows the backend was fitted on
 *                  n_train_pool     int64    rows the transform was fitted on
 *                  seed             int64    the run's seed (bit pattern)
 *   /features    attributes kind ("highlevel"|"objects"), k_objects,
 *                phi_mode ("raw"|"sincos"), dim_in, dim, pca_dim, n_fit,
 *                pca_explained; datasets
 *                  mean [dim_in] f64, scale [dim_in] f64, columns [dim_in] str
 *                  pca [pca_dim, dim_in] f64, pca_var [pca_dim] f64  (if PCA)
 *   /model       the backend's own group (its attributes and datasets; the
 *                KDE's are described in stages/model/dm_kde.h)
 *
 * This layer owns the container: creation under a temporary name, the root
 * attributes, and the checks on open. What goes into the groups is written
 * by the model code (stages/model) through the dm_h5 calls.
 */
#ifndef DM_MODEL_FILE_H
#define DM_MODEL_FILE_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "dm_h5.h"
#include "dm_status.h"

#define DM_MODEL_FILE_VERSION 1
#define DM_MODEL_GROUP_FEATURES "features"
#define DM_MODEL_GROUP_BACKEND "model"

typedef struct {
  char backend[32];
  int64_t backend_version;
  char training[1024];
  int64_t n_train, n_train_pool;
  uint64_t seed;
} dm_model_file_header;

/* COLLECTIVE. Create a temporary of path (dm_atomic.h) with the groups /features and /model and the
 * header attributes written. */
dm_status dm_model_file_create(dm_h5_out *out, const char *path,
                               const dm_model_file_header *hdr, MPI_Comm comm);

/* COLLECTIVE. Write provenance, agree on local, close and rename (or
 * remove). Returns the agreed status. */
dm_status dm_model_file_finish(dm_h5_out *out, dm_status local, const char *command_line,
                               const char *inputs);

/* COLLECTIVE. Open for reading, check format "dmpipe-model" and version,
 * and read the header. The file stays open (close with dm_h5_close). */
dm_status dm_model_file_open(const char *path, MPI_Comm comm, hid_t *file,
                             dm_model_file_header *hdr);

#endif
