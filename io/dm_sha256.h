/* dm_sha256.h - SHA-256 of files (nettle), for commitments that must resist
 * deliberate forgery: the sealed labels of a secret dataset are published
 * as their SHA-256. XXH3 (dm_prov.h) only detects accidents. LOCAL.
 */
#ifndef DM_SHA256_H
#define DM_SHA256_H

#include "dm_status.h"

/* LOCAL. SHA-256 of a whole file, streamed, as 64 lowercase hex digits and
 * a NUL. DM_ERR_IO naming the file if it cannot be read. */
dm_status dm_sha256_file(const char *path, char hex[65]);

#endif
