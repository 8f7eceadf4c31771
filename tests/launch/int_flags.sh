#!/usr/bin/env bash
# Integer flags parse fully or fail naming the flag (exit 2, every rank):
# fractions, values too large to be exact, leading blanks or junk, trailing
# junk, overflow. Exact scientific forms of whole numbers ("2e3") are kept.
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}"
rm -rf "$DM_TEST_TMP"
mkdir -p "$DM_TEST_TMP"
cd "$DM_TEST_TMP"
# np 1 runs alone (a singleton MPI job, as without mpirun); 2 and 3 under
# mpiexec, which is slower to report a failed job, so fewer of them.
run() {
  if (($1 == 1)); then
    timeout 60 "$DMPIPE" "${@:2}" < /dev/null
  else
    timeout 60 "$MPIEXEC" -n "$1" "$DMPIPE" "${@:2}" < /dev/null
  fi
}
expect_usage() {
  local flag=$1 np=$2
  shift 2
  set +e
  run "$np" "$@" > u.out 2>&1
  local rc=$?
  set -e
  if ((rc != 2)) || ! grep -q -- "$flag" u.out; then
    echo "expected exit 2 naming $flag, got $rc from: dmpipe $*" >&2
    cat u.out >&2
    exit 1
  fi
}
for v in 1.5 1e20 " 5" "5 " 5x x5 "" 0x10 99999999999999999999 1e999 nan inf 2.5e0 -- +; do
  expect_usage --events 1 generate --out g --events "$v"
done
for v in 1.5 1e20 " 7" 7x 9223372036854775808; do
  expect_usage --seed 1 generate --out g --events 100 --seed "$v"
  expect_usage --batch 1 weight --in none.h5 --lumi 10 --batch "$v"
  expect_usage --threads 1 weight --in none.h5 --lumi 10 --threads "$v"
done
# bumphunt's --toys: the case the issue names; every rank exits 2 together.
for v in 1.5 1e20 " 3" 3x; do
  expect_usage --toys 1 bumphunt --toys "$v"
done
expect_usage --toys 2 bumphunt --toys 1.5
expect_usage --events 3 generate --out g --events 1e20
expect_usage --k-objects 3 train kde --in none.h5 --out m.h5 --k-objects 2.5
# Exact whole numbers in scientific form still work (people write 1e6).
run 2 generate --out g --events 2e3 --seed 3 --quiet --no-progress
[[ -d g ]]
echo "integer flags: ok"
