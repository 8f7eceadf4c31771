/* Fuzzing: seeded random mutations of real sample lines. Built with
 * AddressSanitizer and UBSan over the parser's own source, each line in an
 * exactly sized heap block, so any read past the line or undefined
 * arithmetic stops the test. Differential: the parser accepts a line exactly
 * when the independent reference does, with the same values; an accepted
 * line printed at full precision parses back to the same doubles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_test_event.h"
#include "csv_test_util.h"
#include "dm_csv.h"
#include "dm_rng.h"

#define SEED 77031u
#define ITERATIONS 300000

static int same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Bytes that matter to the grammar, plus some that never should appear. */
static const char interesting[] = ";,.-+eE0123456789\r\n jbgamu\0\x7f\xff";

static size_t mutate(dm_rng *r, const char *src, size_t n, char *dst, size_t cap)
{
  memcpy(dst, src, n);
  int rounds = 1 + (int)dm_rng_below(r, 4);
  for (int i = 0; i < rounds; i++) {
    size_t at = n ? (size_t)dm_rng_below(r, n + 1) : 0;
    char c = dm_rng_below(r, 4) ? interesting[dm_rng_below(r, sizeof interesting - 1)]
                                 : (char)dm_rng_below(r, 256);
    switch (dm_rng_below(r, 7)) {
    case 0: /* replace */
      if (at < n)
        dst[at] = c;
      break;
    case 1: /* insert */
      if (n + 1 < cap) {
        memmove(dst + at + 1, dst + at, n - at);
        dst[at] = c;
        n++;
      }
      break;
    case 2: /* delete */
      if (at < n) {
        memmove(dst + at, dst + at + 1, n - at - 1);
        n--;
      }
      break;
    case 3: /* truncate */
      n = at;
      break;
    case 4: { /* duplicate a slice (more objects, repeated separators) */
      size_t len = n ? (size_t)dm_rng_below(r, n - at + 1) : 0;
      if (n + len < cap) {
        memmove(dst + at + len, dst + at, n - at); /* [at, at + len) now appears twice */
        n += len;
      }
      break;
    }
    case 5: /* a long run of digits (slow conversion path, huge exponents) */
      if (n + 40 < cap) {
        memmove(dst + at + 40, dst + at, n - at);
        for (int j = 0; j < 40; j++)
          dst[at + j] = (char)('0' + dm_rng_below(r, 10));
        n += 40;
      }
      break;
    default: /* swap two bytes */
      if (n > 1) {
        size_t b = (size_t)dm_rng_below(r, n);
        if (at < n) {
          char t = dst[at];
          dst[at] = dst[b];
          dst[b] = t;
        }
      }
      break;
    }
  }
  return n;
}

