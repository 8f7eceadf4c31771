/* dm_csv_parse_line on hand-written lines: every rejection reason, the
 * accepted variants of the format, and values derived by hand. */
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

#include "csv_test_event.h"
#include "csv_test_util.h"
#include "dm_csv.h"

static dm_bad_kind parse(const char *s, dm_csv_event *ev, dm_events *out, int want_double)
{
  return dm_csv_parse_line(s, strlen(s), ev, out, want_double);
}

static dm_bad_kind kind_of(const char *s)
{
  dm_events out = {0};
  dm_csv_event ev;
  dm_bad_kind k = parse(s, &ev, &out, 0);
  csv_test_free_events(&out);
  return k;
}

static void test_example_line(void **state)
{
  /* The example line of the data paper. */
  const char *s = "94;ttbar;1;112288;1.74766;b,331927,147558,-1.44969,-1.76399;"
                  "j,100406,85589,-0.568259,-1.17144;b,55808.8,54391.4,-0.198215,1.726";
  dm_events out = {0};
  dm_csv_event ev;
  assert_int_equal(parse(s, &ev, &out, 1), DM_BAD_NONE);
  assert_int_equal(ev.event_id, 94);
  assert_int_equal(ev.process_len, 5);
  assert_memory_equal(ev.process, "ttbar", 5);
  assert_true(ev.weight == 1.0);
  assert_true(ev.met == 112288.0 / 1000.0);
  assert_true(ev.met_phi == 1.74766);
  assert_int_equal(ev.n_obj, 3);
  assert_int_equal(ev.inexact_float, 0);
  assert_int_equal(out.n_objects, 0); /* the caller commits */
  assert_int_equal(out.type[0], DM_OBJ_BJET);
  assert_int_equal(out.type[1], DM_OBJ_JET);
  assert_int_equal(out.type[2], DM_OBJ_BJET);
  /* GeV is the correctly rounded MeV value divided by 1000 in double. */
  assert_true(out.e_d[0] == 331927.0 / 1000.0);
  assert_true(out.pt_d[0] == 147558.0 / 1000.0);
  assert_true(out.eta_d[0] == -1.44969);
  assert_true(out.phi_d[0] == -1.76399);
  assert_true(out.e_d[2] == 55808.8 / 1000.0);
  assert_true(out.pt_d[2] == 54391.4 / 1000.0);
  assert_true(out.phi_d[2] == 1.726);
  assert_true(out.e[0] == (float)(331927.0 / 1000.0));
  assert_true(out.pt[2] == (float)(54391.4 / 1000.0));
  assert_true(out.eta[1] == -0.568259f);
  csv_test_free_events(&out);
}

