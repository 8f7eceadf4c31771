/* dm_csv.c - parse archive lines (contract in dm_csv.h; printing is in
 * dm_csv_print.c).
 *
 * Parsing a line: a separator index (';' and ',' found 64 bytes at a time)
 * gives every field's bounds up front, then each number is converted on its
 * own, so the CPU overlaps consecutive numbers (see "lines" below).
 *
 * Numbers are read by hand (no locale, no per-field strtod) into an integer
 * mantissa w and a decimal exponent e. When w <= 2^53 and |e| <= 22 both w
 * and 10^|e| are exact doubles, so one IEEE multiply or divide gives the
 * correctly rounded value (Clinger's fast path); with 6-significant-digit %g
 * input that is every number of the archive. Anything else (more than 19
 * digits, huge or tiny exponents, mantissas above 2^53) goes to strtod_l in
 * the "C" locale on a NUL-terminated copy of the token: correct, slower,
 * rare. MeV become GeV by one more division by 1000 in double.
 */
#include "dm_csv.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *dm_bad_kind_name(dm_bad_kind k)
{
  static const char *const names[DM_BAD_NKINDS] = {
      [DM_BAD_NONE] = "none",
      [DM_BAD_FIELD_COUNT] = "field-count",
      [DM_BAD_NUMBER] = "number",
      [DM_BAD_NONFINITE] = "non-finite",
      [DM_BAD_OBJECT_CODE] = "object-code",
      [DM_BAD_EMPTY_PROCESS] = "empty-process",
      [DM_BAD_TRUNCATED] = "truncated",
      [DM_BAD_TOO_LONG] = "too-long",
      [DM_BAD_TOO_MANY_OBJECTS] = "too-many-objects",
  };
  if ((int)k < 0 || k >= DM_BAD_NKINDS)
    return "invalid";
  return names[k];
}

/* ---- exact decimal to double ------------------------------------------- */

static const double dm_csv_p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static const uint64_t dm_csv_u10_small[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                             100000000};

static pthread_once_t dm_csv_c_once = PTHREAD_ONCE_INIT;
static locale_t dm_csv_c_locale;

