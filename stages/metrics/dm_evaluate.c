/* Scoring a submission against sealed labels (dm_evaluate.h). */
#include "dm_evaluate.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_csv.h"
#include "dm_evaluate_csv.h"
#include "dm_h5.h"
#include "dm_labels_file.h"
#include "dm_osel.h"
#include "dm_prov.h"
#include "dm_roc.h"
#include "dm_scores_file.h"
#include "dm_sha256.h"

#define N_EXAMPLES 5

static const double k_eps_b[DM_EVALUATE_N_EPS] = {1e-2, 1e-3, 1e-4};

void dm_evaluate_report_free(dm_evaluate_report *rep)
{
  free(rep->rows);
  memset(rep, 0, sizeof *rep);
}

static int is_hex64(const char *s)
{
  if (strlen(s) != 64)
    return 0;
  for (int i = 0; i < 64; i++)
    if (!isxdigit((unsigned char)s[i]))
      return 0;
  return 1;
}

/* The labels_sha256 attribute of a file, read on rank 0 and shared. */
static dm_status commitment_from_file(const char *path, char out[65], MPI_Comm comm)
{
  dm_status s = DM_OK;
  if (dm_rank(comm) == 0) {
    hid_t f = H5I_INVALID_HID;
    s = dm_h5_open_serial(path, 0, &f);
    if (s != DM_OK)
      dm_error_context("the commitment");
    if (s == DM_OK) {
      if (dm_h5_attr_get_str(f, "labels_sha256", out, 65) != DM_OK || !is_hex64(out))
        s = dm_error(DM_ERR_SCHEMA, "%s has no labels_sha256 attribute: not an unlabeled store "
                     "of dmpipe dataset secret", path);
      H5Fclose(f);
    }
  }
  s = dm_agree(s, comm);
  if (s == DM_OK)
    MPI_Bcast(out, 65, MPI_CHAR, 0, comm);
  return s;
}

static dm_status resolve_commitment(const dm_evaluate_opts *o, const dm_scores *sc,
                                    MPI_Comm comm, char out[65], char *src, size_t src_cap)
{
  if (o->commitment && is_hex64(o->commitment)) {
    for (int i = 0; i < 64; i++)
      out[i] = (char)tolower((unsigned char)o->commitment[i]);
    out[64] = 0;
    snprintf(src, src_cap, "hex");
    return DM_OK;
  }
  if (o->commitment) {
    snprintf(src, src_cap, "file %s", o->commitment);
    return commitment_from_file(o->commitment, out, comm);
  }
  if (!sc)
    return dm_error(DM_ERR_ARG, "a CSV submission needs --commitment: the unlabeled store (or "
                    "its labels_sha256) that the participants were given");
  const dm_scores_meta *m = dm_scores_get_meta(sc);
  /* The attribute must be the scored store's: check it is that file, with
   * the checksum the score stage records. */
  dm_status s = DM_OK;
  char hex[33] = "";
  if (m->store_checksum[0]) {
    s = dm_checksum_file_tree(m->store_path, comm, hex, NULL);
    if (s != DM_OK)
      s = dm_error(DM_ERR_ARG, "the scored store %s named by %s cannot be read (%s): give "
                   "--commitment", m->store_path, dm_scores_path(sc), dm_error_message());
    else if (strcmp(hex, m->store_checksum))
      s = dm_error(DM_ERR_ARG, "%s is not the store %s scored (checksum %s, scored %s): give "
                   "--commitment", m->store_path, dm_scores_path(sc), hex, m->store_checksum);
  }
  DM_FORWARD(dm_agree(s, comm));
  snprintf(src, src_cap, "scored store %.60s%s", m->store_path,
           m->store_checksum[0] ? "" : ", unchecked: no store checksum recorded");
  return commitment_from_file(m->store_path, out, comm);
}

/* ---- matching scores to labels ----------------------------------------------- */

typedef struct {
  int64_t id;
  double score;
} pair_t;

