# Shared by the dataset tests: strict mode, scratch folder, a seeded store.
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}" "${PYTHON:?}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
check() { "$PYTHON" "$here/check_dataset.py" "$@"; }
rm -rf "$DM_TEST_TMP"
mkdir -p "$DM_TEST_TMP"
cd "$DM_TEST_TMP"
# A seeded archive of top and diboson backgrounds (which pass chan2b and chan3
# often enough for samples of hundreds to thousands) and three signals.
make_store() {
  "$DMPIPE" generate --out arch --events 100000 --seed 11 \
    --processes ttbar,wtop,wtopbar,ww,Zp_01,gluino_03,stop_02 >/dev/null
  "$DMPIPE" ingest --out store.h5 arch/*.csv >/dev/null
}
# expect_fail LOG PATTERN CMD...: the command must fail (within the timeout:
# a hang fails the test) and print PATTERN.
expect_fail() {
  local log=$1 pat=$2
  shift 2
  local rc=0
  timeout 60 "$@" >"$log" 2>&1 || rc=$?
  if [[ $rc -eq 0 ]]; then
    echo "FAIL: expected failure: $*"
    exit 1
  fi
  if [[ $rc -eq 124 ]]; then
    echo "FAIL: timed out (hang): $*"
    exit 1
  fi
  grep -q -- "$pat" "$log" || { echo "FAIL: no '$pat' in:"; cat "$log"; exit 1; }
}
# set_run N: the array `run` becomes the command prefix for N ranks; one rank
# runs without mpiexec (a singleton), as users do.
set_run() {
  if [[ $1 -eq 1 ]]; then run=("$DMPIPE"); else run=("$MPIEXEC" -n "$1" "$DMPIPE"); fi
}
