#!/usr/bin/env bash
# Scale benchmark (not a test): the whole chain on EVENTS events on NP ranks,
# per stage the wall time, the bytes or events per second and the peak resident
# memory of each rank (GNU time's maximum RSS), as a Markdown table.
#   bash validation/bench_scale.sh [EVENTS] [WORKDIR] [NP]
#     EVENTS   default 10000000 (about 1.5 GB of CSV); 100000000 is about 15 GB
#     WORKDIR  scratch folder (default build/bench-scale-EVENTS); needs about
#              1.5x the CSV size free
#     NP       ranks (default 2)
# REUSE_ARCHIVE=1 keeps an archive already generated in WORKDIR with the same
# EVENTS (generate is then not run again and not in the table).
# Chain: generate -> ingest -> weight -> select chan1, chan2a, chan2b, chan3 ->
# train kde on chan3 (at most 100,000 reference events, the default) -> train
# svdd on chan3 (5 epochs, pool capped at 1,000,000 events) -> score chan3 with
# each -> metrics. Run it on an otherwise idle machine; memory "flat" means the
# peak per rank of every stage at 1e8 events is at most 1.2x its peak at 1e7.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
events=${1:-10000000}
work=${2:-$here/build/bench-scale-$events}
np=${3:-2}
dmpipe=${DMPIPE:-$here/build/bin/dmpipe}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1}
export HDF5_PLUGIN_PATH=${HDF5_PLUGIN_PATH:-$here/build/plugins}
[[ -x /usr/bin/time ]] || { echo "bench_scale: needs GNU time (apt-get install time)" >&2; exit 1; }
mkdir -p "$work"
cd "$work"
echo "== $(date -u +%FT%TZ) $events events, $np ranks, $(getconf _NPROCESSORS_ONLN) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf "| %-22s | %8s | %14s | %22s |\n" stage seconds rate "peak RSS per rank (MB)"
printf "|%s|%s|%s|%s|\n" ------------------------ ---------- ---------------- ------------------------

# stage NAME UNITS AMOUNT CMD...: run CMD on $np ranks, each rank under GNU
# time; print the wall time, AMOUNT/seconds in UNITS and every rank's peak RSS.
stage() {
  local name=$1 units=$2 amount=$3
  shift 3
  rm -f rss.*
  sync
  local s=$(date +%s.%N)
  mpirun -np "$np" bash -c '/usr/bin/time -f %M -o "rss.$OMPI_COMM_WORLD_RANK" "$@"' _ "$@" \
    > "log.$name" 2>&1 || { echo "bench_scale: $name failed, see $work/log.$name" >&2; exit 1; }
  local e=$(date +%s.%N)
  local sec=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.1f", e - s }')
  local rate=$(awk -v a="$amount" -v t="$sec" -v u="$units" \
    'BEGIN { if (u == "MB") printf "%.0f MB/s", a / 1e6 / t; else printf "%.3g ev/s", a / t }')
  local rss=$(for f in $(ls rss.* | sort -t. -k2 -n); do awk '{ printf "%.0f ", $1 / 1024 }' "$f"; done)
  printf "| %-22s | %8s | %14s | %22s |\n" "$name" "$sec" "$rate" "$rss"
}
csv_bytes() { du -cb archive/*.csv | tail -1 | cut -f1; }
store_events() { "$dmpipe" info --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])'; }

rm -rf store.h5* store.derived-* chan*.h5* chan*.derived-* *.model.h5 *.scores.h5
if [[ ${REUSE_ARCHIVE:-0} == 1 && -f archive/.events && $(cat archive/.events) == "$events" ]]; then
  echo "(archive of $events events reused)"
else
  rm -rf archive
  stage generate ev "$events" "$dmpipe" generate --out archive --events "$events" --seed 1
  echo "$events" > archive/.events
fi
bytes=$(csv_bytes)
stage ingest MB "$bytes" "$dmpipe" ingest --out store.h5 archive/*.csv
stage weight ev "$events" "$dmpipe" weight --in store.h5 --lumi 10 --quiet
for ch in chan1 chan2a chan2b chan3; do
  stage "select $ch" ev "$events" "$dmpipe" select --in store.h5 --channel $ch --out $ch.h5 --quiet
done
n3=$(store_events chan3.h5)
stage "train kde chan3" ev "$n3" "$dmpipe" train kde --in chan3.h5 --out kde.model.h5
stage "train svdd chan3" ev "$n3" "$dmpipe" train svdd --in chan3.h5 --out svdd.model.h5 \
  --features highlevel --epochs 5 --max-train 1000000
stage "score kde chan3" ev "$n3" "$dmpipe" score --model kde.model.h5 --in chan3.h5 \
  --out kde.scores.h5 --quiet
stage "score svdd chan3" ev "$n3" "$dmpipe" score --model svdd.model.h5 --in chan3.h5 \
  --out svdd.scores.h5 --quiet
stage "metrics chan3" ev "$n3" "$dmpipe" metrics --scores chan3=kde.scores.h5 --json kde.metrics.json
echo "CSV $(awk -v b="$bytes" 'BEGIN { printf "%.2f GB", b / 1e9 }'), store $(du -b store.h5 | awk '{ printf "%.2f GB", $1 / 1e9 }'), chan3 $n3 events"
echo "== load after $(cut -d' ' -f1-3 /proc/loadavg)"
