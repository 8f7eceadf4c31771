/* The selection as a rank holds it, and the writer of ordered parts
 * (dm_dataset_private.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_csv.h"
#include "dm_dataset_private.h"
#include "dm_derived.h"
#include "dm_proctable.h"
#include "dm_xsum.h"

void dm_ds_sel_free(dm_ds_sel *sel)
{
  if (sel->st)
    dm_store_close(sel->st);
  dm_events_free(&sel->ev);
  free(sel->kind);
  free(sel->w);
  free(sel->pk);
  free(sel->n_sel);
  free(sel->sumw);
  memset(sel, 0, sizeof *sel);
}

const char *const *dm_ds_names(const dm_ds_sel *sel, const char **buf)
{
  for (int p = 0; p < sel->n_proc; p++)
    buf[p] = dm_store_process_name(sel->st, p);
  return buf;
}

dm_status dm_ds_sel_load(const char *path, const char *what, const char *xsec_path,
                         double weight_lumi, MPI_Comm comm, dm_ds_sel *sel)
{
  memset(sel, 0, sizeof *sel);
  snprintf(sel->path, sizeof sel->path, "%s", path);
  snprintf(sel->what, sizeof sel->what, "%s", what ? what : path);
  DM_FORWARD(dm_store_open(path, comm, 0, &sel->st));
  dm_store *st = sel->st;
  sel->dbl = dm_store_is_double(st);
  sel->n_proc = dm_store_n_processes(st);
  sel->n = dm_store_n_events(st);
  int rank = dm_rank(comm), size = dm_size(comm);
  int64_t e;
  dm_partition(sel->n, rank, size, &sel->begin, &e);
  sel->n_block = e - sel->begin;
  int np = sel->n_proc;

  /* The parent's identity: a selection records it (dmpipe select). */
  dm_status s = dm_h5_attr_get_str(dm_store_file(st), "parent_checksum", sel->parent_checksum,
                                   sizeof sel->parent_checksum);
  if (s != DM_OK)
    s = dm_error(DM_ERR_SCHEMA, "%s is not a selection (no parent_checksum attribute): make it "
                 "with dmpipe select", path);
  s = dm_agree(s, comm);

  dm_proctable *tab = NULL;
  if (s == DM_OK)
    s = dm_proctable_load_comm(xsec_path, comm, &tab);
  if (s == DM_OK) {
    sel->kind = calloc((size_t)np, sizeof *sel->kind);
    sel->n_sel = calloc((size_t)np, sizeof *sel->n_sel);
    sel->sumw = calloc((size_t)np, sizeof *sel->sumw);
    if (!sel->kind || !sel->n_sel || !sel->sumw)
      s = dm_error(DM_ERR_NOMEM, "no memory");
    for (int p = 0; p < np && s == DM_OK; p++) {
      const dm_process *pr = NULL;
      s = dm_proctable_lookup(tab, dm_store_process_name(st, p), 0, &pr);
      if (s == DM_OK)
        sel->kind[p] = pr->kind == DM_PROC_BSM;
      else
        dm_error_context("%s (every process of the store must be in the table to tell "
                         "background from signal; pass --xsec)", path);
    }
    /* Identical table and store on every rank: the outcome is the same. */
    s = dm_agree(s, comm);
  }
  dm_proctable_free(tab);

  /* The block and its weights. */
  if (s == DM_OK)
    s = dm_store_read(st, sel->begin, sel->n_block, sel->dbl, &sel->ev);
  s = dm_agree(s, comm);
  dm_derived *d = NULL;
  if (s == DM_OK)
    s = dm_derived_open(path, dm_store_file(st), sel->n, comm, &d);
  if (s == DM_OK) {
    sel->w = malloc(sizeof(double) * (size_t)(sel->n_block > 0 ? sel->n_block : 1));
    sel->pk = malloc(sizeof(int64_t) * (size_t)(sel->n_block > 0 ? sel->n_block : 1));
    s = dm_agree(!sel->w || !sel->pk ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK, comm);
  }
  if (s == DM_OK) {
    if (dm_derived_has(d, "weight")) {
      snprintf(sel->weight_source, sizeof sel->weight_source, "derived/weight");
      s = dm_derived_read(d, "weight", sel->begin, sel->n_block, sel->w);
      double l = NAN;
      hid_t ds = H5I_INVALID_HID;
      for (int i = 0; i < dm_derived_count(d); i++)
        if (!strcmp(dm_derived_name(d, i), "weight"))
          ds = dm_derived_dataset(d, i);
      dm_status a = ds >= 0 ? dm_h5_attr_get_f64(ds, "lumi_fb", &l) : DM_ERR_SCHEMA;
      if (s == DM_OK && (a != DM_OK || !(l > 0)))
        s = dm_error(DM_ERR_SCHEMA, "%s: /derived/weight has no positive lumi_fb attribute",
                     path);
      sel->weight_lumi = l;
    } else {
      snprintf(sel->weight_source, sizeof sel->weight_source, "events/weight");
      memcpy(sel->w, sel->ev.weight, sizeof(double) * (size_t)sel->n_block);
      sel->weight_lumi = weight_lumi;
    }
    s = dm_agree(s, comm);
  }
  if (d)
    dm_derived_close(d);

  /* Per process: counts, each event's index among its process's events
   * (global, store order), exact weight sums. */
  if (s == DM_OK) {
    int64_t *cnt = calloc((size_t)np, sizeof *cnt), *pre = calloc((size_t)np, sizeof *pre);
    dm_xsum *xs = calloc((size_t)np, sizeof *xs);
    s = (!cnt || !pre || !xs) ? dm_error(DM_ERR_NOMEM, "no memory") : DM_OK;
    for (int64_t i = 0; s == DM_OK && i < sel->n_block; i++) {
      int p = sel->ev.process[i];
      if (!isfinite(sel->w[i]))
        s = dm_error(DM_ERR_NUMERIC, "%s: event %lld (ID %lld, %s) has weight %g", path,
                     (long long)(sel->begin + i), (long long)sel->ev.event_id[i],
                     dm_store_process_name(st, p), sel->w[i]);
      cnt[p]++;
      dm_xsum_add(&xs[p], sel->w[i]);
    }
    s = dm_agree(s, comm);
    if (s == DM_OK) {
      for (int p = 0; p < np; p++)
        pre[p] = cnt[p];
      MPI_Exscan(MPI_IN_PLACE, pre, np, MPI_INT64_T, MPI_SUM, comm);
      if (rank == 0)
        memset(pre, 0, sizeof(int64_t) * (size_t)np);
      for (int p = 0; p < np; p++)
        sel->n_sel[p] = cnt[p];
      s = dm_allsum_i64_array(sel->n_sel, np, comm);
    }
    if (s == DM_OK)
      s = dm_agree(dm_xsum_allreduce(xs, np, comm), comm);
    if (s == DM_OK) {
      for (int64_t i = 0; i < sel->n_block; i++)
        sel->pk[i] = pre[sel->ev.process[i]]++;
      for (int p = 0; p < np; p++)
        sel->sumw[p] = dm_xsum_value(&xs[p]);
    }
    free(cnt);
    free(pre);
    free(xs);
  }
  return s;
}

