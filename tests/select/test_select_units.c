/* Derived variables, cut evaluation at the edges, cut files, exact sums.
 * Expected values are worked out by hand in the comments, never by the code
 * under test. Runs on one rank (no communication is tested here). */
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

#include "dm_cuts.h"
#include "dm_physics.h"
#include "dm_xsum.h"

/* A batch built by hand: events given as (met, list of (type, pt, eta)). */
typedef struct {
  int type;
  float pt, eta;
} obj;

static void add_event(dm_events *ev, float met, const obj *o, int n)
{
  int64_t i = ev->n_events, k0 = ev->n_objects;
  assert_int_equal(dm_events_reserve(ev, i + 1, k0 + n + 1, 0), DM_OK);
  ev->event_id[i] = i;
  ev->process[i] = 0;
  ev->weight[i] = 1;
  ev->met[i] = met;
  ev->met_phi[i] = 0;
  for (int j = 0; j < n; j++) {
    ev->type[k0 + j] = (uint8_t)o[j].type;
    ev->pt[k0 + j] = o[j].pt;
    ev->eta[k0 + j] = o[j].eta;
    ev->phi[k0 + j] = 0;
    ev->e[k0 + j] = o[j].pt;
  }
  ev->n_objects = k0 + n;
  ev->obj_offset[i + 1] = ev->n_objects;
  ev->n_events = i + 1;
}

static void test_physics(void **state)
{
  dm_events ev;
  memset(&ev, 0, sizeof ev);
  /* 0: two jets, a b-jet, an electron, a muon, a photon. */
  obj a[] = {{DM_OBJ_JET, 300, 0.1f}, {DM_OBJ_BJET, 150, -1}, {DM_OBJ_JET, 50, 2},
             {DM_OBJ_EMINUS, 40, 0}, {DM_OBJ_MUPLUS, 30, 1}, {DM_OBJ_PHOTON, 25, 0}};
  add_event(&ev, 100, a, 6);
  /* 1: no jets, MET 80: ht 0, ratio +inf. */
  obj b[] = {{DM_OBJ_EPLUS, 60, 0}};
  add_event(&ev, 80, b, 1);
  /* 2: nothing at all: ht 0, MET 0, ratio 0. */
  add_event(&ev, 0, NULL, 0);
  double v[DM_VAR_COUNT];
  dm_physics_event(&ev, 0, v);
  assert_true(v[DM_VAR_HT] == 500.0);  /* 300 + 150 + 50 */
  assert_true(v[DM_VAR_N_JETS] == 3);
  assert_true(v[DM_VAR_N_BJETS] == 1);
  assert_true(v[DM_VAR_N_LEPTONS] == 2);
  assert_true(v[DM_VAR_N_PHOTONS] == 1);
  assert_true(v[DM_VAR_LEAD_JET_PT] == 300.0);
  assert_true(v[DM_VAR_MET_OVER_HT] == 0.2); /* 100 / 500 */
  assert_true(v[DM_VAR_M_EFF] == 600.0);
  assert_true(v[DM_VAR_MET] == 100.0);
  assert_true(v[DM_VAR_N_OBJ] == 6);
  dm_physics_event(&ev, 1, v);
  assert_true(v[DM_VAR_HT] == 0.0);
  assert_true(v[DM_VAR_N_JETS] == 0);
  assert_true(v[DM_VAR_LEAD_JET_PT] == 0.0);
  assert_true(isinf(v[DM_VAR_MET_OVER_HT]) && v[DM_VAR_MET_OVER_HT] > 0);
  assert_true(v[DM_VAR_M_EFF] == 80.0);
  dm_physics_event(&ev, 2, v);
  assert_true(v[DM_VAR_MET_OVER_HT] == 0.0);
  assert_true(v[DM_VAR_N_OBJ] == 0);
  /* Batch form gives the same columns. */
  double c[DM_VAR_NDERIVED][3], *cols[DM_VAR_NDERIVED];
  for (int i = 0; i < DM_VAR_NDERIVED; i++)
    cols[i] = c[i];
  dm_physics_batch(&ev, cols);
  assert_true(c[DM_VAR_HT][0] == 500.0 && c[DM_VAR_N_LEPTONS][1] == 1 && c[DM_VAR_M_EFF][2] == 0);
  dm_events_free(&ev);
}

