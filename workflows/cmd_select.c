/* dmpipe select: placeholder until the stage lands. */
#include "dm_cmd.h"

int dm_cmd_select(int argc, char **argv, MPI_Comm comm)
{
  return dm_cli_usage_error("select", comm, "not implemented yet");
}