static void test_fuzz(void **state)
{
  size_t len;
  int n_files;
  char *data = csv_test_load_sample(&len, &n_files);
  assert_non_null(data);
  /* Index the lines. */
  size_t nlines = 0, capl = 1024;
  char **line = malloc(capl * sizeof *line);
  size_t *llen = malloc(capl * sizeof *llen);
  for (char *p = data, *end = data + len; p < end;) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nlines == capl) {
      capl *= 2;
      line = realloc(line, capl * sizeof *line);
      llen = realloc(llen, capl * sizeof *llen);
    }
    line[nlines] = p;
    llen[nlines++] = (size_t)(nl - p);
    p = nl + 1;
  }
  dm_rng r;
  dm_rng_init(&r, SEED, 0, 0);
  size_t cap = 1 << 16;
  char *work = malloc(cap), out[1 << 17];
  dm_events objs = {0}, objs2 = {0};
  dm_csv_event ev, ev2;
  csv_test_one one;
  long accepted = 0, kinds[DM_BAD_NKINDS] = {0};
  for (int it = 0; it < ITERATIONS; it++) {
    size_t i = (size_t)dm_rng_below(&r, nlines);
    size_t n = mutate(&r, line[i], llen[i], work, cap);
    char *exact = malloc(n ? n : 1); /* exactly sized: ASan sees any over-read */
    memcpy(exact, work, n);
    int want_double = it & 1;
    dm_bad_kind k = dm_csv_parse_line(exact, n, &ev, &objs, want_double);
    assert_true(k >= DM_BAD_NONE && k < DM_BAD_NKINDS);
    kinds[k]++;
    csv_ref_event ref;
    int ref_ok = csv_ref_parse(exact, n, want_double, &ref);
    if ((k == DM_BAD_NONE) != ref_ok)
      fail_msg("parser says %s, reference says %s, for: \"%.*s\"", dm_bad_kind_name(k),
               ref_ok ? "accept" : "reject", (int)n, exact);
    if (k == DM_BAD_NONE) {
      accepted++;
      assert_true(ev.event_id == ref.id && ev.n_obj == ref.n_obj);
      assert_true(same_double(ev.weight, ref.weight) && same_double(ev.met, ref.met) &&
                  same_double(ev.met_phi, ref.met_phi));
      for (int j = 0; j < ev.n_obj; j++) {
        int64_t q = objs.n_objects + j;
        assert_int_equal(objs.type[q], ref.type[j]);
        assert_true(objs.e[q] == (float)ref.e[j] && objs.phi[q] == (float)ref.phi[j]);
        if (want_double)
          assert_true(same_double(objs.e_d[q], ref.e[j]) && same_double(objs.pt_d[q], ref.pt[j]) &&
                      same_double(objs.eta_d[q], ref.eta[j]) &&
                      same_double(objs.phi_d[q], ref.phi[j]));
      }
      if (want_double && ev.process_len < sizeof one.process - 1) {
        csv_test_one_set(&one, &ev, &objs);
        size_t m = dm_csv_format_event(&one.ev, 0, one.process, 1, it & 2, out, sizeof out);
        assert_true(m > 0);
        assert_int_equal(dm_csv_parse_line(out, m, &ev2, &objs2, 1), DM_BAD_NONE);
        assert_true(ev2.event_id == ev.event_id && ev2.n_obj == ev.n_obj &&
                    same_double(ev2.weight, ev.weight) && same_double(ev2.met, ev.met) &&
                    same_double(ev2.met_phi, ev.met_phi));
        for (int j = 0; j < ev.n_obj; j++) {
          int64_t a = objs.n_objects + j, b = objs2.n_objects + j;
          assert_true(same_double(objs.e_d[a], objs2.e_d[b]) &&
                      same_double(objs.pt_d[a], objs2.pt_d[b]) &&
                      same_double(objs.eta_d[a], objs2.eta_d[b]) &&
                      same_double(objs.phi_d[a], objs2.phi_d[b]));
        }
        /* A buffer one byte short is refused, not overrun. */
        assert_int_equal(dm_csv_format_event(&one.ev, 0, one.process, 1, it & 2, out, m - 1), 0);
      }
    }
    csv_ref_free(&ref);
    free(exact);
  }
  printf("fuzz: %d mutated lines, %ld accepted;", ITERATIONS, accepted);
  for (int k = 1; k < DM_BAD_NKINDS; k++)
    printf(" %s %ld", dm_bad_kind_name(k), kinds[k]);
  printf("\n");
  /* The mutations reach every reason the parser itself decides. */
  assert_true(accepted > 1000);
  const int decided[] = {DM_BAD_FIELD_COUNT, DM_BAD_NUMBER, DM_BAD_NONFINITE, DM_BAD_OBJECT_CODE,
                         DM_BAD_EMPTY_PROCESS};
  for (size_t j = 0; j < sizeof decided / sizeof *decided; j++)
    assert_true(kinds[decided[j]] > 0);
  csv_test_free_events(&objs);
  csv_test_free_events(&objs2);
  free(work);
  free(line);
  free(llen);
  free(data);
}

int main(void)
{
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_fuzz)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
