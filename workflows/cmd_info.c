/* dmpipe info: placeholder until the stage lands. */
#include "dm_cmd.h"

int dm_cmd_info(int argc, char **argv, MPI_Comm comm)
{
  return dm_cli_usage_error("info", comm, "not implemented yet");
}
