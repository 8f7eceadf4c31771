#include "dm_generate.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dm_atomic.h"
#include "dm_comm.h"
#include "dm_gen_format.h"
#include "dm_gen_model.h"
#include "dm_io_tune.h"
#include "dm_proctable.h"
#include "dm_progress.h"
#include "dm_rng.h"

/* A block is written in pieces of this size: one write() of several MiB
 * into the page cache cost this kernel two to three times the system time
 * of the same bytes written 1 MiB at a time (measured: 0.3-0.55 s against
 * 0.10-0.15 s for 314 MB). */
#define WRITE_PIECE ((size_t)1 << 20)

/* Salts that separate the bad-line decisions from the event streams. */
#define SALT_BAD 0x6261646c696e6531ULL
#define SALT_KIND 0x6261646b696e6432ULL

void dm_generate_opts_default(dm_generate_opts *o)
{
  memset(o, 0, sizeof *o);
  o->seed = DM_GENERATE_DEFAULT_SEED;
  o->processes = "all";
  o->lumi_fb = 10.0;
  o->trailing_semicolon = 1;
}

void dm_generate_report_free(dm_generate_report *rep)
{
  if (!rep)
    return;
  free(rep->proc);
  rep->proc = NULL;
  rep->n_proc = 0;
}

dm_status dm_generate_counts(int64_t n_total, int p, const double *sigma, int64_t *n,
                             int64_t *floor_out)
{
  if (p <= 0)
    return dm_error(DM_ERR_ARG, "no processes chosen");
  if (n_total < p)
    return dm_error(DM_ERR_ARG,
                    "--events %lld is smaller than the number of processes (%d): every file "
                    "needs at least one line",
                    (long long)n_total, p);
  int64_t fl = (int64_t)floor(0.05 * (double)n_total / p);
  if (fl < 1)
    fl = 1;
  int64_t rest = n_total - fl * p;
  double s = 0;
  for (int i = 0; i < p; i++)
    s += sigma[i];
  double *frac = malloc(sizeof *frac * (size_t)p);
  if (!frac)
    return dm_error(DM_ERR_NOMEM, "out of memory");
  int64_t given = 0;
  for (int i = 0; i < p; i++) {
    double q = s > 0 ? (double)rest * (sigma[i] / s) : (double)rest / p;
    double b = floor(q);
    n[i] = fl + (int64_t)b;
    frac[i] = q - b;
    given += (int64_t)b;
  }
  /* Largest remainders take the events rounding left over; ties go to the
   * earlier process. Rounding in q can leave given a little off either way. */
  while (given < rest) {
    int best = 0;
    for (int i = 1; i < p; i++)
      if (frac[i] > frac[best])
        best = i;
    n[best]++;
    frac[best] = -1;
    given++;
  }
  while (given > rest) {
    int worst = -1;
    for (int i = 0; i < p; i++)
      if (n[i] > fl && (worst < 0 || frac[i] < frac[worst]))
        worst = i;
    n[worst]--;
    frac[worst] = 2;
    given--;
  }
  free(frac);
  if (floor_out)
    *floor_out = fl;
  return DM_OK;
}

/* ---- choosing processes ------------------------------------------------- */

typedef struct {
  const dm_process *p;
  dm_gen_model model;
  uint64_t key;
  int64_t n;
  double weight;
  char prefix[256]; /* "name;weight;" */
  size_t prefix_len;
  int64_t n_long;   /* too-long lines */
  int64_t block;    /* events per block of this file */
  int64_t first_block, n_blocks;
} gen_file;

static int usable(const dm_process *p) { return isfinite(p->sigma_pb) && p->model && *p->model; }

