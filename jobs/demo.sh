#!/usr/bin/env bash
# The main job on a built-in default: the challenge protocol end to end, on 2 ranks.
#   bash jobs/demo.sh [EVENTS] [WORKDIR]      (defaults: 14000000, ./demo-run)
#
#  1. generate  a seeded archive of the processes that dominate the two-lepton channel
#               chan2b (SM: ttbar, single top, dibosons, ttbar+V; signals beside them),
#               every process in proportion to its cross section;
#  2. ingest    the archive into one store;
#  3. dataset   the hackathon set of chan2b at the challenge's luminosity, 7.8 fb^-1:
#               unit-weight background drawn per process, shuffled, split 90/10 into a
#               training and a test part; the signals Zp_01 and stop_02 as their own files;
#  4. train     a KDE and a Deep SVDD on the training part only;
#  5. score     the test part and each signal file with each model;
#  6. metrics   AUC and eps_S at eps_B = 1e-2, 1e-3, 1e-4 on events no model trained
#               on; a working point is quoted only where the test background resolves it
#               (at least 10/eps_B events), otherwise it says "unresolved";
#  7. report    WORKDIR/report/index.html: distributions, cutflow, scores, ROC, SI, TI.
# About 14M events are needed for the test part to resolve eps_B = 1e-3 (about 22,000
# test background events); fewer events run faster and leave 1e-3 unresolved.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
events=${1:-14000000}
work=${2:-$PWD/demo-run}
lumi=7.8
chan=chan2b

bash "$here/jobs/setup.sh"
dmpipe="$here/build/bin/dmpipe"
# Root is the norm on the machines this runs on; more ranks than cores is fine.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# One machine: shared memory instead of UCX (0.2 s less per mpirun).
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1}
np=2
run() { echo "+ $*" >&2; "$@"; }
D() { run mpirun -np $np "$dmpipe" "$@"; }

mkdir -p "$work"
cd "$work"
rm -rf archive hack report
sm=ttbar,wtop,wtopbar,ww,zw,zz,single_top,single_topbar,ttbarZ,ttbarW
D generate --out archive --events "$events" --seed 1 --processes "$sm,Zp_01,stop_02" --no-progress \
  > generate.txt
D ingest --out store.h5 --rejects rejects.txt --no-progress archive/*.csv > ingest.txt
rm -rf archive  # the store holds every event; the CSV is no longer needed
D dataset hackathon --in store.h5 --out hack --channels $chan --lumi $lumi \
  --signals Zp_01,stop_02 --seed 1
train=hack/background_${chan}_${lumi}_train.h5
D train kde --in "$train" --out kde.h5 --pca 5 --no-progress > kde.train.txt
D train svdd --in "$train" --out svdd.h5 --features highlevel --hidden 64,32 --out-dim 8 \
  --epochs 10 --batch 256 --no-progress > svdd.train.txt
for model in kde svdd; do
  args=()
  for part in background_${chan}_${lumi}_test Zp_01_${chan} stop_02_${chan}; do
    D score --model $model.h5 --in hack/$part.h5 --out $model.$part.scores.h5 --channel $chan \
      --quiet --no-progress
    args+=(--scores "$chan=$model.$part.scores.h5")
  done
  echo "== $model: held-out metrics (test background and signal files; no training event)"
  D metrics "${args[@]}" --json $model.metrics.json
done
D report --in "$work" --out report
echo "demo: outputs in $work; open $work/report/index.html"
