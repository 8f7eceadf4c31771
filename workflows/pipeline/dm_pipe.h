/* dm_pipe.h - a pipeline file and the graph of steps it describes.
 *
 * A pipeline file (YAML; every key in README "Pipeline file" and `dmpipe run
 * --help`) names the archive, the process table, the luminosity, the
 * channels, the models, the metrics, ranks/threads/time per step and a work
 * folder. dm_pipe_load parses it; dm_pipe_steps lists the steps of its graph
 * in an order where every step follows the steps it depends on:
 *
 *   generate (optional) -> ingest -> weight -> select.C (per channel)
 *     -> train.C.M (per channel and model) -> score.C.M -> metrics.M
 *   weight -> hist (optional: histograms of the store)
 *   weight -> dataset.KIND.CHANNEL (optional: the challenge's datasets)
 *
 * Every step is one dmpipe command run as its own program (mpirun, srun or
 * directly), so a step can run here, as a Slurm job, or by hand, and every
 * output records its inputs and command line (io/dm_prov.h).
 *
 * The pipeline driver is not an MPI program: everything here is LOCAL and
 * runs in one process (the commands it starts are the MPI programs).
 */
#ifndef DM_PIPE_H
#define DM_PIPE_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdint.h>

#include "dm_status.h"

/* Step kinds, in graph order. */
typedef enum {
  DM_PIPE_GENERATE = 0,
  DM_PIPE_INGEST,
  DM_PIPE_WEIGHT,
  DM_PIPE_SELECT,
  DM_PIPE_TRAIN,
  DM_PIPE_SCORE,
  DM_PIPE_METRICS,
  DM_PIPE_HIST,    /* histograms: (not a step section of its own) */
  DM_PIPE_DATASET, /* datasets: entries */
  DM_PIPE_KINDS
} dm_pipe_kind;

/* "generate", "ingest", ... */
const char *dm_pipe_kind_name(dm_pipe_kind k);

/* Extra flags for a command: "--key value" (value NULL: the flag alone). */
typedef struct {
  int n;
  char **key, **val;
} dm_pipe_flags;

/* How a step runs: ranks, OpenMP threads per rank, Slurm time limit in
 * minutes, extra flags of its command. */
typedef struct {
  int ranks, threads;
  double minutes;
  dm_pipe_flags flags;
} dm_pipe_res;

typedef struct {
  char *name; /* folder and --scores label */
  char *cuts; /* cut file (absolute), or NULL for the built-in channel `name` */
} dm_pipe_channel;

typedef struct {
  char *name; /* label in file names */
  char *kind; /* kde, svdd, null */
  dm_pipe_res res;
} dm_pipe_model;

/* One entry of datasets: - a `dmpipe dataset KIND` of one channel into
 * WORKDIR/datasets/KIND/CHANNEL. Values are kept as the flags' text
 * (checked when parsed); NULL: the command's default. */
typedef struct {
  char *kind;    /* hackathon, secret */
  char *channel; /* a built-in channel */
  char *lumi, *seed, *signals, *train_fraction, *weight_lumi; /* hackathon and secret */
  char *inject, *decoys;                                       /* secret */
  int exclude; /* secret: not drawing the events of this pipeline's hackathon set of CHANNEL */
  dm_pipe_res res;
  int line;
} dm_pipe_dataset;

typedef enum { DM_LAUNCH_AUTO, DM_LAUNCH_MPIRUN, DM_LAUNCH_SRUN, DM_LAUNCH_DIRECT } dm_pipe_launch;

typedef struct {
  char *path;    /* the pipeline file as given */
  char *dir;     /* its folder (absolute): relative paths in it resolve here */
  char *workdir; /* absolute */
  int n_archive;
  char **archive; /* folders (their *.csv) or glob patterns, absolute */
  int generate;   /* archive made by a generate step into WORKDIR/archive */
  int64_t gen_events;
  uint64_t gen_seed;
  char *gen_processes; /* NULL = the generator's default */
  char *xsec;          /* process table (absolute), NULL = the shipped one */
  double lumi;
  dm_pipe_launch launch;
  dm_pipe_res res[DM_PIPE_KINDS];
  int histograms; /* metrics --hist-out */
  /* histograms: the store's histograms (dmpipe hist) in WORKDIR/hist/all.hist.h5;
   * per sample and merged in per_sample mode. */
  int hist;
  char *hist_bins; /* --bins FILE (absolute), or NULL */
  int n_hist_vars;
  char **hist_vars; /* --var SPEC each */
  int hist_line;    /* of the histograms: key */
  int n_datasets;
  dm_pipe_dataset *datasets;
  int n_channels;
  dm_pipe_channel *channels;
  int n_models;
  dm_pipe_model *models;
  /* Set by the caller, not the file: dmpipe nightly ingests each archive
   * file into WORKDIR/samples/NAME.h5 (step ingest.NAME) and joins them
   * (step catalog) into WORKDIR/store.h5, which the later steps read. */
  int per_sample;
} dm_pipe;

/* LOCAL. Parses and checks a pipeline file. Unknown keys, wrong types and
 * bad values fail with DM_ERR_FORMAT naming the file, line and key. Flags
 * given as `options:` are checked against the command's --help (dmpipe_exe
 * prints it), so a misspelt flag fails here, not hours later. */
