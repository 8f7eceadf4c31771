/* dm_osel.h - exact order statistics of a sample spread over ranks, by a
 * radix descent on the bit patterns of the values (8 rounds of 8 bits), so
 * the result is the same value for any number of ranks and no rank ever
 * holds more than its own part.
 *
 * Each rank holds its part as a dm_osel_set: values turned into ordered
 * 64-bit keys and sorted locally, with optional weights (NULL = 1 each).
 * Calls marked COLLECTIVE must be made by every rank with the same query
 * arguments.
 */
#ifndef DM_OSEL_H
#define DM_OSEL_H

#include <mpi.h>
#include <stdint.h>

#include "dm_status.h"
#include "dm_xsum.h"

typedef struct {
  int64_t n;       /* local entries */
  uint64_t *key;   /* ascending */
  double *weight;  /* NULL when unweighted */
  int64_t n_total; /* over all ranks */
  double w_total;  /* over all ranks (exact sum), = n_total when unweighted */
} dm_osel_set;

/* LOCAL. Order-preserving key of a non-NaN double (-0 and +0 equal). */
uint64_t dm_osel_key(double v);
/* LOCAL. First index of the ascending keys a[0..n) with a[i] >= k (n if none). */
int64_t dm_osel_lower_bound(const uint64_t *a, int64_t n, uint64_t k);
/* LOCAL. Inverse of dm_osel_key. */
double dm_osel_value(uint64_t key);

/* LOCAL. Sort the keys k[0..n) ascending, carrying the weights w (may be
 * NULL), with caller scratch k2 and w2 (n entries each; w2 unused when w is
 * NULL). Linear time (radix sort of the key bytes that differ). */
void dm_osel_sort(uint64_t *k, double *w, int64_t n, uint64_t *k2, double *w2);

/* COLLECTIVE. Build a set from n local values (and weights, may be NULL):
 * copies, sorts, and sums the totals. NaN values must have been rejected by
 * the caller. */
dm_status dm_osel_build(dm_osel_set *set, const double *v, const double *w, int64_t n,
                        MPI_Comm comm);
/* LOCAL. */
void dm_osel_free(dm_osel_set *set);

/* Result of a query: the value v and the mass strictly above it and at or
 * above it (counts when unweighted, exact weight sums when weighted). */
typedef struct {
  double value;
  uint64_t key;
  double mass_gt, mass_ge;
  int found; /* 0 when the set is empty */
} dm_osel_result;

/* COLLECTIVE. For each of n_q targets f[i] (fractions, f < 1): the largest
 * value v of the set with mass(>= v) / w_total > f[i]. With f = k / N this
 * is the first ROC point beyond background efficiency f, exactly as a
 * descending scan would find it; with f = (c - 0.5) / n_total (unweighted)
 * it is the c-th largest value.
 * Cost: at most 8 rounds, each one MPI_Allreduce of 256 cells (int64, or
 * dm_xsum of 128 bytes weighted) per distinct prefix still searched; targets
 * in monotone order that share a prefix share the cells (one prefix in the
 * first round, at most 256 in the second, at most n_q after). */
dm_status dm_osel_upper(const dm_osel_set *set, const double *f, int n_q, MPI_Comm comm,
                        dm_osel_result *res);

/* COLLECTIVE. dm_osel_upper of a sample that is not held whole: `part` holds
 * its entries with keys in a range [lo, hi) (spread over the ranks in any
 * way; n_total the range's count), above_n / above_w the sample's mass at
 * or above hi (count, or exact weight sum when part is weighted; the same on
 * every rank), w_total the whole sample's (as its set's w_total). For a
 * target whose answer lies in the range, i.e. with mass(>= hi) / w_total <=
 * f < mass(>= lo) / w_total, the result equals dm_osel_upper's on the whole
 * sample, bit for bit, when no weight is negative (the mass at or above a
 * value then falls as the value rises, so the range holds the answer);
 * other targets are not found or wrong, callers pass only the former. Cost
 * as dm_osel_upper on the part. */
dm_status dm_osel_upper_part(const dm_osel_set *part, double w_total, int64_t above_n,
                             const dm_xsum *above_w, const double *f, int n_q, MPI_Comm comm,
                             dm_osel_result *res);

/* COLLECTIVE. Splitters by position of the union of n_sets sets (same
 * n_sets on every rank; weights ignored): for each of n_q positions pos[q]
 * (0 <= pos[q] < the union's n_total, the same on every rank), key[q] is the
 * key at ascending position pos[q] of the sorted union and n_below[q] the
 * number of union entries with a smaller key. Positions in ascending order
 * share counting (see dm_osel_upper's cost). Status agreed. */
dm_status dm_osel_at_positions(const dm_osel_set *sets, int n_sets, const int64_t *pos, int n_q,
                               MPI_Comm comm, uint64_t *key, int64_t *n_below);

/* COLLECTIVE. Spread the union of n_sets sets (n_sets >= 1, all weighted or
 * all unweighted) evenly over the ranks in key order, without any rank holding
 * more than its share: rank r receives the entries at ascending positions
 * [b_r, e_r) of the sorted union, dm_partition(union n_total, r, P), as
 * out[k] (its entries of set k, sorted; n_total and w_total copied from
 * in[k]). Equal keys count in position order: source rank, then set, then
 * local order; so a run of equal keys may continue on the next ranks, and
 * ranks' key ranges follow each other: a rank's smallest key is at least the
 * previous rank's largest. out must be freed with dm_osel_free (also after
 * a failure). Status agreed.
 * Cost per rank: dm_osel_at_positions for P - 1 positions, one MPI_Exscan of
 * P - 1 int64, one MPI_Alltoall of n_sets int64 per peer, one dm_exchange of
 * the keys (and weights) of every set, then the sorted parts received from
 * each rank merged pairwise (ceil(log2 P) linear passes); memory O(local
 * part + n_sets P), plus a transient copy of the largest set's part of the
 * received slice during its merge. */
dm_status dm_osel_balance(const dm_osel_set *in, int n_sets, MPI_Comm comm, dm_osel_set *out);

/* LOCAL. Mass of this rank's entries with key > k and with key >= k, added
 * into counts (unweighted) or exact sums (weighted). */
void dm_osel_local_above(const dm_osel_set *set, uint64_t k, int64_t *n_gt, int64_t *n_ge,
                         dm_xsum *w_gt, dm_xsum *w_ge);

#endif
