/* Units of `dmpipe generate` and of the process table: the fast %g printer
 * against snprintf, the event-count rule, table parsing and its errors, the
 * line format of one hand-made event, and the model invariants. Run on 3
 * ranks for the collective table load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_comm.h"
#include "dm_gen_format.h"
#include "dm_gen_model.h"
#include "dm_generate.h"
#include "dm_proctable.h"
#include "dm_rng.h"
#include "dm_store.h"

static void expect_g6(double x)
{
  char want[64], got[DM_GEN_G6_MAX + 1];
  snprintf(want, sizeof want, "%g", x);
  size_t n = dm_gen_fmt_g6(x, got);
  got[n] = '\0';
  if (strcmp(want, got)) {
    char msg[200];
    snprintf(msg, sizeof msg, "%.17g: snprintf '%s', fast '%s'", x, want, got);
    fail_msg("%s", msg);
  }
}

static void test_g6_edges(void **state)
{
  static const double v[] = {0.0,       -0.0,      1.0,        -1.0,      0.5,       1e-5,
                             1e-4,      9.99999e-5, 0.0001,    123456,    1234565,   1234575,
                             999999,    999999.5,  9999995,    9999994.999, 1e6,      1e5,
                             100000.5,  0.1,       0.3,        2.9748e-08, 1e-30,    1e30,
                             1e-31,     1e31,      1e300,      1e-300,    5e-324,    1.7e308,
                             3.14159265358979, -3.14159265358979, 2.718281828, 112288, 1.74766,
                             331927.4,  0.0499999995, 0.00999995, 99999.95, 9.5, 0.95,
                             INFINITY,  -INFINITY, NAN,        4.94065645841247e-324};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    expect_g6(v[i]);
  /* Every power of ten and its neighbours. */
  for (int e = -40; e <= 40; e++) {
    double p = pow(10, e);
    expect_g6(p);
    expect_g6(nextafter(p, 0));
    expect_g6(nextafter(p, INFINITY));
    expect_g6(-p);
    /* Decimal ties at the 7th digit, and their neighbours. */
    for (int k = 0; k < 20; k++) {
      double t = (100000.0 + 37 * k + 0.5) * pow(10, e - 5);
      expect_g6(t);
      expect_g6(nextafter(t, 0));
      expect_g6(nextafter(t, INFINITY));
    }
  }
}

static void test_g6_random(void **state)
{
  dm_rng r;
  dm_rng_init(&r, 42, 1, 2);
  for (int i = 0; i < 1000000; i++) {
    /* Log-uniform magnitudes over the range the archive uses and beyond. */
    double x = pow(10, -12 + 24 * dm_rng_uniform(&r)) * (dm_rng_uniform(&r) < 0.5 ? -1 : 1);
    expect_g6(x);
  }
  for (int i = 0; i < 200000; i++) {
    /* Arbitrary bit patterns (finite ones). */
    uint64_t b = dm_rng_u64(&r);
    double x;
    memcpy(&x, &b, sizeof x);
    if (isfinite(x))
      expect_g6(x);
  }
  for (int i = 0; i < 200000; i++) {
    /* Short decimals, where ties and exact values live. */
    double x = (double)dm_rng_below(&r, 100000000) / pow(10, (double)dm_rng_below(&r, 12));
    expect_g6(x);
  }
}

static void test_u64(void **state)
{
  static const uint64_t v[] = {0, 1, 9, 10, 99, 100, 12345, 1000000, 18446744073709551615ULL};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char want[32], got[32];
    snprintf(want, sizeof want, "%llu", (unsigned long long)v[i]);
    got[dm_gen_fmt_u64(v[i], got)] = '\0';
    assert_string_equal(want, got);
  }
}

