/* dm_pipe_exec.c - deciding which steps are stale and running them.
 *
 * A step's record (WORKDIR/.dmpipe/steps/NAME.json) is written only after
 * the step succeeded and its outputs were checksummed: it holds the dmpipe
 * version, the command, every input's checksum and every output's checksum.
 * A step is skipped only when all of these still hold, so a changed input,
 * option, table or dmpipe version reruns the step, and since its outputs then
 * change, everything downstream. A record is removed before its step runs,
 * so a step killed half-way is never taken for done. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "dm_atomic.h"
#include "dm_derived.h"
#include "dm_h5.h"
#include "dm_pipe.h"
#include "dm_prov.h"
#include "dm_version.h"

const char *dm_step_state_name(dm_step_state s)
{
  static const char *const n[] = {"pending", "ran",        "skipped", "failed",
                                  "blocked", "up-to-date", "stale",   "waiting"};
  return (unsigned)s < sizeof n / sizeof n[0] ? n[s] : "?";
}

/* ---- checksum cache: path, size, mtime -> XXH3-128 of the whole file ---- */
typedef struct {
  char *path;
  long long size, mtime_ns;
  char sum[33];
} cache_entry;

typedef struct {
  cache_entry *e;
  int n, cap, dirty;
  char *file;
} cache;

static void cache_load(cache *c, const char *file)
{
  c->file = dm_pipe_strdup(file);
  FILE *f = fopen(file, "r");
  if (!f)
    return;
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    long long sz, mt;
    char sum[64];
    int off = 0;
    if (sscanf(line, "%lld\t%lld\t%40s\t%n", &sz, &mt, sum, &off) != 3 || off <= 0 ||
        strlen(sum) != 32)
      continue; /* a damaged line only costs a rehash */
    char *path = line + off;
    path[strcspn(path, "\n")] = 0;
    if (c->n == c->cap) {
      int nc = c->cap ? 2 * c->cap : 64;
      cache_entry *ne = realloc(c->e, nc * sizeof *ne);
      if (!ne)
        break;
      c->e = ne;
      c->cap = nc;
    }
    cache_entry *e = &c->e[c->n++];
    e->path = dm_pipe_strdup(path);
    e->size = sz;
    e->mtime_ns = mt;
    memcpy(e->sum, sum, 33);
  }
  fclose(f);
}

static dm_status cache_save(cache *c)
{
  if (!c->dirty)
    return DM_OK;
  size_t cap = 1 << 12, len = 0;
  char *buf = malloc(cap);
  for (int i = 0; buf && i < c->n; i++) {
    size_t need = strlen(c->e[i].path) + 100;
    if (len + need > cap) {
      while (len + need > cap)
        cap *= 2;
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
    }
    len += (size_t)sprintf(buf + len, "%lld\t%lld\t%s\t%s\n", c->e[i].size, c->e[i].mtime_ns,
                           c->e[i].sum, c->e[i].path);
  }
  if (!buf)
    return dm_error(DM_ERR_NOMEM, "no memory");
  dm_status s = dm_pipe_write_atomic(c->file, buf, len);
  free(buf);
  if (s == DM_OK)
    c->dirty = 0;
  /* Only a cache: steps of one job array save it at the same time, and one
   * that finds it claimed by another leaves it to that one (a missing entry
   * is recomputed next time, never wrong). */
  if (s != DM_OK) {
    dm_error_clear();
    s = DM_OK;
  }
  return s;
}

static void cache_free(cache *c)
{
  for (int i = 0; i < c->n; i++)
    free(c->e[i].path);
  free(c->e);
  free(c->file);
}

/* Checksum of a file; *exists 0 when it is missing (not an error). */
/* A store's derived columns, named in the graph as "STORE.h5" DM_PIPE_DERIVED:
 * the file that stands for them is the store's index (io/dm_derived.h), whose
 * name carries the store's identity and which every update replaces (its
 * column files are new with each update, and the index names them). Sets
 * out to that path, or to "" when the store or its identity is missing. */
static void derived_index(const char *path, char *out, size_t cap)
{
  out[0] = '\0';
  size_t n = strlen(path), m = strlen(DM_PIPE_DERIVED);
  char store[DM_PATH_MAX], id[DM_STORE_ID_LEN + 8] = "";
  if (n - m >= sizeof store)
    return;
  memcpy(store, path, n - m);
  store[n - m] = '\0';
  hid_t f;
  if (access(store, R_OK) != 0 || dm_h5_open_serial(store, 0, &f) != DM_OK) {
    dm_error_clear();
    return;
  }
  if (dm_h5_attr_get_str(f, "store_id", id, sizeof id) == DM_OK)
    dm_derived_index_path(store, id, out, cap);
  H5Fclose(f);
  dm_error_clear();
}