static void dm_csv_c_locale_init(void) { dm_csv_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

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
    v = e >= 0 ? (double)w * dm_csv_p10[e] : (double)w / dm_csv_p10[-e];
  } else if (w <= (UINT64_C(1) << 53) && e > 22 && e <= 22 + 15 &&
             w <= (UINT64_C(1) << 53) / (uint64_t)dm_csv_p10[e - 22]) {
    /* w * 10^(e-22) is still an exact integer below 2^53. */
    v = (double)(w * (uint64_t)dm_csv_p10[e - 22]) * 1e22;
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
static __attribute__((noinline)) dm_bad_kind dm_csv_number_general(const char **pp, const char *end, double *out, int *sig)
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

/* ---- fast path: eight bytes at a time ------------------------------------
 * Most archive numbers are [-]ddddd[.ddddd][e+dd] with few digits. Loading
 * 8 bytes as a little-endian word, the digit bytes and their value are found
 * with word arithmetic instead of a loop with a branch per byte (whose
 * mispredictions on varying lengths dominate a byte loop). */

#define DM_CSV_INLINE static inline __attribute__((always_inline))

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

/* More than 6 significant digits in the mantissa w (trailing zeros are not
 * significant: "331920" prints back the same from a float). */
static inline int dm_csv_over6(uint64_t w)
{
  if (w < 1000000)
    return 0;
  while (w % 10 == 0)
    w /= 10;
  return w >= 1000000;
}

/* ---- object arrays ------------------------------------------------------- */

static int dm_csv_grow(void **a, size_t elem, int64_t cap)
{
  void *n = realloc(*a, (size_t)cap * elem);
  if (!n)
    return 0;
  *a = n;
  return 1;
}

dm_status dm_csv_reserve(dm_events *out, int64_t n_more, int want_double)
{
  int64_t need = out->n_objects + n_more;
  int have_double = out->e_d && out->pt_d && out->eta_d && out->phi_d;
  if (need <= out->cap_objects && (!want_double || have_double))
    return DM_OK;
  int64_t cap = out->cap_objects;
  if (need > cap) {
    cap = cap < 1024 ? 1024 : cap;
    while (cap < need)
      cap += cap / 2;
  }
  int ok = dm_csv_grow((void **)&out->type, sizeof *out->type, cap) &&
           dm_csv_grow((void **)&out->e, sizeof *out->e, cap) &&
           dm_csv_grow((void **)&out->pt, sizeof *out->pt, cap) &&
           dm_csv_grow((void **)&out->eta, sizeof *out->eta, cap) &&
           dm_csv_grow((void **)&out->phi, sizeof *out->phi, cap);
  /* Double copies, once present, follow the capacity so a later call with
   * want_double cannot find them shorter than cap_objects. */
  if (ok && (want_double || out->e_d || out->pt_d || out->eta_d || out->phi_d))
    ok = dm_csv_grow((void **)&out->e_d, sizeof *out->e_d, cap) &&
         dm_csv_grow((void **)&out->pt_d, sizeof *out->pt_d, cap) &&
         dm_csv_grow((void **)&out->eta_d, sizeof *out->eta_d, cap) &&
         dm_csv_grow((void **)&out->phi_d, sizeof *out->phi_d, cap);
  if (!ok)
    return dm_error(DM_ERR_NOMEM, "csv: cannot grow object arrays to %lld objects",
                    (long long)cap);
  out->cap_objects = cap;
  return DM_OK;
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
  double v = e < 0 ? (double)w / dm_csv_p10[-e] : (double)w * dm_csv_p10[e];
  *out = neg ? -v : v;
  *over6 = dm_csv_over6(w);
  return DM_BAD_NONE;
#else
  return dm_csv_number_bounded(p, n, out, over6);
#endif
}

static __attribute__((noinline)) dm_bad_kind dm_csv_number_any(const char *p, size_t n,
                                                                double *out, int *over6)
{
  if (n < 40) { /* longer tokens never fit the word paths */
    char tmp[64] = {0};
    memcpy(tmp, p, n);
    return dm_csv_two_words(tmp, n, out, over6);
  }
  return dm_csv_number_bounded(p, n, out, over6);
}

dm_bad_kind dm_csv_parse_number(const char *s, size_t len, double *out)
{
  double v = 0.0;
  int over6;
  dm_bad_kind k = dm_csv_number_any(s, len, &v, &over6);
  if (k == DM_BAD_NONE)
    *out = v;
  return k;
}

/* ---- the common number, 16 bytes at a time ---------------------------------
 * '-'? then 1..15 bytes of digits with at most one '.': every number of the
 * archive but those with an exponent. The 16 bytes that END at the field's
 * separator are loaded (so nothing past the line is read), digits and the
 * '.' found by byte compares, the '.' cut out by blending with the same load
 * one byte earlier, and the at most 15 digits converted by three rounds of
 * multiply-add (pmaddwd: pairs, quads, then eights), with no branch on the
 * number's length or shape. A mantissa below 10^15 < 2^53 and a divisor
 * 10^k with k <= 14 are exact doubles, so one division is correctly
 * rounded. */

static const double dm_csv_sign[2] = {1.0, -1.0};

#if defined(__SSE2__)
#include <emmintrin.h>
#define DM_CSV_SIMD 1

/* 16 x 0xff then 16 x 0: 16 bytes from offset k have lanes j < 16 - k set. */
static const unsigned char dm_csv_ramp[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* The field of n bytes that ends at pe, with pe[-17, 0) readable. Returns 0
 * (and reads nothing) if n is out of range, 0 if the field has another
 * shape; else the mantissa *w (< 10^15), the number of digits after the '.'
 * in *k (16 if there is no '.') and the sign in *neg. */
DM_CSV_INLINE int dm_csv_simd_digits(const char *pe, size_t n, uint64_t *w, unsigned *k,
                                     unsigned *neg)
{
  if (n - 1 >= 16)
    return 0;
  unsigned ng = pe[-(ptrdiff_t)n] == '-';
  unsigned L = (unsigned)n - ng;
  __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(pe - 16));
  __m128i d = _mm_sub_epi8(a, _mm_set1_epi8('0'));
  unsigned dig = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d));
  unsigned dots = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, _mm_set1_epi8('.')));
  unsigned nd = ~dig & (0xffff0000u >> L) & 0xffff; /* non-digits among the last L lanes */
  unsigned has = nd != 0;
  if ((nd & (nd - 1)) | (nd & ~dots) | (L == has) | (L > 15))
    return 0;
  unsigned kk = (unsigned)__builtin_clz((nd << 1) | 1) - 15; /* lanes after the '.', or 16 */
  unsigned N = L - has;                                       /* digits, 1..15 */
  __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(pe - 17));
  __m128i fromb = _mm_loadu_si128((const __m128i *)(const void *)(dm_csv_ramp + kk));
  __m128i c = _mm_or_si128(_mm_andnot_si128(fromb, a), _mm_and_si128(fromb, b));
  __m128i lead = _mm_loadu_si128((const __m128i *)(const void *)(dm_csv_ramp + N));
  __m128i v = _mm_andnot_si128(lead, _mm_sub_epi8(c, _mm_set1_epi8('0')));
  __m128i z = _mm_setzero_si128();
  __m128i m10 = _mm_set1_epi32(0x0001000a), m100 = _mm_set1_epi32(0x00010064),
          m10k = _mm_set1_epi32(0x00012710);
  __m128i p2 = _mm_packs_epi32(_mm_madd_epi16(_mm_unpacklo_epi8(v, z), m10),
                               _mm_madd_epi16(_mm_unpackhi_epi8(v, z), m10));
  __m128i p4 = _mm_madd_epi16(p2, m100);
  __m128i p8 = _mm_madd_epi16(_mm_packs_epi32(p4, p4), m10k);
  uint64_t two = (uint64_t)_mm_cvtsi128_si64(p8);
  *w = (two & 0xffffffffu) * 100000000u + (two >> 32);
  *k = kk;
  *neg = ng;
  return 1;
}
#else
#define DM_CSV_SIMD 0
#endif

