/* The distributed AUC (dm_roc_auc), the balancing under it
 * (dm_osel_balance) and the same in passes with a row budget (dm_roc_scan),
 * on data spread over the ranks in the most uneven ways:
 * everything on one rank, background and signal on different ranks, random
 * owners, fewer events than ranks. Samples with heavy ties, all-equal
 * scores, a single signal event, -0 against +0.
 *
 * Reference: every rank builds the whole sample and counts the
 * signal-background pairs one by one (the AUC's definition): unweighted the
 * AUC must be that count's ratio bit for bit; weighted within 1e-12 of a
 * long double pair sum, and bitwise the same for every split. Run on 1, 2
 * and 3 ranks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <math.h>
#include <mpi.h>

#include "dm_comm.h"
#include "dm_osel.h"
#include "dm_rng.h"
#include "dm_roc.h"
#include "dm_roc_scan.h"

typedef struct {
  int64_t nb, ns;
  double *bv, *bw, *sv, *sw;
} sample;

static void sample_free(sample *x)
{
  free(x->bv);
  free(x->bw);
  free(x->sv);
  free(x->sw);
}

enum { N_CASES = 7, N_SPLITS = 6 };

/* The whole sample of case c, the same on every rank. */
static void make(int c, sample *x)
{
  static const int64_t nb[N_CASES] = {600, 300, 400, 1000, 1, 50, 5};
  static const int64_t ns[N_CASES] = {250, 100, 1, 300, 1, 20, 7};
  x->nb = nb[c];
  x->ns = ns[c];
  x->bv = malloc((size_t)x->nb * sizeof(double));
  x->bw = malloc((size_t)x->nb * sizeof(double));
  x->sv = malloc((size_t)x->ns * sizeof(double));
  x->sw = malloc((size_t)x->ns * sizeof(double));
  dm_rng r;
  dm_rng_init(&r, 20260301, (uint64_t)c, 0);
  for (int set = 0; set < 2; set++) {
    int64_t n = set ? x->ns : x->nb;
    double *v = set ? x->sv : x->bv, *w = set ? x->sw : x->bw;
    for (int64_t i = 0; i < n; i++) {
      double u = dm_rng_uniform(&r);
      switch (c) {
      case 0: /* heavy ties: four values, signal leaning high */
        v[i] = floor(u * 4) + (set && dm_rng_uniform(&r) < 0.5 && u < 0.75 ? 1 : 0);
        break;
      case 1: /* every score equal */
        v[i] = 0.5;
        break;
      case 2: /* one signal event, tied with background events */
        v[i] = set ? 5.0 : floor(u * 10);
        break;
      case 3: /* continuous */
        v[i] = dm_rng_normal(&r) + (set ? 1.0 : 0.0);
        break;
      case 4: /* fewer events than ranks, tied */
        v[i] = 1.0;
        break;
      case 5: /* -0 and +0 are one score */
        v[i] = (double[]){-0.0, 0.0, -1.0, 1.0}[(int)(u * 4)];
        break;
      default: /* the signal entirely above and below the background */
        v[i] = set ? (i % 2 ? 1e300 : -1e300) : u;
        break;
      }
      w[i] = 0.1 + 9.9 * dm_rng_uniform(&r);
    }
  }
}

/* Which rank holds entry i of a set under split sp. */
static int owner(int sp, int set, int64_t i, int64_t n, int size)
{
  switch (sp) {
  case 0: { /* blocks */
    for (int r = 0; r < size; r++) {
      int64_t b, e;
      dm_partition(n, r, size, &b, &e);
      if (i < e)
        return r;
    }
    return size - 1;
  }
  case 1: /* all on the first rank */
    return 0;
  case 2: /* all on the last rank */
    return size - 1;
  case 3: /* background on the first rank, signal on the last */
    return set ? size - 1 : 0;
  case 4: { /* random */
    dm_rng r;
    dm_rng_init(&r, 7, (uint64_t)i, (uint64_t)set);
    return (int)(dm_rng_u64(&r) % (uint64_t)size);
  }
  default: /* reversed round robin */
    return size - 1 - (int)(i % size);
  }
}

