# The MPI profiler (validation/mpiprof) under np 1, 2, 3 on a program whose
# calls are known (tests/mpiprof/mpiprof_probe.c), then under dmpipe ingest on
# 2 ranks. Every run has a timeout.
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}" "${PYTHON:?}" "${DM_FIXTURES:?}"
: "${DM_MPIPROF_LIB:?}" "${DM_MPIPROF_PROBE:?}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rm -rf "$DM_TEST_TMP"
mkdir -p "$DM_TEST_TMP"
cd "$DM_TEST_TMP"
prof() { # prof NP PROFILE LABEL CMD...: CMD on NP ranks under the profiler
  timeout 120 "$MPIEXEC" -n "$1" -x LD_PRELOAD="$DM_MPIPROF_LIB" -x DMPIPE_MPIPROF="$PWD/$2" \
    -x DMPIPE_MPIPROF_LABEL="$3" "${@:4}"
}

for np in 1 2 3; do
  prof "$np" probe$np.jsonl "probe np=$np" "$DM_MPIPROF_PROBE" probe$np.bin
  "$PYTHON" "$here/check_profile.py" probe probe$np.jsonl "$np" "probe np=$np"
done

# Profiling off: no DMPIPE_MPIPROF, no file; the program runs as without it.
timeout 60 "$MPIEXEC" -n 2 -x LD_PRELOAD="$DM_MPIPROF_LIB" "$DM_MPIPROF_PROBE" off.bin
if compgen -G '*.jsonl' | grep -qv '^probe[123]\.jsonl$'; then
  echo "a profile was written without DMPIPE_MPIPROF" >&2
  exit 1
fi

# dmpipe ingest of the Pythia sample on 2 ranks, small stripes and chunks so
# every rank writes chunks and exchanges chunk pieces.
prof 2 ingest.jsonl "ingest" "$DMPIPE" ingest --out s.h5 --stripe-kb 1024 --chunk-events 2048 \
  --no-progress "$DM_FIXTURES"/pythia-sample/*.csv.zst > ingest.out
"$PYTHON" "$here/check_profile.py" ingest ingest.jsonl 2 s.h5
