#!/usr/bin/env bash
# The main job on a built-in default: install and build (idempotent), make a
# seeded synthetic archive, and run the whole reduction on 2 ranks:
#   generate -> ingest -> weight -> select chan3 -> train kde and svdd -> score -> metrics
#   bash jobs/demo.sh [EVENTS] [WORKDIR]      (defaults: 200000, ./demo-run)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
events=${1:-200000}
work=${2:-$PWD/demo-run}

bash "$here/jobs/setup.sh"
dmpipe="$here/build/bin/dmpipe"
# Root is the norm on the machines this runs on; more ranks than cores is fine.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# One machine: shared memory instead of UCX (0.2 s less per mpirun).
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1}
export HDF5_PLUGIN_PATH="$here/build/plugins"
np=2
run() { echo "+ $*" >&2; "$@"; }

mkdir -p "$work"
rm -rf "$work/archive"
run mpirun -np $np "$dmpipe" generate --out "$work/archive" --events "$events" --seed 1
run mpirun -np $np "$dmpipe" ingest --out "$work/store.h5" --rejects "$work/rejects.txt" \
    "$work"/archive/*.csv
run "$dmpipe" info "$work/store.h5"
run mpirun -np $np "$dmpipe" weight --in "$work/store.h5" --lumi 10 --quiet
run mpirun -np $np "$dmpipe" select --in "$work/store.h5" --channel chan3 \
    --out "$work/chan3.h5" --cutflow "$work/chan3.cutflow.json" --quiet
run mpirun -np $np "$dmpipe" train kde --in "$work/chan3.h5" --out "$work/chan3.kde.h5"
run mpirun -np $np "$dmpipe" score --model "$work/chan3.kde.h5" --in "$work/chan3.h5" \
    --out "$work/chan3.kde.scores.h5" --quiet
run mpirun -np $np "$dmpipe" metrics --scores "chan3=$work/chan3.kde.scores.h5" \
    --json "$work/chan3.kde.metrics.json"
run mpirun -np $np "$dmpipe" train svdd --in "$work/chan3.h5" --out "$work/chan3.svdd.h5" \
    --features highlevel --hidden 64,32 --out-dim 8 --epochs 30 --batch 64
run mpirun -np $np "$dmpipe" score --model "$work/chan3.svdd.h5" --in "$work/chan3.h5" \
    --out "$work/chan3.svdd.scores.h5" --quiet
run mpirun -np $np "$dmpipe" metrics --scores "chan3=$work/chan3.svdd.scores.h5" \
    --json "$work/chan3.svdd.metrics.json"
echo "demo: outputs in $work (read them from Python with HDF5_PLUGIN_PATH=$HDF5_PLUGIN_PATH)"
