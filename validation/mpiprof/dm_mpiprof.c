/* dm_mpiprof.c - a per-rank communication profile of any MPI program,
 * through MPI's profiling interface, loaded at run time (never linked into
 * dmpipe):
 *
 *   mpirun -np 4 -x LD_PRELOAD=build/lib/libdm_mpiprof.so \
 *          -x DMPIPE_MPIPROF=prof.jsonl [-x DMPIPE_MPIPROF_LABEL=TEXT] \
 *          build/bin/dmpipe ingest ...
 *
 * Per rank and per MPI call (point-to-point, each collective, MPI-IO reads and
 * writes in their blocking, non-blocking and collective forms, MPI-IO
 * metadata calls) it counts calls, payload bytes and seconds inside the call,
 * and the time from MPI_Init to MPI_Finalize. In MPI_Finalize each rank
 * appends one JSON line to the file DMPIPE_MPIPROF names (O_APPEND, one
 * write() per line, so the lines of concurrent ranks do not interleave on a
 * local or POSIX file system); unset, nothing is written. The fields are
 * described in validation/README.md, "Scaling study".
 *
 * Why both MPI_X and PMPI_X are defined: a program may interpose MPI calls
 * itself (dmpipe's io/dm_mpiio_guard.c defines MPI_File_write_at and three
 * more in the executable, which wins over any preloaded library) and forward
 * them to PMPI_X; defining PMPI_X here catches those calls too. The real
 * functions are found with dlsym(RTLD_NEXT, "PMPI_X") (the MPI library after
 * this one). A thread-local depth counts only the outermost call: an MPI call
 * made from inside another (our MPI_X reaching our PMPI_X through a program's
 * own wrapper, or an MPI-IO implementation calling public collectives) is
 * timed as part of the outer one, never twice.
 *
 * Non-blocking operations are counted (calls, bytes) when started; the time
 * spent completing them (MPI_Wait*, MPI_Test*) is charged to the class of
 * the requests being completed (remembered by request handle), as "wait_s":
 * when one call completes requests of several classes, the first of io_write,
 * io_read, coll, p2p that is present takes it all.
 *
 * Threads: the counters are atomic, but the request table assumes that one
 * thread at a time calls MPI (MPI_THREAD_FUNNELED or SERIALIZED, as dmpipe
 * and HDF5 do). "Main thread" figures are those of the thread that called
 * MPI_Init.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <mpi.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- classes and calls ------------------------------------------------ */

enum { CL_P2P, CL_COLL, CL_IO_READ, CL_IO_WRITE, CL_IO_META, CL_WAIT, CL_OTHER, CL_N };
static const char *const dm_prof_class_name[CL_N] = {"p2p",      "coll",    "io_read", "io_write",
                                                     "io_meta",  "wait",    "other"};

/* Every counted call: name and class. Completion calls are class "wait" in
 * the per-call table; their time goes to the classes of their requests. */
#define DM_PROF_CALLS(X)                                                                   \
  X(Send, CL_P2P) X(Ssend, CL_P2P) X(Rsend, CL_P2P) X(Bsend, CL_P2P) X(Isend, CL_P2P)      \
  X(Issend, CL_P2P) X(Recv, CL_P2P) X(Irecv, CL_P2P) X(Sendrecv, CL_P2P) X(Probe, CL_P2P)  \
  X(Iprobe, CL_P2P)                                                                        \
  X(Wait, CL_WAIT) X(Waitall, CL_WAIT) X(Waitany, CL_WAIT) X(Waitsome, CL_WAIT)            \
  X(Test, CL_WAIT) X(Testall, CL_WAIT) X(Testany, CL_WAIT) X(Testsome, CL_WAIT)            \
  X(Request_get_status, CL_WAIT)                                                           \
  X(Barrier, CL_COLL) X(Bcast, CL_COLL) X(Reduce, CL_COLL) X(Allreduce, CL_COLL)           \
  X(Gather, CL_COLL) X(Gatherv, CL_COLL) X(Allgather, CL_COLL) X(Allgatherv, CL_COLL)      \
  X(Scatter, CL_COLL) X(Scatterv, CL_COLL) X(Alltoall, CL_COLL) X(Alltoallv, CL_COLL)      \
  X(Alltoallw, CL_COLL) X(Scan, CL_COLL) X(Exscan, CL_COLL) X(Reduce_scatter, CL_COLL)     \
  X(Reduce_scatter_block, CL_COLL) X(Ibarrier, CL_COLL) X(Ibcast, CL_COLL)                 \
  X(Ireduce, CL_COLL) X(Iallreduce, CL_COLL) X(Iallgather, CL_COLL)                        \
  X(Iallgatherv, CL_COLL) X(Ialltoall, CL_COLL) X(Ialltoallv, CL_COLL) X(Igather, CL_COLL) \
  X(Igatherv, CL_COLL) X(Iscatterv, CL_COLL) X(Comm_dup, CL_COLL) X(Comm_split, CL_COLL)   \
  X(Comm_split_type, CL_COLL) X(Comm_create, CL_COLL)                                      \
  X(File_open, CL_IO_META) X(File_close, CL_IO_META) X(File_set_size, CL_IO_META)          \
  X(File_get_size, CL_IO_META) X(File_preallocate, CL_IO_META) X(File_sync, CL_IO_META)    \
  X(File_set_view, CL_IO_META) X(File_delete, CL_IO_META)                                  \
  X(File_read, CL_IO_READ) X(File_read_at, CL_IO_READ) X(File_read_all, CL_IO_READ)        \
  X(File_read_at_all, CL_IO_READ) X(File_iread, CL_IO_READ) X(File_iread_at, CL_IO_READ)   \
  X(File_iread_all, CL_IO_READ) X(File_iread_at_all, CL_IO_READ)                           \
  X(File_write, CL_IO_WRITE) X(File_write_at, CL_IO_WRITE) X(File_write_all, CL_IO_WRITE)  \
  X(File_write_at_all, CL_IO_WRITE) X(File_iwrite, CL_IO_WRITE)                            \
  X(File_iwrite_at, CL_IO_WRITE) X(File_iwrite_all, CL_IO_WRITE)                           \
  X(File_iwrite_at_all, CL_IO_WRITE)

#define DM_PROF_ID(name, cls) ID_##name,
enum { DM_PROF_CALLS(DM_PROF_ID) ID_N };
#define DM_PROF_NAME(name, cls) "MPI_" #name,
static const char *const dm_prof_call_name[ID_N] = {DM_PROF_CALLS(DM_PROF_NAME)};
#define DM_PROF_CLS(name, cls) cls,
static const unsigned char dm_prof_call_class[ID_N] = {DM_PROF_CALLS(DM_PROF_CLS)};

/* An MPI-IO data call below this size is "small": its cost is the file
 * system's per-operation latency (HDF5's metadata, headers), not bandwidth. */
#define DM_PROF_SMALL_IO 65536

/* ---- counters ----------------------------------------------------------- */

typedef struct {
  uint64_t n, out, in, ns;
} dm_prof_ctr;

typedef struct {
  uint64_t calls, out, in, ns, wait_calls, wait_ns, small;
} dm_prof_cls;

static dm_prof_ctr g_call[ID_N];
static dm_prof_cls g_class[CL_N];
static uint64_t g_messages;      /* point-to-point sends started */
static uint64_t g_main_mpi_ns;   /* main thread, inside outermost MPI calls */
static uint64_t g_main_mpi_cpu;  /* its CPU time there */
static int g_on;                 /* between MPI_Init and MPI_Finalize */
static pthread_t g_main;
static uint64_t g_t_init0, g_t_init1, g_cpu_init1;
static double g_start_unix;
static int g_thread_level = -1;
static _Thread_local int g_depth;

#define ADD(var, v) __atomic_fetch_add(&(var), (uint64_t)(v), __ATOMIC_RELAXED)

static uint64_t now_ns(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
  struct timespec t;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0)
    return 0;
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* One MPI call being timed. outer: the outermost MPI call of this thread
 * while profiling is on (only those are counted). */
typedef struct {
  int outer, main;
  uint64_t t0, c0;
} dm_span;

