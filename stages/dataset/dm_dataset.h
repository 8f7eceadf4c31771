/* dm_dataset.h - the dataset stage: the challenge's datasets cut from channel
 * selections of one store (dmpipe select output, one per channel).
 *
 * Hackathon set (dm_dataset_hackathon_run), per channel:
 *   - background: unit-weight SM events at luminosity L. Process p expects
 *     mu_p = S_p x L / L_w events, S_p being the exact sum (dm_xsum, rounded
 *     once) of the weights of p's selected events and L_w the luminosity
 *     those weights are for: the selection's /derived/weight (dmpipe weight)
 *     with its lumi_fb attribute when present, else the archive's
 *     /events/weight at opts.weight_lumi (10 fb^-1, the archive's
 *     convention). Rounding rule: N_p = floor(mu_p + 1/2). N_p events are
 *     drawn without replacement from p's selected events; fewer than N_p
 *     selected events is DM_ERR_ARG naming p, N_p and the largest L p allows.
 *     L = 0 asks for the largest L every SM process supports: the largest
 *     number with 3 significant digits below min_p (n_p + 1/2) / (S_p / L_w),
 *     and the report names the limiting process.
 *   - the drawn background is shuffled (seeded) and split: the first
 *     N_train = floor(f N + 1/2) events train, the rest test (the challenge's
 *     convention). Written as background_<chan>_<L>.csv in the archive's
 *     format (shuffled order, weight 1, event and process IDs kept) and a
 *     store of each part, background_<chan>_<L>_train.h5 and _test.h5;
 *     <L> is L printed %g.
 *   - every selected signal s (BSM processes of the process table, or the
 *     named ones) as <s>_<chan>.csv plus <s>_<chan>.h5: all its selected
 *     events in store order, weight w / (1000 L_w) pb, which is the archive's
 *     sigma / N_lines (N_lines: the process's events in the parent store).
 *   - DIR/manifest.json: every file with its role (background for the CSV,
 *     train, test, signal), channel, luminosity, events per process, size
 *     and XXH3-128 checksum; per channel the luminosity, its limiting
 *     process, the weight source, the expected events of each background
 *     process and signal; the seed, the parent store's checksum and the
 *     command line.
 *
 * Secret set (dm_dataset_secret_run), one channel:
 *   - background drawn as above (rates from every selected event, draws from
 *     the events not excluded); each injected signal s with
 *     N_s = floor(MU x mu_s + 1/2) events drawn without replacement;
 *   - decoys: N_d = floor(F / (1 - F) x (N_b + N_s) + 1/2) events, so they
 *     make a fraction F of the file. Decoy j copies a real event of the set
 *     chosen uniformly (with replacement, stream (seed, j)), turned by a
 *     uniform azimuthal rotation (every phi and MET phi) and, with
 *     probability 1/2, the reflection eta -> -eta: exact symmetries of the
 *     collisions and of the detector acceptance and channel cuts, so a decoy
 *     is distributed exactly as a real event and passes the channel. Rotated
 *     angles are rounded to 6 significant digits like every archive value,
 *     so their digits carry no mark. Evaluations ignore decoys; their purpose
 *     is that the file's size and content do not reveal the injection.
 *   - excluded events (opts.exclude_manifest, a hackathon manifest from the
 *     same parent store): every (process, event ID) of its stores is never
 *     drawn, so the sets are statistically independent;
 *   - blinded output: one seeded shuffle of everything; event IDs renumbered
 *     1..N in file order; process field "unlabeled"; weight 1; every number
 *     printed as the archive prints it; the store written by the same writer
 *     with a fixed chunk layout. unlabeled_<chan>.csv and unlabeled_<chan>.h5
 *     for participants (the store's command_line attribute is withheld, as
 *     it names the injection; its "labels_sha256" attribute is the SHA-256 of
 *     the labels file); labels_<chan>.h5 (io/dm_labels_file.h) for the
 *     organisers. The seed is the secret that protects the labels: with the
 *     public parent store and the seed, anyone could redraw the set.
 *
 * Memory: each rank holds its block of the selection, and the draw plan of
 * the channel (about 24 bytes per selected event) computed identically on
 * every rank from (seed, channel, per-process counts), so the outputs do not
 * depend on the number of ranks: the CSV files and the manifest are
 * byte-identical, the stores hold identical datasets.
 *
 * Calls are COLLECTIVE and return the same (agreed) status on every rank
 * unless marked LOCAL.
 */
