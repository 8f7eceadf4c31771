/* dmpipe submit: a pipeline's graph as Slurm jobs. One process, no MPI.
 * Steps that are up to date are not submitted; the others are grouped by
 * kind and resources into job arrays (one array task per step), chained with
 * --dependency=afterok, and each task runs `dmpipe run PIPELINE --step NAME`,
 * so a job applies exactly the skip rules of dmpipe run and writes the same
 * records. A final job runs `dmpipe run`, which finds every step done and
 * writes run.json. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "dm_cmd.h"
#include "dm_pipe.h"
#include "dm_pipe_cli.h"

static const char help[] =
    "usage: dmpipe submit PIPELINE.yaml [--dry-run] [--partition P] [--account A]\n"
    "                     [--time-scale X] [--workdir DIR] [--nightly]\n"
    "\n"
    "Submits the pipeline's steps that are not up to date (dmpipe status) as Slurm jobs:\n"
    "  - steps of one kind and the same ranks, threads and time form one job array (one\n"
    "    task per channel, or per channel and model; never with a step it depends on),\n"
    "    named dmpipe-ID-GROUP (ID from the work folder), with --ntasks = ranks,\n"
    "    --cpus-per-task = threads, --time = the step's time: (minutes) x --time-scale;\n"
    "  - a job depends (--dependency=afterok) on the jobs of the steps it needs;\n"
    "  - each task runs `dmpipe run PIPELINE --step STEP` (srun inside the allocation),\n"
    "    so a step already done is skipped and records are written as by dmpipe run;\n"
    "    the step's log is WORKDIR/logs/STEP.log, Slurm's WORKDIR/logs/slurm-GROUP-*.out;\n"
    "  - training jobs are requeueable: on SIGUSR1 (sent --signal=B:USR1@S before the\n"
    "    time limit) or SIGTERM (preemption) a Deep SVDD training stops after its next\n"
    "    epoch's checkpoint and the job requeues itself; the requeued job resumes to the\n"
    "    same weights as an uninterrupted run;\n"
    "  - a final job (dmpipe-ID-final) runs `dmpipe run PIPELINE` after all of them:\n"
    "    every step is then skipped, and WORKDIR/run.json and the TI summary are written.\n"
    "Resubmitting reuses every completed step, and a job of the same name that is still\n"
    "queued or running (squeue --name) is reused instead of submitted again.\n"
    "Scripts are kept in WORKDIR/slurm/.\n"
    "\n"
    "  --dry-run        print the graph and the scripts; submit nothing\n"
    "  --nightly        the graph of dmpipe nightly: one array task per archive sample\n"
    "                   (ingest.NAME), the catalog, the later steps, and a final\n"
    "                   dmpipe nightly (manifest and summary). With a generate: archive,\n"
    "                   its samples must exist first (dmpipe run --step generate)\n"
    "  --partition P    sbatch --partition\n"
    "  --account A      sbatch --account\n"
    "  --time-scale X   multiply every step's time: (default 1)\n"
    "  --workdir DIR    instead of the file's workdir:\n"
    "  --help           this text\n"
    "\n";

typedef struct {
  char name[64];
  char base[32]; /* the step names' first part: ingest, catalog, select, ... */
  int kind;
  int ranks, threads;
  double minutes;
  int requeue;
  int n;
  int *steps;  /* indices into the report's steps */
  int n_deps;
  int deps[64]; /* group indices */
  char job[64]; /* job id once submitted or found */
  char found_state[64];
} group;

static char *shq(const char *s)
{
  /* 'it'\''s' quoting for the job script. */
  size_t n = 3;
  for (const char *q = s; *q; q++)
    n += *q == '\'' ? 4 : 1;
  char *o = malloc(n), *w = o;
  if (!o)
    return NULL;
  *w++ = '\'';
  for (const char *q = s; *q; q++) {
    if (*q == '\'') {
      memcpy(w, "'\\''", 4);
      w += 4;
    } else {
      *w++ = *q;
    }
  }
  *w++ = '\'';
  *w = 0;
  return o;
}