/* ---- lines ----------------------------------------------------------------
 * Two layers, so that fields do not wait for each other: a separator index
 * finds every ';' and ',' 64 bytes at a time (a bitmask per block), which
 * gives each field's bounds without parsing the fields before it; then each
 * number is converted on its own and the CPU overlaps consecutive numbers
 * instead of following one long chain of "scan, find the end, scan on".
 * No load crosses the line's bounds: the last block is loaded so that it
 * ends at the line's end, numbers are loaded so that they end at their
 * separator, and what lies within 17 bytes of the start (or a whole line
 * shorter than 64 bytes) is read from `head`, a zero-padded copy. */

typedef struct {
  const char *line;
  size_t len;
  char head[16 + 64 + 16]; /* 16 zeros, line[0, min(len, 64)), zeros */
} dm_csv_text;

#if DM_CSV_SIMD
DM_CSV_INLINE uint64_t dm_csv_sepmask(const char *p)
{
  const __m128i semi = _mm_set1_epi8(';'), comma = _mm_set1_epi8(',');
  uint64_t m = 0;
  for (int i = 0; i < 4; i++) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
    __m128i e = _mm_or_si128(_mm_cmpeq_epi8(v, semi), _mm_cmpeq_epi8(v, comma));
    m |= (uint64_t)(uint16_t)_mm_movemask_epi8(e) << (16 * i);
  }
  return m;
}
#else
DM_CSV_INLINE uint64_t dm_csv_sepmask(const char *p)
{
  uint64_t m = 0;
  for (int i = 0; i < 64; i++)
    m |= (uint64_t)(p[i] == ';' || p[i] == ',') << i;
  return m;
}
#endif

