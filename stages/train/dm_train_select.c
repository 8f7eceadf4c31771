/* Distributed selection of the m smallest 64-bit keys over all ranks: rounds
 * of a 16-bit radix histogram summed over ranks narrow down the m-th
 * smallest key T, 16 bits a round (dm_train_radix); keys below T are taken,
 * keys equal to T are taken in rank order until m is reached. The keys are
 * fed to each round by the caller, so they need not be held: the train
 * stage recomputes them from the store in each pass. Work O(n_local) a
 * round, traffic 512 KiB a round, and the same answer for any split of the
 * keys over ranks. */
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_train.h"

#define DIGITS 65536

dm_status dm_train_radix_begin(dm_train_radix *r, int64_t m, MPI_Comm comm)
{
  memset(r, 0, sizeof *r);
  r->k = m;
  r->hist = calloc(DIGITS, sizeof *r->hist);
  r->sum = malloc(DIGITS * sizeof *r->sum);
  dm_status s = r->hist && r->sum ? DM_OK
                                  : dm_error(DM_ERR_NOMEM, "no memory for a selection histogram");
  s = dm_agree(s, comm);
  if (s != DM_OK)
    dm_train_radix_free(r);
  return s;
}

void dm_train_radix_free(dm_train_radix *r)
{
  free(r->hist);
  free(r->sum);
  r->hist = r->sum = NULL;
}

dm_status dm_train_radix_round(dm_train_radix *r, MPI_Comm comm)
{
  dm_status s = r->bits < 64 ? DM_OK
                             : dm_error(DM_ERR_INTERNAL, "selection: every digit is fixed");
  s = dm_agree(s, comm);
  if (s != DM_OK)
    return s;
  memcpy(r->sum, r->hist, DIGITS * sizeof *r->sum);
  DM_FORWARD(dm_allsum_i64_array(r->sum, DIGITS, comm));
  int shift = 48 - r->bits;
  int64_t cum = 0, below = 0;
  int digit = 0;
  while (digit < DIGITS - 1 && cum + r->sum[digit] < r->k) {
    cum += r->sum[digit];
    below += r->hist[digit++];
  }
  r->k -= cum;
  r->prefix |= (uint64_t)digit << shift;
  r->bits += 16;
  r->below_local += below;
  r->n_cand = r->sum[digit];
  r->n_cand_local = r->hist[digit];
  memset(r->hist, 0, DIGITS * sizeof *r->hist);
  return DM_OK;
}

dm_status dm_train_select_smallest(const uint64_t *keys, int64_t n_local, int64_t m,
                                   MPI_Comm comm, unsigned char *take, int64_t *n_taken)
{
  int64_t total = dm_allsum_i64(n_local, comm);
  if (m <= 0 || m >= total) {
    memset(take, 1, (size_t)n_local);
    *n_taken = total;
    return DM_OK;
  }
  dm_train_radix r;
  DM_FORWARD(dm_train_radix_begin(&r, m, comm));
  dm_status s = DM_OK;
  while (s == DM_OK && r.bits < 64) {
    for (int64_t i = 0; i < n_local; i++)
      dm_train_radix_add(&r, keys[i]);
    s = dm_train_radix_round(&r, comm);
  }
  dm_train_radix_free(&r);
  if (s != DM_OK)
    return s;
  /* r.prefix is the m-th smallest key; r.k of the keys equal to it are
   * needed, in rank order. */
  int64_t eq_before = 0, eq_total = 0;
  dm_exscan_i64(r.n_cand_local, comm, &eq_before, &eq_total);
  int64_t seen = eq_before;
  for (int64_t i = 0; i < n_local; i++) {
    if (keys[i] < r.prefix)
      take[i] = 1;
    else if (keys[i] == r.prefix)
      take[i] = seen++ < r.k;
    else
      take[i] = 0;
  }
  *n_taken = m;
  return DM_OK;
}
