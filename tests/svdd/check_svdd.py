"""Checks behind cli_svdd.sh, computed with h5py/numpy/sklearn only.

usage: check_svdd.py SCRATCH_DIR   (the files cli_svdd.sh wrote)
 - 1 vs 2 ranks: identical centre, weights equal to relative 1e-5;
 - an interrupted run resumed to the same epoch count: bitwise the same weights;
 - scores of dmpipe score equal an independent numpy evaluation: high-level
   features from the store's objects (dm_features.h), the stored
   standardisation, the bias-free leaky-ReLU network, |phi - c|^2, mean over
   ensemble members;
 - a strong signal (gluino_01) is ranked above the SM background (AUC > 0.6);
 - the JSON report carries the training rate and the collapse statistics.
"""
import json
import os
import sys

import h5py
import numpy as np
from sklearn.metrics import roc_auc_score

T = sys.argv[1] if __name__ == "__main__" else "."
ok = True


def fail(msg):
    global ok
    print("FAIL:", msg)
    ok = False


def model(path):
    with h5py.File(os.path.join(T, path), "r") as f:
        g = f["model"]
        dims = [int(d) for d in g.attrs["dims"]]
        return {
            "dims": dims,
            "w": g["weights"][...],
            "c": g["centre"][...],
            "r2": g["r2"][...],
            "mean": f["features/mean"][...],
            "scale": f["features/scale"][...],
            "pca_dim": int(f["features"].attrs["pca_dim"]),
        }


def highlevel(store):
    """dm_features.h high-level rows, from the store's columns (GeV)."""
    with h5py.File(os.path.join(T, store), "r") as f:
        met = f["events/met"][...].astype(np.float64)
        off = f["events/obj_offset"][...]
        typ = f["objects/type"][...]
        pt = f["objects/pt"][...].astype(np.float64)
        proc = f["events/process"][...]
        names = [n.decode() if isinstance(n, bytes) else n for n in f["processes/name"][...]]
    n = met.size
    x = np.zeros((n, 13))
    for i in range(n):
        t, p = typ[off[i]:off[i + 1]], pt[off[i]:off[i + 1]]
        jets = np.sort(p[t <= 1])[::-1]
        leps = p[(t >= 2) & (t <= 5)]
        phot = p[t == 6]
        ht = jets.sum()
        lead = lambda a, k: a[k] if a.size > k else 0.0
        x[i] = [np.log1p(ht), np.log1p(met[i]), np.log1p(ht + met[i]),
                np.log1p(met[i] / max(ht, 1.0)), jets.size, np.sum(t == 1), leps.size,
                phot.size, np.log1p(lead(jets, 0)), np.log1p(lead(jets, 1)),
                np.log1p(lead(jets, 2)), np.log1p(leps.max() if leps.size else 0.0),
                np.log1p(phot.max() if phot.size else 0.0)]
    return x.astype(np.float32).astype(np.float64), proc, names


def scores(m, x):
    xs = (x - m["mean"]) / m["scale"]
    d = m["dims"]
    out = np.zeros(x.shape[0])
    for k in range(m["w"].shape[0]):
        a, off = xs, 0
        for l in range(len(d) - 1):
            W = m["w"][k, off:off + d[l] * d[l + 1]].reshape(d[l + 1], d[l]).astype(np.float64)
            off += d[l] * d[l + 1]
            a = a @ W.T
            if l + 2 < len(d):
                a = np.where(a > 0, a, 0.01 * a)
        out += np.sum((a - m["c"][k]) ** 2, axis=1)
    return out / m["w"].shape[0]


def main():
    m1, m2 = model("np1.h5"), model("np2.h5")
    if not np.array_equal(m1["c"], m2["c"]):
        fail(f"centre differs between 1 and 2 ranks: {m1['c']} vs {m2['c']}")
    rel = np.abs(m1["w"] - m2["w"]).max() / np.abs(m1["w"]).max()
    print(f"1 vs 2 ranks: max weight difference / max |w| = {rel:.3g}")
    if not rel < 1e-5:
        fail(f"weights of 1 and 2 ranks differ by {rel}")

    mr = model("resumed.h5")
    if not np.array_equal(mr["w"], m2["w"]):
        fail("2 epochs + resume to 4 differs from 4 uninterrupted epochs")
    else:
        print("resume: bitwise identical weights")

    x, proc, names = highlevel("store.h5")
    for path, sfile in (("np2.h5", "np2_scores.h5"), ("ens.h5", "ens_scores.h5")):
        m = model(path)
        if m["pca_dim"] != 0:
            fail("unexpected PCA in the test model")
        ref = scores(m, x)
        with h5py.File(os.path.join(T, sfile), "r") as f:
            got = f["scores/score"][...]
        tol = 1e-3 * np.abs(ref) + 1e-4 * np.median(np.abs(ref))
        bad = np.abs(got - ref) > tol
        print(f"{sfile}: {got.size} scores, {bad.sum()} differ from numpy "
              f"(max rel {np.max(np.abs(got - ref) / (np.abs(ref) + 1e-12)):.3g})")
        if bad.any():
            i = np.argmax(bad)
            fail(f"{sfile}: event {i} score {got[i]} vs numpy {ref[i]}")
        if path == "ens.h5":
            if m["w"].shape[0] != 2 or not np.all(m["r2"] > 0):
                fail(f"ensemble/soft-boundary model: members {m['w'].shape[0]}, r2 {m['r2']}")
            if np.array_equal(m["w"][0], m["w"][1]):
                fail("ensemble members are identical")
        else:
            sig = [names.index("gluino_01")]
            bkg = [names.index(p) for p in ("ttbar", "w_jets", "z_jets", "njets")]
            sel = np.isin(proc, sig + bkg)
            auc = roc_auc_score(np.isin(proc[sel], sig), got[sel])
            print(f"gluino_01 vs SM: AUC {auc:.4f}")
            if not auc > 0.6:
                fail(f"gluino_01 AUC {auc}")

    with open(os.path.join(T, "np2.json")) as f:
        rep = json.load(f)
    b = rep["backend"]
    if not (b["train_events_per_s"] > 0 and b["collapsed"] == [0] and b["distinct_scores"][0] > 100):
        fail(f"JSON report: {b}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
