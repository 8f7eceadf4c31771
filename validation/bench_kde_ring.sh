#!/bin/bash
# Sharded KDE scoring (reference shards passed around a ring of ranks) against
# replicated: time and peak memory per rank of dmpipe score.
#  1. ~1e6 query events x 1e5 reference rows (high-level features, PCA 9):
#     np 1 replicated, np 2 replicated, np 2 sharded;
#  2. the largest reference measured here: a copy of that model whose
#     reference is replaced by NREF_BIG (default 3e7) Gaussian rows of 9
#     columns (1.08 GB of float32), against 2000 events (batch 1000 per rank):
#     the same three runs.
# Every run's scores are compared with the np 1 replicated ones (bit for bit).
# usage: bash validation/bench_kde_ring.sh BUILD_DIR [DMPIPE] [WORK_DIR]
#   DMPIPE    the binary to measure (default BUILD_DIR/bin/dmpipe): another
#             build's dmpipe gives the before/after comparison on the same data
#   WORK_DIR  where the stores and models live (made once, reused; default a
#             temporary folder removed at the end)
# Peak memory: /usr/bin/time around each rank (%M, max resident set). Needs
# python3 with h5py and numpy.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$1" && pwd)
DMPIPE=$(readlink -f "${2:-$BUILD/bin/dmpipe}")
MK=$BUILD/tests/dm_test_mkstore
PY=/usr/bin/python3
NREF_BIG=${NREF_BIG:-30000000}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_pml=ob1 OMP_NUM_THREADS=1
if [ -n "${3:-}" ]; then
  mkdir -p "$3"
  W=$(cd "$3" && pwd)
else
  W=$(mktemp -d)
  trap 'rm -rf "$W"' EXIT
fi
cd "$W"

echo "== $(date -u +%FT%TZ) $DMPIPE; load average $(cut -d' ' -f1-3 /proc/loadavg)"
[ -f train.h5 ] || "$MK" train.h5 55556 1 >/dev/null
[ -f q1m.h5 ] || "$MK" q1m.h5 333334 2 >/dev/null
[ -f q2k.h5 ] || "$MK" q2k.h5 667 3 >/dev/null
[ -f m9.h5 ] || "$DMPIPE" train kde --in train.h5 --out m9.h5 --pca 9 --max-train 100000 --quiet
if [ ! -f big.h5 ]; then
  cp m9.h5 big.h5
  "$PY" - "$NREF_BIG" <<'PY'
import sys
import h5py, numpy as np
n = int(sys.argv[1])
with h5py.File("big.h5", "r+") as f:
    g = f["model"]
    d = g["reference"].shape[1]
    del g["reference"]
    if "reference_row" in g:
        del g["reference_row"]
    ref = g.create_dataset("reference", (n, d), dtype="f4")
    rng = np.random.default_rng(7)
    for a in range(0, n, 1 << 20):
        b = min(n, a + (1 << 20))
        ref[a:b] = rng.standard_normal((b - a, d), dtype=np.float32)
    g.attrs["n_ref"] = np.int64(n)
PY
fi

# run LABEL NP MODEL STORE BATCH [--set ...]: one line per rank (user s,
# wall s, max RSS MB) and the report's seconds.
run() {
  local label=$1 np=$2 model=$3 store=$4 batch=$5
  shift 5
  rm -f "s_$label.h5"
  mpiexec --bind-to none -n "$np" bash -c \
    '/usr/bin/time -o "$0.$OMPI_COMM_WORLD_RANK" -f "%U %e %M" "$@"' "time_$label" \
    "$DMPIPE" score --model "$model" --in "$store" --out "s_$label.h5" \
    --batch "$batch" --no-checksums --quiet --json "s_$label.json" "$@"
  "$PY" - "$label" "$np" <<'PY'
import json, sys
label, np_ = sys.argv[1], int(sys.argv[2])
j = json.load(open("s_%s.json" % label))
ranks = [open("time_%s.%d" % (label, r)).read().split()[-3:] for r in range(np_)]
per = ", ".join("rank %d: %.1f s CPU, %.0f MB" % (r, float(u), int(m) / 1024.0)
                for r, (u, e, m) in enumerate(ranks))
print("| %-16s | %d | %8.1f | %8.1f | %s |" % (label, np_, j["seconds_score"],
                                              j["seconds_total"], per))
PY
}

echo "| run | ranks | score s | total s | per rank (CPU time, max RSS) |"
echo "|---|---|---|---|---|"
run q1m_np1 1 m9.h5 q1m.h5 65536
run q1m_np2 2 m9.h5 q1m.h5 65536
run q1m_np2_sharded 2 m9.h5 q1m.h5 65536 --set mode=sharded
run big_np1 1 big.h5 q2k.h5 1000
run big_np2 2 big.h5 q2k.h5 1000
run big_np2_sharded 2 big.h5 q2k.h5 1000 --set mode=sharded
# Bit for bit, else the largest relative difference (a dmpipe before the
# exact block sums agreed to ~1e-7 in sharded mode).
for f in q1m_np2 q1m_np2_sharded big_np2 big_np2_sharded; do
  "$PY" "$SRC/tests/model/compare_h5.py" "s_${f%%_np2*}_np1.h5" "s_$f.h5" /scores/score ||
    "$PY" "$SRC/tests/model/compare_h5.py" "s_${f%%_np2*}_np1.h5" "s_$f.h5" /scores/score:1
done
