/* dm_gen_format.h - writing generated events as archive lines, fast.
 *
 * Formatting numbers is a hot spot of `dmpipe generate`, so numbers are
 * printed by a hand-written %g (6 significant digits) that gives exactly the
 * bytes snprintf("%g") gives (the C locale): it scales by a power of ten
 * into [1e5, 1e6), rounds in fixed point, spells the six digits from a table
 * of three-digit groups with a few 8-byte stores, and falls back to snprintf
 * for values within 2^-20 of a rounding tie or outside 1e-30..1e30, where
 * the scaling's rounding error could matter.
 *
 * The same file makes the malformed lines of --bad-rate, one recipe per
 * rejection reason of dm_csv.h, so ingest tests see every kind.
 * All calls are LOCAL and thread-compatible.
 */
#ifndef DM_GEN_FORMAT_H
#define DM_GEN_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "dm_csv.h"
#include "dm_gen_model.h"

/* Longest output of dm_gen_fmt_g6 ("-1.23457e-100" is 13; room to spare). */
#define DM_GEN_G6_MAX 32

/* LOCAL. x as snprintf("%g", x) would print it; returns the length. No NUL.
 * out must have DM_GEN_G6_MAX bytes of room: the bytes after the returned
 * length may be overwritten (the text is stored 8 bytes at a time). */
size_t dm_gen_fmt_g6(double x, char *out);

/* LOCAL. Non-negative integer in decimal; returns the length. No NUL. */
size_t dm_gen_fmt_u64(uint64_t v, char *out);

/* Longest line dm_gen_format_line writes for a well-formed event (20 objects). */
#define DM_GEN_LINE_MAX 2048

/* Lines of the too-long kind are at least this long (the archive readers'
 * line limit is 1 MiB). */
#define DM_GEN_TOO_LONG_BYTES ((size_t)1 << 20)

/* LOCAL. One archive line for event `ev` (GeV in, MeV printed) with event ID
 * `id`, preceded by nothing and ending with '\n':
 *   id;<prefix>MET;METphi;obj,E,pt,eta,phi;...[;]\n
 * where prefix is "process;weight;" prepared once per file. `bad` selects a
 * malformed variant (DM_BAD_NONE for a good line); `variant` (any bits)
 * picks among the forms of one kind. For DM_BAD_TOO_LONG the caller must
 * provide cap >= DM_GEN_TOO_LONG_BYTES + DM_GEN_LINE_MAX; otherwise
 * DM_GEN_LINE_MAX suffices. Returns the bytes written. */
size_t dm_gen_format_line(const dm_gen_event *ev, uint64_t id, const char *prefix,
                          size_t prefix_len, int trailing_semicolon, dm_bad_kind bad,
                          uint64_t variant, char *out, size_t cap);

#endif
