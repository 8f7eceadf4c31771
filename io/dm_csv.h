/* dm_csv.h - the Dark Machines archive line format: parsing and printing.
 *
 *   event ID;process ID;event weight;MET;METphi;obj,E,pt,eta,phi;...[;]
 *
 * Parsing is locale-independent and does not call strtod per field: numbers
 * are scanned by hand and converted exactly (correctly rounded) to double.
 * Energies, pT and MET are converted from MeV to GeV (divided by 1000).
 * All calls are LOCAL and thread-compatible (a parser per thread).
 */
#ifndef DM_CSV_H
#define DM_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "dm_status.h"
#include "dm_store.h"

/* Why a line was rejected. Stable order: used as an index into counters and
 * printed by name. */
typedef enum {
  DM_BAD_NONE = 0,
  DM_BAD_FIELD_COUNT,    /* fewer than 5 header fields, or an object without 5 fields */
  DM_BAD_NUMBER,         /* unparsable number */
  DM_BAD_NONFINITE,      /* nan, inf, or out of range */
  DM_BAD_OBJECT_CODE,    /* object code not in j b e- e+ m- m+ g (mu-, mu+, a legacy) */
  DM_BAD_EMPTY_PROCESS,  /* empty process name */
  DM_BAD_TRUNCATED,      /* last line of a file without a newline and not complete */
  DM_BAD_TOO_LONG,       /* line longer than the limit */
  DM_BAD_TOO_MANY_OBJECTS, /* more objects than the store's n_obj type holds */
  DM_BAD_NKINDS
} dm_bad_kind;

/* LOCAL. Short name of a rejection reason ("field-count", "number", ...). */
const char *dm_bad_kind_name(dm_bad_kind k);

/* One parsed line, before it is appended to a batch. The caller owns the
 * process name view (points into the input buffer; not NUL-terminated). */
typedef struct {
  int64_t event_id;
  const char *process;
  size_t process_len;
  double weight, met, met_phi; /* GeV */
  int n_obj;
  /* Number of values that were printed with more significant digits than a
   * float32 keeps (so a float32 store would not give them back exactly). */
  int inexact_float;
} dm_csv_event;

/* Parse one line [line, line + len) without its newline (a trailing '\r' is
 * allowed). On success fills *ev and appends the objects to the object arrays
 * of `out` starting at index out->n_objects (growing them), leaving
 * out->n_objects unchanged: the caller commits the event by advancing it.
 * Returns DM_BAD_NONE or the reason; `out` arrays may be grown either way. */
dm_bad_kind dm_csv_parse_line(const char *line, size_t len, dm_csv_event *ev, dm_events *out,
                              int want_double);

/* Details of dm_csv_parse_line:
 * - The first fault from the left decides the reason. An empty line is
 *   DM_BAD_FIELD_COUNT. A process name containing ',' is DM_BAD_FIELD_COUNT
 *   (wrong separators); one containing control bytes (below 0x20, 0x7f) is
 *   DM_BAD_EMPTY_PROCESS (no usable name). An empty number field is
 *   DM_BAD_NUMBER. The event ID is a decimal int64 (an integral %g value
 *   such as 1e+06 is accepted too). Legacy codes mu-, mu+, a map to m-, m+, g.
 * - With want_double == 0, a value whose GeV float32 would overflow is
 *   DM_BAD_NONFINITE.
 * - DM_BAD_TOO_LONG and DM_BAD_TRUNCATED are the caller's to decide, except
 *   that if growing the object arrays fails the line is DM_BAD_TOO_LONG and
 *   dm_error(DM_ERR_NOMEM, ...) is recorded; a caller that must tell the two
 *   apart calls dm_csv_reserve first (a line of len bytes holds at most
 *   len / 10 + 1 objects), after which parsing does not allocate. */

/* LOCAL. Make room for n_more objects after out->n_objects in the object
 * arrays (and their double copies when want_double). */
dm_status dm_csv_reserve(dm_events *out, int64_t n_more, int want_double);

/* LOCAL. Parse one whole number token [s, s + len) of the archive grammar
 * ([+-]digits[.digits][(e|E)[+-]digits], "nan"/"inf" recognised as
 * non-finite) into a correctly rounded double. Returns DM_BAD_NONE,
 * DM_BAD_NUMBER (not a number, or trailing bytes) or DM_BAD_NONFINITE. */
dm_bad_kind dm_csv_parse_number(const char *s, size_t len, double *out);

/* LOCAL. Print v like printf("%.*g", digits, v) (digits 1..17), without the
 * locale, into buf (at least 32 bytes; the text is at most 25); returns the
 * length (no NUL written). */
size_t dm_csv_format_g(double v, int digits, char *buf);

/* LOCAL. Shortest %g-style text (15, 16 or 17 significant digits, trailing
 * zeros dropped) of v * scale, or of one of its two nearest neighbours on
 * each side, such that dm_csv_parse_number of it divided by scale gives back
 * v exactly (scale 1000 prints a GeV value in MeV; 1 prints v itself). Every
 * v that came from dividing a parsed number by scale has such a text; for
 * other v the 17-digit text of v * scale is returned. buf holds at least 32
 * bytes; returns the length (no NUL written). */
size_t dm_csv_format_shortest(double v, double scale, char *buf);

/* Print one event of a batch in archive format (MeV, %g-style numbers with
 * the given significant digits: 6 for float32 stores, 17 for float64),
 * with a trailing ';' if trailing_semicolon, and a newline. Returns the
 * number of bytes written to buf, or 0 if cap is too small.
 * In detail: double_precision == 0 prints the float arrays with %.6g (the
 * float's value times 1000 for E, pT, MET), which gives back the archive's
 * own text for every value it printed with at most 6 digits. Otherwise the
 * double arrays (when present) are printed with dm_csv_format_shortest, so
 * that parsing the output gives back the same doubles. The weight is always
 * printed shortest-round-trip. No NUL is written. */
size_t dm_csv_format_event(const dm_events *ev, int64_t i, const char *process_name,
                           int double_precision, int trailing_semicolon, char *buf, size_t cap);

#endif
