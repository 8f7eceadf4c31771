#!/usr/bin/env bash
# Ingest benchmark (not a test): MB/s and events/s per rank for np 1 and 2 on
# an archive of at least 1 GB made by dmpipe generate, beside `wc -l` on the
# same bytes (the floor for reading them), the plain Python converter
# (validation/peer_ingest.py), and the sizes of the store, the CSV and
# `zstd -19` of the CSV.
#   bash validation/bench_ingest.sh [EVENTS] [WORKDIR]   (default 6500000 (about 1 GB), ./bench-ingest)
# Run it on a quiet machine; it takes a few minutes. The files are read from
# the page cache after the first pass (the numbers say so).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
events=${1:-6500000}
work=${2:-$PWD/bench-ingest}
dmpipe=${DMPIPE:-$here/build/bin/dmpipe}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1
export HDF5_PLUGIN_PATH=${HDF5_PLUGIN_PATH:-$here/build/plugins}
mkdir -p "$work"
cd "$work"
if [[ ! -f archive.csv ]]; then
  rm -rf gen
  mpirun -np 2 "$dmpipe" generate --out gen --events "$events" --seed 1 > /dev/null
  cat $(ls gen/*.csv | LC_ALL=C sort) > archive.csv
  rm -rf gen
fi
bytes=$(stat -c %s archive.csv)
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
echo "archive: $mb MB, $(wc -l < archive.csv) events"
cat archive.csv > /dev/null  # warm the page cache for every contender alike

t() { local s=$(date +%s.%N); "$@" > /dev/null; local e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f", e - s }'; }
rate() { awk -v b="$bytes" -v s="$1" -v n="$2" 'BEGIN { printf "%.0f", b / 1e6 / s / n }'; }
lines=$(wc -l < archive.csv)
evrate() { awk -v l="$lines" -v s="$1" -v n="$2" 'BEGIN { printf "%.0f", l / s / n }'; }

printf "| %-34s | %6s | %10s | %14s |\n" "run" "s" "MB/s/rank" "events/s/rank"
printf "|%s|%s|%s|%s|\n" "------------------------------------" "--------" "------------" "----------------"
s=$(t wc -l archive.csv)
printf "| %-34s | %6s | %10s | %14s |\n" "wc -l (read floor)" "$s" "$(rate $s 1)" "$(evrate $s 1)"
for np in 1 2; do
  rm -f store$np.h5
  s=$(t mpirun -np $np "$dmpipe" ingest --out store$np.h5 --json ingest$np.json archive.csv)
  printf "| %-34s | %6s | %10s | %14s |\n" "dmpipe ingest, np $np (zstd 3)" "$s" "$(rate $s $np)" "$(evrate $s $np)"
done
rm -f peer.h5
s=$(t /usr/bin/python3 "$here/validation/peer_ingest.py" peer.h5 archive.csv)
printf "| %-34s | %6s | %10s | %14s |\n" "peer_ingest.py (h5py, gzip-1)" "$s" "$(rate $s 1)" "$(evrate $s 1)"
zs=$(t zstd -19 -T1 -q -f archive.csv -o archive.csv.zst)
echo
echo "sizes: CSV $mb MB; store $(awk -v a=$(stat -c %s store1.h5) -v b=$bytes 'BEGIN { printf "%.1f MB (%.1f%%)", a / 1e6, 100 * a / b }');" \
     "zstd -19 $(awk -v a=$(stat -c %s archive.csv.zst) -v b=$bytes 'BEGIN { printf "%.1f MB (%.1f%%)", a / 1e6, 100 * a / b }') in ${zs} s;" \
     "peer $(awk -v a=$(stat -c %s peer.h5) -v b=$bytes 'BEGIN { printf "%.1f MB (%.1f%%)", a / 1e6, 100 * a / b }')"
/usr/bin/python3 - <<'PY'
import json
for np_ in (1, 2):
    j = json.load(open(f"ingest{np_}.json"))
    t = j["slowest_rank_seconds"]
    print(f"np {np_}: internal {j['seconds']:.2f} s (read wait {t['read_wait']:.2f}, parse {t['parse']:.2f}, "
          f"write {t['write']:.2f}, exchange {t['exchange']:.2f})")
PY
echo "identical stores for np 1 and 2: $(h5diff -q store1.h5 store2.h5 /events /events && h5diff -q store1.h5 store2.h5 /objects /objects && echo yes)"
