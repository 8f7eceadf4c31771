/* dm_csv_print.c - print archive lines (contract in dm_csv.h).
 *
 * %g rounding is done exactly with 128-bit integers (glibc's output, byte for
 * byte, checked by the tests), snprintf only outside that range. The
 * shortest round-trip text is checked by reading it back with the parser's
 * own dm_csv_parse_number, so "round trip" means exactly what ingest reads.
 */
#include "dm_csv.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- printing --------------------------------------------------------------
 * %.Pg needs the value rounded to P significant digits exactly as glibc
 * does it (exact binary value, ties to even). A finite double is M * 2^E
 * with M < 2^53, so q = round(M * 2^E * 10^s) is an integer computation that
 * fits in 128 bits for the exponents that matter here (|s| small, modest E);
 * anything else falls back to snprintf. */

__extension__ typedef unsigned __int128 dm_csv_u128;

static const uint64_t dm_csv_u10[20] = {UINT64_C(1),
                                        UINT64_C(10),
                                        UINT64_C(100),
                                        UINT64_C(1000),
                                        UINT64_C(10000),
                                        UINT64_C(100000),
                                        UINT64_C(1000000),
                                        UINT64_C(10000000),
                                        UINT64_C(100000000),
                                        UINT64_C(1000000000),
                                        UINT64_C(10000000000),
                                        UINT64_C(100000000000),
                                        UINT64_C(1000000000000),
                                        UINT64_C(10000000000000),
                                        UINT64_C(100000000000000),
                                        UINT64_C(1000000000000000),
                                        UINT64_C(10000000000000000),
                                        UINT64_C(100000000000000000),
                                        UINT64_C(1000000000000000000),
                                        UINT64_C(10000000000000000000)};

static dm_csv_u128 dm_csv_p10_128(int s) /* 0 <= s <= 38 */
{
  return s <= 19 ? (dm_csv_u128)dm_csv_u10[s] : (dm_csv_u128)dm_csv_u10[19] * dm_csv_u10[s - 19];
}

/* q = round(M * 2^E * 10^s), ties to even. 0 if it does not fit the exact
 * 128-bit scheme or q >= 2^64. */
static int dm_csv_scaled(uint64_t M, int E, int s, uint64_t *q)
{
  dm_csv_u128 N, D, qq, rem;
  if (s >= 0) {
    if (s > 22)
      return 0;
    N = (dm_csv_u128)M * dm_csv_p10_128(s); /* < 2^53 * 2^74 */
    if (E >= 0) {
      if (E >= 64 || (N >> (64 - E)) != 0)
        return 0;
      *q = (uint64_t)(N << E);
      return 1;
    }
    int sh = -E;
    if (sh >= 127)
      return 0;
    qq = N >> sh;
    rem = N - (qq << sh);
    dm_csv_u128 half = (dm_csv_u128)1 << (sh - 1);
    if (rem > half || (rem == half && (qq & 1)))
      qq++;
  } else {
    int t = -s;
    if (t > 38)
      return 0;
    D = dm_csv_p10_128(t);
    if (E >= 0) {
      if (E > 64)
        return 0;
      N = (dm_csv_u128)M << E;
    } else {
      int sh = -E; /* keep D << sh below 2^127 so that 2 * rem cannot wrap */
      if (sh >= 127 || (D >> (127 - sh)) != 0)
        return 0;
      N = M;
      D <<= -E;
    }
    if ((N >> 64) == 0 && (D >> 64) == 0) {
      uint64_t n64 = (uint64_t)N, d64 = (uint64_t)D;
      qq = n64 / d64;
      rem = n64 - (uint64_t)qq * d64;
    } else {
      qq = N / D;
      rem = N - qq * D;
    }
    if (2 * rem > D || (2 * rem == D && (qq & 1)))
      qq++;
  }
  if ((qq >> 64) != 0)
    return 0;
  *q = (uint64_t)qq;
  return 1;
}

/* |v| (finite, non-zero) to P significant digits: q in [10^(P-1), 10^P)
 * and the decimal exponent X of the first digit. 0 if out of range. */
