#include "dm_select.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_comm.h"
#include "dm_derived.h"
#include "dm_h5.h"
#include "dm_physics.h"
#include "dm_proctable.h"
#include "dm_progress.h"
#include "dm_prov.h"
#include "dm_store.h"
#include "dm_store_pieces.h"
#include "dm_xsum.h"

/* Everything one run holds; freed in one place. */
typedef struct {
  dm_proctable *tab;
  dm_store *st;
  dm_derived *pd;
  dm_store_writer *w;
  dm_derived_writer *dw;
  /* A round's range is read in pieces of bounded object count (index:
   * dm_store_pieces.h) and its kept events copied into out, so the objects
   * held follow the piece bound and what passes, not how dense the densest
   * batch of the store is. */
  dm_store_pieces index; /* the round's index and its pieces */
  dm_events piece;       /* a piece as read */
  dm_events out;         /* the round's kept events, written in one append */
  int64_t batch;         /* events per rank per round: the stride of pvals */
  int extra[DM_DERIVED_MAX_COLUMNS], n_extra;
  int pcol[DM_VAR_NDERIVED], ecol[DM_DERIVED_MAX_COLUMNS];
  double *wbuf, *pvals;     /* weights of the piece; physics values of kept events */
  int32_t *ibuf;
  char *ebuf[DM_DERIVED_MAX_COLUMNS], *ekeep[DM_DERIVED_MAX_COLUMNS]; /* piece; kept */
  int64_t *count;           /* [p * rows + c] */
  dm_xsum *sumw, *sumw2;
} run_state;

static dm_status init_report(dm_select_report *rep, dm_store *st, const dm_proctable *tab,
                             const dm_cutset *cuts)
{
  int P = dm_store_n_processes(st), R = cuts->n + 1;
  rep->n_proc = P;
  rep->n_rows = R;
  snprintf(rep->selection, sizeof rep->selection, "%s", cuts->name);
  size_t text = 0;
  for (int p = 0; p < P; p++)
    text += strlen(dm_store_process_name(st, p)) + 1;
  rep->proc_names = malloc((size_t)P * sizeof(char *) + text + 1);
  rep->proc_kind = calloc((size_t)P + 1, sizeof(int));
  rep->row_names = calloc((size_t)R, sizeof *rep->row_names);
  rep->row_defs = calloc((size_t)R, sizeof *rep->row_defs);
  rep->rows = calloc((size_t)P * R + 1, sizeof(dm_cutflow_row));
  rep->totals = calloc((size_t)DM_KIND_COUNT * R, sizeof(dm_cutflow_row));
  if (!rep->proc_names || !rep->proc_kind || !rep->row_names || !rep->row_defs || !rep->rows ||
      !rep->totals)
    return dm_error(DM_ERR_NOMEM, "no memory for the cutflow");
  char *t = (char *)(rep->proc_names + P);
  for (int p = 0; p < P; p++) {
    const char *name = dm_store_process_name(st, p);
    rep->proc_names[p] = t;
    strcpy(t, name);
    t += strlen(name) + 1;
    const dm_process *pr = dm_proctable_find(tab, name);
    rep->proc_kind[p] = !pr ? DM_KIND_OTHER : pr->kind == DM_PROC_BSM ? DM_KIND_BSM : DM_KIND_SM;
  }
  snprintf(rep->row_names[0], DM_CUT_NAME_MAX, "all");
  for (int c = 0; c < cuts->n; c++) {
    snprintf(rep->row_names[c + 1], DM_CUT_NAME_MAX, "%s", cuts->cut[c].name);
    dm_cut_describe(&cuts->cut[c], rep->row_defs[c + 1], sizeof rep->row_defs[c + 1]);
  }
  return DM_OK;
}

