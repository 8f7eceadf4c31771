/* Number conversion exactness. The parser must give the same double as
 * glibc's strtod (correct rounding) and the %g printer the same text as
 * glibc's snprintf, on millions of seeded random inputs and known hard
 * cases. glibc is the independent reference here. */
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

#include "dm_csv.h"
#include "dm_rng.h"

#define SEED 20240611u

static int same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Compare one token against strtod; fail with the token on mismatch. */
static void check_token(const char *tok)
{
  char *endp;
  double want = strtod(tok, &endp);
  if (*endp != '\0')
    fail_msg("reference did not consume \"%s\"", tok);
  double got = 12345.0;
  dm_bad_kind k = dm_csv_parse_number(tok, strlen(tok), &got);
  if (!isfinite(want)) {
    if (k != DM_BAD_NONFINITE)
      fail_msg("\"%s\": want non-finite, got %s", tok, dm_bad_kind_name(k));
    return;
  }
  if (k != DM_BAD_NONE)
    fail_msg("\"%s\": rejected as %s", tok, dm_bad_kind_name(k));
  if (!same_double(got, want))
    fail_msg("\"%s\": got %.17g want %.17g", tok, got, want);
}

static void test_edge_numbers(void **state)
{
  const char *toks[] = {
      "0", "-0", "+0", "0.0", "00000", "0e0", "0e999999", "-0.000", "1", "-1", "+1",
      "0.1", "0.2", "0.3", "1e22", "1e23", "9e22", "1.5e22", "123456789e15",
      "9007199254740992", "9007199254740993", "9007199254740994", "9007199254740995",
      "18446744073709551615", "18446744073709551616", "99999999999999999999",
      "1234567890123456789", "12345678901234567890", "0.12345678901234567890123",
      "4.9406564584124654e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
      "2.2250738585072011e-308", "2.2250738585072014e-308", "1.7976931348623157e308",
      "1.7976931348623158e308", "1.7976931348623159e308", "1e308", "1e309", "1e-400",
      "8.98846567431158e307", "2.9748e-08", "1e+06", "1.20431e+06", "331927", "-1.44969",
      "0.000564702", "5.", ".5", "-.5e1", "1E5", "1e-5", "1e-22", "1e-23", "3.0e-22",
      "7.2057594037927933e16", "123456.7e-3", "0.0000000000000000000000000000001234",
      "1000000000000000000000000000000", "4503599627370497.5", "4503599627370496.5",
      "2.0000000000000004", "1.00000000000000011102230246251565404236316680908203125",
      "1.00000000000000011102230246251565404236316680908203124",
      "1.00000000000000011102230246251565404236316680908203126"};
  for (size_t i = 0; i < sizeof toks / sizeof *toks; i++)
    check_token(toks[i]);
  const char *bad[] = {"", "-", "+", ".", "e5", "1e", "1e+", "1..2", "1.2.3", "1 ", " 1", "0x10",
                       "1,5", "--1", "1e5.5", "1f", "infx1"};
  double v;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    if (dm_csv_parse_number(bad[i], strlen(bad[i]), &v) != DM_BAD_NUMBER)
      fail_msg("\"%s\" should be unparsable", bad[i]);
  const char *nonfinite[] = {"nan", "NaN", "-nan", "inf", "-inf", "Infinity", "+INF", "1e400",
                             "-2e308"};
  for (size_t i = 0; i < sizeof nonfinite / sizeof *nonfinite; i++)
    if (dm_csv_parse_number(nonfinite[i], strlen(nonfinite[i]), &v) != DM_BAD_NONFINITE)
      fail_msg("\"%s\" should be non-finite", nonfinite[i]);
}

/* Random doubles: the float32 values a store keeps (scaled back to MeV),
 * wide-range doubles, and raw bit patterns. */
static double random_double(dm_rng *r, int kind)
{
  switch (kind) {
  case 0: { /* physics-like: MeV energies and angles */
    double v = exp(dm_rng_uniform(r) * 16.0 - 2.0);
    if (dm_rng_below(r, 2))
      v = -v;
    return v;
  }
  case 1: { /* a float32 GeV value printed in MeV */
    float f = (float)(exp(dm_rng_uniform(r) * 20.0 - 8.0));
    return (double)f * 1000.0;
  }
  case 2: /* wide range */
    return ldexp(dm_rng_uniform(r) + 0.5, (int)dm_rng_below(r, 400) - 200);
  default: { /* any finite bit pattern */
    for (;;) {
      uint64_t b = dm_rng_u64(r);
      double v;
      memcpy(&v, &b, sizeof v);
      if (isfinite(v))
        return v;
    }
  }
  }
}

static void test_parse_random_g(void **state)
{
  /* 2 million %.Ng-printed doubles (N = 1..17), every kind. */
  dm_rng r;
  dm_rng_init(&r, SEED, 1, 0);
  char tok[64];
  for (int i = 0; i < 2000000; i++) {
    double v = random_double(&r, i % 4);
    int digits = 1 + (int)dm_rng_below(&r, 17);
    snprintf(tok, sizeof tok, "%.*g", digits, v);
    check_token(tok);
  }
}

