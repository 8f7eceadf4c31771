/* dm_csv.c - parse archive lines (contract in dm_csv.h). Numbers of
 * unusual shape are converted in dm_csv_number.c, printing is in
 * dm_csv_print.c.
 *
 * Parsing a line: a separator index (';' and ',' found 64 bytes at a time)
 * gives every field's bounds up front, then the numbers are converted with
 * SSE2 byte compares and multiply-adds, two at a time where they are short,
 * without a branch on their length or shape (see "lines" below). Every
 * number is correctly rounded: a mantissa below 2^53 divided by an exact
 * power of ten. MeV become GeV by one more division by 1000 in double.
 */
#include "dm_csv.h"
#include "dm_csv_private.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DM_CSV_INLINE static inline __attribute__((always_inline))

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

#if defined(__SSE2__)
#include <emmintrin.h>
#define DM_CSV_SIMD 1

/* 10^k (k = 0..15) with a sign: x / -d is exactly -(x / d), so one
 * division gives the signed, correctly rounded value. */
static const double dm_csv_sden[2][16] = {
    {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15},
    {-1e0, -1e1, -1e2, -1e3, -1e4, -1e5, -1e6, -1e7, -1e8, -1e9, -1e10, -1e11, -1e12, -1e13, -1e14,
     -1e15}};

/* 16 x 0xff then 16 x 0: 16 bytes from offset k have lanes j < 16 - k set. */
static const unsigned char dm_csv_ramp[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* The field of n bytes that ends at pe, with pe[-17, 0) readable. Returns 0
 * (and reads nothing) unless 1 <= n <= 15, 0 if the field has another
 * shape; else the mantissa *w (< 10^15), the number of digits after the '.'
 * in *k (16 if there is no '.') and the sign in *neg. */
DM_CSV_INLINE int dm_csv_simd_digits(const char *pe, size_t n, uint64_t *w, unsigned *k,
                                     unsigned *neg)
{
  if (n - 1 >= 15)
    return 0;
  unsigned ng = pe[-(ptrdiff_t)n] == '-';
  unsigned L = (unsigned)n - ng;
  __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(pe - 16));
  __m128i d = _mm_sub_epi8(a, _mm_set1_epi8('0'));
  unsigned dig = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d));
  unsigned dots = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, _mm_set1_epi8('.')));
  unsigned nd = ~dig & (0xffff0000u >> L) & 0xffff; /* non-digits among the last L lanes */
  unsigned has = nd != 0;
  if (nd & ~dots) /* one test per condition: cheaper than or-ing flags */
    return 0;
  if (nd & (nd - 1))
    return 0;
  if (L == has) /* "." or "-." */
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

dm_bad_kind dm_csv_parse_number(const char *s, size_t len, double *out)
{
#if DM_CSV_SIMD
  /* Short tokens (the printer's round-trip checks) take the 16-byte path
   * on a zero-padded copy that ends where the token does. */
  if (len - 1 < 15) {
    char buf[32] = {0};
    memcpy(buf + 32 - len, s, len);
    uint64_t w;
    unsigned k, neg;
    if (dm_csv_simd_digits(buf + 32, len, &w, &k, &neg)) {
      *out = (double)(int64_t)w / dm_csv_sden[neg][k & 15];
      return DM_BAD_NONE;
    }
  }
#endif
  dm_csv_num r = dm_csv_number_any(s, len);
  if (r.kind == DM_BAD_NONE)
    *out = r.v;
  return r.kind;
}

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

/* Separators of the 64-byte block at offset b (a multiple of 64, < len).
 * Called once per 64 bytes, so not inlined: inlined, its loads get hoisted
 * out of the field loop and crowd out the number code's registers. */
static __attribute__((noinline)) uint64_t dm_csv_block(const char *line, size_t len,
                                                       const char *head, size_t b)
{
  if (b + 64 <= len)
    return dm_csv_sepmask(line + b);
  if (len >= 64)
    return dm_csv_sepmask(line + len - 64) >> (b + 64 - len);
  return dm_csv_sepmask(head + 16);
}

