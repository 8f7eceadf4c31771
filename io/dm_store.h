/* dm_store.h - the event store: columnar, chunked, zstd-compressed HDF5.
 *
 * Schema (format "dmpipe-store", version DM_STORE_VERSION):
 *   /events/event_id   int64     one row per event, in input order
 *   /events/process    uint16    index into /processes
 *   /events/weight     float64   as read from the archive
 *   /events/met        float32   GeV (float64 with precision=double)
 *   /events/met_phi    float32   (float64 with precision=double)
 *   /events/n_obj      uint16    objects of the event
 *   /events/obj_offset int64     N+1 entries: objects of event i are
 *                                [obj_offset[i], obj_offset[i+1]) (awkward's
 *                                ListOffsetArray convention)
 *   /objects/type      uint8 enum {j,b,e-,e+,m-,m+,g}
 *   /objects/e, pt, eta, phi  float32 (float64 with precision=double), GeV
 *   /processes/name    fixed-length strings
 *   /processes/n_events int64
 *   /derived           external link to the store's derived-column index
 *                      (dm_derived.h): /derived/<name> per-event columns added
 *                      by later stages (float64 or integer), each with
 *                      attributes of its own
 * Root attributes: provenance (dm_prov.h), "precision", "units", "store_id"
 * (the identity its derived columns must carry, random per store).
 *
 * Catalogs (format version 3): a store of all the events of other stores, its
 * PARTS, in order, without a copy of their data. /events/{event_id, weight,
 * met, met_phi, n_obj} and the /objects columns are HDF5 virtual datasets
 * mapping onto the same columns of the parts; /events/obj_offset (made
 * global) and /events/process (indices into the catalog's own /processes)
 * are ordinary datasets; the root attributes are a store's plus "catalog" = 1 and
 * "catalog_parts" (a table: file, n_events, n_objects, store_id per part). The
 * part files are named relative to the catalog's folder, where HDF5 looks for
 * them first, so the catalog moves with them. dm_store_open reads a catalog
 * like any store; why it opens it differently, see there.
 *
 * Calls marked COLLECTIVE must be made by every rank of the communicator the
 * store was opened with, in the same order, with count 0 where a rank has
 * nothing to read or write.
 *
 * Stores are verified as they are read, never trusted: dm_store_open checks
 * the format and version, that every dataset exists, that the event columns
 * (and the object columns) have one length, that the recorded counts match,
 * and the two ends of obj_offset; every dm_store_read checks its batch (the
 * offsets non-decreasing and equal to n_obj step by step, process indices
 * inside /processes, object types inside the enum). A violation is
 * DM_ERR_SCHEMA naming the file, the dataset and the first bad index.
 */
#ifndef DM_STORE_H
#define DM_STORE_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "dm_derived.h"
#include "dm_status.h"

/* 2: store_id and the /derived link made at creation. 3: catalogs (only
 * they are written as 3, so a dmpipe that cannot read virtual columns
 * refuses them by version instead of failing inside HDF5). The highest
 * version read. */
#define DM_STORE_VERSION 3
#define DM_STORE_VERSION_PLAIN 2

enum {
  DM_OBJ_JET = 0, /* j  */
  DM_OBJ_BJET,    /* b  */
  DM_OBJ_EMINUS,  /* e- */
  DM_OBJ_EPLUS,   /* e+ */
  DM_OBJ_MUMINUS, /* m- (legacy mu-) */
  DM_OBJ_MUPLUS,  /* m+ (legacy mu+) */
  DM_OBJ_PHOTON,  /* g  (legacy a)   */
  DM_OBJ_NTYPES
};

/* LOCAL. Archive code of an object type ("j", "b", "e-", ...). */
const char *dm_obj_code(int type);

/* Events in memory, columnar. Objects of event i are
 * [obj_offset[i], obj_offset[i+1]) of the object arrays; obj_offset[0] == 0
 * in memory (rebased), global in the file. Floats are always float in
 * memory from dm_store_read; the double-precision copies are filled too when
 * want_double is set on the read (for lossless export of precision=double
 * stores). */
typedef struct {
  int64_t n_events, n_objects;
  int64_t first_event; /* global index of event 0 of this batch */
  int64_t *event_id;
  uint16_t *process;
  double *weight;
  float *met, *met_phi;
  int64_t *obj_offset; /* n_events + 1 */
  uint8_t *type;
  float *e, *pt, *eta, *phi;
  /* Double copies (NULL unless requested): met, met_phi, e, pt, eta, phi. */
  double *met_d, *met_phi_d, *e_d, *pt_d, *eta_d, *phi_d;
  int64_t cap_events, cap_objects; /* allocated sizes */
} dm_events;