static int owner_of(int64_t row, int64_t n, int size)
{
  int64_t q = n / size, r = n % size;
  if (row < r * (q + 1))
    return (int)(row / (q + 1));
  return (int)(r + (row - r * (q + 1)) / q);
}

/* Up to N_EXAMPLES examples per kind, per rank, gathered in rank order. */
typedef struct {
  int64_t count[3];
  int64_t ex[3][N_EXAMPLES];
} problems_t;

static void note(problems_t *p, int k, int64_t id)
{
  if (p->count[k] < N_EXAMPLES)
    p->ex[k][p->count[k]] = id;
  p->count[k]++;
}

static dm_status report_problems(const problems_t *mine, const char *sub, const char *labels,
                                 int64_t n, MPI_Comm comm)
{
  int size = dm_size(comm);
  problems_t *all = malloc(sizeof(problems_t) * (size_t)size);
  if (!dm_alltrue(all != NULL, comm)) {
    free(all);
    return dm_error(DM_ERR_NOMEM, "no memory");
  }
  MPI_Allgather(mine, (int)sizeof *mine, MPI_BYTE, all, (int)sizeof *mine, MPI_BYTE, comm);
  static const char *const what[3] = {"missing", "duplicate", "unknown"};
  char msg[1024];
  size_t off = 0;
  int bad = 0;
  for (int k = 0; k < 3; k++) {
    int64_t tot = 0, shown = 0;
    for (int r = 0; r < size; r++)
      tot += all[r].count[k];
    if (tot == 0)
      continue;
    off += (size_t)snprintf(msg + off, sizeof msg - off, "%s%lld %s event ID%s (first:",
                            bad ? "; " : "", (long long)tot, what[k], tot > 1 ? "s" : "");
    for (int r = 0; r < size && shown < N_EXAMPLES; r++)
      for (int64_t j = 0; j < all[r].count[k] && j < N_EXAMPLES && shown < N_EXAMPLES; j++, shown++)
        off += (size_t)snprintf(msg + off, sizeof msg - off, " %lld", (long long)all[r].ex[k][j]);
    off += (size_t)snprintf(msg + off, sizeof msg - off, ")");
    bad = 1;
    if (off >= sizeof msg)
      off = sizeof msg - 1;
  }
  free(all);
  if (!bad)
    return DM_OK;
  return dm_error(DM_ERR_FORMAT, "submission %s does not score each of the %lld events of %s "
                  "exactly once: %s", sub, (long long)n, labels, msg);
}

/* Send each (id, score) to the rank holding its label row (id - 1); *score
 * of every owned row filled. Missing, duplicate and unknown IDs are an
 * agreed error naming the first few. */