DM_CSV_INLINE void dm_csv_text_init(dm_csv_text *t, const char *line, size_t len)
{
  t->line = line;
  t->len = len;
  memset(t->head, 0, 16);
  if (len >= 64) {
    memcpy(t->head + 16, line, 32); /* constant sizes: inlined moves */
  } else {
    memcpy(t->head + 16, line, len);
    memset(t->head + 16 + len, 0, sizeof t->head - 16 - len);
  }
}

/* Separators of the 64-byte block at offset b (a multiple of 64, < len). */
DM_CSV_INLINE uint64_t dm_csv_block(const dm_csv_text *t, size_t b)
{
  if (b + 64 <= t->len)
    return dm_csv_sepmask(t->line + b);
  if (t->len >= 64)
    return dm_csv_sepmask(t->line + t->len - 64) >> (b + 64 - t->len);
  return dm_csv_sepmask(t->head + 16);
}

/* Offset of the next separator, or len when there is none. The scan state
 * (*blk, *msk) lives in the caller's registers. */
DM_CSV_INLINE size_t dm_csv_next(const dm_csv_text *t, size_t *blk, uint64_t *msk)
{
  while (*msk == 0) {
    if (*blk + 64 >= t->len)
      return t->len;
    *blk += 64;
    *msk = dm_csv_block(t, *blk);
  }
  size_t pos = *blk + (size_t)__builtin_ctzll(*msk);
  *msk &= *msk - 1;
  return pos;
}

/* Separator byte at offset pos, 0 at the end of the line. */
DM_CSV_INLINE char dm_csv_sep(const dm_csv_text *t, size_t pos)
{
  return pos < t->len ? t->line[pos] : 0;
}

/* Pointer to offset e (<= len) with the 17 bytes before it readable. */
DM_CSV_INLINE const char *dm_csv_end(const dm_csv_text *t, size_t e)
{
  return e >= 17 ? t->line + e : t->head + 16 + e;
}

/* The number filling the field [a, b). */
DM_CSV_INLINE dm_bad_kind dm_csv_field(const dm_csv_text *t, size_t a, size_t b, double *out,
                                       int *over6)
{
#if DM_CSV_SIMD
  uint64_t w;
  unsigned k, neg;
  if (dm_csv_simd_digits(dm_csv_end(t, b), b - a, &w, &k, &neg)) {
    *out = (double)(int64_t)w / dm_csv_p10[k & 15] * dm_csv_sign[neg];
    *over6 = dm_csv_over6(w);
    return DM_BAD_NONE;
  }
#endif
  return dm_csv_number_any(t->line + a, b - a, out, over6);
}

/* Object code of the field [p, p + n). Returns the type or -1. */
static const signed char dm_csv_code1[256] = {
    ['j'] = DM_OBJ_JET + 1, ['b'] = DM_OBJ_BJET + 1, ['g'] = DM_OBJ_PHOTON + 1,
    ['a'] = DM_OBJ_PHOTON + 1}; /* type + 1; 0 = not a code */

DM_CSV_INLINE int dm_csv_code(const char *p, size_t n)
{
  if (n == 1) /* a table, not a switch: j and b alternate unpredictably */
    return dm_csv_code1[(unsigned char)p[0]] - 1;
  if (n == 2 && (p[1] == '-' || p[1] == '+')) {
    int plus = p[1] == '+';
    if (p[0] == 'e')
      return plus ? DM_OBJ_EPLUS : DM_OBJ_EMINUS;
    if (p[0] == 'm')
      return plus ? DM_OBJ_MUPLUS : DM_OBJ_MUMINUS;
    return -1;
  }
  if (n == 3 && p[0] == 'm' && p[1] == 'u' && (p[2] == '-' || p[2] == '+'))
    return p[2] == '+' ? DM_OBJ_MUPLUS : DM_OBJ_MUMINUS;
  return -1;
}