/* Offset of the next separator, or len when there is none. The scan state
 * (*blk, *msk) lives in the caller's registers. */
DM_CSV_INLINE size_t dm_csv_next(const dm_csv_text *t, size_t *blk, uint64_t *msk)
{
  while (*msk == 0) {
    if (*blk + 64 >= t->len)
      return t->len;
    *blk += 64;
    *msk = dm_csv_block(t->line, t->len, t->head, *blk);
  }
  size_t pos = *blk + (unsigned)__builtin_ctzll(*msk); /* unsigned: no sign extension */
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

#if DM_CSV_SIMD
/* 8 x 0xff then 8 x 0: 8 bytes from offset k have lanes j < 8 - k set. */
static const unsigned char dm_csv_ramp8[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* By field length L (0..16) without the sign: the lanes of an 8-byte half it
 * covers; for a length out of 1..9, a bit above all lanes, which no '.'
 * matches, so the field is refused with the shape checks. */
static const uint32_t dm_csv_lastl[17] = {
    0x10000, 0x80,    0xc0,    0xe0,    0xf0,    0xf8,    0xfc,    0xfe,   0xff,
    0xff,    0x10000, 0x10000, 0x10000, 0x10000, 0x10000, 0x10000, 0x10000};

/* By the lane of the '.' in an 8-byte half (8: none): the lanes up to it
 * (taken from the load one byte earlier), and the signed 10^(lanes after
 * it). */
static const uint64_t dm_csv_upto[9] = {0xff,
                                        0xffff,
                                        0xffffff,
                                        0xffffffff,
                                        0xffffffffff,
                                        0xffffffffffff,
                                        0xffffffffffffff,
                                        0xffffffffffffffff,
                                        0};
static const double dm_csv_den[2][9] = {{1e7, 1e6, 1e5, 1e4, 1e3, 1e2, 1e1, 1e0, 1e0},
                                        {-1e7, -1e6, -1e5, -1e4, -1e3, -1e2, -1e1, -1e0, -1e0}};

/* Digit lanes of x (bit per byte). */
DM_CSV_INLINE unsigned dm_csv_digmask(__m128i x)
{
  __m128i d = _mm_sub_epi8(x, _mm_set1_epi8('0'));
  return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d));
}

/* Two fields ending at p and q, 8 bytes each (lanes 0..7 and 8..15). */
DM_CSV_INLINE __m128i dm_csv_two8(const char *p, const char *q)
{
  return _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(const void *)p),
                            _mm_loadl_epi64((const __m128i *)(const void *)q));
}

/* Two numbers in one pass, the fields [a1, e1) and [e1 + 1, e2), each '-'?
 * then at most 9 bytes of digits with at most one '.', at most 8 digits
 * and at most 6 significant ones (E and pT, eta and phi of nearly every
 * object): the single-number steps above, each field in one 8-byte half of
 * the register (a 9th byte, before the half, comes in with the load one
 * byte earlier). Returns NaNs if either field is of another shape (the
 * caller's exact path then decides). Not inlined: on its own it is
 * register-allocated without spills. */
