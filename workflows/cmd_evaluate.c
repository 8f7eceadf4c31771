#include "dm_cmd.h"
int dm_cmd_evaluate(int argc, char **argv, MPI_Comm comm) { (void)argc; (void)argv; return dm_cli_usage_error("evaluate", comm, "todo"); }
