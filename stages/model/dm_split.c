/* The training split as the model file records it, and its re-application
 * to the store it was drawn from. */
#include "dm_split.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"

void dm_split_free(dm_split *sp)
{
  if (!sp)
    return;
  free(sp->bg_names);
  free(sp->bg_pool);
  free(sp);
}

dm_status dm_split_set_names(dm_split *sp, const char *const *names, int n)
{
  size_t text = 0;
  for (int i = 0; i < n; i++)
    text += strlen(names[i]) + 1;
  /* One block, as dm_h5_strings_read returns it: pointers, then the text. */
  char **block = malloc((size_t)(n > 0 ? n : 1) * sizeof(char *) + text + 1);
  if (!block)
    return dm_error(DM_ERR_NOMEM, "no memory for %d process names", n);
  char *p = (char *)(block + (n > 0 ? n : 1));
  for (int i = 0; i < n; i++) {
    size_t l = strlen(names[i]) + 1;
    memcpy(p, names[i], l);
    block[i] = p;
    p += l;
  }
  free(sp->bg_names);
  sp->bg_names = block;
  sp->n_bg = n;
  return DM_OK;
}

dm_status dm_split_save(const dm_split *sp, hid_t file, MPI_Comm comm)
{
  DM_FORWARD(dm_h5_group_ensure(file, DM_SPLIT_GROUP));
  hid_t g = H5Gopen2(file, DM_SPLIT_GROUP, H5P_DEFAULT);
  if (g < 0)
    return dm_error(DM_ERR_HDF5, "cannot open group /%s", DM_SPLIT_GROUP);
  dm_status s = dm_h5_attr_set_str(g, "rule", sp->global ? "global" : "per-process");
  if (s == DM_OK)
    s = dm_h5_attr_set_f64(g, "fraction", sp->fraction);
  if (s == DM_OK)
    s = dm_h5_attr_set_str(g, "store_path", sp->store_path);
  if (s == DM_OK)
    s = dm_h5_attr_set_str(g, "store_checksum", sp->store_checksum);
  if (s == DM_OK)
    s = dm_h5_attr_set_str(g, "store_checksum_algo", sp->checksum_algo);
  if (s == DM_OK)
    s = dm_h5_attr_set_str(g, "store_parent_checksum", sp->parent_checksum);
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(g, "store_events", sp->store_events);
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(g, "n_pool", sp->n_pool);
  if (s == DM_OK)
    s = dm_h5_attr_set_i64(g, "weighted", sp->weighted);
  if (s == DM_OK)
    s = dm_h5_attr_set_str(g, "weight_source", sp->weight_source);
  H5Gclose(g);
  if (s == DM_OK)
    s = dm_h5_strings_write(file, DM_SPLIT_GROUP "/background", (const char *const *)sp->bg_names,
                            sp->n_bg, comm);
  int64_t dims[1] = {sp->n_bg};
  if (s == DM_OK)
    s = dm_h5_array_write(file, DM_SPLIT_GROUP "/pool", H5T_NATIVE_INT64, 1, dims, sp->bg_pool,
                          comm);
  return s;
}

static dm_status load_local(hid_t file, const char *path, dm_split *sp)
{
  hid_t g = H5Gopen2(file, DM_SPLIT_GROUP, H5P_DEFAULT);
  if (g < 0)
    return dm_error(DM_ERR_SCHEMA, "%s: cannot open /%s", path, DM_SPLIT_GROUP);
  char rule[32] = "";
  int64_t weighted = 0;
  dm_status s = dm_h5_attr_get_str(g, "rule", rule, sizeof rule);
  if (s == DM_OK)
    s = dm_h5_attr_get_f64(g, "fraction", &sp->fraction);
  if (s == DM_OK)
    s = dm_h5_attr_get_str(g, "store_path", sp->store_path, sizeof sp->store_path);
  if (s == DM_OK)
    s = dm_h5_attr_get_str(g, "store_checksum", sp->store_checksum, sizeof sp->store_checksum);
  if (s == DM_OK)
    s = dm_h5_attr_get_i64(g, "store_events", &sp->store_events);
  if (s == DM_OK)
    s = dm_h5_attr_get_i64(g, "n_pool", &sp->n_pool);
  if (s == DM_OK)
    s = dm_h5_attr_get_i64(g, "weighted", &weighted);
  if (s == DM_OK)
    s = dm_h5_attr_get_str(g, "weight_source", sp->weight_source, sizeof sp->weight_source);
  if (s == DM_OK &&
      dm_h5_attr_get_str(g, "store_checksum_algo", sp->checksum_algo, sizeof sp->checksum_algo) !=
          DM_OK) {
    sp->checksum_algo[0] = '\0';
    dm_error_clear();
  }
  if (s == DM_OK && dm_h5_attr_get_str(g, "store_parent_checksum", sp->parent_checksum,
                                       sizeof sp->parent_checksum) != DM_OK) {
    sp->parent_checksum[0] = '\0';
    dm_error_clear();
  }
  H5Gclose(g);
  if (s != DM_OK) {
    dm_error_context("%s: /%s", path, DM_SPLIT_GROUP);
    return s;
  }
  sp->weighted = weighted != 0;
  if (!strcmp(rule, "global"))
    sp->global = 1;
  else if (strcmp(rule, "per-process") != 0)
    return dm_error(DM_ERR_SCHEMA, "%s: /%s rule '%s' is neither per-process nor global", path,
                    DM_SPLIT_GROUP, rule);
  if (!(sp->fraction > 0 && sp->fraction <= 1) || sp->n_pool < 0 || sp->store_events < 0)
    return dm_error(DM_ERR_SCHEMA, "%s: /%s has fraction %g, n_pool %lld, store_events %lld",
                    path, DM_SPLIT_GROUP, sp->fraction, (long long)sp->n_pool,
                    (long long)sp->store_events);
  return DM_OK;
}