static int dm_csv_digits(double v, int P, uint64_t *q, int *X)
{
  /* v = M * 2^E straight from the bits (no libm calls); subnormals are rare
   * enough for the library path. */
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  int ex = (int)((bits >> 52) & 0x7ff);
  if (ex == 0)
    return 0;
  uint64_t M = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
  int E = ex - 1075;
  /* v in [2^(E+52), 2^(E+53)): floor(log10 v) is about (E + 52) * log10(2)
   * (78913 / 2^18); the loop below corrects an estimate off by one. */
  int64_t t = (int64_t)(E + 52) * 78913;
  int e10 = (int)(t >= 0 ? t >> 18 : -((-t + 262143) >> 18));
  for (int iter = 0; iter < 3; iter++) {
    uint64_t r;
    if (!dm_csv_scaled(M, E, P - 1 - e10, &r))
      return 0;
    if (r >= dm_csv_u10[P]) {
      e10++;
    } else if (r < dm_csv_u10[P - 1]) {
      e10--;
    } else {
      *q = r;
      *X = e10;
      return 1;
    }
  }
  return 0;
}

/* Text of (neg) q * 10^(X - P + 1) in %g layout, trailing zeros removed. */
static size_t dm_csv_emit(int neg, uint64_t q, int P, int X, char *buf)
{
  char dig[20];
  for (int i = P - 1; i >= 0; i--) {
    dig[i] = (char)('0' + q % 10);
    q /= 10;
  }
  int nz = P;
  while (nz > 1 && dig[nz - 1] == '0')
    nz--;
  char *o = buf;
  if (neg)
    *o++ = '-';
  if (X < P && X >= -4) {
    if (X >= 0) {
      memcpy(o, dig, (size_t)X + 1);
      o += X + 1;
      if (nz > X + 1) {
        *o++ = '.';
        memcpy(o, dig + X + 1, (size_t)(nz - X - 1));
        o += nz - X - 1;
      }
    } else {
      *o++ = '0';
      *o++ = '.';
      for (int i = 0; i < -X - 1; i++)
        *o++ = '0';
      memcpy(o, dig, (size_t)nz);
      o += nz;
    }
  } else {
    *o++ = dig[0];
    if (nz > 1) {
      *o++ = '.';
      memcpy(o, dig + 1, (size_t)nz - 1);
      o += nz - 1;
    }
    *o++ = 'e';
    *o++ = X < 0 ? '-' : '+';
    unsigned ax = (unsigned)(X < 0 ? -X : X);
    if (ax >= 100) {
      *o++ = (char)('0' + ax / 100);
      ax %= 100;
    }
    *o++ = (char)('0' + ax / 10);
    *o++ = (char)('0' + ax % 10);
  }
  return (size_t)(o - buf);
}

static size_t dm_csv_snprintf_g(double v, int P, char *buf)
{
  char tmp[64];
  int n = snprintf(tmp, sizeof tmp, "%.*g", P, v);
  if (n < 0 || n > 31)
    n = 0;
  for (int i = 0; i < n; i++) /* in case a caller set a locale with ',' */
    buf[i] = tmp[i] == ',' ? '.' : tmp[i];
  return (size_t)n;
}

size_t dm_csv_format_g(double v, int digits, char *buf)
{
  int P = digits < 1 ? 1 : digits > 17 ? 17 : digits;
  if (!isfinite(v))
    return dm_csv_snprintf_g(v, P, buf);
  int neg = signbit(v) != 0;
  if (v == 0) {
    if (neg)
      *buf++ = '-';
    *buf = '0';
    return 1 + (size_t)neg;
  }
  uint64_t q;
  int X;
  if (!dm_csv_digits(fabs(v), P, &q, &X))
    return dm_csv_snprintf_g(v, P, buf);
  return dm_csv_emit(neg, q, P, X, buf);
}

static int dm_csv_gives_back(const char *buf, size_t n, double v, double scale)
{
  double back;
  return dm_csv_parse_number(buf, n, &back) == DM_BAD_NONE &&
         (scale == 1.0 ? back : back / scale) == v;
}

size_t dm_csv_format_shortest(double v, double scale, char *buf)
{
  double y = v * scale;
  size_t n = 0;
  for (int P = 15; P <= 17; P++) {
    n = dm_csv_format_g(y, P, buf);
    if (dm_csv_gives_back(buf, n, v, scale))
      return n;
  }
  if (scale == 1.0 || !isfinite(y))
    return n;
  /* v * scale rounded once; the MeV double that v was divided from can be a
   * neighbour of it. Try those before settling for y. */
  double lo = y, hi = y;
  for (int step = 0; step < 2; step++) {
    lo = nextafter(lo, -INFINITY);
    hi = nextafter(hi, INFINITY);
    for (int P = 15; P <= 17; P++) {
      n = dm_csv_format_g(lo, P, buf);
      if (dm_csv_gives_back(buf, n, v, scale))
        return n;
      n = dm_csv_format_g(hi, P, buf);
      if (dm_csv_gives_back(buf, n, v, scale))
        return n;
    }
  }
  return dm_csv_format_g(y, 17, buf);
}