static dm_status cache_sum(cache *c, const char *path, char sum[33], long long *size,
                           int *exists)
{
  size_t n = strlen(path), m = strlen(DM_PIPE_DERIVED);
  char idx[DM_PATH_MAX];
  if (n > m && !strcmp(path + n - m, DM_PIPE_DERIVED)) {
    derived_index(path, idx, sizeof idx);
    path = idx;
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
    *exists = 0;
    return DM_OK;
  }
  *exists = 1;
  long long mt = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  *size = (long long)st.st_size;
  cache_entry *e = NULL;
  for (int i = 0; i < c->n && !e; i++)
    if (!strcmp(c->e[i].path, path))
      e = &c->e[i];
  if (e && e->size == *size && e->mtime_ns == mt) {
    memcpy(sum, e->sum, 33);
    return DM_OK;
  }
  int64_t sz2 = 0;
  DM_FORWARD(dm_checksum_file(path, sum, &sz2));
  if (!e) {
    if (c->n == c->cap) {
      int nc = c->cap ? 2 * c->cap : 64;
      cache_entry *ne = realloc(c->e, nc * sizeof *ne);
      if (!ne)
        return dm_error(DM_ERR_NOMEM, "no memory");
      c->e = ne;
      c->cap = nc;
    }
    e = &c->e[c->n++];
    e->path = dm_pipe_strdup(path);
  }
  e->size = *size;
  e->mtime_ns = mt;
  memcpy(e->sum, sum, 33);
  c->dirty = 1;
  return DM_OK;
}

/* ---- one step's evaluation ---- */
typedef struct {
  dm_step_state state;
  int exit_code; /* of a step that ran and failed */
  char reason[600];
  double seconds;
  char key[33];
  cJSON *inputs, *outputs; /* arrays of {path, checksum[, size]} */
  int had_record;
  double last_seconds;
  char last_finished[40];
} step_eval;

static char *record_path(const dm_pipe *p, const dm_pipe_step *st)
{
  return dm_pipe_fmt("%s/.dmpipe/steps/%s.json", p->workdir, st->name);
}


static char *command_text(const dm_pipe_step *st)
{
  size_t n = 8;
  for (int i = 0; i < st->argc; i++)
    n += strlen(st->argv[i]) + 3;
  char *s = malloc(n);
  if (!s)
    return NULL;
  strcpy(s, "dmpipe");
  for (int i = 0; i < st->argc; i++) {
    strcat(s, " ");
    strcat(s, st->argv[i]);
  }
  return s;
}

/* Inputs' checksums now and the step's key: XXH3-128 of the dmpipe version,
 * the command and the inputs' checksums. Ranks and threads are not part of
 * it: every stage's outputs are identical for any rank count. */
static dm_status compute_key(cache *c, const dm_pipe_step *st, step_eval *ev, int *missing)
{
  *missing = -1;
  ev->inputs = cJSON_CreateArray();
  XXH3_state_t *h = XXH3_createState();
  if (!h || !ev->inputs) {
    XXH3_freeState(h);
    return dm_error(DM_ERR_NOMEM, "no memory");
  }
  XXH3_128bits_reset(h);
  const char *ver = "dmpipe " DM_VERSION " " DM_GIT_REV "\n";
  XXH3_128bits_update(h, ver, strlen(ver));
  for (int i = 0; i < st->argc; i++)
    XXH3_128bits_update(h, st->argv[i], strlen(st->argv[i]) + 1);
  for (int i = 0; i < st->n_in; i++) {
    char sum[33] = "";
    long long size = 0;
    int exists = 0;
    dm_status s = cache_sum(c, st->in[i], sum, &size, &exists);
    if (s != DM_OK) {
      XXH3_freeState(h);
      return s;
    }
    if (!exists) {
      if (*missing < 0)
        *missing = i;
      continue;
    }
    XXH3_128bits_update(h, st->in[i], strlen(st->in[i]) + 1);
    XXH3_128bits_update(h, sum, 32);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", st->in[i]);
    cJSON_AddStringToObject(o, "checksum", sum);
    cJSON_AddItemToArray(ev->inputs, o);
  }
  XXH128_hash_t d = XXH3_128bits_digest(h);
  XXH3_freeState(h);
  snprintf(ev->key, sizeof ev->key, "%016llx%016llx", (unsigned long long)d.high64,
           (unsigned long long)d.low64);
  return DM_OK;
}

/* Compares the record with now; ev->reason says what differs ("" = all
 * holds). Outputs recorded are rechecked (the cache keeps this cheap). */