#ifndef DM_DATASET_H
#define DM_DATASET_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "dm_status.h"

#define DM_DATASET_MAX_CHANNELS 8
#define DM_DATASET_MAX_INJECT 32
#define DM_DATASET_NAME_MAX 64

typedef struct {
  char name[DM_DATASET_NAME_MAX]; /* channel name: in file names and the manifest */
  const char *selection;          /* its selected store (dmpipe select) */
  const char *what;               /* how messages name it ("the chan3 selection of
                                     store.h5"); NULL = the selection's path */
} dm_dataset_channel;

typedef struct {
  int n_channels;
  dm_dataset_channel channels[DM_DATASET_MAX_CHANNELS];
  const char *out_dir;      /* exists */
  double lumi;              /* fb^-1; 0 = the largest every SM process supports */
  const char *signals;      /* "bsm" (NULL too) or comma-separated names */
  double train_fraction;    /* (0, 1]; default 0.9 */
  uint64_t seed;
  const char *xsec_path;    /* process table for the kinds; NULL = the shipped one */
  double weight_lumi;       /* fb^-1 of /events/weight; default 10 */
  const char *parent_path;  /* for the manifest (as given) */
  const char *command_line; /* for the manifest and provenance */
  int64_t batch_events;     /* events per rank per round; 0 = 65536 */
} dm_dataset_hackathon_opts;

/* Per channel and process: what was available, expected, drawn. */
typedef struct {
  char name[DM_DATASET_NAME_MAX];
  int kind;            /* 0 sm, 1 bsm */
  int64_t selected;    /* selected events */
  int64_t available;   /* not excluded */
  double expected;     /* mu at the luminosity (x MU for an injected signal) */
  int64_t drawn;       /* background / injected events drawn (hackathon signal: written) */
  int64_t n_train, n_test;
} dm_dataset_proc_row;

typedef struct {
  char name[DM_DATASET_NAME_MAX];
  double lumi;
  char lumi_text[32];
  char limiting[DM_DATASET_NAME_MAX]; /* with lumi = max: the limiting process */
  char weight_source[64];
  double weight_lumi;
  int64_t n_selected, n_background, n_train, n_test, n_signal_files, n_decoys, n_excluded;
  int n_proc;
  dm_dataset_proc_row *proc;
} dm_dataset_channel_report;

typedef struct {
  int n_channels;
  dm_dataset_channel_report channels[DM_DATASET_MAX_CHANNELS];
  char parent_checksum[33];
  char labels_sha256[65]; /* secret */
  int64_t n_files;
  double seconds;
} dm_dataset_report;

/* LOCAL. Defaults: lumi max, signals bsm, train fraction 0.9, seed 1,
 * weight_lumi 10. */
void dm_dataset_hackathon_opts_default(dm_dataset_hackathon_opts *o);

/* COLLECTIVE. Build the hackathon set. On failure no output is left under a
 * final name except the files completed before the failing one (the
 * manifest, written last, never exists then). */
dm_status dm_dataset_hackathon_run(const dm_dataset_hackathon_opts *opts, MPI_Comm comm,
                                   dm_dataset_report *rep);

typedef struct {
  char name[DM_DATASET_NAME_MAX];
  double mu;
} dm_dataset_injection;

typedef struct {
  dm_dataset_channel channel;
  const char *out_dir;
  double lumi;             /* 0 = max */
  int n_inject;
  dm_dataset_injection inject[DM_DATASET_MAX_INJECT];
  double decoy_fraction;   /* [0, 0.9]; default 0.1 */
  const char *exclude_manifest; /* NULL = none */
  uint64_t seed;
  const char *xsec_path;
  double weight_lumi;
  const char *command_line;
  int64_t batch_events;
} dm_dataset_secret_opts;

/* LOCAL. Defaults: lumi max, decoy fraction 0.1, weight_lumi 10 (the seed
 * is the caller's: it must be secret). */
void dm_dataset_secret_opts_default(dm_dataset_secret_opts *o);

/* COLLECTIVE. Build the secret set: unlabeled CSV and store, labels file. */
dm_status dm_dataset_secret_run(const dm_dataset_secret_opts *opts, MPI_Comm comm,
                                dm_dataset_report *rep);

/* LOCAL. Frees the report's arrays (accepts a zeroed report). */
void dm_dataset_report_free(dm_dataset_report *rep);

/* LOCAL. The per-channel table: processes with selected, expected, drawn. */
void dm_dataset_report_print(FILE *f, const dm_dataset_report *rep, int secret);

#endif
