/* dm_pipe_cli.h - what the pipeline commands (run, status, submit, nightly)
 * share. LOCAL; these commands run as one process without MPI. */
#ifndef DM_PIPE_CLI_H
#define DM_PIPE_CLI_H

#include <stddef.h>

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

#endif
