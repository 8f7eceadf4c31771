/* dmpipe derive: placeholder until the stage lands. */
#include "dm_cmd.h"

int dm_cmd_derive(int argc, char **argv, MPI_Comm comm)
{
  return dm_cli_usage_error("derive", comm, "not implemented yet");
}