/* Does the process name [a, b) hold a control byte (below 0x20, or 0x7f)? */
DM_CSV_INLINE int dm_csv_has_control(const dm_csv_text *t, size_t a, size_t b)
{
#if DM_CSV_SIMD
  /* 16 bytes at a time, each load ending at e so as to stay in the line. */
  for (size_t e = b;; e -= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(dm_csv_end(t, e) - 16));
    __m128i c = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)));
    unsigned m = (unsigned)_mm_movemask_epi8(c);
    if (e - a <= 16)
      return (m & (0xffff0000u >> (e - a))) != 0;
    if (m)
      return 1;
  }
#else
  for (size_t i = a; i < b; i++) {
    unsigned char c = (unsigned char)t->line[i];
    if (c < 0x20 || c == 0x7f)
      return 1;
  }
  return 0;
#endif
}

/* The next field, a number that must end at separator `want` (',' or ';')
 * or, when want is 0, at ';' or the end of the line. A field ending at the
 * wrong separator is a field count problem. */
#define DM_CSV_NUM(want, out)                                                      \
  do {                                                                             \
    size_t a_ = at, b_ = dm_csv_next(&tx, &blk, &msk);                             \
    int o_ = 0;                                                                    \
    dm_bad_kind k_ = dm_csv_field(&tx, a_, b_, &(out), &o_);                       \
    if (k_ != DM_BAD_NONE)                                                         \
      return k_;                                                                   \
    char c_ = dm_csv_sep(&tx, b_);                                                 \
    if ((want) ? c_ != (want) : c_ == ',')                                         \
      return DM_BAD_FIELD_COUNT;                                                   \
    over6 += o_ & 1;                                                               \
    wide |= o_;                                                                    \
    at = b_ + 1;                                                                   \
  } while (0)

static int dm_csv_float_ok(double v) { return fabs(v) <= FLT_MAX; }

/* Event ID from the field [p, p + n): decimal int64, or an integral %g
 * value. */
static dm_bad_kind dm_csv_event_id(const char *p, size_t n, int64_t *id)
{
  const char *q = p, *end = p + n;
  int neg = 0;
  if (q < end && (*q == '-' || *q == '+')) {
    neg = *q == '-';
    q++;
  }
  const char *d0 = q;
  uint64_t u = 0;
  int over = 0;
  while (q < end && (unsigned)(*q - '0') < 10) {
    unsigned d = (unsigned)(*q - '0');
    if (u > (UINT64_MAX - d) / 10)
      over = 1;
    else
      u = u * 10 + d;
    q++;
  }
  uint64_t lim = neg ? (UINT64_C(1) << 63) : (UINT64_C(1) << 63) - 1;
  if (q > d0 && q == end && !over && u <= lim) {
    *id = neg ? (int64_t)(0 - u) : (int64_t)u;
    return DM_BAD_NONE;
  }
  return DM_BAD_NUMBER; /* the caller tries the %g form */
}

