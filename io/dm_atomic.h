/* dm_atomic.h - the one way dmpipe writes a file: under a temporary name
 * unique to the run, synced to disk, then renamed to its final name, so a
 * final name only ever holds a complete output (or the previous one).
 *
 *     FINAL.lock              the claim: held (locked) while a run writes FINAL
 *     FINAL.<host>-<pid>.tmp  the temporary of the run whose rank 0 is <pid>
 *
 * The claim. Two runs writing one output must not destroy each other's work.
 * A run claims FINAL by taking an exclusive lock on FINAL.lock (an open file
 * description lock, fcntl F_OFD_SETLK; classic POSIX locks where those are
 * missing) and writes its host, pid and start time into it. A second run
 * finds the lock taken and fails at once with a message naming the holder.
 * The kernel (or the network file system's lock manager) drops the lock when
 * its process dies, however it dies: a claim left by a killed run is stale by
 * construction and the next run takes it over, on any host, without guessing
 * whether a pid is alive. While it holds the claim a run removes the
 * temporaries of earlier, killed runs of the same output (names of the form
 * above only, and files the MPI-IO layer named after them). On a file system without locks (some parallel file systems
 * mount without them) the claim is skipped: concurrent runs then both
 * complete, each renaming only its own temporary, and the last rename wins,
 * still never a partial file under the final name.
 *
 * The commit: fsync the temporary, rename it over FINAL, fsync the folder
 * (so the rename itself survives a crash), release the claim. Any failure
 * removes the temporary and leaves FINAL as it was.
 *
 * Out of space (ENOSPC, EDQUOT, EFBIG) is named as such (dm_strerror_io).
 * Calls are LOCAL unless marked COLLECTIVE; a dm_atomic is used by one rank
 * (rank 0 in the collective forms, which tell the other ranks the names).
 */
#ifndef DM_ATOMIC_H
#define DM_ATOMIC_H

#include <mpi.h>
#include <stdio.h>

#include "dm_status.h"

#define DM_PATH_MAX 4096

/* ---- the claim ---------------------------------------------------------------
 * The exclusive lock described above, on its own: besides guarding an output
 * (FINAL.lock), it keeps one process at a time on anything a lock file stands
 * for (the pipeline's work folder, WORKDIR/.dmpipe/lock, and each of its
 * steps). The holder's "host H, pid P, since T" is written into the file for
 * the message of a process that finds it taken; the lock dies with its
 * holder, so a claim left by a killed process is taken over by the next one,
 * on any host, without asking whether a pid is alive. The file is removed on
 * release (while still locked). The descriptor is close-on-exec: programs
 * the holder starts do not hold it. */
typedef struct {
  char path[DM_PATH_MAX];
  int fd;            /* the locked file; -1 when not held */
  int held;          /* 1 while held */
  int busy;          /* after a failed take: 1 when a live process holds it */
  char holder[256];  /* busy: who holds it ("host H, pid P, since T"); after a
                      * take: who held it before and died ("" if nobody) */
} dm_claim;

/* LOCAL. Take the claim on the lock file `path` (created if missing). DM_OK:
 * held (c->held 1), or, on a file system without locks, not held (c->held 0,
 * as for outputs: see above); c->holder then names a previous holder whose
 * lock died with it (the file still named it), "" otherwise. Held by another
 * process (or by another claim of this one): DM_ERR_IO naming the file and
 * the holder, c->busy = 1 and c->holder set. Other failures: DM_ERR_IO,
 * c->busy = 0. */
dm_status dm_claim_take(dm_claim *c, const char *path);

/* LOCAL. Remove the file and drop the lock. Safe on a claim not held (a
 * zeroed one, or one whose take failed) and twice. */
void dm_claim_release(dm_claim *c);

typedef struct {
  char final_path[DM_PATH_MAX];
  char tmp_path[DM_PATH_MAX];  /* "" until begun */
  dm_claim claim;              /* on FINAL.lock (claim.path) */
  int active;                  /* 1 between begin and commit/abort (on the rank that began) */
} dm_atomic;

/* LOCAL. Check that `path` can become an output, before any work is done: not
 * empty, not an existing folder, in an existing folder this process may
 * write in. `flag` names the option in the message ("--out"; NULL: none). */
dm_status dm_atomic_check(const char *path, const char *flag);

/* LOCAL. Claim final_path and create its temporary (empty, new). On failure
 * nothing is held and nothing is left on disk. */
dm_status dm_atomic_begin(dm_atomic *a, const char *final_path);

/* LOCAL. Sync the temporary, rename it to the final name, sync the folder,
 * release the claim. On failure the temporary is removed. */
dm_status dm_atomic_commit(dm_atomic *a);

/* LOCAL. Remove the temporary, release the claim. Safe to call twice, and on
 * a dm_atomic that was never begun (zeroed). */
void dm_atomic_abort(dm_atomic *a);

/* LOCAL. commit if `ok` is DM_OK, abort otherwise; returns ok, or the commit's
 * failure. */
dm_status dm_atomic_end(dm_atomic *a, dm_status ok);

/* COLLECTIVE. Rank 0 begins; every rank gets the agreed status and, on
 * success, the names (a->tmp_path) to open the temporary with. */
dm_status dm_atomic_begin_all(dm_atomic *a, const char *final_path, MPI_Comm comm);

/* COLLECTIVE. `agreed` must be the same on every rank and every rank must be
 * done with the temporary (closed). Rank 0 commits (agreed == DM_OK) or
 * aborts; returns the agreed outcome on every rank. */
dm_status dm_atomic_settle_all(dm_atomic *a, dm_status agreed, MPI_Comm comm);

/* ---- stdio text files ------------------------------------------------------ */

/* LOCAL. dm_atomic_begin, then open the temporary for writing ("w"). */
dm_status dm_atomic_fopen(dm_atomic *a, const char *final_path, FILE **f);

/* LOCAL. Flush, check for write errors, sync and close f, then commit if all
 * of that and `local` are DM_OK, else abort. Returns the first failure. */
dm_status dm_atomic_fclose(dm_atomic *a, FILE *f, dm_status local);

/* LOCAL. The whole of `text` as the file `path` (a report, a JSON file). */
dm_status dm_atomic_write_text(const char *path, const char *text);

#endif
