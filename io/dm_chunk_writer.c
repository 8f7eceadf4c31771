/* Columns written as whole, rank-compressed chunks (dm_chunk_writer.h). */
#include "dm_chunk_writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_chunk_pack.h"
#include "dm_comm.h"
#include "dm_h5_vfd.h"
#include "dm_io_tune.h"
#include "dm_writeback.h"
#include "dm_zstd_filter.h"

typedef struct {
  hid_t dset;
  size_t esz;
  int64_t chunk; /* elements */
  int level, shuffle;
  int64_t written;  /* elements in whole chunks in the file (chunk-aligned) */
  int64_t n_carry;  /* elements after `written`, held by carry_rank */
  int carry_rank;
  char *carry;      /* chunk bytes, on carry_rank (allocated when first needed) */
  char *asmb;       /* chunk bytes: a chunk joined from several ranks while the
                     * carry's buffer is in use (same) */
} cw_col;

/* A chunk this rank compresses and writes. */
typedef struct {
  int col;
  int64_t begin;      /* global index of its first element */
  const char *src;    /* n_valid elements */
  int64_t n_valid;
  int64_t slot;       /* offset of its output in w->out (set per sub-round) */
  int64_t size;       /* compressed bytes (-1: failed) */
} cw_job;

struct dm_chunkw {
  MPI_Comm comm;
  int rank, size;
  hid_t file;
  MPI_File fh;
  int fh_open, flushed;
  int vfd_err; /* rank 0: errno of the first failed metadata write (dm_h5_vfd.h) */
  char tmp_path[DM_PATH_MAX]; /* the same on every rank */
  dm_atomic at;               /* rank 0: the claim and the temporary */
  dm_io_tune tune;            /* DMPIPE_H5_* and DMPIPE_MPIIO_HINTS (dm_io_tune.h) */
  int ncol;
  cw_col col[DM_CHUNKW_MAX_COLS];
  int64_t *all_n;    /* size x ncol: this round's counts of every rank */
  int64_t *starts;   /* per column, size + 1: where each rank's segment starts */
  cw_job *jobs;
  int njobs, cap_jobs;
  /* Compressed chunks: two buffers, so one sub-round's writes (nonblocking
   * MPI-IO) can still be under way while the next one compresses. A round's
   * chunks go through them in sub-rounds of at most half the budget each,
   * whatever the round's size (dm_chunkw_set_budget). */
  char *out;
  char *outb[2];
  int64_t outb_cap[2];
  int cur;
  int64_t budget;
  /* Rank 0, per round: the round's chunks listed by owner (each owner's in
   * global order, from own_off[r]) and how many of each owner's are placed. */
  struct cw_chunk {
    int col;
    int64_t begin;
  } *order;
  int64_t cap_order;
  int64_t *own_off; /* size + 1 */
  int64_t *placed;  /* size */
  MPI_Request *wreq[2];
  int *wlen[2];
  int nwreq[2], cap_wreq[2];
  struct cw_msg *msg; /* this round's messages, posted once all are planned */
  MPI_Request *req;
  int nmsg, cap_msg;
  dm_chunk_packer *packer;
  dm_chunk_job *pk;
  int cap_pk;
  char *zero; /* rank 0: stands in for chunk bytes it does not hold */
  int64_t zero_cap;
  double t_comp, t_alloc, t_write;
  /* Chunk placement: rank 0's HDF5 calls (resize, H5Dwrite_chunk) and
   * every rank's wait from sending its sizes to holding the addresses. */
  double t_resize, t_wchunk, t_addr;
  int64_t n_placed;
  int64_t n_sub, out_peak;
  /* Early write-back of the temporary (DMPIPE_WRITEBACK, dm_writeback.h),
   * and the writes under way from each compressed buffer. */
  dm_writeback wb;
  dm_writeback_span span[2];
};

hid_t dm_chunkw_file(const dm_chunkw *w) { return w->file; }
int64_t dm_chunkw_length(const dm_chunkw *w, int c)
{
  return w->col[c].written + w->col[c].n_carry;
}
void dm_chunkw_get_stats(const dm_chunkw *w, dm_chunkw_stats *st)
{
  st->compress = w->t_comp;
  st->allocate = w->t_alloc;
  st->write = w->t_write;
  st->place = w->t_resize + w->t_wchunk;
  st->place_resize = w->t_resize;
  st->place_write_chunk = w->t_wchunk;
  st->chunks = w->n_placed;
  st->addr_wait = w->t_addr;
  st->sub_rounds = w->n_sub;
  st->out_peak = w->out_peak;
  st->writebacks = w->wb.starts;
}

void dm_chunkw_set_budget(dm_chunkw *w, int64_t bytes)
{
  w->budget = bytes > 0 ? bytes : DM_CHUNKW_BUDGET_DEFAULT;
}

/* ---- create / add ------------------------------------------------------------ */

