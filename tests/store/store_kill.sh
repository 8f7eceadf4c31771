#!/usr/bin/env bash
# kill -9 at any moment of `derive --force` or `weight` (all ranks and mpirun
# at once, as when a node dies) leaves a store whose derived columns read
# whole: the previous ones or the new ones, never a mix, never an error; the
# next run then succeeds. Reference values come from an untouched copy.
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}" "${PYTHON:?}"
rm -rf "$DM_TEST_TMP"
mkdir -p "$DM_TEST_TMP"
cd "$DM_TEST_TMP"
"$MPIEXEC" -n 2 "$DMPIPE" generate --out arch --events 300000 --seed 9 --quiet >/dev/null
"$MPIEXEC" -n 2 "$DMPIPE" ingest --out k.h5 arch/*.csv >/dev/null
"$MPIEXEC" -n 2 "$DMPIPE" weight --in k.h5 --lumi 10 --quiet
"$MPIEXEC" -n 2 "$DMPIPE" derive --in k.h5 --quiet
mkdir ref && cp k.h5 k.derived-* ref/
"$MPIEXEC" -n 2 "$DMPIPE" weight --in ref/k.h5 --lumi 20 --quiet   # the new weights
"$PYTHON" - <<'PY'
import h5py, numpy as np
r = h5py.File("ref/k.h5", "r")["derived"]
np.savez("ref.npz", **{k: r[k][:] for k in r})
PY
check() {
  "$PYTHON" - "$1" <<'PY'
import sys, h5py, numpy as np
ref = np.load("ref.npz")
d = h5py.File("k.h5", "r")["derived"]
assert sorted(d) == sorted(ref.files), (sorted(d), ref.files)
for k in ref.files:
    if k == "weight":
        w = d[k][:]
        # Whole old (10 fb^-1) or whole new (20 fb^-1) weights.
        assert np.array_equal(w, ref[k]) or np.array_equal(2 * w, ref[k]), "weight mixed"
    else:
        assert np.array_equal(d[k][:], ref[k], equal_nan=True), k
print(sys.argv[1], "ok")
PY
  "$DMPIPE" info k.h5 >/dev/null
}
n=0
for delay in 0.4 0.7 1.0 1.3; do
  for cmd in "derive --in k.h5 --force --quiet" "weight --in k.h5 --lumi 20 --quiet" \
             "weight --in k.h5 --lumi 10 --quiet"; do
    # setsid: mpirun and its ranks share one new session (each rank has a
    # process group of its own), so every member is killed at once by id.
    setsid "$MPIEXEC" -n 2 "$DMPIPE" $cmd &
    pid=$!
    sleep "$delay"
    kill -9 $(ps -o pid= -s "$pid") 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for _ in $(seq 50); do [[ -z "$(ps -o pid= -s "$pid")" ]] && break; sleep 0.1; done
    [[ -z "$(ps -o pid= -s "$pid")" ]]
    check "after kill -9 at ${delay}s of: $cmd"
    n=$((n + 1))
  done
done
# And the next runs complete.
"$MPIEXEC" -n 2 "$DMPIPE" derive --in k.h5 --force --quiet
"$MPIEXEC" -n 3 "$DMPIPE" weight --in k.h5 --lumi 20 --quiet
check "after clean runs"
"$PYTHON" - <<'PY'
import h5py, numpy as np
w = h5py.File("k.h5", "r")["derived/weight"][:]
assert np.array_equal(w, np.load("ref.npz")["weight"])
PY
echo "store_kill ok: $n kills, state whole every time"
