/* dm_pipe_cli.h - what the pipeline commands (run, status, submit, nightly)
 * share. LOCAL; these commands run as one process without MPI. */
#ifndef DM_PIPE_CLI_H
#define DM_PIPE_CLI_H

#include <stddef.h>

#include "dm_atomic.h"
#include "dm_pipe.h"

/* Every key of the pipeline file, for --help. */
extern const char dm_pipe_keys_help[];

/* The running dmpipe program's path; 0 on success. */
int dm_pipe_cli_exe(char *buf, size_t n);
/* 1 (after a message) when started as one of several MPI ranks. */
int dm_pipe_cli_refuse_mpi(const char *cmd);
/* Loads the pipeline (workdir overridden when not NULL, relative to the
 * current folder); prints the error and returns 1 on failure. */
int dm_pipe_cli_load(const char *cmd, const char *path, const char *workdir, dm_pipe **p,
                     char *exe, size_t exe_len);

/* Takes the work folder's lock, WORKDIR/.dmpipe/lock: the claim of
 * io/dm_atomic.h, held while the graph runs (release with dm_claim_release),
 * so one run or nightly at a time works in a folder, and the lock of a killed
 * one is taken over (said on stderr). 0: held; DM_PIPE_BUSY: another process
 * holds it (a message names it: host, pid, start); 1: another failure
 * (printed). */
int dm_pipe_cli_lock(const char *cmd, const dm_pipe *p, dm_claim *c);

#endif
