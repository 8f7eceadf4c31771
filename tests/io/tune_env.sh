#!/usr/bin/env bash
# The tuning variables through dmpipe (io/dm_io_tune.h):
#  - a store ingested with all of them set, on 1, 2 and 3 ranks, holds the
#    same datasets as one without, and h5py finds every chunk of at least
#    THRESHOLD bytes at a multiple of the alignment (the untuned store has
#    unaligned ones, so the check can fail); derive's side file (written
#    through the MPI-IO driver) too;
#  - DMPIPE_WRITEBACK starts write-backs (counted) or none, same store;
#  - a bad value of each variable: exit 1 on every rank within a timeout,
#    the message naming the variable and the value, nothing left on disk;
#    the same when only one rank has the bad value.
source "$DM_SOURCE_DIR/tests/ingest/common.sh"
tests_io="$DM_SOURCE_DIR/tests/io"
mapfile -t inputs < <(sample)
to() { timeout 120 "$MPIEXEC" -n "$1" "$DMPIPE" "${@:2}"; }
tuned() (
  export DMPIPE_H5_ALIGNMENT=8K:64K DMPIPE_H5_META_BLOCK=16K DMPIPE_H5_MDC=8M \
    DMPIPE_H5_CHUNK_CACHE=4M \
    DMPIPE_MPIIO_HINTS=cb_buffer_size=8388608,romio_cb_write=enable,striping_unit=1048576
  "$@"
)
# Small chunks, so the sample gives many of them on both sides of 8 KiB.
to 2 ingest --out ref.h5 --chunk-events 2048 "${inputs[@]}" > /dev/null
"$PYTHON" "$tests_io/check_alignment.py" --unaligned 8192 65536 50 ref.h5
for np in 1 2 3; do
  tuned to $np ingest --out t$np.h5 --chunk-events 2048 "${inputs[@]}" > /dev/null
  "$PYTHON" "$here/compare_stores.py" ref.h5 t$np.h5
  "$PYTHON" "$tests_io/check_alignment.py" 8192 65536 50 t$np.h5
done
# Early write-back (DMPIPE_WRITEBACK): every 4 KiB it starts on every rank
# (the count is in the JSON report), with 0 never; the store is the same.
for np in 1 3; do
  DMPIPE_WRITEBACK=4K to $np ingest --out wb$np.h5 --chunk-events 2048 --json wb$np.json \
    "${inputs[@]}" > /dev/null
  "$PYTHON" "$here/compare_stores.py" ref.h5 wb$np.h5
  "$PYTHON" -c 'import json, sys; n = json.load(open(sys.argv[1]))["writeback_starts"]; \
assert n >= 5 * int(sys.argv[2]), n' wb$np.json $np
done
DMPIPE_WRITEBACK=0 to 2 ingest --out wb0.h5 --chunk-events 2048 --json wb0.json "${inputs[@]}" > /dev/null
"$PYTHON" "$here/compare_stores.py" ref.h5 wb0.h5
"$PYTHON" -c 'import json, sys; n = json.load(open(sys.argv[1]))["writeback_starts"]; \
assert n == 0, n' wb0.json
# derive writes its columns through dm_h5_out_create (the MPI-IO driver).
tuned to 2 derive --in t2.h5 > /dev/null
parts=$(ls t2.derived-*.h5 | grep -v -- '-[0-9a-f]*\.h5$' || true)
[[ -n "$parts" ]] || parts=$(ls t2.derived-*.*.h5)
"$PYTHON" "$tests_io/check_alignment.py" 8192 65536 1 $parts
to 2 info t2.h5 > /dev/null

# A bad value of each variable, on 1, 2 and 3 ranks in turn (each variable
# goes through the same parser and agreement, so every rank count is seen
# without running all 15 pairs).
bad=("DMPIPE_H5_ALIGNMENT=4M" "DMPIPE_H5_META_BLOCK=12Q" "DMPIPE_H5_MDC=512M"
     "DMPIPE_H5_CHUNK_CACHE=-1" "DMPIPE_MPIIO_HINTS=cb_nodes" "DMPIPE_WRITEBACK=8X")
np=0
for kv in "${bad[@]}"; do
  np=$((np % 3 + 1))
  expect_fail "environment variable ${kv%%=*}='${kv#*=}'" \
    env "$kv" timeout 60 "$MPIEXEC" -n $np "$DMPIPE" ingest --out bad.h5 "${inputs[0]}"
  [[ ! -e bad.h5 ]] && ! ls bad.h5*.tmp bad.h5.lock 2>/dev/null
done
# Readers (dm_h5_open) and generate's MPI-IO files check them too.
expect_fail "DMPIPE_H5_MDC='0'" env DMPIPE_H5_MDC=0 timeout 60 "$MPIEXEC" -n 3 "$DMPIPE" info ref.h5
expect_fail "DMPIPE_MPIIO_HINTS='a=1=2'" env DMPIPE_MPIIO_HINTS=a=1=2 timeout 60 \
  "$MPIEXEC" -n 2 "$DMPIPE" generate --out gen --events 100 --quiet
[[ ! -e gen ]] || [[ -z "$(ls gen)" ]]
# One rank alone with a bad value: every rank stops, the store is not made.
expect_fail "DMPIPE_H5_ALIGNMENT='1M'" timeout 60 "$MPIEXEC" -n 1 "$DMPIPE" ingest --out one.h5 \
  "${inputs[0]}" : -n 1 env DMPIPE_H5_ALIGNMENT=1M "$DMPIPE" ingest --out one.h5 "${inputs[0]}"
[[ ! -e one.h5 ]] && ! ls one.h5*.tmp one.h5.lock 2>/dev/null
echo "ok: tuning variables"
