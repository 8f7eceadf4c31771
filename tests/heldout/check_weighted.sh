#!/bin/bash
# train kde|svdd --weighted; the KDE against numpy and scikit-learn: weights from dmpipe
# weight (ttbar 1, w_jets 3), model and scores identical on 1, 2 and 3 ranks,
# sharded scoring identical to them (2 and 3 ranks), unit weights give the
# unweighted model's scores, and bad weights or cv are refused on every rank count without a hang.
set -euo pipefail
T=$DM_TEST_TMP
rm -rf "$T" && mkdir -p "$T" && cd "$T"
HERE=$DM_SOURCE_DIR/tests/heldout
MODEL=$DM_SOURCE_DIR/tests/model
run() { local np=$1; shift; timeout 300 "$MPIEXEC" -n "$np" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }

run 2 "$MKSTORE" s.h5 1500 23
run 2 "$DMPIPE" weight --in s.h5 --lumi 10 --xsec "$HERE/xsec_kde.csv" --quiet
for np in 1 2 3; do
  run $np "$DMPIPE" train kde --in s.h5 --out mw$np.h5 --weighted --max-train 800 --seed 3 \
    --batch 700 --json tw$np.json --quiet
done
for np in 2 3; do
  $PYTHON "$MODEL/compare_h5.py" mw1.h5 mw$np.h5 /model/reference /model/reference_row \
    /model/reference_weight /model@bandwidth /features/mean /features/scale
done
grep -q '"weight_source":	"derived weight (dmpipe weight)"' tw1.json ||
  fail "train report does not name the weight column: $(cat tw1.json)"
run 3 "$DMPIPE" score --model mw1.h5 --in s.h5 --out sw.h5 --batch 500 --quiet
run 2 "$DMPIPE" score --model mw1.h5 --in s.h5 --out sws.h5 --batch 500 --quiet --set mode=sharded
run 3 "$DMPIPE" score --model mw1.h5 --in s.h5 --out sws3.h5 --batch 400 --quiet --set mode=sharded
$PYTHON "$MODEL/compare_h5.py" sw.h5 sws.h5 /scores/score
$PYTHON "$MODEL/compare_h5.py" sw.h5 sws3.h5 /scores/score
$PYTHON - <<'PY'
import h5py, numpy as np
w = h5py.File("s.h5", "r")["derived/weight"][:]
np.save("w.npy", w)
PY
$PYTHON "$HERE/check_weighted_kde.py" s.h5 mw1.h5 sw.h5 w.npy
run 1 "$DMPIPE" info mw1.h5 | grep -q "weighted (reference_weight)" || fail "info does not say weighted"
run 1 "$DMPIPE" info mw1.h5 | grep -q "weighted fit (derived weight" || fail "info lacks the weight source"

# Unit weights (the same store made again, without dmpipe weight: /events/weight
# is 1) give the unweighted model's scores. (A copy of s.h5 would keep its
# derived columns: they travel with the store's identity.)
run 2 "$MKSTORE" u.h5 1500 23
run 2 "$DMPIPE" train kde --in u.h5 --out mu.h5 --max-train 800 --seed 3 --quiet
run 2 "$DMPIPE" train kde --in u.h5 --out muw.h5 --weighted --max-train 800 --seed 3 --quiet
run 2 "$DMPIPE" score --model mu.h5 --in u.h5 --out su.h5 --quiet
run 2 "$DMPIPE" score --model muw.h5 --in u.h5 --out suw.h5 --quiet
$PYTHON "$MODEL/compare_h5.py" su.h5 suw.h5 /scores/score:1e-12 /scores/train

# Refusals, on 1, 2 and 3 ranks: cv with weights; a zero weight.
cat > zero.csv <<'X'
name,kind,sigma_pb,gen_cut,n_10fb,model,aliases,description
ttbar,sm,0,,0,,,zero cross section
w_jets,sm,0.45,,4500,,,
gluino_01,bsm,0.015,,150,,,
X
# A store of its own (a copy of s.h5 would share s.h5's derived columns).
run 2 "$MKSTORE" z.h5 1500 23
run 1 "$DMPIPE" weight --in z.h5 --lumi 10 --xsec zero.csv --quiet
for np in 1 2 3; do
  if run $np "$DMPIPE" train kde --in s.h5 --out bad.h5 --weighted --bandwidth cv --quiet 2>e.log; then
    fail "np $np: --weighted --bandwidth cv accepted"
  fi
  grep -q "does not take event weights" e.log || fail "np $np: cv refusal: $(cat e.log)"
  if run $np "$DMPIPE" train kde --in z.h5 --out bad.h5 --weighted --quiet 2>e.log; then
    fail "np $np: a zero weight accepted"
  fi
  grep -q "process ttbar): weight 0 from the derived weight column" e.log ||
    fail "np $np: zero weight message: $(cat e.log)"
  test ! -e bad.h5 && test ! -e bad.h5.tmp || fail "np $np: output left behind"
done
# Deep SVDD through the command line: the weighted fit is recorded; the
# soft-boundary objective with weights is refused on every rank count.
run 2 "$DMPIPE" train svdd --in s.h5 --out sv.h5 --weighted --epochs 2 --json sv.json --quiet
grep -q '"weighted":	true' sv.json || fail "train svdd --weighted report: $(cat sv.json)"
run 1 "$DMPIPE" info sv.h5 | grep -q "weighted fit (derived weight" || fail "svdd info lacks the weights"
for np in 1 2 3; do
  if run $np "$DMPIPE" train svdd --in s.h5 --out bad.h5 --weighted --epochs 1 \
      --objective soft-boundary --quiet 2>e.log; then
    fail "np $np: weighted soft-boundary accepted"
  fi
  grep -q "need --objective one-class" e.log || fail "np $np: soft-boundary refusal: $(cat e.log)"
  test ! -e bad.h5 && test ! -e bad.h5.tmp || fail "np $np: output left behind"
done
echo "weighted KDE and SVDD checks passed"
