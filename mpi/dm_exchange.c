#include "dm_exchange.h"

#include <limits.h>
#include <stdlib.h>

#include "dm_comm.h"

/* The datatype of this round's part of every array for one peer: a struct
 * of one block per non-empty array, at absolute addresses. *count is 0 (and
 * *type MPI_BYTE) when every block is empty. */
static int part_type(const dm_exchange_array *arr, int n_arr, int peer, int recv, int64_t first,
                     int64_t per_round, MPI_Datatype *type, int *count)
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
    /* Blocks of bytes: MPI libraries copy those as one piece, where a
     * block of n elements of a derived type may go element by element. */
    lens[n] = (int)(len * (int64_t)arr[a].size);
    types[n] = MPI_BYTE;
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

/* The usual case: every part fits one round and an int count. One
 * MPI_Alltoallv per array, on a contiguous element type; every rank makes
 * the same calls whatever fails, and agrees once at the end. */
static dm_status plain(const dm_exchange_array *arr, int n_arr, MPI_Comm comm)
{
  int size = dm_size(comm);
  int *c = malloc((size_t)size * 4 * sizeof(int));
  MPI_Datatype t[8];
  int n_t = 0;
  dm_status s = c ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory for an exchange over %d ranks", size);
  for (; s == DM_OK && n_t < n_arr; n_t++) {
    if (MPI_Type_contiguous((int)arr[n_t].size, MPI_BYTE, &t[n_t]) != MPI_SUCCESS)
      s = dm_error(DM_ERR_MPI, "dm_exchange: cannot build a datatype");
    else if (MPI_Type_commit(&t[n_t]) != MPI_SUCCESS) {
      MPI_Type_free(&t[n_t]);
      s = dm_error(DM_ERR_MPI, "dm_exchange: cannot build a datatype");
    }
    if (s != DM_OK)
      break;
  }
  s = dm_agree(s, comm);
  dm_status ok = s;
  for (int a = 0; ok == DM_OK && a < n_arr; a++) {
    for (int r = 0; r < size; r++) {
      c[r] = (int)arr[a].scount[r];
      c[size + r] = (int)arr[a].sdispl[r];
      c[2 * size + r] = (int)arr[a].rcount[r];
      c[3 * size + r] = (int)arr[a].rdispl[r];
    }
    if (MPI_Alltoallv(arr[a].send, c, c + size, t[a], arr[a].recv, c + 2 * size, c + 3 * size,
                      t[a], comm) != MPI_SUCCESS)
      s = dm_error(DM_ERR_MPI, "MPI_Alltoallv failed");
  }
  for (int a = 0; a < n_t; a++)
    MPI_Type_free(&t[a]);
  free(c);
  return dm_agree(s, comm);
}

dm_status dm_exchange(const dm_exchange_array *arr, int n_arr, int64_t round_bytes,
                      MPI_Comm comm)
{
  if (n_arr < 1 || n_arr > 8 || round_bytes < 1)
    return dm_error(DM_ERR_INTERNAL, "dm_exchange: %d arrays, %lld bytes per round", n_arr,
                    (long long)round_bytes);
  for (int a = 0; a < n_arr; a++)
    if (arr[a].size < 1 || arr[a].size > (1u << 20))
      return dm_error(DM_ERR_INTERNAL, "dm_exchange: elements of %zu bytes", arr[a].size);
  int size = dm_size(comm);
  /* Elements per array and peer in one round: every array advances by the
   * same count, so a round moves at most round_bytes to a peer. */
  int64_t row = 0;
  for (int a = 0; a < n_arr; a++)
    row += (int64_t)arr[a].size;
  /* A block's length is an int count of bytes. */
  int64_t cap = round_bytes < DM_EXCHANGE_ROUND_BYTES ? round_bytes : DM_EXCHANGE_ROUND_BYTES;
  int64_t per_round = cap / (row > 0 ? row : 1);
  if (per_round < 1)
    per_round = 1;
  /* most: the largest part; big: 1 if a part ends beyond an int count of
   * elements (so MPI_Alltoallv cannot address it). */
  int64_t loc[2] = {0, 0}, glob[2] = {0, 0};
  for (int a = 0; a < n_arr; a++)
    for (int r = 0; r < size; r++) {
      int64_t c[2] = {arr[a].scount[r], arr[a].rcount[r]};
      int64_t d[2] = {arr[a].sdispl[r], arr[a].rdispl[r]};
      for (int i = 0; i < 2; i++) {
        if (c[i] > loc[0])
          loc[0] = c[i];
        if (c[i] > 0 && d[i] + c[i] > INT_MAX)
          loc[1] = 1;
      }
    }
  if (MPI_Allreduce(loc, glob, 2, MPI_INT64_T, MPI_MAX, comm) != MPI_SUCCESS)
    return dm_error(DM_ERR_MPI, "dm_exchange: MPI_Allreduce failed");
  int64_t rounds = (glob[0] + per_round - 1) / per_round;
  if (rounds <= 1 && !glob[1])
    return plain(arr, n_arr, comm);

  MPI_Datatype *st = malloc((size_t)size * sizeof *st), *rt = malloc((size_t)size * sizeof *rt);
  int *sc = calloc((size_t)size, sizeof(int)), *rc = calloc((size_t)size, sizeof(int));
  int *zero = calloc((size_t)size, sizeof(int));
  dm_status s = st && rt && sc && rc && zero
                    ? DM_OK
                    : dm_error(DM_ERR_NOMEM, "no memory for an exchange over %d ranks", size);
  s = dm_agree(s, comm);
  for (int64_t t = 0; s == DM_OK && t < rounds; t++) {
    int ok = 1;
    for (int r = 0; r < size; r++) {
      st[r] = rt[r] = MPI_BYTE;
      sc[r] = rc[r] = 0;
    }
    for (int r = 0; ok && r < size; r++)
      ok = part_type(arr, n_arr, r, 0, t * per_round, per_round, &st[r], &sc[r]) &&
           part_type(arr, n_arr, r, 1, t * per_round, per_round, &rt[r], &rc[r]);
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
  free(st);
  free(rt);
  free(sc);
  free(rc);
  free(zero);
  return s;
}
