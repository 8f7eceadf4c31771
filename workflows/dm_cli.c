#include "dm_cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_atomic.h"
#include "dm_comm.h"

dm_status dm_cli_i64(const char *flag, const char *text, int64_t lo, int64_t hi, int64_t *out)
{
  if (!text || !*text)
    return dm_error(DM_ERR_ARG, "%s needs a whole number", flag);
  /* strtoll and strtod skip leading blanks and stop at the first stray
   * character; neither is acceptable here, so the text is checked first. */
  const char *p = text + (*text == '-' || *text == '+');
  if (*p < '0' || *p > '9')
    return dm_error(DM_ERR_ARG, "%s: '%s' is not a whole number", flag, text);
  char *end = NULL;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (*end == '\0' && errno == ERANGE)
    return dm_error(DM_ERR_ARG, "%s: '%s' is outside [%lld, %lld]", flag, text, (long long)lo,
                    (long long)hi);
  if (*end == 'e' || *end == 'E' || *end == '.') {
    /* "1e6" and "2.5e3" are accepted because people write event counts that
     * way, but only when the value is a whole number a double holds exactly
     * (|v| <= 2^53): "1.5" and "1e20" are errors, never truncated. */
    errno = 0;
    double d = strtod(text, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(d))
      return dm_error(DM_ERR_ARG, "%s: '%s' is not a whole number", flag, text);
    if (d != floor(d))
      return dm_error(DM_ERR_ARG, "%s: '%s' is not a whole number", flag, text);
    if (fabs(d) > 9007199254740992.0)
      return dm_error(DM_ERR_ARG, "%s: '%s' is outside [%lld, %lld] or too large to be exact "
                      "in this form (write the digits)", flag, text, (long long)lo, (long long)hi);
    v = (long long)d;
  } else if (*end != '\0') {
    return dm_error(DM_ERR_ARG, "%s: '%s' is not a whole number", flag, text);
  }
  if (v < lo || v > hi)
    return dm_error(DM_ERR_ARG, "%s: %lld is outside [%lld, %lld]", flag, v, (long long)lo,
                    (long long)hi);
  *out = v;
  return DM_OK;
}

dm_status dm_cli_f64(const char *flag, const char *text, double lo, double hi, double *out)
{
  if (!text || !*text)
    return dm_error(DM_ERR_ARG, "%s needs a number", flag);
  if (isspace((unsigned char)*text))
    return dm_error(DM_ERR_ARG, "%s: '%s' is not a finite number", flag, text);
  char *end = NULL;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || *end != '\0' || !isfinite(v))
    return dm_error(DM_ERR_ARG, "%s: '%s' is not a finite number", flag, text);
  if (v < lo || v > hi)
    return dm_error(DM_ERR_ARG, "%s: %g is outside [%g, %g]", flag, v, lo, hi);
  *out = v;
  return DM_OK;
}

static dm_status list_parse(const char *flag, const char *text, int is_int, double lo, double hi,
                            void *out, int *n)
{
  int cap = *n, count = 0;
  char buf[1024];
  if (!text || strlen(text) >= sizeof buf)
    return dm_error(DM_ERR_ARG, "%s: bad list", flag);
  strcpy(buf, text);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (count >= cap)
      return dm_error(DM_ERR_ARG, "%s: at most %d values", flag, cap);
    if (is_int) {
      DM_FORWARD(dm_cli_i64(flag, tok, (int64_t)lo, (int64_t)hi, (int64_t *)out + count));
    } else {
      DM_FORWARD(dm_cli_f64(flag, tok, lo, hi, (double *)out + count));
    }
    count++;
  }
  if (count == 0)
    return dm_error(DM_ERR_ARG, "%s: empty list", flag);
  *n = count;
  return DM_OK;
}

dm_status dm_cli_i64_list(const char *flag, const char *text, int64_t lo, int64_t hi,
                          int64_t *out, int *n)
{
  return list_parse(flag, text, 1, (double)lo, (double)hi, out, n);
}

dm_status dm_cli_f64_list(const char *flag, const char *text, double lo, double hi, double *out,
                          int *n)
{
  return list_parse(flag, text, 0, lo, hi, out, n);
}

static char *dm_cmdline;

void dm_cli_set_command_line(int argc, char **argv)
{
  size_t len = 1;
  for (int i = 0; i < argc; i++)
    len += strlen(argv[i]) + 3;
  free(dm_cmdline);
  dm_cmdline = malloc(len);
  if (!dm_cmdline)
    return;
  dm_cmdline[0] = '\0';
  for (int i = 0; i < argc; i++) {
    if (i)
      strcat(dm_cmdline, " ");
    int quote = strpbrk(argv[i], " \t'\"") != NULL || !*argv[i];
    if (quote)
      strcat(dm_cmdline, "'");
    strcat(dm_cmdline, argv[i]);
    if (quote)
      strcat(dm_cmdline, "'");
  }
}