static dm_status choose(const dm_proctable *t, const char *list, int *chosen)
{
  int n = dm_proctable_count(t);
  memset(chosen, 0, sizeof *chosen * (size_t)n);
  if (!list || !*list)
    return dm_error(DM_ERR_ARG, "--processes is empty");
  char *buf = strdup(list);
  if (!buf)
    return dm_error(DM_ERR_NOMEM, "out of memory");
  dm_status st = DM_OK;
  char *save = NULL;
  int any = 0;
  for (char *tok = strtok_r(buf, ",", &save); tok && st == DM_OK;
       tok = strtok_r(NULL, ",", &save)) {
    int all = !strcmp(tok, "all"), sm = !strcmp(tok, "sm"), bsm = !strcmp(tok, "bsm");
    any = 1;
    if (all || sm || bsm) {
      for (int i = 0; i < n; i++) {
        const dm_process *p = dm_proctable_get(t, i);
        if (usable(p) && (all || (sm && p->kind == DM_PROC_SM) || (bsm && p->kind == DM_PROC_BSM)))
          chosen[i] = 1;
      }
      continue;
    }
    const dm_process *p;
    st = dm_proctable_lookup(t, tok, 1, &p);
    if (st == DM_OK)
      chosen[dm_proctable_index(t, tok)] = 1;
  }
  free(buf);
  if (st == DM_OK && !any)
    st = dm_error(DM_ERR_ARG, "--processes '%s' names no process", list);
  return st;
}

/* ---- the run ------------------------------------------------------------ */

typedef struct {
  dm_generate_report *rep;
  gen_file *files;
  int nf;
  int64_t *bad; /* nf x DM_BAD_NKINDS, this rank's counts */
  char *buf[2];  /* the block being formatted and the one being written */
  size_t cap[2];
  int cur;       /* which of the two format_block fills */
  MPI_File *fh;
  int *fh_open;  /* agreed: MPI_File_close is collective */
  dm_atomic *at; /* per file: claim and run-unique temporary (dm_atomic.h) */
} gen_ctx;

static dm_status grow(gen_ctx *c, size_t need)
{
  if (need <= c->cap[c->cur])
    return DM_OK;
  size_t cap = c->cap[c->cur] ? c->cap[c->cur] : ((size_t)1 << 20);
  while (cap < need)
    cap *= 2;
  char *b = realloc(c->buf[c->cur], cap);
  if (!b)
    return dm_error(DM_ERR_NOMEM, "out of memory for a block of %zu bytes", cap);
  c->buf[c->cur] = b;
  c->cap[c->cur] = cap;
  return DM_OK;
}

static dm_bad_kind bad_kind_of(const dm_generate_opts *o, const gen_file *f, int64_t i,
                               uint64_t *variant)
{
  *variant = 0;
  if (!(o->bad_rate > 0))
    return DM_BAD_NONE;
  if (f->n_long > 0) {
    /* Evenly spaced: position floor((j + 1/2) n / k) for j < k. */
    int64_t k = f->n_long;
    int64_t j = (2 * i * k) / (2 * f->n); /* candidate slot */
    for (int64_t jj = j > 0 ? j - 1 : 0; jj <= j + 1 && jj < k; jj++)
      if ((int64_t)floor((jj + 0.5) * (double)f->n / (double)k) == i) {
        *variant = jj;
        return DM_BAD_TOO_LONG;
      }
  }
  uint64_t h = dm_rng_hash(o->seed ^ SALT_BAD, f->key, (uint64_t)i);
  double u = (double)(h >> 11) * 0x1.0p-53;
  if (!(u < o->bad_rate))
    return DM_BAD_NONE;
  uint64_t h2 = dm_rng_hash(o->seed ^ SALT_KIND, f->key, (uint64_t)i);
  *variant = h2 >> 8;
  if (i == f->n - 1)
    return DM_BAD_TRUNCATED;
  static const dm_bad_kind kinds[5] = {DM_BAD_FIELD_COUNT, DM_BAD_NUMBER, DM_BAD_NONFINITE,
                                       DM_BAD_OBJECT_CODE, DM_BAD_EMPTY_PROCESS};
  return kinds[h2 % 5];
}

/* Format events [begin, end) of file fi into c->buf[c->cur]; *len receives
 * bytes. */