dm_status dm_chunkw_create(const char *final_path, MPI_Comm comm, dm_chunkw **wp)
{
  *wp = NULL;
  dm_chunkw *w = calloc(1, sizeof *w);
  if (!dm_alltrue(w != NULL, comm)) {
    free(w);
    return dm_error(DM_ERR_NOMEM, "no memory for a writer of %s", final_path);
  }
  w->comm = comm;
  w->rank = dm_rank(comm);
  w->size = dm_size(comm);
  w->file = H5I_INVALID_HID;
  w->at.claim.fd = -1;
  dm_writeback_init(&w->wb);
  w->budget = DM_CHUNKW_BUDGET_DEFAULT;
  dm_status s = dm_zstd_filter_register();
  w->all_n = malloc((size_t)w->size * DM_CHUNKW_MAX_COLS * sizeof *w->all_n);
  w->starts = malloc(((size_t)w->size + 1) * DM_CHUNKW_MAX_COLS * sizeof *w->starts);
  w->placed = calloc((size_t)w->size, sizeof *w->placed);
  w->own_off = calloc((size_t)w->size + 1, sizeof *w->own_off);
  w->packer = dm_chunk_packer_new();
  if (s == DM_OK && (!w->all_n || !w->starts || !w->placed || !w->own_off || !w->packer))
    s = dm_error(DM_ERR_NOMEM, "no memory for a writer of %s", final_path);
  s = dm_agree(s, comm);
  if (s == DM_OK)
    s = dm_io_tune_get(comm, &w->tune);
  if (s == DM_OK)
    s = dm_atomic_begin_all(&w->at, final_path, comm);
  if (s != DM_OK) { /* agreed; nothing begun */
    w->at.tmp_path[0] = '\0';
    dm_chunkw_finish(w, s);
    return s;
  }
  snprintf(w->tmp_path, sizeof w->tmp_path, "%s", w->at.tmp_path);
  s = dm_io_tune_create(&w->tune, w->tmp_path, comm);
  if (s == DM_OK) {
    hid_t fapl = H5I_INVALID_HID;
    if (w->rank == 0) {
      fapl = dm_h5_vfd_fapl(&w->vfd_err);
      /* The file's layout (alignment, metadata blocks) is rank 0's alone:
       * the scratch files elsewhere hold no data. */
      if (fapl >= 0 && dm_io_tune_fapl(&w->tune, fapl) != DM_OK) {
        H5Pclose(fapl);
        fapl = H5I_INVALID_HID;
      }
    } else {
      fapl = H5Pcreate(H5P_FILE_ACCESS);
      if (fapl >= 0 && H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0) {
        H5Pclose(fapl);
        fapl = H5I_INVALID_HID;
      }
    }
    if (fapl >= 0) {
      /* The format the MPI-IO layer writes too: compact links, extensible
       * array chunk index. */
      H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
      w->file = H5Fcreate(w->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
      H5Pclose(fapl);
    }
    if (w->file < 0)
      s = dm_error(DM_ERR_HDF5, "cannot create HDF5 file %s", w->tmp_path);
  }
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    /* Rank 0 created the file above; the agreement ordered it before this. */
    MPI_Info info = dm_io_tune_info(&w->tune);
    int e = MPI_File_open(comm, w->tmp_path, MPI_MODE_WRONLY, info, &w->fh);
    dm_io_tune_info_free(&info);
    if (e != MPI_SUCCESS)
      s = dm_error(DM_ERR_IO, "cannot open %s for MPI-IO: %s", w->tmp_path,
                   dm_strerror_io(dm_mpi_errno(e)));
    s = dm_agree(s, comm);
    /* MPI_File_close is collective: the flag that guards it must be the same
     * on every rank. A handle that opened on some ranks only is left open
     * there (closing it on a subset would hang). */
    w->fh_open = s == DM_OK;
    if (s == DM_OK)
      dm_writeback_open(&w->wb, w->tmp_path, dm_io_tune_writeback(&w->tune));
  }
  if (s != DM_OK) {
    dm_chunkw_finish(w, s);
    return s;
  }
  *wp = w;
  return DM_OK;
}

dm_status dm_chunkw_add(dm_chunkw *w, const char *path, hid_t type, const dm_h5_layout *layout,
                        int *col)
{
  dm_status s = DM_OK;
  if (w->ncol >= DM_CHUNKW_MAX_COLS)
    s = dm_error(DM_ERR_INTERNAL, "more than %d columns in one file", DM_CHUNKW_MAX_COLS);
  DM_FORWARD(dm_agree(s, w->comm));
  cw_col *cc = &w->col[w->ncol];
  memset(cc, 0, sizeof *cc);
  cc->esz = H5Tget_size(type);
  cc->chunk = layout->chunk;
  cc->level = layout->zstd_level;
  /* dm_h5_col_create's pipeline: shuffle only for multi-byte types. */
  cc->shuffle = layout->zstd_level > 0 && cc->esz > 1;
  s = dm_h5_col_create(w->file, path, type, layout, &cc->dset);
  s = dm_agree(s, w->comm);
  if (s != DM_OK) {
    if (cc->dset > 0)
      H5Dclose(cc->dset);
    free(cc->carry);
    free(cc->asmb);
    memset(cc, 0, sizeof *cc);
    return s;
  }
  *col = w->ncol++;
  return DM_OK;
}

/* ---- compression (dm_chunk_pack.h) ------------------------------------------- */

static int64_t slot_bytes(const cw_col *cc)
{
  return dm_chunk_pack_bound(cc->chunk, cc->esz, cc->level);
}