/* Root attributes that say where SEL.h5 came from. */
static dm_status write_origin(run_state *rs, const dm_select_opts *o, const char *hex,
                              int64_t size)
{
  hid_t f = dm_store_writer_file(rs->w);
  char text[8192];
  if (dm_cuts_format(o->cuts, text, sizeof text) < 0)
    return dm_error(DM_ERR_ARG, "selection %s is too long to record", o->cuts->name);
  dm_status s = dm_h5_attr_set_str(f, "parent", o->in_path);
  if (s == DM_OK)
    s = dm_h5_attr_set_str(f, "parent_checksum", hex);
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(f, "parent_bytes", size);
  if (s == DM_OK)
    s = dm_h5_attr_set_str(f, "selection_name", o->cuts->name);
  if (s == DM_OK)
    s = dm_h5_attr_set_str(f, "selection", text);
  return s;
}

static dm_status open_outputs(run_state *rs, const dm_select_opts *o, const char *hex,
                              int64_t size, MPI_Comm comm)
{
  dm_store_layout lay = {.zstd_level = o->zstd_level == 0 ? 3 : o->zstd_level < 0 ? 0 : o->zstd_level,
                         .chunk_events = DM_SELECT_CHUNK_EVENTS,
                         .precision_double = dm_store_is_double(rs->st)};
  DM_FORWARD(dm_agree(dm_store_writer_create(o->out_path, &lay, comm, &rs->w), comm));
  DM_FORWARD(dm_agree(write_origin(rs, o, hex, size), comm));
  /* The selection's columns go into its first part and index, committed
   * just before the selection itself (finish_outputs). */
  DM_FORWARD(dm_derived_writer_create(o->out_path, dm_store_writer_id(rs->w), -1, NULL, comm,
                                      &rs->dw));
  dm_store_writer_index_by_caller(rs->w);
  for (int v = 0; v < DM_VAR_NDERIVED; v++)
    DM_FORWARD(dm_derived_writer_add(rs->dw, dm_physics_var_name(v), dm_physics_var_h5type(v),
                                     &rs->pcol[v]));
  for (int j = 0; j < rs->n_extra; j++)
    DM_FORWARD(dm_derived_writer_add_like(rs->dw, rs->pd, rs->extra[j], &rs->ecol[j]));
  return DM_OK;
}

/* The per-event buffers are sized for a whole round (a piece can be one, if
 * its events have few objects), but only what a piece or the kept events
 * use of them is ever touched, so only that is resident. */
static dm_status alloc_buffers(run_state *rs, int64_t batch, int R, int P)
{
  rs->batch = batch;
  rs->wbuf = malloc((size_t)batch * sizeof(double));
  rs->pvals = malloc((size_t)batch * DM_VAR_NDERIVED * sizeof(double));
  rs->ibuf = malloc((size_t)batch * sizeof(int32_t));
  rs->count = calloc((size_t)P * R + 1, sizeof(int64_t));
  rs->sumw = calloc((size_t)P * R + 1, sizeof(dm_xsum));
  rs->sumw2 = calloc((size_t)P * R + 1, sizeof(dm_xsum));
  int ok = rs->wbuf && rs->pvals && rs->ibuf && rs->count && rs->sumw && rs->sumw2;
  for (int j = 0; ok && j < rs->n_extra; j++) {
    size_t esz = H5Tget_size(dm_derived_native_type(rs->pd, rs->extra[j]));
    rs->ebuf[j] = malloc((size_t)batch * esz);
    rs->ekeep[j] = malloc((size_t)batch * esz);
    ok = rs->ebuf[j] && rs->ekeep[j];
  }
  return ok ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for a batch of %lld events", (long long)batch);
}

/* Append event i of the piece to the round's kept events (grown as needed:
 * geometric, so a round's appends stay linear). */
