# Shared set-up for the ingest CLI tests (sourced).
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}" "${PYTHON:?}" "${DM_FIXTURES:?}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rm -rf "$DM_TEST_TMP"
mkdir -p "$DM_TEST_TMP"
cd "$DM_TEST_TMP"
run() { "$MPIEXEC" -n "$1" "$DMPIPE" "${@:2}"; }
# The real-physics sample, decompressed, in a fixed order.
sample() {
  mkdir -p sample
  local f
  for f in "$DM_FIXTURES"/pythia-sample/*.csv.zst; do
    zstd -qdcf "$f" > "sample/$(basename "$f" .zst)"
  done
  ls sample/*.csv | LC_ALL=C sort
}
# Expect a command to fail with exit status 1 and print a message matching $1.
expect_fail() {
  local pattern=$1
  shift
  set +e
  "$@" > fail.out 2>&1
  local rc=$?
  set -e
  if [[ $rc -ne 1 ]]; then
    echo "expected exit 1, got $rc from: $*" >&2
    cat fail.out >&2
    exit 1
  fi
  if ! grep -q -- "$pattern" fail.out; then
    echo "message does not match '$pattern':" >&2
    cat fail.out >&2
    exit 1
  fi
}
