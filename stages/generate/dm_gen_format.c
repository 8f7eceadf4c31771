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

/* The 1000 three-digit groups "000".."999" as little-endian words (first
 * character in the low byte), and in the high byte how many of the three
 * digits remain after dropping trailing zeros ("120" -> 2, "000" -> 0). */
#define DM_G3(h, t, o)                                                                     \
  ((uint32_t)('0' + (h)) | (uint32_t)('0' + (t)) << 8 | (uint32_t)('0' + (o)) << 16 |     \
   (uint32_t)((o) ? 3 : (t) ? 2 : (h) ? 1 : 0) << 24)
#define DM_G3_T(h, t)                                                                      \
  DM_G3(h, t, 0), DM_G3(h, t, 1), DM_G3(h, t, 2), DM_G3(h, t, 3), DM_G3(h, t, 4),          \
      DM_G3(h, t, 5), DM_G3(h, t, 6), DM_G3(h, t, 7), DM_G3(h, t, 8), DM_G3(h, t, 9)
#define DM_G3_H(h)                                                                         \
  DM_G3_T(h, 0), DM_G3_T(h, 1), DM_G3_T(h, 2), DM_G3_T(h, 3), DM_G3_T(h, 4), DM_G3_T(h, 5), \
      DM_G3_T(h, 6), DM_G3_T(h, 7), DM_G3_T(h, 8), DM_G3_T(h, 9)
static const uint32_t groups3[1000] = {DM_G3_H(0), DM_G3_H(1), DM_G3_H(2), DM_G3_H(3),
                                       DM_G3_H(4), DM_G3_H(5), DM_G3_H(6), DM_G3_H(7),
                                       DM_G3_H(8), DM_G3_H(9)};

/* Nearest doubles of 10^k for k in [-27, 38]. Scaling by an inexact power
 * adds a rounding or two (see fmt_g6 for why that is harmless), so exact
 * powers and divisions are not needed. */
static const double pow10_near[66] = {
    1e-27, 1e-26, 1e-25, 1e-24, 1e-23, 1e-22, 1e-21, 1e-20, 1e-19, 1e-18, 1e-17,
    1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11, 1e-10, 1e-9,  1e-8,  1e-7,  1e-6,
    1e-5,  1e-4,  1e-3,  1e-2,  1e-1,  1e0,   1e1,   1e2,   1e3,   1e4,   1e5,
    1e6,   1e7,   1e8,   1e9,   1e10,  1e11,  1e12,  1e13,  1e14,  1e15,  1e16,
    1e17,  1e18,  1e19,  1e20,  1e21,  1e22,  1e23,  1e24,  1e25,  1e26,  1e27,
    1e28,  1e29,  1e30,  1e31,  1e32,  1e33,  1e34,  1e35,  1e36,  1e37,  1e38};
#define POW10(k) pow10_near[(k) + 27]

/* Rare (about one number in 10^5): kept out of the inlined fast path. */
#if defined(__GNUC__)
#define DM_GEN_COLD __attribute__((noinline, cold))
#else
#define DM_GEN_COLD
#endif

DM_GEN_COLD static size_t fallback_g(double x, char *out)
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

/* Eight bytes at p, the first character in the low byte of w (text is built
 * in registers and stored whole; the caller's room covers the spare bytes). */
static inline void store8(char *p, uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  memcpy(p, &w, sizeof w);
}