/* ---- items ------------------------------------------------------------------ */

dm_status dm_ds_items_push(dm_ds_items *it, int64_t src, int64_t pos, double weight)
{
  if (it->n == it->cap) {
    int64_t c = it->cap ? it->cap * 2 : 1024;
    dm_ds_item *v = realloc(it->v, sizeof *v * (size_t)c);
    if (!v)
      return dm_error(DM_ERR_NOMEM, "no memory for %lld output events", (long long)c);
    it->v = v;
    it->cap = c;
  }
  it->v[it->n++] = (dm_ds_item){src, pos, weight};
  return DM_OK;
}

void dm_ds_items_free(dm_ds_items *it)
{
  free(it->v);
  memset(it, 0, sizeof *it);
}

static int cmp_item_pos(const void *a, const void *b)
{
  int64_t x = ((const dm_ds_item *)a)->pos, y = ((const dm_ds_item *)b)->pos;
  return (x > y) - (x < y);
}

void dm_ds_items_sort(dm_ds_items *it)
{
  if (it->n > 1)
    qsort(it->v, (size_t)it->n, sizeof *it->v, cmp_item_pos);
}

/* ---- ordered parts ---------------------------------------------------------- */

/* A packed event on the wire: position, ID, weight, process, object count,
 * MET and its phi, then per object its type and E, pT, eta, phi, the floats
 * in the store's precision (fsz bytes each). */
