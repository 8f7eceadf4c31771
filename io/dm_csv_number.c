/* dm_csv_number.c - exact decimal text to double for the archive grammar
 * (dm_csv.c, the line parser and dm_csv_parse_number, sends here every
 * number its SSE2 short paths do not take).
 *
 * Numbers are read by hand (no locale, no per-field strtod) into an integer
 * mantissa w and a decimal exponent e. When w <= 2^53 and |e| <= 22 both w
 * and 10^|e| are exact doubles, so one IEEE multiply or divide gives the
 * correctly rounded value (Clinger's fast path); with 6-significant-digit %g
 * input that is every number of the archive. Anything else (more than 19
 * digits, huge or tiny exponents, mantissas above 2^53) goes to strtod_l in
 * the "C" locale on a NUL-terminated copy of the token: correct, slower,
 * rare.
 */
#include "dm_csv_private.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- exact decimal to double ------------------------------------------- */

const double dm_csv_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static const uint64_t dm_csv_u10_small[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                             100000000};

static pthread_once_t dm_csv_c_once = PTHREAD_ONCE_INIT;
static locale_t dm_csv_c_locale;

static void dm_csv_c_locale_init(void)
{
  dm_csv_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* Correctly rounded conversion of a validated token (our grammar only, so
 * strtod cannot wander into hex or "infinity"). Returns 0 on overflow. */
static int dm_csv_slow(const char *tok, size_t n, double *out)
{
  char small[128];
  char *buf = n < sizeof small ? small : malloc(n + 1);
  if (!buf)
    return 0;
  memcpy(buf, tok, n);
  buf[n] = '\0';
  pthread_once(&dm_csv_c_once, dm_csv_c_locale_init);
  double v = dm_csv_c_locale ? strtod_l(buf, NULL, dm_csv_c_locale) : strtod(buf, NULL);
  if (buf != small)
    free(buf);
  *out = v;
  return isfinite(v);
}

static double dm_csv_decimal_to_double(uint64_t w, int e, int neg)
{
  double v;
  if (w == 0) {
    v = 0.0;
  } else if (w <= (UINT64_C(1) << 53) && e >= -22 && e <= 22) {
    v = e >= 0 ? (double)w * dm_csv_pow10[e] : (double)w / dm_csv_pow10[-e];
  } else if (w <= (UINT64_C(1) << 53) && e > 22 && e <= 22 + 15 &&
             w <= (UINT64_C(1) << 53) / (uint64_t)dm_csv_pow10[e - 22]) {
    /* w * 10^(e-22) is still an exact integer below 2^53. */
    v = (double)(w * (uint64_t)dm_csv_pow10[e - 22]) * 1e22;
  } else {
    char tok[48];
    int n = snprintf(tok, sizeof tok, "%llue%d", (unsigned long long)w, e);
    dm_csv_slow(tok, (size_t)n, &v);
  }
  return neg ? -v : v;
}

/* Scan one number at *pp (stops at the first byte that cannot continue it),
 * one byte at a time: handles every case. Returns DM_BAD_NONE, DM_BAD_NUMBER
 * or DM_BAD_NONFINITE; *sig gets the number of significant digits (first to
 * last non-zero digit). */
static __attribute__((noinline)) dm_bad_kind dm_csv_number_general(const char **pp, const char *end,
                                                                    double *out, int *sig)
{
  const char *p = *pp, *tok = p;
  int neg = 0;
  if (p < end && (*p == '-' || *p == '+')) {
    neg = *p == '-';
    p++;
  }
  uint64_t w = 0;
  int nd = 0;         /* digits in w, counted from the first non-zero one */
  int many = 0;       /* more than 19 significant digits: slow path */
  int e = 0;          /* decimal exponent adjustment from digit positions */
  const char *digits0 = p;
  int ndigits = 0;    /* all mantissa digits seen, to reject "." and "" */
  while (p < end && (unsigned)(*p - '0') < 10) {
    unsigned d = (unsigned)(*p - '0');
    if (nd < 19) {
      w = w * 10 + d;
      nd += w != 0;
    } else {
      many = 1;
      e++;
    }
    p++;
  }
  ndigits = (int)(p - digits0);
  if (p < end && *p == '.') {
    p++;
    const char *f0 = p;
    while (p < end && (unsigned)(*p - '0') < 10) {
      unsigned d = (unsigned)(*p - '0');
      if (nd < 19) {
        w = w * 10 + d;
        nd += w != 0;
        e--;
      } else {
        many = 1;
      }
      p++;
    }
    ndigits += (int)(p - f0);
  }
  if (ndigits == 0) {
    /* nan / inf spelled out are well-formed but not finite. */
    size_t left = (size_t)(end - p), w = 0;
    if (left >= 8 && strncasecmp(p, "infinity", 8) == 0)
      w = 8;
    else if (left >= 3 && (strncasecmp(p, "inf", 3) == 0 || strncasecmp(p, "nan", 3) == 0))
      w = 3;
    const char *q = p + w;
    if (w == 0 || (q < end && (((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z') ||
                               (unsigned)(*q - '0') < 10 || *q == '.')))
      return DM_BAD_NUMBER;
    *pp = q;
    return DM_BAD_NONFINITE;
  }
  if (p < end && (*p | 0x20) == 'e') {
    p++;
    int eneg = 0;
    if (p < end && (*p == '-' || *p == '+')) {
      eneg = *p == '-';
      p++;
    }
    const char *x0 = p;
    int x = 0;
    while (p < end && (unsigned)(*p - '0') < 10) {
      if (x < 100000)
        x = x * 10 + (*p - '0');
      p++;
    }
    if (p == x0)
      return DM_BAD_NUMBER;
    e += eneg ? -x : x;
  }
  *pp = p;
  /* Trailing zeros of the mantissa are not significant for float32 round
   * trips ("331920" prints back the same from a float). */
  int s = nd;
  if (s > 6 && !many) {
    uint64_t t = w;
    while (t != 0 && t % 10 == 0) {
      t /= 10;
      s--;
    }
  }
  *sig = many ? 20 : s;
  if (many) {
    if (!dm_csv_slow(tok, (size_t)(p - tok), out))
      return DM_BAD_NONFINITE;
    return DM_BAD_NONE;
  }
  double v = dm_csv_decimal_to_double(w, e, neg);
  if (!isfinite(v))
    return DM_BAD_NONFINITE;
  *out = v;
  return DM_BAD_NONE;
}

/* ---- eight bytes at a time ----------------------------------------------
 * Loading 8 bytes as a little-endian word, the digit bytes and their value
 * are found with word arithmetic instead of a loop with a branch per byte
 * (whose mispredictions on varying lengths dominate a byte loop). */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define DM_CSV_SWAR 1
#else
#define DM_CSV_SWAR 0
#endif

/* High bit set in every byte of x (memory order = little-endian byte order)
 * that is not '0'..'9'. XOR maps digits to 0..9; (b & 0x7f) + 0x76 has its
 * top bit set exactly when b & 0x7f >= 10 and cannot carry into the next
 * byte; OR-ing b itself catches bytes with the top bit already set. */
static inline uint64_t dm_csv_nondigit(uint64_t x)
{
  uint64_t d = x ^ UINT64_C(0x3030303030303030);
  return (((d & UINT64_C(0x7f7f7f7f7f7f7f7f)) + UINT64_C(0x7676767676767676)) | d) &
         UINT64_C(0x8080808080808080);
}

/* Index of the first non-digit byte of x, or 8. */
static inline int dm_csv_ndigits(uint64_t x)
{
  uint64_t m = dm_csv_nondigit(x);
  return m ? __builtin_ctzll(m) >> 3 : 8;
}

/* Value of eight digit bytes, the first (most significant) in the lowest
 * byte; zero bytes count as leading zeros. Pairs, quads and halves are
 * combined with one multiply each: a lane times (10^k << lane width) plus
 * itself puts 10^k * first + second in the upper lane, and no lane can
 * overflow (10*9+9, 100*99+99, 10^4*9999+9999 all fit). */
static inline uint64_t dm_csv_eight(uint64_t v)
{
  v = ((v & UINT64_C(0x0f0f0f0f0f0f0f0f)) * 2561) >> 8;
  v = ((v & UINT64_C(0x00ff00ff00ff00ff)) * 6553601) >> 16;
  return ((v & UINT64_C(0x0000ffff0000ffff)) * UINT64_C(42949672960001)) >> 32;
}

/* Value of the first n (0..8) digit bytes of x: shifted to the top bytes,
 * zeros before them. */
static inline uint64_t dm_csv_swar8(uint64_t x, int n)
{
  return dm_csv_eight((x << (32 - 4 * n)) << (32 - 4 * n)); /* two shifts: n == 0 is defined */
}

int dm_csv_over6_strip(uint64_t w)
{
  while (w % 10 == 0)
    w /= 10;
  return w >= 1000000;
}

/* ---- numbers of any shape ------------------------------------------------
 * [p, p + n) is the whole token; bytes after it need not be readable. Two
 * paths: two words (up to 7 + 7 digits and a short exponent: 1.20431e+06,
 * 0.0820042) on a zero-padded copy, and the byte-wise general scanner for
 * everything else. *over6 bit 0: more than 6 significant digits; bit 1: came
 * from the general path (the only one that can leave float range). */

static dm_bad_kind dm_csv_number_bounded(const char *p, size_t n, double *out, int *over6)
{
  const char *g = p;
  int sig = 0;
  dm_bad_kind k = dm_csv_number_general(&g, p + n, out, &sig);
  if (k != DM_BAD_NONE)
    return k;
  if (g != p + n)
    return DM_BAD_NUMBER;
  *over6 = (sig > 6) | 2;
  return DM_BAD_NONE;
}

/* The two-word path; p has 24 readable bytes. */
static dm_bad_kind dm_csv_two_words(const char *p, size_t n, double *out, int *over6)
{
#if DM_CSV_SWAR
  const char *q = p, *end = p + n;
  int neg = *q == '-';
  q += neg | (*q == '+');
  uint64_t x;
  memcpy(&x, q, 8);
  int n1 = dm_csv_ndigits(x);
  if (n1 == 8)
    return dm_csv_number_bounded(p, n, out, over6);
  uint64_t w = dm_csv_swar8(x, n1);
  unsigned term = (unsigned)(x >> (8 * n1)) & 0xff;
  q += n1;
  int e = 0;
  if (term == '.') {
    memcpy(&x, q + 1, 8);
    int n2 = dm_csv_ndigits(x);
    if (n2 == 8 || n1 + n2 == 0)
      return dm_csv_number_bounded(p, n, out, over6);
    w = w * dm_csv_u10_small[n2] + dm_csv_swar8(x, n2);
    e = -n2;
    term = (unsigned)(x >> (8 * n2)) & 0xff;
    q += 1 + n2;
  } else if (n1 == 0) {
    return dm_csv_number_bounded(p, n, out, over6);
  }
  if ((term | 0x20) == 'e') { /* q <= p + 16 here: the exponent is in reach */
    const char *r = q + 1;
    int eneg = *r == '-';
    r += eneg | (*r == '+');
    int ex = 0, nx = 0;
    while (nx < 4 && (unsigned)(r[nx] - '0') < 10) {
      ex = ex * 10 + (r[nx] - '0');
      nx++;
    }
    if (nx == 0 || nx == 4)
      return dm_csv_number_bounded(p, n, out, over6);
    e += eneg ? -ex : ex;
    q = r + nx;
  }
  if (q != end)
    return DM_BAD_NUMBER;
  if (e < -22 || e > 22)
    return dm_csv_number_bounded(p, n, out, over6);
  /* w < 10^14 < 2^53 and |e| <= 22: one correctly rounded operation. */
  double v = e < 0 ? (double)w / dm_csv_pow10[-e] : (double)w * dm_csv_pow10[e];
  *out = neg ? -v : v;
  *over6 = dm_csv_over6(w);
  return DM_BAD_NONE;
#else
  return dm_csv_number_bounded(p, n, out, over6);
#endif
}

dm_csv_num dm_csv_number_any(const char *p, size_t n)
{
  dm_csv_num r = {0.0, DM_BAD_NONE, 0};
  if (n < 40) { /* longer tokens never fit the word paths */
    char tmp[64] = {0};
    memcpy(tmp, p, n);
    r.kind = dm_csv_two_words(tmp, n, &r.v, &r.over6);
  } else {
    r.kind = dm_csv_number_bounded(p, n, &r.v, &r.over6);
  }
  return r;
}