dm_bad_kind dm_csv_parse_line(const char *line, size_t len, dm_csv_event *ev, dm_events *out,
                              int want_double)
{
  if (len > 0 && line[len - 1] == '\n')
    len--;
  if (len > 0 && line[len - 1] == '\r')
    len--;
  memset(ev, 0, sizeof *ev);
  if (len == 0)
    return DM_BAD_FIELD_COUNT;
  dm_csv_text tx;
  dm_csv_text_init(&tx, line, len);
  size_t blk = 0, at = 0;
  uint64_t msk = dm_csv_block(&tx, 0);
  int over6 = 0, wide = 0; /* wide & 2: a value from the general path */

  /* event ID */
  {
    size_t b = dm_csv_next(&tx, &blk, &msk);
    char c = dm_csv_sep(&tx, b);
#if DM_CSV_SIMD
    uint64_t w;
    unsigned k, neg;
    if (dm_csv_simd_digits(dm_csv_end(&tx, b), b, &w, &k, &neg) && k == 16) {
      ev->event_id = neg ? -(int64_t)w : (int64_t)w; /* w < 10^15 */
    } else
#endif
    if (dm_csv_event_id(line, b, &ev->event_id) != DM_BAD_NONE) {
      double v = 0;
      int o;
      dm_bad_kind k = dm_csv_number_any(line, b, &v, &o);
      if (k != DM_BAD_NONE)
        return k;
      if (c == ',')
        return DM_BAD_FIELD_COUNT;
      if (v != floor(v) || fabs(v) > 9007199254740992.0)
        return DM_BAD_NUMBER;
      ev->event_id = (int64_t)v;
    }
    if (c == ',')
      return DM_BAD_FIELD_COUNT;
    if (b == len)
      return DM_BAD_FIELD_COUNT;
    at = b + 1;
  }

  /* process name: up to the next ';' */
  {
    size_t b;
    int comma = 0;
    while ((b = dm_csv_next(&tx, &blk, &msk)) < len && line[b] == ',')
      comma = 1;
    if (comma)
      return DM_BAD_FIELD_COUNT;
    if (b == at)
      return DM_BAD_EMPTY_PROCESS;
    if (dm_csv_has_control(&tx, at, b))
      return DM_BAD_EMPTY_PROCESS;
    if (b == len)
      return DM_BAD_FIELD_COUNT;
    ev->process = line + at;
    ev->process_len = b - at;
    at = b + 1;
  }

  /* weight (stored as float64: its digits are not counted), MET, METphi */
  {
    double met, met_phi;
    DM_CSV_NUM(';', ev->weight);
    over6 = 0;
    DM_CSV_NUM(';', met);
    DM_CSV_NUM(0, met_phi);
    ev->met = met / 1000.0;
    ev->met_phi = met_phi;
    if (!want_double && !(dm_csv_float_ok(ev->met) && dm_csv_float_ok(ev->met_phi)))
      return DM_BAD_NONFINITE;
  }

  int64_t k = out->n_objects;
  int n = 0;
  while (at < len) {
    if (n == 65535)
      return DM_BAD_TOO_MANY_OBJECTS;
    size_t b = dm_csv_next(&tx, &blk, &msk);
    if (b == len || line[b] == ';')
      return DM_BAD_FIELD_COUNT; /* an object of one field (or an empty one) */
    int t = dm_csv_code(line + at, b - at);
    if (t < 0)
      return DM_BAD_OBJECT_CODE;
    at = b + 1;
    double e, pt, eta, phi;
    DM_CSV_NUM(',', e);
    DM_CSV_NUM(',', pt);
    DM_CSV_NUM(',', eta);
    DM_CSV_NUM(0, phi);
    e /= 1000.0;
    pt /= 1000.0;
    if ((wide & 2) && !want_double &&
        !(dm_csv_float_ok(e) && dm_csv_float_ok(pt) && dm_csv_float_ok(eta) &&
          dm_csv_float_ok(phi)))
      return DM_BAD_NONFINITE;
    if (k >= out->cap_objects || (want_double && !out->e_d)) {
      if (dm_csv_reserve(out, k - out->n_objects + 1 + (int64_t)(len - at) / 10, want_double) !=
          DM_OK)
        return DM_BAD_TOO_LONG;
    }
    out->type[k] = (uint8_t)t;
    out->e[k] = (float)e;
    out->pt[k] = (float)pt;
    out->eta[k] = (float)eta;
    out->phi[k] = (float)phi;
    if (want_double) {
      out->e_d[k] = e;
      out->pt_d[k] = pt;
      out->eta_d[k] = eta;
      out->phi_d[k] = phi;
    }
    k++;
    n++;
  }
  ev->n_obj = n;
  ev->inexact_float = over6;
  return DM_BAD_NONE;
}