static __attribute__((noinline)) __m128d dm_csv_short2(const dm_csv_text *t, size_t a1, size_t e1,
                                                       size_t e2)
{
  size_t a2 = e1 + 1, n1 = e1 - a1, n2 = e2 - a2;
  if (((n1 - 1) | (n2 - 1)) >= 16) /* non-empty, before reading a byte */
    return _mm_set1_pd(__builtin_nan(""));
  unsigned g1 = t->line[a1] == '-', g2 = t->line[a2] == '-';
  unsigned L1 = (unsigned)n1 - g1, L2 = (unsigned)n2 - g2; /* 0..16 */
  const char *p1 = dm_csv_end(t, e1), *p2 = dm_csv_end(t, e2);
  __m128i a = dm_csv_two8(p1 - 8, p2 - 8), b = dm_csv_two8(p1 - 9, p2 - 9);
  unsigned dots = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, _mm_set1_epi8('.')));
  unsigned nd = ~dm_csv_digmask(a) & (dm_csv_lastl[L1] | dm_csv_lastl[L2] << 8);
  unsigned nd1 = nd & 0xff, nd2 = nd >> 8;
  if ((nd & ~dots) | (nd1 & (nd1 - 1)) | (nd2 & (nd2 - 1)))
    return _mm_set1_pd(__builtin_nan(""));
  unsigned l1 = (unsigned)__builtin_ctz(nd1 | 0x100), l2 = (unsigned)__builtin_ctz(nd2 | 0x100);
  unsigned N1 = L1 - 1 + (l1 >> 3), N2 = L2 - 1 + (l2 >> 3); /* digits */
  if (((N1 - 1) | (N2 - 1)) >= 8) /* "." alone, or 9 digits */
    return _mm_set1_pd(__builtin_nan(""));
  /* A 9-byte field's first byte, lane 0 of the earlier load, is not
   * classified: it is the digit of weight 10^7 (9 bytes hold 8 digits), and
   * any other byte there is worth at least 10 (saturating at 32767 through
   * the packs), so the mantissa is at least 10^8 and refused below. */
  __m128i fromb = _mm_set_epi64x((long long)dm_csv_upto[l2], (long long)dm_csv_upto[l1]);
  __m128i lead = dm_csv_two8((const char *)dm_csv_ramp8 + N1, (const char *)dm_csv_ramp8 + N2);
  __m128i c = _mm_or_si128(_mm_andnot_si128(fromb, a), _mm_and_si128(fromb, b));
  __m128i x = _mm_andnot_si128(lead, _mm_sub_epi8(c, _mm_set1_epi8('0')));
  __m128i z = _mm_setzero_si128();
  __m128i m10 = _mm_set1_epi32(0x0001000a);
  __m128i p2s = _mm_packs_epi32(_mm_madd_epi16(_mm_unpacklo_epi8(x, z), m10),
                                _mm_madd_epi16(_mm_unpackhi_epi8(x, z), m10));
  __m128i p4 = _mm_madd_epi16(p2s, _mm_set1_epi32(0x00010064));
  __m128i w = _mm_madd_epi16(_mm_packs_epi32(p4, p4), _mm_set1_epi32(0x00012710)); /* w1, w2 */
  if (_mm_movemask_epi8(_mm_cmpgt_epi32(w, _mm_set1_epi32(999999))) & 0xff)
    return _mm_set1_pd(__builtin_nan("")); /* over 6 digits: counted on the exact path */
  return _mm_div_pd(_mm_cvtepi32_pd(w), _mm_set_pd(dm_csv_den[g2][l2], dm_csv_den[g1][l1]));
}

/* One number, the field of n bytes ending at pe (pe[-17, 0) readable), of
 * the shape of dm_csv_simd_digits with at most 6 significant digits, in the
 * low lane; NaN for anything else. (NaN marks "not here" in both short
 * paths and is tested with an SSE compare, which no -ffinite-math-only can
 * fold away: a number of the archive never reads as NaN on these paths.) */
static __attribute__((noinline)) __m128d dm_csv_short1(const char *pe, size_t n)
{
  uint64_t w;
  unsigned k, neg;
  if (!dm_csv_simd_digits(pe, n, &w, &k, &neg) || w >= 1000000)
    return _mm_set1_pd(__builtin_nan(""));
  return _mm_set_sd((double)(int64_t)w / dm_csv_sden[neg][k & 15]);
}
#endif

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
#if DM_CSV_SIMD
#define DM_CSV_NUM_FAST(a_, b_, out)                                              \
  __m128d f_ = dm_csv_short1(dm_csv_end(&tx, b_), b_ - a_);                       \
  if (!(_mm_movemask_pd(_mm_cmpunord_sd(f_, f_)) & 1))                           \
    (out) = _mm_cvtsd_f64(f_);                                                    \
  else