/* LOCAL. Free the arrays of a batch (struct itself not freed; zeroed). */
void dm_events_free(dm_events *ev);

/* LOCAL. Empty a batch, keeping its memory (obj_offset[0] = 0). */
void dm_events_clear(dm_events *ev);

/* LOCAL. Make room for n_events and n_objects (keeps contents). */
dm_status dm_events_reserve(dm_events *ev, int64_t n_events, int64_t n_objects, int want_double);

/* ---- reading ----------------------------------------------------------- */

typedef struct dm_store dm_store;

/* COLLECTIVE. Open a store (or a selection, which has the same schema).
 *
 * A catalog is opened on every rank with HDF5's default (POSIX) driver,
 * read-only, instead of MPI-IO: parallel HDF5 1.10 refuses to read virtual
 * datasets through MPI-IO. Each rank then reads its own ranges independently
 * (HDF5 opens the parts as a read reaches them); the calls below keep their
 * COLLECTIVE contract and their agreed statuses. Before anything is read,
 * rank 0 checks every part (present beside the catalog, the store_id and
 * counts recorded, each virtual column mapping exactly the recorded parts):
 * HDF5 reads fill values, silently, for a part it cannot find. A failure is
 * DM_ERR_SCHEMA naming the catalog and the part, on every rank. Opening a
 * catalog with readwrite is DM_ERR_ARG (a catalog is never written again;
 * derived columns go to its side files, dm_derived.h). */
dm_status dm_store_open(const char *path, MPI_Comm comm, int readwrite, dm_store **st);

/* COLLECTIVE, agreed. Only the HDF5 file of the store at path, read-only,
 * opened as dm_store_open opens it (a catalog with the default driver, its
 * parts checked), without the store's own checks: for readers of a column or
 * two (dm_h5_col_read) of files that may be partial stores. Close it with
 * dm_h5_close. */
dm_status dm_store_open_file(const char *path, MPI_Comm comm, hid_t *file);
/* COLLECTIVE. Close; accepts NULL. */
dm_status dm_store_close(dm_store *st);

/* LOCAL accessors. */
int64_t dm_store_n_events(const dm_store *st);
int64_t dm_store_n_objects(const dm_store *st);
int dm_store_n_processes(const dm_store *st);
const char *dm_store_process_name(const dm_store *st, int i);
int64_t dm_store_process_events(const dm_store *st, int i);
int dm_store_is_double(const dm_store *st);
hid_t dm_store_file(const dm_store *st);
const char *dm_store_path(const dm_store *st);
MPI_Comm dm_store_comm(const dm_store *st);
/* LOCAL. A catalog's parts (0 for an ordinary store), and the path of part i
 * as opened (the catalog's folder + the name it records). */
int dm_store_n_parts(const dm_store *st);
const char *dm_store_part_path(const dm_store *st, int i);

/* COLLECTIVE (every rank calls; count may be 0). Read events
 * [begin, begin + count) and their objects into ev (grown as needed). */
dm_status dm_store_read(dm_store *st, int64_t begin, int64_t count, int want_double,
                        dm_events *ev);

/* COLLECTIVE, agreed (every rank calls; count may be 0). The process index
 * of events [begin, begin + count) into process, for stages that need no
 * more of an event (weights, training pools). The event index is checked as
 * dm_store_read checks it (offsets and n_obj of the range, process indices);
 * the objects are not read. */
dm_status dm_store_read_process(dm_store *st, int64_t begin, int64_t count, uint16_t *process);

/* COLLECTIVE, agreed. The same, and the offsets of the range too: count + 1
 * entries of /events/obj_offset (global, as in the file; none when count is
 * 0) into obj_offset, which may be NULL. */
dm_status dm_store_read_index(dm_store *st, int64_t begin, int64_t count, uint16_t *process,
                              int64_t *obj_offset);

/* COLLECTIVE, agreed. Reads every event and object once, in rounds of
 * `batch` events per rank (0: 65536), with the checks of dm_store_read. */
dm_status dm_store_verify(dm_store *st, int64_t batch);

/* LOCAL. The store's derived columns as read at open (dm_derived.h; owned
 * by the store). */
struct dm_derived;
struct dm_derived *dm_store_derived(const dm_store *st);

/* LOCAL. 1 if /derived/<name> existed when the store was opened (the list
 * is read at open, so this makes no HDF5 call). */
int dm_store_has_derived(const dm_store *st, const char *name);
/* COLLECTIVE. Read /derived/<name>[begin, begin+count) as double. */
dm_status dm_store_read_derived(dm_store *st, const char *name, int64_t begin, int64_t count,
                                double *out);

