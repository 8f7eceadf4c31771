/* dmpipe bumphunt: placeholder until the stage lands. */
#include "dm_cmd.h"

int dm_cmd_bumphunt(int argc, char **argv, MPI_Comm comm)
{
  return dm_cli_usage_error("bumphunt", comm, "not implemented yet");
}
