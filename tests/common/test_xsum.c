/* mpi/dm_xsum: exact sums of doubles. Run on 3 ranks.
 *
 * Exactness: sums of generated terms against references computed with exact
 * Python integer arithmetic (make_xsum_vectors.py -> xsum_vectors.txt; the
 * generator is reproduced here bit for bit), plus hand-derived rounding and
 * range cases. Order independence: forward, reverse, shuffled and split-and-
 * merged sums give the same bits and the same canonical limbs. Reduction:
 * every ownership pattern over the ranks, and sub-communicators of different
 * sizes, give the same bits. Invalid terms: NaN on read, an error from
 * dm_xsum_check on every rank, carried through merge and allreduce.
 *
 * Tests that communicate check locally and agree with dm_alltrue before
 * asserting, so a failure on one rank never leaves the others waiting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mpi.h>

#include "dm_comm.h"
#include "dm_rng.h"
#include "dm_xsum.h"

static MPI_Comm comm;

/* ---- the term generator of make_xsum_vectors.py --------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
  uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static void base_terms(uint64_t seed, int64_t n, int emin, int emax, double *out)
{
  uint64_t s = seed;
  for (int64_t i = 0; i < n; i++) {
    uint64_t u = splitmix64(&s), v = splitmix64(&s);
    int e = emin + (int)(v % (uint64_t)(emax - emin + 1));
    double x = ldexp((double)((UINT64_C(1) << 52) | (u & ((UINT64_C(1) << 52) - 1))), e - 52);
    out[i] = (u >> 63) ? -x : x;
  }
}

/* Fills t (capacity n) and returns the number of terms. */
static int64_t gen_terms(int mode, uint64_t seed, int64_t n, int emin, int emax, double *t)
{
  if (mode == 2) {
    int64_t half = n / 2, m = half;
    base_terms(seed, half, emin, emax, t);
    for (int64_t k = 0; k < half; k++)
      if (k % 7 != 0)
        t[m++] = -t[k];
    return m;
  }
  base_terms(seed, n, emin, emax, t);
  for (int64_t i = 0; i < n; i++) {
    if (mode == 1)
      t[i] = t[i] * t[i];
    else if (mode == 3)
      t[i] = fabs(t[i]);
  }
  return n;
}

/* ---- helpers -------------------------------------------------------------- */

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Canonical limbs and marks of two sums are identical. */
static int same_sum(const dm_xsum *a, const dm_xsum *b)
{
  dm_xsum x = *a, y = *b;
  dm_xsum_normalize(&x);
  dm_xsum_normalize(&y);
  return memcmp(&x, &y, sizeof x) == 0;
}

static double sum_of(const double *t, int64_t n)
{
  dm_xsum a;
  dm_xsum_clear(&a);
  for (int64_t i = 0; i < n; i++)
    dm_xsum_add(&a, t[i]);
  return dm_xsum_value(&a);
}

static void shuffle(double *t, int64_t n, dm_rng *g)
{
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)dm_rng_below(g, (uint64_t)i + 1);
    double x = t[i];
    t[i] = t[j];
    t[j] = x;
  }
}

/* ---- exactness and order independence against the reference vectors -------- */

typedef struct {
  int mode, emin, emax;
  uint64_t seed;
  int64_t n;
  double want;
} vcase;

static int load_vectors(vcase *c, int cap)
{
  FILE *f = fopen(DM_XSUM_VECTORS, "r");
  if (!f)
    return -1;
  char line[256];
  int k = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || line[0] == '\n')
      continue;
    char hex[64];
    unsigned long long seed;
    long long n;
    if (k >= cap || sscanf(line, "%d %llu %lld %d %d %63s", &c[k].mode, &seed, &n, &c[k].emin,
                           &c[k].emax, hex) != 6) {
      fclose(f);
      return -1;
    }
    c[k].seed = seed;
    c[k].n = n;
    c[k].want = strtod(hex, NULL);
    k++;
  }
  fclose(f);
  return k;
}