static dm_status format_block(gen_ctx *c, const dm_generate_opts *o, int fi, int64_t begin,
                              int64_t end, size_t *len)
{
  gen_file *f = &c->files[fi];
  size_t used = 0;
  dm_gen_event ev;
  for (int64_t i = begin; i < end; i++) {
    uint64_t variant;
    dm_bad_kind bad = bad_kind_of(o, f, i, &variant);
    size_t room = bad == DM_BAD_TOO_LONG ? DM_GEN_TOO_LONG_BYTES + 2 * DM_GEN_LINE_MAX
                                         : DM_GEN_LINE_MAX;
    DM_FORWARD(grow(c, used + room));
    dm_status st = dm_gen_model_event(&f->model, o->seed, f->key, i, &ev);
    if (st != DM_OK) {
      dm_error_context("process %s (model %s, table line %d)", f->p->name, f->p->model,
                       f->p->line);
      return st;
    }
    used += dm_gen_format_line(&ev, (uint64_t)i + 1, f->prefix, f->prefix_len,
                               o->trailing_semicolon, bad, variant, c->buf[c->cur] + used, room);
    if (bad != DM_BAD_NONE)
      c->bad[fi * DM_BAD_NKINDS + bad]++;
  }
  *len = used;
  return DM_OK;
}

static dm_status mpi_err(int rc, const char *what, const char *path)
{
  char msg[MPI_MAX_ERROR_STRING];
  int ml = 0;
  MPI_Error_string(rc, msg, &ml);
  return dm_error(DM_ERR_IO, "%s %s: %s", what, path, msg);
}

static void file_path(char *out, size_t cap, const char *dir, const char *name, const char *ext)
{
  snprintf(out, cap, "%s/%s.csv%s", dir, name, ext);
}

static dm_status make_dir(const char *dir)
{
  struct stat sb;
  if (stat(dir, &sb) == 0)
    return S_ISDIR(sb.st_mode) ? DM_OK
                               : dm_error(DM_ERR_IO, "--out %s exists and is not a directory", dir);
  if (mkdir(dir, 0777) != 0 && errno != EEXIST)
    return dm_error(DM_ERR_IO, "--out %s: cannot create: %s", dir, strerror(errno));
  return DM_OK;
}

/* One round's exchange: what each rank formatted (file, bytes, status). */
typedef struct {
  long long mine[3];
  long long *all; /* 3 x size */
  MPI_Request req;
  size_t len;
} gen_round;

/* Complete round `rd` (its allgather was started one round earlier): give
 * every block its offset in round order and write this rank's block from
 * buf in pieces of WRITE_PIECE. Returns 1 if some rank reported a failure
 * (the same verdict on every rank, from the same gathered data). */
/* Wait for a round's exchange without spinning: a rank that is a block
 * ahead waits for a slower one, and polling MPI for that time would take
 * the core from the slower rank (or anything else) whenever there are more
 * runnable processes than cores. A round is milliseconds of work, so
 * checking every 50 us costs no measurable time. */
static void wait_politely(MPI_Request *req)
{
  int done = 0;
  MPI_Test(req, &done, MPI_STATUS_IGNORE);
  while (!done) {
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
    MPI_Test(req, &done, MPI_STATUS_IGNORE);
  }
}

static int finish_round(gen_ctx *c, const dm_generate_opts *o, gen_round *rd, const char *buf,
                        int64_t *fsize, int rank, int size, dm_status *st)
{
  wait_politely(&rd->req);
  const long long *all = rd->all;
  for (int q = 0; q < size; q++)
    if (all[3 * q + 2] != DM_OK)
      return 1;
  int64_t off = 0;
  for (int q = 0; q < size; q++) {
    if (all[3 * q] < 0)
      continue;
    int f = (int)all[3 * q];
    if (q == rank)
      off = fsize[f];
    fsize[f] += all[3 * q + 1];
  }
  int fi = (int)rd->mine[0];
  if (fi < 0)
    return 0;
  for (size_t done = 0; done < rd->len && *st == DM_OK;) {
    int chunk = rd->len - done > WRITE_PIECE ? (int)WRITE_PIECE : (int)(rd->len - done);
    MPI_Status ms;
    int rc = MPI_File_write_at(c->fh[fi], (MPI_Offset)(off + (int64_t)done), buf + done, chunk,
                               MPI_BYTE, &ms);
    if (rc != MPI_SUCCESS) {
      *st = mpi_err(rc, "writing", c->at[fi].tmp_path);
    }
    done += (size_t)chunk;
  }
  return 0;
}