static dm_status check_record(cache *c, const dm_pipe *p, const dm_pipe_step *st,
                              step_eval *ev)
{
  char *rp = record_path(p, st);
  cJSON *r = rp ? dm_pipe_read_json(rp) : NULL;
  free(rp);
  dm_status s = DM_OK;
  if (!r) {
    snprintf(ev->reason, sizeof ev->reason, "never ran");
    return DM_OK;
  }
  ev->had_record = 1;
  const cJSON *secs = cJSON_GetObjectItemCaseSensitive(r, "seconds");
  ev->last_seconds = cJSON_IsNumber(secs) ? secs->valuedouble : 0;
  const char *fin = dm_pipe_jstr(r, "finished");
  snprintf(ev->last_finished, sizeof ev->last_finished, "%s", fin ? fin : "");
  const char *key = dm_pipe_jstr(r, "key");
  const char *ver = dm_pipe_jstr(r, "dmpipe_version");
  const char *rev = dm_pipe_jstr(r, "git_revision");
  char *cmd = command_text(st);
  const char *rcmd = dm_pipe_jstr(r, "command");
  if (!key || !ver || !rev || !rcmd) {
    snprintf(ev->reason, sizeof ev->reason, "its record is damaged");
  } else if (strcmp(ver, DM_VERSION) || strcmp(rev, DM_GIT_REV)) {
    snprintf(ev->reason, sizeof ev->reason, "dmpipe changed (%s, git %s -> %s, git %s)", ver,
             rev, DM_VERSION, DM_GIT_REV);
  } else if (!cmd || strcmp(cmd, rcmd)) {
    snprintf(ev->reason, sizeof ev->reason, "its command changed (options or inputs)");
  } else if (strcmp(key, ev->key)) {
    /* Name the input that changed. */
    const cJSON *rin = cJSON_GetObjectItemCaseSensitive(r, "inputs");
    snprintf(ev->reason, sizeof ev->reason, "an input changed");
    const cJSON *now;
    int named = 0; /* the first input that differs is named */
    cJSON_ArrayForEach(now, ev->inputs)
    {
      if (named)
        break;
      const char *path = dm_pipe_jstr(now, "path"), *sum = dm_pipe_jstr(now, "checksum");
      const cJSON *old;
      int found = 0;
      cJSON_ArrayForEach(old, rin)
      {
        const char *op = dm_pipe_jstr(old, "path"), *os = dm_pipe_jstr(old, "checksum");
        if (op && os && !strcmp(op, path)) {
          found = 1;
          if (strcmp(os, sum)) {
            snprintf(ev->reason, sizeof ev->reason, "input changed: %s", path);
            named = 1;
          }
        }
      }
      if (!found) {
        snprintf(ev->reason, sizeof ev->reason, "new input: %s", path);
        named = 1;
      }
    }
  } else {
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(r, "outputs"))
    {
      const char *path = dm_pipe_jstr(o, "path"), *sum = dm_pipe_jstr(o, "checksum");
      if (!path || !sum || *ev->reason)
        continue;
      char now[33];
      long long size;
      int exists;
      s = cache_sum(c, path, now, &size, &exists);
      if (s != DM_OK)
        break;
      if (!exists)
        snprintf(ev->reason, sizeof ev->reason, "output missing: %s", path);
      else if (strcmp(now, sum))
        snprintf(ev->reason, sizeof ev->reason, "output changed since the step made it: %s",
                 path);
    }
    if (s == DM_OK && !*ev->reason) {
      ev->outputs = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r, "outputs"), 1);
    }
  }
  free(cmd);
  cJSON_Delete(r);
  return s;
}

/* ---- running a step ---- */
static int in_slurm(void) { return getenv("SLURM_JOB_ID") != NULL; }

/* The launcher's argv; nr and nt hold the rank and thread counts' text. */
static char **launch_argv(const dm_pipe *p, const dm_pipe_step *st, const char *exe,
                          char nr[16], char nt[16])
{
  dm_pipe_launch l = p->launch;
  if (l == DM_LAUNCH_AUTO)
    l = in_slurm() ? DM_LAUNCH_SRUN : st->res.ranks > 1 ? DM_LAUNCH_MPIRUN : DM_LAUNCH_DIRECT;
  char **v = calloc((size_t)st->argc + 16, sizeof *v);
  if (!v)
    return NULL;
  int n = 0;
  snprintf(nr, 16, "%d", st->res.ranks);
  snprintf(nt, 16, "%d", st->res.threads);
  if (l == DM_LAUNCH_MPIRUN) {
    v[n++] = "mpirun";
    v[n++] = "-np";
    v[n++] = nr;
    /* mpirun binds each rank to one core: threads need the binding off. */
    if (st->res.threads > 1) {
      v[n++] = "--bind-to";
      v[n++] = "none";
    }
    v[n++] = "-x";
    v[n++] = "OMP_NUM_THREADS";
  } else if (l == DM_LAUNCH_SRUN) {
    v[n++] = "srun";
    v[n++] = "-n";
    v[n++] = nr;
    v[n++] = "-c";
    v[n++] = nt;
  }
  v[n++] = (char *)exe;
  for (int i = 0; i < st->argc; i++)
    v[n++] = st->argv[i];
  v[n] = NULL;
  return v;
}