/* Compress jobs [j0, j0 + n) into w->out. */
static dm_status compress_jobs(dm_chunkw *w, int j0, int n)
{
  if (n > w->cap_pk) {
    dm_chunk_job *p = realloc(w->pk, (size_t)n * sizeof *p);
    if (!p)
      return dm_error(DM_ERR_NOMEM, "no memory for chunk jobs");
    w->pk = p;
    w->cap_pk = n;
  }
  for (int i = 0; i < n; i++) {
    const cw_job *j = &w->jobs[j0 + i];
    const cw_col *cc = &w->col[j->col];
    w->pk[i] = (dm_chunk_job){j->src, j->n_valid, cc->chunk, cc->esz, cc->level, cc->shuffle,
                              w->out + j->slot, 0};
  }
  DM_FORWARD(dm_chunk_pack(w->packer, w->pk, n));
  for (int i = 0; i < n; i++)
    w->jobs[j0 + i].size = w->pk[i].size;
  return DM_OK;
}

/* ---- writes ------------------------------------------------------------------- */

/* Complete one non-blocking MPI-IO write without MPI_Wait: Open MPI 4.1
 * (ompio) crashes in MPI_Wait/MPI_Waitall/MPI_Test when such a request failed
 * (ompi_errhandler_request_invoke finds no file object behind it: SIGSEGV on
 * a full disk). MPI_Request_get_status drives progress like a wait, reports
 * the request's own error in the status without calling an error handler,
 * and leaves the request to be freed here. A write always ends (written or
 * failed); nothing is left pending. 1 if it wrote all `len` bytes. */
static int finish_write(MPI_Request *req, int len, int *err)
{
  MPI_Status st;
  int done = 0;
  memset(&st, 0, sizeof st);
  while (!done)
    if (MPI_Request_get_status(*req, &done, &st) != MPI_SUCCESS) {
      *err = EIO;
      break;
    }
  if (*req != MPI_REQUEST_NULL)
    MPI_Request_free(req);
  *req = MPI_REQUEST_NULL;
  int got = -1;
  if (done && st.MPI_ERROR == MPI_SUCCESS && MPI_Get_count(&st, MPI_BYTE, &got) == MPI_SUCCESS &&
      got == len)
    return 1;
  if (done && st.MPI_ERROR != MPI_SUCCESS)
    *err = dm_mpi_errno(st.MPI_ERROR);
  return 0;
}

/* Complete every write from buffer b, failed or not, and check each wrote all
 * its bytes. */
static dm_status wait_writes(dm_chunkw *w, int b)
{
  int n = w->nwreq[b], bad = -1, err = 0;
  for (int i = 0; i < n; i++)
    if (!finish_write(&w->wreq[b][i], w->wlen[b][i], &err) && bad < 0)
      bad = i;
  w->nwreq[b] = 0;
  /* Write-back only for writes that completed: a failed one fails the run. */
  if (bad < 0) {
    dm_writeback_done(&w->wb, &w->span[b]);
    return DM_OK;
  }
  memset(&w->span[b], 0, sizeof w->span[b]);
  return dm_error(DM_ERR_IO, "writing %d bytes to %s failed: %s", w->wlen[b][bad], w->tmp_path,
                  err ? dm_strerror_io(err) : "short write (disk full?)");
}

/* Start the writes of jobs [j0, j0 + n), compressed in buffer b, at addr. */
static dm_status start_writes(dm_chunkw *w, int b, int j0, int n, const uint64_t *addr)
{
  if (n > w->cap_wreq[b]) {
    MPI_Request *r = realloc(w->wreq[b], (size_t)n * sizeof *r);
    if (r)
      w->wreq[b] = r;
    int *l = realloc(w->wlen[b], (size_t)n * sizeof *l);
    if (l)
      w->wlen[b] = l;
    if (!r || !l)
      return dm_error(DM_ERR_NOMEM, "no memory for write requests");
    w->cap_wreq[b] = n;
  }
  for (int i = 0; i < n; i++) {
    cw_job *j = &w->jobs[j0 + i];
    w->wlen[b][i] = (int)j->size;
    dm_writeback_span_add(&w->span[b], (int64_t)addr[i], j->size);
    int e = MPI_File_iwrite_at(w->fh, (MPI_Offset)addr[i], w->outb[b] + j->slot, (int)j->size,
                               MPI_BYTE, &w->wreq[b][w->nwreq[b]]);
    if (e != MPI_SUCCESS)
      return dm_error(DM_ERR_IO, "cannot write %lld bytes to %s: %s", (long long)j->size,
                      w->tmp_path, dm_strerror_io(dm_mpi_errno(e)));
    w->nwreq[b]++;
  }
  return DM_OK;
}

/* ---- one round ---------------------------------------------------------------- */

/* This round's segments of a column, in order: the carry (index -1, held by
 * carry_rank) and then each rank's new elements (w->starts). */
static const int64_t *col_starts(const dm_chunkw *w, const cw_col *cc)
{
  return w->starts + (cc - w->col) * ((int64_t)w->size + 1);
}

