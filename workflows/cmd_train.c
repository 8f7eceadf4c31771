/* dmpipe train: placeholder until the stage lands. */
#include "dm_cmd.h"

int dm_cmd_train(int argc, char **argv, MPI_Comm comm)
{
  return dm_cli_usage_error("train", comm, "not implemented yet");
}
