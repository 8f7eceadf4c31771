# Shared by the select tests: strict mode, scratch folder, helpers.
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}" "${PYTHON:?}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
check() { "$PYTHON" "$here/check_select.py" "$@"; }
rm -rf "$DM_TEST_TMP"
mkdir -p "$DM_TEST_TMP"
cd "$DM_TEST_TMP"
# mkstore OUT.h5 FILE.csv...: a store from plain CSV files. Uses the ingest
# command when the build has it, else the one-rank test fixture (same schema).
mkstore() {
  local out=$1
  shift
  if "$DMPIPE" ingest --help >/dev/null 2>&1; then
    "$DMPIPE" ingest --out "$out" "$@" >/dev/null
  else
    "$SEL_MKSTORE" "$out" "$@"
  fi
}
# expect_fail LOG PATTERN CMD...: the command must fail and print PATTERN.
expect_fail() {
  local log=$1 pat=$2
  shift 2
  if "$@" >"$log" 2>&1; then
    echo "FAIL: expected failure: $*"
    exit 1
  fi
  grep -q -- "$pat" "$log" || { echo "FAIL: no '$pat' in:"; cat "$log"; exit 1; }
}
# side_files STEM: the derived-column files of the stores named STEM.h5 here
# (index and parts, and any temporary leftovers), one per line.
side_files() { ls -1 "$1".derived-* 2>/dev/null || true; }
# n_derived STORE.h5: how many derived columns h5py sees through the store.
n_derived() { "$PYTHON" -c 'import h5py,sys; print(len(h5py.File(sys.argv[1], "r")["derived"]))' "$1"; }
