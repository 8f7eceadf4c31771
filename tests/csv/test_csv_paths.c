/* The parser's short paths (SSE2, one or two numbers at a time) against the
 * independent reference, on synthetic lines built to reach every branch of
 * them: numbers of 1 to 20 bytes with and without '-', '+', '.', exponent
 * and more than 6 significant digits; 9- and 10-byte fields (0.0820042,
 * -0.0820042); fields within the first 17 bytes of a line; lines of every
 * length around the 64-byte blocks; process names with a control byte at
 * each position. Each line sits in an exactly sized heap block and the
 * parser's sources are built with AddressSanitizer and UBSan, so a read
 * outside the line stops the test. Checked: accept or reject as the
 * reference says, the values (bit for bit as doubles, and the float
 * arrays), and the count of values printed with more than 6 significant
 * digits, which the test counts itself from the text it wrote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_test_util.h"
#include "dm_csv.h"
#include "dm_rng.h"

#define SEED 40961u
#define LINES 200000

typedef struct {
  char s[4096];
  size_t n;
  int over6; /* values (not the weight) with more than 6 significant digits */
} line_buf;

static void put(line_buf *b, const char *s)
{
  size_t m = strlen(s);
  assert_true(b->n + m < sizeof b->s);
  memcpy(b->s + b->n, s, m);
  b->n += m;
}

/* More than 6 significant digits in the mantissa of t: first to last
 * non-zero digit, before any exponent. */
static int more_than_6(const char *t)
{
  char d[64];
  int nd = 0;
  for (const char *p = t; *p && *p != 'e' && *p != 'E'; p++)
    if (*p >= '0' && *p <= '9')
      d[nd++] = *p;
  int i = 0, j = nd;
  while (i < nd && d[i] == '0')
    i++;
  while (j > i && d[j - 1] == '0')
    j--;
  return j - i > 6;
}

static void digits(dm_rng *r, char *o, int n)
{
  for (int i = 0; i < n; i++)
    o[i] = (char)('0' + dm_rng_below(r, 10));
  o[n] = '\0';
}

/* A number token of one of many shapes (at most 18 digits, so that the
 * significant-digit rule above is the parser's). Mostly well-formed. */
static void number(dm_rng *r, char *t)
{
  uint64_t sg = dm_rng_below(r, 12);
  const char *sign = sg < 4 ? "-" : sg == 4 ? "+" : "";
  char d[24], e[8];
  switch (dm_rng_below(r, 12)) {
  case 0:
  case 1:
  case 2: /* the archive's %g, magnitudes of MeV energies and angles */
    snprintf(t, 64, "%s%.*g", sign, 1 + (int)dm_rng_below(r, 9),
             pow(10.0, -7.0 + 16.0 * dm_rng_uniform(r)));
    break;
  case 3: /* fixed point, up to 9 decimals: 9-, 10- and longer fields */
    snprintf(t, 64, "%s%.*f", sign, (int)dm_rng_below(r, 10),
             pow(10.0, -3.0 + 9.0 * dm_rng_uniform(r)));
    break;
  case 4: /* the 9- and 10-byte shapes of |eta| < 0.1 */
    digits(r, d, 5 + (int)dm_rng_below(r, 3));
    snprintf(t, 64, "%s0.0%s", sign, d);
    break;
  case 5: { /* a digit string of 1..18 with a '.' anywhere, or none */
    int n = 1 + (int)dm_rng_below(r, 18), at = (int)dm_rng_below(r, (uint64_t)n + 2);
    digits(r, d, n);
    if (at > n)
      snprintf(t, 64, "%s%s", sign, d);
    else
      snprintf(t, 64, "%s%.*s.%s", sign, at, d, d + at);
    break;
  }
  case 6: /* exponent forms */
    digits(r, d, 1 + (int)dm_rng_below(r, 7));
    digits(r, e, 1 + (int)dm_rng_below(r, 3));
    snprintf(t, 64, "%s%c.%s%c%s%s", sign, d[0] == '0' ? '1' : d[0], d + 1,
             dm_rng_below(r, 2) ? 'e' : 'E', dm_rng_below(r, 2) ? "-" : "+", e);
    break;
  case 7: { /* small and odd spellings */
    static const char *const odd[] = {"0", "-0", ".5", "5.", "-.5", "+3", "+0.25", "00012.50",
                                      "7", "-1", "999999", "1000000", "1234567", "0.000123457"};
    snprintf(t, 64, "%s", odd[dm_rng_below(r, sizeof odd / sizeof *odd)]);
    break;
  }
  case 8: /* exactly 8 digits around a '.', and 7-digit integers */
    digits(r, d, 8);
    if (dm_rng_below(r, 2))
      snprintf(t, 64, "%s%.3s.%s", sign, d, d + 3);
    else
      snprintf(t, 64, "%s%.7s", sign, d);
    break;
  case 9: /* rare junk: the line must be rejected */
    if (dm_rng_below(r, 8) == 0) {
      static const char *const bad[] = {"", ".", "-", "1.2.3", "--1", "1e", "1e+", "nan",
                                        "inf", "0x1", "1 ", " 1", "1-", "1,"};
      snprintf(t, 64, "%s", bad[dm_rng_below(r, sizeof bad / sizeof *bad)]);
      break;
    }
    /* fall through */
  default: /* the archive's own 6 digits */
    snprintf(t, 64, "%s%.6g", sign, pow(10.0, -2.0 + 8.0 * dm_rng_uniform(r)));
    break;
  }
}