static dm_status keep_event(dm_events *out, const dm_events *ev, int64_t i, int dbl)
{
  int64_t m = out->n_events, o0 = out->n_objects;
  int64_t k0 = ev->obj_offset[i], k1 = ev->obj_offset[i + 1];
  DM_FORWARD(dm_events_reserve(out, m + 1, o0 + (k1 - k0), dbl));
  out->event_id[m] = ev->event_id[i];
  out->process[m] = ev->process[i];
  out->weight[m] = ev->weight[i];
  out->met[m] = ev->met[i];
  out->met_phi[m] = ev->met_phi[i];
  if (dbl) {
    out->met_d[m] = ev->met_d[i];
    out->met_phi_d[m] = ev->met_phi_d[i];
  }
  size_t n = (size_t)(k1 - k0);
  memcpy(out->type + o0, ev->type + k0, n * sizeof *out->type);
  memcpy(out->e + o0, ev->e + k0, n * sizeof *out->e);
  memcpy(out->pt + o0, ev->pt + k0, n * sizeof *out->pt);
  memcpy(out->eta + o0, ev->eta + k0, n * sizeof *out->eta);
  memcpy(out->phi + o0, ev->phi + k0, n * sizeof *out->phi);
  if (dbl) {
    memcpy(out->e_d + o0, ev->e_d + k0, n * sizeof *out->e_d);
    memcpy(out->pt_d + o0, ev->pt_d + k0, n * sizeof *out->pt_d);
    memcpy(out->eta_d + o0, ev->eta_d + k0, n * sizeof *out->eta_d);
    memcpy(out->phi_d + o0, ev->phi_d + k0, n * sizeof *out->phi_d);
  }
  out->n_events = m + 1;
  out->n_objects = o0 + (k1 - k0);
  out->obj_offset[m + 1] = out->n_objects;
  return DM_OK;
}

/* One piece of a round: the piece's events are the events from `first`
 * (global) on; cut them, count the cutflow, keep what passes. The events go
 * through in store order, piece after piece, as they did batch by batch, so
 * the cutflow's sums take the same values in the same order. */
static dm_status select_piece(run_state *rs, const dm_select_opts *o, int64_t first, int R, int P,
                              int dbl, int use_derived_w)
{
  const dm_events *ev = &rs->piece;
  const dm_cutset *cs = o->cuts;
  double vars[DM_VAR_COUNT];
  for (int64_t i = 0; i < ev->n_events; i++) {
    int p = ev->process[i];
    if (p >= P)
      return dm_error(DM_ERR_SCHEMA, "%s: event %lld has process index %d, the table has %d",
                      o->in_path, (long long)(first + i), p, P);
    double w = use_derived_w ? rs->wbuf[i] : ev->weight[i], w2 = w * w;
    dm_physics_event(ev, i, vars);
    size_t base = (size_t)p * R;
    int c = 0;
    rs->count[base]++;
    dm_xsum_add(&rs->sumw[base], w);
    dm_xsum_add(&rs->sumw2[base], w2);
    for (; c < cs->n; c++) {
      if (!dm_cut_pass(&cs->cut[c], ev, i, vars, dbl))
        break;
      rs->count[base + c + 1]++;
      dm_xsum_add(&rs->sumw[base + c + 1], w);
      dm_xsum_add(&rs->sumw2[base + c + 1], w2);
    }
    if (c < cs->n)
      continue;
    int64_t m = rs->out.n_events;
    for (int v = 0; v < DM_VAR_NDERIVED; v++)
      rs->pvals[(size_t)v * rs->batch + m] = vars[v];
    for (int j = 0; j < rs->n_extra; j++) {
      size_t esz = H5Tget_size(dm_derived_native_type(rs->pd, rs->extra[j]));
      memcpy(rs->ekeep[j] + (size_t)m * esz, rs->ebuf[j] + (size_t)i * esz, esz);
    }
    DM_FORWARD(keep_event(&rs->out, ev, i, dbl));
  }
  return DM_OK;
}

/* One round: this rank's events [begin, begin+count), read piece by piece.
 * Every read is collective and its status not agreed: each is agreed before
 * the next, or a rank that failed would skip a read the others make; a rank
 * with fewer pieces reads nothing (count 0) in the others' last ones. */
