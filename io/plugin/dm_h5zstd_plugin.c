/* Loadable HDF5 plugin for the zstd filter (id 32015), for programs outside
 * dmpipe (h5dump, h5py). It must not call any libhdf5 function: h5py loads its
 * own private libhdf5, and a symbol bound to the system one would corrupt its
 * state. The class struct is plain data and the callback uses malloc/free. */
#include <H5PLextern.h>

#include "dm_zstd_filter.h"

static size_t filter_cb(unsigned int flags, size_t cd_nelmts, const unsigned int cd_values[],
                        size_t nbytes, size_t *buf_size, void **buf)
{
  return dm_zstd_filter_apply(flags, cd_nelmts, cd_values, nbytes, buf_size, buf);
}

static const H5Z_class2_t dm_zstd_class = {
    H5Z_CLASS_T_VERS, DM_ZSTD_FILTER_ID, 1, 1, "zstd (dmpipe)", NULL, NULL, filter_cb,
};

H5PL_type_t H5PLget_plugin_type(void) { return H5PL_TYPE_FILTER; }
const void *H5PLget_plugin_info(void) { return &dm_zstd_class; }
