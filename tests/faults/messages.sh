#!/usr/bin/env bash
# Errors found before any work, and one clear line for a damaged input:
# an --out that is a folder or sits in a missing folder, for every command
# that writes one (np 1, 2, 3 in turn); a truncated store (no HDF5 error
# stack, only dmpipe's line); a scores file missing a dataset (the message
# names the file and the dataset).
source "$(dirname "$0")/common.sh"
make_inputs 3000
run 1 train kde --in store.h5 --out model.h5 > /dev/null
run 1 score --model model.h5 --in store.h5 --out sc.h5 --quiet > /dev/null
mkdir -p afolder
np=1
for args in "ingest --out OUT arch/ttbar.csv" "export --in store.h5 --out OUT" \
            "select --in store.h5 --channel chan3 --out OUT" \
            "score --model model.h5 --in store.h5 --out OUT" "train kde --in store.h5 --out OUT"; do
  for out in afolder no-such-folder/x.h5; do
    set +e
    # shellcheck disable=SC2086
    run "$np" ${args/OUT/$out} > m.txt 2>&1
    rc=$?
    set -e
    [[ $rc -eq 1 ]] || { cat m.txt >&2; fail "${args%% *} --out $out: exit $rc"; }
    grep -Eq -- "--out $out(: folder no-such-folder: No such file| is a folder)" m.txt ||
      { cat m.txt >&2; fail "${args%% *} --out $out: no clear message"; }
    [[ $(grep -c "^dmpipe" m.txt) -eq 1 ]] || fail "${args%% *}: not exactly one message"
    np=$((np % 3 + 1))
  done
  echo "ok: ${args%% *}: --out checked before the run"
done
[[ -z $(ls afolder) && ! -e no-such-folder ]] || fail "something was written"
# A truncated store: one line from dmpipe, no HDF5 diagnostics, on 1..3 ranks.
head -c 20000 store.h5 > trunc.h5
for np in 1 2 3; do
  set +e
  run "$np" export --in trunc.h5 --out t.csv > m.txt 2>&1
  rc=$?
  set -e
  [[ $rc -eq 1 ]] && grep -q "^dmpipe export: error .*trunc.h5" m.txt || { cat m.txt >&2; fail "truncated store, np $np"; }
  ! grep -q "HDF5-DIAG\|#00" m.txt || { cat m.txt >&2; fail "HDF5's error stack printed"; }
done
echo "ok: truncated store: one line"
# A scores file without /scores/score: named with its file.
cp sc.h5 sc_bad.h5
"$PYTHON" -c "import h5py; f = h5py.File('sc_bad.h5', 'a'); del f['scores/score']; f.close()"
set +e
run 2 metrics --scores chan3=sc_bad.h5 > m.txt 2>&1
rc=$?
set -e
[[ $rc -eq 1 ]] && grep -q "sc_bad.h5: dataset scores/score is missing" m.txt ||
  { cat m.txt >&2; fail "metrics: missing dataset not named with its file"; }
echo "ok: metrics names the file of a missing dataset"
