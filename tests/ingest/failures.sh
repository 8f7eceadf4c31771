#!/usr/bin/env bash
# Missing input, a folder as input, a compressed input, an output folder that
# does not exist, an unwritable rejects path, bad flags: a clear message
# naming the path or flag, exit 1 (2 for usage) on every rank, nothing left
# under the final name.
source "$(dirname "$0")/common.sh"
mapfile -t inputs < <(sample)
expect_fail "no-such-input.csv" run 2 ingest --out a.h5 "${inputs[0]}" no-such-input.csv
[[ ! -e a.h5 ]] && ! ls a.h5*.tmp a.h5.lock 2>/dev/null
expect_fail "sample is not a regular file" run 2 ingest --out a.h5 sample
# A compressed input is read as it is, giving the store of its CSV
# (tests/ingest/compressed.sh covers the compressed forms in depth).
zstd -qdc "$DM_FIXTURES/pythia-sample/zz.csv.zst" > zz.csv
run 1 ingest --out zzc.h5 "$DM_FIXTURES/pythia-sample/zz.csv.zst" > /dev/null
run 1 ingest --out zzp.h5 zz.csv > /dev/null
"$PYTHON" "$here/compare_stores.py" --datasets-only zzp.h5 zzc.h5
expect_fail "no-such-dir/a.h5" run 3 ingest --out no-such-dir/a.h5 "${inputs[@]}"
expect_fail "no-such-dir/r.tsv" run 2 ingest --out a.h5 --rejects no-such-dir/r.tsv "${inputs[0]}"
[[ ! -e a.h5 ]] && ! ls a.h5*.tmp a.h5.lock 2>/dev/null
expect_fail "no-such-store.h5" run 2 export --in no-such-store.h5 --out x.csv
run 1 ingest --out s.h5 "${inputs[0]}" > /dev/null
expect_fail "no-such-dir/x.csv" run 2 export --in s.h5 --out no-such-dir/x.csv
expect_fail "cannot open" run 2 info no-such-store.h5
echo "not hdf5" > plain.txt
expect_fail "not an HDF5 file" run 1 info plain.txt
# Usage errors: exit 2 with the flag named.
set +e
run 2 ingest --out a.h5 --precision half "${inputs[0]}" > u.out 2>&1; rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q -- "--precision" u.out
set +e
run 1 ingest --out a.h5 --zstd-level 99 "${inputs[0]}" > u.out 2>&1; rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q -- "--zstd-level" u.out
# Leftover temporaries of killed runs (the old and the run-unique names) and
# their stale claim are removed, not written into: the new store holds
# exactly the input's events and nothing remains.
head -c 3000000 /dev/urandom > lo.h5.tmp
head -c 3000 /dev/urandom > lo.h5.node7-4242.tmp
echo "host node7, pid 4242" > lo.h5.lock
run 2 ingest --out lo.h5 --json lo.json "${inputs[0]}" > /dev/null
[[ -e lo.h5 ]] && ! ls lo.h5*.tmp lo.h5.lock lo.json*.tmp 2>/dev/null
"$PYTHON" "$here/compare_stores.py" s.h5 lo.h5
# ... and a folder in the way of the output is named before any work.
mkdir -p stuck.h5/x
expect_fail "stuck.h5 is a folder" run 2 ingest --out stuck.h5 "${inputs[0]}"
[[ -d stuck.h5/x ]]
for c in ingest export info; do "$DMPIPE" $c --help | grep -q "usage: dmpipe $c"; done
echo "ok: failures reported"