static void test_vectors_local(void **state)
{
  (void)state;
  vcase c[32];
  int nc = load_vectors(c, 32);
  assert_true(nc >= 10);
  for (int k = 0; k < nc; k++) {
    double *t = malloc((size_t)c[k].n * 2 * sizeof(double));
    assert_non_null(t);
    int64_t n = gen_terms(c[k].mode, c[k].seed, c[k].n, c[k].emin, c[k].emax, t);
    dm_xsum fwd, rev;
    dm_xsum_clear(&fwd);
    dm_xsum_clear(&rev);
    for (int64_t i = 0; i < n; i++) {
      dm_xsum_add(&fwd, t[i]);
      dm_xsum_add(&rev, t[n - 1 - i]);
    }
    double got = dm_xsum_value(&fwd);
    if (!same_bits(got, c[k].want))
      fail_msg("case %d: got %a, exact sum rounds to %a", k, got, c[k].want);
    assert_true(same_sum(&fwd, &rev));
    dm_rng g;
    dm_rng_init(&g, 2024, (uint64_t)k, 0);
    for (int rep = 0; rep < 3; rep++) {
      shuffle(t, n, &g);
      assert_true(same_bits(sum_of(t, n), c[k].want));
      /* Split into 1..7 parts, each summed alone, merged in a random order. */
      int parts = 1 + (int)dm_rng_below(&g, 7);
      dm_xsum part[7], all;
      for (int p = 0; p < parts; p++)
        dm_xsum_clear(&part[p]);
      for (int64_t i = 0; i < n; i++)
        dm_xsum_add(&part[dm_rng_below(&g, (uint64_t)parts)], t[i]);
      dm_xsum_clear(&all);
      int start = (int)dm_rng_below(&g, (uint64_t)parts);
      for (int p = 0; p < parts; p++)
        dm_xsum_merge(&all, &part[(start + p) % parts]);
      assert_true(same_sum(&all, &fwd));
      assert_true(same_bits(dm_xsum_value(&all), c[k].want));
      /* The whole less the other parts is each part, to the bit: the mass
       * of a range from the total and the masses around it. */
      for (int p = 0; p < parts; p++) {
        dm_xsum x = fwd;
        for (int q = 0; q < parts; q++)
          if (q != p)
            dm_xsum_sub(&x, &part[q]);
        assert_true(same_sum(&x, &part[p]));
        assert_true(same_bits(dm_xsum_value(&x), dm_xsum_value(&part[p])));
      }
    }
    free(t);
  }
}

/* Every rank generates the terms; ownership decides who adds which. */
static int64_t owner_of(int pattern, int64_t i, int64_t n, int size, dm_rng *g)
{
  switch (pattern) {
  case 0: /* blocks */
    return i * size / n;
  case 1: /* round robin */
    return i % size;
  case 2: /* everything on the last rank */
    return size - 1;
  default: /* random, the same draw on every rank */
    return (int64_t)dm_rng_below(g, (uint64_t)size);
  }
}

static void test_vectors_allreduce(void **state)
{
  (void)state;
  int rank = dm_rank(comm), size = dm_size(comm);
  vcase c[32];
  int nc = load_vectors(c, 32);
  assert_true(nc >= 10); /* same file, same answer on every rank */
  int ok = 1;
  for (int k = 0; k < nc; k++) {
    double *t = malloc((size_t)c[k].n * 2 * sizeof(double));
    int have = dm_alltrue(t != NULL, comm);
    if (!have) {
      free(t);
      ok = 0;
      break;
    }
    int64_t n = gen_terms(c[k].mode, c[k].seed, c[k].n, c[k].emin, c[k].emax, t);
    dm_xsum serial;
    dm_xsum_clear(&serial);
    for (int64_t i = 0; i < n; i++)
      dm_xsum_add(&serial, t[i]);
    for (int pattern = 0; pattern < 4; pattern++) {
      dm_rng g;
      dm_rng_init(&g, 77, (uint64_t)k, (uint64_t)pattern);
      /* Three sums at once: the terms, their negatives, and nothing. */
      dm_xsum a[3];
      for (int j = 0; j < 3; j++)
        dm_xsum_clear(&a[j]);
      for (int64_t i = 0; i < n; i++)
        if (owner_of(pattern, i, n, size, &g) == rank) {
          dm_xsum_add(&a[0], t[i]);
          dm_xsum_add(&a[1], -t[i]);
        }
      if (dm_xsum_allreduce(a, 3, comm) != DM_OK)
        ok = 0;
      if (!same_bits(dm_xsum_value(&a[0]), c[k].want) ||
          !same_bits(dm_xsum_value(&a[1]), -c[k].want) || !same_sum(&a[0], &serial) ||
          !same_bits(dm_xsum_value(&a[2]), 0.0)) {
        fprintf(stderr, "rank %d case %d pattern %d: got %a want %a\n", rank, k, pattern,
                dm_xsum_value(&a[0]), c[k].want);
        ok = 0;
      }
      /* Every rank holds the same limbs, not just the same double. */
      int64_t mx[DM_XSUM_LIMBS], mn[DM_XSUM_LIMBS];
      MPI_Allreduce(a[0].limb, mx, DM_XSUM_LIMBS, MPI_INT64_T, MPI_MAX, comm);
      MPI_Allreduce(a[0].limb, mn, DM_XSUM_LIMBS, MPI_INT64_T, MPI_MIN, comm);
      if (memcmp(mx, mn, sizeof mx) != 0)
        ok = 0;
    }
    free(t);
  }
  assert_true(dm_alltrue(ok, comm));
}

