#include "dm_gen_format.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dm_store.h"

static const char digits2[201] = "00010203040506070809"
                                 "10111213141516171819"
                                 "20212223242526272829"
                                 "30313233343536373839"
                                 "40414243444546474849"
                                 "50515253545556575859"
                                 "60616263646566676869"
                                 "70717273747576777879"
                                 "80818283848586878889"
                                 "90919293949596979899";

/* Exact powers of ten up to 1e22 (every one is a double without rounding). */
static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* 10^k for k in [-31, 31], nearest doubles; only used to find the decimal
 * exponent, where an inexact value near a boundary is caught later. */
static const double pow10_cmp[63] = {1e-31, 1e-30, 1e-29, 1e-28, 1e-27, 1e-26, 1e-25, 1e-24, 1e-23, 1e-22, 1e-21, 1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31};

static size_t fallback_g(double x, char *out)
{
  char tmp[64];
  int n = snprintf(tmp, sizeof tmp, "%g", x);
  if (n < 0)
    n = 0;
  if (n > DM_GEN_G6_MAX)
    n = DM_GEN_G6_MAX;
  memcpy(out, tmp, (size_t)n);
  return (size_t)n;
}

/* Decimal exponent of a > 0 from its binary exponent: floor(log10(a)) up to
 * one too small (corrected by the caller). 78913 / 2^18 ~ log10(2). */
static inline int estimate_exp10(double a)
{
  uint64_t bits;
  memcpy(&bits, &a, sizeof bits);
  int e2 = (int)((bits >> 52) & 0x7ff) - 1023; /* a is normal here */
  return (e2 * 78913) >> 18;
}

size_t dm_gen_fmt_g6(double x, char *out)
{
  if (x == 0) {
    /* "0" or "-0", as printf writes them; exact zeros are common (METphi). */
    if (signbit(x)) {
      out[0] = '-';
      out[1] = '0';
      return 2;
    }
    out[0] = '0';
    return 1;
  }
  if (!(x == x) || isinf(x))
    return fallback_g(x, out);
  double a = fabs(x);
  if (a < 1e-30 || a > 1e30)
    return fallback_g(x, out);
  int e10 = estimate_exp10(a);
  if (a >= pow10_cmp[e10 + 1 + 31])
    e10++;
  /* scaled = a * 10^(5 - e10), computed with a single rounding: multiply or
   * divide by an exact power of ten. */
  int k = 5 - e10;
  double scaled;
  if (k >= 0 && k <= 22)
    scaled = a * pow10_exact[k];
  else if (k < 0 && -k <= 22)
    scaled = a / pow10_exact[-k];
  else
    return fallback_g(x, out);
  /* The exact product differs from scaled by at most half an ulp (about
   * 6e-11 here); away from a tie, rounding scaled rounds the exact value the
   * same way, so only near-ties need the slow path. The band also covers the
   * estimate of e10 being one off near a power of ten. */
  if (scaled < 99999.0 || scaled >= 1000000.0)
    return fallback_g(x, out);
  uint32_t m = (uint32_t)scaled; /* truncation = floor for positive values */
  double frac = scaled - (double)m;
  if (frac > 0.499999 && frac < 0.500001)
    return fallback_g(x, out);
  m += frac > 0.5;
  if (m == 1000000) {
    m = 100000;
    e10++;
  }
  if (m < 100000) /* a just below a power of ten with e10 over-estimated */
    return fallback_g(x, out);
  char d[6];
  uint32_t hi = m / 10000, mid = (m / 100) % 100, lo = m % 100;
  d[0] = (char)('0' + hi / 10);
  d[1] = (char)('0' + hi % 10);
  memcpy(d + 2, digits2 + 2 * mid, 2);
  memcpy(d + 4, digits2 + 2 * lo, 2);
  int nd = 6;
  while (nd > 1 && d[nd - 1] == '0')
    nd--;
  char *p = out;
  if (x < 0)
    *p++ = '-';
  if (e10 >= -4 && e10 < 6) {
    if (e10 >= 0) {
      int ip = e10 + 1; /* digits before the point */
      memcpy(p, d, (size_t)ip);
      p += ip;
      if (nd > ip) {
        *p++ = '.';
        memcpy(p, d + ip, (size_t)(nd - ip));
        p += nd - ip;
      }
    } else {
      *p++ = '0';
      *p++ = '.';
      for (int z = 0; z < -e10 - 1; z++)
        *p++ = '0';
      memcpy(p, d, (size_t)nd);
      p += nd;
    }
  } else {
    *p++ = d[0];
    if (nd > 1) {
      *p++ = '.';
      memcpy(p, d + 1, (size_t)(nd - 1));
      p += nd - 1;
    }
    *p++ = 'e';
    int ex = e10;
    *p++ = ex < 0 ? '-' : '+';
    if (ex < 0)
      ex = -ex;
    if (ex >= 100) {
      *p++ = (char)('0' + ex / 100);
      ex %= 100;
    }
    memcpy(p, digits2 + 2 * ex, 2);
    p += 2;
  }
  return (size_t)(p - out);
}

