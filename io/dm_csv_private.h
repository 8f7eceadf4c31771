/* dm_csv_private.h - shared between io/dm_csv.c (lines) and
 * io/dm_csv_number.c (numbers of any shape). Private: not part of the API,
 * not installed, included by nothing outside io/dm_csv*.c. */
#ifndef DM_CSV_PRIVATE_H
#define DM_CSV_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "dm_csv.h"

/* 10^0 .. 10^22, each an exact double. */
extern const double dm_csv_pow10[23];

/* A number with its reason and over6 bits (bit 0: more than 6 significant
 * digits; bit 1: from the general path, the only one that can leave float
 * range), returned by value so that a caller's variables never have their
 * address taken (which would keep them out of registers). */
typedef struct {
  double v;
  dm_bad_kind kind;
  int over6;
} dm_csv_num;

/* LOCAL. The number filling [p, p + n) exactly, any shape of the grammar;
 * bytes past p + n are not read. The slow path of the line parser. */
dm_csv_num dm_csv_number_any(const char *p, size_t n);

/* LOCAL. More than 6 significant digits in the mantissa w >= 10^6, trailing
 * zeros not counted ("331920" prints back the same from a float). */
int dm_csv_over6_strip(uint64_t w);

static inline int dm_csv_over6(uint64_t w) { return w < 1000000 ? 0 : dm_csv_over6_strip(w); }

#endif
