# Shared set-up of the fault tests: a seeded archive, its store with weights,
# a KDE model, all made once per test in $DM_TEST_TMP. run NP CMD... runs
# dmpipe under mpiexec with a timeout, so a hang fails the test.
set -euo pipefail
T=${DM_TEST_TMP:?}
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { local np=$1; shift; timeout -k 5 90 "$MPIEXEC" -n "$np" "$DMPIPE" "$@"; }
make_inputs() { # events
  rm -rf "$T"; mkdir -p "$T"; cd "$T"
  run 2 generate --out arch --events "$1" --seed 12 > /dev/null
  run 2 ingest --out store.h5 arch/*.csv > /dev/null
  run 2 weight --in store.h5 --lumi 10 --quiet > /dev/null
}
# The outcome every failed run must have: exit 1, the message, and nothing
# under the final name or as a temporary or claim next to it.
expect_clean_failure() { # rc out-file pattern final-path...
  local rc=$1 out=$2 pat=$3; shift 3
  [[ $rc -eq 1 ]] || { cat "$out" >&2; fail "exit $rc, expected 1"; }
  grep -Eq -- "$pat" "$out" || { cat "$out" >&2; fail "no message matching '$pat'"; }
  local f
  for f in "$@"; do
    [[ ! -e $f ]] || fail "$f left behind"
    ! compgen -G "$f.*.tmp" > /dev/null || fail "temporary of $f left behind: $(ls "$f".*.tmp)"
    [[ ! -e $f.lock ]] || fail "claim $f.lock left behind"
  done
}