/* Sub-communicators of different sizes (2 + 1 ranks on 3) reduce the same
 * terms to the same bits. */
static void test_split_communicators(void **state)
{
  (void)state;
  int rank = dm_rank(comm), size = dm_size(comm);
  MPI_Comm sub;
  assert_int_equal(MPI_Comm_split(comm, rank < (size + 1) / 2 ? 0 : 1, rank, &sub), MPI_SUCCESS);
  int r = dm_rank(sub), s = dm_size(sub);
  enum { N = 30000 };
  static double t[N];
  gen_terms(1, 31, N, -30, 29, t); /* squared weights, about 1e-18 .. 1e18 */
  int64_t b, e;
  dm_partition(N, r, s, &b, &e);
  dm_xsum a;
  dm_xsum_clear(&a);
  for (int64_t i = b; i < e; i++)
    dm_xsum_add(&a, t[i]);
  int ok = dm_xsum_allreduce(&a, 1, sub) == DM_OK;
  double mine = dm_xsum_value(&a), lo, hi;
  MPI_Allreduce(&mine, &lo, 1, MPI_DOUBLE, MPI_MIN, comm);
  MPI_Allreduce(&mine, &hi, 1, MPI_DOUBLE, MPI_MAX, comm);
  ok = ok && same_bits(lo, hi) && same_bits(mine, sum_of(t, N));
  MPI_Comm_free(&sub);
  assert_true(dm_alltrue(ok, comm));
}

/* ---- rounding (hand-derived expectations) ----------------------------------- */

static double sum3(double x, double y, double z)
{
  dm_xsum a;
  dm_xsum_clear(&a);
  dm_xsum_add(&a, x);
  dm_xsum_add(&a, y);
  dm_xsum_add(&a, z);
  return dm_xsum_value(&a);
}

static void test_rounding(void **state)
{
  (void)state;
  const double u = ldexp(1, -52); /* ulp of 1 */
  /* Exactly halfway: ties to even. */
  assert_true(sum3(1, ldexp(1, -53), 0) == 1.0);
  assert_true(sum3(1 + u, ldexp(1, -53), 0) == 1 + 2 * u);
  assert_true(sum3(-1, -ldexp(1, -53), 0) == -1.0);
  assert_true(sum3(-1 - u, -ldexp(1, -53), 0) == -1 - 2 * u);
  /* A bit far below the tie breaks it (sticky), in either direction. */
  assert_true(sum3(1, ldexp(1, -53), ldexp(1, -156)) == 1 + u);
  assert_true(sum3(1, ldexp(1, -53), -ldexp(1, -156)) == 1.0);
  assert_true(sum3(-1, -ldexp(1, -53), -ldexp(1, -156)) == -1 - u);
  /* Cancellation that a double sum would lose completely. */
  assert_true(sum3(1e16, 1.0, -1e16) == 1.0);
  assert_true(sum3(ldexp(1, 200), 3.0, -ldexp(1, 200)) == 3.0);
  assert_true(sum3(ldexp(1, 200), -ldexp(1, -150), -ldexp(1, 200)) == -ldexp(1, -150));
  /* Ten times 0.1 is 1 + 5.55e-17 exactly, which rounds to 1.0 (a double
   * loop gives 0.9999999999999999). */
  dm_xsum a;
  dm_xsum_clear(&a);
  for (int i = 0; i < 10; i++)
    dm_xsum_add(&a, 0.1);
  assert_true(dm_xsum_value(&a) == 1.0);
  /* Sums beyond the largest term, through the carry-only top limb:
   * 4 x (2^208 - 2^155) = 2^157 (2^53 - 1), exact;
   * 3 x (2^208 - 2^155) = 2^155 (3 2^53 - 3), 55 bits, rounds down to
   * 2^157 (3 2^51 - 1). */
  double big = ldexp(2 - u, 207);
  dm_xsum_clear(&a);
  for (int i = 0; i < 4; i++)
    dm_xsum_add(&a, big);
  assert_true(dm_xsum_value(&a) == ldexp(ldexp(1, 53) - 1, 157));
  dm_xsum_clear(&a);
  for (int i = 0; i < 3; i++)
    dm_xsum_add(&a, big);
  assert_true(dm_xsum_value(&a) == ldexp(3 * ldexp(1, 51) - 1, 157));
  /* Many large carries, both signs: 100000 x big - 99999 x big = big. */
  dm_xsum p, m;
  dm_xsum_clear(&p);
  dm_xsum_clear(&m);
  for (int i = 0; i < 100000; i++) {
    dm_xsum_add(&p, big);
    dm_xsum_add(&m, -big);
    if (i > 0) {
      dm_xsum_add(&p, -big);
      dm_xsum_add(&m, big);
    }
  }
  assert_true(dm_xsum_value(&p) == big);
  assert_true(dm_xsum_value(&m) == -big);
}

