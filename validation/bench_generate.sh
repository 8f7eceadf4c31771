#!/usr/bin/env bash
# Generate benchmark (not a test): events/s per rank of `dmpipe generate`, all
# processes, np 1 and np 2, end to end (models, formatting, writing the files),
# by the wall clock (the report's slowest-rank time) and per CPU-second (user +
# sys of all ranks, from /usr/bin/time), with the load average beside them.
#   bash validation/bench_generate.sh [EVENTS] [WORKDIR] [REPEATS]
#        (default 10000000, ./bench-generate, 1)
# The issue's target is 1e6 events/s per rank by the wall clock on an
# otherwise idle machine: wall-clock rates measured under load are lower
# bounds, the per-CPU-second rates are the better guide then. Each run starts
# from an empty folder after `sync`, so earlier runs' dirty pages are not
# flushed during the timing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
events=${1:-10000000}
work=${2:-$PWD/bench-generate}
repeats=${3:-1}
dmpipe=${DMPIPE:-$here/build/bin/dmpipe}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1
mkdir -p "$work"
cd "$work"

printf "| %5s | %8s | %16s | %12s | %12s | %16s | %14s | %8s |\n" "ranks" "wall (s)" \
  "events/s/rank" "user (s)" "sys (s)" "events/CPU-s" "MB written" "load"
printf "|%s|%s|%s|%s|%s|%s|%s|%s|\n" "-------" "----------" "------------------" \
  "--------------" "--------------" "------------------" "----------------" "----------"
for np in 1 2; do
  for ((r = 0; r < repeats; r++)); do
    rm -rf out
    sync
    load=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -f "%U %S" -o time.txt \
      mpirun -np "$np" "$dmpipe" generate --out out --events "$events" --quiet --json gen.json
    read -r user sys < time.txt
    /usr/bin/python3 - "$np" "$user" "$sys" "$load" <<'PY'
import json, sys
np_, user, sys_, load = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
j = json.load(open("gen.json"))
n, s = j["events"], j["seconds"]
print(f"| {np_:5d} | {s:8.2f} | {n / s / np_:16.3e} | {user:12.2f} | {sys_:12.2f} | "
      f"{n / (user + sys_):16.3e} | {j['bytes'] / 1e6:14.0f} | {load:>8} |")
PY
  done
done
rm -rf out
