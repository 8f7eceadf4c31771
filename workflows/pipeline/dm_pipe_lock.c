/* dm_pipe_lock.c - one process at a time per work folder (and per step). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_pipe.h"
#include "dm_prov.h"

/* ---- the lock ---- */
int dm_pipe_lock_take(const char *path, char *holder, size_t cap)
{
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  for (int attempt = 0; attempt < 3; attempt++) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {
      char when[32];
      dm_prov_now(when);
      dprintf(fd, "%ld %s %s\n", (long)getpid(), host, when);
      fsync(fd);
      close(fd);
      return 0;
    }
    if (errno != EEXIST) {
      snprintf(holder, cap, "cannot create %s: %s", path, strerror(errno));
      return -1;
    }
    FILE *f = fopen(path, "r");
    long pid = 0;
    char h[256] = "", since[64] = "";
    int got = f ? fscanf(f, "%ld %255s %63s", &pid, h, since) : 0;
    if (f)
      fclose(f);
    if (got < 2) {
      /* Being written this very moment, or damaged: look again shortly. */
      usleep(200000);
      if (attempt == 2) {
        snprintf(holder, cap, "%s exists but names no process (remove it if no nightly runs)",
                 path);
        return 1;
      }
      continue;
    }
    int dead = !strcmp(h, host) && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
    if (!dead) {
      snprintf(holder, cap, "process %ld on %s since %s", pid, h, since);
      return 1;
    }
    fprintf(stderr, "dmpipe: taking over the lock of process %ld on %s (no longer "
                    "running) from %s\n",
            pid, h, since);
    /* Rename first: of two takers only one unlinks this stale file. */
    char *stale = dm_pipe_fmt("%s.stale.%ld", path, (long)getpid());
    if (stale && rename(path, stale) == 0)
      unlink(stale);
    free(stale);
  }
  snprintf(holder, cap, "could not take %s", path);
  return 1;
}

