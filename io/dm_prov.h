/* dm_prov.h - where a file came from: every file dmpipe writes carries, as
 * root attributes, its format name and version, the dmpipe version and git
 * revision, the command line, the creation time and the checksums of its
 * inputs. Readers refuse a format version newer than they understand.
 */
#ifndef DM_PROV_H
#define DM_PROV_H

#include <hdf5.h>
#include <stdint.h>

#include "dm_status.h"

/* Format names (the "format" root attribute). */
#define DM_FORMAT_STORE "dmpipe-store"
#define DM_FORMAT_MODEL "dmpipe-model"
#define DM_FORMAT_SCORES "dmpipe-scores"
#define DM_FORMAT_HIST "dmpipe-hist"

/* COLLECTIVE (attribute writes; same arguments on every rank). Writes
 * format, format_version, dmpipe_version, git_revision, command_line,
 * created (UTC, ISO 8601) and inputs (free text, one input per line, e.g.
 * "name<TAB>bytes<TAB>xxh3-128 hex"; may be ""). */
dm_status dm_prov_write(hid_t file, const char *format, int version, const char *command_line,
                        const char *inputs);

/* LOCAL. Check the file's format attribute equals `format` and its version is
 * <= max_version; *version (may be NULL) receives it. `path` names the file in
 * messages. */
dm_status dm_prov_check(hid_t file, const char *path, const char *format, int max_version,
                        int *version);

/* LOCAL. XXH3-128 of a whole file, streamed, as 32 hex digits; size too. */
dm_status dm_checksum_file(const char *path, char hex[33], int64_t *size);

/* LOCAL. XXH3-128 of a buffer as 32 hex digits. */
void dm_checksum_buf(const void *buf, size_t n, char hex[33]);

/* LOCAL. Current UTC time as "2026-11-23T15:42:00Z". */
void dm_prov_now(char out[32]);

#endif