static void span_begin(dm_span *sp)
{
  sp->outer = g_depth++ == 0 && __atomic_load_n(&g_on, __ATOMIC_RELAXED);
  sp->main = 0;
  if (!sp->outer)
    return;
  sp->main = pthread_equal(pthread_self(), g_main);
  if (sp->main)
    sp->c0 = thread_cpu_ns();
  sp->t0 = now_ns();
}

static uint64_t span_stop(dm_span *sp)
{
  g_depth--;
  if (!sp->outer)
    return 0;
  uint64_t dt = now_ns() - sp->t0;
  if (sp->main) {
    ADD(g_main_mpi_ns, dt);
    ADD(g_main_mpi_cpu, thread_cpu_ns() - sp->c0);
  }
  return dt;
}

/* Close a span of call id that moved out bytes from and in bytes into this
 * rank's buffers. */
static void span_end(dm_span *sp, int id, uint64_t out, uint64_t in)
{
  int outer = sp->outer;
  uint64_t dt = span_stop(sp);
  if (!outer)
    return;
  int cls = dm_prof_call_class[id];
  ADD(g_call[id].n, 1);
  ADD(g_call[id].out, out);
  ADD(g_call[id].in, in);
  ADD(g_call[id].ns, dt);
  ADD(g_class[cls].calls, 1);
  ADD(g_class[cls].out, out);
  ADD(g_class[cls].in, in);
  ADD(g_class[cls].ns, dt);
  if ((cls == CL_IO_READ || cls == CL_IO_WRITE) && out + in < DM_PROF_SMALL_IO)
    ADD(g_class[cls].small, 1);
}

/* ---- the real functions --------------------------------------------------- */

static void *dm_prof_sym(const char *name)
{
  void *p = dlsym(RTLD_NEXT, name);
  if (!p) {
    fprintf(stderr, "dm_mpiprof: %s not found in the MPI library (%s)\n", name, dlerror());
    abort();
  }
  return p;
}

