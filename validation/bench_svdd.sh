#!/bin/bash
# Deep SVDD benchmark: training and inference speed of the 222-256-128-13
# network at batch 500 against the same network in PyTorch on the same BLAS
# and threads, the GFLOP/s reached against the machine's sgemm rate, and the
# AUC of each signal of the pythia sample.
#
# usage: validation/bench_svdd.sh [BUILD_DIR] [THREADS]
#   BUILD_DIR  a configured and built tree (default build); needs bin/dmpipe
#              and bin/bench_svdd (target bench_svdd) and the zstd plugin
#   THREADS    OpenMP threads of the one rank (default 2)
# The Pythia sample comes from tests/fixtures in the repository;
# EVENTS (default 100000), EPOCHS (default 3). Run it on an otherwise idle machine.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
threads=${2:-2}
events=${EVENTS:-100000}
epochs=${EPOCHS:-3}
fixtures=$repo/tests/fixtures
py=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export HDF5_PLUGIN_PATH=$build/plugins
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== BLAS behind libblas.so.3 (numpy and PyTorch use it; dmpipe links OpenBLAS directly)"
update-alternatives --display libblas.so.3-x86_64-linux-gnu | sed -n 1,3p
echo "== machine: $(nproc) cores, $(sed -n "s/^model name[^:]*: //p" /proc/cpuinfo | sed -n 1p)"

echo "== dmpipe (1 rank x $threads threads)"
OMP_NUM_THREADS=$threads mpiexec --bind-to none -n 1 "$build/bin/bench_svdd" \
  --events "$events" --epochs "$epochs" --json "$work/c.json"
echo "== PyTorch ($threads threads)"
OMP_NUM_THREADS=$threads $py "$repo/validation/peer_svdd.py" --events "$events" \
  --epochs "$epochs" --threads "$threads" --json "$work/t.json"
$py - "$work/c.json" "$work/t.json" <<'EOF'
import json, sys
c, t = (json.load(open(p)) for p in sys.argv[1:3])
print("== summary")
print(f"training:  dmpipe {c['train_events_per_s']:.0f} events/s, PyTorch "
      f"{t['train_events_per_s']:.0f} events/s: {c['train_events_per_s'] / t['train_events_per_s']:.2f}x (target >= 1.2x)")
print(f"GFLOP/s:   dmpipe {c['train_gflops']:.1f} of sgemm peak {c['sgemm_peak_gflops']:.1f}: "
      f"{100 * c['train_gflops'] / c['sgemm_peak_gflops']:.0f}% (target >= 75%); PyTorch {t['train_gflops']:.1f}")
print(f"inference: dmpipe {c['infer_events_per_s']:.0f} events/s, PyTorch "
      f"{t['infer_events_per_s']:.0f} events/s: {c['infer_events_per_s'] / t['infer_events_per_s']:.2f}x (target >= 1x)")
EOF

echo "== AUC per signal (pythia sample, SM background; default training, --split global as the KDE table)"
for f in "$fixtures"/pythia-sample/*.csv.zst; do
  zstd -q -d -f "$f" -o "$work/$(basename "$f" .zst)"
done
mpiexec -n 2 "$build/bin/dmpipe" ingest --out "$work/store.h5" "$work"/*.csv > /dev/null
for feat in objects highlevel; do
  OMP_NUM_THREADS=1 mpiexec -n 2 "$build/bin/dmpipe" train svdd --in "$work/store.h5" \
    --out "$work/svdd_$feat.h5" --features "$feat" --split global --seed 1 --checkpoint none \
    --quiet
  mpiexec -n 2 "$build/bin/dmpipe" score --model "$work/svdd_$feat.h5" --in "$work/store.h5" \
    --out "$work/scores_$feat.h5" --quiet
done
(cd "$work" && $py "$repo/validation/auc_svdd.py" scores_objects.h5 scores_highlevel.h5)
