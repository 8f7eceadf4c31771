#!/usr/bin/env bash
# The pairing of a store (and a selection) with its derived columns:
#  - dmpipe and h5py reach them from the store file alone, after the folder
#    is copied or moved and from another working directory;
#  - a store copied without its side files, opened where another run's files
#    lie (beside it or in the working directory), never reads those: dmpipe
#    says what is missing, h5py finds nothing;
#  - another run's index or part swapped in under the right name is refused
#    by dmpipe naming the file, on 1, 2 and 3 ranks, within a timeout;
#  - a crash's leftovers (a part written but never committed) change nothing.
# Expected weights are hand-made: the test table gives 1 per event at
# 10 fb^-1 and 2 at 20 fb^-1; H_T is the one jet's pT (700 GeV) or 0.
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}" "${PYTHON:?}" "${DM_SOURCE_DIR:?}"
xsec="$DM_SOURCE_DIR/tests/select/xsec_test.csv"
T=(timeout 120)
rm -rf "$DM_TEST_TMP"
mkdir -p "$DM_TEST_TMP"
cd "$DM_TEST_TMP"

# expect_fail LOG PATTERN CMD...: the command fails and its output has PATTERN.
expect_fail() {
  local log=$1 pat=$2
  shift 2
  if "$@" >"$log" 2>&1; then
    echo "FAIL: expected failure: $*"
    exit 1
  fi
  grep -q -- "$pat" "$log" || { echo "FAIL: no '$pat' in:"; cat "$log"; exit 1; }
}
# weights_are STORE VALUE [CWD]: h5py reads /derived/weight and /derived/ht
# through the store (from CWD) and checks them against hand-made values.
weights_are() {
  (cd "${3:-.}" && "$PYTHON" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
w = f["derived/weight"][:]
ht = f["derived/ht"][:]
names = [x.decode() for x in f["processes/name"][:]]
proc = f["events/process"][:]
assert len(w) == len(f["events/event_id"]) and np.all(w == float(sys.argv[2])), w
want_ht = np.where(np.array(names)[proc] == "ten_a", 700.0, 0.0)
assert np.array_equal(ht, want_ht), (ht, want_ht)
print("h5py ok:", sys.argv[1], len(w), "weights", sys.argv[2])
PY
  )
}

# Run A: a store and a selection, with derived columns and weights.
mkdir runA
for i in 1 2 3 4 5; do echo "$i;ten_a;9;100000;0;j,700000,700000,0,0"; done > runA/a.csv
for i in 6 7 8 9; do echo "$i;ten_b;9;20000;0;e-,30000,30000,0,0"; done > runA/b.csv
printf '[cut some_met]\nvariable = met\nop = >=\nvalue = 0\n' > all.ini
(cd runA && "$MPIEXEC" -n 2 "$DMPIPE" ingest --out ev.h5 a.csv b.csv >/dev/null)
"$MPIEXEC" -n 2 "$DMPIPE" derive --in runA/ev.h5 --quiet
"$MPIEXEC" -n 3 "$DMPIPE" weight --in runA/ev.h5 --lumi 20 --xsec "$xsec" --quiet
"$MPIEXEC" -n 2 "$DMPIPE" select --in runA/ev.h5 --cuts all.ini --out runA/sel.h5 \
  --cutflow runA/sel.json --xsec "$xsec" --quiet