dm_status dm_split_load(hid_t file, const char *path, MPI_Comm comm, dm_split **out)
{
  *out = NULL;
  /* The file is the same on every rank, so the probe agrees. */
  if (!dm_h5_exists(file, DM_SPLIT_GROUP))
    return DM_OK;
  dm_split *sp = calloc(1, sizeof *sp);
  dm_status s = sp ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
  s = dm_agree(s, comm);
  if (s != DM_OK)
    return s;
  s = dm_agree(load_local(file, path, sp), comm);
  int64_t nn = 0, count = 0, dims[4];
  int nd = 0;
  void *buf = NULL;
  if (s == DM_OK) {
    s = dm_h5_strings_read(file, DM_SPLIT_GROUP "/background", &sp->bg_names, &nn);
    s = dm_agree(s, comm);
  }
  if (s == DM_OK) {
    s = dm_h5_array_read(file, DM_SPLIT_GROUP "/pool", H5T_NATIVE_INT64, &nd, dims, &count,
                         &buf);
    sp->bg_pool = buf;
    s = dm_agree(s, comm);
  }
  if (s == DM_OK) {
    int64_t sum = 0;
    for (int64_t i = 0; i < count; i++)
      sum += sp->bg_pool[i] >= 0 ? sp->bg_pool[i] : -1;
    if (count != nn || nn > 65536 || sum != sp->n_pool)
      s = dm_error(DM_ERR_SCHEMA,
                   "%s: /%s lists %lld background processes and %lld pool counts summing to "
                   "%lld, n_pool says %lld",
                   path, DM_SPLIT_GROUP, (long long)nn, (long long)count, (long long)sum,
                   (long long)sp->n_pool);
    sp->n_bg = (int)nn;
  } else if (dm_error_message()[0] && !strstr(dm_error_message(), path)) {
    dm_error_context("%s", path);
  }
  s = dm_agree(s, comm);
  if (s != DM_OK) {
    dm_split_free(sp);
    return s;
  }
  *out = sp;
  return DM_OK;
}

void dm_split_describe(const dm_split *sp, char *buf, size_t cap)
{
  snprintf(buf, cap,
           "%lld training events of %s (%s %s, %lld events): the first %.6g of %s in "
           "store order, %d background processes%s%s%s",
           (long long)sp->n_pool, sp->store_path,
           sp->checksum_algo[0] ? sp->checksum_algo : "checksum", sp->store_checksum,
           (long long)sp->store_events, sp->fraction,
           sp->global ? "all background events" : "each background process's events", sp->n_bg,
           sp->weighted ? "; weighted fit (" : "", sp->weighted ? sp->weight_source : "",
           sp->weighted ? ")" : "");
}

/* ---- marker ------------------------------------------------------------------ */

struct dm_split_marker {
  int n_proc, n_cls;
  int *cls;          /* per store process: its class, or -1 (not background) */
  int *bg;           /* per store process: index into the split's list, or -1 */
  int64_t *pool;     /* per class: training events */
  int64_t *done;     /* per class: events of every earlier call */
  int64_t *cnt, *before, *tot; /* per class, scratch */
  int64_t *marked;   /* per background process of the split: marked here */
  const dm_split *sp;
};

void dm_split_marker_free(dm_split_marker *m)
{
  if (!m)
    return;
  free(m->cls);
  free(m->bg);
  free(m->pool);
  free(m->done);
  free(m->cnt);
  free(m->before);
  free(m->tot);
  free(m->marked);
  free(m);
}