static void test_counts(void **state)
{
  /* Hand-checked: N = 1000, P = 4, floor = floor(50 / 4) = 12, rest 952
   * shared 6:3:1:0 -> quotas 571.2, 285.6, 95.2, 0; floors 571+285+95 = 951,
   * the leftover event goes to the largest remainder (285.6). */
  double s[4] = {6, 3, 1, 0};
  int64_t n[4], fl;
  assert_int_equal(dm_generate_counts(1000, 4, s, n, &fl), DM_OK);
  assert_int_equal(fl, 12);
  assert_int_equal(n[0], 12 + 571);
  assert_int_equal(n[1], 12 + 286);
  assert_int_equal(n[2], 12 + 95);
  assert_int_equal(n[3], 12);
  /* Fewer events than processes is an error; exactly P gives one each. */
  assert_int_equal(dm_generate_counts(3, 4, s, n, &fl), DM_ERR_ARG);
  assert_int_equal(dm_generate_counts(4, 4, s, n, &fl), DM_OK);
  for (int i = 0; i < 4; i++)
    assert_int_equal(n[i], 1);
  /* Sums are exact for awkward sizes. */
  double s2[7] = {19718, 0.0085, 1.7e-4, 541, 3.3, 1e-9, 7927};
  for (int64_t total = 7; total < 5000000; total = total * 3 + 1) {
    int64_t m[7], sum = 0;
    assert_int_equal(dm_generate_counts(total, 7, s2, m, NULL), DM_OK);
    for (int i = 0; i < 7; i++)
      sum += m[i];
    assert_int_equal(sum, total);
  }
}

static const char good_table[] =
    "# comment line\n"
    "\n"
    "name, kind ,sigma_pb,extra,aliases,description,gen_cut,n_10fb,model\n"
    "ttbar,sm,541,x,tt top_pair,\"top pair, inclusive\",,5412187,ttbar\n"
    "njets,sm,19718,,,QCD,ht>600,197179140,qcd\r\n"
    "mystery,bsm,unknown,,,\"a \"\"quoted\"\" word\",,,\n"
    "  # indented comment\n"
    "zp,bsm,0.38,,,,,,zprime:2000\n";

static void test_table_parse(void **state)
{
  dm_proctable *t;
  assert_int_equal(dm_proctable_parse(good_table, strlen(good_table), "t.csv", &t), DM_OK);
  assert_int_equal(dm_proctable_count(t), 4);
  const dm_process *p = dm_proctable_find(t, "ttbar");
  assert_non_null(p);
  assert_int_equal(p->kind, DM_PROC_SM);
  assert_true(p->sigma_pb == 541.0);
  assert_int_equal(p->n_10fb, 5412187);
  assert_string_equal(p->description, "top pair, inclusive");
  assert_int_equal(p->line, 4);
  assert_ptr_equal(dm_proctable_find(t, "top_pair"), p);
  assert_ptr_equal(dm_proctable_find(t, "tt"), p);
  assert_int_equal(dm_proctable_index_n(t, "njetsXYZ", 5), 1);
  assert_null(dm_proctable_find(t, "nj"));
  p = dm_proctable_find(t, "njets");
  assert_string_equal(p->gen_cut, "ht>600");
  assert_string_equal(p->model, "qcd");
  p = dm_proctable_find(t, "mystery");
  assert_true(isnan(p->sigma_pb));
  assert_int_equal(p->n_10fb, -1);
  assert_string_equal(p->description, "a \"quoted\" word");
  const dm_process *q;
  assert_int_equal(dm_proctable_lookup(t, "mystery", 1, &q), DM_ERR_UNKNOWN);
  assert_non_null(strstr(dm_error_message(), "t.csv:6"));
  assert_int_equal(dm_proctable_lookup(t, "mystery", 0, &q), DM_OK);
  assert_int_equal(dm_proctable_lookup(t, "nope", 0, &q), DM_ERR_UNKNOWN);
  assert_non_null(strstr(dm_error_message(), "nope"));
  assert_int_equal(strlen(dm_proctable_checksum(t)), 32);
  assert_int_equal(dm_proctable_size(t), (int64_t)strlen(good_table));
  /* The model column parses; the cut becomes a number. */
  dm_gen_model m;
  assert_int_equal(dm_gen_model_parse(dm_proctable_find(t, "njets"), "t.csv", &m), DM_OK);
  assert_true(m.ht_min == 600.0);
  assert_int_equal(dm_gen_model_parse(dm_proctable_find(t, "mystery"), "t.csv", &m),
                   DM_ERR_UNKNOWN);
  dm_proctable_free(t);
}

static void expect_table_error(const char *text, const char *where)
{
  dm_proctable *t = (dm_proctable *)1;
  dm_status s = dm_proctable_parse(text, strlen(text), "bad.csv", &t);
  assert_int_equal(s, DM_ERR_FORMAT);
  assert_null(t);
  if (!strstr(dm_error_message(), where))
    fail_msg("message '%s' lacks '%s'", dm_error_message(), where);
}

