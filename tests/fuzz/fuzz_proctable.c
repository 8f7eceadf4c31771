/* libFuzzer harness: the process-table parser (io/dm_proctable.c).
 *
 * The text is parsed from an exactly sized heap copy (no terminating NUL, as
 * dm_proctable_parse takes a length). An accepted table must be usable: every
 * process has a non-empty name that the table finds again (by name or by an
 * alias of an earlier row).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dm_proctable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size ? size : 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  dm_proctable *t = NULL;
  if (dm_proctable_parse(text, size, "fuzz.csv", &t) == DM_OK) {
    int n = dm_proctable_count(t);
    if (n < 0)
      abort();
    for (int i = 0; i < n; i++) {
      const dm_process *p = dm_proctable_get(t, i);
      if (!p || !p->name || !p->name[0])
        abort();
      int j = dm_proctable_index(t, p->name);
      if (j < 0 || j >= n)
        abort();
    }
  }
  dm_proctable_free(t);
  free(text);
  return 0;
}