static void test_variants(void **state)
{
  dm_events out = {0};
  dm_csv_event ev;
  /* trailing ';', CRLF, both, neither */
  const char *ok[] = {"1;p;1;2;3;j,1,2,3,4", "1;p;1;2;3;j,1,2,3,4;", "1;p;1;2;3;j,1,2,3,4\r",
                      "1;p;1;2;3;j,1,2,3,4;\r", "1;p;1;2;3;j,1,2,3,4;\r\n"};
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    assert_int_equal(parse(ok[i], &ev, &out, 0), DM_BAD_NONE);
    assert_int_equal(ev.n_obj, 1);
    assert_true(out.phi[0] == 4.0f);
    assert_true(out.e[0] == (float)(1.0 / 1000.0));
  }
  /* zero objects */
  assert_int_equal(parse("7;zz;0.5;0;0", &ev, &out, 0), DM_BAD_NONE);
  assert_int_equal(ev.n_obj, 0);
  assert_true(ev.met == 0 && ev.met_phi == 0 && ev.weight == 0.5);
  assert_int_equal(parse("7;zz;0.5;0;0;", &ev, &out, 0), DM_BAD_NONE);
  assert_int_equal(ev.n_obj, 0);
  assert_int_equal(parse("7;zz;0.5;0;0;\r", &ev, &out, 0), DM_BAD_NONE);
  /* legacy codes and every modern one */
  assert_int_equal(parse("1;p;1;0;0;mu-,1,1,0,0;mu+,1,1,0,0;a,1,1,0,0;j,1,1,0,0;b,1,1,0,0;"
                         "e-,1,1,0,0;e+,1,1,0,0;m-,1,1,0,0;m+,1,1,0,0;g,1,1,0,0",
                         &ev, &out, 0),
                   DM_BAD_NONE);
  const int want[] = {DM_OBJ_MUMINUS, DM_OBJ_MUPLUS,  DM_OBJ_PHOTON,  DM_OBJ_JET,
                      DM_OBJ_BJET,    DM_OBJ_EMINUS,  DM_OBJ_EPLUS,   DM_OBJ_MUMINUS,
                      DM_OBJ_MUPLUS,  DM_OBJ_PHOTON};
  assert_int_equal(ev.n_obj, 10);
  for (int i = 0; i < 10; i++)
    assert_int_equal(out.type[i], want[i]);
  /* negative and large event IDs, %g-style integral ID, leading '+' */
  assert_int_equal(parse("-5;p;1;0;0", &ev, &out, 0), DM_BAD_NONE);
  assert_int_equal(ev.event_id, -5);
  assert_int_equal(parse("9223372036854775807;p;1;0;0", &ev, &out, 0), DM_BAD_NONE);
  assert_true(ev.event_id == INT64_MAX);
  assert_int_equal(parse("-9223372036854775808;p;1;0;0", &ev, &out, 0), DM_BAD_NONE);
  assert_true(ev.event_id == INT64_MIN);
  assert_int_equal(parse("1e+06;p;1;0;0", &ev, &out, 0), DM_BAD_NONE);
  assert_int_equal(ev.event_id, 1000000);
  assert_int_equal(parse("+12;p;+1;+2;-0;j,+1,+2,-3,+4", &ev, &out, 0), DM_BAD_NONE);
  assert_int_equal(ev.event_id, 12);
  assert_true(out.eta[0] == -3.0f);
  /* exponents of every shape */
  assert_int_equal(parse("1;p;2.9748e-08;1e+06;-1.5E-3;j,1.20431e+06,5E4,1e-7,-2.5e0", &ev, &out,
                         1),
                   DM_BAD_NONE);
  assert_true(ev.weight == 2.9748e-08);
  assert_true(ev.met == 1000.0);
  assert_true(ev.met_phi == -1.5e-3);
  assert_true(out.e_d[0] == 1.20431e+06 / 1000.0);
  assert_true(out.pt_d[0] == 50.0);
  assert_true(out.eta_d[0] == 1e-7);
  assert_true(out.phi_d[0] == -2.5);
  /* ".5" and "5." are numbers */
  assert_int_equal(parse("1;p;.5;5.;0;j,.25,1.,0,0", &ev, &out, 0), DM_BAD_NONE);
  assert_true(ev.weight == 0.5 && ev.met == 5.0 / 1000.0);
  csv_test_free_events(&out);
}

static void test_many_objects(void **state)
{
  /* 25 objects, appended after objects already committed: arrays grow. */
  dm_events out = {0};
  dm_csv_event ev;
  char line[8192];
  int n = 0;
  n += snprintf(line + n, sizeof line - n, "3;njets;64902.8;0;0");
  for (int i = 0; i < 25; i++)
    n += snprintf(line + n, sizeof line - n, ";j,%d,%d.5,0.%d,-%d", 1000 + i, 2000 + i, i, i % 3);
  for (int rep = 0; rep < 200; rep++) {
    assert_int_equal(dm_csv_parse_line(line, (size_t)n, &ev, &out, rep % 2), DM_BAD_NONE);
    assert_int_equal(ev.n_obj, 25);
    for (int i = 0; i < 25; i++) {
      int64_t k = out.n_objects + i;
      assert_true(out.e[k] == (float)((1000.0 + i) / 1000.0));
      assert_true(out.pt[k] == (float)((2000.5 + i) / 1000.0));
    }
    out.n_objects += ev.n_obj; /* commit */
  }
  assert_true(out.cap_objects >= 5000);
  /* Earlier objects survived the growth. */
  assert_true(out.e[0] == 1.0f && out.e[4999] == (float)(1024.0 / 1000.0));
  csv_test_free_events(&out);
}