static double now_s(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* SIGTERM or SIGINT to the driver (Slurm's preemption and time-limit
 * signal, Ctrl-C) goes to the running step (SIGTERM as SIGUSR1, see
 * forward_signal), and the driver waits for it: a
 * training step saves its checkpoint and exits, and the exit status says so
 * (75 from dmpipe train svdd). */
static volatile sig_atomic_t running_child;
static void forward_signal(int sig)
{
  /* As SIGUSR1: srun would turn SIGTERM into a kill of its tasks, while it
   * passes SIGUSR1 on unchanged (so does mpirun); dmpipe train svdd stops at
   * the next epoch on either, other commands end on both. */
  if (running_child > 0)
    kill((pid_t)running_child, sig == SIGTERM ? SIGUSR1 : sig);
}

/* Runs the step with stdout and stderr in its log; the exit status. */
static int spawn(const dm_pipe *p, const dm_pipe_step *st, const char *exe, char **cmdline)
{
  char nr[16], nt[16];
  char **v = launch_argv(p, st, exe, nr, nt);
  if (!v)
    return -1;
  size_t n = 4;
  for (int i = 0; v[i]; i++)
    n += strlen(v[i]) + 1;
  *cmdline = malloc(n);
  if (*cmdline) {
    (*cmdline)[0] = 0;
    for (int i = 0; v[i]; i++) {
      if (i)
        strcat(*cmdline, " ");
      strcat(*cmdline, v[i]);
    }
  }
  int logfd = open(st->log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  int rc = -1;
  if (logfd >= 0) {
    dprintf(logfd, "+ %s\n", *cmdline ? *cmdline : "");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
      /* A driver killed (even by kill -9) takes its step with it, so no
       * orphan keeps writing while the next run starts. SIGTERM lets mpirun
       * stop its ranks. */
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() == 1)
        _exit(128 + SIGTERM);
      setenv("OMP_NUM_THREADS", nt, 1);
      dup2(logfd, 1);
      dup2(logfd, 2);
      close(logfd);
      int devnull = open("/dev/null", O_RDONLY);
      if (devnull >= 0)
        dup2(devnull, 0);
      execvp(v[0], v);
      fprintf(stderr, "dmpipe: cannot start %s: %s\n", v[0], strerror(errno));
      _exit(127);
    }
    close(logfd);
    if (pid > 0) {
      struct sigaction sa, old_term, old_int;
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = forward_signal;
      sigemptyset(&sa.sa_mask);
      running_child = pid;
      sigaction(SIGTERM, &sa, &old_term);
      sigaction(SIGINT, &sa, &old_int);
      int ws = 0;
      while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
      running_child = 0;
      sigaction(SIGTERM, &old_term, NULL);
      sigaction(SIGINT, &old_int, NULL);
      rc = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    }
  }
  free(v);
  return rc;
}

/* The log's error lines (a dmpipe command names its failure on a line
 * "dmpipe CMD: error ..."), else its last lines. */
static void print_log_excerpt(const char *log)
{
  FILE *f = fopen(log, "r");
  if (!f)
    return;
  char *lines[8] = {0};
  char buf[1024];
  int k = 0, errors = 0;
  while (fgets(buf, sizeof buf, f)) {
    int err = !strncmp(buf, "dmpipe ", 7) && strstr(buf, "error");
    if (err && errors < 8)
      fprintf(stderr, "    | %s%s", buf, strchr(buf, '\n') ? "" : "\n");
    errors += err;
    free(lines[k % 8]);
    lines[k % 8] = dm_pipe_strdup(buf);
    k++;
  }
  fclose(f);
  for (int i = k > 8 ? k - 8 : 0; !errors && i < k; i++) {
    fprintf(stderr, "    | %s", lines[i % 8]);
    size_t l = strlen(lines[i % 8]);
    if (l && lines[i % 8][l - 1] != '\n')
      fputc('\n', stderr);
  }
  for (int i = 0; i < 8; i++)
    free(lines[i]);
}

