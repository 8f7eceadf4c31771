/* bench_parse - single-thread throughput of the archive line parser
 * (io/dm_csv.c) and printer (io/dm_csv_print.c) on real lines.
 *
 *   bench_parse [--mb N] [--reps R] [--parse-only] FILE.csv[.zst]...
 *
 * The files are read (zstd-decompressed if named .zst) into memory and
 * repeated until the buffer holds about N MB (default 200). Parsing runs the
 * way ingest does: lines found with memchr, parsed into a batch whose object
 * arrays are reused every 65536 lines. The best of R runs (default 3) is
 * reported (thread CPU time, so other load on the machine does not count),
 * with the printer's speed at 6 significant digits (float32 store
 * export) and at full precision, and snprintf("%.6g") for comparison.
 * Not a test: it prints numbers, validation/README.md records them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "dm_csv.h"

/* Thread CPU time: on a shared machine, time spent descheduled is not the
 * parser's. */
static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int read_file(const char *path, char **buf, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "bench_parse: cannot open %s\n", path);
    return 0;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *raw = malloc((size_t)n + 1);
  if (!raw || fread(raw, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "bench_parse: cannot read %s\n", path);
    fclose(f);
    free(raw);
    return 0;
  }
  fclose(f);
  size_t pl = strlen(path);
  if (pl > 4 && strcmp(path + pl - 4, ".zst") == 0) {
    size_t cap = (size_t)n * 8 + 4096, got = 0;
    char *out = malloc(cap);
    ZSTD_DStream *ds = ZSTD_createDStream();
    ZSTD_initDStream(ds);
    ZSTD_inBuffer ib = {raw, (size_t)n, 0};
    while (ib.pos < ib.size) {
      if (cap - got < (1 << 20)) {
        cap *= 2;
        out = realloc(out, cap);
      }
      ZSTD_outBuffer ob = {out + got, cap - got, 0};
      size_t r = ZSTD_decompressStream(ds, &ob, &ib);
      if (ZSTD_isError(r)) {
        fprintf(stderr, "bench_parse: %s: %s\n", path, ZSTD_getErrorName(r));
        return 0;
      }
      got += ob.pos;
    }
    ZSTD_freeDStream(ds);
    free(raw);
    raw = out;
    n = (long)got;
  }
  *buf = raw;
  *len = (size_t)n;
  return 1;
}