static void test_inexact_count(void **state)
{
  dm_events out = {0};
  dm_csv_event ev;
  /* weight digits are not counted (float64); 7+ significant digits are;
   * trailing zeros and leading zeros are not significant. */
  assert_int_equal(parse("1;p;1.234567891;1234567;0.001234567;"
                         "j,1000000,123456,0.000123456,1.2345670",
                         &ev, &out, 0),
                   DM_BAD_NONE);
  assert_int_equal(ev.inexact_float, 3);
  assert_int_equal(parse("1;p;1;1;1;j,1.0000001,1,1,12345678901234567890123", &ev, &out, 0),
                   DM_BAD_NONE);
  assert_int_equal(ev.inexact_float, 2);
  csv_test_free_events(&out);
}

static void test_bad_kinds(void **state)
{
  struct {
    const char *line;
    dm_bad_kind want;
  } cases[] = {
      {"", DM_BAD_FIELD_COUNT},
      {"\r", DM_BAD_FIELD_COUNT},
      {"1", DM_BAD_FIELD_COUNT},
      {"1;p", DM_BAD_FIELD_COUNT},
      {"1;p;1", DM_BAD_FIELD_COUNT},
      {"1;p;1;2", DM_BAD_FIELD_COUNT},
      {"1;p;1;2;", DM_BAD_NUMBER}, /* empty METphi */
      {"1,p,1,2,3", DM_BAD_FIELD_COUNT},
      {"1;p,q;1;2;3", DM_BAD_FIELD_COUNT},
      {"1;p;1;2;3;j,1,2,3", DM_BAD_FIELD_COUNT},
      {"1;p;1;2;3;j,1,2,3,4,5", DM_BAD_FIELD_COUNT},
      {"1;p;1;2;3;j,1,2,3,4;;", DM_BAD_FIELD_COUNT},
      {"1;p;1;2;3;;j,1,2,3,4", DM_BAD_FIELD_COUNT},
      {"1;p;1;2;3;j;j,1,2,3,4", DM_BAD_FIELD_COUNT},
      {"1;p;1;2;3;j,1,2,3,4;x", DM_BAD_FIELD_COUNT},
      {"1;p;1;2;3;j,1,2;3,4", DM_BAD_FIELD_COUNT},
      {"1;p;1;2;3;4", DM_BAD_FIELD_COUNT},
      {"x;p;1;2;3", DM_BAD_NUMBER},
      {"1.5;p;1;2;3", DM_BAD_NUMBER},
      {"99999999999999999999;p;1;2;3", DM_BAD_NUMBER},
      {"1;p;1x;2;3", DM_BAD_NUMBER},
      {"1;p;1;2;3 ", DM_BAD_NUMBER},
      {"1;p; 1;2;3", DM_BAD_NUMBER},
      {"1;p;1;2;3;j,1,2,3,4\r\r", DM_BAD_NUMBER},
      {"1;p;1;2;3;j,1e,2,3,4", DM_BAD_NUMBER},
      {"1;p;1;2;3;j,1e+,2,3,4", DM_BAD_NUMBER},
      {"1;p;1;2;3;j,1,--2,3,4", DM_BAD_NUMBER},
      {"1;p;1;2;3;j,1,2,.,4", DM_BAD_NUMBER},
      {"1;p;1;2;3;j,1,2,3,0x4", DM_BAD_NUMBER},
      {"1;p;1;2;3;j,1,2,3,1.2.3", DM_BAD_NUMBER},
      {"1;p;nan;2;3", DM_BAD_NONFINITE},
      {"1;p;1;inf;3", DM_BAD_NONFINITE},
      {"1;p;1;2;-Infinity", DM_BAD_NONFINITE},
      {"1;p;1;2;3;j,NaN,2,3,4", DM_BAD_NONFINITE},
      {"1;p;1e309;2;3", DM_BAD_NONFINITE},
      {"1;p;1;2;3;j,1,2,-1.8e308,4", DM_BAD_NONFINITE},
      {"1;p;1;2;3;j,1,2,1e39,4", DM_BAD_NONFINITE}, /* beyond float32 */
      {"1;p;1;2;3;x,1,2,3,4", DM_BAD_OBJECT_CODE},
      {"1;p;1;2;3;J,1,2,3,4", DM_BAD_OBJECT_CODE},
      {"1;p;1;2;3;mu,1,2,3,4", DM_BAD_OBJECT_CODE},
      {"1;p;1;2;3;e,1,2,3,4", DM_BAD_OBJECT_CODE},
      {"1;p;1;2;3;,1,2,3,4", DM_BAD_OBJECT_CODE},
      {"1;p;1;2;3;j,1,2,3,4;mu*,1,2,3,4", DM_BAD_OBJECT_CODE},
      {"1;;1;2;3", DM_BAD_EMPTY_PROCESS},
      {"1;p\tq;1;2;3", DM_BAD_EMPTY_PROCESS},
      {"1;\x7f;1;2;3", DM_BAD_EMPTY_PROCESS},
      {"1;p\r;1;2;3", DM_BAD_EMPTY_PROCESS},
      {"1;;1;2;3;j,1,2,3,4", DM_BAD_EMPTY_PROCESS},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    dm_bad_kind k = kind_of(cases[i].line);
    if (k != cases[i].want)
      fail_msg("line \"%s\": got %s, want %s", cases[i].line, dm_bad_kind_name(k),
               dm_bad_kind_name(cases[i].want));
  }
  /* A value beyond float32 is fine for a float64 store. */
  dm_events out = {0};
  dm_csv_event ev;
  assert_int_equal(parse("1;p;1;2;3;j,1,2,1e39,4", &ev, &out, 1), DM_BAD_NONE);
  assert_true(out.eta_d[0] == 1e39);
  csv_test_free_events(&out);
  /* Names are distinct and stable. */
  assert_string_equal(dm_bad_kind_name(DM_BAD_FIELD_COUNT), "field-count");
  assert_string_equal(dm_bad_kind_name(DM_BAD_TOO_MANY_OBJECTS), "too-many-objects");
  for (int a = 0; a < DM_BAD_NKINDS; a++)
    for (int b = a + 1; b < DM_BAD_NKINDS; b++)
      assert_string_not_equal(dm_bad_kind_name(a), dm_bad_kind_name(b));
}