static int passes(const char *ini, dm_events *ev, int64_t i)
{
  dm_cutset cs;
  assert_int_equal(dm_cuts_parse(ini, "test.ini", &cs), DM_OK);
  double v[DM_VAR_COUNT];
  dm_physics_event(ev, i, v);
  for (int c = 0; c < cs.n; c++)
    if (!dm_cut_pass(&cs.cut[c], ev, i, v, 0))
      return 0;
  return 1;
}

static void test_edges(void **state)
{
  dm_events ev;
  memset(&ev, 0, sizeof ev);
  /* 0: MET exactly 50; leptons at exactly 15 and just above. */
  obj a[] = {{DM_OBJ_EMINUS, 15, 0}, {DM_OBJ_MUMINUS, 15.001f, 2.5f}, {DM_OBJ_JET, 50, 2.8f}};
  add_event(&ev, 50, a, 3);
  /* 1: MET 50.001 GeV as a float32 store holds it (50001 MeV / 1000). */
  add_event(&ev, (float)(50001.0 / 1000.0), NULL, 0);
  assert_true(passes("[cut m]\nvariable=met\nop=>=\nvalue=50\n", &ev, 0));
  assert_false(passes("[cut m]\nvariable=met\nop=>\nvalue=50\n", &ev, 0));
  assert_true(passes("[cut m]\nvariable=met\nop=<=\nvalue=50\n", &ev, 0));
  assert_false(passes("[cut m]\nvariable=met\nop=<\nvalue=50\n", &ev, 0));
  assert_true(passes("[cut m]\nvariable=met\nop===\nvalue=50\n", &ev, 0));
  /* float32 50.001 is 50.00099945..., below the double 50.001: the rule
   * "compare in the store's precision" makes it equal to the threshold. */
  assert_true((double)ev.met[1] < 50.001);
  assert_true(passes("[cut m]\nvariable=met\nop=>=\nvalue=50.001\n", &ev, 1));
  assert_false(passes("[cut m]\nvariable=met\nop=>\nvalue=50.001\n", &ev, 1));
  /* pT > 15 is strict: only the 15.001 muon counts. */
  assert_true(passes("[cut l]\nobjects=leptons\npt_min=15\ncount_min=1\ncount_max=1\n", &ev, 0));
  assert_false(passes("[cut l]\nobjects=leptons\npt_min=15\ncount_min=2\n", &ev, 0));
  assert_true(passes("[cut l]\nobjects=leptons\npt_min=14.99\ncount_min=2\n", &ev, 0));
  /* |eta| < 2.5 is strict: the muon at 2.5 drops out. */
  assert_false(passes("[cut l]\nobjects=m\nabs_eta_max=2.5\ncount_min=1\n", &ev, 0));
  assert_true(passes("[cut l]\nobjects=m\nabs_eta_max=2.51\ncount_min=1\n", &ev, 0));
  /* Types: e- only; photons none. */
  assert_true(passes("[cut l]\nobjects=e-\ncount_min=1\ncount_max=1\n", &ev, 0));
  assert_true(passes("[cut l]\nobjects=photons\ncount_max=0\n", &ev, 0));
  /* An event without jets: ht = 0 so met_over_ht = +inf passes >= 0.2,
   * and every jet count is 0. */
  assert_true(passes("[cut r]\nvariable=met_over_ht\nop=>=\nvalue=0.2\n", &ev, 1));
  assert_true(passes("[cut j]\nobjects=jets\ncount_max=0\n", &ev, 1));
  assert_false(passes("[cut h]\nvariable=ht\nop=>\nvalue=0\n", &ev, 1));
  dm_events_free(&ev);
}

