/* dm_svdd_step.c - one data-parallel training step and thread-parallel
 * forward passes (see dm_svdd_impl.h for how threads split the work). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_svdd_impl.h"

/* A thread's part of a batch must be large enough for its products to run
 * near the BLAS kernel's speed; smaller batches use fewer threads. */
#define DM_SVDD_ROWS_PER_THREAD 64
/* Rows per forward pass when only distances are wanted. */
#define DM_SVDD_BLOCK 1024

dm_status dm_svdd_stepper_alloc(dm_svdd_stepper *st, dm_svdd_net *net, dm_svdd_adam *adam,
                                int64_t cap)
{
  dm_svdd_stepper keep = *st;
  memset(st, 0, sizeof(*st));
  st->net = net;
  st->adam = adam;
  st->c = keep.c;
  st->objective = keep.objective;
  st->nu = keep.nu;
  st->r2 = keep.r2;
  int nt = omp_get_max_threads();
  if (nt < 1)
    nt = 1;
  st->cap = cap;
  st->n_threads = nt;
  int64_t P = net->n_params, part = cap / nt + 1;
  st->x = malloc((size_t)(cap > 0 ? cap : 1) * (size_t)net->dims[0] * sizeof(float));
  st->d2 = malloc((size_t)(cap > 0 ? cap : 1) * sizeof(float));
  st->grad = malloc((size_t)(P + 1) * sizeof(float));
  st->tgrad = malloc((size_t)(nt > 1 ? nt - 1 : 1) * (size_t)P * sizeof(float));
  st->tpart = calloc((size_t)nt, sizeof(double));
  st->tws = calloc((size_t)nt, sizeof(dm_svdd_work));
  dm_status s = DM_OK;
  if (!st->x || !st->d2 || !st->grad || !st->tgrad || !st->tpart || !st->tws)
    s = dm_error(DM_ERR_NOMEM, "svdd step buffers for %lld rows", (long long)cap);
  /* Part 0's workspace also serves the one-part path (small batches). */
  for (int t = 0; s == DM_OK && t < nt; t++)
    s = dm_svdd_work_alloc(&st->tws[t], net, t == 0 ? cap : part);
  if (s != DM_OK)
    dm_svdd_stepper_free(st);
  return s;
}

void dm_svdd_stepper_free(dm_svdd_stepper *st)
{
  if (!st)
    return;
  for (int t = 0; st->tws && t < st->n_threads; t++)
    dm_svdd_work_free(&st->tws[t]);
  free(st->tws);
  free(st->rw);
  st->rw = NULL;
  free(st->x);
  free(st->d2);
  free(st->grad);
  free(st->tgrad);
  free(st->tpart);
  st->tws = NULL;
  st->x = st->d2 = st->grad = st->tgrad = NULL;
  st->tpart = NULL;
}

