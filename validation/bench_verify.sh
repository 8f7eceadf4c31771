#!/usr/bin/env bash
# Cost of verifying stores as they are read (io/dm_store.h): the commands that
# read a store, timed with a dmpipe built before the checks (BASE) and with
# them (NEW), alternating, best of RUNS each (the machine is shared; the best
# run is the least disturbed): wall seconds, and CPU seconds (user + system of
# all ranks, less sensitive to other load). Not a test: numbers go to
# validation/README.md.
#   bash validation/bench_verify.sh BASE_DMPIPE NEW_DMPIPE [EVENTS] [RUNS] [NP]
# BASE: e.g. `git archive <commit before the checks> | tar -x -C /tmp/base`,
# built with `cmake -S /tmp/base -B /tmp/base/build -DCMAKE_BUILD_TYPE=Release`.
set -euo pipefail
base=$1 new=$2 events=${3:-1000000} runs=${4:-5} np=${5:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_pml=ob1 OMP_NUM_THREADS=1
export HDF5_PLUGIN_PATH="$here/build/plugins"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mpiexec -n "$np" "$new" generate --out arch --events "$events" --seed 1 --quiet --no-progress
mpiexec -n "$np" "$new" ingest --out s.h5 arch/*.csv > /dev/null
rm -rf arch
"$new" train kde --in s.h5 --out m.h5 --max-train 2000 --quiet --no-progress
cmds=("weight --in s.h5 --lumi 10 --quiet"
      "derive --in s.h5 --force --quiet"
      "select --in s.h5 --channel chan3 --out sel.h5 --quiet"
      "export --in s.h5 --out s.csv"
      "score --model m.h5 --in s.h5 --out sc.h5 --quiet"
      "info s.h5")
best() { sort -g | head -1; }
printf "| %-52s | %14s | %14s | %15s |\n" "command ($events events, np $np)" "before wall/cpu" \
  "after wall/cpu" "change wall/cpu"
printf "|%s|%s|%s|%s|\n" "$(printf -- '-%.0s' {1..54})" "----------------" "----------------" \
  "-----------------"
for c in "${cmds[@]}"; do
  tb=() tn=() cb=() cn=()
  for ((r = 0; r < runs; r++)); do
    for which in base new; do
      exe=$base
      [[ $which == new ]] && exe=$new
      extra=()
      # Only the new dmpipe knows --no-progress; the old one is quiet in a log.
      [[ $which == new && $c != info* ]] && extra=(--no-progress)
      /usr/bin/time -f "%e %U %S" -o t.txt mpiexec -n "$np" "$exe" $c "${extra[@]}" > /dev/null
      read -r t u sy < t.txt
      cpu=$(echo "$u + $sy" | bc -l)
      if [[ $which == base ]]; then tb+=("$t") cb+=("$cpu"); else tn+=("$t") cn+=("$cpu"); fi
    done
  done
  b=$(printf "%s\n" "${tb[@]}" | best) n=$(printf "%s\n" "${tn[@]}" | best)
  bc_=$(printf "%s\n" "${cb[@]}" | best) nc=$(printf "%s\n" "${cn[@]}" | best)
  printf "| %-52s | %6.2f / %6.2f | %6.2f / %6.2f | %+6.1f%% / %+5.1f%% |\n" "$c" "$b" "$bc_" "$n" "$nc" \
    "$(echo "100 * ($n - $b) / $b" | bc -l)" "$(echo "100 * ($nc - $bc_) / $bc_" | bc -l)"
done
