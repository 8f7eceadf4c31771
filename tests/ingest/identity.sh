#!/usr/bin/env bash
# The store's datasets are identical for np = 1, 2, 3, 4, with stripes small
# enough (64 KiB) that lines straddle stripe boundaries and every rank gets
# work from several files, and chunks small enough to be shared by ranks.
source "$(dirname "$0")/common.sh"
mapfile -t inputs < <(sample)
for np in 1 2 3 4; do
  run $np ingest --out np$np.h5 --stripe-kb 64 --chunk-events 1000 "${inputs[@]}" > np$np.log
done
"$PYTHON" "$here/compare_stores.py" np1.h5 np2.h5 np3.h5 np4.h5
# Default stripes (one per file here) give the same datasets too.
run 2 ingest --out big.h5 "${inputs[@]}" > big.log
"$PYTHON" - <<'PY'
import h5py, numpy as np
a, b = h5py.File("np1.h5"), h5py.File("big.h5")
for g in ("events", "objects"):
    for k in a[g]:
        assert np.array_equal(a[g][k][()], b[g][k][()]), k
print("ok: 32 MiB and 64 KiB stripes give the same datasets")
PY
# Threads split a stripe at line boundaries: same store as one thread.
cat "${inputs[@]}" "${inputs[@]}" > twice.csv
run 1 ingest --out t1.h5 --threads 1 --stripe-kb 8192 twice.csv > t1.log
run 2 ingest --out t3.h5 --threads 3 --stripe-kb 8192 twice.csv > t3.log
grep -q "x 3 threads" t3.log
"$PYTHON" "$here/compare_stores.py" t1.h5 t3.h5
