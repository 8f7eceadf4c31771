/* dmpipe ingest: placeholder until the stage lands. */
#include "dm_cmd.h"

int dm_cmd_ingest(int argc, char **argv, MPI_Comm comm)
{
  return dm_cli_usage_error("ingest", comm, "not implemented yet");
}
