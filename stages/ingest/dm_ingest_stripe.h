/* dm_ingest_stripe.h - PRIVATE to stages/ingest: loading one stripe of an
 * input file (with the line-ownership rule of dm_ingest.h) and parsing its
 * lines into a batch, a local process-name table and a list of rejects.
 * All calls are LOCAL; loading touches no MPI or HDF5 state, so it may run
 * on a helper thread while the main thread parses and writes. */
#ifndef DM_INGEST_STRIPE_H
#define DM_INGEST_STRIPE_H

#include <stdint.h>

#include "dm_csv.h"
#include "dm_status.h"
#include "dm_store.h"

typedef struct {
  int file;             /* input index; -1: no stripe (a rank idle in the last round) */
  int64_t begin, end;   /* [begin, end) bytes of the file */
} dm_stripe_ref;

/* One loaded stripe. buf holds file bytes from buf_off on. */
typedef struct {
  dm_stripe_ref ref;
  char *buf;
  int64_t cap, len, buf_off;
  int64_t own_begin, own_end; /* owned lines, as positions in buf */
  int last_unterminated;      /* last owned line ends at end of file, no newline */
  int last_too_long;          /* last owned line runs past what was loaded */
  int64_t last_line_len;      /* then: its full length in bytes */
  int64_t hash_block;
  uint8_t *leaves;            /* 16-byte canonical XXH3-128 per hash block */
  int n_leaves, cap_leaves;
  dm_status status;
  char message[512];          /* dm_error text (it is per thread) */
} dm_stripe_buf;

/* Buffers for stripes of stripe_bytes; the stripe's bytes are hashed in
 * blocks of hash_block (stripe_bytes is a multiple of it). */
dm_status dm_stripe_buf_init(dm_stripe_buf *b, int64_t stripe_bytes, int64_t hash_block);
void dm_stripe_buf_free(dm_stripe_buf *b);

/* Where a rank's stripes of compressed inputs come from: one decoding
 * stream, kept from stripe to stripe of the same file (a rank's stripes of a
 * file come in increasing order, so the stream only moves forward). */
typedef struct {
  struct dm_instream *s;
  int file; /* input the stream reads, -1 none */
} dm_stripe_src;

/* Read stripe ref of the file at path (of size file_size: its content size
 * when compressed) into b, find the owned lines and hash the stripe's bytes.
 * kind is the file's dm_instream_kind; for a compressed file the bytes come
 * from src (opened or moved to the file as needed) and are not hashed (its
 * checksum is of the compressed file, taken separately). Sets b->status and
 * b->message instead of returning, so it can run on a helper thread. */
void dm_stripe_load(dm_stripe_buf *b, const char *path, int64_t file_size, dm_stripe_ref ref,
                    int kind, dm_stripe_src *src);
/* Close a source's stream (accepts an unused one). */
void dm_stripe_src_close(dm_stripe_src *src);

/* Rejected lines of a piece: packed records (see dm_ingest_stripe.c). */
typedef struct {
  char *data;
  int64_t len, cap;
} dm_reject_buf;

/* What parsing a stripe gives: the batch (ev.process holds indices into the
 * local name table), the names in first-appearance order, the rejects, and
 * counts. */
typedef struct {
  dm_events ev;
  char *names;            /* name i is names + name_off[i], name_len[i] bytes */
  int64_t names_len, names_cap;
  int64_t *name_off;
  int32_t *name_len;
  int n_names, cap_names;
  int32_t *slots;         /* open-addressing hash of name indices, -1 empty */
  int n_slots;
  int last;               /* name index of the previous line (fast path) */
  dm_reject_buf rejects;
  int64_t n_lines, n_bad, bad[DM_BAD_NKINDS], inexact_values, inexact_events;
} dm_piece;

void dm_piece_reset(dm_piece *p);

/* Index of a process name in a piece's table, added on first sight; -1 if
 * the table would pass 65535 names or memory runs out. _find never adds
 * (-1 if absent). A piece with no lines serves as the global table. */
int dm_piece_name_index(dm_piece *p, const char *s, size_t n);
int dm_piece_name_find(dm_piece *p, const char *s, size_t n);
void dm_piece_free(dm_piece *p);

/* Parse the owned lines of a loaded stripe into piece (reset first). With
 * threads > 1 the lines are split between OpenMP threads at line boundaries
 * and the results joined in order (identical to one thread's). Returns an
 * error only for a failure of the machine (memory); bad lines are rejects. */
dm_status dm_stripe_parse(const dm_stripe_buf *b, int want_double, int threads, dm_piece *piece);

/* Iterate the rejects of a piece: *pos starts at 0; returns 0 at the end. */
int dm_reject_next(const dm_reject_buf *r, int64_t *pos, int *reason, int64_t *line_in_stripe,
                   int64_t *full_len, const char **text, int64_t *text_len);

#endif