dm_status dm_svdd_step(dm_svdd_stepper *st, int64_t n, int64_t b_global, double lr,
                       MPI_Comm comm, double *loss)
{
  const dm_svdd_net *net = st->net;
  int64_t P = net->n_params;
  int out = net->dims[net->n_layers], dim = net->dims[0];
  if (n > st->cap)
    return dm_error(DM_ERR_INTERNAL, "svdd step: %lld rows > capacity %lld", (long long)n,
                    (long long)st->cap);
  /* The thread count is a function of n and n_threads only, so a given
   * configuration always splits a batch the same way. */
  int nt = st->n_threads;
  if (n < (int64_t)nt * DM_SVDD_ROWS_PER_THREAD)
    nt = (int)(n / DM_SVDD_ROWS_PER_THREAD);
  if (nt < 1)
    nt = 1;
  double inv_b = 1.0 / (double)b_global;
  if (nt == 1) {
    /* One part: BLAS may use every thread inside each product. */
    memset(st->grad, 0, (size_t)P * sizeof(float));
    dm_svdd_work *ws = &st->tws[0];
    const float *phi = dm_svdd_forward(net, ws, st->x, n);
    st->tpart[0] = dm_svdd_loss_grad_w(st->objective, phi, n, out, st->c, st->r2, st->nu,
                                       inv_b, st->rw, ws->g0, st->d2);
    dm_svdd_backward(net, ws, n, ws->g0, st->grad);
  } else {
#pragma omp parallel num_threads(nt)
    {
      /* Parts are fixed by nt; should the runtime grant fewer threads, a
       * thread takes several parts, and the result stays the same. */
      int team = omp_get_num_threads(), t = omp_get_thread_num();
      for (int p = t; p < nt; p += team) {
        int64_t lo = n * p / nt, hi = n * (p + 1) / nt;
        float *g = p == 0 ? st->grad : st->tgrad + (size_t)(p - 1) * P;
        dm_svdd_work *ws = &st->tws[p];
        memset(g, 0, (size_t)P * sizeof(float));
        const float *phi = dm_svdd_forward(net, ws, st->x + lo * dim, hi - lo);
        st->tpart[p] = dm_svdd_loss_grad_w(st->objective, phi, hi - lo, out, st->c, st->r2,
                                           st->nu, inv_b, st->rw ? st->rw + lo : NULL, ws->g0,
                                           st->d2 + lo);
        dm_svdd_backward(net, ws, hi - lo, ws->g0, g);
      }
#pragma omp barrier
      /* Sum the parts in part order, each thread a slice of the vector. */
      int64_t a = P * t / team, b = P * (t + 1) / team;
      for (int u = 1; u < nt; u++) {
        const float *gu = st->tgrad + (size_t)(u - 1) * P;
        for (int64_t i = a; i < b; i++)
          st->grad[i] += gu[i];
      }
    }
  }
  double part = 0.0;
  for (int t = 0; t < nt; t++)
    part += st->tpart[t];
  /* The loss rides in the gradient's allreduce: one message per step. */
  st->grad[P] = (float)part;
  if (dm_size(comm) > 1) {
    if (P + 1 > 0x7fffffff)
      return dm_error(DM_ERR_ARG, "svdd: %lld parameters exceed one MPI message",
                      (long long)P);
    if (MPI_Allreduce(MPI_IN_PLACE, st->grad, (int)(P + 1), MPI_FLOAT, MPI_SUM, comm) !=
        MPI_SUCCESS)
      return dm_error(DM_ERR_MPI, "svdd: gradient MPI_Allreduce failed");
  }
  *loss = (double)st->grad[P] + (st->objective == DM_SVDD_SOFT_BOUNDARY ? st->r2 : 0.0);
  dm_svdd_adam_step(st->adam, st->net->w, st->grad, lr);
  return DM_OK;
}

dm_status dm_svdd_dist2_rows(const dm_svdd_net *net, const float *c, const float *x, int64_t n,
                             float *d2)
{
  if (n <= 0)
    return DM_OK;
  int dim = net->dims[0], out = net->dims[net->n_layers];
  int64_t nblocks = (n + DM_SVDD_BLOCK - 1) / DM_SVDD_BLOCK;
  int failed = 0;
  /* With one block, BLAS threads inside the products instead. */
#pragma omp parallel if (nblocks > 1) reduction(| : failed)
  {
    dm_svdd_work ws;
    int ok = dm_svdd_work_alloc(&ws, net, n < DM_SVDD_BLOCK ? n : DM_SVDD_BLOCK) == DM_OK;
    failed = !ok;
    /* Every thread meets the loop (a work-sharing construct); one without a
     * workspace skips its blocks and the call fails. */
#pragma omp for schedule(dynamic)
    for (int64_t b = 0; b < nblocks; b++) {
      if (!ok)
        continue;
      int64_t lo = b * DM_SVDD_BLOCK, nb = n - lo < DM_SVDD_BLOCK ? n - lo : DM_SVDD_BLOCK;
      dm_svdd_dist2(dm_svdd_forward(net, &ws, x + lo * dim, nb), nb, out, c, d2 + lo);
    }
    if (ok)
      dm_svdd_work_free(&ws);
  }
  if (failed)
    return dm_error(DM_ERR_NOMEM, "svdd forward workspace for %d rows", DM_SVDD_BLOCK);
  return DM_OK;
}
