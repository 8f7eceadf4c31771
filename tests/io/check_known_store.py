"""Check a store written by store_known against the test pattern, reading it
the way users do: h5py with HDF5_PLUGIN_PATH pointing at the zstd plugin.
The formulas repeat tests/io/store_pattern.h on purpose (an independent
reading of the same definition).
usage: check_known_store.py STORE.h5 N_EVENTS [double]"""
import sys

import h5py
import numpy as np

path, n = sys.argv[1], int(sys.argv[2])
dbl = len(sys.argv) > 3 and sys.argv[3] == "double"
g = np.arange(n, dtype=np.int64)
nobj = (g * 7) % 6
f = h5py.File(path, "r")
ev, ob = f["events"], f["objects"]

def same(name, got, want):
    got = np.asarray(got)
    if got.shape != np.shape(want) or not np.array_equal(got, want):
        bad = np.flatnonzero(got != want)[:5] if got.shape == np.shape(want) else "shape"
        sys.exit(f"{name}: mismatch at {bad}: got {got[:8]} want {np.asarray(want)[:8]}")

ftype = np.float64 if dbl else np.float32
assert f.attrs["format"] in (b"dmpipe-store", "dmpipe-store"), f.attrs["format"]
assert int(f.attrs["format_version"]) == 2
# Version 2: an identity, and /derived resolving (empty) from the store itself.
assert len(f.attrs["store_id"]) == 32, f.attrs["store_id"]
assert len(f["derived"]) == 0, list(f["derived"])
for name in ("met", "met_phi"):
    assert ev[name].dtype == ftype, (name, ev[name].dtype)
for name in ("e", "pt", "eta", "phi"):
    assert ob[name].dtype == ftype, (name, ob[name].dtype)
same("event_id", ev["event_id"][:], 1000 + 3 * g)
same("process", ev["process"][:], (g // 5) % 3)
same("weight", ev["weight"][:], 0.5 + g * 0.001)
same("met", ev["met"][:], (10.0 + (g % 1000) * 0.25).astype(ftype))
same("met_phi", ev["met_phi"][:], (-3.0 + (g % 24) * 0.25).astype(ftype))
same("n_obj", ev["n_obj"][:], nobj)
off = np.concatenate([[0], np.cumsum(nobj)])
same("obj_offset", ev["obj_offset"][:], off)
# Object k of event g.
eg = np.repeat(g, nobj)
k = np.arange(off[-1]) - np.repeat(off[:-1], nobj)
pt = 20.0 + ((eg * 13 + k) % 4000) * 0.5
same("type", ob["type"][:], (eg + k) % 7)
same("pt", ob["pt"][:], pt.astype(ftype))
same("e", ob["e"][:], (pt * 2.0 + k).astype(ftype))
same("eta", ob["eta"][:], (-2.5 + ((eg + 3 * k) % 40) * 0.125).astype(ftype))
same("phi", ob["phi"][:], (-3.0 + ((eg * 5 + k) % 48) * 0.125).astype(ftype))
# The type column is an HDF5 enum naming the archive codes.
mapping = h5py.check_enum_dtype(ob["type"].dtype)
assert mapping == {"j": 0, "b": 1, "e-": 2, "e+": 3, "m-": 4, "m+": 5, "g": 6}, mapping
names = [x.decode() if isinstance(x, bytes) else x for x in f["processes/name"][:]]
assert names == ["ttbar", "monojet_Zp2000.0_DM_50.0", "z"], names
same("processes/n_events", f["processes/n_events"][:], np.bincount((g // 5) % 3, minlength=3))
# Compression is really on every column.
for grp in (ev, ob):
    for name, d in grp.items():
        assert d.chunks is not None and "32015" in map(str, d._filters), (name, d._filters)
print(f"ok: {n} events, {off[-1]} objects checked through h5py")
