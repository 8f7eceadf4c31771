/* dm_svdd_util.c - batch order and exact global statistics for the Deep
 * SVDD trainer (see dm_svdd_impl.h). Everything here is built so
 * that its result does not depend on how the rows are split over ranks. */
#include "dm_svdd_impl.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "dm_comm.h"

uint64_t dm_svdd_hash(const void *p, size_t n, uint64_t seed) { return XXH64(p, n, seed); }

/* ---- Feistel permutation ------------------------------------------------------ */

static inline uint64_t fmix64(uint64_t x)
{
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static inline uint64_t round_fn(const dm_svdd_perm *p, int r, uint64_t x)
{
  return fmix64(p->key ^ fmix64(x + 0x9e3779b97f4a7c15ULL * (uint64_t)(r + 1))) & p->half_mask;
}

void dm_svdd_perm_init(dm_svdd_perm *p, uint64_t n, uint64_t key)
{
  int h = 1;
  while (h < 32 && ((uint64_t)1 << (2 * h)) < n)
    h++;
  p->n = n;
  p->key = key;
  p->half_bits = h;
  p->half_mask = ((uint64_t)1 << h) - 1;
}

#define DM_SVDD_ROUNDS 4

static inline uint64_t feistel_fwd(const dm_svdd_perm *p, uint64_t x)
{
  uint64_t l = x >> p->half_bits, r = x & p->half_mask;
  for (int k = 0; k < DM_SVDD_ROUNDS; k++) {
    uint64_t t = l ^ round_fn(p, k, r);
    l = r;
    r = t;
  }
  return (l << p->half_bits) | r;
}

static inline uint64_t feistel_inv(const dm_svdd_perm *p, uint64_t x)
{
  uint64_t l = x >> p->half_bits, r = x & p->half_mask;
  for (int k = DM_SVDD_ROUNDS - 1; k >= 0; k--) {
    uint64_t t = r ^ round_fn(p, k, l);
    r = l;
    l = t;
  }
  return (l << p->half_bits) | r;
}

/* Cycle walking: the cipher permutes [0, 4^h) and 4^h < 4n, so on average
 * fewer than 4 applications land back in [0, n). */
uint64_t dm_svdd_perm_fwd(const dm_svdd_perm *p, uint64_t i)
{
  uint64_t x = feistel_fwd(p, i);
  while (x >= p->n)
    x = feistel_fwd(p, x);
  return x;
}

uint64_t dm_svdd_perm_inv(const dm_svdd_perm *p, uint64_t x)
{
  uint64_t i = feistel_inv(p, x);
  while (i >= p->n)
    i = feistel_inv(p, i);
  return i;
}

void dm_svdd_epoch_batches(uint64_t key, int64_t n_total, int64_t first, int64_t n_local,
                           int64_t batch, int64_t *rows, int64_t *start, int64_t *scratch)
{
  dm_svdd_perm p;
  dm_svdd_perm_init(&p, (uint64_t)n_total, key);
  int64_t n_batches = (n_total + batch - 1) / batch;
#pragma omp parallel for schedule(static) if (n_local > 4096)
  for (int64_t g = 0; g < n_local; g++)
    scratch[g] = (int64_t)(dm_svdd_perm_inv(&p, (uint64_t)(first + g)) / (uint64_t)batch);
  /* Counting sort by batch, stable so each batch lists its rows ascending. */
  memset(start, 0, (size_t)(n_batches + 1) * sizeof(int64_t));
  for (int64_t g = 0; g < n_local; g++)
    start[scratch[g] + 1]++;
  for (int64_t b = 0; b < n_batches; b++)
    start[b + 1] += start[b];
  for (int64_t g = 0; g < n_local; g++) {
    int64_t b = scratch[g];
    scratch[g] = start[b]++;
  }
  for (int64_t g = 0; g < n_local; g++)
    rows[scratch[g]] = g;
  /* start[b] now holds the end of batch b: shift back. */
  for (int64_t b = n_batches; b > 0; b--)
    start[b] = start[b - 1];
  start[0] = 0;
}

/* ---- exact k-th smallest ------------------------------------------------------ */

static inline uint32_t fbits(float f)
{
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return u;
}

dm_status dm_svdd_select_kth(const float *v, int64_t n_local, int64_t k, MPI_Comm comm,
                             float *out)
{
  int bad = 0;
  for (int64_t i = 0; i < n_local; i++)
    if (!(v[i] >= 0.0f) || isinf(v[i]))
      bad = 1;
  if (!dm_alltrue(!bad, comm))
    return dm_error(DM_ERR_NUMERIC, "svdd radius: a training distance is negative or not finite");
  int64_t n_total = dm_allsum_i64(n_local, comm);
  if (k < 0 || k >= n_total)
    return dm_error(DM_ERR_INTERNAL, "svdd radius: rank %lld of %lld values", (long long)k,
                    (long long)n_total);
  /* Non-negative floats order like their bit patterns: select one byte of
   * the pattern per round, most significant first. */
  uint64_t prefix = 0;
  int64_t rem = k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    int64_t counts[256] = {0};
    uint64_t hi_mask = ~(((uint64_t)1 << (shift + 8)) - 1) & 0xffffffffULL;
    for (int64_t i = 0; i < n_local; i++) {
      uint64_t u = fbits(v[i]);
      if ((u & hi_mask) == prefix)
        counts[(u >> shift) & 255]++;
    }
    if (MPI_Allreduce(MPI_IN_PLACE, counts, 256, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS)
      return dm_error(DM_ERR_MPI, "svdd radius: MPI_Allreduce failed");
    int d = 0;
    while (d < 255 && rem >= counts[d]) {
      rem -= counts[d];
      d++;
    }
    prefix |= (uint64_t)d << shift;
  }
  uint32_t u = (uint32_t)prefix;
  memcpy(out, &u, sizeof(*out));
  return DM_OK;
}

/* ---- distinct values ------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

static int64_t count_unique_sorted(uint32_t *u, int64_t n)
{
  if (n == 0)
    return 0;
  qsort(u, (size_t)n, sizeof(*u), cmp_u32);
  int64_t d = 1;
  for (int64_t i = 1; i < n; i++)
    d += u[i] != u[i - 1];
  return d;
}

dm_status dm_svdd_count_distinct(const float *v, int64_t n_local, MPI_Comm comm,
                                 int64_t *distinct)
{
  int size = dm_size(comm);
  *distinct = 0;
  if (!dm_alltrue(n_local < INT_MAX, comm))
    return dm_error(DM_ERR_ARG, "svdd distinct scores: more than %d rows on one rank", INT_MAX);
  int *scount = calloc((size_t)size, sizeof(int)), *rcount = calloc((size_t)size, sizeof(int));
  int *sdisp = calloc((size_t)size, sizeof(int)), *rdisp = calloc((size_t)size, sizeof(int));
  uint32_t *sbuf = malloc((size_t)(n_local > 0 ? n_local : 1) * sizeof(uint32_t));
  uint32_t *rbuf = NULL;
  int *pos = calloc((size_t)size, sizeof(int));
  dm_status s = DM_OK;
  if (!scount || !rcount || !sdisp || !rdisp || !sbuf || !pos)
    s = dm_error(DM_ERR_NOMEM, "svdd distinct scores: %lld rows", (long long)n_local);
  s = dm_agree(s, comm);
  if (s != DM_OK)
    goto done;
  /* Equal values hash to the same rank, so per-rank counts add up exactly. */
  for (int64_t i = 0; i < n_local; i++)
    scount[fmix64(fbits(v[i])) % (uint64_t)size]++;
  for (int r = 1; r < size; r++)
    sdisp[r] = sdisp[r - 1] + scount[r - 1];
  memcpy(pos, sdisp, (size_t)size * sizeof(int));
  for (int64_t i = 0; i < n_local; i++) {
    uint32_t u = fbits(v[i]);
    sbuf[pos[fmix64(u) % (uint64_t)size]++] = u;
  }
  if (MPI_Alltoall(scount, 1, MPI_INT, rcount, 1, MPI_INT, comm) != MPI_SUCCESS) {
    s = dm_error(DM_ERR_MPI, "svdd distinct scores: MPI_Alltoall failed");
    goto done;
  }
  int64_t nr = 0;
  for (int r = 0; r < size; r++) {
    rdisp[r] = (int)nr;
    nr += rcount[r];
  }
  rbuf = malloc((size_t)(nr > 0 ? nr : 1) * sizeof(uint32_t));
  if (!rbuf || nr >= INT_MAX)
    s = dm_error(DM_ERR_NOMEM, "svdd distinct scores: %lld values on one rank", (long long)nr);
  s = dm_agree(s, comm);
  if (s != DM_OK)
    goto done;
  if (MPI_Alltoallv(sbuf, scount, sdisp, MPI_UINT32_T, rbuf, rcount, rdisp, MPI_UINT32_T,
                    comm) != MPI_SUCCESS) {
    s = dm_error(DM_ERR_MPI, "svdd distinct scores: MPI_Alltoallv failed");
    goto done;
  }
  *distinct = dm_allsum_i64(count_unique_sorted(rbuf, nr), comm);
done:
  free(scount);
  free(rcount);
  free(sdisp);
  free(rdisp);
  free(sbuf);
  free(rbuf);
  free(pos);
  return s;
}
