/* dm_cli.h - what every command of the dmpipe program shares: checked number
 * parsing that names the flag at fault, the command line for provenance, and
 * the one exit path that prints errors and keeps every rank together.
 * Only workflows/ includes this header.
 */
#ifndef DM_CLI_H
#define DM_CLI_H

#include <cjson/cJSON.h>
#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"

/* A command: parses its flags into a stage's options struct and calls the
 * stage. Returns the process exit code (0 ok, 1 failure, 2 usage error).
 * Called by every rank of comm. */
typedef int (*dm_cmd_fn)(int argc, char **argv, MPI_Comm comm);

/* LOCAL. Checked parsing: the whole string must be a number in [lo, hi];
 * otherwise DM_ERR_ARG with a message naming the flag. */
dm_status dm_cli_i64(const char *flag, const char *text, int64_t lo, int64_t hi, int64_t *out);
dm_status dm_cli_f64(const char *flag, const char *text, double lo, double hi, double *out);
/* Comma-separated list of numbers ("256,128"); *n in, capacity; out, count. */
dm_status dm_cli_i64_list(const char *flag, const char *text, int64_t lo, int64_t hi,
                          int64_t *out, int *n);
dm_status dm_cli_f64_list(const char *flag, const char *text, double lo, double hi, double *out,
                          int *n);

/* LOCAL. "dmpipe ingest --out x.h5 a.csv" as one string, for provenance.
 * Static storage, valid until the program ends. */
const char *dm_cli_command_line(void);
void dm_cli_set_command_line(int argc, char **argv);

/* COLLECTIVE. Ends a command: agrees on status over comm and prints the
 * failure to stderr: once (by the lowest failing rank) when every failing
 * rank has the same message, otherwise once per failing rank with its rank
 * number. Returns the exit code every rank must return (0 or 1). */
int dm_cli_finish(const char *cmd, dm_status local, MPI_Comm comm);

/* LOCAL. Usage error: prints "dmpipe CMD: <message>; see dmpipe CMD --help"
 * on rank 0 only and returns 2. Usage errors come from parsing argv, which is
 * the same on every rank, so every rank takes this branch together. */
int dm_cli_usage_error(const char *cmd, MPI_Comm comm, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* COLLECTIVE, agreed. Before any work: each (flag, path) pair, ending with a
 * NULL flag, whose path is not NULL must be able to become an output (not a
 * folder, in an existing folder this process may write in; dm_atomic_check).
 * Checked on rank 0 for all ranks. */
dm_status dm_cli_check_outputs(MPI_Comm comm, ...);

/* LOCAL. Print help text on rank 0 and return 0. */
int dm_cli_help(const char *text, MPI_Comm comm);

/* LOCAL. Writes j, pretty-printed with a final newline, to PATH.tmp and
 * renames it to PATH, so a failed write never leaves a half file under the
 * final name. DM_ERR_IO naming the file on failure. */
dm_status dm_cli_write_json(const char *path, const cJSON *j);

/* COLLECTIVE. Rank 0 writes j (ignored elsewhere, may be NULL) as
 * dm_cli_write_json does; every rank returns the agreed status. */
dm_status dm_cli_write_json_agreed(const char *path, const cJSON *j, MPI_Comm comm);

/* LOCAL. Adds number v under key k, or null when v is not finite (JSON has
 * no NaN or infinity). */
void dm_cli_json_num(cJSON *o, const char *k, double v);

/* LOCAL. As dm_cli_json_num, but printed with 17 significant digits, so the
 * value read back (strtod) is the same double. cJSON's own printing keeps 15
 * digits whenever they read back within an ulp, which is not the same bits. */
void dm_cli_json_exact(cJSON *o, const char *k, double v);

#endif
