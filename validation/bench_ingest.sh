#!/usr/bin/env bash
# Ingest benchmark (not a test): MB/s and events/s per rank for np 1 and 2
# (each rank bound to a core) on two archives side by side, in one run: one
# of at least 1 GB made by dmpipe generate, and one of at least 1 GB built
# from the public Pythia sample (tests/fixtures/pythia-sample, repeated with
# each file's lines shuffled anew in every copy and the event IDs renumbered:
# validation/make_pythia_archive.py); the 1 -> 2 rank scaling of each, and
# the machine's ceiling for it (two independent one-rank ingests at once, each
# on half the archive, each on its own core). Beside
# them, on the generated archive: `wc -l` on the same bytes (the floor for
# reading them), the plain Python converter (validation/peer_ingest.py), and
# the sizes of the store, the CSV and `zstd -3` / `zstd -9` of the CSV; with
# Z19=1 also `zstd -19` (about 7 minutes per GB on 2 cores).
#   [REPEAT=5] [PYTHIA_MB=1024] [PEER=1] [Z19=1] bash validation/bench_ingest.sh [EVENTS] [WORKDIR]
#     EVENTS     default 6500000 (about 1.02 GB of CSV)
#     WORKDIR    scratch folder for the archives and the stores (default build/bench-ingest)
#     PYTHIA_MB  size of the Pythia-built archive in MB (default 1024: 1.02 GB)
#     PEER=0     skips the Python converter (about 50 s per GB)
# Self-contained: it makes its own archives (kept in WORKDIR for later runs).
# Run it on a quiet machine: it prints the load average before and after,
# and every timed run is repeated (REPEAT, default 5) and the fastest kept.
# The files are read from the page cache (warmed first, for every contender);
# `sync` before each timed run, so no run pays for the writeback of another.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
events=${1:-6500000}
work=${2:-$here/build/bench-ingest}
repeat=${REPEAT:-5}
dmpipe=${DMPIPE:-$here/build/bin/dmpipe}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1
# One machine: shared memory (ob1 + vader) instead of UCX, whose start-up
# costs 0.2 s per run here and brings nothing within a node.
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1}
export HDF5_PLUGIN_PATH=${HDF5_PLUGIN_PATH:-$here/build/plugins}
mkdir -p "$work"
cd "$work"
if [[ ! -f archive.csv || "$(cat archive.events 2>/dev/null)" != "$events" ]]; then
  rm -rf gen archive.csv
  mpirun -np 2 "$dmpipe" generate --out gen --events "$events" --seed 1 > /dev/null
  cat $(ls gen/*.csv | LC_ALL=C sort) > archive.csv
  echo "$events" > archive.events
  rm -rf gen
fi
pythia_mb=${PYTHIA_MB:-1024}
if [[ ! -f pythia.csv || "$(cat pythia.mb 2>/dev/null)" != "$pythia_mb" ]]; then
  rm -f pythia.csv
  /usr/bin/python3 "$here/validation/make_pythia_archive.py" pythia.csv "$pythia_mb" > /dev/null
  echo "$pythia_mb" > pythia.mb
fi
bytes=$(stat -c %s archive.csv)
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
lines=$(wc -l < archive.csv)
pbytes=$(stat -c %s pythia.csv)
plines=$(wc -l < pythia.csv)
echo "archives: generated $mb MB, $lines events; Pythia-built $(awk -v b="$pbytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB, $plines events"
echo "$(getconf _NPROCESSORS_ONLN) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm the page cache for every contender alike.
cat archive.csv > /dev/null
cat pythia.csv > /dev/null

# t CMD...: wall seconds of the fastest of $repeat runs (or 1 run with ONCE=1).
t() {
  local best="" n=$repeat
  [[ "${ONCE:-0}" == 1 ]] && n=1
  for ((i = 0; i < n; i++)); do
    # Dirty pages of earlier runs would throttle this run's writes.
    sync
    local s=$(date +%s.%N)
    "$@" > /dev/null
    local e=$(date +%s.%N)
    best=$(awk -v s="$s" -v e="$e" -v b="$best" 'BEGIN { d = e - s; if (b == "" || d < b) b = d; printf "%.2f", b }')
  done
  echo "$best"
}
# rate SECONDS RANKS [BYTES], evrate SECONDS RANKS [LINES]: per rank.
rate() { awk -v b="${3:-$bytes}" -v s="$1" -v n="$2" 'BEGIN { printf "%.0f", b / 1e6 / s / n }'; }
evrate() { awk -v l="${3:-$lines}" -v s="$1" -v n="$2" 'BEGIN { printf "%.0f", l / s / n }'; }
# faster A B: true when A is below B, or there is no B yet.
faster() { [[ -z "$2" ]] || awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
# keep K WALL STAGE: one run of K; the fastest wall and stage times are kept
# (separately), true when this run's stage time is the fastest yet.
keep() {
  if faster "$2" "${wall[$1]:-}"; then wall[$1]=$2; fi
  faster "$3" "${inner[$1]:-}" || return 1
  inner[$1]=$3
}
# ratio A B: the speed-up A / B.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
# row LABEL SECONDS RANKS [BYTES LINES]
row() { printf "| %-60s | %6s | %10s | %14s |\n" "$1" "$2" "$(rate $2 $3 ${4:-})" "$(evrate $2 $3 ${5:-})"; }

printf "| %-60s | %6s | %10s | %14s |\n" "run" "s" "MB/s/rank" "events/s/rank"
printf "|%s|%s|%s|%s|\n" "--------------------------------------------------------------" "--------" "------------" "----------------"
row "wc -l (read floor), generated" "$(t wc -l archive.csv)" 1
declare -A wall inner
# The two archives side by side: name, file, bytes, lines.
for arch in "generated archive.csv $bytes $lines" "Pythia-built pythia.csv $pbytes $plines"; do
  read -r aname afile abytes alines <<< "$arch"
  for np in 1 2; do
    # Fastest of $repeat runs, separately for the wall time (mpirun start and
    # MPI set-up included) and the stage's own time (from its --json report).
    # The store is removed first: a run never finds its output in the cache.
    k=$aname.$np
    for ((i = 0; i < repeat; i++)); do
      rm -f store.$k.h5 store.$k.derived-*.h5
      sync
      s=$(date +%s.%N)
      mpirun -np $np --bind-to core "$dmpipe" ingest --out store.$k.h5 --json ingest.$k.try.json \
        "$afile" > /dev/null
      e=$(date +%s.%N)
      w=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f", e - s }')
      st=$(/usr/bin/python3 -c "import json; print('%.2f' % json.load(open('ingest.$k.try.json'))['seconds'])")
      if keep "$k" "$w" "$st"; then
        cp ingest.$k.try.json ingest.$k.json
      fi
    done
    rm -f ingest.$k.try.json
    row "dmpipe ingest, $aname, np $np, wall (with mpirun start)" "${wall[$k]}" $np $abytes $alines
    row "dmpipe ingest, $aname, np $np, stage" "${inner[$k]}" $np $abytes $alines
  done
  # The machine's own ceiling for 1 -> 2: two independent one-rank ingests at
  # once, each on half of the archive (split at a line), each pinned to its own
  # core. No message passes between them, so what they lose against one rank
  # alone is what the two cores lose by sharing the memory bus, the caches and
  # the kernel, and no MPI code can win back.
  k=$aname.pair
  split -n l/2 -d --additional-suffix=.csv "$afile" "half.$aname."
  cat "half.$aname.00.csv" "half.$aname.01.csv" > /dev/null
  for ((i = 0; i < repeat; i++)); do
    rm -f pair.$k.[01].h5 pair.$k.[01].derived-*.h5 pair.$k.[01].json
    sync
    s=$(date +%s.%N)
    # Each launcher its own session folder: two mpirun started at once race
    # for the same one under /tmp, and one of them fails.
    pids=()
    for c in 0 1; do
      mkdir -p "ompi.$c"
      OMPI_MCA_orte_tmpdir_base=$PWD/ompi.$c mpirun -np 1 --bind-to none taskset -c $c \
        "$dmpipe" ingest --out pair.$k.$c.h5 --json pair.$k.$c.json "half.$aname.0$c.csv" > /dev/null &
      pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    e=$(date +%s.%N)
    w=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f", e - s }')
    st=$(/usr/bin/python3 -c "import json; print('%.2f' % max(json.load(open('pair.$k.%d.json' % c))['seconds'] for c in (0, 1)))")
    keep "$k" "$w" "$st" || true
  done
  rm -rf pair.$k.[01].h5 pair.$k.[01].derived-*.h5 pair.$k.[01].json "half.$aname.00.csv" "half.$aname.01.csv" ompi.0 ompi.1
  row "2 independent np 1 on halves, $aname, wall (ceiling)" "${wall[$k]}" 2 $abytes $alines
  row "2 independent np 1 on halves, $aname, stage (ceiling)" "${inner[$k]}" 2 $abytes $alines
done
if [[ "${PEER:-1}" == 1 ]]; then
  peer=$(ONCE=1 t /usr/bin/python3 "$here/validation/peer_ingest.py" peer.h5 archive.csv)
  row "peer_ingest.py (h5py, gzip-1, one run), generated" "$peer" 1
fi
echo
for aname in generated Pythia-built; do
  echo "scaling np 1 -> 2, $aname: wall $(ratio ${wall[$aname.1]} ${wall[$aname.2]})," \
       "stage $(ratio ${inner[$aname.1]} ${inner[$aname.2]}); the machine's ceiling (two" \
       "independent halves): wall $(ratio ${wall[$aname.1]} ${wall[$aname.pair]})," \
       "stage $(ratio ${inner[$aname.1]} ${inner[$aname.pair]})"
done
# CPU per CSV byte of one np 1 run, all threads and the launcher included.
rm -f store1.h5 store1.derived-*.h5
sync
cpu=$( { /usr/bin/time -f "%U %S" mpirun -np 1 --bind-to core "$dmpipe" ingest --out store1.h5 archive.csv > /dev/null; } 2>&1 | tail -1)
echo "CPU per CSV byte, np 1 (user + system, mpirun included): $(awk -v c="$cpu" -v b="$bytes" 'BEGIN { split(c, x, " "); printf "%.2f ns (%.2f s user, %.2f s system)", (x[1] + x[2]) / b * 1e9, x[1], x[2] }')"
z3=$(ONCE=1 t zstd -3 -T0 -q -f archive.csv -o archive.csv.3.zst)
z9=$(ONCE=1 t zstd -9 -T0 -q -f archive.csv -o archive.csv.9.zst)
pct() { awk -v a="$(stat -c %s "$1")" -v b="${2:-$bytes}" 'BEGIN { printf "%.1f MB (%.1f%%)", a / 1e6, 100 * a / b }'; }
peer_size=""
[[ -f peer.h5 && "${PEER:-1}" == 1 ]] && peer_size="peer $(pct peer.h5); "
echo "sizes: generated CSV $mb MB; store $(pct store1.h5); ${peer_size}zstd -3 $(pct archive.csv.3.zst) in ${z3} s," \
     "zstd -9 $(pct archive.csv.9.zst) in ${z9} s (all cores); Pythia-built store $(pct store.Pythia-built.1.h5 $pbytes)"
if [[ "${Z19:-0}" == 1 ]]; then
  z19=$(ONCE=1 t zstd -19 -T0 -q -f archive.csv -o archive.csv.19.zst)
  echo "zstd -19 $(pct archive.csv.19.zst) in ${z19} s (all cores)"
fi
/usr/bin/python3 - <<'PY'
import json
for name in ("generated", "Pythia-built"):
    for np_ in (1, 2):
        j = json.load(open(f"ingest.{name}.{np_}.json"))
        t = j["slowest_rank_seconds"]
        c = j["chunk_placement"]
        print(f"{name}, np {np_}, fastest run: stage {j['seconds']:.2f} s (slowest rank: read wait "
              f"{t['read_wait']:.2f}, parse {t['parse']:.2f}, write {t['write']:.2f} (compress "
              f"{t['compress']:.2f}, MPI-IO {t['mpiio']:.2f}), exchange {t['exchange']:.2f}); "
              f"{j['stripes']} stripes of {j['stripe_bytes'] >> 20} MiB in {j['rounds']} rounds; "
              f"{c['chunks']} chunks placed by rank 0 in {c['rank0_seconds']:.3f} s")
PY
same() { h5diff -q "$1" "$2" /events /events && h5diff -q "$1" "$2" /objects /objects && h5diff -q "$1" "$2" /processes /processes && echo yes; }
echo "identical stores for np 1 and 2: generated $(same store.generated.1.h5 store.generated.2.h5)," \
     "Pythia-built $(same store.Pythia-built.1.h5 store.Pythia-built.2.h5)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