static dm_status collect_outputs(cache *c, const dm_pipe_step *st, step_eval *ev)
{
  char **paths = st->out;
  int n = st->n_out;
  glob_t g = {0};
  int globbed = 0;
  if (st->out_glob) {
    if (glob(st->out_glob, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
      globfree(&g);
      return dm_error(DM_ERR_IO, "step %s wrote no file matching %s", st->name, st->out_glob);
    }
    paths = g.gl_pathv;
    n = (int)g.gl_pathc;
    globbed = 1;
  }
  cJSON_Delete(ev->outputs);
  ev->outputs = cJSON_CreateArray();
  dm_status s = DM_OK;
  for (int i = 0; i < n && s == DM_OK; i++) {
    char sum[33];
    long long size = 0;
    int exists;
    s = cache_sum(c, paths[i], sum, &size, &exists);
    if (s == DM_OK && !exists)
      s = dm_error(DM_ERR_IO, "step %s did not write %s", st->name, paths[i]);
    if (s == DM_OK) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "path", paths[i]);
      cJSON_AddNumberToObject(o, "size", (double)size);
      cJSON_AddStringToObject(o, "checksum", sum);
      cJSON_AddItemToArray(ev->outputs, o);
    }
  }
  if (globbed)
    globfree(&g);
  return s;
}

static dm_status write_json_file(const char *path, const cJSON *j)
{
  char *text = cJSON_Print(j);
  if (!text)
    return dm_error(DM_ERR_NOMEM, "no memory");
  size_t n = strlen(text);
  text[n] = '\n'; /* replaces the NUL; length n + 1 */
  dm_status s = dm_pipe_write_atomic(path, text, n + 1);
  free(text);
  return s;
}

static dm_status write_record(const dm_pipe *p, const dm_pipe_step *st, const step_eval *ev)
{
  cJSON *r = cJSON_CreateObject();
  char *cmd = command_text(st);
  char when[32];
  dm_prov_now(when);
  cJSON_AddStringToObject(r, "step", st->name);
  cJSON_AddStringToObject(r, "key", ev->key);
  cJSON_AddStringToObject(r, "dmpipe_version", DM_VERSION);
  cJSON_AddStringToObject(r, "git_revision", DM_GIT_REV);
  cJSON_AddStringToObject(r, "command", cmd ? cmd : "");
  cJSON_AddItemToObject(r, "inputs", cJSON_Duplicate(ev->inputs, 1));
  cJSON_AddItemToObject(r, "outputs", cJSON_Duplicate(ev->outputs, 1));
  cJSON_AddNumberToObject(r, "seconds", ev->seconds);
  cJSON_AddStringToObject(r, "finished", when);
  free(cmd);
  char *rp = record_path(p, st);
  dm_status s = rp ? write_json_file(rp, r) : dm_error(DM_ERR_NOMEM, "no memory");
  free(rp);
  cJSON_Delete(r);
  return s;
}

/* ---- the report (run.json and status --json) ---- */
static cJSON *step_json(const dm_pipe *p, const dm_pipe_step *steps, int i, const step_eval *ev)
{
  const dm_pipe_step *st = &steps[i];
  cJSON *o = cJSON_CreateObject();
  char *cmd = command_text(st);
  cJSON_AddStringToObject(o, "name", st->name);
  cJSON_AddStringToObject(o, "kind", dm_pipe_kind_name(st->kind));
  if (st->channel >= 0)
    cJSON_AddStringToObject(o, "channel", p->channels[st->channel].name);
  if (st->model >= 0)
    cJSON_AddStringToObject(o, "model", p->models[st->model].name);
  cJSON_AddStringToObject(o, "state", dm_step_state_name(ev->state));
  cJSON_AddStringToObject(o, "reason", ev->reason);
  if (ev->state == DM_STEP_FAILED && ev->exit_code)
    cJSON_AddNumberToObject(o, "exit_status", ev->exit_code);
  if (ev->state == DM_STEP_RAN || ev->state == DM_STEP_FAILED)
    cJSON_AddNumberToObject(o, "seconds", round(ev->seconds * 1000) / 1000);
  else
    cJSON_AddNullToObject(o, "seconds");
  if (ev->had_record && ev->last_finished[0]) {
    cJSON_AddNumberToObject(o, "last_seconds", round(ev->last_seconds * 1000) / 1000);
    cJSON_AddStringToObject(o, "last_finished", ev->last_finished);
  }
  cJSON_AddNumberToObject(o, "ranks", st->res.ranks);
  cJSON_AddNumberToObject(o, "threads", st->res.threads);
  cJSON_AddStringToObject(o, "command", cmd ? cmd : "");
  cJSON_AddStringToObject(o, "log", st->log);
  cJSON *deps = cJSON_AddArrayToObject(o, "depends");
  for (int d = 0; d < st->n_deps; d++)
    cJSON_AddItemToArray(deps, cJSON_CreateString(steps[st->deps[d]].name));
  cJSON_AddItemToObject(o, "inputs",
                        ev->inputs ? cJSON_Duplicate(ev->inputs, 1) : cJSON_CreateArray());
  if (ev->outputs) {
    cJSON_AddItemToObject(o, "outputs", cJSON_Duplicate(ev->outputs, 1));
  } else {
    cJSON *a = cJSON_AddArrayToObject(o, "outputs");
    for (int k = 0; k < st->n_out; k++) {
      cJSON *x = cJSON_CreateObject();
      cJSON_AddStringToObject(x, "path", st->out[k]);
      cJSON_AddNullToObject(x, "size");
      cJSON_AddNullToObject(x, "checksum");
      cJSON_AddItemToArray(a, x);
    }
  }
  free(cmd);
  return o;
}