/* LOCAL. Who a store file is, read with the default driver and without
 * opening the whole store: its store_id, and its events and objects (the
 * lengths of /events/event_id and /objects/type, which must equal its
 * n_events and n_objects attributes). Errors name the path: DM_ERR_IO or
 * DM_ERR_HDF5 when it cannot be opened (missing, truncated), DM_ERR_SCHEMA
 * when it is not a store, is a catalog, or has no store_id. */
dm_status dm_store_identify(const char *path, char id[DM_STORE_ID_LEN], int64_t *n_events,
                            int64_t *n_objects);

/* LOCAL. The part names (as recorded, relative to its folder) of the catalog
 * at path, each followed by '\n', in *list (malloc'd); "" when the store
 * there is not a catalog. DM_ERR_IO/SCHEMA when it cannot be read. */
dm_status dm_store_catalog_parts(const char *path, char **list);

/* ---- writing ----------------------------------------------------------- */

typedef struct {
  int zstd_level;     /* 0 = none, else 1..22 (default 3) */
  int64_t chunk_events; /* events per chunk (objects get 4x this) */
  int precision_double; /* store met, met_phi and object floats as float64 */
} dm_store_layout;

typedef struct dm_store_writer dm_store_writer;

/* COLLECTIVE. Start a store at `path` (written to a temporary of the run until finished; dm_atomic.h). */
dm_status dm_store_writer_create(const char *path, const dm_store_layout *layout, MPI_Comm comm,
                                 dm_store_writer **w);

/* COLLECTIVE. Start a catalog at `path` (see "Catalogs" above): as
 * dm_store_writer_create, but append writes only /events/process and
 * /events/obj_offset (the batches need n_events, n_objects, obj_offset and
 * process only); the other columns are made by finish, as virtual datasets
 * over the parts given with dm_store_writer_add_part. */
dm_status dm_store_writer_create_catalog(const char *path, const dm_store_layout *layout,
                                         MPI_Comm comm, dm_store_writer **w);

/* LOCAL (same arguments on every rank). The next part of a catalog: `file`
 * relative to the catalog's folder (it need not exist yet, but must when the
 * catalog is read), its counts and store_id. Its events are the ones appended
 * after those of the previous parts; finish checks that the totals agree. */
dm_status dm_store_writer_add_part(dm_store_writer *w, const char *file, int64_t n_events,
                                   int64_t n_objects, const char *store_id);

/* COLLECTIVE. Append each rank's batch after everything written so far, in
 * rank order. ev->process holds global process indices. ev->obj_offset is
 * local (starts at 0); the writer makes it global. Floats are taken from the
 * float arrays, or the double arrays when the layout is double precision. */
dm_status dm_store_writer_append(dm_store_writer *w, const dm_events *ev);

/* COLLECTIVE. Finish: write the process table (identical on every rank),
 * provenance attributes, agree on `local`, close, rename on success or remove
 * on failure; frees w. Returns the agreed status. */
dm_status dm_store_writer_finish(dm_store_writer *w, dm_status local, const char *const *proc_names,
                                 const int64_t *proc_events, int n_proc, const char *command_line,
                                 const char *inputs);

/* LOCAL. Events and objects written so far by all ranks (same on every
 * rank after each append). */
int64_t dm_store_writer_n_events(const dm_store_writer *w);
int64_t dm_store_writer_n_objects(const dm_store_writer *w);

/* LOCAL. The identity of the store being written (store_id, dm_derived.h). */
const char *dm_store_writer_id(const dm_store_writer *w);

/* LOCAL. The caller commits the store's derived index itself (a
 * dm_derived_writer created with current = NULL, before finish); otherwise
 * finish writes an empty index, so every store has one. */
void dm_store_writer_index_by_caller(dm_store_writer *w);

/* What writing cost this rank, in seconds (io/dm_chunk_writer.h for the
 * parts): compressing its chunks, the exchange and placement of chunks
 * (waits included), its MPI-IO writes; on rank 0 the HDF5 calls that place
 * each chunk in the file (register) and their count; on every rank the time
 * from sending its chunk sizes to holding their addresses (addr_wait). */
typedef struct {
  double compress, exchange, write;
  double register_s;
  int64_t chunks;
  double addr_wait;
  int64_t writebacks; /* early write-backs started (DMPIPE_WRITEBACK, dm_io_tune.h) */
} dm_store_write_stats;

/* LOCAL. Ask finish to fill *dst with this rank's numbers once the last
 * chunks are written (dst must outlive the finish call). */
void dm_store_writer_stats_to(dm_store_writer *w, dm_store_write_stats *dst);

/* LOCAL. The open HDF5 file of a writer (to add attributes or groups; all
 * such calls are collective as usual). */
hid_t dm_store_writer_file(const dm_store_writer *w);

#endif