static void build(const sample *x, int set, int sp, int weighted, dm_osel_set *out)
{
  MPI_Comm comm = MPI_COMM_WORLD;
  int me = dm_rank(comm), size = dm_size(comm);
  int64_t n = set ? x->ns : x->nb, k = 0;
  const double *v = set ? x->sv : x->bv, *w = set ? x->sw : x->bw;
  double *lv = malloc((size_t)(n + 1) * sizeof(double));
  double *lw = malloc((size_t)(n + 1) * sizeof(double));
  for (int64_t i = 0; i < n; i++)
    if (owner(sp, set, i, n, size) == me) {
      lv[k] = v[i];
      lw[k++] = w[i];
    }
  assert_int_equal(dm_osel_build(out, lv, weighted ? lw : NULL, k, comm), DM_OK);
  free(lv);
  free(lw);
}

/* Pair counts from the definition. */
static void reference(const sample *x, int64_t *gt, int64_t *eq, long double *wnum)
{
  *gt = *eq = 0;
  *wnum = 0;
  for (int64_t j = 0; j < x->ns; j++)
    for (int64_t i = 0; i < x->nb; i++) {
      long double ww = (long double)x->sw[j] * x->bw[i];
      if (x->sv[j] > x->bv[i]) {
        (*gt)++;
        *wnum += ww;
      } else if (x->sv[j] == x->bv[i]) {
        (*eq)++;
        *wnum += ww / 2;
      }
    }
}

static void test_auc_vs_pairs(void **state)
{
  MPI_Comm comm = MPI_COMM_WORLD;
  for (int c = 0; c < N_CASES; c++) {
    sample x;
    make(c, &x);
    int64_t gt, eq;
    long double wnum, wb = 0, ws = 0;
    reference(&x, &gt, &eq, &wnum);
    for (int64_t i = 0; i < x.nb; i++)
      wb += x.bw[i];
    for (int64_t j = 0; j < x.ns; j++)
      ws += x.sw[j];
    double want_u = ((double)gt + 0.5 * (double)eq) / ((double)x.ns * (double)x.nb);
    double want_w = (double)(wnum / (ws * wb));
    double first_w = NAN;
    for (int sp = 0; sp < N_SPLITS; sp++)
      for (int weighted = 0; weighted < 2; weighted++) {
        dm_osel_set b, s;
        build(&x, 0, sp, weighted, &b);
        build(&x, 1, sp, weighted, &s);
        double auc = -1, auc2 = -2, eps[3];
        const double eps_b[3] = {1e-2, 1e-1, 0.5};
        assert_int_equal(dm_roc_auc(&b, &s, comm, &auc), DM_OK);
        assert_int_equal(dm_roc_compute(&b, &s, eps_b, 3, comm, &auc2, eps), DM_OK);
        assert_true(memcmp(&auc, &auc2, sizeof auc) == 0);
        if (!weighted) {
          if (memcmp(&auc, &want_u, sizeof auc) != 0)
            fail_msg("case %d split %d: AUC %.17g, pairs give %.17g", c, sp, auc, want_u);
        } else {
          if (!(fabs(auc - want_w) <= 1e-12 * want_w))
            fail_msg("case %d split %d: weighted AUC %.17g, pairs give %.17g", c, sp, auc,
                     want_w);
          if (sp == 0)
            first_w = auc;
          else if (memcmp(&auc, &first_w, sizeof auc) != 0)
            fail_msg("case %d split %d: weighted AUC %.17g differs from split 0's %.17g", c, sp,
                     auc, first_w);
        }
        dm_osel_free(&b);
        dm_osel_free(&s);
      }
    sample_free(&x);
  }
}

/* What dm_osel_balance promises: each rank its dm_partition share of the
 * union, sorted, key ranges in rank order, nothing lost or duplicated. */
