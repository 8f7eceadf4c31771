#!/bin/bash
# Bad input to train and score: a clear message naming the file, flag or key,
# the same non-zero exit on every rank, and nothing left under an output name.
set -uo pipefail
T=$DM_TEST_TMP
rm -rf "$T" && mkdir -p "$T" && cd "$T" || exit 1
MK=$(dirname "$DMPIPE")/../tests/dm_test_mkstore
fails=0
# expect CODE PATTERN CMD...: exit code and a stderr line matching PATTERN
expect() {
  local code=$1 pat=$2; shift 2
  "$@" >out.txt 2>err.txt
  local rc=$?
  if [ $rc -ne "$code" ] || ! grep -qE -- "$pat" err.txt; then
    echo "FAIL: '$*' exited $rc (want $code), stderr:"; cat err.txt
    fails=$((fails + 1))
  else
    echo "ok: $* -> $rc: $(grep -E -- "$pat" err.txt | head -1)"
  fi
}
np2() { "$MPIEXEC" -n 2 "$@"; }

"$MPIEXEC" -n 1 "$MK" s.h5 600 3 || exit 1
np2 "$DMPIPE" train kde --in s.h5 --out m.h5 --quiet || exit 1

expect 2 "--in and --out are required" np2 "$DMPIPE" train kde --in s.h5
expect 2 "unknown model 'bogus'" np2 "$DMPIPE" train bogus --in s.h5 --out x.h5
expect 2 "--bandwidth 'wide'" np2 "$DMPIPE" train kde --in s.h5 --out x.h5 --bandwidth wide
expect 2 "--train-fraction" np2 "$DMPIPE" train kde --in s.h5 --out x.h5 --train-fraction 1.5
expect 2 "unknown feature set 'jets'" np2 "$DMPIPE" train kde --in s.h5 --out x.h5 --features jets
expect 1 "missing.h5" np2 "$DMPIPE" train kde --in missing.h5 --out x.h5
expect 1 "PCA dimension 20 outside 0..13" np2 "$DMPIPE" train kde --in s.h5 --out x.h5 --pca 20
expect 1 "process 'nosuch' is not in s.h5" np2 "$DMPIPE" train kde --in s.h5 --out x.h5 \
  --background ttbar,nosuch
expect 1 "not in the process table" np2 "$DMPIPE" train kde --in s.h5 --out x.h5 \
  --xsec "$DM_SOURCE_DIR/tests/model/only_ttbar.csv"
expect 2 "--model, --in and --out are required" np2 "$DMPIPE" score --model m.h5 --in s.h5
expect 1 "s.h5 is a dmpipe-store file, expected dmpipe-model" np2 "$DMPIPE" score --model s.h5 \
  --in s.h5 --out x.h5
expect 1 "mode=diagonal" np2 "$DMPIPE" score --model m.h5 --in s.h5 --out x.h5 --set mode=diagonal
expect 1 "no setting 'depth'" np2 "$DMPIPE" score --model m.h5 --in s.h5 --out x.h5 --set depth=3

# A damaged model: negative bandwidth, then a newer schema version.
cp m.h5 bad1.h5 && cp m.h5 bad2.h5 && cp m.h5 bad3.h5
$PYTHON - <<'PY'
import h5py, numpy as np
with h5py.File("bad1.h5", "r+") as f:
    f["model"].attrs["bandwidth"] = -1.0
with h5py.File("bad2.h5", "r+") as f:
    f.attrs["backend_version"] = np.int64(99)
with h5py.File("bad3.h5", "r+") as f:
    del f["features/scale"]
PY
expect 1 "bandwidth = -1 is not positive" np2 "$DMPIPE" score --model bad1.h5 --in s.h5 --out x.h5
expect 1 "kde model version 99" np2 "$DMPIPE" score --model bad2.h5 --in s.h5 --out x.h5
expect 1 "scale is missing" np2 "$DMPIPE" score --model bad3.h5 --in s.h5 --out x.h5
# Read as shards (--set mode=sharded, each rank reads its slice): a
# non-finite reference row is named by the rank that holds it, every rank
# fails, on 1, 2 and 3 ranks, under a timeout (a hang fails).
cp m.h5 bad4.h5
ROW=$($PYTHON - <<'PY'
import h5py, numpy as np
with h5py.File("bad4.h5", "r+") as f:
    ref = f["model/reference"]
    last = ref.shape[0] - 1
    ref[last, 1] = np.nan
print(last)
PY
)
for np in 1 2 3; do
  expect 1 "dataset reference: row $ROW holds a non-finite value" timeout 120 "$MPIEXEC" -n $np \
    "$DMPIPE" score --model bad4.h5 --in s.h5 --out x.h5 --set mode=sharded
  expect 1 "mode=diagonal" timeout 120 "$MPIEXEC" -n $np "$DMPIPE" score --model m.h5 \
    --in s.h5 --out x.h5 --set mode=sharded --set mode=diagonal
done
# An output folder that does not exist.
expect 1 "nodir/x.h5" np2 "$DMPIPE" score --model m.h5 --in s.h5 --out nodir/x.h5

if ls x.h5 x.h5.tmp 2>/dev/null; then echo "FAIL: output left behind"; fails=$((fails + 1)); fi
[ $fails -eq 0 ] && echo "test_model_errors OK"
exit $fails