/* The rounds of formatting and writing (see the header). The exchange of
 * round r runs while round r + 1 is formatted (two block buffers), so a
 * rank waits for the others only when it is a whole block ahead: a rank
 * that was slowed down (a busy core, a costlier process) no longer stalls
 * every other rank at every round. A failure reported in round r is seen
 * by all ranks when they complete round r, one round later. */
static dm_status write_rounds(gen_ctx *c, const dm_generate_opts *o, int64_t total_blocks,
                              MPI_Comm comm, dm_progress *prog)
{
  int rank = dm_rank(comm), size = dm_size(comm);
  int64_t rounds = (total_blocks + size - 1) / size;
  int64_t *fsize = calloc((size_t)c->nf, sizeof *fsize);
  gen_round rd[2];
  memset(rd, 0, sizeof rd);
  rd[0].all = malloc(sizeof *rd[0].all * 3 * (size_t)size);
  rd[1].all = malloc(sizeof *rd[1].all * 3 * (size_t)size);
  if (!fsize || !rd[0].all || !rd[1].all) {
    free(fsize);
    free(rd[0].all);
    free(rd[1].all);
    /* Every rank must still agree before leaving. */
    return dm_agree(dm_error(DM_ERR_NOMEM, "out of memory"), comm);
  }
  int fi = 0, failed = 0;
  dm_status st = DM_OK;
  for (int64_t r = 0; r < rounds && !failed; r++) {
    int slot = (int)(r & 1);
    gen_round *cur = &rd[slot];
    int64_t b = r * size + rank;
    cur->mine[0] = -1;
    cur->mine[1] = 0;
    cur->len = 0;
    if (b < total_blocks && st == DM_OK) {
      while (b >= c->files[fi].first_block + c->files[fi].n_blocks)
        fi++;
      gen_file *f = &c->files[fi];
      int64_t k = b - f->first_block;
      int64_t begin = k * f->block, end = begin + f->block < f->n ? begin + f->block : f->n;
      c->cur = slot;
      st = format_block(c, o, fi, begin, end, &cur->len);
      cur->mine[0] = fi;
      cur->mine[1] = (long long)cur->len;
      dm_progress_add(prog, end - begin, (int64_t)cur->len);
    }
    cur->mine[2] = st;
    MPI_Iallgather(cur->mine, 3, MPI_LONG_LONG, cur->all, 3, MPI_LONG_LONG, comm, &cur->req);
    if (r > 0) {
      failed = finish_round(c, o, &rd[1 - slot], c->buf[1 - slot], fsize, rank, size, &st);
      if (failed)
        MPI_Wait(&cur->req, MPI_STATUS_IGNORE); /* every rank started it */
    }
    dm_progress_tick(prog);
  }
  if (!failed && rounds > 0) {
    int last = (int)((rounds - 1) & 1);
    failed = finish_round(c, o, &rd[last], c->buf[last], fsize, rank, size, &st);
  }
  if (failed)
    st = dm_agree(st, comm);
  if (st == DM_OK)
    for (int i = 0; i < c->nf; i++)
      c->rep->proc[i].bytes = fsize[i];
  free(fsize);
  free(rd[0].all);
  free(rd[1].all);
  return st;
}

