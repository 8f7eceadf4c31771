#!/usr/bin/env bash
# The batch scripts under a real (one-machine) Slurm: generate an archive,
# submit jobs/slurm/ingest.sbatch with 2 tasks (srun starts the MPI ranks
# through PMIx), and check the store it wrote event by event against the
# archive with an independent reader (h5py).
set -euo pipefail
tmp=${DM_TEST_TMP:?}
rm -rf "$tmp"; mkdir -p "$tmp"
cluster="$tmp/cluster"
cleanup() { bash "$DM_SOURCE_DIR/jobs/slurm/local-cluster.sh" stop "$cluster"; }
trap cleanup EXIT
eval "$(bash "$DM_SOURCE_DIR/jobs/slurm/local-cluster.sh" start "$cluster")"

"$DMPIPE" generate --out "$tmp/archive" --events 20000 --seed 5 >/dev/null
cd "$tmp"
DMPIPE="$DMPIPE" sbatch --wait -n 2 -o "$tmp/job.out" \
  "$DM_SOURCE_DIR/jobs/slurm/ingest.sbatch" "$tmp/archive" "$tmp/store.h5"
cat "$tmp/job.out"

"$PYTHON" - "$tmp/archive" "$tmp/store.h5" <<'PY'
import glob, os, sys
import h5py, numpy as np
archive, store = sys.argv[1], sys.argv[2]
f = h5py.File(store, "r")
names = [n.decode() if isinstance(n, bytes) else n for n in f["processes/name"][:]]
counts = dict(zip(names, f["processes/n_events"][:]))
total = 0
for path in glob.glob(os.path.join(archive, "*.csv")):
    proc = os.path.basename(path)[:-4]
    with open(path) as fh:
        n = sum(1 for _ in fh)
    assert counts.get(proc, 0) == n, (proc, counts.get(proc), n)
    total += n
assert f["events/event_id"].shape[0] == total, (f["events/event_id"].shape, total)
assert f["events/obj_offset"].shape[0] == total + 1
assert np.all(np.diff(f["events/obj_offset"][:]) == f["events/n_obj"][:])
print("slurm ingest ok:", total, "events,", len(names), "processes")
PY