static dm_status select_round(run_state *rs, const dm_select_opts *o, int64_t begin, int64_t count,
                              int R, int P, int dbl, int use_derived_w, MPI_Comm comm)
{
  /* out grows as events pass (dm_events_reserve: by half again). Taking a
   * whole round's room up front was measured worse (4-5 MiB more on a rank):
   * a large block regrown for a larger round moves, and the pages it left
   * stay resident. */
  dm_events_clear(&rs->out);
  DM_FORWARD(dm_store_pieces_plan(rs->st, begin, count, &rs->index));
  dm_status s = DM_OK;
  int64_t i = 0;
  for (int64_t p = 0; s == DM_OK && p < rs->index.n_pieces; p++) {
    int64_t e = dm_store_piece_end(&rs->index, i);
    s = dm_agree(dm_store_read(rs->st, begin + i, e - i, dbl, &rs->piece), comm);
    if (s == DM_OK && use_derived_w)
      s = dm_agree(dm_derived_read(rs->pd, "weight", begin + i, e - i, rs->wbuf), comm);
    for (int j = 0; s == DM_OK && j < rs->n_extra; j++)
      s = dm_agree(dm_derived_read_raw(rs->pd, rs->extra[j], begin + i, e - i, rs->ebuf[j]),
                   comm);
    if (s == DM_OK)
      s = select_piece(rs, o, begin + i, R, P, dbl, use_derived_w);
    s = dm_agree(s, comm);
    i = e;
  }
  return s;
}

/* The round's kept events in one append, as when a round was one read, so
 * the output's order and chunks are those of a whole-batch read. */
static dm_status write_batch(run_state *rs)
{
  DM_FORWARD(dm_store_writer_append(rs->w, &rs->out));
  int64_t m = rs->out.n_events;
  for (int v = 0; v < DM_VAR_NDERIVED; v++) {
    const double *src = rs->pvals + (size_t)v * rs->batch;
    if (dm_physics_var_is_count(v)) {
      for (int64_t i = 0; i < m; i++)
        rs->ibuf[i] = (int32_t)src[i];
      DM_FORWARD(dm_derived_writer_append(rs->dw, rs->pcol[v], H5T_NATIVE_INT32, rs->ibuf, m));
    } else {
      DM_FORWARD(dm_derived_writer_append(rs->dw, rs->pcol[v], H5T_NATIVE_DOUBLE, src, m));
    }
  }
  for (int j = 0; j < rs->n_extra; j++)
    DM_FORWARD(dm_derived_writer_append(rs->dw, rs->ecol[j],
                                        dm_derived_native_type(rs->pd, rs->extra[j]), rs->ekeep[j],
                                        m));
  return DM_OK;
}

static dm_status stream(run_state *rs, const dm_select_opts *o, int64_t batch, int R, int P,
                        int use_derived_w, MPI_Comm comm)
{
  int rank = dm_rank(comm), size = dm_size(comm), dbl = dm_store_is_double(rs->st);
  int64_t n = dm_store_n_events(rs->st);
  dm_progress *pr = dm_progress_start(comm, "select", 0, o->progress, o->progress_interval);
  dm_progress_expect(pr, n);
  dm_status s = DM_OK;
  int64_t rounds = dm_physics_rounds(n, batch, size);
  for (int64_t k = 0; s == DM_OK && k < rounds; k++) {
    int64_t begin, count;
    dm_physics_round(n, batch, k, rank, size, &begin, &count);
    s = select_round(rs, o, begin, count, R, P, dbl, use_derived_w, comm);
    if (s == DM_OK)
      s = write_batch(rs);
    dm_progress_add(pr, count, 0);
    dm_progress_tick(pr);
  }
  dm_progress_finish(pr);
  return s;
}