int main(int argc, char **argv)
{
  double mb = 200;
  int reps = 3, first = 1, parse_only = 0;
  while (first < argc && strncmp(argv[first], "--", 2) == 0) {
    if (strcmp(argv[first], "--mb") == 0 && first + 1 < argc)
      mb = atof(argv[first + 1]), first += 2;
    else if (strcmp(argv[first], "--reps") == 0 && first + 1 < argc)
      reps = atoi(argv[first + 1]), first += 2;
    else if (strcmp(argv[first], "--parse-only") == 0)
      parse_only = 1, first++;
    else
      break;
  }
  if (first >= argc || mb <= 0 || reps < 1) {
    fprintf(stderr, "usage: bench_parse [--mb N] [--reps R] [--parse-only] FILE.csv[.zst]...\n");
    return 2;
  }
  /* One copy of every file, each ending in '\n'. */
  char *one = NULL;
  size_t one_len = 0;
  for (int i = first; i < argc; i++) {
    char *b;
    size_t n;
    if (!read_file(argv[i], &b, &n))
      return 1;
    one = realloc(one, one_len + n + 1);
    memcpy(one + one_len, b, n);
    one_len += n;
    if (n && b[n - 1] != '\n')
      one[one_len++] = '\n';
    free(b);
  }
  size_t target = (size_t)(mb * 1e6), len = 0;
  char *data = malloc(target + one_len);
  while (len < target) {
    memcpy(data + len, one, one_len);
    len += one_len;
  }

  dm_events batch = {0};
  dm_csv_event ev;
  double best = 1e30;
  long lines = 0, objects = 0, bad = 0;
  for (int rep = 0; rep < reps; rep++) {
    lines = objects = bad = 0;
    batch.n_objects = 0;
    double t0 = now();
    for (const char *p = data, *end = data + len; p < end;) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      if (!nl)
        nl = end;
      dm_bad_kind k = dm_csv_parse_line(p, (size_t)(nl - p), &ev, &batch, 0);
      if (k == DM_BAD_NONE) {
        batch.n_objects += ev.n_obj;
        objects += ev.n_obj;
      } else {
        bad++;
      }
      if ((++lines & 0xffff) == 0)
        batch.n_objects = 0; /* a batch handed to the writer */
      p = nl + 1;
    }
    double t = now() - t0;
    if (t < best)
      best = t;
  }
  printf("parse:  %.1f MB in %ld lines (%ld objects, %ld rejected)\n", (double)len / 1e6, lines,
         objects, bad);
  printf("parse:  %.0f MB/s, %.2f M lines/s (best of %d)\n", (double)len / 1e6 / best,
         (double)lines / 1e6 / best, reps);
  if (parse_only)
    return 0;

  /* Printer: parse one copy into a full batch, then print it back. */
  dm_events all = {0};
  int64_t n_ev = 0, cap_ev = 1 << 16;
  int64_t *ids = malloc((size_t)cap_ev * sizeof *ids);
  double *w = malloc((size_t)cap_ev * sizeof *w), *metd = malloc((size_t)cap_ev * sizeof *metd),
         *metphid = malloc((size_t)cap_ev * sizeof *metphid);
  float *met = malloc((size_t)cap_ev * sizeof *met), *metphi = malloc((size_t)cap_ev * sizeof *metphi);
  int64_t *off = malloc((size_t)(cap_ev + 1) * sizeof *off);
  off[0] = 0;
  for (const char *p = one, *end = one + one_len; p < end && n_ev < cap_ev;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (dm_csv_parse_line(p, (size_t)(nl - p), &ev, &all, 1) == DM_BAD_NONE) {
      ids[n_ev] = ev.event_id, w[n_ev] = ev.weight, metd[n_ev] = ev.met;
      metphid[n_ev] = ev.met_phi, met[n_ev] = (float)ev.met, metphi[n_ev] = (float)ev.met_phi;
      all.n_objects += ev.n_obj;
      off[++n_ev] = all.n_objects;
    }
    p = nl + 1;
  }
  all.n_events = n_ev, all.event_id = ids, all.weight = w, all.met = met, all.met_phi = metphi;
  all.met_d = metd, all.met_phi_d = metphid, all.obj_offset = off;
  static char out[1 << 16];
  for (int dbl = 0; dbl <= 1; dbl++) {
    double bestf = 1e30;
    size_t bytes = 0;
    int rounds = dbl ? 4 : 20;
    for (int rep = 0; rep < reps; rep++) {
      bytes = 0;
      double t0 = now();
      for (int r = 0; r < rounds; r++)
        for (int64_t i = 0; i < n_ev; i++)
          bytes += dm_csv_format_event(&all, i, "ttbar", dbl, 1, out, sizeof out);
      double t = now() - t0;
      if (t < bestf)
        bestf = t;
    }
    printf("print:  %s: %.0f MB/s, %.2f M events/s\n", dbl ? "full precision" : "6 digits   ",
           (double)bytes / 1e6 / bestf, (double)n_ev * rounds / 1e6 / bestf);
  }
  /* The same 6-digit values through the C library, for comparison. */
  {
    double t0 = now(), t1;
    size_t bytes = 0;
    char tmp[64];
    for (int r = 0; r < 20; r++)
      for (int64_t k = 0; k < all.n_objects; k++)
        bytes += (size_t)snprintf(tmp, sizeof tmp, "%.6g", (double)all.e[k] * 1000.0);
    t1 = now();
    double t_lib = t1 - t0;
    bytes = 0;
    t0 = now();
    for (int r = 0; r < 20; r++)
      for (int64_t k = 0; k < all.n_objects; k++)
        bytes += dm_csv_format_g((double)all.e[k] * 1000.0, 6, tmp);
    double t_own = now() - t0;
    double nv = 20.0 * (double)all.n_objects;
    printf("%%.6g:   dm_csv_format_g %.1f ns/value, snprintf %.1f ns/value\n", 1e9 * t_own / nv,
           1e9 * t_lib / nv);
  }
  return 0;
}
