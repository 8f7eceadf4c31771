/* dmpipe train svdd: placeholder until the Deep SVDD stage lands. */
#include "dm_cmd.h"

int dm_cmd_train_svdd(int argc, char **argv, MPI_Comm comm)
{
  return dm_cli_usage_error("train svdd", comm, "not implemented yet");
}