size_t dm_gen_fmt_u64(uint64_t v, char *out)
{
  char tmp[24];
  int n = 0;
  while (v >= 100) {
    uint64_t q = v / 100;
    unsigned r = (unsigned)(v - q * 100);
    tmp[n++] = digits2[2 * r + 1];
    tmp[n++] = digits2[2 * r];
    v = q;
  }
  if (v >= 10) {
    tmp[n++] = digits2[2 * v + 1];
    tmp[n++] = digits2[2 * v];
  } else {
    tmp[n++] = (char)('0' + v);
  }
  for (int i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  return (size_t)n;
}

static inline char *put_str(char *p, const char *s)
{
  size_t n = strlen(s);
  memcpy(p, s, n);
  return p + n;
}

/* One object "code,E,pt,eta,phi" (no separator). MeV out. */
static char *put_object(char *p, const dm_gen_event *ev, int i)
{
  p = put_str(p, dm_obj_code(ev->type[i]));
  *p++ = ',';
  p += dm_gen_fmt_g6(ev->e[i] * 1000.0, p);
  *p++ = ',';
  p += dm_gen_fmt_g6(ev->pt[i] * 1000.0, p);
  *p++ = ',';
  p += dm_gen_fmt_g6(ev->eta[i], p);
  *p++ = ',';
  p += dm_gen_fmt_g6(ev->phi[i], p);
  return p;
}

size_t dm_gen_format_line(const dm_gen_event *ev, uint64_t id, const char *prefix,
                          size_t prefix_len, int trailing_semicolon, dm_bad_kind bad,
                          uint64_t variant, char *out, size_t cap)
{
  static const char *const bad_numbers[3] = {"12a4", "1.2.3", "--5"};
  static const char *const bad_nonfinite[3] = {"nan", "inf", "1e999"};
  static const char *const bad_codes[3] = {"x", "tau", "jet"};
  unsigned v3 = (unsigned)(variant % 3);
  char *p = out;
  p += dm_gen_fmt_u64(id, p);
  *p++ = ';';
  if (bad == DM_BAD_EMPTY_PROCESS) {
    const char *semi = memchr(prefix, ';', prefix_len);
    size_t skip = semi ? (size_t)(semi - prefix) : 0;
    memcpy(p, prefix + skip, prefix_len - skip);
    p += prefix_len - skip;
  } else {
    memcpy(p, prefix, prefix_len);
    p += prefix_len;
  }
  int met_bad = bad == DM_BAD_NONFINITE && (variant & 8);
  if (met_bad)
    p = put_str(p, bad_nonfinite[v3]);
  else
    p += dm_gen_fmt_g6(ev->met * 1000.0, p);
  if (bad == DM_BAD_FIELD_COUNT && (variant & 8)) {
    /* A header of four fields and nothing else. */
    *p++ = '\n';
    return (size_t)(p - out);
  }
  *p++ = ';';
  p += dm_gen_fmt_g6(ev->met_phi, p);

  if (bad == DM_BAD_TRUNCATED) {
    /* Cut inside the first object: the writer died mid-line; no newline. */
    *p++ = ';';
    p = put_str(p, dm_obj_code(ev->type[0]));
    *p++ = ',';
    p += dm_gen_fmt_g6(ev->e[0] * 1000.0, p);
    return (size_t)(p - out);
  }

  for (int i = 0; i < ev->n; i++) {
    *p++ = ';';
    char *obj = p;
    p = put_object(p, ev, i);
    if (i == 0 && bad == DM_BAD_OBJECT_CODE) {
      /* Replace the code (up to the first comma) by an unknown one. */
      char rest[DM_GEN_LINE_MAX];
      char *comma = memchr(obj, ',', (size_t)(p - obj));
      size_t rl = (size_t)(p - comma);
      memcpy(rest, comma, rl);
      p = put_str(obj, bad_codes[v3]);
      memcpy(p, rest, rl);
      p += rl;
    } else if (i == 0 && (bad == DM_BAD_NUMBER || (bad == DM_BAD_NONFINITE && !met_bad))) {
      /* Replace E (between the first and second comma). */
      char rest[DM_GEN_LINE_MAX];
      char *c1 = memchr(obj, ',', (size_t)(p - obj));
      char *c2 = memchr(c1 + 1, ',', (size_t)(p - c1 - 1));
      size_t rl = (size_t)(p - c2);
      memcpy(rest, c2, rl);
      p = c1 + 1;
      p = put_str(p, bad == DM_BAD_NUMBER ? bad_numbers[v3] : bad_nonfinite[v3]);
      memcpy(p, rest, rl);
      p += rl;
    } else if (i == ev->n - 1 && bad == DM_BAD_FIELD_COUNT) {
      /* Drop phi of the last object: four fields. */
      char *c = p;
      while (c[-1] != ',')
        c--;
      p = c - 1;
    }
  }
  if (bad == DM_BAD_TOO_LONG) {
    /* Repeat the objects until the line passes the readers' limit; the line
     * is otherwise well formed, so only its length is wrong. */
    char *first = out;
    for (int semis = 0;; first++)
      if (*first == ';' && ++semis == 5)
        break; /* the ';' before the first object */
    size_t seg = (size_t)(p - first);
    while ((size_t)(p - out) <= DM_GEN_TOO_LONG_BYTES && (size_t)(p - out) + seg + 2 < cap) {
      memmove(p, first, seg);
      p += seg;
    }
  }
  if (trailing_semicolon)
    *p++ = ';';
  *p++ = '\n';
  return (size_t)(p - out);
}
