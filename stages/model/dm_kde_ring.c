/* Sharded KDE evaluation: every rank keeps its queries and the reference
 * shards travel around a ring of the ranks (the design, its memory and its
 * messages are described in dm_kde.h). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_kde.h"
#include "dm_kde_impl.h"

#define RING_TAG 7351

/* The first `rows` rows of each of dk columns of cap floats, as one MPI type
 * (MPI_FLOAT, sent 0 times, for an empty shard). */
static MPI_Datatype column_rows(int64_t rows, int64_t cap, int dk)
{
  if (rows <= 0)
    return MPI_FLOAT;
  MPI_Datatype t;
  MPI_Type_vector(dk, (int)rows, (int)cap, MPI_FLOAT, &t);
  MPI_Type_commit(&t);
  return t;
}

dm_status dm_kde_logpdf_sharded(dm_kde *k, const float *x, int64_t n, double *logp,
                                MPI_Comm comm)
{
  int P = dm_size(comm), r = dm_rank(comm);
  dm_status s = DM_OK;
  int lent = k->shard_size > 0; /* k holds only its shard and lends its buffer */
  if (lent && (k->shard_size != P || k->shard_rank != r))
    s = dm_error(DM_ERR_ARG, "sharded KDE: the model was read as shard %d of %d, but is scored "
                             "on rank %d of %d",
                 k->shard_rank, k->shard_size, r, P);
  /* Every buffer holds the largest shard (shard 0): one message size for
   * all, and any shard fits any buffer. */
  int64_t b0, b1, r0, r1;
  dm_kde_shard(k->n_total, 0, P, &b0, &b1);
  dm_kde_shard(k->n_total, r, P, &r0, &r1);
  int64_t cap = lent ? k->ld : ((b1 - b0) + 15) / 16 * 16;
  if (cap < 16)
    cap = 16;
  if (s == DM_OK && cap > INT_MAX)
    s = dm_error(DM_ERR_ARG, "sharded KDE: shards of %lld reference rows are too large for one "
                             "message; use more ranks",
                 (long long)cap);
  size_t words = (size_t)cap * k->dk;
  float *buf[2] = {NULL, NULL}, *own[2] = {NULL, NULL};
  /* One rank alone needs no second buffer. */
  if (s == DM_OK && lent) {
    if (!k->spare && P > 1)
      k->spare = aligned_alloc(64, words * sizeof(float));
    buf[0] = k->refT;
    buf[1] = k->spare;
  } else if (s == DM_OK) {
    /* A whole estimator: its slice, packed into two buffers of the call. */
    own[0] = aligned_alloc(64, words * sizeof(float));
    own[1] = P > 1 ? aligned_alloc(64, words * sizeof(float)) : NULL;
    if (own[0]) {
      memset(own[0], 0, words * sizeof(float));
      for (int c = 0; c < k->dk; c++)
        memcpy(own[0] + (size_t)c * cap, k->refT + (size_t)c * k->ld + r0,
               (size_t)(r1 - r0) * sizeof(float));
    }
    buf[0] = own[0];
    buf[1] = own[1];
  }
  float *xp = k->dk != k->d ? dm_kde_pad_queries(k, x, n) : NULL;
  dm_kde_acc *acc = malloc((size_t)(n > 0 ? n : 1) * sizeof *acc);
  if (s == DM_OK && (!buf[0] || (P > 1 && !buf[1]) || !acc || (k->dk != k->d && !xp)))
    s = dm_error(DM_ERR_NOMEM, "sharded KDE: no memory for two shards of %lld rows and %lld "
                               "queries",
                 (long long)cap, (long long)n);
  s = dm_agree(s, comm);
  if (s == DM_OK) {
    for (int64_t i = 0; i < n; i++)
      dm_kde_acc_clear(&acc[i]);
    int left = (r + P - 1) % P, right = (r + 1) % P;
    /* A lent buffer is overwritten from step 1 on when P >= 3: one more
     * transfer brings every shard back to its owner. */
    int home = lent && P >= 3;
    int cur = 0, bad = 0;
    for (int step = 0; step < P; step++) {
      /* buf[cur] holds shard (r + step) mod P: pass it on to the left while
       * the next one comes in from the right, and evaluate it meanwhile. */
      MPI_Request rq[2];
      int nrq = 0;
      int64_t s0, s1, n0, n1;
      dm_kde_shard(k->n_total, (r + step) % P, P, &s0, &s1);
      if (step < P - 1 || home) {
        /* Only the shard's rows travel (every rank knows every shard's
         * size): a column of cap floats holds s1 - s0 of them. */
        dm_kde_shard(k->n_total, (r + step + 1) % P, P, &n0, &n1);
        MPI_Datatype out = column_rows(s1 - s0, cap, k->dk),
                     in = column_rows(n1 - n0, cap, k->dk);
        bad |= MPI_Irecv(buf[cur ^ 1], n1 > n0, in, right, RING_TAG, comm, &rq[0]) != MPI_SUCCESS;
        bad |= MPI_Isend(buf[cur], s1 > s0, out, left, RING_TAG, comm, &rq[1]) != MPI_SUCCESS;
        nrq = bad ? 0 : 2;
        /* A type may be freed once the operations that use it are posted. */
        if (out != MPI_FLOAT)
          MPI_Type_free(&out);
        if (in != MPI_FLOAT)
          MPI_Type_free(&in);
      }
      dm_kde_lse_threads(buf[cur], cap, s1 - s0, k->dk, k->h, xp ? xp : x, n, acc, rq, nrq);
      if (nrq > 0) {
        bad |= MPI_Waitall(nrq, rq, MPI_STATUSES_IGNORE) != MPI_SUCCESS;
        cur ^= 1;
      }
    }
    if (home && buf[cur] != k->refT) {
      /* The own shard came home in the spare buffer: swap the roles. (With
       * P <= 2 it never left buf[0].) */
      k->spare = k->refT;
      k->refT = buf[cur];
    }
    if (bad)
      s = dm_error(DM_ERR_MPI, "sharded KDE: passing reference shards around the ring failed");
    for (int64_t i = 0; s == DM_OK && i < n; i++)
      logp[i] = dm_kde_acc_log(&acc[i]) - k->log_norm;
  }
  free(own[0]);
  free(own[1]);
  free(acc);
  free(xp);
  return dm_agree(s, comm);
}