/* Inlined into the line writer, which prints about 17 numbers per event. */
static inline size_t fmt_g6(double x, char *out)
{
  double a = fabs(x);
  if (!(a >= 1e-30 && a <= 1e30)) {
    if (x == 0) {
      /* "0" or "-0", as printf writes them; exact zeros are common (METphi). */
      out[0] = '-';
      out[signbit(x) != 0] = '0';
      return 1 + (signbit(x) != 0);
    }
    return fallback_g(x, out); /* non-finite, or outside the tables */
  }
  /* Decimal exponent from the binary one: floor(e2 log10 2) (78913 / 2^18 ~
   * log10 2) is floor(log10 a) or one less; one comparison fixes that, and
   * also moves up values that round to the next power of ten. */
  uint64_t bits;
  memcpy(&bits, &a, sizeof bits);
  int e2 = (int)((bits >> 52) & 0x7ff) - 1023; /* a is normal here */
  int e10 = (e2 * 78913) >> 18;
  double s1 = a * POW10(5 - e10);
  int up = s1 >= 999999.5;
  e10 += up;
  double scaled = up ? s1 * 0.1 : s1;
  /* scaled is within 4e-16 relative (under 4e-10) of the exact a 10^(5-e10).
   * In 20-bit fixed point, a fraction within 2^-20 of one half (a possible
   * decimal tie) or an exponent estimate off by two (a hair below a power
   * of ten) goes to snprintf; any other value rounds like the exact one. */
  if (!(scaled >= 99999.5 && scaled < 999999.5) || (up && s1 < 999999.500001))
    return fallback_g(x, out); /* the second: the choice of e10 was a near-tie */
  uint64_t q = (uint64_t)(scaled * 1048576.0); /* exact scaling, then floor */
  if (((q + 1) & 0xffffe) == 0x80000)
    return fallback_g(x, out);
  uint32_t m = (uint32_t)((q + 0x80000) >> 20); /* now 100000 <= m <= 999999 */
  uint32_t hi = m / 1000, lo = m - hi * 1000;
  uint32_t gh = groups3[hi], gl = groups3[lo];
  uint64_t w = (gh & 0xffffff) | (uint64_t)(gl & 0xffffff) << 24; /* six digits */
  int nd = (gl >> 24) ? 3 + (int)(gl >> 24) : (int)(gh >> 24); /* significant ones */
  char *p = out;
  *p = '-';
  p += x < 0;
  if (e10 >= 0 && e10 < 6) {
    /* ip digits, then '.' and the rest when there is a rest. */
    int ip = e10 + 1;
    uint64_t low = ((uint64_t)1 << (8 * ip)) - 1;
    store8(p, (w & low) | (uint64_t)'.' << (8 * ip) | (w & ~low) << 8);
    return (size_t)(p - out) + (size_t)(nd > ip ? nd + 1 : ip);
  }
  if (e10 < 0 && e10 >= -4) {
    /* "0." and -e10 - 1 zeros, then the digits over the spare zeros. */
    store8(p, 0x3030303030302e30ULL); /* "0.000000" */
    store8(p + 1 - e10, w);
    return (size_t)(p - out) + (size_t)(1 - e10 + nd);
  }
  store8(p, (w & 0xff) | (uint64_t)'.' << 8 | (w & ~(uint64_t)0xff) << 8);
  p += nd > 1 ? nd + 1 : 1;
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
  return (size_t)(p - out);
}

size_t dm_gen_fmt_g6(double x, char *out) { return fmt_g6(x, out); }

size_t dm_gen_fmt_u64(uint64_t v, char *out)
{
  int n = 1;
  for (uint64_t t = v; t >= 10; t /= 10)
    n++;
  char *p = out + n;
  while (v >= 100) {
    uint64_t q = v / 100;
    unsigned r = (unsigned)(v - q * 100);
    p -= 2;
    memcpy(p, digits2 + 2 * r, 2);
    v = q;
  }
  if (v >= 10)
    memcpy(p - 2, digits2 + 2 * v, 2);
  else
    p[-1] = (char)('0' + v);
  return (size_t)n;
}

static inline char *put_str(char *p, const char *s)
{
  size_t n = strlen(s);
  memcpy(p, s, n);
  return p + n;
}

/* Object codes with their comma, as one 4-byte store (the archive's codes,
 * those of dm_obj_code; a unit test checks they agree). */
static const char code_comma[DM_OBJ_NTYPES][4] = {"j,", "b,", "e-,", "e+,", "m-,", "m+,", "g,"};
static const unsigned char code_comma_len[DM_OBJ_NTYPES] = {2, 2, 3, 3, 3, 3, 2};

/* One object "code,E,pt,eta,phi" (no separator). MeV out. */
static inline char *put_object(char *p, const dm_gen_event *ev, int i)
{
  unsigned t = ev->type[i] < DM_OBJ_NTYPES ? ev->type[i] : 0;
  memcpy(p, code_comma[t], 4);
  p += code_comma_len[t];
  p += fmt_g6(ev->e[i] * 1000.0, p);
  *p++ = ',';
  p += fmt_g6(ev->pt[i] * 1000.0, p);
  *p++ = ',';
  p += fmt_g6(ev->eta[i], p);
  *p++ = ',';
  p += fmt_g6(ev->phi[i], p);
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
    p += fmt_g6(ev->met * 1000.0, p);
  if (bad == DM_BAD_FIELD_COUNT && (variant & 8)) {
    /* A header of four fields and nothing else. */
    *p++ = '\n';
    return (size_t)(p - out);
  }
  *p++ = ';';
  p += fmt_g6(ev->met_phi, p);

  if (bad == DM_BAD_TRUNCATED) {
    /* Cut inside the first object: the writer died mid-line; no newline. */
    *p++ = ';';
    p = put_str(p, dm_obj_code(ev->type[0]));
    *p++ = ',';
    p += fmt_g6(ev->e[0] * 1000.0, p);
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
