#!/bin/bash
# KDE benchmark and physics check (run once, on an otherwise idle machine):
#  1. 1e5 queries against 1e5 reference points in 9 dimensions (high-level
#     features, PCA to 9): dmpipe score on 1 rank x 1 thread, 1 rank x 2
#     threads, 2 ranks x 1 thread (replicated and sharded), against
#     scikit-learn's KernelDensity at the same bandwidth (default tolerances and
#     rtol=1e-6, timed on a subset of queries and extrapolated) and a numpy
#     double direct sum (the exact answer);
#  2. the sgemm rate of OpenBLAS on 1 and 2 threads (the practical peak);
#  3. the AUC of each signal of the Pythia sample against its SM background.
# usage: bash validation/bench_kde.sh [BUILD_DIR]   (default: build)
# Needs: a built dmpipe and tests/dm_test_mkstore; python3 with h5py, sklearn.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
DMPIPE=$BUILD/bin/dmpipe
MK=$BUILD/tests/dm_test_mkstore
PY=/usr/bin/python3
PEER=$SRC/validation/peer_kde.py
SHARED=${DM_SHARED:-$SRC/../shared}
export HDF5_PLUGIN_PATH=$BUILD/plugins OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
json() { $PY -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$@"; }

echo "== data: training store (SM pool of 100000) and a query store of 100002 events"
"$MK" train.h5 55556 1
"$MK" query.h5 33334 2
"$DMPIPE" train kde --in train.h5 --out m9.h5 --pca 9 --max-train 100000 --json train.json \
  --quiet
NREF=$(json train.json n_train)
$PY -c "import json; j=json.load(open('train.json')); print('reference rows %d, dimensions %d, bandwidth %.4g, kernel ISA %s' % (j['n_train'], j['dim'], j['backend']['bandwidth'], j['backend']['kernel_isa']))"

echo "== dmpipe score (seconds_score = the kernel; total includes reading and writing)"
declare -A T
run_score() { # label ranks threads extra...
  local label=$1 np=$2 th=$3; shift 3
  OMP_NUM_THREADS=$th mpiexec --bind-to none -n "$np" "$DMPIPE" score --model m9.h5 \
    --in query.h5 --out s_$label.h5 --no-checksums --quiet --json s_$label.json "$@"
  local ts n
  ts=$(json s_$label.json seconds_score)
  n=$(json s_$label.json n_events)
  T[$label]=$ts
  $PY - "$label" "$np" "$th" "$ts" "$n" "$NREF" "$(json s_$label.json seconds_total)" <<'PY'
import sys
label, np_, th, ts, n, nref, tt = sys.argv[1:]
ts, n, nref, tt = float(ts), int(n), int(nref), float(tt)
cores = int(np_) * int(th)
print("| %-22s | %d x %d | %8.3f | %8.3f | %.3g | %.3g |"
      % (label, int(np_), int(th), ts, tt, n * nref / ts, n * nref / ts / cores))
PY
}
echo "| run | ranks x threads | kernel s | total s | kernel evals/s | per core |"
echo "|---|---|---|---|---|---|"
run_score r1t1 1 1
run_score r1t2 1 2
run_score r2t1 2 1
run_score r2t1_sharded 2 1 --set mode=sharded
for isa in avx2 baseline; do
  DM_KDE_ISA=$isa run_score r1t1_$isa 1 1
done
"$PY" "$SRC/tests/model/compare_h5.py" s_r1t1.h5 s_r1t2.h5 /scores/score
"$PY" "$SRC/tests/model/compare_h5.py" s_r1t1.h5 s_r2t1.h5 /scores/score
"$PY" "$SRC/tests/model/compare_h5.py" s_r1t1.h5 s_r2t1_sharded.h5 /scores/score:1e-6

echo "== peers (scikit-learn timed on a subset of queries, extrapolated)"
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$PY" "$PEER" sklearn query.h5 m9.h5 s_r1t1.h5 \
  --queries 100 --exact 2000 | tee peer.json
echo "== sgemm (OpenBLAS through numpy)"
OPENBLAS_NUM_THREADS=1 "$PY" "$PEER" peak
OPENBLAS_NUM_THREADS=2 "$PY" "$PEER" peak

echo "== Pythia sample: AUC of each signal against the SM background"
mkdir -p py
for f in "$SHARED"/data/pythia-sample/*.csv.zst; do
  zstd -q -d -f "$f" -o py/"$(basename "$f" .zst)"
done
mpiexec -n 2 "$DMPIPE" ingest --out py.h5 py/*.csv >/dev/null
for cfg in "hl:" "hl_pca5:--pca 5"; do
  name=${cfg%%:*}
  "$DMPIPE" train kde --in py.h5 --out py_$name.h5 ${cfg#*:} --quiet
  "$DMPIPE" score --model py_$name.h5 --in py.h5 --out pys_$name.h5 --quiet
  echo "-- features: $name"
  "$PY" "$PEER" auc py.h5 pys_$name.h5
done
"$DMPIPE" info py_hl.h5 2>/dev/null || true