dm_status dm_split_marker_new(const dm_split *sp, const char *const *store_proc, int n_proc,
                              dm_split_marker **out)
{
  *out = NULL;
  dm_split_marker *m = calloc(1, sizeof *m);
  int nc = sp->global ? 1 : (sp->n_bg > 0 ? sp->n_bg : 1);
  size_t np1 = (size_t)(n_proc > 0 ? n_proc : 1), nb1 = (size_t)(sp->n_bg > 0 ? sp->n_bg : 1);
  if (m) {
    m->cls = malloc(np1 * sizeof(int));
    m->bg = malloc(np1 * sizeof(int));
    m->pool = calloc((size_t)nc, sizeof(int64_t));
    m->done = calloc((size_t)nc, sizeof(int64_t));
    m->cnt = calloc((size_t)nc, sizeof(int64_t));
    m->before = calloc((size_t)nc, sizeof(int64_t));
    m->tot = calloc((size_t)nc, sizeof(int64_t));
    m->marked = calloc(nb1, sizeof(int64_t));
  }
  if (!m || !m->cls || !m->bg || !m->pool || !m->done || !m->cnt || !m->before || !m->tot ||
      !m->marked) {
    dm_split_marker_free(m);
    return dm_error(DM_ERR_NOMEM, "no memory for the training-event marker");
  }
  m->n_proc = n_proc;
  m->n_cls = nc;
  m->sp = sp;
  for (int p = 0; p < n_proc; p++) {
    m->cls[p] = m->bg[p] = -1;
    for (int i = 0; i < sp->n_bg; i++)
      if (!strcmp(store_proc[p], sp->bg_names[i])) {
        m->bg[p] = i;
        m->cls[p] = sp->global ? 0 : i;
      }
  }
  for (int i = 0; i < sp->n_bg; i++) {
    int found = 0;
    for (int p = 0; p < n_proc; p++)
      found |= m->bg[p] == i;
    if (!found) {
      dm_status s = dm_error(DM_ERR_SCHEMA,
                             "the model trained on background process '%s', which the store "
                             "lacks: not the store the model trained on",
                             sp->bg_names[i]);
      dm_split_marker_free(m);
      return s;
    }
    if (!sp->global)
      m->pool[i] = sp->bg_pool[i];
  }
  if (sp->global)
    m->pool[0] = sp->n_pool;
  *out = m;
  return DM_OK;
}

dm_status dm_split_mark(dm_split_marker *m, const uint16_t *proc, int64_t n, uint8_t *train,
                        MPI_Comm comm)
{
  int nc = m->n_cls;
  dm_status s = DM_OK;
  memset(m->cnt, 0, (size_t)nc * sizeof(int64_t));
  for (int64_t i = 0; i < n; i++) {
    if (proc[i] >= m->n_proc) {
      s = dm_error(DM_ERR_SCHEMA, "event with process index %u outside the table of %d",
                   (unsigned)proc[i], m->n_proc);
      n = i;
      break;
    }
    if (m->cls[proc[i]] >= 0)
      m->cnt[m->cls[proc[i]]]++;
  }
  /* Collectives run whatever happened locally: the status is agreed after. */
  MPI_Exscan(m->cnt, m->before, nc, MPI_INT64_T, MPI_SUM, comm);
  if (dm_rank(comm) == 0)
    memset(m->before, 0, (size_t)nc * sizeof(int64_t));
  MPI_Allreduce(m->cnt, m->tot, nc, MPI_INT64_T, MPI_SUM, comm);
  for (int k = 0; k < nc; k++)
    m->before[k] += m->done[k];
  for (int64_t i = 0; i < n; i++) {
    int k = m->cls[proc[i]];
    train[i] = k >= 0 && m->before[k]++ < m->pool[k];
    if (train[i])
      m->marked[m->bg[proc[i]]]++;
  }
  for (int k = 0; k < nc; k++)
    m->done[k] += m->tot[k];
  return dm_agree(s, comm);
}

dm_status dm_split_marker_finish(dm_split_marker *m, const char *store_path, MPI_Comm comm,
                                 int64_t *n_marked)
{
  *n_marked = 0;
  if (!m)
    return DM_OK;
  const dm_split *sp = m->sp;
  dm_status s = dm_allsum_i64_array(m->marked, sp->n_bg, comm);
  for (int i = 0; s == DM_OK && i < sp->n_bg; i++) {
    *n_marked += m->marked[i];
    if (m->marked[i] != sp->bg_pool[i])
      s = dm_error(DM_ERR_SCHEMA,
                   "%s: %lld training events of process '%s' found, the model recorded %lld: "
                   "the store does not match the one the model trained on",
                   store_path, (long long)m->marked[i], sp->bg_names[i],
                   (long long)sp->bg_pool[i]);
  }
  dm_split_marker_free(m);
  return dm_agree(s, comm);
}
