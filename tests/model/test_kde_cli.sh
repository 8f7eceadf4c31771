#!/bin/bash
# train kde and score end to end on a seeded store: the model and the scores
# are identical for 1, 2 and 3 ranks, replicated or sharded (the reference
# shards passed around a ring, also with a rank that holds no reference rows
# and one that scores no events in a round), and an independent
# numpy/scikit-learn check passes on both modes' scores.
set -euo pipefail
T=$DM_TEST_TMP
rm -rf "$T" && mkdir -p "$T" && cd "$T"
MK=$(dirname "$DMPIPE")/../tests/dm_test_mkstore
HERE=$DM_SOURCE_DIR/tests/model
run() { local np=$1; shift; timeout 300 "$MPIEXEC" -n "$np" "$@"; }

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
run 1 "$DMPIPE" score --model m1.h5 --in s.h5 --out sc1s.h5 --quiet --set mode=sharded
run 2 "$DMPIPE" score --model m1.h5 --in s.h5 --out sc2s.h5 --batch 700 --quiet \
  --set mode=sharded
run 3 "$DMPIPE" score --model m1.h5 --in s.h5 --out sc3s.h5 --batch 1000 --quiet \
  --set mode=sharded
for f in sc2 sc3 sc1s sc2s sc3s; do
  $PYTHON "$HERE/compare_h5.py" sc1.h5 $f.h5 /scores/score /scores/event_id /scores/process \
    /processes/name
done
$PYTHON "$HERE/check_kde.py" s.h5 m1.h5 sc1.h5
$PYTHON "$HERE/check_kde.py" s.h5 m1.h5 sc3s.h5

# Uneven shards: 900 reference rows are 2 blocks of the kernel, so on 3 ranks
# rank 2 holds no reference rows; --batch 1300 on 2500 events leaves rank 2
# without events in the only round. Later --set options win.
run 2 "$DMPIPE" train kde --in s.h5 --out m9.h5 --max-train 900 --seed 5 --quiet
run 1 "$DMPIPE" score --model m9.h5 --in s.h5 --out s9.h5 --quiet
run 3 "$DMPIPE" score --model m9.h5 --in s.h5 --out s9s3.h5 --batch 1300 --quiet \
  --set mode=replicated --set mode=sharded
run 2 "$DMPIPE" score --model m9.h5 --in s.h5 --out s9s2.h5 --batch 1300 --quiet \
  --set mode=sharded
run 3 "$DMPIPE" score --model m9.h5 --in s.h5 --out s9r3.h5 --batch 1300 --quiet \
  --set mode=sharded --set mode=replicated
for f in s9s3 s9s2 s9r3; do
  $PYTHON "$HERE/compare_h5.py" s9.h5 $f.h5 /scores/score /scores/event_id
done
$PYTHON "$HERE/check_kde.py" s.h5 m9.h5 s9s3.h5
run 2 "$DMPIPE" info m1.h5 >info.txt
grep -q "Gaussian kernel, 3000 reference rows x 5 columns" info.txt &&
  grep -q "PCA: *5 components" info.txt ||
  { echo "FAIL: dmpipe info m1.h5:"; cat info.txt; exit 1; }

# No PCA, fixed bandwidth, whole pool as reference, other fraction.
run 2 "$DMPIPE" train kde --in s.h5 --out m0.h5 --bandwidth 0.4 --max-train 0 \
  --train-fraction 0.5 --quiet
run 2 "$DMPIPE" score --model m0.h5 --in s.h5 --out sc0.h5 --quiet
$PYTHON "$HERE/check_kde.py" s.h5 m0.h5 sc0.h5
run 2 "$DMPIPE" train kde --in s.h5 --out mg.h5 --bandwidth 0.4 --max-train 0 \
  --train-fraction 0.5 --split global --quiet
# The pool rule, checked from the store alone: per process (default), the
# first half of each SM process's events in store order; --split global, the
# first half of all SM events in store order.
$PYTHON - "$DM_SOURCE_DIR/data/processes.csv" <<'PY'
import csv, sys
import h5py, numpy as np
kinds = {}
with open(sys.argv[1]) as fh:
    rows = [l for l in fh if l.strip() and not l.lstrip().startswith("#")]
for r in csv.DictReader(rows):
    kinds[r["name"].strip()] = r["kind"].strip()
s = h5py.File("s.h5", "r")
names = [n.decode() if isinstance(n, bytes) else n for n in s["processes/name"][:]]
proc = s["events/process"][:]
sm = np.array([kinds.get(n) == "sm" for n in names])
per = []
for p in np.flatnonzero(sm):
    idx = np.flatnonzero(proc == p)
    per.extend(idx[: len(idx) // 2])
per = np.sort(np.array(per))
allsm = np.flatnonzero(sm[proc])
glob = allsm[: len(allsm) // 2]
m = h5py.File("m0.h5", "r")
got = np.sort(m["model/reference_row"][:])
assert np.array_equal(got, per), ("per-process pool", got[:10], per[:10])
assert abs(m["model"].attrs["bandwidth"] - 0.4) == 0
g = np.sort(h5py.File("mg.h5", "r")["model/reference_row"][:])
assert np.array_equal(g, glob), ("global pool", g[:10], glob[:10])
print("pools: %d rows per process, %d rows global" % (len(per), len(glob)))
# The subsample rule, from the store alone: of the pool (the first 0.9 of
# each SM process), the --max-train events whose splitmix64-based key
# dm_rng_hash(seed, event index, 0) is smallest (m1: 3000, seed 11, three
# rank counts and batches of 900; m9: 900, seed 5).
pool = []
for p, n in enumerate(names):
    if kinds.get(n) == "sm":
        idx = np.flatnonzero(proc == p)
        pool.extend(idx[: int(np.floor(0.9 * len(idx)))])
pool = np.sort(np.array(pool, dtype=np.uint64))
M = np.uint64(0xFFFFFFFFFFFFFFFF)
def mix(x):
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
def key(seed, a):
    h = mix(np.uint64(seed))
    h = mix(h ^ a)
    return mix(h ^ np.uint64(0))
with np.errstate(over="ignore"):
    for model, seed, m in (("m1.h5", 11, 3000), ("m2.h5", 11, 3000), ("m3.h5", 11, 3000),
                           ("m9.h5", 5, 900)):
        k = key(seed, pool)
        want = np.sort(pool[np.lexsort((pool, k))[:m]].astype(np.int64))
        got = np.sort(h5py.File(model, "r")["model/reference_row"][:])
        assert np.array_equal(got, want), (model, got[:5], want[:5])
print("subsamples: the smallest keys of pools of %d rows" % len(pool))
PY
ls *.tmp 2>/dev/null && { echo "FAIL: temporary files left"; exit 1; }
echo "test_kde_cli OK"
