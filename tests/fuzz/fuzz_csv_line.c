/* libFuzzer harness: the archive's CSV line parser (io/dm_csv.c).
 *
 * The input is split at newlines; each line is parsed from an exactly sized
 * heap copy, so ASan stops any read past it. The first byte's low bit picks
 * single or double precision. An accepted line must describe itself
 * consistently: a process name inside the line, a non-negative object count
 * with every object type in the enum, and (single precision) finite values.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dm_csv.h"
#include "dm_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static dm_events objs;
  int want_double = size > 0 && (data[0] & 1);
  size_t at = 0;
  while (at < size) {
    const uint8_t *nl = memchr(data + at, '\n', size - at);
    size_t n = nl ? (size_t)(nl - (data + at)) : size - at;
    char *line = malloc(n ? n : 1);
    if (!line)
      return 0;
    memcpy(line, data + at, n);
    dm_csv_event ev;
    memset(&ev, 0, sizeof ev);
    objs.n_objects = 0;
    if (dm_csv_parse_line(line, n, &ev, &objs, want_double) == DM_BAD_NONE) {
      if (!ev.process || ev.process < line || ev.process + ev.process_len > line + n ||
          ev.process_len == 0)
        abort();
      if (ev.n_obj < 0 || (size_t)ev.n_obj > n / 2 + 1)
        abort();
      for (int k = 0; k < ev.n_obj; k++) {
        if (objs.type[k] >= DM_OBJ_NTYPES)
          abort();
        if (!want_double && (!isfinite(objs.e[k]) || !isfinite(objs.pt[k]) ||
                             !isfinite(objs.eta[k]) || !isfinite(objs.phi[k])))
          abort();
      }
      if (!want_double && (!isfinite(ev.met) || !isfinite(ev.met_phi)))
        abort();
    }
    free(line);
    at += n + 1;
  }
  return 0;
}
