/* dmpipe metrics: placeholder until the stage lands. */
#include "dm_cmd.h"

int dm_cmd_metrics(int argc, char **argv, MPI_Comm comm)
{
  return dm_cli_usage_error("metrics", comm, "not implemented yet");
}