#else
#define DM_CSV_NUM_FAST(a_, b_, out)
#endif
/* The number filling [at, b), ending at separator `want`. */
#define DM_CSV_NUM_AT(b, want, out)                                               \
  do {                                                                            \
    size_t a_ = at, b_ = (b);                                                     \
    DM_CSV_NUM_FAST(a_, b_, out)                                                  \
    {                                                                             \
      dm_csv_num r_ = dm_csv_number_any(line + a_, b_ - a_);                      \
      if (r_.kind != DM_BAD_NONE)                                                 \
        return r_.kind;                                                           \
      (out) = r_.v;                                                               \
      over6 += r_.over6 & 1;                                                      \
      wide |= r_.over6;                                                           \
    }                                                                             \
    char c_ = dm_csv_sep(&tx, b_);                                                \
    if ((want) ? c_ != (want) : c_ == ',')                                        \
      return DM_BAD_FIELD_COUNT;                                                  \
    at = b_ + 1;                                                                  \
  } while (0)
#define DM_CSV_NUM(want, out) DM_CSV_NUM_AT(dm_csv_next(&tx, &blk, &msk), want, out)

/* Two numbers, separated by `want1`, the second ending at `want2`: both in
 * one pass when they and their separators are as expected, else one after
 * the other (which then finds the leftmost fault, as always). */
#if DM_CSV_SIMD
#define DM_CSV_PAIR(b1, b2, want1, want2, out1, out2)                             \
  do {                                                                            \
    size_t b1_ = (b1), b2_ = (b2); /* in this order: they pop separators */       \
    char c1_ = dm_csv_sep(&tx, b1_), c2_ = dm_csv_sep(&tx, b2_);                  \
    __m128d v_;                                                                   \
    if (c1_ == (want1) && ((want2) ? c2_ == (want2) : c2_ != ',') &&              \
        (v_ = dm_csv_short2(&tx, at, b1_, b2_),                                   \
         !_mm_movemask_pd(_mm_cmpunord_pd(v_, v_)))) {                            \
      (out1) = _mm_cvtsd_f64(v_);                                                 \
      (out2) = _mm_cvtsd_f64(_mm_unpackhi_pd(v_, v_));                            \
      at = b2_ + 1;                                                               \
    } else {                                                                      \
      DM_CSV_NUM_AT(b1_, want1, out1);                                            \
      DM_CSV_NUM_AT(b2_, want2, out2);                                            \
    }                                                                             \
  } while (0)
#else
#define DM_CSV_PAIR(b1, b2, want1, want2, out1, out2)                             \
  do {                                                                            \
    size_t b1_ = (b1), b2_ = (b2); /* in this order: they pop separators */       \
    DM_CSV_NUM_AT(b1_, want1, out1);                                              \
    DM_CSV_NUM_AT(b2_, want2, out2);                                              \
  } while (0)
#endif

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
  uint64_t msk = dm_csv_block(line, len, tx.head, 0);
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
      dm_csv_num r = dm_csv_number_any(line, b);
      if (r.kind != DM_BAD_NONE)
        return r.kind;
      if (c == ',')
        return DM_BAD_FIELD_COUNT;
      if (r.v != floor(r.v) || fabs(r.v) > 9007199254740992.0)
        return DM_BAD_NUMBER;
      ev->event_id = (int64_t)r.v;
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
    DM_CSV_PAIR(dm_csv_next(&tx, &blk, &msk), dm_csv_next(&tx, &blk, &msk), ';', 0, met, met_phi);
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
    DM_CSV_PAIR(dm_csv_next(&tx, &blk, &msk), dm_csv_next(&tx, &blk, &msk), ',', ',', e, pt);
    DM_CSV_PAIR(dm_csv_next(&tx, &blk, &msk), dm_csv_next(&tx, &blk, &msk), ',', 0, eta, phi);
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
