/* dmpipe score: placeholder until the stage lands. */
#include "dm_cmd.h"

int dm_cmd_score(int argc, char **argv, MPI_Comm comm)
{
  return dm_cli_usage_error("score", comm, "not implemented yet");
}
