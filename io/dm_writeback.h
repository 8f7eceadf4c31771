/* dm_writeback.h - early write-back of a file being written.
 *
 * A file dmpipe writes is synced to disk once, when it is committed
 * (dm_atomic.h). Left alone, the kernel starts writing a file's pages back
 * only past its dirty threshold (a tenth of memory), so an output smaller
 * than that waits whole in the page cache and the final fsync writes all of
 * it while every rank waits (0.2 s of 2.5 s for a 1 GB archive ingested on
 * one rank here). Asking the kernel to start the write-back of what a rank
 * wrote, every `every` bytes, overlaps it with the work that follows.
 * SYNC_FILE_RANGE_WRITE only queues the pages; it does not wait for the
 * disk. A range may hold other ranks' bytes: their pages are written too,
 * which is just as useful.
 *
 * Best effort throughout: nothing here fails or changes what is written
 * (the fsync at commit reports real write errors). All calls are LOCAL.
 */
#ifndef DM_WRITEBACK_H
#define DM_WRITEBACK_H

#include <stdint.h>

typedef struct {
  int fd;                   /* the rank's own descriptor of the file; -1: off */
  int64_t every;            /* bytes between starts */
  int64_t pending, lo, hi;  /* completed bytes since the last start, and their range */
  int64_t starts;           /* write-backs started so far */
} dm_writeback;

/* Writes under way: the file range they cover and their bytes. */
typedef struct {
  int64_t lo, hi, bytes;
} dm_writeback_span;

/* Off until opened (fd -1): set before anything can fail. */
void dm_writeback_init(dm_writeback *wb);

/* Open path for write-back every `every` bytes (<= 0: stays off). */
void dm_writeback_open(dm_writeback *wb, const char *path, int64_t every);

/* Add the write of len bytes at off to a span. */
void dm_writeback_span_add(dm_writeback_span *sp, int64_t off, int64_t len);

/* The span's writes completed: count them, and start the write-back of what
 * completed since the last start once it reaches `every`. The span is
 * emptied (also when off). */
void dm_writeback_done(dm_writeback *wb, dm_writeback_span *sp);

/* Close the descriptor (accepts an initialised, never opened wb). */
void dm_writeback_close(dm_writeback *wb);

#endif