/* chan1 with events sitting exactly on each threshold. */
static void test_chan1_edges(void **state)
{
  dm_cutset cs;
  assert_int_equal(dm_cuts_channel("chan1", &cs), DM_OK);
  dm_events ev;
  memset(&ev, 0, sizeof ev);
  /* 0: ht = 250+150+100+100 = 600, MET 200 (ratio 1/3), 4 jets > 50, one
   * > 200: passes every cut exactly at ht >= 600. */
  obj a[] = {{DM_OBJ_JET, 250, 0}, {DM_OBJ_JET, 150, 0}, {DM_OBJ_BJET, 100, 0},
             {DM_OBJ_JET, 100, 0}};
  add_event(&ev, 200, a, 4);
  /* 1: the fourth jet at exactly 50 does not count (pT > 50 strict);
   * ht = 300+150+100+50 = 600. */
  obj b[] = {{DM_OBJ_JET, 300, 0}, {DM_OBJ_JET, 150, 0}, {DM_OBJ_JET, 100, 0},
             {DM_OBJ_JET, 50, 0}};
  add_event(&ev, 300, b, 4);
  /* 2: leading jet exactly 200 is not > 200; ht = 200+200+150+150 = 700. */
  obj c[] = {{DM_OBJ_JET, 200, 0}, {DM_OBJ_JET, 200, 0}, {DM_OBJ_JET, 150, 0},
             {DM_OBJ_JET, 150, 0}};
  add_event(&ev, 300, c, 4);
  /* 3: MET/HT = 140/700 = 0.2 exactly at the edge; passes. */
  obj d[] = {{DM_OBJ_JET, 250, 0}, {DM_OBJ_JET, 200, 0}, {DM_OBJ_JET, 150, 0},
             {DM_OBJ_JET, 100, 0}};
  add_event(&ev, 140, d, 4);
  int want[4] = {1, 0, 0, 0};
  /* Event 3 fails only on MET >= 200 (140): check the ratio cut alone. */
  for (int i = 0; i < 4; i++) {
    double v[DM_VAR_COUNT];
    dm_physics_event(&ev, i, v);
    int ok = 1;
    for (int k = 0; k < cs.n; k++)
      ok &= dm_cut_pass(&cs.cut[k], &ev, i, v, 0);
    assert_int_equal(ok, want[i]);
    if (i == 3)
      assert_true(dm_cut_pass(&cs.cut[2], &ev, i, v, 0));
  }
  dm_events_free(&ev);
}

