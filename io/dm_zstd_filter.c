#include "dm_zstd_filter.h"

#include <hdf5.h>

static size_t filter_cb(unsigned int flags, size_t cd_nelmts, const unsigned int cd_values[],
                        size_t nbytes, size_t *buf_size, void **buf)
{
  return dm_zstd_filter_apply(flags, cd_nelmts, cd_values, nbytes, buf_size, buf);
}

dm_status dm_zstd_filter_register(void)
{
  if (H5Zfilter_avail(DM_ZSTD_FILTER_ID) > 0)
    return DM_OK;
  static const H5Z_class2_t cls = {
      H5Z_CLASS_T_VERS, DM_ZSTD_FILTER_ID, 1, 1, "zstd (dmpipe)", NULL, NULL, filter_cb,
  };
  if (H5Zregister(&cls) < 0)
    return dm_error(DM_ERR_HDF5, "cannot register the zstd HDF5 filter (id %d)",
                    DM_ZSTD_FILTER_ID);
  return DM_OK;
}