static void test_table_errors(void **state)
{
  expect_table_error("", "no header");
  expect_table_error("# only\n", "no header");
  expect_table_error("name,kind\nx,sm\n", "bad.csv:1: header lacks column 'sigma_pb'");
  expect_table_error("name,kind,sigma_pb\n", "no processes");
  expect_table_error("name,kind,sigma_pb\na,sm,abc\n", "bad.csv:2: sigma_pb 'abc'");
  expect_table_error("name,kind,sigma_pb\na,sm,-1\n", "bad.csv:2");
  expect_table_error("name,kind,sigma_pb\na,sm,nan\n", "bad.csv:2");
  expect_table_error("name,kind,sigma_pb\na,xx,1\n", "bad.csv:2: kind 'xx'");
  expect_table_error("name,kind,sigma_pb\n#c\na,sm,1\na,bsm,2\n", "bad.csv:4: process 'a' already defined on line 3");
  expect_table_error("name,kind,sigma_pb\na,sm,1,2\n", "bad.csv:2: 4 fields, header has 3");
  expect_table_error("name,kind,sigma_pb\na;b,sm,1\n", "bad.csv:2: process name");
  expect_table_error("name,kind,sigma_pb\n,sm,1\n", "bad.csv:2: process name");
  expect_table_error("name,kind,sigma_pb\n\"a,sm,1\n", "bad.csv:2: unterminated");
  expect_table_error("name,kind,sigma_pb,aliases\na,sm,1,x\nb,sm,1,x\n", "bad.csv:3: alias 'x'");
  expect_table_error("name,kind,sigma_pb,aliases\na,sm,1,\nb,sm,1,a\n", "bad.csv:3: alias 'a'");
  expect_table_error("name,kind,sigma_pb,n_10fb\na,sm,1,1.5\n", "bad.csv:2: n_10fb");
  expect_table_error("name,name,kind,sigma_pb\n", "bad.csv:1: header names column 'name' twice");
  /* Model and cut errors name the line too. */
  static const char t2[] = "name,kind,sigma_pb,model,gen_cut\n"
                           "a,sm,1,warp:3,\nb,sm,1,qcd,ht<5\nc,sm,1,gluino:100,\n"
                           "d,sm,1,vv:qq,\n";
  dm_proctable *t;
  assert_int_equal(dm_proctable_parse(t2, strlen(t2), "m.csv", &t), DM_OK);
  dm_gen_model m;
  static const char *const want[4] = {"m.csv:2: unknown model 'warp:3'", "m.csv:3: gen_cut",
                                      "m.csv:4: model 'gluino:100'", "m.csv:5: model 'vv:qq'"};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(dm_gen_model_parse(dm_proctable_get(t, i), "m.csv", &m), DM_ERR_FORMAT);
    if (!strstr(dm_error_message(), want[i]))
      fail_msg("message '%s' lacks '%s'", dm_error_message(), want[i]);
  }
  dm_proctable_free(t);
}

/* The shipped table: all 26 SM processes of the data paper with their
 * numbers, the BSM benchmarks, and the challenge's long names. Expected
 * values are typed in from the paper's tables. */
