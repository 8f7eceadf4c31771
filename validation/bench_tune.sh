#!/usr/bin/env bash
# File-system tuning benchmark (not a test): dmpipe ingest of one generated
# archive on 1 and 2 ranks under each tuning setting (README, "Tuning for a
# cluster file system"): the defaults, HDF5 alignment, MPI-IO collective
# buffering hints, a bigger metadata cache and metadata blocks, and chunks of
# half and twice the default size. Fastest of REPEAT runs each (stage time
# from --json, wall time with mpirun's start, CPU seconds of all ranks and
# mpirun: user + system, the steadier figure on a shared machine), MB/s per
# rank, store size, rank 0's chunk placement.
#   [REPEAT=3] bash validation/bench_tune.sh [EVENTS] [WORKDIR]
#     EVENTS   default 6500000 (about 1.03 GB of CSV, as bench_ingest.sh)
#     WORKDIR  default build/bench-ingest (shares bench_ingest.sh's archive)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
events=${1:-6500000}
work=${2:-$here/build/bench-ingest}
repeat=${REPEAT:-3}
dmpipe=${DMPIPE:-$here/build/bin/dmpipe}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1}
export HDF5_PLUGIN_PATH=${HDF5_PLUGIN_PATH:-$here/build/plugins}
[[ -x /usr/bin/time ]] || { echo "bench_tune: needs GNU time (apt-get install time)" >&2; exit 1; }
mkdir -p "$work"
cd "$work"
if [[ ! -f archive.csv || "$(cat archive.events 2>/dev/null)" != "$events" ]]; then
  rm -rf gen archive.csv
  mpirun -np 2 "$dmpipe" generate --out gen --events "$events" --seed 1 > /dev/null
  cat $(ls gen/*.csv | LC_ALL=C sort) > archive.csv
  echo "$events" > archive.events
  rm -rf gen
fi
bytes=$(stat -c %s archive.csv)
echo "archive: $(awk -v b="$bytes" 'BEGIN { printf "%.1f MB", b / 1e6 }'), $events events;" \
     "$(getconf _NPROCESSORS_ONLN) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cat archive.csv > /dev/null

# name | environment (space-separated VAR=VALUE, "-" none) | extra ingest flags
configs=(
  "defaults|-|"
  "alignment 64K:1M|DMPIPE_H5_ALIGNMENT=64K:1M|"
  "alignment 512K:1M|DMPIPE_H5_ALIGNMENT=512K:1M|"
  "cb hints|DMPIPE_MPIIO_HINTS=cb_buffer_size=16777216,cb_nodes=2,romio_cb_write=enable,romio_cb_read=enable|"
  "mdc 32M + meta block 1M|DMPIPE_H5_MDC=32M DMPIPE_H5_META_BLOCK=1M|"
  "chunks 0.5x (--chunk-events 32768)|-|--chunk-events 32768"
  "chunks 2x (--chunk-events 131072)|-|--chunk-events 131072"
)
printf "| %-36s | %2s | %8s | %8s | %7s | %10s | %10s | %8s | %9s |\n" setting np "stage s" \
  "wall s" "CPU s" "MB/s/rank" "(wall)" "store MB" "place s"
printf "|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n" -------------------------------------- ---- ---------- \
  ---------- --------- ------------ ------------ ---------- -----------
for cfg in "${configs[@]}"; do
  IFS='|' read -r name envs flags <<< "$cfg"
  [[ "$envs" == "-" ]] && envs=""
  for np in 1 2; do
    best_s="" best_w="" best_c="" place=""
    for ((i = 0; i < repeat; i++)); do
      rm -f tune.h5
      sync
      s=$(date +%s.%N)
      cpu=$( { env $envs /usr/bin/time -f "%U %S" mpirun -np $np --bind-to core "$dmpipe" ingest \
        --out tune.h5 --json tune.json $flags archive.csv > /dev/null; } 2>&1 | tail -1)
      e=$(date +%s.%N)
      c=$(awk -v c="$cpu" 'BEGIN { split(c, x, " "); printf "%.2f", x[1] + x[2] }')
      if [[ -z "$best_c" ]] || awk -v a="$c" -v b="$best_c" 'BEGIN { exit !(a < b) }'; then
        best_c=$c
      fi
      w=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f", e - s }')
      read -r st pl < <(/usr/bin/python3 -c "import json; j = json.load(open('tune.json')); print('%.2f %.3f' % (j['seconds'], j['chunk_placement']['rank0_seconds']))")
      if [[ -z "$best_s" ]] || awk -v a="$st" -v b="$best_s" 'BEGIN { exit !(a < b) }'; then
        best_s=$st
        place=$pl
      fi
      if [[ -z "$best_w" ]] || awk -v a="$w" -v b="$best_w" 'BEGIN { exit !(a < b) }'; then
        best_w=$w
      fi
    done
    size=$(stat -c %s tune.h5)
    printf "| %-36s | %2d | %8s | %8s | %7s | %10.0f | %10.0f | %8.1f | %9s |\n" "$name" $np \
      "$best_s" "$best_w" "$best_c" "$(awk -v b="$bytes" -v t="$best_s" -v n=$np 'BEGIN { print b / 1e6 / t / n }')" \
      "$(awk -v b="$bytes" -v t="$best_w" -v n=$np 'BEGIN { print b / 1e6 / t / n }')" \
      "$(awk -v b="$size" 'BEGIN { print b / 1e6 }')" "$place"
  done
done
rm -f tune.h5 tune.json
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
