/* The real-physics sample: every line is accepted, every value equals the
 * independent reference reading, and printing the parsed event at 6
 * significant digits gives back the original line byte for byte (the
 * archive was written at that precision). Double-precision printing parses
 * back to identical doubles. */
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

static int same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static void test_sample(void **state)
{
  size_t len;
  int n_files;
  char *data = csv_test_load_sample(&len, &n_files);
  assert_non_null(data);
  assert_true(n_files >= 10);
  dm_events objs = {0}, objs2 = {0};
  dm_csv_event ev, ev2;
  csv_test_one one;
  char out[1 << 16];
  long lines = 0, objects = 0, exact_lines = 0;
  for (char *p = data, *end = data + len; p < end;) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)(nl - p);
    lines++;
    for (int want_double = 0; want_double <= 1; want_double++) {
      dm_bad_kind k = dm_csv_parse_line(p, n, &ev, &objs, want_double);
      if (k != DM_BAD_NONE)
        fail_msg("sample line %ld rejected (%s): %.*s", lines, dm_bad_kind_name(k), (int)n, p);
      csv_ref_event ref;
      assert_true(csv_ref_parse(p, n, want_double, &ref));
      assert_int_equal(ev.event_id, ref.id);
      assert_int_equal(ev.process_len, strlen(ref.process));
      assert_memory_equal(ev.process, ref.process, ev.process_len);
      assert_true(same_double(ev.weight, ref.weight) && same_double(ev.met, ref.met) &&
                  same_double(ev.met_phi, ref.met_phi));
      assert_int_equal(ev.n_obj, ref.n_obj);
      for (int i = 0; i < ev.n_obj; i++) {
        int64_t k2 = objs.n_objects + i;
        assert_int_equal(objs.type[k2], ref.type[i]);
        assert_true(objs.e[k2] == (float)ref.e[i] && objs.pt[k2] == (float)ref.pt[i] &&
                    objs.eta[k2] == (float)ref.eta[i] && objs.phi[k2] == (float)ref.phi[i]);
        if (want_double)
          assert_true(same_double(objs.e_d[k2], ref.e[i]) && same_double(objs.pt_d[k2], ref.pt[i]) &&
                      same_double(objs.eta_d[k2], ref.eta[i]) &&
                      same_double(objs.phi_d[k2], ref.phi[i]));
      }
      csv_ref_free(&ref);

      csv_test_one_set(&one, &ev, &objs);
      int trailing = n > 0 && p[n - 1] == ';';
      size_t m = dm_csv_format_event(&one.ev, 0, one.process, want_double, trailing, out, sizeof out);
      assert_true(m > 0 && out[m - 1] == '\n');
      if (!want_double && ev.inexact_float == 0) {
        if (m - 1 != n || memcmp(out, p, n) != 0)
          fail_msg("line %ld does not print back:\n  in:  %.*s\n  out: %.*s", lines, (int)n, p,
                   (int)m - 1, out);
        exact_lines++;
      }
      if (want_double) {
        /* Lossless: the printed line parses to the same doubles. */
        assert_int_equal(dm_csv_parse_line(out, m - 1, &ev2, &objs2, 1), DM_BAD_NONE);
        assert_int_equal(ev2.n_obj, ev.n_obj);
        assert_true(ev2.event_id == ev.event_id && same_double(ev2.weight, ev.weight) &&
                    same_double(ev2.met, ev.met) && same_double(ev2.met_phi, ev.met_phi));
        for (int i = 0; i < ev.n_obj; i++) {
          int64_t a = objs.n_objects + i, b = objs2.n_objects + i;
          assert_true(objs.type[a] == objs2.type[b] && same_double(objs.e_d[a], objs2.e_d[b]) &&
                      same_double(objs.pt_d[a], objs2.pt_d[b]) &&
                      same_double(objs.eta_d[a], objs2.eta_d[b]) &&
                      same_double(objs.phi_d[a], objs2.phi_d[b]));
        }
      }
    }
    objects += ev.n_obj;
    objs.n_objects += ev.n_obj; /* commit, so growth over many lines is exercised */
    p = nl + 1;
  }
  printf("sample: %d files, %ld lines, %ld objects, %ld printed back byte for byte\n", n_files,
         lines, objects, exact_lines);
  assert_true(lines > 20000);
  assert_int_equal(objs.n_objects, objects);
  /* Every sample value has at most 6 significant digits. */
  assert_int_equal(exact_lines, lines);
  csv_test_free_events(&objs);
  csv_test_free_events(&objs2);
  free(data);
}

int main(void)
{
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_sample)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