/* REAL(Allreduce) declares `real`, the MPI library's PMPI_Allreduce. */
#define REAL(name)                                                    \
  static __typeof__(PMPI_##name) *real_p_;                            \
  __typeof__(PMPI_##name) *real = __atomic_load_n(&real_p_, __ATOMIC_ACQUIRE); \
  if (!real) {                                                        \
    real = (__typeof__(PMPI_##name) *)dm_prof_sym("PMPI_" #name);     \
    __atomic_store_n(&real_p_, real, __ATOMIC_RELEASE);               \
  }

/* Define MPI_name and PMPI_name, both running prof_name. */
#define TWIN(name, params, args)                 \
  int MPI_##name params { return prof_##name args; } \
  int PMPI_##name params { return prof_##name args; }

/* ---- sizes -------------------------------------------------------------- */

static uint64_t tbytes(int64_t count, MPI_Datatype t)
{
  if (count <= 0 || t == MPI_DATATYPE_NULL)
    return 0;
  MPI_Count sz = 0;
  if (PMPI_Type_size_x(t, &sz) != MPI_SUCCESS || sz <= 0)
    return 0;
  return (uint64_t)count * (uint64_t)sz;
}

static int comm_size(MPI_Comm c)
{
  int n = 1;
  if (PMPI_Comm_size(c, &n) != MPI_SUCCESS)
    n = 1;
  return n;
}

static int comm_rank(MPI_Comm c)
{
  int r = 0;
  if (PMPI_Comm_rank(c, &r) != MPI_SUCCESS)
    r = 0;
  return r;
}

static int64_t sum_counts(const int *counts, int n)
{
  int64_t s = 0;
  for (int i = 0; counts && i < n; i++)
    s += counts[i];
  return s;
}

/* Bytes received as the status says (the posted size when it cannot say). */
static uint64_t status_bytes(const MPI_Status *st, int posted, MPI_Datatype t)
{
  MPI_Count n = 0;
  if (PMPI_Get_elements_x(st, MPI_BYTE, &n) == MPI_SUCCESS && n != MPI_UNDEFINED && n >= 0)
    return (uint64_t)n;
  return tbytes(posted, t);
}

/* ---- requests of non-blocking calls: handle -> class ---------------------- */

/* Open addressing, linear probing, tombstones; rebuilt when 3/4 full. A
 * request that does not fit is simply not classified ("other"). */
#define REQ_CAP 16384
#define REQ_EMPTY 0u
#define REQ_TOMB UINT64_MAX
static uint64_t g_req_key[REQ_CAP];
static unsigned char g_req_cls[REQ_CAP];
static unsigned g_req_used;

static uint64_t req_key(MPI_Request r)
{
  uint64_t k = 0;
  memcpy(&k, &r, sizeof r < sizeof k ? sizeof r : sizeof k);
  return k;
}

static unsigned req_slot(uint64_t k)
{
  return (unsigned)((k * 0x9E3779B97F4A7C15ull) >> 50) & (REQ_CAP - 1);
}

static void req_rebuild(void)
{
  static uint64_t key[REQ_CAP];
  static unsigned char cls[REQ_CAP];
  memcpy(key, g_req_key, sizeof key);
  memcpy(cls, g_req_cls, sizeof cls);
  memset(g_req_key, 0, sizeof g_req_key);
  g_req_used = 0;
  for (unsigned i = 0; i < REQ_CAP; i++)
    if (key[i] != REQ_EMPTY && key[i] != REQ_TOMB) {
      unsigned s = req_slot(key[i]);
      while (g_req_key[s] != REQ_EMPTY)
        s = (s + 1) & (REQ_CAP - 1);
      g_req_key[s] = key[i];
      g_req_cls[s] = cls[i];
      g_req_used++;
    }
}

static void req_put(MPI_Request r, int cls)
{
  uint64_t k = req_key(r);
  if (r == MPI_REQUEST_NULL || k == REQ_EMPTY || k == REQ_TOMB)
    return;
  unsigned s = req_slot(k), tomb = REQ_CAP;
  for (unsigned i = 0; i < REQ_CAP; i++, s = (s + 1) & (REQ_CAP - 1)) {
    if (g_req_key[s] == k) {
      g_req_cls[s] = (unsigned char)cls;
      return;
    }
    if (g_req_key[s] == REQ_TOMB && tomb == REQ_CAP)
      tomb = s;
    if (g_req_key[s] == REQ_EMPTY)
      break;
  }
  if (tomb == REQ_CAP) {
    if (g_req_used + 1 > REQ_CAP * 3 / 4) {
      req_rebuild();
      if (g_req_used + 1 > REQ_CAP * 3 / 4)
        return;
      req_put(r, cls);
      return;
    }
    tomb = s;
    g_req_used++;
  }
  g_req_key[tomb] = k;
  g_req_cls[tomb] = (unsigned char)cls;
}

/* Slot of r, or REQ_CAP. */
static unsigned req_find(uint64_t k)
{
  if (k == REQ_EMPTY || k == REQ_TOMB)
    return REQ_CAP;
  unsigned s = req_slot(k);
  for (unsigned i = 0; i < REQ_CAP; i++, s = (s + 1) & (REQ_CAP - 1)) {
    if (g_req_key[s] == k)
      return s;
    if (g_req_key[s] == REQ_EMPTY)
      return REQ_CAP;
  }
  return REQ_CAP;
}

/* A completion call over n requests: remembers their handles, charges its
 * time to the class of the requests, forgets the ones it completed. */
typedef struct {
  dm_span sp;
  int n, cls;
  uint64_t *keys, small[64];
} dm_wait;

static const int dm_wait_rank[CL_N] = {[CL_IO_WRITE] = 5, [CL_IO_READ] = 4, [CL_COLL] = 3,
                                       [CL_P2P] = 2};

static void wait_begin(dm_wait *w, const MPI_Request *reqs, int n)
{
  span_begin(&w->sp);
  w->n = 0;
  w->cls = CL_OTHER;
  w->keys = w->small;
  if (!w->sp.outer || n <= 0 || !reqs)
    return;
  if (n > 64 && !(w->keys = malloc((size_t)n * sizeof *w->keys))) {
    w->keys = w->small;
    return;
  }
  w->n = n;
  int best = 0;
  for (int i = 0; i < n; i++) {
    w->keys[i] = reqs[i] == MPI_REQUEST_NULL ? REQ_EMPTY : req_key(reqs[i]);
    unsigned s = req_find(w->keys[i]);
    if (s != REQ_CAP && dm_wait_rank[g_req_cls[s]] > best) {
      best = dm_wait_rank[g_req_cls[s]];
      w->cls = g_req_cls[s];
    }
  }
}

static void wait_end(dm_wait *w, int id, const MPI_Request *reqs)
{
  int outer = w->sp.outer;
  uint64_t dt = span_stop(&w->sp);
  if (!outer)
    return;
  for (int i = 0; i < w->n; i++)
    if (w->keys[i] != REQ_EMPTY && reqs[i] == MPI_REQUEST_NULL) {
      unsigned s = req_find(w->keys[i]);
      if (s != REQ_CAP)
        g_req_key[s] = REQ_TOMB;
    }
  if (w->keys != w->small)
    free(w->keys);
  ADD(g_call[id].n, 1);
  ADD(g_call[id].ns, dt);
  ADD(g_class[w->cls].wait_calls, 1);
  ADD(g_class[w->cls].wait_ns, dt);
}

/* Start of a non-blocking call: count it, remember its request's class. */
static void span_end_req(dm_span *sp, int id, uint64_t out, uint64_t in, int rc,
                         const MPI_Request *req)
{
  int outer = sp->outer;
  span_end(sp, id, out, in);
  if (outer && rc == MPI_SUCCESS && req)
    req_put(*req, dm_prof_call_class[id]);
}

/* ---- point-to-point ------------------------------------------------------ */

#define P2P_SEND(name)                                                                    \
  static int prof_##name(const void *buf, int count, MPI_Datatype t, int dest, int tag,  \
                         MPI_Comm c)                                                     \
  {                                                                                      \
    REAL(name);                                                                          \
    dm_span sp;                                                                          \
    span_begin(&sp);                                                                     \
    int rc = real(buf, count, t, dest, tag, c);                                          \
    if (sp.outer)                                                                        \
      ADD(g_messages, 1);                                                                \
    span_end(&sp, ID_##name, sp.outer ? tbytes(count, t) : 0, 0);                        \
    return rc;                                                                           \
  }                                                                                      \
  TWIN(name, (const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm c), \
       (buf, count, t, dest, tag, c))
P2P_SEND(Send)
P2P_SEND(Ssend)
P2P_SEND(Rsend)
P2P_SEND(Bsend)

#define P2P_ISEND(name)                                                                   \
  static int prof_##name(const void *buf, int count, MPI_Datatype t, int dest, int tag,  \
                         MPI_Comm c, MPI_Request *req)                                   \
  {                                                                                      \
    REAL(name);                                                                          \
    dm_span sp;                                                                          \
    span_begin(&sp);                                                                     \
    int rc = real(buf, count, t, dest, tag, c, req);                                     \
    if (sp.outer)                                                                        \
      ADD(g_messages, 1);                                                                \
    span_end_req(&sp, ID_##name, sp.outer ? tbytes(count, t) : 0, 0, rc, req);           \
    return rc;                                                                           \
  }                                                                                      \
  TWIN(name,                                                                             \
       (const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm c,       \
        MPI_Request *req),                                                               \
       (buf, count, t, dest, tag, c, req))
P2P_ISEND(Isend)
P2P_ISEND(Issend)

static int prof_Irecv(void *buf, int count, MPI_Datatype t, int src, int tag, MPI_Comm c,
                      MPI_Request *req)
{
  REAL(Irecv);
  dm_span sp;
  span_begin(&sp);
  int rc = real(buf, count, t, src, tag, c, req);
  /* the posted size: the received size is known only at completion */
  span_end_req(&sp, ID_Irecv, 0, sp.outer ? tbytes(count, t) : 0, rc, req);
  return rc;
}
TWIN(Irecv, (void *buf, int count, MPI_Datatype t, int src, int tag, MPI_Comm c,
             MPI_Request *req), (buf, count, t, src, tag, c, req))

static int prof_Recv(void *buf, int count, MPI_Datatype t, int src, int tag, MPI_Comm c,
                     MPI_Status *st)
{
  REAL(Recv);
  dm_span sp;
  MPI_Status own;
  MPI_Status *use = st == MPI_STATUS_IGNORE ? &own : st;
  span_begin(&sp);
  int rc = real(buf, count, t, src, tag, c, use);
  uint64_t in = sp.outer && rc == MPI_SUCCESS ? status_bytes(use, count, t) : 0;
  span_end(&sp, ID_Recv, 0, in);
  return rc;
}
TWIN(Recv, (void *buf, int count, MPI_Datatype t, int src, int tag, MPI_Comm c,
            MPI_Status *st), (buf, count, t, src, tag, c, st))

static int prof_Sendrecv(const void *sb, int sc, MPI_Datatype st_, int dest, int stag, void *rb,
                         int rc_, MPI_Datatype rt, int src, int rtag, MPI_Comm c, MPI_Status *st)
{
  REAL(Sendrecv);
  dm_span sp;
  MPI_Status own;
  MPI_Status *use = st == MPI_STATUS_IGNORE ? &own : st;
  span_begin(&sp);
  int rc = real(sb, sc, st_, dest, stag, rb, rc_, rt, src, rtag, c, use);
  uint64_t out = 0, in = 0;
  if (sp.outer) {
    ADD(g_messages, 1);
    out = tbytes(sc, st_);
    in = rc == MPI_SUCCESS ? status_bytes(use, rc_, rt) : 0;
  }
  span_end(&sp, ID_Sendrecv, out, in);
  return rc;
}
TWIN(Sendrecv, (const void *sb, int sc, MPI_Datatype st_, int dest, int stag, void *rb,
                int rc_, MPI_Datatype rt, int src, int rtag, MPI_Comm c, MPI_Status *st),
     (sb, sc, st_, dest, stag, rb, rc_, rt, src, rtag, c, st))

static int prof_Probe(int src, int tag, MPI_Comm c, MPI_Status *st)
{
  REAL(Probe);
  dm_span sp;
  span_begin(&sp);
  int rc = real(src, tag, c, st);
  span_end(&sp, ID_Probe, 0, 0);
  return rc;
}
TWIN(Probe, (int src, int tag, MPI_Comm c, MPI_Status *st), (src, tag, c, st))

static int prof_Iprobe(int src, int tag, MPI_Comm c, int *flag, MPI_Status *st)
{
  REAL(Iprobe);
  dm_span sp;
  span_begin(&sp);
  int rc = real(src, tag, c, flag, st);
  span_end(&sp, ID_Iprobe, 0, 0);
  return rc;
}
TWIN(Iprobe, (int src, int tag, MPI_Comm c, int *flag, MPI_Status *st), (src, tag, c, flag, st))

/* ---- completion ------------------------------------------------------------ */

static int prof_Wait(MPI_Request *req, MPI_Status *st)
{
  REAL(Wait);
  dm_wait w;
  wait_begin(&w, req, 1);
  int rc = real(req, st);
  wait_end(&w, ID_Wait, req);
  return rc;
}
TWIN(Wait, (MPI_Request *req, MPI_Status *st), (req, st))

static int prof_Waitall(int n, MPI_Request reqs[], MPI_Status sts[])
{
  REAL(Waitall);
  dm_wait w;
  wait_begin(&w, reqs, n);
  int rc = real(n, reqs, sts);
  wait_end(&w, ID_Waitall, reqs);
  return rc;
}
TWIN(Waitall, (int n, MPI_Request reqs[], MPI_Status *sts), (n, reqs, sts))

static int prof_Waitany(int n, MPI_Request reqs[], int *idx, MPI_Status *st)
{
  REAL(Waitany);
  dm_wait w;
  wait_begin(&w, reqs, n);
  int rc = real(n, reqs, idx, st);
  wait_end(&w, ID_Waitany, reqs);
  return rc;
}
TWIN(Waitany, (int n, MPI_Request reqs[], int *idx, MPI_Status *st), (n, reqs, idx, st))

static int prof_Waitsome(int n, MPI_Request reqs[], int *outn, int idx[], MPI_Status sts[])
{
  REAL(Waitsome);
  dm_wait w;
  wait_begin(&w, reqs, n);
  int rc = real(n, reqs, outn, idx, sts);
  wait_end(&w, ID_Waitsome, reqs);
  return rc;
}
TWIN(Waitsome, (int n, MPI_Request reqs[], int *outn, int idx[], MPI_Status sts[]),
     (n, reqs, outn, idx, sts))

static int prof_Test(MPI_Request *req, int *flag, MPI_Status *st)
{
  REAL(Test);
  dm_wait w;
  wait_begin(&w, req, 1);
  int rc = real(req, flag, st);
  wait_end(&w, ID_Test, req);
  return rc;
}
TWIN(Test, (MPI_Request *req, int *flag, MPI_Status *st), (req, flag, st))

static int prof_Testall(int n, MPI_Request reqs[], int *flag, MPI_Status sts[])
{
  REAL(Testall);
  dm_wait w;
  wait_begin(&w, reqs, n);
  int rc = real(n, reqs, flag, sts);
  wait_end(&w, ID_Testall, reqs);
  return rc;
}
TWIN(Testall, (int n, MPI_Request reqs[], int *flag, MPI_Status sts[]), (n, reqs, flag, sts))

static int prof_Testany(int n, MPI_Request reqs[], int *idx, int *flag, MPI_Status *st)
{
  REAL(Testany);
  dm_wait w;
  wait_begin(&w, reqs, n);
  int rc = real(n, reqs, idx, flag, st);
  wait_end(&w, ID_Testany, reqs);
  return rc;
}
TWIN(Testany, (int n, MPI_Request reqs[], int *idx, int *flag, MPI_Status *st),
     (n, reqs, idx, flag, st))

static int prof_Testsome(int n, MPI_Request reqs[], int *outn, int idx[], MPI_Status sts[])
{
  REAL(Testsome);
  dm_wait w;
  wait_begin(&w, reqs, n);
  int rc = real(n, reqs, outn, idx, sts);
  wait_end(&w, ID_Testsome, reqs);
  return rc;
}
TWIN(Testsome, (int n, MPI_Request reqs[], int *outn, int idx[], MPI_Status sts[]),
     (n, reqs, outn, idx, sts))

/* A test that leaves the request alive (dmpipe's chunk writer polls its
 * MPI-IO writes this way): charged like MPI_Test, forgets nothing. */
static int prof_Request_get_status(MPI_Request req, int *flag, MPI_Status *st)
{
  REAL(Request_get_status);
  dm_wait w;
  wait_begin(&w, &req, 1);
  int rc = real(req, flag, st);
  w.n = 0;
  wait_end(&w, ID_Request_get_status, &req);
  return rc;
}
TWIN(Request_get_status, (MPI_Request req, int *flag, MPI_Status *st), (req, flag, st))

/* Not counted: only forgets the request, whose handle MPI may reuse. */
static int prof_Request_free(MPI_Request *req)
{
  REAL(Request_free);
  if (req && g_depth == 0) {
    unsigned s = req_find(req_key(*req));
    if (s != REQ_CAP)
      g_req_key[s] = REQ_TOMB;
  }
  return real(req);
}
TWIN(Request_free, (MPI_Request *req), (req))

/* ---- collectives ------------------------------------------------------------ */

static int prof_Barrier(MPI_Comm c)
{
  REAL(Barrier);
  dm_span sp;
  span_begin(&sp);
  int rc = real(c);
  span_end(&sp, ID_Barrier, 0, 0);
  return rc;
}
TWIN(Barrier, (MPI_Comm c), (c))

static int prof_Ibarrier(MPI_Comm c, MPI_Request *req)
{
  REAL(Ibarrier);
  dm_span sp;
  span_begin(&sp);
  int rc = real(c, req);
  span_end_req(&sp, ID_Ibarrier, 0, 0, rc, req);
  return rc;
}
TWIN(Ibarrier, (MPI_Comm c, MPI_Request *req), (c, req))

/* Bytes of a broadcast: sent by the root, received by the others. */
static void bcast_bytes(int n, MPI_Datatype t, int root, MPI_Comm c, uint64_t *out, uint64_t *in)
{
  uint64_t b = tbytes(n, t);
  *out = comm_rank(c) == root ? b : 0;
  *in = comm_rank(c) == root ? 0 : b;
}

static int prof_Bcast(void *buf, int n, MPI_Datatype t, int root, MPI_Comm c)
{
  REAL(Bcast);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(buf, n, t, root, c);
  if (sp.outer)
    bcast_bytes(n, t, root, c, &out, &in);
  span_end(&sp, ID_Bcast, out, in);
  return rc;
}
TWIN(Bcast, (void *buf, int n, MPI_Datatype t, int root, MPI_Comm c), (buf, n, t, root, c))

static int prof_Ibcast(void *buf, int n, MPI_Datatype t, int root, MPI_Comm c, MPI_Request *req)
{
  REAL(Ibcast);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(buf, n, t, root, c, req);
  if (sp.outer)
    bcast_bytes(n, t, root, c, &out, &in);
  span_end_req(&sp, ID_Ibcast, out, in, rc, req);
  return rc;
}
TWIN(Ibcast, (void *buf, int n, MPI_Datatype t, int root, MPI_Comm c, MPI_Request *req),
     (buf, n, t, root, c, req))

/* Reductions: every rank contributes n elements; Reduce delivers to the
 * root only, the others to every rank. */
#define REDUCE_ALL(name)                                                                 \
  static int prof_##name(const void *sb, void *rb, int n, MPI_Datatype t, MPI_Op op,   \
                         MPI_Comm c)                                                    \
  {                                                                                     \
    REAL(name);                                                                         \
    dm_span sp;                                                                         \
    span_begin(&sp);                                                                    \
    int rc = real(sb, rb, n, t, op, c);                                                 \
    uint64_t b = sp.outer ? tbytes(n, t) : 0;                                           \
    span_end(&sp, ID_##name, b, b);                                                     \
    return rc;                                                                          \
  }                                                                                     \
  TWIN(name, (const void *sb, void *rb, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c), \
       (sb, rb, n, t, op, c))
REDUCE_ALL(Allreduce)
REDUCE_ALL(Scan)
REDUCE_ALL(Exscan)

static int prof_Iallreduce(const void *sb, void *rb, int n, MPI_Datatype t, MPI_Op op,
                           MPI_Comm c, MPI_Request *req)
{
  REAL(Iallreduce);
  dm_span sp;
  span_begin(&sp);
  int rc = real(sb, rb, n, t, op, c, req);
  uint64_t b = sp.outer ? tbytes(n, t) : 0;
  span_end_req(&sp, ID_Iallreduce, b, b, rc, req);
  return rc;
}
TWIN(Iallreduce, (const void *sb, void *rb, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c,
                  MPI_Request *req), (sb, rb, n, t, op, c, req))

static int prof_Reduce(const void *sb, void *rb, int n, MPI_Datatype t, MPI_Op op, int root,
                       MPI_Comm c)
{
  REAL(Reduce);
  dm_span sp;
  span_begin(&sp);
  int rc = real(sb, rb, n, t, op, root, c);
  uint64_t b = sp.outer ? tbytes(n, t) : 0;
  span_end(&sp, ID_Reduce, b, sp.outer && comm_rank(c) == root ? b : 0);
  return rc;
}
TWIN(Reduce, (const void *sb, void *rb, int n, MPI_Datatype t, MPI_Op op, int root, MPI_Comm c),
     (sb, rb, n, t, op, root, c))

static int prof_Ireduce(const void *sb, void *rb, int n, MPI_Datatype t, MPI_Op op, int root,
                        MPI_Comm c, MPI_Request *req)
{
  REAL(Ireduce);
  dm_span sp;
  span_begin(&sp);
  int rc = real(sb, rb, n, t, op, root, c, req);
  uint64_t b = sp.outer ? tbytes(n, t) : 0;
  span_end_req(&sp, ID_Ireduce, b, sp.outer && comm_rank(c) == root ? b : 0, rc, req);
  return rc;
}
TWIN(Ireduce, (const void *sb, void *rb, int n, MPI_Datatype t, MPI_Op op, int root,
               MPI_Comm c, MPI_Request *req), (sb, rb, n, t, op, root, c, req))

static int prof_Reduce_scatter(const void *sb, void *rb, const int rcounts[], MPI_Datatype t,
                               MPI_Op op, MPI_Comm c)
{
  REAL(Reduce_scatter);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, rb, rcounts, t, op, c);
  if (sp.outer) {
    out = tbytes(sum_counts(rcounts, comm_size(c)), t);
    in = tbytes(rcounts[comm_rank(c)], t);
  }
  span_end(&sp, ID_Reduce_scatter, out, in);
  return rc;
}
TWIN(Reduce_scatter, (const void *sb, void *rb, const int rcounts[], MPI_Datatype t, MPI_Op op,
                      MPI_Comm c), (sb, rb, rcounts, t, op, c))

static int prof_Reduce_scatter_block(const void *sb, void *rb, int rcount, MPI_Datatype t,
                                     MPI_Op op, MPI_Comm c)
{
  REAL(Reduce_scatter_block);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, rb, rcount, t, op, c);
  if (sp.outer) {
    out = tbytes((int64_t)rcount * comm_size(c), t);
    in = tbytes(rcount, t);
  }
  span_end(&sp, ID_Reduce_scatter_block, out, in);
  return rc;
}
TWIN(Reduce_scatter_block, (const void *sb, void *rb, int rcount, MPI_Datatype t, MPI_Op op,
                            MPI_Comm c), (sb, rb, rcount, t, op, c))

/* Gathers: each rank sends its block (none from an in-place root), the root
 * (every rank for the all- forms) receives all of them. */
static void gather_bytes(const void *sb, int sc, MPI_Datatype stype, int64_t rtotal,
                         MPI_Datatype rtype, int receives, uint64_t *out, uint64_t *in)
{
  *out = sb == MPI_IN_PLACE ? 0 : tbytes(sc, stype);
  *in = receives ? tbytes(rtotal, rtype) : 0;
}

static int prof_Gather(const void *sb, int sc, MPI_Datatype stype, void *rb, int rc_,
                       MPI_Datatype rtype, int root, MPI_Comm c)
{
  REAL(Gather);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, sc, stype, rb, rc_, rtype, root, c);
  if (sp.outer) {
    int me = comm_rank(c) == root;
    gather_bytes(sb, sc, stype, (int64_t)rc_ * comm_size(c), rtype, me, &out, &in);
  }
  span_end(&sp, ID_Gather, out, in);
  return rc;
}
TWIN(Gather, (const void *sb, int sc, MPI_Datatype stype, void *rb, int rc_, MPI_Datatype rtype,
              int root, MPI_Comm c), (sb, sc, stype, rb, rc_, rtype, root, c))

static int prof_Igather(const void *sb, int sc, MPI_Datatype stype, void *rb, int rc_,
                        MPI_Datatype rtype, int root, MPI_Comm c, MPI_Request *req)
{
  REAL(Igather);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, sc, stype, rb, rc_, rtype, root, c, req);
  if (sp.outer) {
    int me = comm_rank(c) == root;
    gather_bytes(sb, sc, stype, (int64_t)rc_ * comm_size(c), rtype, me, &out, &in);
  }
  span_end_req(&sp, ID_Igather, out, in, rc, req);
  return rc;
}
TWIN(Igather, (const void *sb, int sc, MPI_Datatype stype, void *rb, int rc_, MPI_Datatype rtype,
               int root, MPI_Comm c, MPI_Request *req),
     (sb, sc, stype, rb, rc_, rtype, root, c, req))