static char *script_text(const dm_pipe *p, const char *exe, const char *pipe_abs,
                         const group *g, const cJSON *steps, const char *job_name,
                         const char *partition, const char *account, double scale, int final,
                         int nightly)
{
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f)
    return NULL;
  int minutes = (int)ceil(g->minutes * scale);
  if (minutes < 1)
    minutes = 1;
  char *qexe = shq(exe), *qpipe = shq(pipe_abs), *qwork = shq(p->workdir);
  fprintf(f, "#!/bin/bash\n");
  fprintf(f, "#SBATCH --job-name=%s\n", job_name);
  fprintf(f, "#SBATCH --ntasks=%d\n", g->ranks);
  fprintf(f, "#SBATCH --cpus-per-task=%d\n", g->threads);
  fprintf(f, "#SBATCH --time=%d\n", minutes);
  if (g->n > 1)
    fprintf(f, "#SBATCH --output=%s/logs/slurm-%s-%%A_%%a.out\n", p->workdir, g->name);
  else
    fprintf(f, "#SBATCH --output=%s/logs/slurm-%s-%%j.out\n", p->workdir, g->name);
  fprintf(f, "#SBATCH --open-mode=append\n");
  /* A failed step cancels the jobs waiting on it instead of leaving them
   * pending forever. */
  fprintf(f, "#SBATCH --kill-on-invalid-dep=yes\n");
  if (g->n > 1)
    fprintf(f, "#SBATCH --array=0-%d\n", g->n - 1);
  if (partition)
    fprintf(f, "#SBATCH --partition=%s\n", partition);
  if (account)
    fprintf(f, "#SBATCH --account=%s\n", account);
  if (g->requeue) {
    /* USR1 to this script a while before the time limit: time for one epoch
     * and its checkpoint. */
    int warn = minutes * 60 / 10;
    if (warn > 600)
      warn = 600;
    if (warn < 30)
      warn = 30;
    fprintf(f, "#SBATCH --requeue\n#SBATCH --signal=B:USR1@%d\n", warn);
  }
  fprintf(f, "# dmpipe submit of %s: %s\n", p->path, final ? "the final job" : g->name);
  if (final) {
    fprintf(f, "exec %s %s %s --workdir %s\n", qexe, nightly ? "nightly" : "run", qpipe, qwork);
  } else {
    fprintf(f, "steps=(");
    for (int i = 0; i < g->n; i++) {
      const cJSON *st = cJSON_GetArrayItem(steps, g->steps[i]);
      fprintf(f, "%s%s", i ? " " : "", cJSON_GetObjectItemCaseSensitive(st, "name")->valuestring);
    }
    fprintf(f, ")\nstep=${steps[${SLURM_ARRAY_TASK_ID:-0}]}\n");
    fprintf(f, "export OMP_NUM_THREADS=%d\n", g->threads);
    fprintf(f, "%s run %s --workdir %s%s --step \"$step\" &\nchild=$!\n", qexe, qpipe, qwork,
            nightly ? " --nightly" : "");
    if (g->requeue) {
      fprintf(f,
              "# Preemption or the time limit: the training stops after its next epoch's\n"
              "# checkpoint (exit 75) and this job requeues itself; the requeued job resumes.\n"
              "trap 'kill -TERM $child 2>/dev/null' USR1 TERM\n");
    }
    fprintf(f, "while :; do wait $child; rc=$?; kill -0 $child 2>/dev/null || break; done\n");
    if (g->requeue)
      fprintf(f,
              "if [[ $rc == 75 ]]; then\n"
              "  echo \"dmpipe: $step stopped with its checkpoint; requeueing\"\n"
              "  scontrol requeue \"${SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}${SLURM_ARRAY_TASK_ID:+_$"
              "SLURM_ARRAY_TASK_ID}\"\n"
              "  exit 0\n"
              "fi\n");
    fprintf(f, "exit $rc\n");
  }
  free(qexe);
  free(qpipe);
  free(qwork);
  fclose(f);
  return text;
}

