/* dm_exchange: every element arrives where the counts say, from the right
 * rank, for several arrays at once, with rounds forced down to a few
 * elements, with empty parts, with one rank sending nothing and one pair
 * carrying most of the data. Run on 1, 2 and 3 ranks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <mpi.h>

#include "dm_comm.h"
#include "dm_exchange.h"

typedef struct {
  int32_t src, dst;
  uint32_t i;
} triple; /* 12 bytes: an element size that is not a power of two */

/* How many elements rank s sends rank d in case c: known to every rank, so
 * the expected content is computed here, not by the code under test. */
static int64_t count_of(int c, int s, int d, int size)
{
  switch (c) {
  case 0: /* small, uneven, some empty */
    return (s * 7 + d * 3 + 1) % 5;
  case 1: /* rank 0 sends nothing; the last rank sends most of all to rank 0 */
    if (s == 0)
      return 0;
    return s == size - 1 && d == 0 ? 1000 : (s + d) % 3;
  default: /* nothing at all */
    return 0;
  }
}

static uint64_t tag(int s, int d, int64_t i)
{
  return ((uint64_t)s << 48) | ((uint64_t)d << 32) | (uint64_t)i;
}

static void run_case(int c, int64_t round_bytes)
{
  MPI_Comm comm = MPI_COMM_WORLD;
  int me = dm_rank(comm), size = dm_size(comm);
  int64_t *sc = calloc((size_t)size, 8), *sd = calloc((size_t)size, 8);
  int64_t *rc = calloc((size_t)size, 8), *rd = calloc((size_t)size, 8);
  int64_t ns = 0, nr = 0;
  for (int r = 0; r < size; r++) {
    sc[r] = count_of(c, me, r, size);
    sd[r] = ns;
    ns += sc[r];
    rc[r] = count_of(c, r, me, size);
    rd[r] = nr;
    nr += rc[r];
  }
  uint64_t *k = malloc((size_t)(ns + 1) * 8), *kr = malloc((size_t)(nr + 1) * 8);
  triple *t = malloc((size_t)(ns + 1) * sizeof *t), *tr = malloc((size_t)(nr + 1) * sizeof *tr);
  assert_non_null(k);
  assert_non_null(kr);
  assert_non_null(t);
  assert_non_null(tr);
  for (int r = 0; r < size; r++)
    for (int64_t i = 0; i < sc[r]; i++) {
      k[sd[r] + i] = tag(me, r, i);
      t[sd[r] + i] = (triple){me, r, (uint32_t)(i * 3 + 1)};
    }
  memset(kr, 0xff, (size_t)(nr + 1) * 8);
  memset(tr, 0xff, (size_t)(nr + 1) * sizeof *tr);
  dm_exchange_array a[2] = {{k, kr, 8, sc, sd, rc, rd}, {t, tr, sizeof(triple), sc, sd, rc, rd}};
  assert_int_equal(dm_exchange(a, 2, round_bytes, comm), DM_OK);
  for (int r = 0; r < size; r++)
    for (int64_t i = 0; i < rc[r]; i++) {
      assert_true(kr[rd[r] + i] == tag(r, me, i));
      assert_int_equal(tr[rd[r] + i].src, r);
      assert_int_equal(tr[rd[r] + i].dst, me);
      assert_int_equal(tr[rd[r] + i].i, (uint32_t)(i * 3 + 1));
    }
  /* Nothing written past the parts. */
  assert_true(kr[nr] == UINT64_MAX);
  free(sc);
  free(sd);
  free(rc);
  free(rd);
  free(k);
  free(kr);
  free(t);
  free(tr);
}

static void test_one_round(void **state)
{
  for (int c = 0; c < 3; c++)
    run_case(c, DM_EXCHANGE_ROUND_BYTES);
}

static void test_many_rounds(void **state)
{
  /* 20 bytes per element pair: 2 elements per round, then 1 (a round
   * smaller than one element still moves one). */
  for (int c = 0; c < 3; c++) {
    run_case(c, 40);
    run_case(c, 1);
  }
}

static void test_bad_call(void **state)
{
  dm_exchange_array a = {0};
  assert_int_equal(dm_exchange(&a, 0, 1, MPI_COMM_WORLD), DM_ERR_INTERNAL);
}

int main(void)
{
  MPI_Init(NULL, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_round),
      cmocka_unit_test(test_many_rounds),
      cmocka_unit_test(test_bad_call),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