weights_are runA/ev.h5 2
weights_are runA/sel.h5 2
# Run B: same names, other weights (10 fb^-1).
cp -r runA runB
rm -f runB/*.h5 runB/*.json
(cd runB && "$DMPIPE" ingest --out ev.h5 a.csv b.csv >/dev/null)
"$DMPIPE" weight --in runB/ev.h5 --lumi 10 --xsec "$xsec" --quiet
"$DMPIPE" select --in runB/ev.h5 --cuts all.ini --out runB/sel.h5 --xsec "$xsec" --quiet
weights_are runB/sel.h5 1
# index_of STORE: the index file the store's /derived link names.
index_of() {
  "$PYTHON" -c 'import h5py,sys; print(h5py.File(sys.argv[1],"r").get("derived", getlink=True).filename)' "$1"
}
ida=runA/$(index_of runA/ev.h5)
idb=runB/$(index_of runB/ev.h5)
test "${ida#runA/}" != "${idb#runB/}"

# Copied and moved folders, other working directories: same columns.
cp -r runA copyA
mv runA movedA
mkdir -p elsewhere/deep
weights_are ../../copyA/sel.h5 2 elsewhere/deep
weights_are "$PWD/movedA/ev.h5" 2 /
(cd elsewhere && "$MPIEXEC" -n 2 "$DMPIPE" select --in ../movedA/sel.h5 --cuts ../all.ini \
  --out again.h5 --cutflow again.json --xsec "$xsec" --quiet)
"$PYTHON" - <<'PY'
import json
cf = json.load(open("elsewhere/again.json"))
assert cf["weight_source"] == "derived/weight", cf["weight_source"]
tot = cf["totals"]["all"][-1]
assert tot["count"] == 9 and tot["sumw"] == 18 and tot["sumw2"] == 36, tot
print("cutflow from a moved selection, another cwd: 9 events, sum w = 18")
PY
weights_are elsewhere/again.h5 2
# dmpipe info names the columns and the index they are reached through.
(cd elsewhere && "$MPIEXEC" -n 2 "$DMPIPE" info --json ../movedA/ev.h5) > info.json
"$PYTHON" - <<'PY'
import json
j = json.load(open("info.json"))
assert j["derived"] == ["ht", "n_jets", "n_bjets", "n_leptons", "n_photons", "lead_jet_pt",
                        "met_over_ht", "m_eff", "weight"], j["derived"]
assert j["derived_index"] == "../movedA/ev.derived-%s.h5" % j["store_id"][:16], j
print("info: derived columns and index ok")
PY

# A store copied alone into run B's folder (under another name) and opened
# from run B's folder: it must not read B's columns.
cp movedA/sel.h5 runB/selA.h5
(cd runB && "$PYTHON" - <<'PY'
import h5py
f = h5py.File("selA.h5", "r")
for name in ("derived", "derived/weight"):
    try:
        f[name]
        raise SystemExit(f"FAIL: a lone copy resolved {name}")
    except KeyError as e:
        assert "unable to open" in str(e).lower(), e
print("h5py: a lone copy has no derived columns, none borrowed")
PY
)
# Alone beside another run's files of the same name: same answer.
mkdir lone && cp movedA/sel.h5 lone/sel.h5 && cp runB/sel.derived-* lone/
for np in 1 2 3; do
  expect_fail lone$np.log "is missing" "${T[@]}" "$MPIEXEC" -n $np "$DMPIPE" select \
    --in lone/sel.h5 --cuts all.ini --out lone/x$np.h5 --xsec "$xsec"
  grep -q "sel.derived-" lone$np.log
  test ! -e lone/x$np.h5
done
(cd runB && expect_fail ../lone_cwd.log "is missing" "${T[@]}" "$DMPIPE" select \
  --in ../lone/sel.h5 --cuts ../all.ini --out x.h5 --xsec "$xsec")

# Run B's index swapped in under run A's index name: refused, naming it.
cp -r copyA swapped
ia=$(index_of swapped/ev.h5)
cp runB/$(basename "$idb") "swapped/$ia"
for np in 1 2 3; do
  expect_fail swap$np.log "belongs to another store" "${T[@]}" "$MPIEXEC" -n $np "$DMPIPE" \
    weight --in swapped/ev.h5 --lumi 10 --xsec "$xsec"
  grep -q "$ia" swap$np.log
done
# A part swapped in: also refused.
cp -r copyA swapped2
part=$(cd swapped2 && ls sel.derived-*.1.h5)
cp "$(ls runB/sel.derived-*.1.h5)" "swapped2/$part"
expect_fail swap_part.log "belongs to another store" "${T[@]}" "$MPIEXEC" -n 2 "$DMPIPE" \
  select --in swapped2/sel.h5 --cuts all.ini --out swapped2/x.h5 --xsec "$xsec"

# A crash's leftovers: a part file of the next generation that no index
# names. The next update replaces it; readers never see it.
gen=$("$PYTHON" -c 'import h5py,sys; print(int(h5py.File(sys.argv[1],"r").attrs["generation"]))' copyA/$(basename "$ida"))
stem=$(basename "$ida" .h5)
echo garbage > "copyA/$stem.$((gen + 1)).h5"
echo garbage > "copyA/$stem.$((gen + 1)).h5.tmp"
weights_are copyA/ev.h5 2
"$DMPIPE" weight --in copyA/ev.h5 --lumi 10 --xsec "$xsec" --quiet
weights_are copyA/ev.h5 1
# The superseded weight part is gone; parts left = those the index names.
"$PYTHON" - copyA/ev.h5 <<'PY'
import glob, h5py, os, sys
f = h5py.File(sys.argv[1], "r")
idx = f.get("derived", getlink=True).filename
g = h5py.File(os.path.join("copyA", idx), "r")["derived"]
named = {g.get(k, getlink=True).filename for k in g}
parts = {os.path.basename(p) for p in glob.glob("copyA/" + idx[:-3] + ".*.h5")}
assert parts == named, (parts, named)
print("parts on disk = parts named:", sorted(named))
PY
# A store or selection written again under its name takes the old one's side
# files with it: only the new identity's files remain.
old_ev=$(index_of copyA/ev.h5) old_sel=$(index_of copyA/sel.h5)
(cd copyA && "$MPIEXEC" -n 2 "$DMPIPE" ingest --out ev.h5 a.csv b.csv >/dev/null)
"$MPIEXEC" -n 3 "$DMPIPE" select --in copyA/ev.h5 --cuts all.ini --out copyA/sel.h5 --quiet
new_ev=$(index_of copyA/ev.h5) new_sel=$(index_of copyA/sel.h5)
test "$new_ev" != "$old_ev" && test "$new_sel" != "$old_sel"
test "$(cd copyA && ls ev.derived-*)" = "$new_ev"
test "$(cd copyA && ls sel.derived-* | tr '\n' ' ')" = "${new_sel%.h5}.1.h5 $new_sel "
echo "store_pairing ok"