/* A queued or running job of this name: its id and state. */
static int squeue_find(const char *name, char *id, size_t idcap, char *state, size_t scap)
{
  char *cmd = dm_pipe_fmt("squeue -h -o '%%A %%T' --name='%s' 2>/dev/null", name);
  FILE *f = cmd ? popen(cmd, "r") : NULL;
  free(cmd);
  if (!f)
    return 0;
  char line[256];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    char a[64], b[64];
    if (sscanf(line, "%63s %63s", a, b) == 2 &&
        strcmp(b, "COMPLETED") && strcmp(b, "FAILED") && strcmp(b, "CANCELLED") &&
        strcmp(b, "TIMEOUT") && strcmp(b, "COMPLETING")) {
      snprintf(id, idcap, "%s", a);
      snprintf(state, scap, "%s", b);
      found = 1;
    }
  }
  pclose(f);
  return found;
}

static int sbatch(const char *script, const char *deps, char *id, size_t cap, char *err,
                  size_t errcap)
{
  char *cmd = dm_pipe_fmt("sbatch --parsable %s%s '%s' 2>&1", deps[0] ? "--dependency=" : "",
                          deps, script);
  FILE *f = cmd ? popen(cmd, "r") : NULL;
  free(cmd);
  if (!f) {
    snprintf(err, errcap, "cannot run sbatch");
    return -1;
  }
  char out[1024] = "";
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = 0;
  int rc = pclose(f);
  char *semi = strpbrk(out, ";\n");
  if (semi)
    *semi = 0;
  long long v = 0;
  char *end;
  v = strtoll(out, &end, 10);
  if (rc != 0 || end == out || *end || v <= 0) {
    snprintf(err, errcap, "%s", out);
    return -1;
  }
  snprintf(id, cap, "%lld", v);
  return 0;
}

/* 1 when step i (st) depends on a step of group j: it cannot be a task of
 * that job array (the tasks of one array run at the same time). */
static int needs_group(const cJSON *steps, const cJSON *st, int i, const int *group_of, int j)
{
  const cJSON *d;
  cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(st, "depends"))
  {
    for (int q = 0; q < i; q++) {
      const cJSON *sq = cJSON_GetArrayItem(steps, q);
      if (group_of[q] == j &&
          !strcmp(cJSON_GetObjectItemCaseSensitive(sq, "name")->valuestring, d->valuestring))
        return 1;
    }
  }
  return 0;
}

