/* dm_text.h - small text inputs (tables, spectra): read a whole file, once
 * per communicator; walk its lines; split a line at commas into views; parse
 * a field as a number. For the archive's event CSV see dm_csv.h.
 */
#ifndef DM_TEXT_H
#define DM_TEXT_H

#include <mpi.h>
#include <stddef.h>

#include "dm_status.h"

/* LOCAL. Reads the whole file into *buf (malloc'd, NUL-terminated; *len
 * bytes without the NUL). `what` names the file's role in messages ("process
 * table"; NULL for none). Fails with DM_ERR_IO (open or read), DM_ERR_FORMAT
 * (larger than max_bytes) or DM_ERR_NOMEM; *buf is NULL then. */
dm_status dm_text_read_file(const char *path, const char *what, size_t max_bytes, char **buf,
                            size_t *len);

/* COLLECTIVE. Rank 0 reads the file as dm_text_read_file does and broadcasts
 * it; every rank returns the same status and, on success, its own copy. So
 * every rank parses identical bytes and one file-system read serves all.
 * max_bytes must be below INT_MAX (one broadcast). */
dm_status dm_text_read_bcast(const char *path, const char *what, size_t max_bytes,
                             MPI_Comm comm, char **buf, size_t *len);

/* LOCAL. The next line of text[0..len) from *pos: sets *line and *ll (without
 * the newline and a '\r' before it), advances *pos. Returns 0 at the end. */
int dm_text_next_line(const char *text, size_t len, size_t *pos, const char **line,
                      size_t *ll);

/* LOCAL. Splits a line at commas into views f[i], fl[i] (no quoting). With
 * trim, blanks around each field are dropped. Returns the number of fields,
 * or -1 when there are more than cap. */
int dm_text_split(const char *line, size_t len, int trim, const char **f, size_t *fl, int cap);

/* LOCAL. The whole view as a finite number: 1 and *out set, else 0. */
int dm_text_f64(const char *f, size_t fl, double *out);

#endif
