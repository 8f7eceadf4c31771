#!/usr/bin/env python3
"""Independent check of a KDE model and its scores (numpy and scikit-learn).

usage: check_kde.py STORE.h5 MODEL.h5 SCORES.h5 [--sklearn-queries N]

1. Recomputes the high-level features of every event from the store's objects
   (own numpy code, not dmpipe's) and applies the model's standardisation and
   PCA: the reference rows of the model must equal the features of the events
   they name (reference_row) to float precision.
2. Exactness of the density: for the reference events, whose transformed
   features are exactly the stored reference rows, -score must equal the
   double-precision direct sum of the Gaussian kernel to 1e-6 relative, and
   scikit-learn's KernelDensity(kernel='gaussian', bandwidth=h, rtol=0).
3. End to end: -score of every event against the direct sum on the features
   computed here (a looser 1e-4 relative: the two feature computations may
   differ in the last bit of a float).
Exits non-zero with a message on the first failure.
"""
import sys

import h5py
import numpy as np

JET, BJET, EM, EP, MM, MP, PHOTON = range(7)


def highlevel(store):
    ev = store["events"]
    ob = store["objects"]
    off = ev["obj_offset"][:]
    met = ev["met"][:].astype(np.float64)
    typ = ob["type"][:]
    pt = ob["pt"][:].astype(np.float64)
    n = len(met)
    rows = np.zeros((n, 13), dtype=np.float64)
    for i in range(n):
        t = typ[off[i]:off[i + 1]]
        p = pt[off[i]:off[i + 1]]
        jet = (t == JET) | (t == BJET)
        lep = (t >= EM) & (t <= MP)
        gam = t == PHOTON
        ht = float(np.sum(p[jet])) if jet.any() else 0.0
        jets = np.sort(p[jet])[::-1]
        lead = [jets[k] if len(jets) > k else 0.0 for k in range(3)]
        l1 = p[lep].max() if lep.any() else 0.0
        g1 = p[gam].max() if gam.any() else 0.0
        m = met[i]
        rows[i] = [np.log1p(ht), np.log1p(m), np.log1p(ht + m), np.log1p(m / max(ht, 1.0)),
                   jet.sum(), (t == BJET).sum(), lep.sum(), gam.sum(),
                   np.log1p(lead[0]), np.log1p(lead[1]), np.log1p(lead[2]), np.log1p(l1),
                   np.log1p(g1)]
    return rows.astype(np.float32)


def transform(model, raw):
    f = model["features"]
    z = (raw.astype(np.float64) - f["mean"][:]) / f["scale"][:]
    if int(f.attrs["pca_dim"]) > 0:
        z = (z @ f["pca"][:].T) / np.sqrt(f["pca_var"][:])
    return z.astype(np.float32)


def logp_direct(ref, q, h):
    """Double-precision direct sum, log-sum-exp with the per-query maximum."""
    ref = ref.astype(np.float64)
    n, d = ref.shape
    out = np.empty(len(q))
    step = max(1, int(2e7 // (n * d)))  # bounded temporary arrays
    for a in range(0, len(q), step):
        qq = q[a:a + step].astype(np.float64)
        d2 = ((qq[:, None, :] - ref[None, :, :]) ** 2).sum(axis=2)
        e = -d2 / (2 * h * h)
        mx = e.max(axis=1)
        out[a:a + step] = mx + np.log(np.exp(e - mx[:, None]).sum(axis=1))
    return out - np.log(n) - 0.5 * d * np.log(2 * np.pi * h * h)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def main():
    args = sys.argv[1:]
    nsk = 500
    if "--sklearn-queries" in args:
        i = args.index("--sklearn-queries")
        nsk = int(args[i + 1])
        del args[i:i + 2]
    store, model, scores = (h5py.File(p, "r") for p in args)
    kind = model["features"].attrs["kind"]
    if (kind.decode() if isinstance(kind, bytes) else kind) != "highlevel":
        fail("this check recomputes highlevel features only")
    g = model["model"]
    h = float(g.attrs["bandwidth"])
    ref = g["reference"][:]
    rrow = g["reference_row"][:]
    score = scores["scores/score"][:]
    n_events = store["events/met"].shape[0]
    if len(score) != n_events:
        fail("%d scores for %d events" % (len(score), n_events))
    if not np.array_equal(scores["scores/event_id"][:], store["events/event_id"][:]):
        fail("event_id column differs from the store's (order?)")
    if not np.array_equal(scores["scores/process"][:], store["events/process"][:]):
        fail("process column differs from the store's")

    x = transform(model, highlevel(store))
    # 1. reference rows are the features of the events they name
    err = np.abs(x[rrow] - ref).max()
    print("reference rows vs recomputed features: max abs diff %.3g" % err)
    if err > 1e-4:
        fail("reference rows differ from recomputed features by %g" % err)

    # 2. exactness on the reference events (queries == stored rows)
    want = logp_direct(ref, ref, h)
    got = -score[rrow]
    rel = np.abs(got - want) / np.abs(want)
    print("reference queries: %d, max rel err vs double direct sum %.3g" % (len(rel), rel.max()))
    if rel.max() > 1e-6:
        fail("log p differs from the direct sum by %g relative" % rel.max())
    from sklearn.neighbors import KernelDensity
    kd = KernelDensity(kernel="gaussian", bandwidth=h, rtol=0.0, atol=0.0)
    kd.fit(ref.astype(np.float64))
    sel = np.linspace(0, len(rrow) - 1, min(nsk, len(rrow))).astype(int)
    sk = kd.score_samples(ref[sel].astype(np.float64))
    rel_sk = np.abs(got[sel] - sk) / np.abs(sk)
    print("scikit-learn KernelDensity (rtol=0), %d queries: max rel diff %.3g"
          % (len(sel), rel_sk.max()))
    if rel_sk.max() > 1e-6:
        fail("log p differs from scikit-learn by %g relative" % rel_sk.max())

    # 3. every event, on features computed here
    want = logp_direct(ref, x, h)
    rel = np.abs(-score - want) / np.maximum(np.abs(want), 1.0)
    print("all %d events: max rel err vs direct sum on recomputed features %.3g"
          % (len(rel), rel.max()))
    if rel.max() > 1e-4:
        fail("event %d: score %r, direct sum %r" % (rel.argmax(), -score[rel.argmax()],
                                                    want[rel.argmax()]))
    print("OK")


if __name__ == "__main__":
    main()
