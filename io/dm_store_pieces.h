/* dm_store_pieces.h - reading a range of a store in pieces of bounded
 * object count.
 *
 * A stage reads the store in batches of a fixed number of events per rank
 * (--batch), but what a batch holds in memory is mostly its objects, and
 * their count follows the data: a store is in process order, so a batch can
 * lie in a process with several times the store's mean objects per event,
 * and which batch is densest depends on the store's size. Reading a batch in
 * pieces of consecutive events with at most max_objects objects each keeps
 * the objects in memory at a bound that does not depend on the data.
 *
 * Use (every rank, same order; count may be 0):
 *   dm_store_pieces pc = {0};            (pc.max_objects = M to choose)
 *   dm_store_pieces_plan(st, begin, count, &pc);
 *   for (int64_t p = 0, i = 0; p < pc.n_pieces; p++) {
 *     int64_t e = dm_store_piece_end(&pc, i);
 *     dm_store_read(st, begin + i, e - i, ...);   (collective; e - i may be 0)
 *     ... agree the status before the next read ...
 *     i = e;
 *   }
 *   dm_store_pieces_free(&pc);
 * Every rank makes n_pieces reads (the most any rank needs), a rank past
 * its last piece with count 0, so the collective reads stay matched.
 */
#ifndef DM_STORE_PIECES_H
#define DM_STORE_PIECES_H

#include <stdint.h>

#include "dm_status.h"
#include "dm_store.h"

/* Objects a piece holds at most by default: one chunk of a store's object
 * columns (17 bytes each in single precision: 4.25 MiB). */
#define DM_STORE_PIECE_OBJECTS 262144

typedef struct {
  int64_t max_objects; /* objects a piece holds; 0 = DM_STORE_PIECE_OBJECTS
                          (set before planning; kept by free) */
  /* After dm_store_pieces_plan: */
  uint16_t *process;   /* the process index of every event of the range */
  int64_t *offset;     /* count + 1 object offsets of the range, global */
  int64_t count;       /* events of the range */
  int64_t n_pieces;    /* agreed: the largest number of pieces of any rank */
  /* private */
  int64_t cap;         /* events process and offset hold */
} dm_store_pieces;

/* COLLECTIVE, agreed (every rank calls; count may be 0). Read the index of
 * events [begin, begin + count) (dm_store_read_index: checked as
 * dm_store_read checks it) into pc and agree the number of pieces. A piece
 * is a run of consecutive events whose objects number at most max_objects;
 * an event with more objects is a piece of its own. */
dm_status dm_store_pieces_plan(dm_store *st, int64_t begin, int64_t count, dm_store_pieces *pc);

/* LOCAL. The end (relative to the range's begin) of the piece that starts at
 * event i of the range: the events after i whose objects, with i's, stay
 * within the bound. i >= count (a rank past its last piece) gives count. */
int64_t dm_store_piece_end(const dm_store_pieces *pc, int64_t i);

/* LOCAL. Free what pc holds (zeroed after, max_objects kept; accepts a
 * zeroed pc). */
void dm_store_pieces_free(dm_store_pieces *pc);

#endif