/* ---- range edges, documented truncation and zero ---------------------------- */

static double one(double x)
{
  dm_xsum a;
  dm_xsum_clear(&a);
  dm_xsum_add(&a, x);
  return dm_xsum_value(&a);
}

static void test_range(void **state)
{
  (void)state;
  const double u = ldexp(1, -52);
  /* Exact range 2^-156 <= |x| < 2^208. */
  assert_true(one(ldexp(2 - u, 207)) == ldexp(2 - u, 207));
  assert_true(one(-ldexp(2 - u, 207)) == -ldexp(2 - u, 207));
  assert_true(one(ldexp(1 + u, -156)) == ldexp(1 + u, -156));
  assert_true(one(-ldexp(1 + u, -156)) == -ldexp(1 + u, -156));
  /* Below it, bits under 2^-208 are dropped from the term's magnitude:
   * 2^-157 + 2^-209 adds 2^-157; 2^-208 survives, 2^-209 does not. */
  assert_true(one(ldexp(1 + u, -157)) == ldexp(1, -157));
  assert_true(one(-ldexp(1 + u, -157)) == -ldexp(1, -157));
  assert_true(one(ldexp(1, -208)) == ldexp(1, -208));
  assert_true(one(ldexp(1, -209)) == 0.0);
  assert_true(one(DBL_MIN) == 0.0);
  assert_true(one(4.9406564584124654e-324) == 0.0);
  /* The truncation is per term, so it cannot depend on the order. */
  dm_xsum a, b;
  dm_xsum_clear(&a);
  dm_xsum_clear(&b);
  for (int i = 0; i < 1000; i++) {
    dm_xsum_add(&a, ldexp(1 + u, -200));
    dm_xsum_add(&b, ldexp(1 + u, -200));
    dm_xsum_add(&b, -ldexp(1 + u, -200));
    dm_xsum_add(&b, ldexp(1 + u, -200));
  }
  assert_true(dm_xsum_value(&a) == ldexp(1000, -200));
  assert_true(same_sum(&a, &b));
  assert_false(dm_xsum_invalid(&a));
  /* Zero: -0 adds nothing, an exactly zero sum is +0. */
  double z = one(-0.0);
  assert_true(z == 0.0 && !signbit(z));
  z = sum3(-ldexp(1, -100), ldexp(1, -100), -0.0);
  assert_true(z == 0.0 && !signbit(z));
  dm_xsum e;
  memset(&e, 0, sizeof e); /* calloc'ed sums are valid zero sums */
  assert_true(same_bits(dm_xsum_value(&e), 0.0));
}

/* Deferred carries: forcing a normalisation in the middle of a sum, and
 * merging sums that were never normalised, change nothing. */
static void test_normalization(void **state)
{
  (void)state;
  double t[4000];
  gen_terms(0, 55, 4000, -60, 60, t);
  dm_xsum ref, forced, h1, h2;
  dm_xsum_clear(&ref);
  dm_xsum_clear(&forced);
  dm_xsum_clear(&h1);
  dm_xsum_clear(&h2);
  forced.pending = (INT64_C(1) << 30) - 1000; /* the counter trips after 1000 adds */
  for (int i = 0; i < 4000; i++) {
    dm_xsum_add(&ref, t[i]);
    dm_xsum_add(&forced, t[i]);
    dm_xsum_add(i % 3 ? &h1 : &h2, t[i]);
  }
  assert_true(forced.pending < 4000); /* it did trip */
  assert_true(same_sum(&ref, &forced));
  dm_xsum_merge(&h1, &h2);
  assert_true(same_sum(&ref, &h1));
  dm_xsum n = ref;
  dm_xsum_normalize(&n);
  for (int i = 0; i < DM_XSUM_LIMBS - 1; i++)
    assert_true(n.limb[i] >= 0 && n.limb[i] < (INT64_C(1) << 32));
  assert_true(same_bits(dm_xsum_value(&n), dm_xsum_value(&ref)));
}