static void test_too_many_objects(void **state)
{
  /* 65535 objects are accepted, 65536 are not. */
  size_t cap = 16 + 65536 * 10 + 16;
  char *line = malloc(cap);
  assert_non_null(line);
  size_t n = (size_t)snprintf(line, cap, "1;p;1;0;0");
  for (int i = 0; i < 65535; i++) {
    memcpy(line + n, ";j,1,2,3,4", 10);
    n += 10;
  }
  dm_events out = {0};
  dm_csv_event ev;
  assert_int_equal(dm_csv_parse_line(line, n, &ev, &out, 0), DM_BAD_NONE);
  assert_int_equal(ev.n_obj, 65535);
  memcpy(line + n, ";j,1,2,3,4", 10);
  n += 10;
  assert_int_equal(dm_csv_parse_line(line, n, &ev, &out, 0), DM_BAD_TOO_MANY_OBJECTS);
  free(line);
  csv_test_free_events(&out);
}

static void test_reserve(void **state)
{
  /* After dm_csv_reserve, parsing does not reallocate. */
  dm_events out = {0};
  dm_csv_event ev;
  const char *s = "1;p;1;0;0;j,1,2,3,4;b,1,2,3,4";
  assert_int_equal(dm_csv_reserve(&out, (int64_t)strlen(s) / 10 + 1, 1), DM_OK);
  float *e = out.e;
  double *ed = out.e_d;
  assert_int_equal(parse(s, &ev, &out, 1), DM_BAD_NONE);
  assert_ptr_equal(out.e, e);
  assert_ptr_equal(out.e_d, ed);
  csv_test_free_events(&out);
}