static void test_parse_random_text(void **state)
{
  /* 1 million hand-built tokens: random digit strings, point positions,
   * leading zeros, explicit signs, exponent spellings. */
  dm_rng r;
  dm_rng_init(&r, SEED, 2, 0);
  char tok[128];
  for (int i = 0; i < 1000000; i++) {
    char *o = tok;
    switch (dm_rng_below(&r, 3)) {
    case 0: *o++ = '-'; break;
    case 1: if (dm_rng_below(&r, 4) == 0) *o++ = '+'; break;
    default: break;
    }
    int nlead = dm_rng_below(&r, 4) == 0 ? (int)dm_rng_below(&r, 5) : 0;
    int ndig = 1 + (int)dm_rng_below(&r, i % 10 == 0 ? 30 : 9);
    int point = (int)dm_rng_below(&r, (uint64_t)(nlead + ndig + 2)) - 1; /* -1: no point */
    int pos = 0;
    for (int j = 0; j < nlead + ndig; j++, pos++) {
      if (pos == point)
        *o++ = '.';
      *o++ = j < nlead ? '0' : (char)('0' + dm_rng_below(&r, 10));
    }
    if (point == pos && pos > 0)
      *o++ = '.';
    if (dm_rng_below(&r, 2)) {
      *o++ = dm_rng_below(&r, 2) ? 'e' : 'E';
      int ex = (int)dm_rng_below(&r, i % 7 == 0 ? 700 : 60) - (i % 7 == 0 ? 350 : 30);
      o += sprintf(o, dm_rng_below(&r, 2) ? "%+d" : "%d", ex);
    }
    *o = '\0';
    check_token(tok);
  }
}

static void check_g(double v, int digits)
{
  char want[64], got[64];
  snprintf(want, sizeof want, "%.*g", digits, v);
  size_t n = dm_csv_format_g(v, digits, got);
  got[n] = '\0';
  if (strcmp(got, want) != 0)
    fail_msg("%.*g of %a: got \"%s\" want \"%s\"", digits, v, v, got, want);
}

static void test_format_g(void **state)
{
  const double edge[] = {0.0,    -0.0,   1.0,     -1.0,    0.5,     2.5,      0.25,   1234565.0,
                         999999.5, 9999995.0, 0.00001, 0.0001, 0.001234565, 1e-5, 99999.95,
                         123456.5, 1e21, 1e22, 1e23, 5e-324, 1.7976931348623157e308, 1e100,
                         1e-100, 9.9999949999999999e-5, 0.000099999950000000001, 100000.0,
                         999999.0, 1e6, 1e15, 1e16, 1e17, 123456789012345678.0};
  for (size_t i = 0; i < sizeof edge / sizeof *edge; i++)
    for (int d = 1; d <= 17; d++)
      check_g(edge[i], d);
  /* Ties at 6 digits: x.5 in the 7th digit, exactly representable. */
  for (int i = 0; i < 100000; i++) {
    check_g(1000000.0 + i * 10 + 5, 6);
    check_g((2000001.0 + 2 * i) / 2.0, 6);
  }
  dm_rng r;
  dm_rng_init(&r, SEED, 3, 0);
  /* 3 million at %.6g (the float32 export) and 1 million at random digits. */
  for (int i = 0; i < 3000000; i++)
    check_g(random_double(&r, i % 4 == 3 ? 2 : i % 3), 6);
  for (int i = 0; i < 1000000; i++)
    check_g(random_double(&r, i % 4), 1 + (int)dm_rng_below(&r, 17));
}

/* Significant digits of a %g text (mantissa digits, leading zeros not
 * counted). */
static int sig_digits(const char *s)
{
  int n = 0, started = 0;
  for (; *s && *s != 'e'; s++) {
    if (*s < '0' || *s > '9')
      continue;
    started |= *s != '0';
    n += started;
  }
  return n;
}

static void test_shortest(void **state)
{
  dm_rng r;
  dm_rng_init(&r, SEED, 4, 0);
  char buf[64], ref[64];
  for (int i = 0; i < 1000000; i++) {
    double v = random_double(&r, i % 4);
    size_t n = dm_csv_format_shortest(v, 1.0, buf);
    buf[n] = '\0';
    if (strtod(buf, NULL) != v)
      fail_msg("shortest of %a: \"%s\" does not give it back", v, buf);
    /* At most 17 significant digits, and no %.15g / %.16g text with fewer
     * digits that also gives v back was missed. */
    int mine = sig_digits(buf);
    assert_true(mine <= 17);
    for (int d = 15; d <= 16; d++) {
      snprintf(ref, sizeof ref, "%.*g", d, v);
      if (strtod(ref, NULL) == v && sig_digits(ref) < mine)
        fail_msg("%a: \"%s\" has fewer digits than \"%s\"", v, ref, buf);
    }
  }
  /* Scaled: a GeV value that came from a decimal MeV text prints in MeV and
   * parses back, /1000, to the same GeV double. */
  for (int i = 0; i < 1000000; i++) {
    char mev[64];
    snprintf(mev, sizeof mev, "%.*g", 1 + (int)dm_rng_below(&r, 17), random_double(&r, i % 3));
    double gev = strtod(mev, NULL) / 1000.0;
    size_t n = dm_csv_format_shortest(gev, 1000.0, buf);
    buf[n] = '\0';
    if (strtod(buf, NULL) / 1000.0 != gev)
      fail_msg("GeV %a from \"%s\": \"%s\" does not give it back", gev, mev, buf);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_edge_numbers), cmocka_unit_test(test_parse_random_g),
      cmocka_unit_test(test_parse_random_text), cmocka_unit_test(test_format_g),
      cmocka_unit_test(test_shortest),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