static int seg_of(const dm_chunkw *w, const cw_col *cc, int64_t x)
{
  const int64_t *starts = col_starts(w, cc);
  if (x < cc->written + cc->n_carry)
    return -1;
  /* The last rank starting at or before x: ranks with nothing to add share
   * their start with the next one, so the last such holds x. */
  int lo = 0, hi = w->size - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (starts[mid] <= x)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

static int holder(const dm_chunkw *w, const cw_col *cc, int64_t x)
{
  int s = seg_of(w, cc, x);
  return s < 0 ? cc->carry_rank : s;
}

struct cw_msg {
  int send, peer, tag, bytes;
  char *buf;
};

/* Messages are listed first and posted only when every rank has planned its
 * round without error: a rank that failed half-way must not leave another
 * waiting for a message it never sends. */
static dm_status add_msg(dm_chunkw *w, int send, const char *buf, int64_t bytes, int peer, int tag)
{
  if (w->nmsg == w->cap_msg) {
    int c = w->cap_msg ? 2 * w->cap_msg : 64;
    struct cw_msg *m = realloc(w->msg, (size_t)c * sizeof *m);
    MPI_Request *r = realloc(w->req, (size_t)c * sizeof *r);
    if (m)
      w->msg = m;
    if (r)
      w->req = r;
    if (!m || !r)
      return dm_error(DM_ERR_NOMEM, "no memory for messages");
    w->cap_msg = c;
  }
  w->msg[w->nmsg++] = (struct cw_msg){send, peer, tag, (int)bytes, (char *)buf};
  return DM_OK;
}

static dm_status add_job(dm_chunkw *w, int c, int64_t begin, const char *src, int64_t nv)
{
  if (w->njobs == w->cap_jobs) {
    int cap = w->cap_jobs ? 2 * w->cap_jobs : 64;
    cw_job *j = realloc(w->jobs, (size_t)cap * sizeof *j);
    if (!j)
      return dm_error(DM_ERR_NOMEM, "no memory for chunk jobs");
    w->jobs = j;
    w->cap_jobs = cap;
  }
  cw_job *j = &w->jobs[w->njobs++];
  j->col = c;
  j->begin = begin;
  j->src = src;
  j->n_valid = nv;
  j->slot = 0;
  j->size = 0;
  return DM_OK;
}

/* Chunk buffers are allocated when first needed: a rank that never joins a
 * chunk or holds a tail never pays for them (chunks may be many MB). */
static dm_status chunk_buf(const cw_col *cc, char **p)
{
  if (!*p)
    *p = malloc((size_t)cc->chunk * cc->esz);
  return *p ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for a chunk of %lld elements",
                              (long long)cc->chunk);
}

/* What becomes of the piece after the last whole chunk (the new carry). */
typedef struct {
  int kind; /* 0 nothing to do (already in the carry's buffer), 1 copy from
             * src, 2 swap the carry's buffer with asmb */
  const char *src;
  int64_t n;
} cw_tail;

/* Post the messages and list the jobs of column c. */
static dm_status plan_column(dm_chunkw *w, int c, const char *mine, int final, cw_tail *tail)
{
  cw_col *cc = &w->col[c];
  int me = w->rank, P = w->size, nc = w->ncol;
  size_t esz = cc->esz;
  const int64_t *starts = col_starts(w, cc);
  int64_t ch = cc->chunk, end = starts[P];
  int64_t cut = final ? end : cc->written + (end - cc->written) / ch * ch;
  tail->kind = 0;
  int n_asmb = 0, carry_busy = 0;
  /* My segments: the carry (if I hold it) and my new elements. */
  struct seg {
    int seg;
    int64_t a, e;
    const char *src;
  } sg[2];
  int nsg = 0;
  if (cc->carry_rank == me && cc->n_carry > 0)
    sg[nsg++] = (struct seg){-1, cc->written, cc->written + cc->n_carry, cc->carry};
  if (w->all_n[(int64_t)me * nc + c] > 0)
    sg[nsg++] = (struct seg){me, starts[me], starts[me] + w->all_n[(int64_t)me * nc + c],
                             mine};
  for (int i = 0; i < nsg; i++) {
    int64_t a = sg[i].a, e = sg[i].e;
    /* The head of a segment belongs to a chunk begun in an earlier one. */
    int64_t kb = cc->written + (a - cc->written) / ch * ch;
    if (kb < a) {
      int o = holder(w, cc, kb);
      int64_t pe = kb + ch < end ? kb + ch : end;
      int64_t m = (e < pe ? e : pe) - a;
      if (o != me)
        DM_FORWARD(add_msg(w, 1, sg[i].src, m * (int64_t)esz, o, 2 * c + (sg[i].seg >= 0)));
    }
    /* The chunks that begin in this segment are mine. A chunk joined from
     * several segments is assembled in the carry's buffer when that is free:
     * the chunk that begins in the carry extends the carry in place, and a
     * chunk of my own elements that runs into later ranks' goes there unless
     * a chunk compressed in this round still reads the carry. So a rank
     * holds one chunk buffer per column, two only in the last case. */
    for (int64_t pb = cc->written + (a - cc->written + ch - 1) / ch * ch; pb < e; pb += ch) {
      int64_t pe = pb + ch < end ? pb + ch : end;
      int whole = pe <= cut;
      const char *src;
      int idx = -1, in_carry = 0;
      if (pe <= e) {
        src = sg[i].src + (pb - a) * (int64_t)esz;
      } else {
        char **bp = &cc->carry;
        in_carry = 1;
        if (sg[i].seg >= 0 && carry_busy) {
          idx = n_asmb++;
          if (idx > 0)
            return dm_error(DM_ERR_INTERNAL, "chunk writer: more than two joined chunks");
          bp = &cc->asmb;
          in_carry = 0;
        }
        DM_FORWARD(chunk_buf(cc, bp));
        char *buf = *bp;
        const char *head = sg[i].src + (pb - a) * (int64_t)esz;
        if (head != buf) /* the carry extended in place has its head already */
          memcpy(buf, head, (size_t)(e - pb) * esz);
        for (int r = sg[i].seg + 1; r < P && starts[r] < pe; r++) {
          int64_t len = w->all_n[(int64_t)r * nc + c];
          if (len == 0)
            continue;
          int64_t ra = starts[r], rm = (ra + len < pe ? ra + len : pe) - ra;
          if (r == me) {
            memcpy(buf + (ra - pb) * (int64_t)esz, mine, (size_t)rm * esz);
          } else {
            DM_FORWARD(add_msg(w, 0, buf + (ra - pb) * (int64_t)esz, rm * (int64_t)esz, r,
                               2 * c + 1));
          }
        }
        src = buf;
      }
      if (whole) {
        DM_FORWARD(add_job(w, c, pb, src, pe - pb));
        if (sg[i].seg < 0 || in_carry)
          carry_busy = 1;
      } else if (in_carry) {
        *tail = (cw_tail){0, NULL, pe - pb}; /* already where the carry goes */
      } else if (idx >= 0) {
        *tail = (cw_tail){2, NULL, pe - pb};
      } else if (src != cc->carry) {
        DM_FORWARD(chunk_buf(cc, &cc->carry));
        *tail = (cw_tail){1, src, pe - pb};
      }
    }
  }
  return DM_OK;
}