static void test_shipped_table(void **state)
{
  dm_proctable *t;
  assert_int_equal(dm_proctable_load_comm(NULL, MPI_COMM_WORLD, &t), DM_OK);
  int sm = 0, bsm_known = 0;
  for (int i = 0; i < dm_proctable_count(t); i++) {
    const dm_process *p = dm_proctable_get(t, i);
    sm += p->kind == DM_PROC_SM;
    bsm_known += p->kind == DM_PROC_BSM && isfinite(p->sigma_pb);
    if (*p->model) {
      dm_gen_model m;
      if (dm_gen_model_parse(p, "shipped", &m) != DM_OK)
        fail_msg("%s", dm_error_message());
    }
  }
  assert_int_equal(sm, 26);
  assert_int_equal(bsm_known, 7 + 4 + 5);
  static const struct {
    const char *name;
    double sigma;
    int64_t n;
  } ref[] = {{"njets", 19718, 197179140}, {"w_jets", 10537, 105366237}, {"ttbar", 541, 5412187},
             {"ttbarWW", 0.0085, 85},     {"4top", 0.0097, 96},         {"zz", 9.91, 99092},
             {"gluino_07", 1.7e-4, -1},   {"stop_01", 26.7, -1},        {"Zp_05", 0.008, -1}};
  for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
    const dm_process *p = dm_proctable_find(t, ref[i].name);
    assert_non_null(p);
    assert_true(p->sigma_pb == ref[i].sigma);
    assert_int_equal(p->n_10fb, ref[i].n);
  }
  static const char *const challenge[] = {
      "gluino_1000.0_neutralino_1.0", "stlp_st1000", "monojet_Zp2000.0_DM_50.0",
      "chacha_cha300_neut140", "chaneut_cha200_neut50", "sqsq_sq1800_neut800",
      "glgl1400_neutralino1100", "monotop_200_A", "pp23mt_50"};
  for (size_t i = 0; i < sizeof challenge / sizeof challenge[0]; i++) {
    const dm_process *p = dm_proctable_find(t, challenge[i]);
    assert_non_null(p);
    assert_int_equal(p->kind, DM_PROC_BSM);
  }
  assert_string_equal(dm_proctable_find(t, "njets")->gen_cut, "ht>600");
  dm_proctable_free(t);
  /* A missing file: every rank fails together, rank 0 names the path. */
  dm_status s = dm_proctable_load_comm("no/such/table.csv", MPI_COMM_WORLD, &t);
  assert_int_equal(s, DM_ERR_IO);
  assert_null(t);
  if (dm_rank(MPI_COMM_WORLD) == 0)
    assert_non_null(strstr(dm_error_message(), "no/such/table.csv"));
}