/* Events per block of file f when the user did not fix it: as many as fill
 * DM_GENERATE_BLOCK_BYTES at the file's mean line length, measured on
 * SAMPLE evenly spaced events of the file. A fixed event count would make
 * a rank's two block buffers as large as the densest process's block, and
 * that block is only full once the process has that many events: memory
 * would grow with --events up to a bound several times the typical block
 * (measured: 40 MB per rank at 1e7 events, 52 MB at 1e8). The sample is a
 * pure function of (seed, table, events), so every rank cuts the same
 * blocks, and the files' bytes do not depend on the blocks at all. */
#define SAMPLE 256
static dm_status block_of(const gen_file *f, const dm_generate_opts *o, int64_t *block)
{
  char line[DM_GEN_LINE_MAX];
  dm_gen_event ev;
  int64_t s = f->n < SAMPLE ? f->n : SAMPLE;
  double bytes = 0;
  for (int64_t j = 0; j < s; j++) {
    int64_t i = j * f->n / s;
    dm_status st = dm_gen_model_event(&f->model, o->seed, f->key, i, &ev);
    if (st != DM_OK) {
      dm_error_context("process %s (model %s, table line %d)", f->p->name, f->p->model,
                       f->p->line);
      return st;
    }
    bytes += (double)dm_gen_format_line(&ev, (uint64_t)i + 1, f->prefix, f->prefix_len,
                                        o->trailing_semicolon, DM_BAD_NONE, 0, line,
                                        sizeof line);
  }
  double per_event = s > 0 ? bytes / (double)s : 1.0;
  double b = floor((double)DM_GENERATE_BLOCK_BYTES / per_event);
  *block = b < 256 ? 256 : b > (1 << 20) ? (1 << 20) : (int64_t)b;
  return DM_OK;
}

static dm_status setup_files(gen_ctx *c, const dm_generate_opts *o, const dm_proctable *t,
                             int64_t *total_blocks)
{
  int n = dm_proctable_count(t);
  int *chosen = calloc((size_t)n, sizeof *chosen);
  if (!chosen)
    return dm_error(DM_ERR_NOMEM, "out of memory");
  dm_status st = choose(t, o->processes, chosen);
  int nf = 0;
  for (int i = 0; i < n; i++)
    nf += chosen[i];
  if (st == DM_OK && nf == 0)
    st = dm_error(DM_ERR_ARG, "--processes '%s' selects no process with a known cross section "
                              "and a model in %s",
                  o->processes, dm_proctable_source(t));
  if (st == DM_OK) {
    c->files = calloc((size_t)nf, sizeof *c->files);
    c->bad = calloc((size_t)nf * DM_BAD_NKINDS, sizeof *c->bad);
    c->rep->proc = calloc((size_t)nf, sizeof *c->rep->proc);
    if (!c->files || !c->bad || !c->rep->proc)
      st = dm_error(DM_ERR_NOMEM, "out of memory");
  }
  for (int i = 0, k = 0; i < n && st == DM_OK; i++) {
    if (!chosen[i])
      continue;
    gen_file *f = &c->files[k++];
    f->p = dm_proctable_get(t, i);
    f->key = dm_gen_process_key(f->p->name);
    st = dm_gen_model_parse(f->p, dm_proctable_source(t), &f->model);
    if (st == DM_OK && strlen(f->p->name) > 100)
      st = dm_error(DM_ERR_ARG, "%s:%d: process name longer than 100 characters",
                    dm_proctable_source(t), f->p->line);
  }
  free(chosen);
  if (st != DM_OK)
    return st;
  c->nf = nf;
  c->rep->n_proc = nf;
  double *sigma = malloc(sizeof *sigma * (size_t)nf);
  int64_t *cnt = malloc(sizeof *cnt * (size_t)nf);
  if (!sigma || !cnt)
    st = dm_error(DM_ERR_NOMEM, "out of memory");
  for (int i = 0; st == DM_OK && i < nf; i++)
    sigma[i] = c->files[i].p->sigma_pb;
  if (st == DM_OK)
    st = dm_generate_counts(o->n_events, nf, sigma, cnt, &c->rep->floor_events);
  int64_t blocks = 0;
  for (int i = 0; st == DM_OK && i < nf; i++) {
    gen_file *f = &c->files[i];
    f->n = cnt[i];
    f->weight = f->p->sigma_pb * o->lumi_fb * 1000.0 / (double)f->n;
    char w[DM_GEN_G6_MAX + 1];
    size_t wl = dm_gen_fmt_g6(f->weight, w);
    w[wl] = '\0';
    f->prefix_len = (size_t)snprintf(f->prefix, sizeof f->prefix, "%s;%s;", f->p->name, w);
    int64_t nl = (int64_t)floor((double)f->n * o->bad_rate / 50.0);
    f->n_long = o->bad_rate > 0 ? (nl < 3 ? nl : 3) : 0;
    f->block = o->block_events;
    if (f->block == 0)
      st = block_of(f, o, &f->block);
    if (st != DM_OK)
      break;
    f->first_block = blocks;
    f->n_blocks = (f->n + f->block - 1) / f->block;
    blocks += f->n_blocks;
    dm_generate_proc *rp = &c->rep->proc[i];
    snprintf(rp->name, sizeof rp->name, "%s", f->p->name);
    rp->sigma_pb = f->p->sigma_pb;
    rp->weight = f->weight;
    rp->n_events = f->n;
  }
  free(sigma);
  free(cnt);
  *total_blocks = blocks;
  return st;
}