static int prof_Gatherv(const void *sb, int sc, MPI_Datatype stype, void *rb, const int rcs[],
                        const int displs[], MPI_Datatype rtype, int root, MPI_Comm c)
{
  REAL(Gatherv);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, sc, stype, rb, rcs, displs, rtype, root, c);
  if (sp.outer) {
    int me = comm_rank(c) == root;
    gather_bytes(sb, sc, stype, me ? sum_counts(rcs, comm_size(c)) : 0, rtype, me, &out, &in);
  }
  span_end(&sp, ID_Gatherv, out, in);
  return rc;
}
TWIN(Gatherv, (const void *sb, int sc, MPI_Datatype stype, void *rb, const int rcs[],
               const int displs[], MPI_Datatype rtype, int root, MPI_Comm c),
     (sb, sc, stype, rb, rcs, displs, rtype, root, c))

static int prof_Igatherv(const void *sb, int sc, MPI_Datatype stype, void *rb, const int rcs[],
                         const int displs[], MPI_Datatype rtype, int root, MPI_Comm c,
                         MPI_Request *req)
{
  REAL(Igatherv);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, sc, stype, rb, rcs, displs, rtype, root, c, req);
  if (sp.outer) {
    int me = comm_rank(c) == root;
    gather_bytes(sb, sc, stype, me ? sum_counts(rcs, comm_size(c)) : 0, rtype, me, &out, &in);
  }
  span_end_req(&sp, ID_Igatherv, out, in, rc, req);
  return rc;
}
TWIN(Igatherv, (const void *sb, int sc, MPI_Datatype stype, void *rb, const int rcs[],
                const int displs[], MPI_Datatype rtype, int root, MPI_Comm c, MPI_Request *req),
     (sb, sc, stype, rb, rcs, displs, rtype, root, c, req))