static void value(dm_rng *r, line_buf *b, int counted)
{
  char t[64];
  number(r, t);
  put(b, t);
  b->over6 += counted && more_than_6(t);
}

static void make_line(dm_rng *r, line_buf *b)
{
  char t[96];
  b->n = 0;
  b->over6 = 0;
  switch (dm_rng_below(r, 16)) { /* event ID */
  case 0:
    snprintf(t, sizeof t, "%lld", (long long)(dm_rng_u64(r) >> 1));
    break;
  case 1:
    snprintf(t, sizeof t, "-%d", (int)dm_rng_below(r, 100000));
    break;
  case 2:
    snprintf(t, sizeof t, "%.6g", (double)dm_rng_below(r, 1000) * 1e4);
    break;
  case 3:
    snprintf(t, sizeof t, "+%d", (int)dm_rng_below(r, 100));
    break;
  default:
    snprintf(t, sizeof t, "%d", (int)dm_rng_below(r, 1000000));
    break;
  }
  put(b, t);
  put(b, ";");
  /* process name, 1..40 bytes, now and then a control byte or a ',' */
  static const char cs[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789_.-+ ";
  int pn = 1 + (int)dm_rng_below(r, 40);
  for (int i = 0; i < pn; i++)
    t[i] = cs[dm_rng_below(r, sizeof cs - 1)];
  if (dm_rng_below(r, 40) == 0)
    t[dm_rng_below(r, (uint64_t)pn)] = dm_rng_below(r, 4) ? (char)(1 + dm_rng_below(r, 31)) : 0x7f;
  if (dm_rng_below(r, 200) == 0)
    t[dm_rng_below(r, (uint64_t)pn)] = ',';
  t[pn] = '\0';
  put(b, t);
  put(b, ";");
  value(r, b, 0);
  put(b, ";");
  value(r, b, 1);
  put(b, ";");
  value(r, b, 1);
  static const char *const codes[] = {"j", "b", "e-", "e+", "m-", "m+", "g", "mu-", "mu+", "a"};
  int nobj = dm_rng_below(r, 4) ? (int)dm_rng_below(r, 9) : (int)dm_rng_below(r, 26);
  for (int o = 0; o < nobj; o++) {
    put(b, ";");
    put(b, dm_rng_below(r, 500) ? codes[dm_rng_below(r, 10)] : "x");
    for (int v = 0; v < 4; v++) {
      put(b, ",");
      value(r, b, 1);
    }
  }
  if (dm_rng_below(r, 2))
    put(b, ";");
  if (dm_rng_below(r, 20) == 0)
    put(b, "\r");
}

static int same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Parses [s, s + n) from an exactly sized copy and compares with the
 * reference. over6 < 0: do not check the count. Returns 1 if accepted. */
static int check(const char *s, size_t n, int want_double, int over6, dm_events *objs)
{
  char *exact = malloc(n ? n : 1);
  assert_non_null(exact);
  memcpy(exact, s, n);
  dm_csv_event ev;
  dm_bad_kind k = dm_csv_parse_line(exact, n, &ev, objs, want_double);
  csv_ref_event ref;
  int ref_ok = csv_ref_parse(exact, n, want_double, &ref);
  if ((k == DM_BAD_NONE) != ref_ok)
    fail_msg("parser says %s, reference says %s, for: \"%.*s\"", dm_bad_kind_name(k),
             ref_ok ? "accept" : "reject", (int)n, s);
  if (k == DM_BAD_NONE) {
    if (!(ev.event_id == ref.id && ev.n_obj == ref.n_obj && same_double(ev.weight, ref.weight) &&
          same_double(ev.met, ref.met) && same_double(ev.met_phi, ref.met_phi)))
      fail_msg("header differs for: \"%.*s\"", (int)n, s);
    for (int j = 0; j < ev.n_obj; j++) {
      int64_t q = objs->n_objects + j;
      int ok = objs->type[q] == ref.type[j] && objs->e[q] == (float)ref.e[j] &&
               objs->pt[q] == (float)ref.pt[j] && objs->eta[q] == (float)ref.eta[j] &&
               objs->phi[q] == (float)ref.phi[j];
      if (want_double)
        ok = ok && same_double(objs->e_d[q], ref.e[j]) && same_double(objs->pt_d[q], ref.pt[j]) &&
             same_double(objs->eta_d[q], ref.eta[j]) && same_double(objs->phi_d[q], ref.phi[j]);
      if (!ok)
        fail_msg("object %d differs for: \"%.*s\"", j, (int)n, s);
    }
    if (over6 >= 0 && ev.inexact_float != over6)
      fail_msg("%d values over 6 digits, parser counts %d, in: \"%.*s\"", over6, ev.inexact_float,
               (int)n, s);
  }
  csv_ref_free(&ref);
  free(exact);
  return k == DM_BAD_NONE;
}

static void test_random_lines(void **state)
{
  (void)state;
  dm_rng r;
  dm_rng_init(&r, SEED, 0, 0);
  dm_events objs = {0};
  static line_buf b;
  long accepted = 0, short_lines = 0, counted = 0;
  for (int it = 0; it < LINES; it++) {
    make_line(&r, &b);
    int ok = check(b.s, b.n, it & 1, b.over6, &objs);
    accepted += ok;
    short_lines += ok && b.n < 64;
    counted += ok && b.over6 > 0;
  }
  printf("paths: %d lines, %ld accepted, %ld of them under 64 bytes, %ld with values over 6 "
         "digits\n",
         LINES, accepted, short_lines, counted);
  /* The generator reaches what it is for. */
  assert_true(accepted > LINES / 4);
  assert_true(short_lines > 1000);
  assert_true(counted > 1000);
  csv_test_free_events(&objs);
}

/* Every line length from 9 to 300 bytes (the name grows), with numbers of
 * the short shapes right at the start and at the end of the line. */
static void test_lengths(void **state)
{
  (void)state;
  dm_events objs = {0};
  static line_buf b;
  const char *tails[] = {"", ";j,1,2,3,4", ";b,-0.0820042,0.0820042,-1.44969,1.726;",
                         ";e-,331927,147558,-0.568259,-2.88681"};
  for (size_t t = 0; t < sizeof tails / sizeof *tails; t++)
    for (int pn = 1; pn < 260; pn++) {
      b.n = 0;
      put(&b, "7;");
      for (int i = 0; i < pn; i++)
        put(&b, "p");
      put(&b, ";-2.5;62628.9;-0.1");
      put(&b, tails[t]);
      assert_true(check(b.s, b.n, pn & 1, 0, &objs));
      /* the same with the short header fields first in the line */
      b.n = 0;
      put(&b, "1;p;-1;0.5;3");
      for (int i = 0; i < pn / 10; i++)
        put(&b, ";j,2.5,-0.75,1234.5,-6");
      put(&b, tails[t]);
      assert_true(check(b.s, b.n, pn & 1, 0, &objs));
    }
  csv_test_free_events(&objs);
}

/* A control byte at each position of names of 1..70 bytes is refused; the
 * same names without it are accepted. */
static void test_control_bytes(void **state)
{
  (void)state;
  dm_events objs = {0};
  static line_buf b;
  for (int pn = 1; pn <= 70; pn++)
    for (int at = -1; at < pn; at++) {
      char name[80];
      memset(name, 'q', (size_t)pn);
      name[pn] = '\0';
      if (at >= 0)
        name[at] = (at & 1) ? 0x7f : '\t';
      b.n = 0;
      put(&b, "123;");
      put(&b, name);
      put(&b, ";1;2;3;j,1,2,3,4");
      char *exact = malloc(b.n);
      assert_non_null(exact);
      memcpy(exact, b.s, b.n);
      dm_csv_event ev;
      dm_bad_kind k = dm_csv_parse_line(exact, b.n, &ev, &objs, 0);
      free(exact);
      assert_int_equal(k, at >= 0 ? DM_BAD_EMPTY_PROCESS : DM_BAD_NONE);
    }
  csv_test_free_events(&objs);
}

int main(void)
{
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_random_lines),
                                     cmocka_unit_test(test_lengths),
                                     cmocka_unit_test(test_control_bytes)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
