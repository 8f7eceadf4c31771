#!/usr/bin/env bash
# dmpipe catalog on 1, 2 and 3 ranks: per-sample stores joined into one store
# whose datasets equal one ingest of the same CSV files (h5py reads it as one
# store); bad inputs fail on every rank with a message naming the file and
# leave no catalog (under a timeout, so a hang fails).
source "$(dirname "$0")/common.sh"
"$DMPIPE" generate --out archive --events 12000 --seed 31 --processes ttbar,w_jets,gluino_01,Zp_01 >/dev/null
files=(archive/Zp_01.csv archive/gluino_01.csv archive/ttbar.csv archive/w_jets.csv)
timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" ingest --out all.h5 "${files[@]}" >/dev/null
for f in "${files[@]}"; do
  b=$(basename "$f" .csv)
  timeout 120 "$DMPIPE" ingest --out "s_$b.h5" "$f" >/dev/null
done
for np in 1 2 3; do
  timeout 120 "$MPIEXEC" -n $np "$DMPIPE" catalog --out cat$np.h5 --batch 1000 \
    s_Zp_01.h5 s_gluino_01.h5 s_ttbar.h5 s_w_jets.h5 >out.txt || fail "catalog on $np ranks"
  grep -q "4 samples, 12000 events" out.txt || fail "np $np: $(cat out.txt)"
  "$PYTHON" - all.h5 cat$np.h5 <<'PY' || fail "catalog on $np ranks differs from one ingest"
import sys, h5py, numpy as np
a, c = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and not n.startswith("derived") else None)
assert len(names) >= 14, names
for n in names:
    assert np.array_equal(a[n][()], c[n][()]), n
for k in ("inputs", "source_bytes", "source_lines", "rejected_lines", "format", "precision"):
    assert a.attrs[k] == c.attrs[k], (k, a.attrs[k], c.attrs[k])
PY
  # Errors: a missing input, a file that is not a store; no catalog left.
  rc=0; timeout 60 "$MPIEXEC" -n $np "$DMPIPE" catalog --out bad$np.h5 s_ttbar.h5 nothere.h5 >out.txt 2>err.txt || rc=$?
  [[ $rc == 1 ]] && grep -q "nothere.h5" err.txt || fail "np $np missing input: $rc $(cat err.txt)"
  rc=0; timeout 60 "$MPIEXEC" -n $np "$DMPIPE" catalog --out bad$np.h5 s_ttbar.h5 archive/ttbar.csv >out.txt 2>err.txt || rc=$?
  [[ $rc == 1 ]] && grep -q "ttbar.csv" err.txt || fail "np $np not a store: $rc $(cat err.txt)"
  [[ ! -e bad$np.h5 && ! -e bad$np.h5.tmp ]] || fail "np $np: a failed catalog left a file"
done
# Stores of another precision do not mix.
timeout 60 "$DMPIPE" ingest --out d_ttbar.h5 --precision double archive/ttbar.csv >/dev/null
rc=0; timeout 60 "$MPIEXEC" -n 2 "$DMPIPE" catalog --out mix.h5 s_w_jets.h5 d_ttbar.h5 >out.txt 2>err.txt || rc=$?
[[ $rc == 1 ]] && grep -q "d_ttbar.h5 is double precision" err.txt || fail "precision mix: $rc $(cat err.txt)"
echo "catalog ok"