static void test_print(void **state)
{
  /* Legacy codes come back in today's spelling; float32 values print at 6
   * digits in MeV; the trailing ';' is the caller's choice. Expected text
   * written by hand. */
  dm_events out = {0};
  dm_csv_event ev;
  csv_test_one one;
  char buf[256];
  const char *in = "-42;ttbar;2527.06;23515.8;1.55555;mu-,1.20431e+06,85589,-0.568259,-1.17144;"
                   "a,32211.1,25096.8,-0.706384,0.259229;b,1e+06,2.5e-3,0,-0\r";
  assert_int_equal(parse(in, &ev, &out, 0), DM_BAD_NONE);
  csv_test_one_set(&one, &ev, &out);
  size_t n = dm_csv_format_event(&one.ev, 0, one.process, 0, 1, buf, sizeof buf);
  const char *want = "-42;ttbar;2527.06;23515.8;1.55555;m-,1.20431e+06,85589,-0.568259,-1.17144;"
                     "g,32211.1,25096.8,-0.706384,0.259229;b,1e+06,0.0025,0,-0;\n";
  assert_int_equal(n, strlen(want));
  assert_memory_equal(buf, want, n);
  n = dm_csv_format_event(&one.ev, 0, one.process, 0, 0, buf, sizeof buf);
  assert_int_equal(n, strlen(want) - 1);
  assert_memory_equal(buf, want, n - 1);
  assert_int_equal(buf[n - 1], '\n');
  /* Too small a buffer: 0, for every size below the need. */
  for (size_t cap = 0; cap < n; cap++)
    assert_int_equal(dm_csv_format_event(&one.ev, 0, one.process, 0, 0, buf, cap), 0);
  /* %g cases by hand */
  char g[32];
  struct {
    double v;
    int d;
    const char *want;
  } cases[] = {{112288.0, 6, "112288"}, {1204310.0, 6, "1.20431e+06"}, {0.0001, 6, "0.0001"},
               {0.00001, 6, "1e-05"},   {-0.5, 6, "-0.5"},             {2.5, 1, "2"},
               {3.5, 1, "4"},           {999999.5, 6, "1e+06"},        {1e100, 3, "1e+100"},
               {0.1, 17, "0.10000000000000001"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t m = dm_csv_format_g(cases[i].v, cases[i].d, g);
    g[m] = '\0';
    assert_string_equal(g, cases[i].want);
  }
  size_t m = dm_csv_format_shortest(0.1, 1.0, g);
  g[m] = '\0';
  assert_string_equal(g, "0.1");
  m = dm_csv_format_shortest(55808.8 / 1000.0, 1000.0, g);
  g[m] = '\0';
  assert_string_equal(g, "55808.8");
  csv_test_free_events(&out);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_example_line), cmocka_unit_test(test_variants),
      cmocka_unit_test(test_many_objects), cmocka_unit_test(test_inexact_count),
      cmocka_unit_test(test_bad_kinds),    cmocka_unit_test(test_too_many_objects),
      cmocka_unit_test(test_reserve),      cmocka_unit_test(test_print),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
