/* dmpipe weight: placeholder until the stage lands. */
#include "dm_cmd.h"

int dm_cmd_weight(int argc, char **argv, MPI_Comm comm)
{
  return dm_cli_usage_error("weight", comm, "not implemented yet");
}
