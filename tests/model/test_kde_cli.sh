#!/bin/bash
# train kde and score end to end on a seeded store: the model and the scores
# are identical for 1, 2 and 3 ranks (replicated scoring), the sharded mode
# agrees to 1e-6, and an independent numpy/scikit-learn check passes.
set -euo pipefail
T=$DM_TEST_TMP
rm -rf "$T" && mkdir -p "$T" && cd "$T"
MK=$(dirname "$DMPIPE")/../tests/dm_test_mkstore
HERE=$DM_SOURCE_DIR/tests/model
run() { local np=$1; shift; "$MPIEXEC" -n "$np" "$@"; }

run 2 "$MK" s.h5 2500 7
for np in 1 2 3; do
  run $np "$DMPIPE" train kde --in s.h5 --out m$np.h5 --pca 5 --bandwidth cv --cv-rows 3000 \
    --max-train 3000 --seed 11 --batch 900 --json train$np.json --quiet
done
for np in 2 3; do
  $PYTHON "$HERE/compare_h5.py" m1.h5 m$np.h5 /model/reference /model/reference_row \
    /model@bandwidth /model/cv_loglik /features/mean /features/scale /features/pca \
    /features/pca_var
done
grep -q '"n_train":	3000' train1.json || { echo "FAIL: train1.json lacks n_train 3000"; cat train1.json; exit 1; }

run 1 "$DMPIPE" score --model m1.h5 --in s.h5 --out sc1.h5 --quiet
run 2 "$DMPIPE" score --model m1.h5 --in s.h5 --out sc2.h5 --batch 700 --quiet
run 3 "$DMPIPE" score --model m1.h5 --in s.h5 --out sc3.h5 --batch 1000 --quiet --json sc3.json
run 3 "$DMPIPE" score --model m1.h5 --in s.h5 --out sc3s.h5 --batch 1000 --quiet \
  --set mode=sharded
for f in sc2 sc3; do
  $PYTHON "$HERE/compare_h5.py" sc1.h5 $f.h5 /scores/score /scores/event_id /scores/process \
    /processes/name
done
$PYTHON "$HERE/compare_h5.py" sc1.h5 sc3s.h5 /scores/score:1e-6 /scores/event_id
$PYTHON "$HERE/check_kde.py" s.h5 m1.h5 sc1.h5
run 2 "$DMPIPE" info m1.h5 >info.txt
grep -q "Gaussian kernel, 3000 reference rows x 5 columns" info.txt &&
  grep -q "PCA: *5 components" info.txt ||
  { echo "FAIL: dmpipe info m1.h5:"; cat info.txt; exit 1; }

# No PCA, fixed bandwidth, whole pool as reference, other fraction.
run 2 "$DMPIPE" train kde --in s.h5 --out m0.h5 --bandwidth 0.4 --max-train 0 \
  --train-fraction 0.5 --quiet
run 2 "$DMPIPE" score --model m0.h5 --in s.h5 --out sc0.h5 --quiet
$PYTHON "$HERE/check_kde.py" s.h5 m0.h5 sc0.h5
$PYTHON - <<'PY'
import h5py
m = h5py.File("m0.h5", "r")
n = m["model/reference"].shape[0]
# 2 SM processes x 2500 events, first half of them: 2500 rows
assert n == 2500, n
assert abs(m["model"].attrs["bandwidth"] - 0.4) == 0
print("m0: %d reference rows, bandwidth 0.4" % n)
PY
ls *.tmp 2>/dev/null && { echo "FAIL: temporary files left"; exit 1; }
echo "test_kde_cli OK"