static dm_status check_opts(const dm_generate_opts *o)
{
  if (!o->out_dir || !*o->out_dir)
    return dm_error(DM_ERR_ARG, "--out DIR is required");
  if (strlen(o->out_dir) > 3000)
    return dm_error(DM_ERR_ARG, "--out path is too long");
  if (o->n_events <= 0)
    return dm_error(DM_ERR_ARG, "--events must be > 0 (got %lld)", (long long)o->n_events);
  if (!(o->bad_rate >= 0 && o->bad_rate <= 1))
    return dm_error(DM_ERR_ARG, "--bad-rate must be in [0, 1] (got %g)", o->bad_rate);
  if (!(o->lumi_fb > 0) || !isfinite(o->lumi_fb))
    return dm_error(DM_ERR_ARG, "--lumi must be > 0 (got %g)", o->lumi_fb);
  if (o->block_events < 0)
    return dm_error(DM_ERR_ARG, "block size must be >= 0");
  return DM_OK;
}

dm_status dm_generate_run(const dm_generate_opts *o, MPI_Comm comm, dm_generate_report *rep)
{
  dm_generate_report local_rep;
  if (!rep)
    rep = &local_rep;
  memset(rep, 0, sizeof *rep);
  MPI_Barrier(comm);
  double t0 = MPI_Wtime();
  int rank = dm_rank(comm), size = dm_size(comm);
  gen_ctx c;
  memset(&c, 0, sizeof c);
  c.rep = rep;
  rep->ranks = size;
  rep->seed = o->seed;
  rep->lumi_fb = o->lumi_fb;
  rep->bad_rate = o->bad_rate;

  /* Options are the same on every rank, so this check agrees by itself. */
  DM_FORWARD(check_opts(o));
  dm_proctable *t = NULL;
  dm_status st = dm_proctable_load_comm(o->xsec_path, comm, &t);
  if (st != DM_OK)
    return st;
  snprintf(rep->table_path, sizeof rep->table_path, "%s", dm_proctable_source(t));
  snprintf(rep->table_checksum, sizeof rep->table_checksum, "%s", dm_proctable_checksum(t));

  int64_t total_blocks = 0;
  /* Same table and options everywhere: every rank reaches the same verdict. */
  st = setup_files(&c, o, t, &total_blocks);
  if (st == DM_OK && rank == 0)
    st = make_dir(o->out_dir);
  st = dm_agree(st, comm);
  if (st != DM_OK)
    goto done;

  c.fh = calloc((size_t)c.nf, sizeof *c.fh);
  c.fh_open = calloc((size_t)c.nf, sizeof *c.fh_open);
  c.at = calloc((size_t)c.nf, sizeof *c.at);
  st = dm_agree(c.fh && c.fh_open && c.at ? DM_OK : dm_error(DM_ERR_NOMEM, "out of memory"),
                comm);
  int n_begun = 0;
  /* The user's MPI-IO hints (dm_io_tune.h), as for every file written. */
  dm_io_tune tune;
  if (st == DM_OK)
    st = dm_io_tune_get(comm, &tune);
  MPI_Info info = st == DM_OK ? dm_io_tune_info(&tune) : MPI_INFO_NULL;
  for (int i = 0; i < c.nf && st == DM_OK; i++) {
    char path[4200];
    file_path(path, sizeof path, o->out_dir, c.files[i].p->name, "");
    /* Claimed, and created new under a name of this run (rank 0). */
    st = dm_atomic_begin_all(&c.at[i], path, comm);
    if (st != DM_OK)
      break;
    n_begun = i + 1;
    st = dm_io_tune_create(&tune, c.at[i].tmp_path, comm);
    if (st != DM_OK)
      break;
    int rc = MPI_File_open(comm, c.at[i].tmp_path, MPI_MODE_WRONLY, info, &c.fh[i]);
    st = dm_agree(rc == MPI_SUCCESS ? DM_OK : mpi_err(rc, "creating", c.at[i].tmp_path), comm);
    c.fh_open[i] = st == DM_OK;
  }
  dm_io_tune_info_free(&info);
  if (st == DM_OK) {
    dm_progress *prog = dm_progress_start(comm, "generate", 0, o->progress, o->progress_interval);
    dm_progress_expect(prog, o->n_events);
    st = write_rounds(&c, o, total_blocks, comm, prog);
    dm_progress_finish(prog);
  }
  for (int i = 0; i < c.nf; i++)
    if (c.fh_open && c.fh_open[i])
      MPI_File_close(&c.fh[i]);
  st = dm_agree(st, comm);

  /* Rank 0 checks the sizes; then every temporary is committed (synced,
   * renamed) or removed. */
  if (rank == 0 && c.files && st == DM_OK) {
    for (int i = 0; i < c.nf && st == DM_OK; i++) {
      struct stat sb;
      if (stat(c.at[i].tmp_path, &sb) != 0 || (int64_t)sb.st_size != rep->proc[i].bytes)
        st = dm_error(DM_ERR_IO, "%s: expected %lld bytes after writing, found %lld",
                      c.at[i].tmp_path, (long long)rep->proc[i].bytes, (long long)sb.st_size);
    }
  }
  st = dm_agree(st, comm);
  for (int i = 0; i < n_begun; i++) {
    dm_status r = dm_atomic_settle_all(&c.at[i], st, comm);
    if (st == DM_OK)
      st = r;
  }
  st = dm_agree(st, comm);
  if (st == DM_OK) {
    st = dm_allsum_i64_array(c.bad, (int64_t)c.nf * DM_BAD_NKINDS, comm);
    st = dm_agree(st, comm);
  }
  if (st == DM_OK) {
    for (int i = 0; i < c.nf; i++) {
      dm_generate_proc *rp = &rep->proc[i];
      memcpy(rp->bad, c.bad + (size_t)i * DM_BAD_NKINDS, sizeof rp->bad);
      rep->n_events += rp->n_events;
      rep->bytes += rp->bytes;
      for (int k = 1; k < DM_BAD_NKINDS; k++)
        rep->n_bad += rp->bad[k];
    }
    rep->seconds = dm_allmax_f64(MPI_Wtime() - t0, comm);
    rep->events_per_s_per_rank =
        rep->seconds > 0 ? (double)rep->n_events / rep->seconds / size : 0;
  }
done:
  free(c.files);
  free(c.bad);
  free(c.buf[0]);
  free(c.buf[1]);
  free(c.fh);
  free(c.fh_open);
  free(c.at);
  dm_proctable_free(t);
  if (rep == &local_rep)
    dm_generate_report_free(rep);
  else if (st != DM_OK)
    dm_generate_report_free(rep);
  return st;
}