/* Rank 0: list the round's chunks by owner (w->order, w->own_off) and extend
 * the datasets to the round's cut. */
static dm_status list_round(dm_chunkw *w, const int64_t *cut)
{
  int P = w->size;
  int64_t total = 0;
  memset(w->own_off, 0, ((size_t)P + 1) * sizeof *w->own_off);
  memset(w->placed, 0, (size_t)P * sizeof *w->placed);
  for (int c = 0; c < w->ncol; c++) {
    cw_col *cc = &w->col[c];
    for (int64_t pb = cc->written; pb < cut[c]; pb += cc->chunk, total++)
      w->own_off[holder(w, cc, pb) + 1]++;
  }
  if (total > w->cap_order) {
    struct cw_chunk *o = realloc(w->order, (size_t)total * sizeof *o);
    if (!o)
      return dm_error(DM_ERR_NOMEM, "no memory for the list of %lld chunks", (long long)total);
    w->order = o;
    w->cap_order = total;
  }
  for (int r = 0; r < P; r++)
    w->own_off[r + 1] += w->own_off[r];
  for (int c = 0; c < w->ncol; c++) {
    cw_col *cc = &w->col[c];
    if (cut[c] <= cc->written)
      continue;
    for (int64_t pb = cc->written; pb < cut[c]; pb += cc->chunk) {
      int o = holder(w, cc, pb);
      w->order[w->own_off[o] + w->placed[o]++] = (struct cw_chunk){c, pb};
    }
    double t0 = MPI_Wtime();
    dm_status s = dm_h5_col_resize(cc->dset, cut[c]);
    w->t_resize += MPI_Wtime() - t0;
    DM_FORWARD(s);
  }
  memset(w->placed, 0, (size_t)P * sizeof *w->placed);
  return DM_OK;
}

/* Rank 0: allocate the chunks of one sub-round in the file and send each owner
 * their addresses. Every rank gives jobs [j0, j0 + n) of its list; a rank's
 * jobs are its chunks of the round in global order (column, then position),
 * the order of its part of w->order, so its sub-round's chunks are the next
 * n there. The first sub-round (sub == 0) lists the round's chunks; the last
 * checks that every chunk of the round was given by its owner. */
