/* dm_cmd.h - the commands of the dmpipe program, one file each (cmd_<name>.c).
 * Each parses its flags into a stage's options and calls the stage; every rank
 * calls it; it returns the exit code. */
#ifndef DM_CMD_H
#define DM_CMD_H

#include "dm_cli.h"

int dm_cmd_generate(int argc, char **argv, MPI_Comm comm);
int dm_cmd_ingest(int argc, char **argv, MPI_Comm comm);
int dm_cmd_export(int argc, char **argv, MPI_Comm comm);
int dm_cmd_info(int argc, char **argv, MPI_Comm comm);
int dm_cmd_weight(int argc, char **argv, MPI_Comm comm);
int dm_cmd_derive(int argc, char **argv, MPI_Comm comm);
int dm_cmd_select(int argc, char **argv, MPI_Comm comm);
int dm_cmd_train(int argc, char **argv, MPI_Comm comm);
/* "dmpipe train svdd ...": called by dm_cmd_train with argv[0] == "svdd". */
int dm_cmd_train_svdd(int argc, char **argv, MPI_Comm comm);
int dm_cmd_score(int argc, char **argv, MPI_Comm comm);
int dm_cmd_metrics(int argc, char **argv, MPI_Comm comm);
int dm_cmd_bumphunt(int argc, char **argv, MPI_Comm comm);
int dm_cmd_hist(int argc, char **argv, MPI_Comm comm);
int dm_cmd_report(int argc, char **argv, MPI_Comm comm);
int dm_cmd_dataset(int argc, char **argv, MPI_Comm comm);
int dm_cmd_evaluate(int argc, char **argv, MPI_Comm comm);
/* Joins per-sample stores into one (workflows/pipeline, an MPI command). */
int dm_cmd_catalog(int argc, char **argv, MPI_Comm comm);
/* Pipeline drivers (workflows/pipeline): one process, no MPI; comm is
 * MPI_COMM_NULL (dm_cmd_is_driver). */
int dm_cmd_run(int argc, char **argv, MPI_Comm comm);
int dm_cmd_status(int argc, char **argv, MPI_Comm comm);
int dm_cmd_nightly(int argc, char **argv, MPI_Comm comm);
int dm_cmd_submit(int argc, char **argv, MPI_Comm comm);
int dm_cmd_is_driver(const char *name);

#endif
