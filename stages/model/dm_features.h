/* dm_features.h - from events to the fixed-width float rows every anomaly
 * model sees: feature extraction, then a fitted transform (standardisation,
 * optionally PCA) that is stored with the model and replayed at scoring.
 *
 * Two feature sets (dm_feature_kind):
 *
 *   highlevel (DM_FEATURES_HIGHLEVEL_DIM = 13 columns, GeV):
 *     0 log1p(H_T)        H_T = scalar sum of pT of j and b objects
 *     1 log1p(MET)
 *     2 log1p(m_eff)      m_eff = H_T + MET
 *     3 log1p(MET/H_T)    with H_T floored at 1 GeV
 *     4 n_jets (j+b)  5 n_b  6 n_leptons (e, m)  7 n_photons   (counts, as floats)
 *     8 log1p(pT j1)  9 log1p(pT j2)  10 log1p(pT j3)  11 log1p(pT lepton1)
 *     12 log1p(pT photon1)           (0 when the object is absent)
 *   Energy-like columns are log1p'ed because their spectra fall steeply over
 *   decades; a Gaussian kernel on the raw values would see only the tail.
 *
 *   objects (K * per_object + 2 or 3 columns): the K leading objects by pT
 *   (ties keep store order), each
 *       log1p(E), log1p(pT), eta, phi          (phi_mode RAW: 4 + 7 = 11 cols)
 *       log1p(E), log1p(pT), eta, sin, cos phi (phi_mode SINCOS: 12 cols)
 *     followed by a one-hot of the 7 object types (j b e- e+ m- m+ g); slots
 *     beyond the event's objects are all zero. Then log1p(MET) and MET phi
 *     (raw: 1 column; sincos: 2). K = 20 and RAW give the challenge's 222.
 *
 * The transform: x_std = (x - mean) / scale per column, with mean and scale
 * fitted on the training rows (scale = standard deviation, or 1 for a
 * constant column). With pca_dim = D > 0 the rows are then projected on the
 * D leading eigenvectors of the covariance of x_std and divided by the square
 * root of each eigenvalue (whitened), so every output column has unit
 * variance on the training set and the bandwidth rules of thumb apply.
 *
 * Reproducibility: dm_transform_fit gives bit-identical results for any
 * number of ranks or threads. The sums behind mean, variance and covariance
 * are exact integer sums of fixed-point values (raw columns quantised to
 * 2^-20, standardised ones to 2^-10 and clamped to +-2^11 for the covariance),
 * so their order does not matter; the eigenproblem is solved by GSL (serial,
 * deterministic) identically on every rank, and each eigenvector's sign is
 * fixed by making its largest-magnitude component positive.
 */
#ifndef DM_FEATURES_H
#define DM_FEATURES_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "dm_status.h"
#include "dm_store.h"
#include "dm_store_pieces.h"

typedef enum { DM_FEATURES_HIGHLEVEL = 0, DM_FEATURES_OBJECTS = 1 } dm_feature_kind;
typedef enum { DM_PHI_RAW = 0, DM_PHI_SINCOS = 1 } dm_phi_mode;

#define DM_FEATURES_HIGHLEVEL_DIM 13
#define DM_FEATURES_K_DEFAULT 20
#define DM_FEATURES_K_MAX 64

typedef struct {
  dm_feature_kind kind;
  int k_objects;      /* objects only: leading K (1..DM_FEATURES_K_MAX) */
  dm_phi_mode phi_mode; /* objects only */
} dm_feature_spec;

/* LOCAL. The defaults: highlevel (K = 20, raw phi for objects). */
void dm_feature_spec_default(dm_feature_spec *spec);

/* LOCAL. "highlevel" / "objects" <-> kind; parse failure is DM_ERR_UNKNOWN
 * naming the text. */
const char *dm_feature_kind_name(dm_feature_kind kind);
dm_status dm_feature_kind_parse(const char *text, dm_feature_kind *kind);

/* LOCAL. Number of raw columns of a spec; DM_ERR_ARG for an invalid spec
 * (then *dim is 0). */
dm_status dm_features_dim(const dm_feature_spec *spec, int *dim);

/* LOCAL. Name of raw column j ("log1p_ht", "obj3_eta", ...) into buf. */
void dm_features_column_name(const dm_feature_spec *spec, int j, char *buf, size_t cap);

/* LOCAL. Raw features of every event of ev into out (ev->n_events rows of
 * dim columns, row-major). Thread-parallel over events (OpenMP). A
 * non-finite input value is DM_ERR_NUMERIC naming the event id. */
dm_status dm_features_extract(const dm_feature_spec *spec, const dm_events *ev, float *out);

/* Objects a piece of a read (below) holds at most by default: the store's
 * piece bound (io/dm_store_pieces.h, one chunk of a store's object columns).
 * A batch of a store ordered process by process can hold several times the
 * store's mean count of objects per event (and which batch is densest
 * depends on the store's size); pieces keep the objects in memory at
 * 17 bytes x this (4.5 MB), whatever the batch. */
#define DM_FEATURES_PIECE_OBJECTS DM_STORE_PIECE_OBJECTS

