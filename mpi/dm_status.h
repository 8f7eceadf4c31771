/* dm_status.h - the one error enum of dmpipe, and the per-thread error message.
 *
 * Libraries return a dm_status; only the program (workflows/) decides to exit.
 * A failing call records a human-readable message that names the file, line or
 * option at fault (dm_error); the caller forwards the status unchanged
 * (DM_FORWARD). All calls here are LOCAL (no communication).
 */
#ifndef DM_STATUS_H
#define DM_STATUS_H

typedef enum {
  DM_OK = 0,
  DM_ERR_ARG,          /* bad option, flag value or argument */
  DM_ERR_IO,           /* open/read/write/rename failure, disk full */
  DM_ERR_FORMAT,       /* malformed input (CSV, config, table) */
  DM_ERR_BAD_FRACTION, /* too many rejected input lines */
  DM_ERR_HDF5,         /* an HDF5 call failed */
  DM_ERR_SCHEMA,       /* file is not the expected kind, or newer than we read */
  DM_ERR_MPI,          /* an MPI call failed */
  DM_ERR_NOMEM,        /* allocation failed or budget exceeded */
  DM_ERR_UNKNOWN,      /* unknown name: process, channel, variable, model kind */
  DM_ERR_NUMERIC,      /* non-finite result, collapsed model, no data to fit */
  DM_ERR_REMOTE,       /* another rank failed; its message is on its stderr */
  DM_ERR_INTERNAL,     /* a bug: an invariant did not hold */
  DM_STATUS_COUNT
} dm_status;

/* Short stable name of a status ("io error", ...). Never NULL. */
const char *dm_status_name(dm_status s);

/* Record a printf-style message for this thread and return s unchanged, so a
 * library can write:  return dm_error(DM_ERR_IO, "%s: %s", path, strerror(errno)); */
dm_status dm_error(dm_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Like dm_error, but marks the failure as another rank's (dm_agree uses it
 * on the ranks that did not fail), so the program prints only the origin. */
dm_status dm_error_remote(dm_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* 1 if the last recorded failure came from another rank (dm_error_remote). */
int dm_error_is_remote(void);

/* The last message recorded by dm_error on this thread ("" if none). */
const char *dm_error_message(void);

/* Prefix the current message with context ("reading X: <old message>"). */
void dm_error_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The text for an errno value from a file operation. Out of space in any of
 * its forms (ENOSPC full file system, EDQUOT quota, EFBIG file-size limit as
 * set by `ulimit -f`) says so, since the three look unrelated in strerror.
 * Thread-local buffer, valid until the next call on this thread. */
const char *dm_strerror_io(int errnum);

/* Stands for an errno in dm_strerror_io: a write that wrote fewer bytes than
 * asked without saying why (what a full disk looks like through some MPI-IO
 * layers). */
#define DM_ESHORT (-1)

/* 1 if errnum is one of the out-of-space errors above. */
int dm_errno_is_nospace(int errnum);

/* Clear the message (start of a command). */
void dm_error_clear(void);

#define DM_FORWARD(expr)            \
  do {                              \
    dm_status dm_fwd_s_ = (expr);   \
    if (dm_fwd_s_ != DM_OK)         \
      return dm_fwd_s_;             \
  } while (0)

#endif
