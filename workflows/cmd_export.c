/* dmpipe export: placeholder until the stage lands. */
#include "dm_cmd.h"

int dm_cmd_export(int argc, char **argv, MPI_Comm comm)
{
  return dm_cli_usage_error("export", comm, "not implemented yet");
}