static dm_status allocate(dm_chunkw *w, const int64_t *cut, int j0, int n, int sub, int last,
                          uint64_t *addr)
{
  int P = w->size;
  int *cnt = NULL, *displ = NULL;
  int64_t *sizes = NULL;
  uint64_t *addrs = NULL;
  dm_status s = DM_OK;
  if (w->rank == 0) {
    cnt = malloc((size_t)P * sizeof *cnt);
    displ = malloc((size_t)P * sizeof *displ);
    if (!cnt || !displ)
      s = dm_error(DM_ERR_NOMEM, "no memory for chunk addresses");
  }
  DM_FORWARD(dm_agree(s, w->comm));
  MPI_Gather(&n, 1, MPI_INT, cnt, 1, MPI_INT, 0, w->comm);
  int64_t total = 0;
  if (w->rank == 0) {
    for (int r = 0; r < P; r++) {
      displ[r] = (int)total;
      total += cnt[r];
    }
    sizes = malloc((size_t)(total + 1) * sizeof *sizes);
    addrs = malloc((size_t)(total + 1) * sizeof *addrs);
    if (!sizes || !addrs)
      s = dm_error(DM_ERR_NOMEM, "no memory for chunk addresses");
  }
  int64_t *mine = malloc((size_t)(n + 1) * sizeof *mine);
  if (!mine)
    s = dm_error(DM_ERR_NOMEM, "no memory for chunk addresses");
  s = dm_agree(s, w->comm);
  if (s != DM_OK) {
    free(mine);
    free(cnt);
    free(displ);
    free(sizes);
    free(addrs);
    return s;
  }
  for (int i = 0; i < n; i++)
    mine[i] = w->jobs[j0 + i].size;
  double ta = MPI_Wtime();
  MPI_Gatherv(mine, n, MPI_INT64_T, sizes, cnt, displ, MPI_INT64_T, 0, w->comm);
  if (w->rank == 0) {
    int64_t zneed = 0;
    for (int64_t i = 0; i < total; i++)
      if (sizes[i] > zneed)
        zneed = sizes[i];
    if (zneed > w->zero_cap) {
      free(w->zero);
      w->zero = calloc(1, (size_t)zneed);
      w->zero_cap = w->zero ? zneed : 0;
      if (!w->zero)
        s = dm_error(DM_ERR_NOMEM, "no memory");
    }
    if (s == DM_OK)
      s = dm_h5_vfd_discard_raw(w->file, 1);
    if (s == DM_OK && sub == 0)
      s = list_round(w, cut);
    /* Each chunk's address is where HDF5 wrote it (dm_h5_vfd.h). */
    const dm_h5_vfd_raw *rec = s == DM_OK ? dm_h5_vfd_raw_record(w->file) : NULL;
    double t_wc = 0;
    for (int o = 0; o < P && s == DM_OK; o++) {
      if (w->own_off[o] + w->placed[o] + cnt[o] > w->own_off[o + 1] ||
          (last && w->own_off[o] + w->placed[o] + cnt[o] != w->own_off[o + 1])) {
        s = dm_error(DM_ERR_INTERNAL, "chunk writer: rank %d gave %lld chunks of %lld", o,
                     (long long)(w->placed[o] + cnt[o]),
                     (long long)(w->own_off[o + 1] - w->own_off[o]));
        break;
      }
      for (int k = 0; k < cnt[o] && s == DM_OK; k++) {
        const struct cw_chunk *ck = &w->order[w->own_off[o] + w->placed[o] + k];
        cw_col *cc = &w->col[ck->col];
        int64_t i = displ[o] + k;
        hsize_t off = (hsize_t)ck->begin;
        uint64_t before = rec ? rec->count : 0;
        double u0 = MPI_Wtime();
        int ok = rec &&
                 H5Dwrite_chunk(cc->dset, H5P_DEFAULT, 0, &off, (size_t)sizes[i], w->zero) >= 0;
        t_wc += MPI_Wtime() - u0;
        /* Exactly one raw write, of this chunk's bytes. */
        ok = ok && rec->count == before + 1 && rec->size == (uint64_t)sizes[i];
        w->n_placed++;
        if (!ok)
          s = dm_error(DM_ERR_HDF5, "cannot allocate chunk at element %lld of %s",
                       (long long)ck->begin, w->tmp_path);
        else
          addrs[i] = rec->addr;
      }
      w->placed[o] += cnt[o];
    }
    w->t_wchunk += t_wc;
    if (w->file >= 0)
      dm_h5_vfd_discard_raw(w->file, 0);
    if (s == DM_OK && w->vfd_err)
      s = dm_error(DM_ERR_IO, "writing to %s failed: %s", w->tmp_path,
                   dm_strerror_io(w->vfd_err));
  }
  /* The addresses go back even after a failure (the agreement follows), so
   * the collective calls stay matched. */
  if (w->rank == 0 && s != DM_OK)
    memset(addrs, 0, (size_t)(total + 1) * sizeof *addrs);
  MPI_Scatterv(addrs, cnt, displ, MPI_UINT64_T, addr, n, MPI_UINT64_T, 0, w->comm);
  w->t_addr += MPI_Wtime() - ta;
  free(mine);
  free(cnt);
  free(displ);
  free(sizes);
  free(addrs);
  return dm_agree(s, w->comm);
}

/* The end of the sub-round that starts at job j0: as many jobs as fit in half
 * the budget (one buffer of two), but at least one per compressing thread. */
static int sub_round_end(const dm_chunkw *w, int j0)
{
  int64_t half = w->budget / 2, bytes = 0;
  int least = dm_chunk_pack_threads(), j = j0;
  while (j < w->njobs) {
    int64_t b = slot_bytes(&w->col[w->jobs[j].col]);
    if (j - j0 >= least && bytes + b > half)
      break;
    bytes += b;
    j++;
  }
  return j;
}

/* Make compressed buffer b hold `need` bytes. It grows by doubling, but never
 * past half the budget unless a sub-round needs more (one chunk per thread). */
