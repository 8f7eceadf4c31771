#!/bin/bash
# Provenance checksums: ingest's input checksums and the collective tree
# checksum that train and score record of their inputs are the same
# definition, equal to an independent Python computation, and the same for
# 1, 2 and 3 ranks (each rank reads its own share of the file).
set -euo pipefail
T=$DM_TEST_TMP
rm -rf "$T" && mkdir -p "$T" && cd "$T"
run() { local np=$1; shift; timeout 300 "$MPIEXEC" -n "$np" "$@"; }

# A few MiB of CSV, so files span several 1 MiB blocks.
run 2 "$DMPIPE" generate --out arch --events 30000 --seed 5 --processes ttbar,zz,Zp_01 >/dev/null
: >arch/empty.csv
run 2 "$DMPIPE" ingest --out s.h5 arch/ttbar.csv arch/empty.csv arch/zz.csv arch/Zp_01.csv >/dev/null
run 1 "$DMPIPE" train kde --in s.h5 --out m.h5 --max-train 2000 --seed 3 >/dev/null
for np in 1 2 3; do
  run $np "$DMPIPE" score --model m.h5 --in s.h5 --out sc$np.h5 --quiet
done
$PYTHON "$DM_SOURCE_DIR/tests/io/checksum_tree.py" s.h5 m.h5 sc1.h5 sc2.h5 sc3.h5
for np in 2 3; do
  $PYTHON - sc1.h5 sc$np.h5 <<'PY'
import sys, h5py
a, b = (h5py.File(p, "r").attrs["inputs"] for p in sys.argv[1:])
if a != b:
    sys.exit(f"FAIL: recorded inputs differ between rank counts:\n{a}\n{b}")
PY
done
echo "checksum_tree: ok"