dm_status dm_pipe_load(const char *path, const char *dmpipe_exe, dm_pipe **out);
void dm_pipe_free(dm_pipe *p);

/* One step of the graph. Paths are absolute. */
typedef struct {
  char name[160];
  dm_pipe_kind kind;
  int channel, model; /* indices, -1 when not per channel / model */
  dm_pipe_res res;
  int argc;
  char **argv;           /* the dmpipe command and its flags (no program name) */
  int n_deps, *deps;     /* indices of earlier steps */
  int n_in;              /* input files (their checksums decide reruns) */
  char **in;             /* archive inputs are listed when the step is evaluated */
  int n_out;
  char **out;           /* outputs the step must leave */
  char *out_glob;       /* generate: its outputs are the files matching this */
  char *log;            /* WORKDIR/logs/NAME.log */
  char *checkpoint;     /* svdd training: removed before a fresh run */
} dm_pipe_step;

/* LOCAL. The graph's steps in dependency order. Inputs of the ingest step
 * are the archive's files as found now (after a generate step, call
 * dm_pipe_step_refresh). */
dm_status dm_pipe_steps(const dm_pipe *p, dm_pipe_step **steps, int *n);
/* LOCAL. Re-lists the archive inputs of an ingest step (after generate ran;
 * not in per_sample mode, where the graph is built after generate ran). */
dm_status dm_pipe_step_refresh(const dm_pipe *p, dm_pipe_step *s);
void dm_pipe_steps_free(dm_pipe_step *steps, int n);

/* LOCAL. Files of the archive: each folder's *.csv and each glob's matches,
 * sorted and without duplicates. An entry matching nothing is an error
 * naming it. */
dm_status dm_pipe_archive_files(const dm_pipe *p, char ***files, int *n);

/* Step states. After `run`: ran, skipped (outputs up to date), failed,
 * blocked (a step it depends on failed). From `status` (nothing runs):
 * up-to-date, stale (would run; the reason says why), waiting (a step it
 * depends on is stale or missing). */
typedef enum {
  DM_STEP_PENDING = 0,
  DM_STEP_RAN,
  DM_STEP_SKIPPED,
  DM_STEP_FAILED,
  DM_STEP_BLOCKED,
  DM_STEP_UPTODATE,
  DM_STEP_STALE,
  DM_STEP_WAITING
} dm_step_state;
const char *dm_step_state_name(dm_step_state s);

typedef struct {
  int run;           /* 1: run what is stale; 0: only evaluate (status) */
  const char *only;  /* run only the step of this name (a Slurm job); NULL: all */
  int quiet;         /* no line per step on stdout */
  const char *exe;   /* the dmpipe program the steps run */
  const char *cmd;   /* "run", "nightly": names the command in messages */
} dm_pipe_exec_opts;

/* LOCAL. Evaluates every step (and runs the stale ones when opts->run): a
 * step is up to date when its record (WORKDIR/.dmpipe/steps/NAME.json)
 * names the same dmpipe version, command and input checksums as now, and
 * every output it recorded exists with the recorded checksum. Checksums of
 * unchanged files (same path, size and mtime) come from a cache in
 * WORKDIR/.dmpipe/checksums.tsv. A failing step stops its dependents; the
 * others go on. When running the whole graph, WORKDIR/run.json is rewritten
 * (atomically) after every step. *report receives the same JSON (caller
 * frees it with cJSON_Delete); *n_failed the failed and blocked steps.
 * Returns DM_OK when the graph could be evaluated (steps may have failed). */
struct cJSON;
dm_status dm_pipe_execute(const dm_pipe *p, const dm_pipe_exec_opts *opts,
                          struct cJSON **report, int *n_failed);

/* Exit status of a command that found its work folder locked (sysexits'
 * EX_TEMPFAIL: cron and scrontab wrappers tell "busy" from "failed"). */
#define DM_PIPE_BUSY 75


/* LOCAL. Small helpers shared by the pipeline files. */
char *dm_pipe_strdup(const char *s);
char *dm_pipe_join(const char *dir, const char *rel); /* rel if absolute */
char *dm_pipe_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dm_pipe_strv_free(char **v, int n);
/* mkdir -p */
dm_status dm_pipe_mkdirs(const char *dir);
/* LOCAL. The JSON file at path, parsed (free with cJSON_Delete), or NULL when
 * it is missing, unreadable or not JSON. */
cJSON *dm_pipe_read_json(const char *path);
/* LOCAL. The string member k of o, or NULL. */
const char *dm_pipe_jstr(const cJSON *o, const char *k);

/* LOCAL. One line "TI MODEL min .. median .. max .." from a metrics JSON
 * summary m (named by m->string), or says that no TI was quoted and why. */
void dm_pipe_ti_line(FILE *out, const cJSON *m);

/* A step input or output "STORE.h5" DM_PIPE_DERIVED stands for the derived
 * columns of that store (checksummed through the store's index file). */
#define DM_PIPE_DERIVED "#derived"

/* LOCAL. Writes buf to PATH through the one atomic write path (io/dm_atomic.h:
 * claim, temporary unique to this process, fsync, rename, folder fsync). */
dm_status dm_pipe_write_atomic(const char *path, const char *buf, size_t len);

#endif