static int out_reserve(dm_chunkw *w, int b, int64_t need)
{
  if (need <= w->outb_cap[b])
    return 1;
  int64_t c = 2 * w->outb_cap[b];
  if (c > w->budget / 2)
    c = w->budget / 2;
  if (c < need)
    c = need;
  void *q = realloc(w->outb[b], (size_t)c);
  if (!q)
    return 0;
  w->outb[b] = q;
  w->outb_cap[b] = c;
  if (w->outb_cap[0] + w->outb_cap[1] > w->out_peak)
    w->out_peak = w->outb_cap[0] + w->outb_cap[1];
  return 1;
}

static dm_status round_append(dm_chunkw *w, const void *const *bufs, const int64_t *n,
                              int64_t *first, int final)
{
  int P = w->size, nc = w->ncol, me = w->rank;
  double t0 = MPI_Wtime();
  dm_status s = DM_OK;
  int64_t mine_n[DM_CHUNKW_MAX_COLS];
  for (int c = 0; c < nc; c++)
    mine_n[c] = n ? n[c] : 0;
  MPI_Allgather(mine_n, nc, MPI_INT64_T, w->all_n, nc, MPI_INT64_T, w->comm);
  int64_t cut[DM_CHUNKW_MAX_COLS], ncarry[DM_CHUNKW_MAX_COLS];
  int crank[DM_CHUNKW_MAX_COLS];
  cw_tail tail[DM_CHUNKW_MAX_COLS];
  w->njobs = 0;
  w->nmsg = 0;
  for (int c = 0; c < nc && s == DM_OK; c++) {
    cw_col *cc = &w->col[c];
    int64_t *starts = w->starts + (int64_t)c * (P + 1);
    int64_t pos = cc->written + cc->n_carry;
    for (int r = 0; r < P; r++) {
      starts[r] = pos;
      pos += w->all_n[(int64_t)r * nc + c];
    }
    starts[P] = pos;
    if (first)
      first[c] = starts[me];
    cut[c] = final ? pos : cc->written + (pos - cc->written) / cc->chunk * cc->chunk;
    ncarry[c] = pos - cut[c];
    crank[c] = ncarry[c] > 0 ? holder(w, cc, cut[c]) : 0;
    s = plan_column(w, c, bufs && n && n[c] > 0 ? bufs[c] : NULL, final, &tail[c]);
  }
  DM_FORWARD(dm_agree(s, w->comm));
  for (int i = 0; i < w->nmsg; i++) {
    struct cw_msg *m = &w->msg[i];
    if (m->send)
      MPI_Isend(m->buf, m->bytes, MPI_BYTE, m->peer, m->tag, w->comm, &w->req[i]);
    else
      MPI_Irecv(m->buf, m->bytes, MPI_BYTE, m->peer, m->tag, w->comm, &w->req[i]);
  }
  if (w->nmsg > 0)
    MPI_Waitall(w->nmsg, w->req, MPI_STATUSES_IGNORE);
  /* The round's chunks go in sub-rounds that each fit in one compressed
   * buffer: what the writer holds stays within the budget however many
   * chunks one append completes. Each sub-round is collective (its
   * addresses come from rank 0), so every rank takes as many as the rank
   * that needs the most. */
  int mine_sub = 0, n_sub = 0;
  for (int j = 0; j < w->njobs; j = sub_round_end(w, j))
    mine_sub++;
  MPI_Allreduce(&mine_sub, &n_sub, 1, MPI_INT, MPI_MAX, w->comm);
  uint64_t *addr = malloc((size_t)(w->njobs + 1) * sizeof *addr);
  if (!addr)
    s = dm_error(DM_ERR_NOMEM, "no memory");
  double t1 = MPI_Wtime();
  w->t_alloc += t1 - t0;
  for (int g = 0, j0 = 0; g < n_sub; g++) {
    double u0 = MPI_Wtime();
    int j1 = sub_round_end(w, j0);
    /* This buffer's writes from two sub-rounds ago must be done before it is
     * reused (or moved by realloc). */
    int b = w->cur;
    dm_status ws = wait_writes(w, b);
    if (s == DM_OK)
      s = ws;
    int64_t need = 0;
    for (int j = j0; j < j1; j++) {
      w->jobs[j].slot = need;
      need += slot_bytes(&w->col[w->jobs[j].col]);
    }
    if (s == DM_OK && !out_reserve(w, b, need))
      s = dm_error(DM_ERR_NOMEM, "no memory for %lld compressed bytes", (long long)need);
    w->out = w->outb[b];
    double u1 = MPI_Wtime();
    if (s == DM_OK)
      s = compress_jobs(w, j0, j1 - j0);
    double u2 = MPI_Wtime();
    s = dm_agree(s, w->comm);
    if (s != DM_OK)
      break;
    s = allocate(w, cut, j0, j1 - j0, g, g == n_sub - 1, addr + j0);
    double u3 = MPI_Wtime();
    if (s == DM_OK)
      s = start_writes(w, b, j0, j1 - j0, addr + j0);
    w->cur = 1 - b;
    w->n_sub++;
    j0 = j1;
    w->t_alloc += (u1 - u0) + (u3 - u2);
    w->t_comp += u2 - u1;
    w->t_write += MPI_Wtime() - u3;
  }
  double t3 = MPI_Wtime();
  /* The last round waits for everything: the file is complete after it. */
  if (final) {
    for (int k = 0; k < 2; k++) {
      dm_status e = wait_writes(w, k);
      if (s == DM_OK)
        s = e;
    }
  }
  free(addr);
  /* The new carries, after the compressions that may have read the old. */
  for (int c = 0; c < nc; c++) {
    cw_col *cc = &w->col[c];
    if (crank[c] == me && ncarry[c] > 0) {
      if (tail[c].kind == 1) {
        memmove(cc->carry, tail[c].src, (size_t)tail[c].n * cc->esz);
      } else if (tail[c].kind == 2) {
        char *t = cc->carry;
        cc->carry = cc->asmb;
        cc->asmb = t;
      }
    }
    cc->written = cut[c];
    cc->n_carry = ncarry[c];
    cc->carry_rank = crank[c];
  }
  w->t_write += MPI_Wtime() - t3;
  return dm_agree(s, w->comm);
}

