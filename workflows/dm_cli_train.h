/* dm_cli_train.h - what "train kde" and "train svdd" share on the command
 * line: the options of the train stage (input, features, training pool,
 * output), their help lines, and the common part of the report. Each model's
 * command adds its own options around these. Only workflows/ includes this.
 */
#ifndef DM_CLI_TRAIN_H
#define DM_CLI_TRAIN_H

#include <cjson/cJSON.h>
#include <getopt.h>

#include "dm_cli_run.h"
#include "dm_train.h"

/* getopt_long codes of the shared options, clear of the single characters the
 * model options use. */
enum {
  DM_CLI_TRAIN_IN = 2000,
  DM_CLI_TRAIN_OUT,
  DM_CLI_TRAIN_FEATURES,
  DM_CLI_TRAIN_K_OBJECTS,
  DM_CLI_TRAIN_PHI,
  DM_CLI_TRAIN_PCA,
  DM_CLI_TRAIN_MAX_TRAIN,
  DM_CLI_TRAIN_FRACTION,
  DM_CLI_TRAIN_SPLIT,
  DM_CLI_TRAIN_BACKGROUND,
  DM_CLI_TRAIN_XSEC,
  DM_CLI_TRAIN_SEED,
  DM_CLI_TRAIN_READ_BATCH,
  DM_CLI_TRAIN_JSON,
  DM_CLI_TRAIN_QUIET,
  DM_CLI_TRAIN_HELP,
  DM_CLI_TRAIN_WEIGHTED,
  DM_CLI_TRAIN_END
};

/* The shared entries of a getopt_long table; the read batch is "--batch" for
 * kde and "--read-batch" for svdd (whose --batch is the training batch). */
#define DM_CLI_TRAIN_LONGOPTS(read_batch_name)                                 \
  {"in", required_argument, NULL, DM_CLI_TRAIN_IN},                            \
      {"out", required_argument, NULL, DM_CLI_TRAIN_OUT},                      \
      {"features", required_argument, NULL, DM_CLI_TRAIN_FEATURES},            \
      {"k-objects", required_argument, NULL, DM_CLI_TRAIN_K_OBJECTS},          \
      {"phi", required_argument, NULL, DM_CLI_TRAIN_PHI},                      \
      {"pca", required_argument, NULL, DM_CLI_TRAIN_PCA},                      \
      {"max-train", required_argument, NULL, DM_CLI_TRAIN_MAX_TRAIN},          \
      {"train-fraction", required_argument, NULL, DM_CLI_TRAIN_FRACTION},      \
      {"split", required_argument, NULL, DM_CLI_TRAIN_SPLIT},                  \
      {"background", required_argument, NULL, DM_CLI_TRAIN_BACKGROUND},        \
      {"xsec", required_argument, NULL, DM_CLI_TRAIN_XSEC},                    \
      {"seed", required_argument, NULL, DM_CLI_TRAIN_SEED},                    \
      {read_batch_name, required_argument, NULL, DM_CLI_TRAIN_READ_BATCH},     \
      {"json", required_argument, NULL, DM_CLI_TRAIN_JSON},                    \
      {"quiet", no_argument, NULL, DM_CLI_TRAIN_QUIET},                        \
      DM_CLI_RUN_LONGOPTS,                                                     \
      {"help", no_argument, NULL, DM_CLI_TRAIN_HELP},                          \
      {"weighted", no_argument, NULL, DM_CLI_TRAIN_WEIGHTED}

/* What the shared options set beside the stage's options. */
typedef struct {
  const char *read_batch_flag; /* "--batch" or "--read-batch", for messages */
  const char *json;            /* --json FILE, or NULL */
  int quiet;                   /* --quiet */
  dm_cli_run run;              /* --progress, --threads, ... (dm_cli_run.h) */
} dm_cli_train_common;

/* LOCAL. Stage defaults for `backend`, automatic progress and threads,
 * nothing else set in common but the read batch flag's name. */
