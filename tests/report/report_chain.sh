# dmpipe report from a small seeded chain (generate -> ingest -> weight ->
# select -> train kde -> score -> metrics, plus a bump hunt), opened in
# headless Chromium: every figure loads, no console errors, offline only, a
# screenshot that is not blank. Then the same report on 1 and 3 ranks (same
# histograms), a pipeline file as input, a run with missing pieces, and the
# error paths on 1, 2 and 3 ranks under a timeout.
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}" "${PYTHON:?}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rm -rf "$DM_TEST_TMP"
mkdir -p "$DM_TEST_TMP/run"
cd "$DM_TEST_TMP"
W=$DM_TEST_TMP/run
# matplotlib's font cache: inside the test folder, shared by the runs below.
export MPLCONFIGDIR=$DM_TEST_TMP/mplconfig
mkdir -p "$MPLCONFIGDIR"
mpi() { local n=$1; shift; timeout 300 "$MPIEXEC" -n "$n" "$DMPIPE" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }

mpi 2 generate --out "$W/archive" --events 20000 --seed 4 >/dev/null
mpi 2 ingest --out "$W/store.h5" "$W"/archive/*.csv >/dev/null
rm -rf "$W/archive"
mpi 2 weight --in "$W/store.h5" --lumi 10 --quiet
for ch in chan3 chan2b; do
  mpi 2 select --in "$W/store.h5" --channel $ch --out "$W/$ch.h5" \
      --cutflow "$W/$ch.cutflow.json" --quiet
done
mpi 2 train kde --in "$W/chan3.h5" --out "$W/chan3.kde.h5" --max-train 2000 --seed 1 >/dev/null
mpi 2 score --model "$W/chan3.kde.h5" --in "$W/chan3.h5" --out "$W/chan3.kde.scores.h5" --quiet
mpi 2 metrics --scores "chan3=$W/chan3.kde.scores.h5" --json "$W/chan3.kde.metrics.json" >/dev/null
# A spectrum with a bump at 1.0-1.2 over a falling background.
"$PYTHON" - "$W/spectrum.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("lo,hi,observed,expected\n")
    for i in range(30):
        lo = 0.2 * i
        exp = 2000.0 * 0.8 ** i + 5
        obs = round(exp) + (60 if i in (5, 6) else 0)
        f.write(f"{lo:.1f},{lo + 0.2:.1f},{obs},{exp}\n")
PY
mpi 2 bumphunt --spectrum "$W/spectrum.csv" --toys 500 --json "$W/bump.json" >/dev/null

# The report, on 2 ranks, opened in Chromium.
mpi 2 report --in "$W" --out "$W/report"
[[ -f "$W/report/index.html" && ! -e "$W/report.tmp" ]] || fail "no report or a leftover report.tmp"
if "$PYTHON" -c "import h5py,sys; sys.exit(0 if 'scores/train' in h5py.File('$W/chan3.kde.scores.h5','r') else 1)"; then
  split="test split"
else
  split="training split is unknown"
fi
"$PYTHON" "$here/check_page.py" "$W/report/index.html" "$DM_TEST_TMP/shot.png" --min-images 22 \
    --expect "Channel chan3" --expect "Channel chan2b" --expect "Cutflow" \
    --expect "ROC" --expect "Total improvement" --expect "Flow-Efficient_Likelihood" \
    --expect "Bump hunt" --expect "Provenance" --expect "$split" --expect "dmpipe select"
grep -q -E '(src|href)="(https?:)?//' "$W/report/index.html" && fail "the page links outside"

# Histograms of the report: the same bits on 3 ranks as on 2.
mpi 3 report --in "$W" --out "$DM_TEST_TMP/r3" >/dev/null
"$PYTHON" - "$W/report/data" "$DM_TEST_TMP/r3/data" <<'PY'
import glob, os, sys
import h5py
ref = sorted(glob.glob(os.path.join(sys.argv[1], "hist_*.h5")))
assert len(ref) == 2, ref
for p in ref:
    q = os.path.join(sys.argv[2], os.path.basename(p))
    with h5py.File(p, "r") as a, h5py.File(q, "r") as b:
        def walk(name, obj):
            if isinstance(obj, h5py.Dataset):
                assert obj[...].tobytes() == b[name][...].tobytes(), (q, name)
        a.visititems(walk)
print("report histograms identical on 2 and 3 ranks")
PY

# A pipeline file naming the folder (relative to the file).
printf 'workdir: run\nsteps: []\n' > "$DM_TEST_TMP/pipeline.yaml"
mpi 1 report --in "$DM_TEST_TMP/pipeline.yaml" --out "$DM_TEST_TMP/ry" >/dev/null
grep -q "pipeline.yaml" "$DM_TEST_TMP/ry/index.html" || fail "pipeline file not named in the page"

# Missing pieces are said in the page: a folder with the store only.
mkdir -p "$DM_TEST_TMP/bare"
cp "$W/store.h5" "$W"/store.derived-*.h5 "$DM_TEST_TMP/bare/"  # a store travels with its side files
mpi 2 report --in "$DM_TEST_TMP/bare" --out "$DM_TEST_TMP/rb" >/dev/null
"$PYTHON" "$here/check_page.py" "$DM_TEST_TMP/rb/index.html" "$DM_TEST_TMP/shot_bare.png" \
    --min-images 9 --expect "Channel all" --expect "No metrics JSON found" \
    --expect "No cutflow JSON" --expect "No bumphunt JSON found" --expect "No scores file"

# The checker can fail: a missing image and a console error.
mkdir -p "$DM_TEST_TMP/broken"
printf '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body><p>x</p><img src="nothere.png"><script>console.error("boom")</script></body></html>' \
    > "$DM_TEST_TMP/broken/index.html"
if "$PYTHON" "$here/check_page.py" "$DM_TEST_TMP/broken/index.html" "$DM_TEST_TMP/b.png" \
    > "$DM_TEST_TMP/broken.log" 2>&1; then
  fail "check_page.py passed a broken page"
fi
grep -q "nothere.png" "$DM_TEST_TMP/broken.log" && grep -q "boom" "$DM_TEST_TMP/broken.log" \
    || { cat "$DM_TEST_TMP/broken.log"; fail "check_page.py missed the broken image or the error"; }

# Errors: clear message, every rank exits, nothing left behind.
printf 'steps: []\n' > "$DM_TEST_TMP/noworkdir.yaml"
# A Python without the system's packages (no site-packages): a clear message.
printf '#!/bin/sh\nexec "%s" -S "$@"\n' "$PYTHON" > "$DM_TEST_TMP/barepython"
chmod +x "$DM_TEST_TMP/barepython"
expect_fail() {
  local np=$1 pat=$2
  shift 2
  local rc=0
  mpi "$np" report "$@" --out "$DM_TEST_TMP/rx" > "$DM_TEST_TMP/err.log" 2>&1 || rc=$?
  [[ $rc -ne 124 ]] || fail "np $np report $*: timed out"
  [[ $rc -ne 0 ]] || fail "np $np report $*: expected failure"
  grep -q -- "$pat" "$DM_TEST_TMP/err.log" || { cat "$DM_TEST_TMP/err.log"; fail "np $np: no '$pat'"; }
  [[ ! -e "$DM_TEST_TMP/rx" && ! -e "$DM_TEST_TMP/rx.tmp" ]] || fail "np $np report $*: output left"
}
for np in 1 2 3; do
  expect_fail $np "no such folder" --in "$DM_TEST_TMP/nothere"
  expect_fail $np "workdir:" --in "$DM_TEST_TMP/noworkdir.yaml"
  expect_fail $np "cannot run /nonexistent/python3" --in "$W" --python /nonexistent/python3
  expect_fail $np "cannot find the report program" --in "$W" --program /nonexistent.py
  expect_fail $np "lacks python3-numpy, python3-h5py, python3-matplotlib" --in "$W" \
      --python "$DM_TEST_TMP/barepython"
done
echo "report checks passed"