static int submit(dm_pipe *p, const char *exe, const char *path, int dry, const char *partition,
                  const char *account, double scale)
{
  dm_pipe_exec_opts o = {.run = 0, .quiet = 1, .exe = exe, .cmd = "submit"};
  cJSON *rep = NULL;
  int failed = 0;
  if (dm_pipe_execute(p, &o, &rep, &failed) != DM_OK) {
    fprintf(stderr, "dmpipe submit: %s\n", dm_error_message());
    return 1;
  }
  if (p->per_sample && p->generate) {
    const cJSON *g0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep, "steps"), 0);
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(g0, "state");
    if (!cJSON_IsString(gs) || strcmp(gs->valuestring, "up-to-date")) {
      fprintf(stderr, "dmpipe submit: --nightly: the samples of a generated archive are known "
                      "only after it is made: run `dmpipe run %s --step generate` first\n",
              path);
      cJSON_Delete(rep);
      return 1;
    }
  }
  dm_pipe_step *graph = NULL;
  int n_graph = 0;
  if (dm_pipe_steps(p, &graph, &n_graph) != DM_OK) {
    fprintf(stderr, "dmpipe submit: %s\n", dm_error_message());
    cJSON_Delete(rep);
    return 1;
  }
  char *pipe_abs = realpath(path, NULL);
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(rep, "steps");
  int n = cJSON_GetArraySize(steps);
  group *g = calloc((size_t)n + 1, sizeof *g);
  int *group_of = calloc((size_t)n, sizeof *group_of);
  int ng = 0, rc = 0;
  char id8[9];
  XXH64_hash_t h = XXH3_64bits(p->workdir, strlen(p->workdir));
  snprintf(id8, sizeof id8, "%08llx", (unsigned long long)(h & 0xffffffffULL));
  for (int i = 0; i < n; i++) {
    group_of[i] = -1;
    const cJSON *st = cJSON_GetArrayItem(steps, i);
    const char *state = cJSON_GetObjectItemCaseSensitive(st, "state")->valuestring;
    if (!strcmp(state, "up-to-date"))
      continue;
    const char *kind = cJSON_GetObjectItemCaseSensitive(st, "kind")->valuestring;
    int ranks = cJSON_GetObjectItemCaseSensitive(st, "ranks")->valueint;
    int threads = cJSON_GetObjectItemCaseSensitive(st, "threads")->valueint;
    int k = 0;
    while (k < DM_PIPE_KINDS && strcmp(dm_pipe_kind_name(k), kind))
      k++;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(st, "model");
    const char *sname = cJSON_GetObjectItemCaseSensitive(st, "name")->valuestring;
    /* The step's own time limit (a model's or a dataset entry's may differ
     * from its kind's). */
    double minutes = k < DM_PIPE_KINDS ? p->res[k].minutes : 60;
    for (int q = 0; q < n_graph; q++)
      if (!strcmp(graph[q].name, sname))
        minutes = graph[q].res.minutes;
    int requeue = 0;
    for (int m = 0; cJSON_IsString(model) && m < p->n_models; m++)
      if (!strcmp(p->models[m].name, model->valuestring) && k == DM_PIPE_TRAIN)
        requeue = !strcmp(p->models[m].kind, "svdd");
    /* The group: the name's first part (so per-sample ingests and the
     * catalog that needs them are never one array) and the resources. */
    char base[32];
    const char *nm = cJSON_GetObjectItemCaseSensitive(st, "name")->valuestring;
    snprintf(base, sizeof base, "%.*s", (int)strcspn(nm, "."), nm);
    int gi = -1;
    for (int j = 0; j < ng && gi < 0; j++)
      if (!strcmp(g[j].base, base) && g[j].ranks == ranks && g[j].threads == threads &&
          g[j].minutes == minutes && g[j].requeue == requeue && !needs_group(steps, st, i, group_of, j))
        gi = j;
    if (gi < 0) {
      gi = ng++;
      snprintf(g[gi].base, sizeof g[gi].base, "%s", base);
      g[gi].kind = k;
      g[gi].ranks = ranks;
      g[gi].threads = threads;
      g[gi].minutes = minutes;
      g[gi].requeue = requeue;
      g[gi].steps = calloc((size_t)n, sizeof(int));
      int same = 0;
      for (int j = 0; j < gi; j++)
        same += !strcmp(g[j].base, base);
      if (same)
        snprintf(g[gi].name, sizeof g[gi].name, "%s-%d", base, same + 1);
      else
        snprintf(g[gi].name, sizeof g[gi].name, "%s", base);
    }
    g[gi].steps[g[gi].n++] = i;
    group_of[i] = gi;
    /* Its dependencies' groups (up-to-date ones need no edge). */
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(st, "depends"))
    {
      for (int j = 0; j < i; j++) {
        const cJSON *sj = cJSON_GetArrayItem(steps, j);
        if (strcmp(cJSON_GetObjectItemCaseSensitive(sj, "name")->valuestring, d->valuestring))
          continue;
        int dg = group_of[j];
        if (dg < 0 || dg == gi)
          continue;
        int have = 0;
        for (int q = 0; q < g[gi].n_deps; q++)
          have |= g[gi].deps[q] == dg;
        if (!have && g[gi].n_deps < 64)
          g[gi].deps[g[gi].n_deps++] = dg;
      }
    }
  }
  char *sdir = dm_pipe_fmt("%s/slurm", p->workdir);
  char *ldir = dm_pipe_fmt("%s/logs", p->workdir);
  if (ng == 0) {
    printf("dmpipe submit: every step of %s is up to date; nothing to submit\n", p->path);
    goto out;
  }
  if (!dry && (dm_pipe_mkdirs(sdir) != DM_OK || dm_pipe_mkdirs(ldir) != DM_OK)) {
    fprintf(stderr, "dmpipe submit: %s\n", dm_error_message());
    rc = 1;
    goto out;
  }
  /* The final job: after every group, with the most ranks any step has. */
  group *fin = &g[ng];
  snprintf(fin->name, sizeof fin->name, "final");
  fin->ranks = 1;
  fin->threads = 1;
  fin->minutes = 10;
  if (ng > 64) {
    fprintf(stderr, "dmpipe submit: %d job groups (at most 64): use fewer distinct ranks, "
                    "threads and times per step kind\n", ng);
    rc = 1;
    goto out;
  }
  for (int j = 0; j < ng; j++) {
    if (g[j].ranks > fin->ranks)
      fin->ranks = g[j].ranks;
    fin->deps[fin->n_deps++] = j;
  }
  /* Groups in an order where each follows the groups it depends on. */
  int *order = calloc((size_t)ng + 1, sizeof *order), *placed = calloc((size_t)ng + 1, sizeof(int));
  int no = 0;
  while (order && placed && no < ng) {
    int progress = 0;
    for (int j = 0; j < ng; j++) {
      if (placed[j])
        continue;
      int ready = 1;
      for (int q = 0; q < g[j].n_deps; q++)
        ready &= placed[g[j].deps[q]];
      if (ready) {
        order[no++] = j;
        placed[j] = 1;
        progress = 1;
      }
    }
    if (!progress)
      break; /* cannot happen: steps depend on earlier steps only */
  }
  if (!order || !placed || no < ng) {
    fprintf(stderr, "dmpipe submit: cannot order the jobs\n");
    free(order);
    free(placed);
    rc = 1;
    goto out;
  }
  order[ng] = ng;
  printf("%-10s %-24s %-8s %-7s %-6s %s\n", "job", "name", "ranks", "threads", "time",
         "steps (after)");
  for (int oj = 0; oj <= ng && rc == 0; oj++) {
    int j = order[oj];
    group *x = &g[j];
    char job_name[128];
    snprintf(job_name, sizeof job_name, "dmpipe-%s-%s", id8, x->name);
    char *text = script_text(p, exe, pipe_abs ? pipe_abs : path, x, steps, job_name, partition,
                             account, scale, j == ng, p->per_sample);
    char *spath = dm_pipe_fmt("%s/%s.sh", sdir, x->name);
    if (!text || !spath) {
      fprintf(stderr, "dmpipe submit: no memory\n");
      rc = 1;
      free(text);
      free(spath);
      break;
    }
    char deps[1024] = "";
    for (int q = 0; q < x->n_deps; q++) {
      const char *dj = dry ? g[x->deps[q]].name : g[x->deps[q]].job;
      size_t l = strlen(deps);
      snprintf(deps + l, sizeof deps - l, "%s%s", q ? ":" : "afterok:", dj);
    }
    if (dry) {
      snprintf(x->job, sizeof x->job, "-");
    } else if (squeue_find(job_name, x->job, sizeof x->job, x->found_state,
                           sizeof x->found_state)) {
      /* Still queued or running from an earlier submit: never twice. */
    } else {
      dm_status s = dm_pipe_write_atomic(spath, text, strlen(text));
      char err[1100];
      if (s == DM_OK)
        chmod(spath, 0755);
      if (s != DM_OK) {
        fprintf(stderr, "dmpipe submit: %s\n", dm_error_message());
        rc = 1;
      } else if (sbatch(spath, deps, x->job, sizeof x->job, err, sizeof err) != 0) {
        fprintf(stderr, "dmpipe submit: sbatch %s failed: %s\n", spath, err);
        rc = 1;
      }
    }
    if (rc == 0) {
      printf("%-10s %-24s %-8d %-7d %-6d ", x->job, job_name, x->ranks, x->threads,
             (int)ceil(x->minutes * scale));
      if (j == ng)
        printf(p->per_sample ? "dmpipe nightly (summary, run.json)" : "dmpipe run (run.json)");
      for (int q = 0; q < x->n; q++)
        printf("%s%s", q ? "," : "",
               cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(steps, x->steps[q]), "name")
                   ->valuestring);
      if (x->n_deps)
        printf(" (%s)", deps);
      if (x->found_state[0])
        printf(" [already %s: reused]", x->found_state);
      printf("\n");
    }
    if (dry)
      printf("----- %s\n%s", spath, text);
    free(text);
    free(spath);
  }
  if (rc != 0 && !dry) {
    /* Half a graph would wait forever on a job that was never submitted. */
    for (int oj = 0; oj <= ng; oj++) {
      group *x = &g[order[oj]];
      if (x->job[0] && !x->found_state[0]) {
        char *cmd = dm_pipe_fmt("scancel %s", x->job);
        if (cmd && system(cmd) == 0)
          fprintf(stderr, "dmpipe submit: cancelled job %s (%s)\n", x->job, x->name);
        free(cmd);
      }
    }
  }
  free(order);
  free(placed);