/* ---- invalid terms ------------------------------------------------------------ */

static void test_invalid_local(void **state)
{
  (void)state;
  const double bad[] = {NAN, -NAN, INFINITY, -INFINITY, ldexp(1, 208), -ldexp(1, 208), DBL_MAX};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    dm_xsum a;
    dm_xsum_clear(&a);
    dm_xsum_add(&a, 1.0);
    assert_int_equal(dm_xsum_check(&a, 1, "x"), DM_OK);
    dm_xsum_add(&a, bad[k]);
    dm_xsum_add(&a, 2.0); /* later terms do not clear the mark */
    assert_true(dm_xsum_invalid(&a));
    assert_true(isnan(dm_xsum_value(&a)));
    assert_int_equal(dm_xsum_check(&a, 1, "the total weight"), DM_ERR_NUMERIC);
    assert_non_null(strstr(dm_error_message(), "the total weight"));
    assert_non_null(strstr(dm_error_message(), "2^208"));
    /* Merging carries the mark both ways. */
    dm_xsum ok;
    dm_xsum_clear(&ok);
    dm_xsum_add(&ok, 3.0);
    dm_xsum m = ok;
    dm_xsum_merge(&m, &a);
    assert_true(isnan(dm_xsum_value(&m)));
    dm_xsum_merge(&a, &ok);
    assert_true(isnan(dm_xsum_value(&a)));
    dm_xsum_clear(&a);
    assert_false(dm_xsum_invalid(&a));
    assert_true(dm_xsum_value(&a) == 0.0);
  }
  /* The error names the first invalid sum of an array. */
  dm_xsum arr[4];
  for (int i = 0; i < 4; i++)
    dm_xsum_clear(&arr[i]);
  dm_xsum_add(&arr[2], INFINITY);
  dm_xsum_add(&arr[3], NAN);
  assert_int_equal(dm_xsum_check(arr, 2, "cells"), DM_OK);
  assert_int_equal(dm_xsum_check(arr, 4, "cells"), DM_ERR_NUMERIC);
  assert_non_null(strstr(dm_error_message(), "sum 2 of 4"));
}

/* A mark on one rank reaches every rank; the other sums stay exact. */
static void test_invalid_allreduce(void **state)
{
  (void)state;
  int rank = dm_rank(comm), size = dm_size(comm);
  dm_xsum a[3];
  for (int j = 0; j < 3; j++)
    dm_xsum_clear(&a[j]);
  dm_xsum_add(&a[0], 0.5 * (rank + 1));
  dm_xsum_add(&a[1], 1.0);
  dm_xsum_add(&a[2], 0.25);
  if (rank == size - 1)
    dm_xsum_add(&a[1], NAN);
  int ok = dm_xsum_allreduce(a, 3, comm) == DM_OK;
  ok = ok && dm_xsum_value(&a[0]) == 0.25 * size * (size + 1);
  ok = ok && isnan(dm_xsum_value(&a[1])) && dm_xsum_invalid(&a[1]);
  ok = ok && dm_xsum_value(&a[2]) == 0.25 * size && !dm_xsum_invalid(&a[2]);
  /* Every rank reaches the same verdict without talking again. */
  ok = ok && dm_xsum_check(a, 3, "bins") == DM_ERR_NUMERIC;
  ok = ok && strstr(dm_error_message(), "sum 1 of 3") != NULL;
  ok = ok && dm_xsum_check(&a[2], 1, "bins") == DM_OK;
  /* The mark stays a flag (0/1) after summing over ranks, so it can be
   * reduced again. */
  ok = ok && a[1].invalid == 1;
  ok = dm_xsum_allreduce(a, 3, comm) == DM_OK && ok && a[1].invalid == 1;
  ok = ok && dm_xsum_value(&a[2]) == 0.25 * size * size;
  assert_true(dm_alltrue(ok, comm));
  /* Zero sums to reduce is fine. */
  assert_int_equal(dm_xsum_allreduce(NULL, 0, comm), DM_OK);
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  comm = MPI_COMM_WORLD;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors_local),     cmocka_unit_test(test_vectors_allreduce),
      cmocka_unit_test(test_split_communicators), cmocka_unit_test(test_rounding),
      cmocka_unit_test(test_range),             cmocka_unit_test(test_normalization),
      cmocka_unit_test(test_invalid_local),     cmocka_unit_test(test_invalid_allreduce),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