static int prof_Allgather(const void *sb, int sc, MPI_Datatype stype, void *rb, int rc_,
                          MPI_Datatype rtype, MPI_Comm c)
{
  REAL(Allgather);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, sc, stype, rb, rc_, rtype, c);
  if (sp.outer) {
    gather_bytes(sb, sc, stype, (int64_t)rc_ * comm_size(c), rtype, 1, &out, &in);
    if (sb == MPI_IN_PLACE)
      out = tbytes(rc_, rtype);
  }
  span_end(&sp, ID_Allgather, out, in);
  return rc;
}
TWIN(Allgather, (const void *sb, int sc, MPI_Datatype stype, void *rb, int rc_,
                 MPI_Datatype rtype, MPI_Comm c), (sb, sc, stype, rb, rc_, rtype, c))

static int prof_Iallgather(const void *sb, int sc, MPI_Datatype stype, void *rb, int rc_,
                           MPI_Datatype rtype, MPI_Comm c, MPI_Request *req)
{
  REAL(Iallgather);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, sc, stype, rb, rc_, rtype, c, req);
  if (sp.outer) {
    gather_bytes(sb, sc, stype, (int64_t)rc_ * comm_size(c), rtype, 1, &out, &in);
    if (sb == MPI_IN_PLACE)
      out = tbytes(rc_, rtype);
  }
  span_end_req(&sp, ID_Iallgather, out, in, rc, req);
  return rc;
}
TWIN(Iallgather, (const void *sb, int sc, MPI_Datatype stype, void *rb, int rc_,
                  MPI_Datatype rtype, MPI_Comm c, MPI_Request *req),
     (sb, sc, stype, rb, rc_, rtype, c, req))

static int prof_Allgatherv(const void *sb, int sc, MPI_Datatype stype, void *rb,
                           const int rcs[], const int displs[], MPI_Datatype rtype, MPI_Comm c)
{
  REAL(Allgatherv);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, sc, stype, rb, rcs, displs, rtype, c);
  if (sp.outer) {
    gather_bytes(sb, sc, stype, sum_counts(rcs, comm_size(c)), rtype, 1, &out, &in);
    if (sb == MPI_IN_PLACE)
      out = tbytes(rcs[comm_rank(c)], rtype);
  }
  span_end(&sp, ID_Allgatherv, out, in);
  return rc;
}
TWIN(Allgatherv, (const void *sb, int sc, MPI_Datatype stype, void *rb, const int rcs[],
                  const int displs[], MPI_Datatype rtype, MPI_Comm c),
     (sb, sc, stype, rb, rcs, displs, rtype, c))

static int prof_Iallgatherv(const void *sb, int sc, MPI_Datatype stype, void *rb,
                            const int rcs[], const int displs[], MPI_Datatype rtype, MPI_Comm c,
                            MPI_Request *req)
{
  REAL(Iallgatherv);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, sc, stype, rb, rcs, displs, rtype, c, req);
  if (sp.outer) {
    gather_bytes(sb, sc, stype, sum_counts(rcs, comm_size(c)), rtype, 1, &out, &in);
    if (sb == MPI_IN_PLACE)
      out = tbytes(rcs[comm_rank(c)], rtype);
  }
  span_end_req(&sp, ID_Iallgatherv, out, in, rc, req);
  return rc;
}
TWIN(Iallgatherv, (const void *sb, int sc, MPI_Datatype stype, void *rb, const int rcs[],
                   const int displs[], MPI_Datatype rtype, MPI_Comm c, MPI_Request *req),
     (sb, sc, stype, rb, rcs, displs, rtype, c, req))

