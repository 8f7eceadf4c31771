/* dm_catalog_parts.h - PRIVATE to stages/nightly: the parts folder of a
 * catalog (dm_catalog.h): CATALOG.parts/NAME-I.h5, hard links to (or copies
 * of) the sample stores, named relative to the catalog's folder. All calls
 * are LOCAL and made by one rank (rank 0).
 */
#ifndef DM_CATALOG_PARTS_H
#define DM_CATALOG_PARTS_H

#include <stddef.h>
#include <stdint.h>

#include "dm_atomic.h"
#include "dm_status.h"

typedef struct {
  char top[DM_PATH_MAX]; /* the catalog's folder, "" or ending in '/' */
  char rel[512];         /* the parts folder relative to it: "STEM.parts" */
  char dir[DM_PATH_MAX]; /* top + rel */
} dm_catparts;

enum { DM_CATPART_LINKED, DM_CATPART_COPIED, DM_CATPART_KEPT };

/* The parts folder of the catalog at catalog_path. */
dm_status dm_catparts_init(dm_catparts *p, const char *catalog_path);

/* The part's name for the store at `input` with identity store_id, relative
 * to the catalog's folder: "STEM.parts/NAME-I.h5" (NAME: the input's base
 * name without ".h5", characters other than letters, digits and ._+- as '_'). */
dm_status dm_catparts_name(const dm_catparts *p, const char *input, const char *store_id,
                           char *rel, size_t cap);

/* Make part `rel` the store at `input` (identity store_id, n_events,
 * n_objects): keep it if it is there already (the same file, or a copy of
 * the same store), else hard-link it, else copy it (written aside, renamed).
 * *how receives DM_CATPART_*. The parts folder is created if missing. */
dm_status dm_catparts_make(const dm_catparts *p, const char *input, const char *rel,
                           const char *store_id, int64_t n_events, int64_t n_objects, int *how);

/* Sync the parts folder (the new links survive a crash once the catalog
 * naming them does). */
dm_status dm_catparts_sync(const dm_catparts *p);

/* Remove the parts the catalog now at catalog_path does not name (all of
 * them when there is no catalog there), and the folder if that empties it.
 * Only while no other run writes the catalog: the claim of its output is
 * taken for the time of it (dm_atomic.h); when another run holds it, nothing
 * is removed (that run prunes after itself). Nothing is removed either when
 * the file there cannot be read. Returns the number of parts removed. */
int dm_catparts_prune(const dm_catparts *p, const char *catalog_path);

#endif