/* Merge the cutflow over ranks (exactly) into the report. */
static dm_status merge(run_state *rs, dm_select_report *rep, MPI_Comm comm)
{
  int P = rep->n_proc, R = rep->n_rows;
  DM_FORWARD(dm_allsum_i64_array(rs->count, (int64_t)P * R, comm));
  DM_FORWARD(dm_xsum_allreduce(rs->sumw, (int64_t)P * R, comm));
  DM_FORWARD(dm_xsum_allreduce(rs->sumw2, (int64_t)P * R, comm));
  dm_xsum *tw = calloc((size_t)DM_KIND_COUNT * R, sizeof(dm_xsum));
  dm_xsum *tw2 = calloc((size_t)DM_KIND_COUNT * R, sizeof(dm_xsum));
  if (!tw || !tw2) {
    free(tw);
    free(tw2);
    return dm_error(DM_ERR_NOMEM, "no memory for cutflow totals");
  }
  for (int p = 0; p < P; p++)
    for (int c = 0; c < R; c++) {
      size_t i = (size_t)p * R + c;
      rep->rows[i].count = rs->count[i];
      rep->rows[i].sumw = dm_xsum_value(&rs->sumw[i]);
      rep->rows[i].sumw2 = dm_xsum_value(&rs->sumw2[i]);
      int kinds[2] = {rep->proc_kind[p], DM_KIND_ALL};
      for (int q = 0; q < 2; q++) {
        size_t t = (size_t)kinds[q] * R + c;
        rep->totals[t].count += rs->count[i];
        dm_xsum_merge(&tw[t], &rs->sumw[i]);
        dm_xsum_merge(&tw2[t], &rs->sumw2[i]);
      }
    }
  for (int t = 0; t < DM_KIND_COUNT * R; t++) {
    rep->totals[t].sumw = dm_xsum_value(&tw[t]);
    rep->totals[t].sumw2 = dm_xsum_value(&tw2[t]);
  }
  free(tw);
  free(tw2);
  rep->n_out = rep->totals[(size_t)DM_KIND_ALL * R + R - 1].count;
  return DM_OK;
}

static dm_status finish_outputs(run_state *rs, const dm_select_opts *o, dm_select_report *rep,
                                dm_status s, const char *hex, int64_t size, MPI_Comm comm)
{
  int P = rep->n_proc, R = rep->n_rows;
  int64_t *sel = calloc((size_t)P + 1, sizeof(int64_t));
  const char **names = calloc((size_t)P + 1, sizeof(char *));
  if (!sel || !names)
    s = dm_error(DM_ERR_NOMEM, "no memory");
  s = dm_agree(s, comm);
  for (int p = 0; s == DM_OK && p < P; p++) {
    sel[p] = rep->rows[(size_t)p * R + R - 1].count;
    names[p] = rep->proc_names[p];
  }
  /* The derived columns first (their files carry the new store's identity,
   * so nothing reaches them before the store takes its name), then the store,
   * then the cutflow, which never takes its final name before the store it
   * describes is complete under its own. A later failure removes what the
   * earlier steps committed, so a failed run leaves none of the outputs. */
  s = dm_derived_writer_finish(rs->dw, s);
  rs->dw = NULL;
  int side_done = s == DM_OK;
  char id[DM_STORE_ID_LEN];
  snprintf(id, sizeof id, "%s", dm_store_writer_id(rs->w));
  char inputs[DM_PATH_MAX + 128];
  snprintf(inputs, sizeof inputs, "%s\t%lld\t" DM_TREE_ALGO ":%s", o->in_path, (long long)size,
           hex);
  s = dm_store_writer_finish(rs->w, s, names, sel, P, o->command_line ? o->command_line : "",
                             inputs);
  rs->w = NULL;
  int store_done = s == DM_OK;
  if (s == DM_OK && o->cutflow_path)
    s = dm_cutflow_write(rep, o->in_path, o->cutflow_path, comm);
  if (s != DM_OK && dm_rank(comm) == 0) {
    if (side_done)
      dm_derived_remove_new(o->out_path, id);
    if (store_done)
      unlink(o->out_path);
  }
  free(sel);
  free(names);
  return s;
}