static dm_status match_scores(const int64_t *ids, const double *scores, int64_t n_loc,
                              int64_t n, int64_t row0, int64_t n_own, const char *sub,
                              const char *labels, MPI_Comm comm, double *own_score)
{
  int size = dm_size(comm);
  problems_t pr;
  memset(&pr, 0, sizeof pr);
  int *sc = calloc((size_t)size, sizeof(int)), *rc = calloc((size_t)size, sizeof(int));
  int *sd = calloc((size_t)size, sizeof(int)), *rd = calloc((size_t)size, sizeof(int));
  pair_t *send = malloc(sizeof(pair_t) * (size_t)(n_loc > 0 ? n_loc : 1));
  uint8_t *seen = calloc((size_t)(n_own > 0 ? n_own : 1), 1);
  pair_t *recv = NULL;
  dm_status s = sc && rc && sd && rd && send && seen ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    for (int64_t i = 0; i < n_loc; i++)
      if (ids[i] < 1 || ids[i] > n)
        note(&pr, 2, ids[i]);
      else
        sc[owner_of(ids[i] - 1, n, size)]++;
    for (int r = 1; r < size; r++)
      sd[r] = sd[r - 1] + sc[r - 1];
    int *fill = calloc((size_t)size, sizeof(int));
    s = fill ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
    for (int64_t i = 0; s == DM_OK && i < n_loc; i++)
      if (ids[i] >= 1 && ids[i] <= n) {
        int r = owner_of(ids[i] - 1, n, size);
        send[sd[r] + fill[r]++] = (pair_t){ids[i], scores[i]};
      }
    free(fill);
    s = dm_agree(s, comm);
  }
  if (s == DM_OK) {
    MPI_Alltoall(sc, 1, MPI_INT, rc, 1, MPI_INT, comm);
    int64_t tot = 0;
    for (int r = 0; r < size; r++) {
      rd[r] = (int)tot;
      tot += rc[r];
    }
    recv = malloc(sizeof(pair_t) * (size_t)(tot > 0 ? tot : 1));
    s = dm_agree(recv ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory"), comm);
    if (s == DM_OK) {
      MPI_Datatype pt;
      MPI_Type_contiguous((int)sizeof(pair_t), MPI_BYTE, &pt);
      MPI_Type_commit(&pt);
      MPI_Alltoallv(send, sc, sd, pt, recv, rc, rd, pt, comm);
      MPI_Type_free(&pt);
      for (int64_t i = 0; i < tot; i++) {
        int64_t k = recv[i].id - 1 - row0;
        if (seen[k] < 2)
          seen[k]++;
        own_score[k] = recv[i].score;
      }
      for (int64_t k = 0; k < n_own; k++)
        if (seen[k] == 0)
          note(&pr, 0, row0 + k + 1);
        else if (seen[k] > 1)
          note(&pr, 1, row0 + k + 1);
    }
  }
  if (s == DM_OK)
    s = report_problems(&pr, sub, labels, n, comm);
  free(sc);
  free(rc);
  free(sd);
  free(rd);
  free(send);
  free(recv);
  free(seen);
  return dm_agree(s, comm);
}

/* ---- the stage ------------------------------------------------------------------ */