/* min/median/max TI of each model, from the metrics steps' JSON. */
void dm_pipe_ti_line(FILE *out, const cJSON *m)
{
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(m, "min_ti"),
              *b = cJSON_GetObjectItemCaseSensitive(m, "median_ti"),
              *c = cJSON_GetObjectItemCaseSensitive(m, "max_ti"),
              *u = cJSON_GetObjectItemCaseSensitive(m, "signals_unresolved");
  if (cJSON_IsNumber(a) && cJSON_IsNumber(b) && cJSON_IsNumber(c))
    fprintf(out, "TI %-12s min %.4g  median %.4g  max %.4g\n", m->string, a->valuedouble,
            b->valuedouble, c->valuedouble);
  else
    fprintf(out, "TI %-12s none quoted: %d signal(s) without a resolved working point (too "
            "little test background; see the metrics output)\n",
            m->string, cJSON_IsNumber(u) ? u->valueint : 0);
}

static cJSON *ti_summary(const dm_pipe *p)
{
  cJSON *all = cJSON_CreateObject();
  for (int m = 0; m < p->n_models; m++) {
    char *path = dm_pipe_fmt("%s/%s.metrics.json", p->workdir, p->models[m].name);
    cJSON *j = path ? dm_pipe_read_json(path) : NULL;
    const cJSON *sum = j ? cJSON_GetObjectItemCaseSensitive(j, "summary") : NULL;
    if (sum)
      cJSON_AddItemToObject(all, p->models[m].name, cJSON_Duplicate(sum, 1));
    cJSON_Delete(j);
    free(path);
  }
  return all;
}

static cJSON *report_json(const dm_pipe *p, const dm_pipe_step *steps, int n,
                          const step_eval *ev, const char *started, double secs, int run)
{
  cJSON *j = cJSON_CreateObject();
  char when[32];
  dm_prov_now(when);
  cJSON_AddStringToObject(j, "format", "dmpipe-run");
  cJSON_AddNumberToObject(j, "format_version", 1);
  cJSON_AddStringToObject(j, "pipeline", p->path);
  cJSON_AddStringToObject(j, "workdir", p->workdir);
  cJSON_AddStringToObject(j, "dmpipe_version", DM_VERSION);
  cJSON_AddStringToObject(j, "git_revision", DM_GIT_REV);
  cJSON_AddStringToObject(j, "mode", run ? "run" : "status");
  cJSON_AddStringToObject(j, "started", started);
  cJSON_AddStringToObject(j, "updated", when);
  cJSON_AddNumberToObject(j, "seconds", round(secs * 1000) / 1000);
  int counts[8] = {0};
  for (int i = 0; i < n; i++)
    counts[ev[i].state]++;
  cJSON *c = cJSON_AddObjectToObject(j, "counts");
  for (int s = 0; s < 8; s++)
    if (counts[s])
      cJSON_AddNumberToObject(c, dm_step_state_name(s), counts[s]);
  cJSON_AddBoolToObject(j, "ok",
                        counts[DM_STEP_FAILED] + counts[DM_STEP_BLOCKED] + counts[DM_STEP_PENDING] == 0);
  cJSON *a = cJSON_AddArrayToObject(j, "steps");
  for (int i = 0; i < n; i++)
    cJSON_AddItemToArray(a, step_json(p, steps, i, &ev[i]));
  cJSON_AddItemToObject(j, "total_improvement", ti_summary(p));
  return j;
}

