#!/usr/bin/env bash
# Threads per rank from the cores each rank owns. Affinity is set with
# taskset, so the answer does not depend on the machine: two ranks confined
# to one core, and two ranks sharing two cores unbound (`mpirun --bind-to
# none` on a 2-core node) get one thread each; one rank on two cores gets
# two. --threads and OMP_NUM_THREADS override; oversubscribing a node is
# warned about once, by rank 0.
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}"
rm -rf "$DM_TEST_TMP"
mkdir -p "$DM_TEST_TMP"
cd "$DM_TEST_TMP"
# The tests' environment fixes OMP_NUM_THREADS=1; here the default is tested.
unset OMP_NUM_THREADS
# Any two cores this process may use.
mapfile -t cores < <("${PYTHON:-python3}" -c 'import os; print(*sorted(os.sched_getaffinity(0))[:2], sep="\n")')
((${#cores[@]} == 2)) || { echo "threads.sh needs two cores, has ${#cores[@]}" >&2; exit 1; }
two="${cores[0]},${cores[1]}"
run() { local np=$1 mask=$2; shift 2
  timeout 120 "$MPIEXEC" -n "$np" --bind-to none taskset -c "$mask" "$DMPIPE" "$@" < /dev/null; }
threads_of() { sed -n 's/.*(\([0-9]*\) ranks x \([0-9]*\) threads).*/\1x\2/p' "$1"; }

run 2 "$two" generate --out arch --events 3000 --seed 4 --quiet
check() { # expected "RANKSxTHREADS", warnings expected, then the launch
  local want=$1 warn=$2; shift 2
  run "$@" ingest --out s.h5 arch/*.csv > out.txt 2> err.txt
  local got nw
  got=$(threads_of out.txt)
  nw=$(grep -c "warning: up to" err.txt || true)
  if [[ $got != "$want" || $nw != "$warn" ]]; then
    echo "FAIL $*: got $got threads (want $want), $nw warnings (want $warn)" >&2
    cat out.txt err.txt >&2
    exit 1
  fi
}
check 2x1 0 2 "$two"                  # 2 ranks sharing 2 cores
check 1x2 0 1 "$two"                  # 1 rank owning 2 cores
check 2x1 0 2 "${cores[0]}"           # 2 ranks on 1 core: never 0 threads
check 3x1 0 3 "$two"                  # more ranks than cores: one each, mpirun's call
OMP_NUM_THREADS=2 check 2x2 1 2 "$two" # the user's choice, warned about once
run 2 "$two" ingest --threads 3 --out s.h5 arch/*.csv > out.txt 2> err.txt
[[ $(threads_of out.txt) == 2x3 && $(grep -c "warning: up to" err.txt) == 1 ]]
run 1 "$two" ingest --threads 1 --out s.h5 arch/*.csv > out.txt
[[ $(threads_of out.txt) == 1x1 ]]
echo "threads: ok"