static void test_balance(void **state)
{
  MPI_Comm comm = MPI_COMM_WORLD;
  int me = dm_rank(comm), size = dm_size(comm);
  for (int c = 0; c < N_CASES; c++) {
    sample x;
    make(c, &x);
    for (int sp = 0; sp < N_SPLITS; sp++) {
      dm_osel_set in[2], out[2];
      build(&x, 0, sp, 1, &in[0]);
      build(&x, 1, sp, 1, &in[1]);
      assert_int_equal(dm_osel_balance(in, 2, comm, out), DM_OK);
      int64_t b, e;
      dm_partition(x.nb + x.ns, me, size, &b, &e);
      assert_int_equal(out[0].n + out[1].n, e - b);
      uint64_t lo = UINT64_MAX, hi = 0;
      /* Order-free checksums of (key, weight) per set. */
      uint64_t ck_in[2] = {0, 0}, ck_out[2] = {0, 0};
      for (int k = 0; k < 2; k++) {
        assert_int_equal(out[k].n_total, in[k].n_total);
        for (int64_t i = 0; i < out[k].n; i++) {
          if (i)
            assert_true(out[k].key[i - 1] <= out[k].key[i]);
          lo = out[k].key[i] < lo ? out[k].key[i] : lo;
          hi = out[k].key[i] > hi ? out[k].key[i] : hi;
          uint64_t wb;
          memcpy(&wb, &out[k].weight[i], 8);
          ck_out[k] += (out[k].key[i] * 0x9E3779B97F4A7C15u) ^ wb;
        }
        for (int64_t i = 0; i < in[k].n; i++) {
          uint64_t wb;
          memcpy(&wb, &in[k].weight[i], 8);
          ck_in[k] += (in[k].key[i] * 0x9E3779B97F4A7C15u) ^ wb;
        }
      }
      uint64_t tin[2], tout[2];
      MPI_Allreduce(ck_in, tin, 2, MPI_UINT64_T, MPI_SUM, comm);
      MPI_Allreduce(ck_out, tout, 2, MPI_UINT64_T, MPI_SUM, comm);
      assert_true(tin[0] == tout[0] && tin[1] == tout[1]);
      uint64_t mine[3] = {out[0].n + out[1].n > 0, lo, hi}, *all = malloc((size_t)size * 24);
      MPI_Allgather(mine, 3, MPI_UINT64_T, all, 3, MPI_UINT64_T, comm);
      uint64_t prev_hi = 0;
      for (int r = 0; r < size; r++)
        if (all[3 * r]) {
          assert_true(all[3 * r + 1] >= prev_hi);
          prev_hi = all[3 * r + 2];
        }
      free(all);
      for (int k = 0; k < 2; k++) {
        dm_osel_free(&in[k]);
        dm_osel_free(&out[k]);
      }
    }
    sample_free(&x);
  }
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Splitters by position against a sort of the whole union. */
static void test_at_positions(void **state)
{
  MPI_Comm comm = MPI_COMM_WORLD;
  for (int c = 0; c < N_CASES; c++) {
    sample x;
    make(c, &x);
    int64_t n = x.nb + x.ns;
    uint64_t *all = malloc((size_t)n * 8);
    for (int64_t i = 0; i < x.nb; i++)
      all[i] = dm_osel_key(x.bv[i]);
    for (int64_t j = 0; j < x.ns; j++)
      all[x.nb + j] = dm_osel_key(x.sv[j]);
    qsort(all, (size_t)n, sizeof *all, cmp_u64);
    dm_osel_set in[2];
    build(&x, 0, 4, 0, &in[0]);
    build(&x, 1, 4, 0, &in[1]);
    int64_t pos[5] = {0, n / 3, n / 2, n - 1, n - 1}, below[5];
    uint64_t key[5];
    assert_int_equal(dm_osel_at_positions(in, 2, pos, 5, comm, key, below), DM_OK);
    for (int q = 0; q < 5; q++) {
      assert_true(key[q] == all[pos[q]]);
      int64_t lt = 0;
      while (lt < n && all[lt] < key[q])
        lt++;
      assert_int_equal(below[q], lt);
    }
    free(all);
    dm_osel_free(&in[0]);
    dm_osel_free(&in[1]);
    sample_free(&x);
  }
}

static void test_errors(void **state)
{
  MPI_Comm comm = MPI_COMM_WORLD;
  int me = dm_rank(comm);
  double v[2] = {1, 2}, w0[2] = {0, 0}, w1[2] = {1, 1};
  dm_osel_set b, s, su;
  /* Signal only on rank 0, all of weight zero: the same error everywhere. */
  assert_int_equal(dm_osel_build(&b, v, w1, 2, comm), DM_OK);
  assert_int_equal(dm_osel_build(&s, v, w0, me == 0 ? 2 : 0, comm), DM_OK);
  assert_int_equal(dm_osel_build(&su, v, NULL, 2, comm), DM_OK);
  double auc;
  assert_int_equal(dm_roc_auc(&b, &s, comm, &auc), DM_ERR_NUMERIC);
  assert_int_equal(dm_roc_auc(&b, &su, comm, &auc), DM_ERR_INTERNAL);
  dm_osel_free(&s);
  assert_int_equal(dm_osel_build(&s, v, w1, 0, comm), DM_OK);
  assert_int_equal(dm_roc_auc(&b, &s, comm, &auc), DM_ERR_NUMERIC);
  dm_osel_free(&b);
  dm_osel_free(&s);
  dm_osel_free(&su);
}

/* The rows of a sample as a dm_roc_source: this rank's entries under split
 * sp, in batches of 7 rows, every rank making as many calls as the busiest.
 * Signal entries alternate between signals 0 and 1 (groups 2 and 3), and
 * every fifth row of the batch stream is one of group 0 (not in the ROC). */
typedef struct {
  const sample *x;
  int sp, weighted;
  int64_t n, at, batches, done;
  uint16_t *g;
  double *v, *w;
  uint16_t bg[7];
  double bv[7], bw[7];
} rows_src;

static void rows_init(rows_src *r, const sample *x, int sp, int weighted)
{
  MPI_Comm comm = MPI_COMM_WORLD;
  int me = dm_rank(comm), size = dm_size(comm);
  memset(r, 0, sizeof *r);
  r->x = x;
  r->sp = sp;
  r->weighted = weighted;
  int64_t cap = (x->nb + x->ns) * 5 / 4 + 2;
  r->g = malloc((size_t)cap * sizeof *r->g);
  r->v = malloc((size_t)cap * sizeof *r->v);
  r->w = malloc((size_t)cap * sizeof *r->w);
  for (int set = 0; set < 2; set++) {
    int64_t n = set ? x->ns : x->nb;
    for (int64_t i = 0; i < n; i++) {
      if (owner(sp, set, i, n, size) != me)
        continue;
      if (r->n % 5 == 4) {
        r->g[r->n] = 0;
        r->v[r->n] = -7.0;
        r->w[r->n++] = 1e300; /* would spoil any sum it entered */
      }
      r->g[r->n] = (uint16_t)(set ? 2 + i % 2 : 1);
      r->v[r->n] = set ? x->sv[i] : x->bv[i];
      r->w[r->n++] = set ? x->sw[i] : x->bw[i];
    }
  }
  int64_t most = dm_allmax_i64(r->n, comm);
  r->batches = (most + 6) / 7;
}

static dm_status rows_next(void *ctx, dm_roc_rows *rows, int *more)
{
  rows_src *r = ctx;
  if (r->done == r->batches) {
    r->done = 0;
    r->at = 0;
    *more = 0;
    return DM_OK;
  }
  int64_t k = 0;
  for (; k < 7 && r->at < r->n; k++, r->at++) {
    r->bg[k] = r->g[r->at];
    r->bv[k] = r->v[r->at];
    r->bw[k] = r->w[r->at];
  }
  r->done++;
  rows->n = k;
  rows->group = r->bg;
  rows->score = r->bv;
  rows->weight = r->weighted ? r->bw : NULL;
  *more = 1;
  return DM_OK;
}

/* The scan in passes against the pair counts (each of the two signals),
 * and against dm_roc_compute and dm_osel_upper on the whole sets, bit for
 * bit, for budgets of 2, 13, 97 rows and everything (2 rows: a tie pass per
 * tied score of the tied samples). */
static void test_scan(void **state)
{
  MPI_Comm comm = MPI_COMM_WORLD;
  const double eps_b[3] = {1e-2, 1e-1, 0.5}, f[4] = {0.05, 0.3, 0.7, 0.999};
  for (int c = 0; c < N_CASES; c++) {
    sample x;
    make(c, &x);
    /* Signal j's entries: i % 2 == j. */
    sample part[2];
    for (int j = 0; j < 2; j++) {
      part[j] = x;
      part[j].ns = 0;
      part[j].sv = malloc((size_t)(x.ns + 1) * sizeof(double));
      part[j].sw = malloc((size_t)(x.ns + 1) * sizeof(double));
      for (int64_t i = j; i < x.ns; i += 2) {
        part[j].sv[part[j].ns] = x.sv[i];
        part[j].sw[part[j].ns++] = x.sw[i];
      }
    }
    /* Blocks, background and signal apart, random owners. */
    static const int splits[3] = {0, 3, 4};
    for (int si = 0; si < 3; si++)
      for (int weighted = 0, sp = splits[si]; weighted < 2; weighted++) {
        /* The whole sets, one pass: what the scan must equal. */
        dm_osel_set b, sg[2];
        build(&x, 0, sp, weighted, &b);
        double want_auc[2] = {NAN, NAN}, want_eps[2][3];
        for (int j = 0; j < 2; j++) {
          build(&part[j], 1, sp == 3 ? 3 : 0, weighted, &sg[j]);
          if (part[j].ns > 0)
            assert_int_equal(dm_roc_compute(&b, &sg[j], eps_b, 3, comm, &want_auc[j],
                                            want_eps[j]),
                             DM_OK);
        }
        dm_osel_set bu = b;
        bu.weight = NULL;
        bu.w_total = (double)bu.n_total;
        dm_osel_result want_q[4];
        assert_int_equal(dm_osel_upper(&bu, f, 4, comm, want_q), DM_OK);
        for (int budget = 0; budget < 4; budget++) {
          double rows = (double[]){2, 13, 97, 1e9}[budget];
          /* Continuous scores: a pass per few rows would take long. */
          if (c == 3 && rows < 50)
            continue;
          dm_roc_scan *scan = NULL;
          assert_int_equal(dm_roc_scan_create(2, weighted, rows * (weighted ? 48 : 24), &scan),
                           DM_OK);
          rows_src src;
          rows_init(&src, &x, sp, weighted);
          assert_int_equal(dm_roc_scan_read(scan, rows_next, &src, comm), DM_OK);
          assert_int_equal(dm_roc_scan_count(scan, 1), x.nb);
          assert_int_equal(dm_roc_scan_count(scan, 2) + dm_roc_scan_count(scan, 3), x.ns);
          assert_int_equal(dm_roc_scan_queries(scan, eps_b, 3, f, 4), DM_OK);
          int done = 0;
          while (!done) {
            assert_int_equal(dm_roc_scan_settle(scan, comm, &done), DM_OK);
            if (!done)
              assert_int_equal(dm_roc_scan_read(scan, rows_next, &src, comm), DM_OK);
          }
          for (int j = 0; j < 2; j++) {
            if (part[j].ns == 0)
              continue;
            double auc = -1;
            assert_int_equal(dm_roc_scan_auc(scan, j, &auc), DM_OK);
            if (!weighted) {
              int64_t gt, eq;
              long double wn;
              reference(&part[j], &gt, &eq, &wn);
              double want = ((double)gt + 0.5 * (double)eq) / ((double)part[j].ns * (double)x.nb);
              if (memcmp(&auc, &want, sizeof auc) != 0)
                fail_msg("case %d split %d rows %g signal %d: AUC %.17g, pairs %.17g", c, sp,
                         rows, j, auc, want);
            }
            if (memcmp(&auc, &want_auc[j], sizeof auc) != 0)
              fail_msg("case %d split %d rows %g signal %d weighted %d: AUC %.17g, one pass "
                       "%.17g", c, sp, rows, j, weighted, auc, want_auc[j]);
            for (int q = 0; q < 3; q++) {
              double e = dm_roc_scan_eps_s(scan, j, q);
              if (memcmp(&e, &want_eps[j][q], sizeof e) != 0)
                fail_msg("case %d split %d rows %g signal %d: eps_S %.17g, one pass %.17g", c,
                         sp, rows, j, e, want_eps[j][q]);
            }
          }
          for (int q = 0; q < 4; q++) {
            const dm_osel_result *r = dm_roc_scan_quantile(scan, q);
            assert_int_equal(r->found, want_q[q].found);
            assert_true(r->key == want_q[q].key);
            assert_true(r->mass_gt == want_q[q].mass_gt && r->mass_ge == want_q[q].mass_ge);
          }
          /* A budget below the busiest rank's rows takes several passes. */
          if (rows < 50 && x.nb + x.ns > 2 * rows * dm_size(comm) + 4)
            assert_true(dm_roc_scan_passes(scan) > 1);
          dm_roc_scan_free(scan);
          free(src.g);
          free(src.v);
          free(src.w);
        }
        dm_osel_free(&b);
        dm_osel_free(&sg[0]);
        dm_osel_free(&sg[1]);
      }
    for (int j = 0; j < 2; j++) {
      free(part[j].sv);
      free(part[j].sw);
    }
    sample_free(&x);
  }
}

int main(void)
{
  MPI_Init(NULL, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_auc_vs_pairs),
      cmocka_unit_test(test_balance),
      cmocka_unit_test(test_at_positions),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_scan),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
