/* dmpipe generate: placeholder until the stage lands. */
#include "dm_cmd.h"

int dm_cmd_generate(int argc, char **argv, MPI_Comm comm)
{
  return dm_cli_usage_error("generate", comm, "not implemented yet");
}