static const char *const dm_csv_codes[DM_OBJ_NTYPES] = {"j", "b", "e-", "e+", "m-", "m+", "g"};

/* Appends [s, s + n) at *pos if it fits in cap. */
static int dm_csv_put(char *buf, size_t cap, size_t *pos, const char *s, size_t n)
{
  if (cap - *pos < n)
    return 0;
  memcpy(buf + *pos, s, n);
  *pos += n;
  return 1;
}

size_t dm_csv_format_event(const dm_events *ev, int64_t i, const char *process_name,
                           int double_precision, int trailing_semicolon, char *buf, size_t cap)
{
  char t[80]; /* two numbers of at most 25 bytes each, a code, separators */
  size_t pos = 0, n;
  int dbl = double_precision != 0;

  /* event ID */
  {
    int64_t id = ev->event_id[i];
    uint64_t u = id < 0 ? (uint64_t)0 - (uint64_t)id : (uint64_t)id;
    char *o = t + sizeof t;
    *--o = ';';
    do {
      *--o = (char)('0' + u % 10);
      u /= 10;
    } while (u);
    if (id < 0)
      *--o = '-';
    if (!dm_csv_put(buf, cap, &pos, o, (size_t)(t + sizeof t - o)))
      return 0;
  }
  if (!dm_csv_put(buf, cap, &pos, process_name, strlen(process_name)) ||
      !dm_csv_put(buf, cap, &pos, ";", 1))
    return 0;
  n = dm_csv_format_shortest(ev->weight[i], 1.0, t);
  t[n++] = ';';
  if (!dm_csv_put(buf, cap, &pos, t, n))
    return 0;
  if (dbl && ev->met_d && ev->met_phi_d) {
    n = dm_csv_format_shortest(ev->met_d[i], 1000.0, t);
    t[n++] = ';';
    n += dm_csv_format_shortest(ev->met_phi_d[i], 1.0, t + n);
  } else {
    n = dm_csv_format_g((double)ev->met[i] * 1000.0, 6, t);
    t[n++] = ';';
    n += dm_csv_format_g((double)ev->met_phi[i], 6, t + n);
  }
  if (!dm_csv_put(buf, cap, &pos, t, n))
    return 0;

  int obj_dbl = dbl && ev->e_d && ev->pt_d && ev->eta_d && ev->phi_d;
  for (int64_t k = ev->obj_offset[i]; k < ev->obj_offset[i + 1]; k++) {
    unsigned ty = ev->type[k];
    const char *code = ty < DM_OBJ_NTYPES ? dm_csv_codes[ty] : "?";
    size_t cl = strlen(code);
    t[0] = ';';
    memcpy(t + 1, code, cl);
    n = 1 + cl;
    t[n++] = ',';
    if (!dm_csv_put(buf, cap, &pos, t, n))
      return 0;
    double vals[4];
    if (obj_dbl) {
      vals[0] = ev->e_d[k], vals[1] = ev->pt_d[k], vals[2] = ev->eta_d[k], vals[3] = ev->phi_d[k];
    } else {
      vals[0] = ev->e[k], vals[1] = ev->pt[k], vals[2] = ev->eta[k], vals[3] = ev->phi[k];
    }
    for (int j = 0; j < 4; j++) {
      double scale = j < 2 ? 1000.0 : 1.0;
      n = obj_dbl ? dm_csv_format_shortest(vals[j], scale, t)
                  : dm_csv_format_g(vals[j] * scale, 6, t);
      if (j < 3)
        t[n++] = ',';
      if (!dm_csv_put(buf, cap, &pos, t, n))
        return 0;
    }
  }
  if (trailing_semicolon && !dm_csv_put(buf, cap, &pos, ";", 1))
    return 0;
  if (!dm_csv_put(buf, cap, &pos, "\n", 1))
    return 0;
  return pos;
}