/* What a read keeps between calls (zero it before first use; free with
 * dm_features_batch_free). After dm_features_read: */
typedef struct {
  uint16_t *process;   /* the process index of every event read (in index) */
  int64_t *event_id;   /* their event ids */
  int64_t max_objects; /* objects a piece holds; 0 = DM_FEATURES_PIECE_OBJECTS
                          (set before a read: tests take small pieces) */
  /* private */
  dm_events piece;       /* the events of a piece */
  dm_store_pieces index; /* the read's index and its pieces */
  int64_t cap;           /* events event_id holds */
} dm_features_batch;

/* COLLECTIVE, agreed (every rank calls; count may be 0). Read events
 * [begin, begin+count) of the store and extract their raw features into out
 * (count x dim), and their process indices and event ids into b. The events
 * are read in pieces of consecutive events with at most b->max_objects
 * objects each (an event with more is a piece of its own), so the objects
 * held do not depend on how dense the batch is; every rank reads as many
 * pieces as the rank that needs the most. */
dm_status dm_features_read(dm_store *st, const dm_feature_spec *spec, int64_t begin,
                           int64_t count, dm_features_batch *b, float *out);

/* LOCAL. Free what a batch holds (zeroed after; accepts a zeroed batch). */
void dm_features_batch_free(dm_features_batch *b);

/* ---- the fitted transform ------------------------------------------------- */

typedef struct {
  dm_feature_spec spec;
  int dim_in;        /* raw columns */
  int dim;           /* output columns: dim_in, or pca_dim */
  int pca_dim;       /* 0: no PCA */
  double *mean;      /* dim_in */
  double *scale;     /* dim_in, > 0 */
  double *pca;       /* pca_dim x dim_in, row-major: component c is row c */
  double *pca_var;   /* pca_dim: variance of x_std along each component */
  double pca_explained; /* fraction of total variance kept, in [0, 1] */
  int64_t n_fit;     /* training rows the transform was fitted on */
  struct dm_transform_fit *fit; /* private: accumulators while fitting */
} dm_transform;

/* COLLECTIVE. Fit mean/scale (and PCA when pca_dim > 0) on the raw rows of
 * every rank (n_local rows of dim_in columns each; some ranks may have none).
 * pca_dim must be in [0, dim_in]. Fewer than 2 rows in total, or a PCA
 * component of zero variance, is DM_ERR_NUMERIC. On failure t is left empty.
 * Identical result on every rank and for any rank count. */
dm_status dm_transform_fit(dm_transform *t, const dm_feature_spec *spec, int pca_dim,
                           const float *raw, int64_t n_local, MPI_Comm comm);

/* The same fit streamed over batches, for training sets larger than memory:
 *     dm_transform_begin(&t, spec, pca_dim);                       LOCAL
 *     do {
 *       for each batch of this rank's training rows (same rows, same order
 *       in every pass):  dm_transform_add(&t, raw, n);             LOCAL
 *       dm_transform_end_pass(&t, comm, &again);                   COLLECTIVE
 *     } while (again);                 (two passes with PCA: moments, then
 *                                       covariance of the standardised rows)
 * add records its first error and end_pass agrees on it; after a failed
 * begin or end_pass t is empty (freed). The result equals dm_transform_fit
 * on the same rows. */
dm_status dm_transform_begin(dm_transform *t, const dm_feature_spec *spec, int pca_dim);
dm_status dm_transform_add(dm_transform *t, const float *raw, int64_t n);
dm_status dm_transform_end_pass(dm_transform *t, MPI_Comm comm, int *again);

/* LOCAL. Apply to n raw rows: out is n x t->dim (may not alias raw when PCA
 * is on; may alias when it is off). Double arithmetic, float result. */
void dm_transform_apply(const dm_transform *t, const float *raw, int64_t n, float *out);

/* COLLECTIVE. Write into group `path` under loc of a file being written by
 * every rank of comm (attributes + small arrays, see dm_model_file.h). */
dm_status dm_transform_save(const dm_transform *t, hid_t loc, const char *path, MPI_Comm comm);
/* COLLECTIVE. Read back; validates shapes and values (DM_ERR_SCHEMA naming
 * the dataset at fault). */
dm_status dm_transform_load(dm_transform *t, hid_t loc, const char *path);

/* LOCAL. Human-readable summary (spec, columns, PCA variance kept). */
void dm_transform_describe(const dm_transform *t, FILE *out);

/* LOCAL. The D leading principal axes of a d x d covariance (row-major,
 * symmetric): pca (D x d, rows = unit eigenvectors by decreasing eigenvalue,
 * each with its largest-magnitude component positive), var (D eigenvalues),
 * *explained (their share of the trace). Serial and deterministic (GSL). A
 * kept eigenvalue <= 1e-12 x trace is DM_ERR_NUMERIC. */
dm_status dm_pca_from_cov(const double *cov, int d, int D, double *pca, double *var,
                          double *explained);

/* LOCAL. Free the arrays (accepts a zeroed or NULL transform). */
void dm_transform_free(dm_transform *t);

#endif