/* Scatters: the root sends every block, each rank (an in-place root not)
 * receives its own. */
static int prof_Scatter(const void *sb, int sc, MPI_Datatype stype, void *rb, int rc_,
                        MPI_Datatype rtype, int root, MPI_Comm c)
{
  REAL(Scatter);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, sc, stype, rb, rc_, rtype, root, c);
  if (sp.outer) {
    int me = comm_rank(c) == root;
    out = me ? tbytes((int64_t)sc * comm_size(c), stype) : 0;
    in = rb == MPI_IN_PLACE ? 0 : tbytes(rc_, rtype);
  }
  span_end(&sp, ID_Scatter, out, in);
  return rc;
}
TWIN(Scatter, (const void *sb, int sc, MPI_Datatype stype, void *rb, int rc_, MPI_Datatype rtype,
               int root, MPI_Comm c), (sb, sc, stype, rb, rc_, rtype, root, c))

static void scatterv_bytes(const int scs[], MPI_Datatype stype, void *rb, int rc_,
                           MPI_Datatype rtype, int root, MPI_Comm c, uint64_t *out, uint64_t *in)
{
  int me = comm_rank(c) == root;
  *out = me ? tbytes(sum_counts(scs, comm_size(c)), stype) : 0;
  *in = rb == MPI_IN_PLACE ? 0 : tbytes(rc_, rtype);
}

static int prof_Scatterv(const void *sb, const int scs[], const int displs[], MPI_Datatype stype,
                         void *rb, int rc_, MPI_Datatype rtype, int root, MPI_Comm c)
{
  REAL(Scatterv);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, scs, displs, stype, rb, rc_, rtype, root, c);
  if (sp.outer)
    scatterv_bytes(scs, stype, rb, rc_, rtype, root, c, &out, &in);
  span_end(&sp, ID_Scatterv, out, in);
  return rc;
}
TWIN(Scatterv, (const void *sb, const int scs[], const int displs[], MPI_Datatype stype, void *rb,
                int rc_, MPI_Datatype rtype, int root, MPI_Comm c),
     (sb, scs, displs, stype, rb, rc_, rtype, root, c))

static int prof_Iscatterv(const void *sb, const int scs[], const int displs[],
                          MPI_Datatype stype, void *rb, int rc_, MPI_Datatype rtype, int root,
                          MPI_Comm c, MPI_Request *req)
{
  REAL(Iscatterv);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, scs, displs, stype, rb, rc_, rtype, root, c, req);
  if (sp.outer)
    scatterv_bytes(scs, stype, rb, rc_, rtype, root, c, &out, &in);
  span_end_req(&sp, ID_Iscatterv, out, in, rc, req);
  return rc;
}
TWIN(Iscatterv, (const void *sb, const int scs[], const int displs[], MPI_Datatype stype,
                 void *rb, int rc_, MPI_Datatype rtype, int root, MPI_Comm c, MPI_Request *req),
     (sb, scs, displs, stype, rb, rc_, rtype, root, c, req))

/* All-to-all: in place, the receive side describes both directions. */
static int prof_Alltoall(const void *sb, int sc, MPI_Datatype stype, void *rb, int rc_,
                         MPI_Datatype rtype, MPI_Comm c)
{
  REAL(Alltoall);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, sc, stype, rb, rc_, rtype, c);
  if (sp.outer) {
    int p = comm_size(c);
    in = tbytes((int64_t)rc_ * p, rtype);
    out = sb == MPI_IN_PLACE ? in : tbytes((int64_t)sc * p, stype);
  }
  span_end(&sp, ID_Alltoall, out, in);
  return rc;
}
TWIN(Alltoall, (const void *sb, int sc, MPI_Datatype stype, void *rb, int rc_, MPI_Datatype rtype,
                MPI_Comm c), (sb, sc, stype, rb, rc_, rtype, c))

static int prof_Ialltoall(const void *sb, int sc, MPI_Datatype stype, void *rb, int rc_,
                          MPI_Datatype rtype, MPI_Comm c, MPI_Request *req)
{
  REAL(Ialltoall);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, sc, stype, rb, rc_, rtype, c, req);
  if (sp.outer) {
    int p = comm_size(c);
    in = tbytes((int64_t)rc_ * p, rtype);
    out = sb == MPI_IN_PLACE ? in : tbytes((int64_t)sc * p, stype);
  }
  span_end_req(&sp, ID_Ialltoall, out, in, rc, req);
  return rc;
}
TWIN(Ialltoall, (const void *sb, int sc, MPI_Datatype stype, void *rb, int rc_,
                 MPI_Datatype rtype, MPI_Comm c, MPI_Request *req),
     (sb, sc, stype, rb, rc_, rtype, c, req))

static int prof_Alltoallv(const void *sb, const int scs[], const int sd[], MPI_Datatype stype,
                          void *rb, const int rcs[], const int rd[], MPI_Datatype rtype,
                          MPI_Comm c)
{
  REAL(Alltoallv);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, scs, sd, stype, rb, rcs, rd, rtype, c);
  if (sp.outer) {
    int p = comm_size(c);
    in = tbytes(sum_counts(rcs, p), rtype);
    out = sb == MPI_IN_PLACE ? in : tbytes(sum_counts(scs, p), stype);
  }
  span_end(&sp, ID_Alltoallv, out, in);
  return rc;
}
TWIN(Alltoallv, (const void *sb, const int scs[], const int sd[], MPI_Datatype stype, void *rb,
                 const int rcs[], const int rd[], MPI_Datatype rtype, MPI_Comm c),
     (sb, scs, sd, stype, rb, rcs, rd, rtype, c))

static int prof_Ialltoallv(const void *sb, const int scs[], const int sd[], MPI_Datatype stype,
                           void *rb, const int rcs[], const int rd[], MPI_Datatype rtype,
                           MPI_Comm c, MPI_Request *req)
{
  REAL(Ialltoallv);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, scs, sd, stype, rb, rcs, rd, rtype, c, req);
  if (sp.outer) {
    int p = comm_size(c);
    in = tbytes(sum_counts(rcs, p), rtype);
    out = sb == MPI_IN_PLACE ? in : tbytes(sum_counts(scs, p), stype);
  }
  span_end_req(&sp, ID_Ialltoallv, out, in, rc, req);
  return rc;
}
TWIN(Ialltoallv, (const void *sb, const int scs[], const int sd[], MPI_Datatype stype, void *rb,
                  const int rcs[], const int rd[], MPI_Datatype rtype, MPI_Comm c,
                  MPI_Request *req), (sb, scs, sd, stype, rb, rcs, rd, rtype, c, req))

static int prof_Alltoallw(const void *sb, const int scs[], const int sd[],
                          const MPI_Datatype sts[], void *rb, const int rcs[], const int rd[],
                          const MPI_Datatype rts[], MPI_Comm c)
{
  REAL(Alltoallw);
  dm_span sp;
  uint64_t out = 0, in = 0;
  span_begin(&sp);
  int rc = real(sb, scs, sd, sts, rb, rcs, rd, rts, c);
  if (sp.outer) {
    int p = comm_size(c);
    for (int i = 0; i < p; i++) {
      in += tbytes(rcs[i], rts[i]);
      if (sb != MPI_IN_PLACE)
        out += tbytes(scs[i], sts[i]);
    }
    if (sb == MPI_IN_PLACE)
      out = in;
  }
  span_end(&sp, ID_Alltoallw, out, in);
  return rc;
}
TWIN(Alltoallw, (const void *sb, const int scs[], const int sd[], const MPI_Datatype sts[],
                 void *rb, const int rcs[], const int rd[], const MPI_Datatype rts[], MPI_Comm c),
     (sb, scs, sd, sts, rb, rcs, rd, rts, c))

