/* dm_zstd_filter.h - the Zstandard HDF5 filter (registered id 32015).
 *
 * cd_values[0] is the compression level (1..22, default 3). Each chunk is one
 * zstd frame that records its content size, the layout other readers of
 * filter 32015 expect. The same filter function is exported by the loadable
 * plugin (io/plugin/) for h5dump, h5py and other programs.
 */
#ifndef DM_ZSTD_FILTER_H
#define DM_ZSTD_FILTER_H

#include <stddef.h>

#include "dm_status.h"

#define DM_ZSTD_FILTER_ID 32015

/* LOCAL. Register the filter with this process's HDF5 library (idempotent).
 * Call before creating or reading a compressed dataset. */
dm_status dm_zstd_filter_register(void);

/* The raw filter callback, in HDF5's H5Z_func_t shape but without HDF5 types,
 * so that the plugin can use it without linking libhdf5 symbols. Returns the
 * number of valid bytes in *buf after the call, 0 on failure. Uses malloc/free
 * for the buffer, as the HDF5 library expects. */
size_t dm_zstd_filter_apply(unsigned int flags, size_t cd_nelmts, const unsigned int cd_values[],
                            size_t nbytes, size_t *buf_size, void **buf);

#endif