void dm_cli_train_defaults(dm_train_opts *o, const char *backend, dm_cli_train_common *common,
                           const char *read_batch_flag);

/* LOCAL. 1 if c is a shared option code other than DM_CLI_TRAIN_HELP (the
 * progress and threads options included). */
int dm_cli_train_is_option(int c);

/* LOCAL. Handles one shared option (code c, argument arg) into o and common.
 * DM_OK, or DM_ERR_ARG with a message naming the flag. */
dm_status dm_cli_train_option(int c, const char *arg, dm_train_opts *o,
                              dm_cli_train_common *common);

/* LOCAL. After the getopt loop: no stray arguments (from optind on) and
 * --in and --out given. 0 if so, else the usage error's exit code (2). */
int dm_cli_train_check_args(const char *cmd, int argc, char **argv, const dm_train_opts *o,
                            MPI_Comm comm);

/* Help lines of the shared options, in blocks each command places around its
 * own lines (the defaults of --features, --max-train, --seed and the read
 * batch differ by model, so those lines are the command's). */
#define DM_CLI_TRAIN_HELP_IO                                                            \
  "  --in FILE             store or selection to train on (read only)\n"                 \
  "  --out FILE            model file to write (as FILE.tmp, then renamed)\n"
#define DM_CLI_TRAIN_HELP_FEATURES                                                      \
  "  --k-objects K         objects per event for --features objects (default 20)\n"     \
  "  --phi MODE            raw or sincos angles for --features objects (default raw)\n" \
  "  --pca D               project the standardised features on D principal\n"          \
  "                        components (whitened) first; 0 = no PCA (default 0)\n"
#define DM_CLI_TRAIN_HELP_POOL                                                          \
  "  --train-fraction F    share of the background events (in store order) that\n"      \
  "                        trains, in (0, 1] (default 0.9)\n"                            \
  "  --split per-process|global\n"                                                      \
  "                        take that share of each background process (default:\n"     \
  "                        stores are ordered process by process, so every process\n"   \
  "                        trains), or of all background events in store order\n"       \
  "                        (the challenge's rule for its shuffled files)\n"              \
  "  --background LIST     comma-separated processes to train on, instead of the\n"     \
  "                        SM processes of the process table\n"                          \
  "  --xsec FILE           process table that says which processes are SM (default:\n"  \
  "                        the shipped data/processes.csv)\n"                           \
  "  --weighted            fit with event weights: the store's derived weight (dmpipe\n" \
  "                        weight) when it has one, else the archive's /events/weight;\n"\
  "                        weights must be finite and > 0; the model file records\n"    \
  "                        which (unit-weight stores, such as a hackathon background,\n" \
  "                        need no weights)\n"
#define DM_CLI_TRAIN_HELP_JSON                                                          \
  "  --json FILE           also write the report as JSON (rank 0)\n"
#define DM_CLI_TRAIN_HELP_TAIL                                                          \
  "  --quiet               do not print the report\n"                                    \
  DM_CLI_RUN_HELP                                                                       \
  "  --help                this text\n"

/* LOCAL. The report lines both models print first: title, events, background
 * and training pool, labels padded to `width`. */
void dm_cli_train_print_head(const dm_train_opts *o, const dm_train_report *r, int width);
/* LOCAL. "features ... -> N <inputs>" without the line end (kde appends the
 * PCA share). */
void dm_cli_train_print_features(const dm_train_opts *o, const dm_train_report *r, int width,
                                 const char *inputs);
/* LOCAL. The closing "seconds" line. */
void dm_cli_train_print_seconds(const dm_train_report *r, int width);

/* LOCAL. The JSON report's common fields (command, model, files, counts,
 * features); the caller adds its own and deletes it. NULL when out of memory. */
cJSON *dm_cli_train_json(const dm_train_opts *o, const dm_train_report *r);

#endif
