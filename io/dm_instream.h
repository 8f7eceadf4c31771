/* dm_instream.h - the bytes of an input file, plain or compressed (zstd,
 * gzip, xz), read at offsets of its CONTENT as with pread.
 *
 * A plain file is read where asked (pread; no window is kept).
 * A compressed file cannot be entered in the middle, so a stream decodes
 * forward and keeps a window of recent content: a read may start anywhere at
 * or after (the furthest byte asked for so far - history); a read
 * further back starts decoding again from the beginning of the file
 * (correct, just slow). Readers that walk a file forward with small
 * overlaps, like ingest's stripes, never go back that far. Memory: the
 * window plus one decoding step and the decoder's own state.
 *
 * Concatenated frames/members are read as one content (zstd frames and
 * skippable frames, multi-member gzip, concatenated xz streams), as the
 * command-line tools do. Corrupt or truncated data is an error naming the
 * file and the compressed byte offset.
 *
 * All calls are LOCAL and touch no MPI or HDF5 state; a stream may be used by
 * one thread at a time (any thread).
 */
#ifndef DM_INSTREAM_H
#define DM_INSTREAM_H

#include <stdint.h>

#include "dm_status.h"

typedef enum {
  DM_INSTREAM_PLAIN = 0,
  DM_INSTREAM_ZSTD,
  DM_INSTREAM_GZIP,
  DM_INSTREAM_XZ
} dm_instream_kind;

/* LOCAL. "plain", "zstd", "gzip", "xz". */
const char *dm_instream_kind_name(dm_instream_kind k);

/* LOCAL. The kind of the file at path: by its name (.zst, .gz, .xz) and its
 * first bytes (magic numbers). A name saying compressed over other bytes is
 * DM_ERR_FORMAT naming the file; compressed bytes under a plain name are
 * read as what they are. */
dm_status dm_instream_detect(const char *path, dm_instream_kind *kind);

/* LOCAL. The content size of a zstd file from its frame headers alone
 * (walking frames and block headers, reading no block data): *size = -1
 * when a frame does not record its content size (then decode to learn it).
 * A file ending inside a frame is DM_ERR_FORMAT naming it. */
dm_status dm_instream_zstd_size(const char *path, int64_t *size);

/* LOCAL. The content size of an xz file from its stream indexes (read from
 * the file's end, no decoding); DM_ERR_FORMAT naming the file when they are
 * damaged or the file is truncated. */
dm_status dm_instream_xz_size(const char *path, int64_t *size);

typedef struct dm_instream dm_instream;

/* LOCAL. Open path as `kind` with a window of `history` bytes. */
dm_status dm_instream_open(const char *path, dm_instream_kind kind, int64_t history,
                           dm_instream **s);

/* LOCAL. Up to n content bytes at content offset off into dst; fewer only at
 * the end of the content. Returns the count, or -1 on failure (corrupt or
 * truncated data, a read error); the message is then in dm_instream_message. */
int64_t dm_instream_pread(dm_instream *s, void *dst, int64_t n, int64_t off);

/* LOCAL. The last failure's message (names the file). */
const char *dm_instream_message(const dm_instream *s);

/* LOCAL. Accepts NULL. */
void dm_instream_close(dm_instream *s);

#endif
