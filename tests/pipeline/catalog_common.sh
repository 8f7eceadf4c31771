# Shared by catalog.sh and catalog_parts.sh: a small archive, one ingest of
# all its CSV files (all.h5, all.csv) and one store per sample (s_*.h5), and
# the checks of a catalog against a store.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$DMPIPE" generate --out archive --events 12000 --seed 31 --processes ttbar,w_jets,gluino_01,Zp_01 >/dev/null
"$DMPIPE" generate --out archive2 --events 12000 --seed 32 --processes ttbar >/dev/null
files=(archive/Zp_01.csv archive/gluino_01.csv archive/ttbar.csv archive/w_jets.csv)
samples=(s_Zp_01.h5 s_gluino_01.h5 s_ttbar.h5 s_w_jets.h5)
timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" ingest --out all.h5 "${files[@]}" >/dev/null
for f in "${files[@]}"; do
  b=$(basename "$f" .csv)
  timeout 120 "$DMPIPE" ingest --out "s_$b.h5" "$f" >/dev/null
done
timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" export --in all.h5 --out all.csv >/dev/null

# same A CAT: CAT read by h5py equals the store A (datasets, provenance), its
# concatenated columns are virtual and the two it writes are not.
same() {
  "$PYTHON" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, c = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and not n.startswith("derived") else None)
assert len(names) >= 14, names
for n in names:
    assert np.array_equal(a[n][()], c[n][()]), n
for k in ("inputs", "source_bytes", "source_lines", "rejected_lines", "format", "precision"):
    assert a.attrs[k] == c.attrs[k], (k, a.attrs[k], c.attrs[k])
virtual = {n for n in names if c[n].is_virtual}
assert virtual == {"events/event_id", "events/weight", "events/met", "events/met_phi", "events/n_obj",
                   "objects/type", "objects/e", "objects/pt", "objects/eta", "objects/phi"}, virtual
assert c.attrs["catalog"] == 1 and len(c.attrs["catalog_parts"]) >= 1
PY
}
# small CAT: the catalog file is under 25% of its parts' bytes
small() {
  "$PYTHON" - "$1" <<'PY'
import os, sys
cat = sys.argv[1]
parts = cat[:-3] + ".parts"
total = sum(os.path.getsize(os.path.join(parts, p)) for p in os.listdir(parts))
size = os.path.getsize(cat)
assert len(os.listdir(parts)) == 4 and size < 0.25 * total, (size, total)
PY
}