/* One hand-made event, every line form, compared with text written by hand. */
static void test_line_format(void **state)
{
  dm_gen_event ev;
  memset(&ev, 0, sizeof ev);
  ev.n = 2;
  ev.type[0] = DM_OBJ_BJET;
  ev.e[0] = 331.927;
  ev.pt[0] = 147.558;
  ev.eta[0] = -1.44969;
  ev.phi[0] = -1.76399;
  ev.type[1] = DM_OBJ_MUPLUS;
  ev.e[1] = 55.8088;
  ev.pt[1] = 54.3914;
  ev.eta[1] = -0.198215;
  ev.phi[1] = 1.726;
  ev.met = 112.288;
  ev.met_phi = 1.74766;
  const char *prefix = "ttbar;1;";
  char buf[DM_GEN_LINE_MAX];
  struct {
    dm_bad_kind bad;
    uint64_t variant;
    int semi;
    const char *want;
  } cases[] = {
      {DM_BAD_NONE, 0, 1, "94;ttbar;1;112288;1.74766;b,331927,147558,-1.44969,-1.76399;"
                          "m+,55808.8,54391.4,-0.198215,1.726;\n"},
      {DM_BAD_NONE, 0, 0, "94;ttbar;1;112288;1.74766;b,331927,147558,-1.44969,-1.76399;"
                          "m+,55808.8,54391.4,-0.198215,1.726\n"},
      {DM_BAD_FIELD_COUNT, 0, 1, "94;ttbar;1;112288;1.74766;b,331927,147558,-1.44969,-1.76399;"
                                 "m+,55808.8,54391.4,-0.198215;\n"},
      {DM_BAD_FIELD_COUNT, 8, 1, "94;ttbar;1;112288\n"},
      {DM_BAD_NUMBER, 1, 0, "94;ttbar;1;112288;1.74766;b,1.2.3,147558,-1.44969,-1.76399;"
                            "m+,55808.8,54391.4,-0.198215,1.726\n"},
      {DM_BAD_NONFINITE, 9, 1, "94;ttbar;1;nan;1.74766;b,331927,147558,-1.44969,-1.76399;"
                               "m+,55808.8,54391.4,-0.198215,1.726;\n"},
      {DM_BAD_NONFINITE, 2, 1, "94;ttbar;1;112288;1.74766;b,1e999,147558,-1.44969,-1.76399;"
                               "m+,55808.8,54391.4,-0.198215,1.726;\n"},
      {DM_BAD_OBJECT_CODE, 1, 1, "94;ttbar;1;112288;1.74766;tau,331927,147558,-1.44969,-1.76399;"
                                 "m+,55808.8,54391.4,-0.198215,1.726;\n"},
      {DM_BAD_EMPTY_PROCESS, 0, 1, "94;;1;112288;1.74766;b,331927,147558,-1.44969,-1.76399;"
                                   "m+,55808.8,54391.4,-0.198215,1.726;\n"},
      {DM_BAD_TRUNCATED, 0, 1, "94;ttbar;1;112288;1.74766;b,331927"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = dm_gen_format_line(&ev, 94, prefix, strlen(prefix), cases[i].semi, cases[i].bad,
                                  cases[i].variant, buf, sizeof buf);
    buf[n] = '\0';
    assert_string_equal(buf, cases[i].want);
  }
  /* Every object code as the store's table spells it. */
  for (int t = 0; t < DM_OBJ_NTYPES; t++) {
    dm_gen_event one = ev;
    one.n = 1;
    one.type[0] = (uint8_t)t;
    char want[200];
    snprintf(want, sizeof want, "94;ttbar;1;112288;1.74766;%s,331927,147558,-1.44969,-1.76399\n",
             dm_obj_code(t));
    size_t n1 = dm_gen_format_line(&one, 94, prefix, strlen(prefix), 0, DM_BAD_NONE, 0, buf,
                                   sizeof buf);
    buf[n1] = '\0';
    assert_string_equal(buf, want);
  }
  size_t cap = DM_GEN_TOO_LONG_BYTES + 2 * DM_GEN_LINE_MAX;
  char *big = malloc(cap);
  size_t n = dm_gen_format_line(&ev, 94, prefix, strlen(prefix), 1, DM_BAD_TOO_LONG, 0, big, cap);
  assert_true(n > DM_GEN_TOO_LONG_BYTES + 1 && n <= cap);
  assert_int_equal(big[n - 1], '\n');
  assert_memory_equal(big, cases[0].want, 60);
  free(big);
}

/* Every model of the shipped table: objects ordered, in acceptance,
 * consistent 4-vectors, triggered, within the generator cuts; the same
 * event twice from the same (seed, key, index). */
static void test_models(void **state)
{
  dm_proctable *t;
  assert_int_equal(dm_proctable_load(NULL, &t), DM_OK);
  for (int i = 0; i < dm_proctable_count(t); i++) {
    const dm_process *p = dm_proctable_get(t, i);
    if (!*p->model)
      continue;
    dm_gen_model m;
    assert_int_equal(dm_gen_model_parse(p, "shipped", &m), DM_OK);
    uint64_t key = dm_gen_process_key(p->name);
    for (int64_t k = 0; k < 300; k++) {
      dm_gen_event a, b;
      assert_int_equal(dm_gen_model_event(&m, 7, key, k, &a), DM_OK);
      assert_int_equal(dm_gen_model_event(&m, 7, key, k, &b), DM_OK);
      assert_int_equal(a.n, b.n);
      assert_true(a.met == b.met && (a.n == 0 || a.pt[0] == b.pt[0]));
      assert_true(a.n >= 1 && a.n <= DM_GEN_MAX_OBJ);
      assert_true(a.met >= 0 && fabs(a.met_phi) <= M_PI);
      double ht = 0;
      for (int j = 0; j < a.n; j++) {
        if (j)
          assert_true(a.pt[j] <= a.pt[j - 1]);
        double pabs = a.pt[j] * cosh(a.eta[j]);
        assert_true(a.e[j] >= pabs * (1 - 1e-12));
        assert_true(fabs(a.phi[j]) <= M_PI);
        assert_true(a.type[j] < DM_OBJ_NTYPES);
        if (a.type[j] <= DM_OBJ_BJET) {
          assert_true(a.pt[j] > 20 && fabs(a.eta[j]) < 2.8);
          ht += a.pt[j];
        }
      }
      assert_true(m.ht_min == 0 || ht > m.ht_min);
      assert_true(m.met_min == 0 || a.met > m.met_min);
    }
  }
  dm_proctable_free(t);
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_g6_edges),     cmocka_unit_test(test_g6_random),
      cmocka_unit_test(test_u64),          cmocka_unit_test(test_counts),
      cmocka_unit_test(test_table_parse),  cmocka_unit_test(test_table_errors),
      cmocka_unit_test(test_shipped_table), cmocka_unit_test(test_line_format),
      cmocka_unit_test(test_models),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