out:
  for (int j = 0; j < ng; j++)
    free(g[j].steps);
  free(g);
  free(group_of);
  free(sdir);
  free(ldir);
  free(pipe_abs);
  if (graph)
    dm_pipe_steps_free(graph, n_graph);
  cJSON_Delete(rep);
  return rc;
}

int dm_cmd_submit(int argc, char **argv, MPI_Comm comm)
{
  (void)comm;
  const char *path = NULL, *workdir = NULL, *partition = NULL, *account = NULL;
  int dry = 0, nightly = 0;
  double scale = 1.0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(help, stdout);
      fputs(dm_pipe_keys_help, stdout);
      return 0;
    } else if (!strcmp(a, "--dry-run")) {
      dry = 1;
    } else if (!strcmp(a, "--nightly")) {
      nightly = 1;
    } else if (!strcmp(a, "--workdir") && i + 1 < argc) {
      workdir = argv[++i];
    } else if (!strcmp(a, "--partition") && i + 1 < argc) {
      partition = argv[++i];
    } else if (!strcmp(a, "--account") && i + 1 < argc) {
      account = argv[++i];
    } else if (!strcmp(a, "--time-scale") && i + 1 < argc) {
      char *end;
      scale = strtod(argv[++i], &end);
      if (*end || !(scale > 0) || scale > 1e6) {
        fprintf(stderr, "dmpipe submit: --time-scale %s: expected a number > 0; see dmpipe "
                        "submit --help\n",
                argv[i]);
        return 2;
      }
    } else if (a[0] == '-' || path) {
      fprintf(stderr, "dmpipe submit: unexpected argument %s; see dmpipe submit --help\n", a);
      return 2;
    } else {
      path = a;
    }
  }
  if (!path) {
    fprintf(stderr, "dmpipe submit: no pipeline file given; see dmpipe submit --help\n");
    return 2;
  }
  if ((partition && strpbrk(partition, "'\n ")) || (account && strpbrk(account, "'\n "))) {
    fprintf(stderr, "dmpipe submit: --partition and --account take plain names\n");
    return 2;
  }
  if (dm_pipe_cli_refuse_mpi("submit"))
    return 1;
  dm_pipe *p = NULL;
  char exe[PATH_MAX];
  if (dm_pipe_cli_load("submit", path, workdir, &p, exe, sizeof exe))
    return 1;
  p->per_sample = nightly;
  if (strchr(p->workdir, '\'')) {
    fprintf(stderr, "dmpipe submit: the work folder's name may not contain a quote\n");
    dm_pipe_free(p);
    return 1;
  }
  int rc = submit(p, exe, path, dry, partition, account, scale);
  dm_pipe_free(p);
  return rc;
}