static size_t rec_size(int64_t n_obj, size_t fsz)
{
  return 8 + 8 + 8 + 2 + 2 + 2 * fsz + (size_t)n_obj * (1 + 4 * fsz);
}

static char *put(char *p, const void *v, size_t n)
{
  memcpy(p, v, n);
  return p + n;
}

static char *put_f(char *p, const float *f, const double *d, int64_t i, int dbl)
{
  if (dbl)
    return put(p, &d[i], 8);
  return put(p, &f[i], 4);
}

static char *pack(char *p, const dm_events *ev, int64_t i, int64_t pos, double w, int dbl)
{
  int64_t o0 = ev->obj_offset[i], no = ev->obj_offset[i + 1] - o0;
  uint16_t proc = ev->process[i], nob = (uint16_t)no;
  p = put(p, &pos, 8);
  p = put(p, &ev->event_id[i], 8);
  p = put(p, &w, 8);
  p = put(p, &proc, 2);
  p = put(p, &nob, 2);
  p = put_f(p, ev->met, ev->met_d, i, dbl);
  p = put_f(p, ev->met_phi, ev->met_phi_d, i, dbl);
  for (int64_t k = o0; k < o0 + no; k++) {
    p = put(p, &ev->type[k], 1);
    p = put_f(p, ev->e, ev->e_d, k, dbl);
    p = put_f(p, ev->pt, ev->pt_d, k, dbl);
    p = put_f(p, ev->eta, ev->eta_d, k, dbl);
    p = put_f(p, ev->phi, ev->phi_d, k, dbl);
  }
  return p;
}

static const char *get_f(const char *p, float *f, double *d, int64_t i, int dbl)
{
  if (dbl) {
    memcpy(&d[i], p, 8);
    f[i] = (float)d[i];
    return p + 8;
  }
  memcpy(&f[i], p, 4);
  return p + 4;
}

static dm_status grow_buf(char **buf, int64_t *cap, int64_t need)
{
  if (need <= *cap)
    return DM_OK;
  int64_t c = need > 2 * *cap ? need : 2 * *cap;
  char *b = realloc(*buf, (size_t)c);
  if (!b)
    return dm_error(DM_ERR_NOMEM, "no memory for %lld bytes", (long long)c);
  *buf = b;
  *cap = c;
  return DM_OK;
}

typedef struct {
  char *send, *recv, *text;
  int64_t send_cap, recv_cap, text_cap;
  int *scount, *sdispl, *rcount, *rdispl;
  dm_events out;
  const char **rec_at; /* per owned position: its record */
  int64_t rec_cap;
} ds_round_buf;

static void round_buf_free(ds_round_buf *b)
{
  free(b->send);
  free(b->recv);
  free(b->text);
  free(b->scount);
  free(b->sdispl);
  free(b->rcount);
  free(b->rdispl);
  free(b->rec_at);
  dm_events_free(&b->out);
}

/* Format the owned events as CSV text into b->text; *len receives its size. */
static dm_status format_text(ds_round_buf *b, const char *const *names, const dm_ds_fmt *fmt,
                             int dbl, int64_t *len)
{
  const dm_events *ev = &b->out;
  int64_t pos = 0;
  for (int64_t i = 0; i < ev->n_events; i++) {
    const char *name = fmt->blind_name ? fmt->blind_name : names[ev->process[i]];
    int64_t need = 256 + 160 * (ev->obj_offset[i + 1] - ev->obj_offset[i]) + (int64_t)strlen(name);
    DM_FORWARD(grow_buf(&b->text, &b->text_cap, pos + need));
    size_t n = dm_csv_format_event(ev, i, name, dbl, 1, b->text + pos, (size_t)(b->text_cap - pos));
    if (n == 0)
      return dm_error(DM_ERR_INTERNAL, "an event's CSV line exceeds %lld bytes", (long long)need);
    pos += (int64_t)n;
  }
  *len = pos;
  return DM_OK;
}

