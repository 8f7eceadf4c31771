/* dm_labels_file.h - the sealed labels of a blinded dataset (format
 * "dmpipe-labels"): what each event of an unlabeled file really is. Kept by
 * the organisers; the unlabeled store carries the SHA-256 of this file (its
 * "labels_sha256" attribute), so an evaluation can prove which labels it used.
 *
 * Schema, version DM_LABELS_VERSION (rows in the unlabeled file's order):
 *   /labels/event_id         int64   the unlabeled file's event ID: row i has ID i+1
 *   /labels/process          uint16  index into /processes: the event's true process
 *                                    (for a decoy, the process of the event it was made from)
 *   /labels/kind             uint8   DM_LABEL_BACKGROUND, _SIGNAL or _DECOY
 *   /processes/name          fixed-length strings
 *   /processes/n_events      int64   rows of each process (all kinds)
 * Root attributes: provenance (dm_prov.h, format DM_FORMAT_LABELS), and
 *   channel, lumi_fb, seed (decimal text), injected ("NAME=MU,..."),
 *   decoy_fraction, parent_checksum, unlabeled_csv_checksum (XXH3-128 hex of
 *   the unlabeled CSV), n_events.
 * Calls are COLLECTIVE over the communicator given unless marked LOCAL.
 */
#ifndef DM_LABELS_FILE_H
#define DM_LABELS_FILE_H

#include <mpi.h>
#include <stdint.h>

#include "dm_h5.h"
#include "dm_status.h"

#define DM_FORMAT_LABELS "dmpipe-labels"
#define DM_LABELS_VERSION 1

enum { DM_LABEL_BACKGROUND = 0, DM_LABEL_SIGNAL = 1, DM_LABEL_DECOY = 2 };

/* LOCAL. "background", "signal", "decoy" (or "?"). */
const char *dm_label_kind_name(int kind);

typedef struct {
  char channel[64];
  double lumi_fb;
  char seed[32];
  char injected[1024];
  double decoy_fraction;
  char parent_checksum[33];
  char unlabeled_csv_checksum[33];
} dm_labels_meta;

/* ---- writing: one call, each rank its block of rows in order ------------- */

/* COLLECTIVE. Write the whole file at path (via path.tmp, renamed when every
 * rank succeeded): this rank's n rows follow those of lower ranks. The process
 * table (names, n_proc) is identical on every rank. Agreed status. */
dm_status dm_labels_write(const char *path, const dm_labels_meta *meta, const int64_t *event_id,
                          const uint16_t *process, const uint8_t *kind,
                          int64_t n,
                          const char *const *proc_names, int n_proc, const char *command_line,
                          MPI_Comm comm);

/* ---- reading ---------------------------------------------------------------- */

typedef struct dm_labels dm_labels;

/* COLLECTIVE. Open; checks format, version, equal column lengths, and reads
 * the meta attributes and the process table. Errors name the path. */
dm_status dm_labels_open(const char *path, MPI_Comm comm, dm_labels **lb);
/* COLLECTIVE. Accepts NULL. */
dm_status dm_labels_close(dm_labels *lb);

/* LOCAL accessors. */
int64_t dm_labels_n_events(const dm_labels *lb);
int dm_labels_n_processes(const dm_labels *lb);
const char *dm_labels_process_name(const dm_labels *lb, int i);
const dm_labels_meta *dm_labels_get_meta(const dm_labels *lb);

/* COLLECTIVE (count may be 0; every rank calls). Rows [begin, begin+count);
 * any pointer may be NULL to skip a column. A process index outside the
 * table or an unknown kind is DM_ERR_SCHEMA naming the file and row. Returns
 * this rank's status: the caller agrees. */
dm_status dm_labels_read(dm_labels *lb, int64_t begin, int64_t count, int64_t *event_id,
                         uint16_t *process, uint8_t *kind);

#endif
