#include "dm_exchange.h"

#include <limits.h>
#include <stdlib.h>

#include "dm_comm.h"

/* The datatype of this round's part of every array for one peer: a struct
 * of one block per non-empty array, at absolute addresses. *count is 0 (and
 * *type MPI_BYTE) when every block is empty. */
static int part_type(const dm_exchange_array *arr, int n_arr, const MPI_Datatype *elem, int peer,
                     int recv, int64_t first, int64_t per_round, MPI_Datatype *type, int *count)
{
  int lens[8];
  MPI_Aint disp[8];
  MPI_Datatype types[8];
  int n = 0;
  for (int a = 0; a < n_arr; a++) {
    int64_t total = recv ? arr[a].rcount[peer] : arr[a].scount[peer];
    int64_t left = total - first;
    if (left <= 0)
      continue;
    int64_t len = left < per_round ? left : per_round;
    int64_t at = (recv ? arr[a].rdispl[peer] : arr[a].sdispl[peer]) + first;
    const char *base = recv ? (const char *)arr[a].recv : (const char *)arr[a].send;
    if (MPI_Get_address(base + at * (int64_t)arr[a].size, &disp[n]) != MPI_SUCCESS)
      return 0;
    lens[n] = (int)len;
    types[n] = elem[a];
    n++;
  }
  *type = MPI_BYTE;
  *count = 0;
  if (n == 0)
    return 1;
  if (MPI_Type_create_struct(n, lens, disp, types, type) != MPI_SUCCESS)
    return 0;
  if (MPI_Type_commit(type) != MPI_SUCCESS) {
    MPI_Type_free(type);
    *type = MPI_BYTE;
    return 0;
  }
  *count = 1;
  return 1;
}

static void free_types(MPI_Datatype *t, int n)
{
  for (int i = 0; i < n; i++)
    if (t[i] != MPI_BYTE)
      MPI_Type_free(&t[i]);
}

dm_status dm_exchange(const dm_exchange_array *arr, int n_arr, int64_t round_bytes,
                      MPI_Comm comm)
{
  if (n_arr < 1 || n_arr > 8 || round_bytes < 1)
    return dm_error(DM_ERR_INTERNAL, "dm_exchange: %d arrays, %lld bytes per round", n_arr,
                    (long long)round_bytes);
  int size = dm_size(comm);
  /* Elements per array and peer in one round: every array advances by the
   * same count, so a round moves at most round_bytes to a peer. */
  int64_t row = 0;
  for (int a = 0; a < n_arr; a++)
    row += (int64_t)arr[a].size;
  int64_t per_round = round_bytes / (row > 0 ? row : 1);
  if (per_round < 1)
    per_round = 1;
  if (per_round > INT_MAX)
    per_round = INT_MAX;
  int64_t most = 0;
  for (int a = 0; a < n_arr; a++)
    for (int r = 0; r < size; r++) {
      if (arr[a].scount[r] > most)
        most = arr[a].scount[r];
      if (arr[a].rcount[r] > most)
        most = arr[a].rcount[r];
    }
  int64_t rounds = (dm_allmax_i64(most, comm) + per_round - 1) / per_round;

  MPI_Datatype elem[8];
  int n_elem = 0;
  MPI_Datatype *st = malloc((size_t)size * sizeof *st), *rt = malloc((size_t)size * sizeof *rt);
  int *sc = calloc((size_t)size, sizeof(int)), *rc = calloc((size_t)size, sizeof(int));
  int *zero = calloc((size_t)size, sizeof(int));
  dm_status s = st && rt && sc && rc && zero
                    ? DM_OK
                    : dm_error(DM_ERR_NOMEM, "no memory for an exchange over %d ranks", size);
  for (int a = 0; s == DM_OK && a < n_arr; a++) {
    if (MPI_Type_contiguous((int)arr[a].size, MPI_BYTE, &elem[a]) != MPI_SUCCESS ||
        MPI_Type_commit(&elem[a]) != MPI_SUCCESS)
      s = dm_error(DM_ERR_MPI, "dm_exchange: cannot build an element type of %zu bytes",
                   arr[a].size);
    else
      n_elem++;
  }
  s = dm_agree(s, comm);
  for (int64_t t = 0; s == DM_OK && t < rounds; t++) {
    int ok = 1;
    for (int r = 0; r < size; r++) {
      st[r] = rt[r] = MPI_BYTE;
      sc[r] = rc[r] = 0;
    }
    for (int r = 0; ok && r < size; r++)
      ok = part_type(arr, n_arr, elem, r, 0, t * per_round, per_round, &st[r], &sc[r]) &&
           part_type(arr, n_arr, elem, r, 1, t * per_round, per_round, &rt[r], &rc[r]);
    dm_status l = ok ? DM_OK : dm_error(DM_ERR_MPI, "dm_exchange: cannot build a datatype");
    s = dm_agree(l, comm);
    if (s == DM_OK &&
        MPI_Alltoallw(MPI_BOTTOM, sc, zero, st, MPI_BOTTOM, rc, zero, rt, comm) != MPI_SUCCESS)
      s = dm_error(DM_ERR_MPI, "MPI_Alltoallw failed (round %lld of %lld)", (long long)(t + 1),
                   (long long)rounds);
    free_types(st, size);
    free_types(rt, size);
    s = dm_agree(s, comm);
  }
  for (int a = 0; a < n_elem; a++)
    MPI_Type_free(&elem[a]);
  free(st);
  free(rt);
  free(sc);
  free(rc);
  free(zero);
  return s;
}
