"""Independent checks of select/weight/derive outputs with h5py and numpy.

Nothing here calls dmpipe code: derived variables are recomputed from the
stored objects with numpy, and expected event lists come from hand-written
files. Usage:
  check_select.py derived STORE.h5          /derived (through the store's link)
                                            equals a numpy recomputation
  check_select.py ids SEL.h5 ID...          the selected event IDs, in order
  check_select.py expected SEL.h5 FILE KEY  IDs listed under KEY in a JSON file
  check_select.py cutflow FILE.json SEL.h5  cutflow totals equal the store's counts
  check_select.py same A.h5 B.h5 [C.h5...]  every dataset (and /derived) equal
  check_select.py channel STORE SEL CHAN    SEL holds the events numpy selects
  check_select.py weights STORE.h5 VALUE    every /derived/weight equals VALUE
                                            (nan allowed) per process: NAME=VALUE...
"""
import json
import math
import os
import sys

import h5py
import numpy as np

JET, BJET, EM, EP, MM, MP, PHOTON = range(7)


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def derived_group(f, path):
    """The /derived columns, through the store's own link (so every check
    also shows that h5py reaches them from the store file alone)."""
    if "derived" not in f:
        fail(f"{path}: /derived does not resolve from the store")
    return f["derived"]


def recompute(f):
    ev, ob = f["events"], f["objects"]
    off = ev["obj_offset"][:]
    typ = ob["type"][:]
    pt = ob["pt"][:].astype(np.float64)
    met = ev["met"][:].astype(np.float64)
    n = len(met)
    out = {k: np.zeros(n) for k in
           ("ht", "n_jets", "n_bjets", "n_leptons", "n_photons", "lead_jet_pt")}
    for i in range(n):
        t = typ[off[i]:off[i + 1]]
        p = pt[off[i]:off[i + 1]]
        jets = (t == JET) | (t == BJET)
        ht = 0.0
        for x in p[jets]:  # stored order, like the definition says
            ht += x
        out["ht"][i] = ht
        out["n_jets"][i] = jets.sum()
        out["n_bjets"][i] = (t == BJET).sum()
        out["n_leptons"][i] = ((t == EM) | (t == EP) | (t == MM) | (t == MP)).sum()
        out["n_photons"][i] = (t == PHOTON).sum()
        out["lead_jet_pt"][i] = p[jets].max() if jets.any() else 0.0
    ht = out["ht"]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(ht > 0, met / np.where(ht > 0, ht, 1), np.where(met > 0, np.inf, 0.0))
    out["met_over_ht"] = r
    out["m_eff"] = ht + met
    return out


def cmd_derived(path):
    with h5py.File(path, "r") as f:
        want = recompute(f)
        g = derived_group(f, path)
        for k, v in want.items():
            if k not in g:
                fail(f"{path}: /derived/{k} missing")
            got = g[k][:].astype(np.float64)
            if got.shape != v.shape:
                fail(f"{k}: shape {got.shape} != {v.shape}")
            same = (got == v) | (np.isinf(got) & np.isinf(v) & (np.sign(got) == np.sign(v)))
            close = np.isclose(got, v, rtol=1e-12, atol=0) | same
            if not close.all():
                i = int(np.argmin(close))
                fail(f"{k}[{i}] = {got[i]!r}, numpy gives {v[i]!r}")
        print(f"derived ok: {len(want['ht'])} events, {len(want)} columns")


def cmd_ids(path, ids):
    with h5py.File(path, "r") as f:
        got = [int(x) for x in f["events/event_id"][:]]
    if got != ids:
        fail(f"{path}: event ids {got}, expected {ids}")
    print(f"ids ok: {got}")


def cmd_cutflow(jpath, spath):
    with open(jpath) as fh:
        cf = json.load(fh)
    with h5py.File(spath, "r") as f:
        n = len(f["events/event_id"])
        names = [x.decode() for x in f["processes/name"][:]]
        counts = [int(x) for x in f["processes/n_events"][:]]
        proc = f["events/process"][:]
    if cf["totals"]["all"][-1]["count"] != n:
        fail(f"cutflow total {cf['totals']['all'][-1]['count']} != {n} events in {spath}")
    if cf["events_selected"] != n:
        fail("events_selected differs from the store")
    by = {p["name"]: p for p in cf["processes"]}
    for i, (name, c) in enumerate(zip(names, counts)):
        if by[name]["rows"][-1]["count"] != c or int((proc == i).sum()) != c:
            fail(f"process {name}: cutflow {by[name]['rows'][-1]['count']}, store {c}")
    k = sum(cf["totals"][t][-1]["count"] for t in ("sm", "bsm", "other"))
    if k != n:
        fail("sm + bsm + other != all")
    # Sequential cuts never increase the count.
    for t in cf["totals"].values():
        c = [r["count"] for r in t]
        if any(b > a for a, b in zip(c, c[1:])):
            fail(f"cutflow counts increase: {c}")
    print(f"cutflow ok: {n} selected")


