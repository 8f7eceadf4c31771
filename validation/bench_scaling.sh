#!/usr/bin/env bash
# Strong- and weak-scaling study with a communication profile (benchmark, not
# a test). Every stage runs under the MPI profiler (validation/mpiprof), which
# records per rank the MPI calls, bytes and seconds; the summary is a CSV and
# a Markdown table, the input of validation/scaling_model.py.
#   bash validation/bench_scaling.sh [WORKDIR]       (default build/bench-scaling)
# Settings (environment):
#   MODES          "strong weak"
#   RANKS          "1 2 4 8 16 32" (ranks beyond the cores are oversubscribed:
#                  the study measures what does not depend on cores)
#   STRONG_EVENTS  2000000   events of the one archive of the strong study
#   WEAK_EVENTS    200000    events per rank of the weak study (N = WEAK_EVENTS x P)
#   STAGES         "ingest weight select train_kde train_svdd score_kde score_svdd"
#   EPOCHS         3         Deep SVDD epochs (highlevel features)
#   TIMEOUT        3600      seconds allowed per stage run
#   KEEP           0         1 keeps every archive and run folder
# Every run: mpirun -np P --oversubscribe --bind-to none, one thread per rank
# (OMP_NUM_THREADS=1), Open MPI's shared-memory path (ob1), the profiler
# preloaded (-x LD_PRELOAD). Outputs in WORKDIR: profile.jsonl (one JSON line
# per rank and run), runs.csv (one line per run: wall clock of mpirun, work),
# scaling.csv and scaling.md (validation/mpiprof/summarize.py), log.* per run.
# A stage that fails stops the study (its log is named).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$here/build/bench-scaling}
modes=${MODES:-strong weak}
ranks=${RANKS:-1 2 4 8 16 32}
strong_events=${STRONG_EVENTS:-2000000}
weak_events=${WEAK_EVENTS:-200000}
stages=${STAGES:-ingest weight select train_kde train_svdd score_kde score_svdd}
epochs=${EPOCHS:-3}
tmo=${TIMEOUT:-3600}
dmpipe=${DMPIPE:-$here/build/bin/dmpipe}
prof_lib=${MPIPROF_LIB:-$here/build/lib/libdm_mpiprof.so}
py=${PYTHON:-/usr/bin/python3}   # with h5py and numpy
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1} OMP_NUM_THREADS=1
export HDF5_PLUGIN_PATH=${HDF5_PLUGIN_PATH:-$here/build/plugins}
[[ -x $dmpipe ]] || { echo "bench_scaling: no $dmpipe (build first)" >&2; exit 1; }
[[ -f $prof_lib ]] || { echo "bench_scaling: no $prof_lib (cmake --build build)" >&2; exit 1; }
mkdir -p "$work"
work=$(cd "$work" && pwd)
prof=$work/profile.jsonl
runs=$work/runs.csv
rm -f "$prof"
echo "mode,ranks,events,stage,label,wall_mpirun_s,work_events,n_selected,n_reference,input_bytes,posix_read_bytes,load1" > "$runs"
echo "== $(date -u +%FT%TZ) modes: $modes; ranks: $ranks; strong $strong_events events, weak $weak_events per rank"
echo "== $(getconf _NPROCESSORS_ONLN) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(mpirun --version | head -1)"

h5rows() { # h5rows FILE DATASET: the first dimension of a dataset
  "$py" -c 'import h5py,sys; print(h5py.File(sys.argv[1], "r")[sys.argv[2]].shape[0])' "$1" "$2"
}

# archive N: a seeded archive of N events in $work/archive-N (generated once,
# on 2 ranks, not profiled).
archive() {
  local n=$1 dir=$work/archive-$1
  if [[ ! -f $dir/.done ]]; then
    rm -rf "$dir"
    timeout "$tmo" mpirun -np 2 --oversubscribe "$dmpipe" generate --out "$dir" --events "$n" \
      --seed 1 --quiet --no-progress > "$work/log.generate-$n" 2>&1 ||
      { echo "bench_scaling: generate $n failed, see $work/log.generate-$n" >&2; exit 1; }
    touch "$dir/.done"
  fi
  echo "$dir"
}