dm_status dm_chunkw_append(dm_chunkw *w, const void *const *bufs, const int64_t *n,
                           int64_t *first)
{
  dm_status s = DM_OK;
  for (int c = 0; c < w->ncol; c++)
    if (n[c] < 0 || (n[c] > 0 && !bufs[c]))
      s = dm_error(DM_ERR_INTERNAL, "chunk writer: bad count for column %d", c);
  if (w->flushed)
    s = dm_error(DM_ERR_INTERNAL, "chunk writer: append after flush");
  DM_FORWARD(dm_agree(s, w->comm));
  return round_append(w, bufs, n, first, 0);
}

dm_status dm_chunkw_flush(dm_chunkw *w, dm_status local)
{
  dm_status s = dm_agree(local, w->comm);
  if (s == DM_OK && !w->flushed)
    s = round_append(w, NULL, NULL, NULL, 1);
  w->flushed = 1;
  for (int k = 0; k < 2; k++) { /* after a failure, writes may still be under way */
    dm_status e = wait_writes(w, k);
    if (s == DM_OK)
      s = e;
  }
  if (w->fh_open) {
    /* Every rank's chunk bytes are in the file before rank 0 writes the
     * metadata and cuts the file at its end of allocation. */
    int e = MPI_File_close(&w->fh);
    w->fh_open = 0;
    dm_status c = e == MPI_SUCCESS ? DM_OK
                                   : dm_error(DM_ERR_IO, "closing %s failed: %s", w->tmp_path,
                                              dm_strerror_io(dm_mpi_errno(e)));
    c = dm_agree(c, w->comm);
    if (s == DM_OK)
      s = c;
  }
  return s;
}

dm_status dm_chunkw_finish(dm_chunkw *w, dm_status local)
{
  if (!w)
    return local;
  dm_status s = dm_agree(local, w->comm);
  /* A diagnostic for tuning, off unless asked for. */
  if (getenv("DMPIPE_CHUNK_TIMES"))
    fprintf(stderr, "chunk writer, rank %d: compress %.3f s, exchange and allocation %.3f s, "
            "MPI-IO %.3f s; addresses awaited %.3f s; placed %lld chunks in %.3f s (resize "
            "%.3f, H5Dwrite_chunk %.3f); %lld sub-rounds, compressed buffers %lld bytes\n",
            w->rank, w->t_comp, w->t_alloc, w->t_write, w->t_addr, (long long)w->n_placed,
            w->t_resize + w->t_wchunk, w->t_resize, w->t_wchunk, (long long)w->n_sub,
            (long long)w->out_peak);
  /* Writes still under way read from the buffers freed below. */
  wait_writes(w, 0);
  wait_writes(w, 1);
  if (w->fh_open) {
    MPI_File_close(&w->fh);
    w->fh_open = 0;
  }
  dm_writeback_close(&w->wb);
  for (int c = 0; c < w->ncol; c++) {
    cw_col *cc = &w->col[c];
    if (cc->dset >= 0)
      H5Dclose(cc->dset);
    free(cc->carry);
    free(cc->asmb);
  }
  /* Closing writes rank 0's metadata: a full disk shows up there, in the
   * driver's error slot (the close itself then still succeeds). */
  if (w->file >= 0) {
    dm_status c = DM_OK;
    if (H5Fclose(w->file) < 0)
      c = dm_error(DM_ERR_IO, "closing %s failed", w->tmp_path);
    else if (w->vfd_err)
      c = dm_error(DM_ERR_IO, "writing to %s failed: %s", w->tmp_path,
                   dm_strerror_io(w->vfd_err));
    w->file = H5I_INVALID_HID;
    c = dm_agree(c, w->comm);
    if (s == DM_OK)
      s = c;
  }
  dm_status r = dm_h5_settle(H5I_INVALID_HID, NULL, s, &w->at, w->comm);
  dm_chunk_packer_free(w->packer);
  free(w->pk);
  free(w->zero);
  for (int k = 0; k < 2; k++) {
    free(w->outb[k]);
    free(w->wreq[k]);
    free(w->wlen[k]);
  }
  free(w->jobs);
  free(w->req);
  free(w->msg);
  free(w->all_n);
  free(w->starts);
  free(w->placed);
  free(w->own_off);
  free(w->order);
  free(w);
  return r;
}