/* Communicator creation: collective, no payload. */
static int prof_Comm_dup(MPI_Comm c, MPI_Comm *nc)
{
  REAL(Comm_dup);
  dm_span sp;
  span_begin(&sp);
  int rc = real(c, nc);
  span_end(&sp, ID_Comm_dup, 0, 0);
  return rc;
}
TWIN(Comm_dup, (MPI_Comm c, MPI_Comm *nc), (c, nc))

static int prof_Comm_split(MPI_Comm c, int color, int key, MPI_Comm *nc)
{
  REAL(Comm_split);
  dm_span sp;
  span_begin(&sp);
  int rc = real(c, color, key, nc);
  span_end(&sp, ID_Comm_split, 0, 0);
  return rc;
}
TWIN(Comm_split, (MPI_Comm c, int color, int key, MPI_Comm *nc), (c, color, key, nc))

static int prof_Comm_split_type(MPI_Comm c, int type, int key, MPI_Info info, MPI_Comm *nc)
{
  REAL(Comm_split_type);
  dm_span sp;
  span_begin(&sp);
  int rc = real(c, type, key, info, nc);
  span_end(&sp, ID_Comm_split_type, 0, 0);
  return rc;
}
TWIN(Comm_split_type, (MPI_Comm c, int type, int key, MPI_Info info, MPI_Comm *nc),
     (c, type, key, info, nc))

static int prof_Comm_create(MPI_Comm c, MPI_Group g, MPI_Comm *nc)
{
  REAL(Comm_create);
  dm_span sp;
  span_begin(&sp);
  int rc = real(c, g, nc);
  span_end(&sp, ID_Comm_create, 0, 0);
  return rc;
}
TWIN(Comm_create, (MPI_Comm c, MPI_Group g, MPI_Comm *nc), (c, g, nc))

/* ---- MPI-IO ---------------------------------------------------------------- */

static int prof_File_open(MPI_Comm c, const char *name, int mode, MPI_Info info, MPI_File *fh)
{
  REAL(File_open);
  dm_span sp;
  span_begin(&sp);
  int rc = real(c, name, mode, info, fh);
  span_end(&sp, ID_File_open, 0, 0);
  return rc;
}
TWIN(File_open, (MPI_Comm c, const char *name, int mode, MPI_Info info, MPI_File *fh),
     (c, name, mode, info, fh))

static int prof_File_close(MPI_File *fh)
{
  REAL(File_close);
  dm_span sp;
  span_begin(&sp);
  int rc = real(fh);
  span_end(&sp, ID_File_close, 0, 0);
  return rc;
}
TWIN(File_close, (MPI_File *fh), (fh))

#define IO_META_OFF(name)                                                  \
  static int prof_##name(MPI_File fh, MPI_Offset v)                       \
  {                                                                        \
    REAL(name);                                                            \
    dm_span sp;                                                            \
    span_begin(&sp);                                                       \
    int rc = real(fh, v);                                                  \
    span_end(&sp, ID_##name, 0, 0);                                        \
    return rc;                                                             \
  }                                                                        \
  TWIN(name, (MPI_File fh, MPI_Offset v), (fh, v))
IO_META_OFF(File_set_size)
IO_META_OFF(File_preallocate)

static int prof_File_get_size(MPI_File fh, MPI_Offset *size)
{
  REAL(File_get_size);
  dm_span sp;
  span_begin(&sp);
  int rc = real(fh, size);
  span_end(&sp, ID_File_get_size, 0, 0);
  return rc;
}
TWIN(File_get_size, (MPI_File fh, MPI_Offset *size), (fh, size))

static int prof_File_sync(MPI_File fh)
{
  REAL(File_sync);
  dm_span sp;
  span_begin(&sp);
  int rc = real(fh);
  span_end(&sp, ID_File_sync, 0, 0);
  return rc;
}
TWIN(File_sync, (MPI_File fh), (fh))

static int prof_File_set_view(MPI_File fh, MPI_Offset disp, MPI_Datatype et, MPI_Datatype ft,
                              const char *rep, MPI_Info info)
{
  REAL(File_set_view);
  dm_span sp;
  span_begin(&sp);
  int rc = real(fh, disp, et, ft, rep, info);
  span_end(&sp, ID_File_set_view, 0, 0);
  return rc;
}
TWIN(File_set_view, (MPI_File fh, MPI_Offset disp, MPI_Datatype et, MPI_Datatype ft,
                     const char *rep, MPI_Info info), (fh, disp, et, ft, rep, info))

static int prof_File_delete(const char *name, MPI_Info info)
{
  REAL(File_delete);
  dm_span sp;
  span_begin(&sp);
  int rc = real(name, info);
  span_end(&sp, ID_File_delete, 0, 0);
  return rc;
}
TWIN(File_delete, (const char *name, MPI_Info info), (name, info))

/* Data calls: bytes as requested (count x type size). Blocking forms with
 * and without an explicit offset, then the non-blocking ones. */
#define IO_BLOCK(name, cls_in, BUFQ)                                                     \
  static int prof_##name(MPI_File fh, BUFQ void *buf, int n, MPI_Datatype t,             \
                         MPI_Status *st)                                                 \
  {                                                                                      \
    REAL(name);                                                                          \
    dm_span sp;                                                                          \
    span_begin(&sp);                                                                     \
    int rc = real(fh, buf, n, t, st);                                                    \
    uint64_t b = sp.outer ? tbytes(n, t) : 0;                                            \
    span_end(&sp, ID_##name, cls_in ? 0 : b, cls_in ? b : 0);                            \
    return rc;                                                                           \
  }                                                                                      \
  TWIN(name, (MPI_File fh, BUFQ void *buf, int n, MPI_Datatype t, MPI_Status *st),       \
       (fh, buf, n, t, st))
#define IO_BLOCK_AT(name, cls_in, BUFQ)                                                  \
  static int prof_##name(MPI_File fh, MPI_Offset off, BUFQ void *buf, int n,            \
                         MPI_Datatype t, MPI_Status *st)                                 \
  {                                                                                      \
    REAL(name);                                                                          \
    dm_span sp;                                                                          \
    span_begin(&sp);                                                                     \
    int rc = real(fh, off, buf, n, t, st);                                               \
    uint64_t b = sp.outer ? tbytes(n, t) : 0;                                            \
    span_end(&sp, ID_##name, cls_in ? 0 : b, cls_in ? b : 0);                            \
    return rc;                                                                           \
  }                                                                                      \
  TWIN(name, (MPI_File fh, MPI_Offset off, BUFQ void *buf, int n, MPI_Datatype t,        \
              MPI_Status *st), (fh, off, buf, n, t, st))
#define IO_NB(name, cls_in, BUFQ)                                                        \
  static int prof_##name(MPI_File fh, BUFQ void *buf, int n, MPI_Datatype t,             \
                         MPI_Request *req)                                               \
  {                                                                                      \
    REAL(name);                                                                          \
    dm_span sp;                                                                          \
    span_begin(&sp);                                                                     \
    int rc = real(fh, buf, n, t, req);                                                   \
    uint64_t b = sp.outer ? tbytes(n, t) : 0;                                            \
    span_end_req(&sp, ID_##name, cls_in ? 0 : b, cls_in ? b : 0, rc, req);               \
    return rc;                                                                           \
  }                                                                                      \
  TWIN(name, (MPI_File fh, BUFQ void *buf, int n, MPI_Datatype t, MPI_Request *req),     \
       (fh, buf, n, t, req))
#define IO_NB_AT(name, cls_in, BUFQ)                                                     \
  static int prof_##name(MPI_File fh, MPI_Offset off, BUFQ void *buf, int n,            \
                         MPI_Datatype t, MPI_Request *req)                               \
  {                                                                                      \
    REAL(name);                                                                          \
    dm_span sp;                                                                          \
    span_begin(&sp);                                                                     \
    int rc = real(fh, off, buf, n, t, req);                                              \
    uint64_t b = sp.outer ? tbytes(n, t) : 0;                                            \
    span_end_req(&sp, ID_##name, cls_in ? 0 : b, cls_in ? b : 0, rc, req);               \
    return rc;                                                                           \
  }                                                                                      \
  TWIN(name, (MPI_File fh, MPI_Offset off, BUFQ void *buf, int n, MPI_Datatype t,        \
              MPI_Request *req), (fh, off, buf, n, t, req))
#define DM_NOQ
IO_BLOCK(File_read, 1, DM_NOQ)
IO_BLOCK(File_read_all, 1, DM_NOQ)
IO_BLOCK_AT(File_read_at, 1, DM_NOQ)
IO_BLOCK_AT(File_read_at_all, 1, DM_NOQ)
IO_NB(File_iread, 1, DM_NOQ)
IO_NB(File_iread_all, 1, DM_NOQ)
IO_NB_AT(File_iread_at, 1, DM_NOQ)
IO_NB_AT(File_iread_at_all, 1, DM_NOQ)
IO_BLOCK(File_write, 0, const)
IO_BLOCK(File_write_all, 0, const)
IO_BLOCK_AT(File_write_at, 0, const)
IO_BLOCK_AT(File_write_at_all, 0, const)
IO_NB(File_iwrite, 0, const)
IO_NB(File_iwrite_all, 0, const)
IO_NB_AT(File_iwrite_at, 0, const)
IO_NB_AT(File_iwrite_at_all, 0, const)

/* ---- start and end ----------------------------------------------------------- */

static void on_init(uint64_t t0, int level)
{
  g_t_init0 = t0;
  g_main = pthread_self();
  g_thread_level = level;
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  g_start_unix = (double)rt.tv_sec + 1e-9 * (double)rt.tv_nsec;
  g_cpu_init1 = thread_cpu_ns();
  g_t_init1 = now_ns();
  __atomic_store_n(&g_on, 1, __ATOMIC_RELEASE);
}

int MPI_Init(int *argc, char ***argv)
{
  REAL(Init);
  uint64_t t0 = now_ns();
  int rc = real(argc, argv);
  int level = MPI_THREAD_SINGLE;
  PMPI_Query_thread(&level);
  on_init(t0, level);
  return rc;
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
  REAL(Init_thread);
  uint64_t t0 = now_ns();
  int rc = real(argc, argv, required, provided);
  on_init(t0, provided ? *provided : required);
  return rc;
}

/* A growing text buffer for the JSON line. */
typedef struct {
  char *p;
  size_t n, cap;
  int bad;
} dm_buf;

static void put(dm_buf *b, const char *fmt, ...)
{
  if (b->bad)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (k < 0) {
      b->bad = 1;
      return;
    }
    if ((size_t)k < b->cap - b->n) {
      b->n += (size_t)k;
      return;
    }
    size_t cap = 2 * b->cap + (size_t)k;
    char *q = realloc(b->p, cap);
    if (!q) {
      b->bad = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
}

/* A JSON string: quotes, backslashes and bytes outside printable ASCII
 * escaped (other bytes as \u00XX, so the line is always valid JSON). */
static void put_str(dm_buf *b, const char *s, size_t len)
{
  put(b, "\"");
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\')
      put(b, "\\%c", ch);
    else if (ch < 0x20 || ch >= 0x7f)
      put(b, "\\u%04x", ch);
    else
      put(b, "%c", ch);
  }
  put(b, "\"");
}

/* The command line from /proc (arguments joined by spaces, at most 4 kB). */
static void put_cmdline(dm_buf *b)
{
  char cmd[4096];
  size_t len = 0;
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t k = read(fd, cmd, sizeof cmd - 1);
    len = k > 0 ? (size_t)k : 0;
    close(fd);
  }
  while (len && cmd[len - 1] == '\0')
    len--;
  for (size_t i = 0; i < len; i++)
    if (cmd[i] == '\0')
      cmd[i] = ' ';
  put_str(b, cmd, len);
}