dm_status dm_evaluate_run(const dm_evaluate_opts *o, MPI_Comm comm, dm_evaluate_report *rep)
{
  double t0 = MPI_Wtime();
  memset(rep, 0, sizeof *rep);
  if (!o->labels || !o->submission)
    return dm_error(DM_ERR_ARG, "evaluate needs --labels and --submission");
  int rank = dm_rank(comm), size = dm_size(comm);
  /* What the submission is: an HDF5 signature means a score file. */
  int is_h5 = 0;
  dm_status s = DM_OK;
  if (rank == 0) {
    FILE *f = fopen(o->submission, "rb");
    unsigned char sig[8] = {0};
    if (!f)
      s = dm_error(DM_ERR_IO, "cannot open the submission %s: %s", o->submission,
                   strerror(errno));
    else {
      is_h5 = fread(sig, 1, 8, f) == 8 && !memcmp(sig, "\x89HDF\r\n\x1a\n", 8);
      fclose(f);
    }
  }
  DM_FORWARD(dm_agree(s, comm));
  MPI_Bcast(&is_h5, 1, MPI_INT, 0, comm);
  snprintf(rep->submission_kind, sizeof rep->submission_kind, "%s", is_h5 ? "scores" : "csv");
  const char *base = strrchr(o->submission, '/');
  base = base ? base + 1 : o->submission;
  if (o->model)
    snprintf(rep->model, sizeof rep->model, "%s", o->model);
  else {
    snprintf(rep->model, sizeof rep->model, "%s", base);
    char *dot = strrchr(rep->model, '.');
    if (dot && dot != rep->model)
      *dot = 0;
  }
  dm_scores *sc = NULL;
  if (is_h5)
    DM_FORWARD(dm_agree(dm_scores_open(o->submission, comm, &sc), comm));

  /* The commitment, then the labels' own hash. */
  char commit[65] = "";
  s = resolve_commitment(o, sc, comm, commit, rep->commitment_source,
                         sizeof rep->commitment_source);
  if (s == DM_OK) {
    if (rank == 0 && (s = dm_sha256_file(o->labels, rep->labels_sha256)) != DM_OK)
      dm_error_context("the labels");
    s = dm_agree(s, comm);
    if (s == DM_OK)
      MPI_Bcast(rep->labels_sha256, 65, MPI_CHAR, 0, comm);
    if (s == DM_OK && strcmp(rep->labels_sha256, commit))
      s = dm_error(DM_ERR_ARG, "%s has SHA-256 %s but the commitment (%s) is %s: these are not "
                   "the labels the dataset was published with (changed or replaced)", o->labels,
                   rep->labels_sha256, rep->commitment_source, commit);
  }
  dm_labels *lb = NULL;
  if (s == DM_OK)
    s = dm_labels_open(o->labels, comm, &lb);
  int64_t n = lb ? dm_labels_n_events(lb) : 0, b = 0, e = 0;
  dm_partition(n, rank, size, &b, &e);
  int64_t m = e - b;
  int64_t *lid = malloc(sizeof(int64_t) * (size_t)(m > 0 ? m : 1));
  uint16_t *lproc = malloc(sizeof(uint16_t) * (size_t)(m > 0 ? m : 1));
  uint8_t *lkind = malloc((size_t)(m > 0 ? m : 1));
  double *score = malloc(sizeof(double) * (size_t)(m > 0 ? m : 1));
  if (s == DM_OK) {
    s = dm_agree(!lid || !lproc || !lkind || !score ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK,
                 comm);
    if (s == DM_OK)
      s = dm_labels_read(lb, b, m, lid, lproc, lkind);
    for (int64_t i = 0; s == DM_OK && i < m; i++)
      if (lid[i] != b + i + 1)
        s = dm_error(DM_ERR_SCHEMA, "%s: row %lld has event ID %lld, expected %lld", o->labels,
                     (long long)(b + i), (long long)lid[i], (long long)(b + i + 1));
    s = dm_agree(s, comm);
  }
  if (s == DM_OK) {
    snprintf(rep->channel, sizeof rep->channel, "%s", dm_labels_get_meta(lb)->channel);
    rep->n_events = n;
  }
  /* The submission's pairs, each rank a stretch of the file in file order
   * (of any length: matching sends each pair to its label's rank). */
  int64_t *ids = NULL, n_loc = 0;
  double *scores = NULL;
  if (s == DM_OK && sc) {
    int64_t ns = dm_scores_n_events(sc), sb, se;
    dm_partition(ns, rank, size, &sb, &se);
    n_loc = se - sb;
    ids = malloc(sizeof(int64_t) * (size_t)(n_loc > 0 ? n_loc : 1));
    scores = malloc(sizeof(double) * (size_t)(n_loc > 0 ? n_loc : 1));
    s = dm_agree(!ids || !scores ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK, comm);
    if (s == DM_OK)
      s = dm_agree(dm_scores_read(sc, sb, n_loc, ids, NULL, scores), comm);
    for (int64_t i = 0; s == DM_OK && i < n_loc; i++)
      if (!isfinite(scores[i]))
        s = dm_error(DM_ERR_FORMAT, "%s: event %lld has score %g (not finite)", o->submission,
                     (long long)ids[i], scores[i]);
    s = dm_agree(s, comm);
  } else if (s == DM_OK) {
    s = dm_evaluate_read_csv(o->submission, comm, &ids, &scores, &n_loc);
  }
  if (s == DM_OK)
    s = match_scores(ids, scores, n_loc, n, b, m, o->submission, o->labels, comm, score);
  free(ids);
  free(scores);

  /* Per signal process: AUC and eps_S against the labelled background. */
  int np = lb ? dm_labels_n_processes(lb) : 0;
  int64_t *nsig = calloc((size_t)(np > 0 ? np : 1), sizeof(int64_t));
  double *bs = malloc(sizeof(double) * (size_t)(m > 0 ? m : 1));
  double *ss = malloc(sizeof(double) * (size_t)(m > 0 ? m : 1));
  if (s == DM_OK)
    s = dm_agree(!nsig || !bs || !ss ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK, comm);
  dm_osel_set bkg;
  memset(&bkg, 0, sizeof bkg);
  if (s == DM_OK) {
    int64_t nb = 0, nd = 0;
    for (int64_t i = 0; i < m; i++) {
      if (lkind[i] == DM_LABEL_BACKGROUND)
        bs[nb++] = score[i];
      else if (lkind[i] == DM_LABEL_SIGNAL)
        nsig[lproc[i]]++;
      else
        nd++;
    }
    s = dm_allsum_i64_array(nsig, np, comm);
    rep->n_decoy = dm_allsum_i64(nd, comm);
    if (s == DM_OK)
      s = dm_agree(dm_osel_build(&bkg, bs, NULL, nb, comm), comm);
    rep->n_background = bkg.n_total;
    if (s == DM_OK && bkg.n_total == 0)
      s = dm_error(DM_ERR_NUMERIC, "%s labels no background event", o->labels);
    int n_rows = 0;
    for (int p = 0; p < np; p++)
      n_rows += nsig[p] > 0;
    rep->rows = calloc((size_t)(n_rows > 0 ? n_rows : 1), sizeof *rep->rows);
    if (s == DM_OK)
      s = dm_agree(!rep->rows ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK, comm);
    for (int p = 0; s == DM_OK && p < np; p++) {
      if (nsig[p] == 0)
        continue;
      int64_t k = 0;
      for (int64_t i = 0; i < m; i++)
        if (lkind[i] == DM_LABEL_SIGNAL && lproc[i] == p)
          ss[k++] = score[i];
      dm_osel_set sg;
      memset(&sg, 0, sizeof sg);
      s = dm_agree(dm_osel_build(&sg, ss, NULL, k, comm), comm);
      dm_evaluate_row *r = &rep->rows[rep->n_rows];
      if (s == DM_OK)
        s = dm_agree(dm_roc_compute(&bkg, &sg, k_eps_b, DM_EVALUATE_N_EPS, comm, &r->auc,
                                    r->eps_s),
                     comm);
      dm_osel_free(&sg);
      if (s == DM_OK) {
        snprintf(r->signal, sizeof r->signal, "%s", dm_labels_process_name(lb, p));
        r->n_signal = nsig[p];
        rep->n_signal += nsig[p];
        rep->n_rows++;
      }
    }
  }
  dm_osel_free(&bkg);
  free(nsig);
  free(bs);
  free(ss);
  free(lid);
  free(lproc);
  free(lkind);
  free(score);
  dm_labels_close(lb);
  dm_scores_close(sc);
  rep->seconds = dm_allmax_f64(MPI_Wtime() - t0, comm);
  return s;
}

char *dm_evaluate_table(const dm_evaluate_report *rep)
{
  size_t cap = 128 + (size_t)rep->n_rows * (64 + 160 + 16 + 5 * 32);
  char *t = malloc(cap);
  if (!t)
    return NULL;
  const char *chan = rep->channel;
  if (!strncmp(chan, "chan", 4))
    chan += 4;
  size_t off = (size_t)snprintf(t, cap, "Signal,Model,Chan,AUC,1e-2,1e-3,1e-4\n");
  for (int i = 0; i < rep->n_rows; i++) {
    const dm_evaluate_row *r = &rep->rows[i];
    off += (size_t)snprintf(t + off, cap - off, "%s,%s,%s", r->signal, rep->model, chan);
    double v[4] = {r->auc, r->eps_s[0], r->eps_s[1], r->eps_s[2]};
    for (int k = 0; k < 4; k++) {
      char b[40];
      size_t n = dm_csv_format_shortest(v[k], 1, b);
      b[n] = 0;
      off += (size_t)snprintf(t + off, cap - off, ",%s", b);
    }
    off += (size_t)snprintf(t + off, cap - off, "\n");
  }
  return t;
}