const char *dm_cli_command_line(void) { return dm_cmdline ? dm_cmdline : "dmpipe"; }

static uint64_t message_hash(dm_status s, const char *msg)
{
  uint64_t h = 1469598103934665603ULL ^ (uint64_t)s; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
    h = (h ^ *p) * 1099511628211ULL;
  return h;
}

int dm_cli_finish(const char *cmd, dm_status local, MPI_Comm comm)
{
  dm_status s = dm_agree(local, comm);
  if (s == DM_OK)
    return 0;
  /* Ranks that only learned of another rank's failure stay quiet. A failure
   * every origin rank shares (a bad flag value, a bad table) is printed once;
   * different failures on different ranks are each printed with the rank. */
  const char *msg = dm_error_message();
  int origin = local != DM_OK && !dm_error_is_remote();
  uint64_t h = origin ? message_hash(local, msg) : 0;
  uint64_t hmin = origin ? h : UINT64_MAX, lo = 0, hi = 0;
  int first = origin ? dm_rank(comm) : dm_size(comm), first_all = 0;
  MPI_Allreduce(&hmin, &lo, 1, MPI_UINT64_T, MPI_MIN, comm);
  MPI_Allreduce(&h, &hi, 1, MPI_UINT64_T, MPI_MAX, comm);
  MPI_Allreduce(&first, &first_all, 1, MPI_INT, MPI_MIN, comm);
  /* No origin anywhere (a remote mark that outlived its cause): the lowest
   * failing rank speaks. */
  if (first_all == dm_size(comm)) {
    origin = local != DM_OK;
    first = origin ? dm_rank(comm) : dm_size(comm);
    MPI_Allreduce(&first, &first_all, 1, MPI_INT, MPI_MIN, comm);
    lo = hi = 0;
  }
  if (origin) {
    if (lo != hi)
      fprintf(stderr, "dmpipe %s: error on rank %d (%s): %s\n", cmd, dm_rank(comm),
              dm_status_name(local), *msg ? msg : "no details");
    else if (dm_rank(comm) == first_all)
      fprintf(stderr, "dmpipe %s: error (%s): %s\n", cmd, dm_status_name(local),
              *msg ? msg : "no details");
  }
  return 1;
}

int dm_cli_usage_error(const char *cmd, MPI_Comm comm, const char *fmt, ...)
{
  if (dm_rank(comm) == 0) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "dmpipe %s: %s\n(see 'dmpipe %s --help')\n", cmd, msg, cmd);
  }
  return 2;
}

int dm_cli_help(const char *text, MPI_Comm comm)
{
  if (dm_rank(comm) == 0)
    fputs(text, stdout);
  return 0;
}

dm_status dm_cli_check_outputs(MPI_Comm comm, ...)
{
  dm_status s = DM_OK;
  if (dm_rank(comm) == 0) {
    va_list ap;
    va_start(ap, comm);
    const char *flag;
    while (s == DM_OK && (flag = va_arg(ap, const char *)) != NULL) {
      const char *path = va_arg(ap, const char *);
      if (path)
        s = dm_atomic_check(path, flag);
    }
    va_end(ap);
  }
  return dm_agree(s, comm);
}

dm_status dm_cli_write_json(const char *path, const cJSON *j)
{
  char *text = j ? cJSON_Print(j) : NULL;
  size_t len = text ? strlen(text) : 0;
  char *t2 = text ? realloc(text, len + 2) : NULL;
  if (!t2) {
    free(text);
    return dm_error(DM_ERR_NOMEM, "no memory for the JSON report %s", path);
  }
  memcpy(t2 + len, "\n", 2);
  /* The one atomic write path (io/dm_atomic.h): synced, then renamed. */
  dm_status s = dm_atomic_write_text(path, t2);
  free(t2);
  return s;
}

dm_status dm_cli_write_json_agreed(const char *path, const cJSON *j, MPI_Comm comm)
{
  dm_status s = dm_rank(comm) == 0 ? dm_cli_write_json(path, j) : DM_OK;
  return dm_agree(s, comm);
}

void dm_cli_json_exact(cJSON *o, const char *k, double v)
{
  char t[40];
  if (isfinite(v)) {
    snprintf(t, sizeof t, "%.17g", v);
    cJSON_AddRawToObject(o, k, t);
  } else {
    cJSON_AddNullToObject(o, k);
  }
}

void dm_cli_json_num(cJSON *o, const char *k, double v)
{
  if (isfinite(v))
    cJSON_AddNumberToObject(o, k, v);
  else
    cJSON_AddNullToObject(o, k);
}