static double sec(uint64_t ns) { return 1e-9 * (double)ns; }

static void write_profile(const char *path, int rank, int size, uint64_t t_fin0, uint64_t t_fin1,
                          uint64_t main_cpu, const struct rusage *ru)
{
  dm_buf b = {malloc(16384), 0, 16384, 0};
  if (!b.p)
    return;
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  const char *label = getenv("DMPIPE_MPIPROF_LABEL");
  put(&b, "{\"mpiprof\":1,\"label\":");
  put_str(&b, label ? label : "", label ? strlen(label) : 0);
  put(&b, ",\"rank\":%d,\"size\":%d,\"host\":", rank, size);
  put_str(&b, host, strlen(host));
  put(&b, ",\"pid\":%ld,\"cmd\":", (long)getpid());
  put_cmdline(&b);
  put(&b, ",\"thread_level\":%d,\"start_unix\":%.6f", g_thread_level, g_start_unix);
  put(&b, ",\"init_s\":%.9f,\"wall_s\":%.9f,\"finalize_s\":%.9f", sec(g_t_init1 - g_t_init0),
      sec(t_fin0 - g_t_init1), sec(t_fin1 - t_fin0));
  put(&b, ",\"main_mpi_s\":%.9f,\"main_cpu_s\":%.9f,\"main_mpi_cpu_s\":%.9f", sec(g_main_mpi_ns),
      sec(main_cpu), sec(g_main_mpi_cpu));
  put(&b, ",\"cpu_user_s\":%.6f,\"cpu_sys_s\":%.6f,\"maxrss_kb\":%ld",
      (double)ru->ru_utime.tv_sec + 1e-6 * (double)ru->ru_utime.tv_usec,
      (double)ru->ru_stime.tv_sec + 1e-6 * (double)ru->ru_stime.tv_usec, ru->ru_maxrss);
  put(&b, ",\"messages\":%llu,\"classes\":{", (unsigned long long)g_messages);
  for (int c = 0, first = 1; c < CL_N; c++) {
    if (c == CL_WAIT) /* completion time is charged to the other classes */
      continue;
    const dm_prof_cls *k = &g_class[c];
    put(&b,
        "%s\"%s\":{\"calls\":%llu,\"bytes_out\":%llu,\"bytes_in\":%llu,\"s\":%.9f,"
        "\"wait_calls\":%llu,\"wait_s\":%.9f,\"small_calls\":%llu}",
        first ? "" : ",", dm_prof_class_name[c], (unsigned long long)k->calls,
        (unsigned long long)k->out, (unsigned long long)k->in, sec(k->ns),
        (unsigned long long)k->wait_calls, sec(k->wait_ns), (unsigned long long)k->small);
    first = 0;
  }
  put(&b, "},\"calls\":{");
  int first = 1;
  for (int i = 0; i < ID_N; i++) {
    const dm_prof_ctr *k = &g_call[i];
    if (!k->n)
      continue;
    put(&b,
        "%s\"%s\":{\"class\":\"%s\",\"n\":%llu,\"bytes_out\":%llu,\"bytes_in\":%llu,"
        "\"s\":%.9f}",
        first ? "" : ",", dm_prof_call_name[i], dm_prof_class_name[dm_prof_call_class[i]],
        (unsigned long long)k->n, (unsigned long long)k->out, (unsigned long long)k->in,
        sec(k->ns));
    first = 0;
  }
  put(&b, "}}\n");
  if (b.bad) {
    fprintf(stderr, "dm_mpiprof: rank %d: out of memory writing the profile\n", rank);
    free(b.p);
    return;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "dm_mpiprof: rank %d: cannot open %s: %s\n", rank, path, strerror(errno));
  } else {
    ssize_t k = write(fd, b.p, b.n);
    if (k != (ssize_t)b.n)
      fprintf(stderr, "dm_mpiprof: rank %d: writing %s failed: %s\n", rank, path,
              k < 0 ? strerror(errno) : "short write");
    close(fd);
  }
  free(b.p);
}

int MPI_Finalize(void)
{
  REAL(Finalize);
  if (!__atomic_load_n(&g_on, __ATOMIC_ACQUIRE))
    return real();
  uint64_t t_fin0 = now_ns();
  uint64_t main_cpu = thread_cpu_ns() - g_cpu_init1;
  __atomic_store_n(&g_on, 0, __ATOMIC_RELEASE);
  int rank = comm_rank(MPI_COMM_WORLD), size = comm_size(MPI_COMM_WORLD);
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  getrusage(RUSAGE_SELF, &ru);
  int rc = real();
  uint64_t t_fin1 = now_ns();
  const char *path = getenv("DMPIPE_MPIPROF");
  if (path && *path)
    write_profile(path, rank, size, t_fin0, t_fin1, main_cpu, &ru);
  return rc;
}