static void test_channel_files(void **state)
{
  const char *src = getenv("DM_SOURCE_DIR");
  assert_non_null(src);
  for (int i = 0; dm_cuts_channels[i]; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/data/cuts/%s.ini", src, dm_cuts_channels[i]);
    dm_cutset a, b;
    assert_int_equal(dm_cuts_channel(dm_cuts_channels[i], &a), DM_OK);
    assert_int_equal(dm_cuts_load(path, &b), DM_OK);
    assert_true(dm_cuts_equal(&a, &b));
    /* Canonical text re-parses to the same selection. */
    char text[8192];
    assert_true(dm_cuts_format(&a, text, sizeof text) > 0);
    dm_cutset c;
    assert_int_equal(dm_cuts_parse(text, "canonical", &c), DM_OK);
    assert_true(dm_cuts_equal(&a, &c));
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/data/cuts/example.ini", src);
  dm_cutset e;
  assert_int_equal(dm_cuts_load(path, &e), DM_OK);
  assert_string_equal(e.name, "monojet_like");
  assert_int_equal(e.n, 5);
  dm_cutset x;
  assert_int_equal(dm_cuts_channel("chan4", &x), DM_ERR_UNKNOWN);
  assert_non_null(strstr(dm_error_message(), "chan4"));
}

static void expect_error(const char *text, const char *needle)
{
  dm_cutset cs;
  dm_status s = dm_cuts_parse(text, "bad.ini", &cs);
  assert_int_not_equal(s, DM_OK);
  if (!strstr(dm_error_message(), needle))
    fail_msg("message '%s' lacks '%s'", dm_error_message(), needle);
}

static void test_cut_file_errors(void **state)
{
  expect_error("[cut a]\nvariable = ht\nop = >=\nvalue = 1\nfoo = 2\n", "bad.ini:5:");
  expect_error("[cut a]\nvariable = ht\nop = >=\nvalue = 1\nfoo = 2\n", "foo");
  expect_error("[cut a]\nvariable = hT\nop = >=\nvalue = 1\n", "bad.ini:2:");
  expect_error("[cut a]\nvariable = ht\nop = =>\nvalue = 1\n", "bad.ini:3:");
  expect_error("[cut a]\nvariable = ht\nop = >=\nvalue = 6x\n", "bad.ini:4:");
  expect_error("[cut a]\nvariable = ht\nvalue = 1\n", "[cut a] needs variable, op and value");
  expect_error("[cut a]\nvariable = ht\nop = >=\nvalue = 1\ncount_min = 2\n", "mixes");
  expect_error("[cut a]\nobjects = jets\npt_min = 20\n", "count_min");
  expect_error("[cut a]\nobjects = quarks\ncount_min = 1\n", "bad.ini:2:");
  expect_error("[cut a]\nobjects = j\ncount_min = 3\ncount_max = 2\n", "count_max 2 < count_min 3");
  expect_error("[cut a]\nvariable = ht\nop = >=\nvalue = 1\n[cut a]\nvariable = met\n",
               "bad.ini:6:");
  expect_error("[cuts a]\nvariable = ht\n", "unknown section");
  expect_error("[selection]\nname = x\n", "no [cut NAME]");
  /* Found by fuzz_cuts: the name ";x" would be written back as a comment. */
  expect_error("[selection]\nname =;x\n[cut a]\nvariable = ht\nop = >=\nvalue = 1\n",
               "bad.ini:2: [selection]: bad name ';x' (it may not begin with ';'");
  expect_error("[cut a]\nvariable = ht\nvariable = met\n", "given twice");
  dm_cutset cs;
  assert_int_equal(dm_cuts_load("/nonexistent/cuts.ini", &cs), DM_ERR_IO);
  assert_non_null(strstr(dm_error_message(), "/nonexistent/cuts.ini"));
}

static void test_xsum(void **state)
{
  dm_xsum a;
  dm_xsum_clear(&a);
  dm_xsum_add(&a, 1e16);
  dm_xsum_add(&a, 1.0);
  dm_xsum_add(&a, -1e16);
  assert_true(dm_xsum_value(&a) == 1.0); /* plain double sum would give 0 */
  /* Order and grouping do not matter: sum 1000 values of mixed magnitude in
   * two orders and in two halves merged; all bit-identical. Expected value:
   * the terms are k * 2^-10 for k = -500..499, which sum to -500 * 2^-10. */
  dm_xsum f, r, h1, h2;
  dm_xsum_clear(&f);
  dm_xsum_clear(&r);
  dm_xsum_clear(&h1);
  dm_xsum_clear(&h2);
  for (int k = -500; k < 500; k++) {
    dm_xsum_add(&f, ldexp(k, -10));
    dm_xsum_add(&r, ldexp(-1 - k, -10));
    dm_xsum_add(k < 0 ? &h1 : &h2, ldexp(k, -10));
  }
  dm_xsum_merge(&h1, &h2);
  assert_true(dm_xsum_value(&f) == -500.0 / 1024);
  assert_true(dm_xsum_value(&r) == -500.0 / 1024);
  assert_true(dm_xsum_value(&h1) == -500.0 / 1024);
  /* 0.1 ten times: the exact sum of the ten doubles rounds to 1.0000000000000000555
   * -> the double nearest, which is 1.0 (the naive loop gives 0.9999999999999999). */
  dm_xsum t;
  dm_xsum_clear(&t);
  for (int i = 0; i < 10; i++)
    dm_xsum_add(&t, 0.1);
  assert_true(dm_xsum_value(&t) == 1.0);
  /* Tiny and huge magnitudes (inside the exact range 2^-156..2^208), NaN
   * poisoning. */
  dm_xsum g;
  dm_xsum_clear(&g);
  dm_xsum_add(&g, 1e-40);
  dm_xsum_add(&g, 1e60);
  dm_xsum_add(&g, -1e60);
  assert_true(dm_xsum_value(&g) == 1e-40);
  dm_xsum_add(&g, NAN);
  assert_true(isnan(dm_xsum_value(&g)));
}

int main(void)
{
  MPI_Init(NULL, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_physics),        cmocka_unit_test(test_edges),
      cmocka_unit_test(test_chan1_edges),    cmocka_unit_test(test_channel_files),
      cmocka_unit_test(test_cut_file_errors), cmocka_unit_test(test_xsum),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
