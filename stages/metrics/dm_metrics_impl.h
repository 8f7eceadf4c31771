/* dm_metrics_impl.h - private to stages/metrics: the histogram helpers the
 * stage driver (dm_metrics.c) calls. Not part of the stage's interface. */
#ifndef DM_METRICS_IMPL_H
#define DM_METRICS_IMPL_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "dm_hist_file.h"
#include "dm_metrics.h"
#include "dm_osel.h"

/* COLLECTIVE. Edges at exact background quantiles (rules in dm_metrics.h),
 * plus lo and just above hi; *edges malloc'ed, *n_edges >= 2. */
dm_status dm_metrics_adaptive_edges(const dm_osel_set *bkg_u, double lo, double hi,
                                    const dm_metrics_opts *o, MPI_Comm comm, double **edges,
                                    int *n_edges, char *binning, size_t binning_cap);


#endif
