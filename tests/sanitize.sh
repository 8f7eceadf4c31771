#!/usr/bin/env bash
# The sanitizer build (part of the test command, tests/run.sh): dmpipe and its
# tests built with clang, AddressSanitizer and UndefinedBehaviorSanitizer
# (failing at the first report) into build/sanitize; then the fast tests
# (CTest label "fast"), the libFuzzer harnesses for a fixed budget each
# (label "fuzz", tests/fuzz), and a short demo chain on 2 ranks:
#   generate -> ingest -> weight -> select -> train kde -> score -> metrics
# (train kde on --features objects too, where UBSan once found a shift of a
# negative value), with hist and dataset hackathon on the way. Exit status: 0 when all of it passed.
#   bash tests/sanitize.sh [EXTRA CTEST ARGS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build="$here/build/sanitize"
cmake -S "$here" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDM_SANITIZE=ON > /dev/null
cmake --build "$build" -j "$(nproc)" > "$build.log" 2>&1 || { tail -40 "$build.log"; exit 1; }

# Open MPI and HDF5 keep allocations until exit by design: leak reports from
# MPI programs would be theirs. The fuzzers (single process) keep leak checks.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
(cd "$build" && ctest --output-on-failure -j "$(nproc)" -L 'fast|fuzz' "$@") || status=1

# The demo chain, small, with the sanitized program.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_pml=ob1 OMP_NUM_THREADS=1
export HDF5_PLUGIN_PATH="$build/plugins"
dmpipe="$build/bin/dmpipe"
work="$build/demo"
rm -rf "$work"
mkdir -p "$work"
chain() {
  local np=2
  mpiexec -n $np "$dmpipe" generate --out "$work/archive" --events 6000 --seed 1 --quiet &&
  mpiexec -n $np "$dmpipe" ingest --out "$work/store.h5" "$work"/archive/*.csv > /dev/null &&
  mpiexec -n $np "$dmpipe" weight --in "$work/store.h5" --lumi 10 --quiet &&
  mpiexec -n $np "$dmpipe" select --in "$work/store.h5" --channel chan3 \
    --out "$work/chan3.h5" --quiet &&
  mpiexec -n $np "$dmpipe" hist --in "$work/chan3.h5" --out "$work/chan3.hist.h5" --quiet &&
  mpiexec -n $np "$dmpipe" dataset hackathon --in "$work/store.h5" --out "$work/hack" \
    --channels chan3 --seed 1 > /dev/null &&
  mpiexec -n $np "$dmpipe" train kde --in "$work/store.h5" --out "$work/kde.h5" --quiet &&
  mpiexec -n $np "$dmpipe" train kde --in "$work/store.h5" --out "$work/kde_obj.h5" \
    --features objects --k-objects 4 --max-train 2000 --quiet &&
  mpiexec -n $np "$dmpipe" score --model "$work/kde.h5" --in "$work/store.h5" \
    --out "$work/kde.scores.h5" --quiet &&
  mpiexec -n $np "$dmpipe" score --model "$work/kde_obj.h5" --in "$work/chan3.h5" \
    --out "$work/kde_obj.scores.h5" --quiet &&
  mpiexec -n $np "$dmpipe" metrics --scores "all=$work/kde.scores.h5" \
    --json "$work/metrics.json" > /dev/null &&
  "$dmpipe" info "$work/chan3.h5" > /dev/null
}
if chain > "$work/chain.log" 2>&1; then
  echo "sanitize: demo chain passed"
else
  echo "sanitize: demo chain FAILED" >&2
  tail -40 "$work/chain.log" >&2
  status=1
fi
exit $status
