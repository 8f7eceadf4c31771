/* libFuzzer harness: the cut-file parser (stages/select, dm_cuts_parse).
 *
 * Any text either fails with a message or gives a selection that is
 * canonical: formatted back to cut-file text it parses again to the same
 * text (dm_cuts.h promises that re-parsing gives the same selection).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dm_cuts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  dm_cutset cs;
  if (dm_cuts_parse(text, "fuzz.ini", &cs) == DM_OK) {
    if (cs.n < 0 || cs.n > DM_CUTS_MAX)
      abort();
    static char a[1 << 16], b[1 << 16];
    int la = dm_cuts_format(&cs, a, sizeof a);
    if (la >= 0) {
      dm_cutset again;
      if (dm_cuts_parse(a, "formatted.ini", &again) != DM_OK)
        abort();
      int lb = dm_cuts_format(&again, b, sizeof b);
      if (lb != la || memcmp(a, b, (size_t)la) != 0)
        abort();
    }
  }
  free(text);
  return 0;
}