/* A training checkpoint is resumed only by the run that made it: the step's
 * key (command, inputs, dmpipe) is kept beside it, and a checkpoint of
 * another key (options or data changed) is removed before the step starts.
 * So a requeued Slurm job resumes, and a changed pipeline starts afresh. */
static dm_status keep_checkpoint(const dm_pipe *p, const dm_pipe_step *st, const step_eval *e)
{
  char *kf = dm_pipe_fmt("%s/.dmpipe/steps/%s.ckpt-key", p->workdir, st->name);
  if (!kf)
    return dm_error(DM_ERR_NOMEM, "no memory");
  char old[64] = "";
  FILE *f = fopen(kf, "r");
  if (f) {
    if (!fgets(old, sizeof old, f))
      old[0] = 0;
    fclose(f);
  }
  old[strcspn(old, "\n")] = 0;
  dm_status s = DM_OK;
  if (strcmp(old, e->key)) {
    unlink(st->checkpoint);
    char line[40];
    int n = snprintf(line, sizeof line, "%s\n", e->key);
    s = dm_pipe_write_atomic(kf, line, (size_t)n);
  }
  free(kf);
  return s;
}

static void remove_matching(const char *pattern)
{
  glob_t g;
  if (glob(pattern, 0, NULL, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; i++)
      unlink(g.gl_pathv[i]);
  globfree(&g);
}

dm_status dm_pipe_execute(const dm_pipe *p, const dm_pipe_exec_opts *o, cJSON **report,
                          int *n_failed)
{
  *report = NULL;
  *n_failed = 0;
  char *dmdir = dm_pipe_fmt("%s/.dmpipe/steps", p->workdir);
  char *logdir = dm_pipe_fmt("%s/logs", p->workdir);
  char *cfile = dm_pipe_fmt("%s/.dmpipe/checksums.tsv", p->workdir);
  char *runjson = dm_pipe_fmt("%s/run.json", p->workdir);
  dm_status s = (dmdir && logdir && cfile && runjson) ? DM_OK : dm_error(DM_ERR_NOMEM, "no memory");
  if (s == DM_OK && o->run) {
    s = dm_pipe_mkdirs(dmdir);
    if (s == DM_OK)
      s = dm_pipe_mkdirs(logdir);
  }
  dm_pipe_step *steps = NULL;
  int n = 0;
  if (s == DM_OK)
    s = dm_pipe_steps(p, &steps, &n);
  step_eval *ev = s == DM_OK ? calloc(n, sizeof *ev) : NULL;
  if (s == DM_OK && !ev)
    s = dm_error(DM_ERR_NOMEM, "no memory");
  int only = -1;
  if (s == DM_OK && o->only) {
    for (int i = 0; i < n; i++)
      if (!strcmp(steps[i].name, o->only))
        only = i;
    if (only < 0)
      s = dm_error(DM_ERR_ARG, "%s has no step named '%s' (dmpipe status lists them)", p->path,
                   o->only);
  }
  cache c = {0};
  if (s == DM_OK)
    cache_load(&c, cfile);
  char started[32];
  dm_prov_now(started);
  double t0 = now_s();
  for (int i = 0; i < n && s == DM_OK; i++) {
    dm_pipe_step *st = &steps[i];
    step_eval *e = &ev[i];
    if (only >= 0 && i != only) {
      e->state = DM_STEP_PENDING;
      continue;
    }
    /* A dependency that failed blocks; one that is stale makes us wait. */
    int blocked = -1, waiting = -1;
    for (int d = 0; d < st->n_deps; d++) {
      dm_step_state ds = ev[st->deps[d]].state;
      if (ds == DM_STEP_FAILED || ds == DM_STEP_BLOCKED)
        blocked = st->deps[d];
      if (ds == DM_STEP_STALE || ds == DM_STEP_WAITING)
        waiting = st->deps[d];
    }
    if (blocked >= 0) {
      e->state = DM_STEP_BLOCKED;
      snprintf(e->reason, sizeof e->reason, "%s failed", steps[blocked].name);
    } else if (waiting >= 0) {
      e->state = DM_STEP_WAITING;
      snprintf(e->reason, sizeof e->reason, "after %s", steps[waiting].name);
    }
    if (e->state != DM_STEP_PENDING) {
      if (!o->quiet)
        printf("%-8s %-28s %s\n", dm_step_state_name(e->state), st->name, e->reason);
      continue;
    }
    if (st->kind == DM_PIPE_INGEST && p->generate && !p->per_sample)
      s = dm_pipe_step_refresh(p, st);
    int missing = -1;
    if (s == DM_OK)
      s = compute_key(&c, st, e, &missing);
    if (s != DM_OK)
      break;
    if (missing >= 0) {
      snprintf(e->reason, sizeof e->reason, "input missing: %s", st->in[missing]);
    } else {
      s = check_record(&c, p, st, e);
      if (s != DM_OK)
        break;
    }
    if (!*e->reason) {
      e->state = o->run ? DM_STEP_SKIPPED : DM_STEP_UPTODATE;
      snprintf(e->reason, sizeof e->reason, "up to date");
    } else if (!o->run) {
      e->state = DM_STEP_STALE;
    } else if (missing >= 0) {
      /* Only when something outside the graph vanished. */
      e->state = DM_STEP_FAILED;
    } else {
      char *rp = record_path(p, st);
      if (rp)
        unlink(rp);
      free(rp);
      if (st->checkpoint && (s = keep_checkpoint(p, st, e)) != DM_OK)
        break;
      if (st->out_glob)
        remove_matching(st->out_glob);
      for (int k = 0; k < st->n_out; k++) {
        char *dir = dm_pipe_strdup(st->out[k]);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash) {
          *slash = 0;
          s = dm_pipe_mkdirs(dir);
        }
        free(dir);
      }
      if (s != DM_OK)
        break;
      if (!o->quiet) {
        printf("%-8s %-28s %s\n", "run", st->name, e->reason);
        fflush(stdout);
      }
      /* One process per step: a Slurm job of this step and a dmpipe run
       * here never write the same outputs at once. */
      char *slock = dm_pipe_fmt("%s/.dmpipe/steps/%s.lock", p->workdir, st->name);
      dm_claim sc = {.fd = -1};
      dm_status ls = slock ? dm_claim_take(&sc, slock) : dm_error(DM_ERR_NOMEM, "no memory");
      char why[400];
      snprintf(why, sizeof why, "%s", ls != DM_OK ? dm_error_message() : "");
      dm_error_clear();
      char *cmdline = NULL;
      double t = now_s();
      int rc = ls == DM_OK ? spawn(p, st, o->exe, &cmdline) : -1;
      e->seconds = now_s() - t;
      free(cmdline);
      dm_claim_release(&sc);
      free(slock);
      if (ls != DM_OK) {
        e->state = DM_STEP_FAILED;
        e->exit_code = sc.busy ? DM_PIPE_BUSY : 0;
        snprintf(e->reason, sizeof e->reason, "%s%s", sc.busy ? "busy: " : "", why);
      } else if (rc != 0) {
        e->state = DM_STEP_FAILED;
        e->exit_code = rc;
        snprintf(e->reason, sizeof e->reason, "exit status %d; log: %s", rc, st->log);
      } else {
        dm_status cs = collect_outputs(&c, st, e);
        if (cs == DM_OK)
          cs = write_record(p, st, e);
        if (cs != DM_OK) {
          e->state = DM_STEP_FAILED;
          snprintf(e->reason, sizeof e->reason, "%s", dm_error_message());
          dm_error_clear();
        } else {
          e->state = DM_STEP_RAN; /* the reason stays: why it ran */
        }
      }
    }
    if (e->state == DM_STEP_FAILED) {
      fprintf(stderr, "dmpipe %s: step %s failed: %s\n", o->cmd ? o->cmd : "run", st->name,
              e->reason);
      print_log_excerpt(st->log);
    } else if (!o->quiet && e->state != DM_STEP_RAN) {
      printf("%-8s %-28s %s\n", dm_step_state_name(e->state), st->name, e->reason);
    } else if (!o->quiet) {
      printf("%-8s %-28s %.1f s\n", "ran", st->name, e->seconds);
    }
    fflush(stdout);
    if (o->run) {
      dm_status cs = cache_save(&c);
      if (cs == DM_OK && !o->only) {
        cJSON *j = report_json(p, steps, n, ev, started, now_s() - t0, 1);
        cs = write_json_file(runjson, j);
        cJSON_Delete(j);
      }
      if (cs != DM_OK)
        s = cs;
    }
  }
  if (s == DM_OK) {
    for (int i = 0; i < n; i++)
      *n_failed += ev[i].state == DM_STEP_FAILED || ev[i].state == DM_STEP_BLOCKED;
    *report = report_json(p, steps, n, ev, started, now_s() - t0, o->run);
    if (o->run && !o->only)
      s = write_json_file(runjson, *report);
  }
  for (int i = 0; ev && i < n; i++) {
    cJSON_Delete(ev[i].inputs);
    cJSON_Delete(ev[i].outputs);
  }
  free(ev);
  cache_free(&c);
  dm_pipe_steps_free(steps, n);
  free(dmdir);
  free(logdir);
  free(cfile);
  free(runjson);
  return s;
}