dm_status dm_ds_write_range(const dm_ds_sel *sel, const dm_ds_items *it, int64_t lo, int64_t hi,
                            dm_text_out *csv, dm_store_writer *stw, const dm_ds_fmt *fmt,
                            int64_t *proc_counts, MPI_Comm comm)
{
  int rank = dm_rank(comm), size = dm_size(comm), dbl = sel->dbl;
  size_t fsz = dbl ? 8 : 4;
  const dm_events *ev = &sel->ev;
  ds_round_buf b;
  memset(&b, 0, sizeof b);
  const char **names = malloc(sizeof(char *) * (size_t)sel->n_proc);
  b.scount = calloc((size_t)size, sizeof(int));
  b.sdispl = calloc((size_t)size, sizeof(int));
  b.rcount = calloc((size_t)size, sizeof(int));
  b.rdispl = calloc((size_t)size, sizeof(int));
  int64_t *cnt = calloc((size_t)sel->n_proc, sizeof(int64_t));
  dm_status s = (!names || !b.scount || !b.sdispl || !b.rcount || !b.rdispl || !cnt)
                    ? dm_error(DM_ERR_NOMEM, "no memory")
                    : DM_OK;
  s = dm_agree(s, comm);
  if (s == DM_OK)
    dm_ds_names(sel, names);
  int64_t batch = fmt->batch > 0 ? fmt->batch : 65536;
  int64_t window = batch * size;
  /* Items before lo are skipped; the items are sorted by position. */
  int64_t i0 = 0;
  while (i0 < it->n && it->v[i0].pos < lo)
    i0++;
  for (int64_t w0 = lo; s == DM_OK && w0 < hi; w0 += window) {
    int64_t w1 = hi - w0 < window ? hi : w0 + window, m = w1 - w0;
    /* Pack this rank's items of the window, grouped by owner (positions
     * ascend, so owners do too). */
    int64_t i1 = i0, bytes = 0;
    while (i1 < it->n && it->v[i1].pos < w1) {
      int64_t e = it->v[i1].src;
      bytes += (int64_t)rec_size(ev->obj_offset[e + 1] - ev->obj_offset[e], fsz);
      i1++;
    }
    s = grow_buf(&b.send, &b.send_cap, bytes > 0 ? bytes : 1);
    if (s == DM_OK && bytes > INT32_MAX)
      s = dm_error(DM_ERR_ARG, "a round of %lld bytes is too large for one exchange: lower "
                   "the batch", (long long)bytes);
    s = dm_agree(s, comm);
    if (s != DM_OK)
      break;
    memset(b.scount, 0, sizeof(int) * (size_t)size);
    char *p = b.send;
    for (int64_t i = i0; i < i1; i++) {
      int64_t off = it->v[i].pos - w0;
      /* Owner under dm_partition(m): the first m % size ranks hold q + 1. */
      int64_t q = m / size, r = m % size, owner;
      owner = off < r * (q + 1) ? off / (q + 1) : r + (off - r * (q + 1)) / (q > 0 ? q : 1);
      char *p0 = p;
      p = pack(p, ev, it->v[i].src, it->v[i].pos, it->v[i].weight, dbl);
      b.scount[owner] += (int)(p - p0);
    }
    i0 = i1;
    MPI_Alltoall(b.scount, 1, MPI_INT, b.rcount, 1, MPI_INT, comm);
    int64_t rtot = 0;
    for (int r = 0; r < size; r++) {
      b.sdispl[r] = r ? b.sdispl[r - 1] + b.scount[r - 1] : 0;
      b.rdispl[r] = (int)rtot;
      rtot += b.rcount[r];
    }
    s = rtot > INT32_MAX ? dm_error(DM_ERR_ARG, "a round receives %lld bytes: lower the batch",
                                    (long long)rtot)
                         : grow_buf(&b.recv, &b.recv_cap, rtot > 0 ? rtot : 1);
    s = dm_agree(s, comm);
    if (s != DM_OK)
      break;
    MPI_Alltoallv(b.send, b.scount, b.sdispl, MPI_BYTE, b.recv, b.rcount, b.rdispl, MPI_BYTE,
                  comm);
    /* Place the records by position, then unpack in order. */
    int64_t ob, oe;
    dm_partition(m, rank, size, &ob, &oe);
    int64_t own = oe - ob;
    if (own > b.rec_cap) {
      const char **ra = realloc(b.rec_at, sizeof(char *) * (size_t)own);
      if (ra) {
        b.rec_at = ra;
        b.rec_cap = own;
      }
    }
    if (own > b.rec_cap)
      s = dm_error(DM_ERR_NOMEM, "no memory");
    int64_t nobj = 0, got = 0;
    for (int64_t k = 0; s == DM_OK && k < own; k++)
      b.rec_at[k] = NULL;
    for (const char *q = b.recv; s == DM_OK && q < b.recv + rtot; got++) {
      int64_t pos;
      uint16_t nob;
      memcpy(&pos, q, 8);
      memcpy(&nob, q + 26, 2);
      int64_t k = pos - w0 - ob;
      if (k < 0 || k >= own || b.rec_at[k])
        s = dm_error(DM_ERR_INTERNAL, "position %lld received twice or by the wrong rank",
                     (long long)pos);
      else
        b.rec_at[k] = q;
      nobj += nob;
      q += rec_size(nob, fsz);
    }
    if (s == DM_OK && got != own)
      s = dm_error(DM_ERR_INTERNAL, "%lld of %lld positions received", (long long)got,
                   (long long)own);
    if (s == DM_OK) {
      dm_events_clear(&b.out);
      s = dm_events_reserve(&b.out, own, nobj, dbl);
    }
    if (s == DM_OK) {
      dm_events *o = &b.out;
      int64_t ko = 0;
      o->obj_offset[0] = 0;
      for (int64_t k = 0; k < own; k++) {
        const char *q = b.rec_at[k];
        uint16_t proc, nob;
        memcpy(&o->event_id[k], q + 8, 8);
        memcpy(&o->weight[k], q + 16, 8);
        memcpy(&proc, q + 24, 2);
        memcpy(&nob, q + 26, 2);
        q += 28;
        q = get_f(q, o->met, o->met_d, k, dbl);
        q = get_f(q, o->met_phi, o->met_phi_d, k, dbl);
        for (int64_t j = ko; j < ko + nob; j++) {
          o->type[j] = (uint8_t)*q++;
          q = get_f(q, o->e, o->e_d, j, dbl);
          q = get_f(q, o->pt, o->pt_d, j, dbl);
          q = get_f(q, o->eta, o->eta_d, j, dbl);
          q = get_f(q, o->phi, o->phi_d, j, dbl);
        }
        ko += nob;
        o->obj_offset[k + 1] = ko;
        cnt[proc]++;
        o->process[k] = fmt->blind_name ? 0 : proc;
        if (fmt->renumber)
          o->event_id[k] = w0 + ob + k + 1;
      }
      o->n_events = own;
      o->n_objects = ko;
      o->first_event = w0 + ob;
    }
    s = dm_agree(s, comm);
    if (s != DM_OK)
      break;
    if (csv) {
      int64_t len = 0;
      s = dm_agree(format_text(&b, names, fmt, dbl, &len), comm);
      if (s == DM_OK)
        s = dm_text_out_append(csv, b.text, len);
    }
    if (s == DM_OK && stw)
      s = dm_agree(dm_store_writer_append(stw, &b.out), comm);
  }
  if (s == DM_OK && proc_counts) {
    s = dm_allsum_i64_array(cnt, sel->n_proc, comm);
    memcpy(proc_counts, cnt, sizeof(int64_t) * (size_t)sel->n_proc);
  }
  free(cnt);
  free(names);
  round_buf_free(&b);
  return dm_agree(s, comm);
}
