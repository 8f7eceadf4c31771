# evaluate: the table equals scikit-learn's roc_auc_score and roc_curve (with
# numpy's interpolation at eps_B = 1e-2, 1e-3, 1e-4) to 1e-12, for a CSV
# submission with and without ties and for a dmpipe score file (a KDE trained
# on a hackathon set of the same store scoring the unlabeled store, whose
# labels_sha256 is the commitment), identical on 1, 2 and 3 ranks; decoys
# ignored; `metrics --efficiency-table` reads the table; a tampered labels
# file is refused.
source "$(dirname "$0")/common.sh"
make_store
"$DMPIPE" dataset secret --in store.h5 --out sec --channel chan2b --lumi 0.04 \
  --inject gluino_03=1000,stop_02=3 --decoys 0.2 --seed 5 --quiet
L=sec/labels_chan2b.h5
U=sec/unlabeled_chan2b.h5
hex=$("$PYTHON" -c "import h5py,sys; print(h5py.File(sys.argv[1])['/'].attrs['labels_sha256'].decode())" $U)
test "$hex" = "$(sha256sum $L | cut -d' ' -f1)"
check submit sec chan2b met.csv met
check submit sec chan2b ties.csv ties
for np in 1 2 3; do
  set_run $np
  timeout 120 "${run[@]}" evaluate --labels $L --submission met.csv \
    --commitment $U --out met$np.csv --json met$np.json >/dev/null
  timeout 120 "${run[@]}" evaluate --labels $L --submission ties.csv \
    --commitment "$hex" --model coarse_met --out ties$np.csv >/dev/null
  cmp met1.csv met$np.csv
  cmp ties1.csv ties$np.csv
done
check evaluate $L met.csv met1.csv
check evaluate $L ties.csv ties1.csv
grep -q "^gluino_03,coarse_met,2b," ties1.csv
# The same pairs in layouts that straddle the ranks' byte ranges (check_dataset.py
# layouts: CRLF and LF, blank lines, blanks around fields, a header after
# blank lines over 3/4 of the file, a line longer than a read step, no final
# newline): the same table and report as met.csv on every rank count.
check layouts met.csv >/dev/null
for np in 1 2 3; do
  set_run $np
  for f in messy latehdr longline; do
    timeout 120 "${run[@]}" evaluate --labels $L --submission $f.csv --commitment $U \
      --model met --out $f$np.csv --json $f$np.json >/dev/null
    cmp met1.csv $f$np.csv
    "$PYTHON" - met1.json $f$np.json <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a.pop("submission") == "met.csv" and b.pop("submission") != "met.csv", b
assert a == b, (a, b)
PY
  done
done
"$PYTHON" - met1.json <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["decoys"] > 0 and j["background"] + j["signal"] + j["decoys"] == j["events"], j
assert [s["signal"] for s in j["signals"]] == ["gluino_03", "stop_02"], j["signals"]
PY
"$DMPIPE" metrics --efficiency-table met1.csv --json eff.json >/dev/null
"$PYTHON" -c "import json; m = json.load(open('eff.json'))['models']; assert m['met']['signals'] == 2, m"
# A score file: the store it names carries the commitment.
"$DMPIPE" dataset hackathon --in store.h5 --out hack --channels chan2b --lumi 0.02 \
  --signals Zp_01 --seed 1 --quiet
"$DMPIPE" train kde --in hack/background_chan2b_0.02_train.h5 --out kde.h5 --pca 4 >/dev/null
timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" score --model kde.h5 --in $U --out kde_scores.h5 >/dev/null
for np in 1 3; do
  set_run $np
  timeout 120 "${run[@]}" evaluate --labels $L --submission kde_scores.h5 \
    --out kde$np.csv >/dev/null
done
cmp kde1.csv kde3.csv
check evaluate $L kde_scores.h5 kde1.csv
# Tampered labels: one background event relabelled.
check tamper $L bad_labels.h5
for np in 1 2 3; do
  set_run $np
  expect_fail t$np.log "not the labels the dataset was published with" \
    "${run[@]}" evaluate --labels bad_labels.h5 --submission met.csv --commitment $U
done
