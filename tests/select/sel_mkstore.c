/* Test fixture: a store from small uncompressed archive CSV files, on one
 * rank, through the CSV parser and the store writer. Used by the select
 * tests only where "dmpipe ingest" is not built; any bad line is fatal.
 * usage: sel_mkstore OUT.h5 [--double] FILE.csv... */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_csv.h"
#include "dm_store.h"

#define MAXP 256

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  int dbl = 0, first = 2;
  if (argc > 2 && !strcmp(argv[2], "--double")) {
    dbl = 1;
    first = 3;
  }
  dm_events ev;
  memset(&ev, 0, sizeof ev);
  char *names[MAXP];
  int64_t counts[MAXP] = {0};
  int np = 0, rc = 0;
  dm_events_reserve(&ev, 16, 64, dbl);
  for (int f = first; f < argc && !rc; f++) {
    FILE *in = fopen(argv[f], "r");
    if (!in) {
      fprintf(stderr, "cannot open %s\n", argv[f]);
      rc = 1;
      break;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t lineno = 0;
    while ((len = getline(&line, &cap, in)) > 0) {
      lineno++;
      while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
      if (len == 0)
        continue;
      int64_t i = ev.n_events;
      dm_events_reserve(&ev, i + 1, ev.n_objects, dbl);
      dm_csv_reserve(&ev, len / 10 + 1, dbl);
      dm_csv_event ce;
      dm_bad_kind b = dm_csv_parse_line(line, (size_t)len, &ce, &ev, dbl);
      if (b != DM_BAD_NONE) {
        fprintf(stderr, "%s:%lld: %s\n", argv[f], (long long)lineno, dm_bad_kind_name(b));
        rc = 1;
        break;
      }
      int p = 0;
      while (p < np && (strlen(names[p]) != ce.process_len ||
                        strncmp(names[p], ce.process, ce.process_len)))
        p++;
      if (p == np)
        names[np++] = strndup(ce.process, ce.process_len);
      counts[p]++;
      ev.event_id[i] = ce.event_id;
      ev.process[i] = (uint16_t)p;
      ev.weight[i] = ce.weight;
      ev.met[i] = (float)ce.met;
      ev.met_phi[i] = (float)ce.met_phi;
      if (dbl) {
        ev.met_d[i] = ce.met;
        ev.met_phi_d[i] = ce.met_phi;
      }
      ev.n_objects += ce.n_obj;
      ev.obj_offset[i + 1] = ev.n_objects;
      ev.n_events = i + 1;
    }
    free(line);
    fclose(in);
  }
  dm_store_layout lay = {.zstd_level = 3, .chunk_events = 4, .precision_double = dbl};
  dm_store_writer *w = NULL;
  if (!rc && dm_store_writer_create(argv[1], &lay, MPI_COMM_WORLD, &w) == DM_OK) {
    dm_status s = dm_store_writer_append(w, &ev);
    s = dm_store_writer_finish(w, s, (const char *const *)names, counts, np, "sel_mkstore", "");
    if (s != DM_OK) {
      fprintf(stderr, "sel_mkstore: %s\n", dm_error_message());
      rc = 1;
    }
  } else if (!rc) {
    fprintf(stderr, "sel_mkstore: %s\n", dm_error_message());
    rc = 1;
  }
  dm_events_free(&ev);
  MPI_Finalize();
  return rc;
}