dm_status dm_select_run(const dm_select_opts *o, MPI_Comm comm, dm_select_report *rep)
{
  double t0 = MPI_Wtime();
  memset(rep, 0, sizeof *rep);
  if (!o->in_path || !o->out_path || !o->cuts || o->cuts->n < 1)
    return dm_error(DM_ERR_ARG, "select needs an input, an output and at least one cut");
  int64_t batch = o->batch_events > 0 ? o->batch_events : DM_PHYSICS_BATCH_DEFAULT;
  run_state rs;
  memset(&rs, 0, sizeof rs);
  rs.index.max_objects = o->piece_objects;
  dm_status s = dm_proctable_load_comm(o->xsec_path, comm, &rs.tab);
  s = dm_agree(s, comm);
  if (s == DM_OK)
    s = dm_agree(dm_store_open(o->in_path, comm, 0, &rs.st), comm);
  if (s == DM_OK)
    s = dm_derived_open(o->in_path, dm_store_file(rs.st), dm_store_n_events(rs.st), comm, &rs.pd);
  if (s == DM_OK)
    s = dm_agree(init_report(rep, rs.st, rs.tab, o->cuts), comm);
  int P = rep->n_proc, R = rep->n_rows, use_w = 0;
  int64_t size = 0;
  if (s == DM_OK) {
    rep->n_in = dm_store_n_events(rs.st);
    use_w = dm_derived_has(rs.pd, "weight");
    snprintf(rep->weight_source, sizeof rep->weight_source, "%s",
             use_w ? "derived/weight" : "events/weight");
    /* Carry over the parent's other derived columns; the physics ones are
     * recomputed, which is cheaper than reading them and gives equal values. */
    for (int i = 0; i < dm_derived_count(rs.pd); i++)
      if (dm_physics_var_index(dm_derived_name(rs.pd, i)) < 0 ||
          dm_physics_var_index(dm_derived_name(rs.pd, i)) >= DM_VAR_NDERIVED)
        rs.extra[rs.n_extra++] = i;
    rep->n_derived_copied = rs.n_extra;
    s = dm_checksum_file_tree(o->in_path, comm, rep->in_checksum, &size);
  }
  if (s == DM_OK)
    s = dm_agree(alloc_buffers(&rs, batch, R, P), comm);
  int opened = 0;
  if (s == DM_OK) {
    s = open_outputs(&rs, o, rep->in_checksum, size, comm);
    opened = 1;
  }
  if (s == DM_OK)
    s = stream(&rs, o, batch, R, P, use_w, comm);
  if (s == DM_OK)
    s = dm_agree(merge(&rs, rep, comm), comm);
  if (opened && rs.w && rs.dw)
    s = finish_outputs(&rs, o, rep, s, rep->in_checksum, size, comm);
  if (rs.dw)
    dm_derived_writer_finish(rs.dw, s != DM_OK ? s : DM_ERR_INTERNAL);
  if (rs.w)
    dm_store_writer_finish(rs.w, s != DM_OK ? s : DM_ERR_INTERNAL, NULL, NULL, 0, "", "");
  dm_events_free(&rs.piece);
  dm_events_free(&rs.out);
  dm_store_pieces_free(&rs.index);
  free(rs.wbuf);
  free(rs.pvals);
  free(rs.ibuf);
  free(rs.count);
  free(rs.sumw);
  free(rs.sumw2);
  for (int j = 0; j < rs.n_extra; j++) {
    free(rs.ebuf[j]);
    free(rs.ekeep[j]);
  }
  dm_derived_close(rs.pd);
  dm_store_close(rs.st);
  dm_proctable_free(rs.tab);
  rep->seconds = dm_allmax_f64(MPI_Wtime() - t0, comm);
  return s;
}
