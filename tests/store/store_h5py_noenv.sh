#!/usr/bin/env bash
# h5py reads a store with no environment at all (env -i: no
# HDF5_PLUGIN_PATH), so the zstd plugin must sit where HDF5 looks by default
# (jobs/setup.sh puts it there). Every value is checked against the CSV text,
# parsed here in Python; the derived columns against a numpy recomputation.
# The README's reading recipes (numpy, pandas, per-event lists) run as written.
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}" "${PYTHON:?}" "${DM_SOURCE_DIR:?}"
rm -rf "$DM_TEST_TMP"
mkdir -p "$DM_TEST_TMP"
cd "$DM_TEST_TMP"
"$MPIEXEC" -n 2 "$DMPIPE" generate --out arch --events 400 --seed 5 --processes ttbar,w_jets,gluino_01 \
  --quiet >/dev/null
"$MPIEXEC" -n 2 "$DMPIPE" ingest --out store.h5 arch/*.csv >/dev/null
"$MPIEXEC" -n 2 "$DMPIPE" derive --in store.h5 --quiet
"$MPIEXEC" -n 2 "$DMPIPE" weight --in store.h5 --lumi 10 --quiet
ls arch/*.csv > inputs.txt
env -i /usr/bin/python3 - <<'PY'
import h5py, numpy as np

CODES = {"j": 0, "b": 1, "e-": 2, "e+": 3, "m-": 4, "m+": 5, "g": 6}
ids, met, n_obj, typ, pt, eta = [], [], [], [], [], []
for path in open("inputs.txt").read().split():
    for line in open(path):
        fields = [x for x in line.strip().split(";") if x]
        ids.append(int(fields[0]))
        met.append(float(fields[3]) / 1000)
        objs = [o.split(",") for o in fields[5:]]
        n_obj.append(len(objs))
        for o in objs:
            typ.append(CODES[o[0]])
            pt.append(float(o[2]) / 1000)
            eta.append(float(o[3]))

f = h5py.File("store.h5", "r")
def same(name, got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (name, got.shape, want.shape)
    assert np.allclose(got, want, rtol=2e-7, atol=0), name
same("events/event_id", f["events/event_id"][:], ids)
same("events/met", f["events/met"][:], met)
same("events/n_obj", f["events/n_obj"][:], n_obj)
same("objects/type", f["objects/type"][:], typ)
same("objects/pt", f["objects/pt"][:], pt)
same("objects/eta", f["objects/eta"][:], eta)
off = f["events/obj_offset"][:]
assert off[0] == 0 and np.array_equal(np.diff(off), n_obj)
# Derived columns through the store's own link.
ht = np.array([sum(p for p, t in zip(pt[off[i]:off[i + 1]], typ[off[i]:off[i + 1]]) if t in (0, 1))
               for i in range(len(ids))])
assert np.allclose(f["derived/ht"][:], ht, rtol=1e-6), "derived/ht"
w = f["derived/weight"][:]
assert np.all(np.isfinite(w)) and np.all(w > 0) and f["derived/weight"].attrs["lumi_fb"] == 10
print(f"h5py without environment: {len(ids)} events, {len(pt)} objects checked")
PY

# The README's recipes, extracted from README.md and run as they stand.
"$PYTHON" - "$DM_SOURCE_DIR/README.md" > recipes.py <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"<!-- recipe -->\n((?:    .*\n|\n)+)", text)
assert blocks, "no recipe blocks in README.md"
for b in blocks:
    print("\n".join(l[4:] for l in b.splitlines()))
PY
grep -q "import pandas" recipes.py && grep -q "obj_offset" recipes.py
env -i /usr/bin/python3 recipes.py > recipes.out
cat recipes.out
grep -q "object pT" recipes.out && grep -q "gluino_01" recipes.out
echo "store_h5py_noenv ok"
