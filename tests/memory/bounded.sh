#!/usr/bin/env bash
# Bounded memory: ingest, select, score, train and metrics run with a small
# budget on an input many times larger than it, on 1 and 2 ranks; each rank's peak
# resident memory is measured from outside (peak_rss.py: the kernel's
# high-water mark of the child) and must stay
#   - below a bound made of the budget plus a baseline, where the baseline is
#     the same command's peak on a tiny input (libraries, MPI, HDF5: no
#     absolute number that would not hold on another machine), and
#   - within 10% when the input is doubled (check_bounded.py).
source "$DM_SOURCE_DIR/tests/ingest/common.sh"
mem="$DM_SOURCE_DIR/tests/memory"
# A rank's peak RSS in KiB for each rank: peak NAME NP CMD...
peak() {
  local name=$1 np=$2
  shift 2
  rm -f "rss.$name".*
  timeout 300 "$MPIEXEC" -n "$np" "$PYTHON" "$mem/peak_rss.py" "rss.$name" "$DMPIPE" "$@" \
    > /dev/null
  echo "$name $(cat $(ls "rss.$name".* | sort -t. -k3 -n) | tr '\n' ' ')" >> peaks.txt
}
BUDGET_MB=8        # ingest --buffer-mb (the smallest allowed)
CHUNK=4096         # ingest --chunk-events: small chunks, so the writer's few
                   # chunks per column do not hide the budget
BATCH=4096         # select, score and train --batch (events per rank per round)
SPARSE_BATCH=300000  # select of few events: rounds as large as half the input
PIECE=4096         # ... read in pieces of this many objects (--piece-objects)
MAX_TRAIN=2000     # train kde --max-train: a subsample of a pool far larger
REF_ROWS=200000    # train kde --max-train for the reference bound: about 10 MB
                   # of reference (13 columns) out of a pool of 530,000 rows
ROWS_MB=1          # metrics --rows-mb: about 44,000 score rows per rank at
                   # once, against 300,000-1,200,000 per rank
"$MPIEXEC" -n 2 "$DMPIPE" generate --out gen --events 600000 --seed 7 --quiet > /dev/null
cat $(ls gen/*.csv | LC_ALL=C sort) > x1.csv
rm -rf gen
head -n 2000 x1.csv > x0.csv
cat > all.ini <<'INI'
[selection]
name = nearly_all
description = every event with an object: the output as big as the input

[cut any]
variable = n_obj
op = >=
value = 1
INI
: > peaks.txt
for np in 1 2; do
  # x2 is x1 given twice: twice the bytes and events, the same content.
  for k in 0 1 2; do
    inputs=(x$k.csv)
    [[ $k == 2 ]] && inputs=(x1.csv x1.csv)
    peak ingest.np$np.x$k $np ingest --out s$np.$k.h5 --buffer-mb $BUDGET_MB \
      --chunk-events $CHUNK --no-progress "${inputs[@]}"
  done
  "$DMPIPE" train kde --in s$np.0.h5 --out kde$np.h5 > /dev/null
  for k in 0 1 2; do
    peak select.np$np.x$k $np select --in s$np.$k.h5 --cuts all.ini --out sel$np.$k.h5 \
      --batch $BATCH --quiet --no-progress
    # Few events kept from huge rounds: what a round holds is its index and
    # one piece, not the round's objects (read whole, they were 40 MiB).
    peak select_sparse.np$np.x$k $np select --in s$np.$k.h5 --channel chan2a \
      --out sp$np.$k.h5 --batch $SPARSE_BATCH --piece-objects $PIECE --quiet --no-progress
    peak score.np$np.x$k $np score --model kde$np.h5 --in s$np.$k.h5 --out sc$np.$k.h5 \
      --batch $BATCH --quiet --no-progress
    peak train.np$np.x$k $np train kde --in s$np.$k.h5 --out tk$np.$k.h5 --max-train $MAX_TRAIN \
      --batch $BATCH --quiet --no-progress
  done
  # A large reference: its copies, not the data, set train kde's peak.
  peak trainref.np$np.x1 $np train kde --in s$np.1.h5 --out tr$np.h5 --max-train $REF_ROWS \
    --batch $BATCH --quiet --no-progress
  # Every event counts (the model trained on another store) and every
  # working point is quoted, so that each number can be compared.
  for k in 0 1 2; do
    peak metrics.np$np.x$k $np metrics --scores c=sc$np.$k.h5 --include-train \
      --allow-unresolved --rows-mb $ROWS_MB --json m$np.$k.json
  done
  # The same, every row held at once (one pass): the same JSON.
  "$MPIEXEC" -n $np "$DMPIPE" metrics --scores c=sc$np.1.h5 --include-train \
    --allow-unresolved --rows-mb 1000 --json m$np.1.whole.json > /dev/null
done
cat peaks.txt
"$PYTHON" "$mem/check_bounded.py" peaks.txt --budget-mb $BUDGET_MB --chunk-events $CHUNK \
  --batch $BATCH --sparse-batch $SPARSE_BATCH --piece $PIECE --rows-mb $ROWS_MB \
  --input-mb "$(stat -c %s x1.csv)" \
  --ref-rows "$("$PYTHON" -c 'import h5py, sys; print(h5py.File(sys.argv[1])["model"].attrs["n_ref"])' tr1.h5)" \
  --ref-dim "$("$PYTHON" -c 'import h5py, sys; print(h5py.File(sys.argv[1])["model"].attrs["dim"])' tr1.h5)"
# The results under the budget against scikit-learn on the same scores, and
# against the one-pass run byte for byte.
for np in 1 2; do
  for k in 1 2; do
    "$PYTHON" "$mem/check_metrics_peer.py" sc$np.$k.h5 m$np.$k.json
  done
  "$PYTHON" "$mem/check_metrics_peer.py" --same m$np.1.json m$np.1.whole.json
done
echo "ok: bounded memory"