# run MODE P N STAGE WORK NSEL NREF INBYTES POSIXBYTES CMD...: CMD on P ranks
# under the profiler, one line of runs.csv.
run() {
  local mode=$1 p=$2 n=$3 stage=$4 wk=$5 nsel=$6 nref=$7 inb=$8 posixb=$9
  shift 9
  local label="mode=$mode;ranks=$p;events=$n;stage=$stage"
  local log=$work/log.$mode-$p-$stage
  local load=$(cut -d' ' -f1 /proc/loadavg)
  sync
  local s=$(date +%s.%N)
  timeout "$tmo" mpirun -np "$p" --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 \
    -x LD_PRELOAD="$prof_lib" -x DMPIPE_MPIPROF="$prof" -x DMPIPE_MPIPROF_LABEL="$label" \
    "$@" > "$log" 2>&1 || { echo "bench_scaling: $mode P=$p $stage failed, see $log" >&2; exit 1; }
  local e=$(date +%s.%N)
  local wall=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }')
  echo "$mode,$p,$n,$stage,\"$label\",$wall,$wk,$nsel,$nref,$inb,$posixb,$load" >> "$runs"
  printf "  %-6s P=%-3s N=%-9s %-11s %8s s\n" "$mode" "$p" "$n" "$stage" "$wall"
}

has() { [[ " $stages " == *" $1 "* ]]; }

for mode in $modes; do
  for p in $ranks; do
    if [[ $mode == strong ]]; then n=$strong_events; else n=$((weak_events * p)); fi
    arch=$(archive "$n")
    dir=$work/run-$mode-$p
    rm -rf "$dir"
    mkdir -p "$dir"
    cd "$dir"
    csv=$(du -cb "$arch"/*.csv | tail -1 | cut -f1)
    # Each stage needs the previous one's output, so the chain always runs
    # from ingest up to the last stage asked for.
    run "$mode" "$p" "$n" ingest "$n" "$n" 0 "$csv" "$csv" \
      "$dmpipe" ingest --out store.h5 --no-progress "$arch"/*.csv
    store=$(du -b store.h5 | cut -f1)
    if has weight || has select || has train_kde || has train_svdd || has score_kde || has score_svdd; then
      run "$mode" "$p" "$n" weight "$n" "$n" 0 "$store" 0 \
        "$dmpipe" weight --in store.h5 --lumi 10 --quiet --no-progress
    fi
    if has select || has train_kde || has train_svdd || has score_kde || has score_svdd; then
      run "$mode" "$p" "$n" select "$n" "$n" 0 "$store" 0 \
        "$dmpipe" select --in store.h5 --channel chan3 --out chan3.h5 --quiet --no-progress
      nsel=$(h5rows chan3.h5 events/event_id)
      sel=$(du -b chan3.h5 | cut -f1)
    fi
    if has train_kde || has score_kde; then
      run "$mode" "$p" "$n" train_kde "$nsel" "$nsel" 0 "$sel" 0 \
        "$dmpipe" train kde --in chan3.h5 --out kde.model.h5 --quiet --no-progress
      nref=$(h5rows kde.model.h5 model/reference)
    fi
    if has train_svdd || has score_svdd; then
      run "$mode" "$p" "$n" train_svdd "$((nsel * epochs))" "$nsel" 0 "$sel" 0 \
        "$dmpipe" train svdd --in chan3.h5 --out svdd.model.h5 --features highlevel \
        --epochs "$epochs" --quiet --no-progress
    fi
    if has score_kde; then
      # KDE scoring costs one kernel per (event, reference event)
      run "$mode" "$p" "$n" score_kde "$((nsel * nref))" "$nsel" "$nref" "$sel" 0 \
        "$dmpipe" score --model kde.model.h5 --in chan3.h5 --out kde.scores.h5 --quiet --no-progress
    fi
    if has score_svdd; then
      run "$mode" "$p" "$n" score_svdd "$nsel" "$nsel" 0 "$sel" 0 \
        "$dmpipe" score --model svdd.model.h5 --in chan3.h5 --out svdd.scores.h5 --quiet --no-progress
    fi
    cd "$work"
    if [[ ${KEEP:-0} != 1 ]]; then
      rm -rf "$dir"
      if [[ $mode == weak ]]; then rm -rf "$arch"; fi
    fi
  done
done
if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$work"/archive-*; fi
"$py" "$here/validation/mpiprof/summarize.py" "$prof" "$runs" "$work/scaling.csv" > "$work/scaling.md"
cat "$work/scaling.md"
echo "== $(date -u +%FT%TZ) load after $(cut -d' ' -f1-3 /proc/loadavg); CSV $work/scaling.csv"
echo "== projection: $py validation/scaling_model.py $work/scaling.csv"
