# Error paths of dataset and evaluate on 1, 2 and 3 ranks, each under a
# timeout (a hang fails): a clear message naming the process, signal, file or
# event IDs at fault, every rank exiting together, nothing left under a final
# name.
source "$(dirname "$0")/common.sh"
make_store
"$DMPIPE" dataset secret --in store.h5 --out sec --channel chan2b --lumi 0.04 \
  --inject gluino_03=1000 --seed 5 --quiet
check submit sec chan2b good.csv met
for mode in missing duplicate unknown; do check submit sec chan2b $mode.csv bad-$mode; done
printf 'event_id,score\n1,0.5\n2,abc\n' > garbled.csv
# Submissions whose lines straddle the ranks' byte ranges (check_dataset.py
# layouts says where each bad line falls).
check layouts good.csv >/dev/null
# expect_csv LOG FILE MESSAGE: evaluate FILE fails with exit status 1 and
# prints MESSAGE once (the messages and line numbers are those the serial
# reader gave on one rank, recorded by hand).
expect_csv() {
  local log=$1 f=$2 msg=$3 rc=0
  timeout 60 "${run[@]}" evaluate --labels $L --submission $f --commitment $U \
    >/dev/null 2>"$log" || rc=$?
  [[ $rc -eq 1 ]] || { echo "FAIL: $f on $np ranks: exit status $rc"; cat "$log"; exit 1; }
  local got
  got=$(grep '^dmpipe evaluate' "$log") || true
  [[ "$got" == "dmpipe evaluate: error (malformed input): $msg" ]] ||
    { echo "FAIL: $f on $np ranks: expected '$msg', got:"; cat "$log"; exit 1; }
}
# Another store (other seed) for a manifest that cannot be excluded.
"$DMPIPE" generate --out arch2 --events 3000 --seed 12 --processes ttbar,ww,stop_02 >/dev/null
"$DMPIPE" ingest --out other.h5 arch2/*.csv >/dev/null
"$DMPIPE" dataset hackathon --in other.h5 --out other --channels chan2b --quiet
U=sec/unlabeled_chan2b.h5
L=sec/labels_chan2b.h5
for np in 1 2 3; do
  set_run $np
  # Too few events, unknown signals, bad submissions: on every rank count.
  expect_fail few$np.log "chan2b: too few events of ttbar: .* 925 available in the chan2b selection of store.h5" \
    "${run[@]}" dataset hackathon --in store.h5 --out few$np --channels chan2b --lumi 100
  test ! -e few$np/manifest.json && ! ls few$np/background_* 2>/dev/null
  expect_fail sig$np.log "unknown signal 'nosuch'" \
    "${run[@]}" dataset hackathon --in store.h5 --out sig$np --channels chan3 --signals Zp_01,nosuch
  expect_fail inj$np.log "unknown signal 'nosuch'" \
    "${run[@]}" dataset secret --in store.h5 --out inj$np --channel chan3 --inject nosuch=1 --seed 1
  expect_fail miss$np.log "2 missing event IDs (first: 3 4)" \
    "${run[@]}" evaluate --labels $L --submission missing.csv --commitment $U
  expect_fail dup$np.log "1 duplicate event ID (first: 7)" \
    "${run[@]}" evaluate --labels $L --submission duplicate.csv --commitment $U
  expect_fail unk$np.log "1 unknown event ID (first: " \
    "${run[@]}" evaluate --labels $L --submission unknown.csv --commitment $U
  expect_fail garb$np.log "garbled.csv:3: score 'abc' of event 2 is not a finite number" \
    "${run[@]}" evaluate --labels $L --submission garbled.csv --commitment $U
  # The file's first bad line, numbered over the whole file, wherever it falls.
  expect_csv far$np.log badfar.csv \
    "badfar.csv:1776: score 'abc' of event 1300 is not a finite number"
  expect_csv two$np.log twobad.csv "twobad.csv:734: event ID 'x17' is not an integer"
  expect_csv mid$np.log midhdr.csv "midhdr.csv:1097: event ID 'event_id' is not an integer"
  expect_csv unk7$np.log unknowns.csv "submission unknowns.csv does not score each of the 1353 \
events of $L exactly once: 7 unknown event IDs (first: 9001 9007 9003 9002 9009)"
  for f in empty hdronly; do
    expect_csv $f$np.log $f.csv "submission $f.csv does not score each of the 1353 events of \
$L exactly once: 1353 missing event IDs (first: 1 2 3 4 5)"
  done
done
run=("$MPIEXEC" -n 2 "$DMPIPE")
expect_fail nobkg.log "chan2a: no background process has selected events" \
  "${run[@]}" dataset hackathon --in store.h5 --out nobkg --channels chan2a
expect_fail sm.log "'ttbar' is an SM process" \
  "${run[@]}" dataset secret --in store.h5 --out sm --channel chan3 --inject ttbar=1 --seed 1
expect_fail mu.log "too few events of gluino_03" \
  "${run[@]}" dataset secret --in store.h5 --out mu --channel chan3 --lumi 0.04 \
  --inject gluino_03=1e6 --seed 1
test ! -e mu/labels_chan3.h5 && test ! -e mu/unlabeled_chan3.csv
expect_fail ex.log "built from another store" \
  "${run[@]}" dataset secret --in store.h5 --out ex --channel chan2b --lumi 0.04 \
  --inject gluino_03=1 --exclude other/manifest.json --seed 1
expect_fail nocommit.log "needs --commitment" \
  "${run[@]}" evaluate --labels $L --submission good.csv
expect_fail wrongcommit.log "store.h5 has no labels_sha256 attribute" \
  "${run[@]}" evaluate --labels $L --submission good.csv --commitment store.h5
# Usage errors exit 2 with a pointer to --help.
rc=0; "$DMPIPE" dataset secret --in store.h5 --out x --channel chan3 >u.log 2>&1 || rc=$?
test $rc -eq 2 && grep -q "inject are required" u.log
rc=0; "$DMPIPE" dataset hackathon --in store.h5 --out x --train-fraction 1.5 >u.log 2>&1 || rc=$?
test $rc -eq 2 && grep -q "train-fraction" u.log
rc=0; "$DMPIPE" dataset secret --in store.h5 --out x --channel chan3 --inject a=1 --decoys 0.95 >u.log 2>&1 || rc=$?
test $rc -eq 2 && grep -q "decoys" u.log
"$DMPIPE" dataset --help | grep -q hackathon
"$DMPIPE" dataset hackathon --help | grep -q -- "--train-fraction"
"$DMPIPE" dataset secret --help | grep -q -- "--exclude"
"$DMPIPE" evaluate --help | grep -q -- "--commitment"
echo "errors: ok"