def walk(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                 if isinstance(obj, h5py.Dataset) else None)
    return out


def cmd_same(a, b):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        da, db = walk(fa), walk(fb)
        for side, path in ((da, a), (db, b)):
            g = derived_group(fa if path == a else fb, path)
            for k in g:
                side["derived/" + k] = g[k][()]
    if sorted(da) != sorted(db):
        fail(f"datasets differ: {sorted(set(da) ^ set(db))}")
    for k in da:
        x, y = np.asarray(da[k]), np.asarray(db[k])
        if x.dtype != y.dtype or x.shape != y.shape:
            fail(f"{k}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}")
        eq = (x == y) if x.dtype.kind not in "fc" else ((x == y) | (np.isnan(x) & np.isnan(y)))
        if not np.all(eq):
            fail(f"{k} differs")
    print(f"same: {len(da)} datasets")


def cmd_weights(path, spec):
    want = {}
    for s in spec:
        name, v = s.split("=")
        want[name] = float(v)
    with h5py.File(path, "r") as f:
        names = [x.decode() for x in f["processes/name"][:]]
        proc = f["events/process"][:]
        g = derived_group(f, path)
        w = g["weight"][:]
        attrs = dict(g["weight"].attrs)
    for i, name in enumerate(names):
        got = w[proc == i]
        v = want[name]
        ok = np.all(np.isnan(got)) if math.isnan(v) else np.all(got == v)
        if not ok or len(got) == 0:
            fail(f"{name}: weights {got[:5]}..., expected {v}")
    for a in ("lumi_fb", "xsec_checksum", "xsec_table"):
        if a not in attrs:
            fail(f"/derived/weight lacks attribute {a}")
    print(f"weights ok: {want}")


def channel_ids(path, chan):
    """The challenge channels written out again in numpy, comparing in
    float32 like a float32 store holds its values."""
    f32 = np.float32
    with h5py.File(path, "r") as f:
        d = recompute(f)
        met = f["events/met"][:].astype(f32)
        off = f["events/obj_offset"][:]
        typ = f["objects/type"][:]
        pt = f["objects/pt"][:].astype(f32)
        ids = f["events/event_id"][:]
    ht = d["ht"].astype(f32)
    ratio = d["met_over_ht"].astype(f32)
    jets = (typ == JET) | (typ == BJET)
    lep = (typ == EM) | (typ == EP) | (typ == MM) | (typ == MP)

    def count(mask, ptmin):
        c = np.zeros(len(met), dtype=np.int64)
        for i in range(len(met)):
            s = slice(off[i], off[i + 1])
            c[i] = int((mask[s] & (pt[s] > f32(ptmin))).sum())
        return c
    if chan == "chan1":
        keep = ((ht >= f32(600)) & (met >= f32(200)) & (ratio >= f32(0.2))
                & (count(jets, 50) >= 4) & (count(jets, 200) >= 1))
    elif chan == "chan2a":
        keep = (met >= f32(50)) & (count(lep, 15) >= 3)
    elif chan == "chan2b":
        keep = (met >= f32(50)) & (count(lep, 15) >= 2) & (ht >= f32(50))
    else:
        keep = (ht >= f32(600)) & (met >= f32(100))
    return [int(x) for x in ids[keep]]


def main(argv):
    cmd = argv[1]
    if cmd == "derived":
        cmd_derived(argv[2])
    elif cmd == "ids":
        cmd_ids(argv[2], [int(x) for x in argv[3:]])
    elif cmd == "expected":
        with open(argv[3]) as fh:
            cmd_ids(argv[2], json.load(fh)[argv[4]])
    elif cmd == "cutflow":
        cmd_cutflow(argv[2], argv[3])
    elif cmd == "channel":
        cmd_ids(argv[3], channel_ids(argv[2], argv[4]))
    elif cmd == "same":
        for b in argv[3:]:
            cmd_same(argv[2], b)
    elif cmd == "weights":
        cmd_weights(argv[2], argv[3:])
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
