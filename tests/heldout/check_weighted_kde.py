"""Independent check of a weighted KDE model and its scores (numpy and
scikit-learn's KernelDensity with sample_weight).

usage: check_weighted_kde.py STORE.h5 MODEL.h5 SCORES.h5 WEIGHTS.npy

WEIGHTS.npy: every event's weight as the test expects the model to have
taken it (here the derived weight of dmpipe weight, read with h5py).
  1. reference_weight is the weight of the event each reference row names;
  2. the bandwidth is Scott's rule at Kish's effective count,
     round((sum w)^2 / sum w^2)^(-1/(d+4));
  3. on the reference events, -score equals the double-precision weighted
     direct sum log(sum_j w_j N(x; y_j, h^2)) - log(sum_j w_j) to 1e-6
     relative, and scikit-learn's KernelDensity.fit(ref, sample_weight=w);
  4. every event on features recomputed here (tests/model/check_kde.py) to
     1e-4 relative.
"""
import os
import sys

import h5py
import numpy as np
from sklearn.neighbors import KernelDensity

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model"))
from check_kde import highlevel, transform  # noqa: E402


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def logp_weighted(ref, w, q, h):
    ref = ref.astype(np.float64)
    n, d = ref.shape
    lw = np.log(w)
    out = np.empty(len(q))
    step = max(1, int(2e7 // (n * d)))
    for a in range(0, len(q), step):
        qq = q[a:a + step].astype(np.float64)
        e = -((qq[:, None, :] - ref[None, :, :]) ** 2).sum(axis=2) / (2 * h * h) + lw[None, :]
        mx = e.max(axis=1)
        out[a:a + step] = mx + np.log(np.exp(e - mx[:, None]).sum(axis=1))
    return out - np.log(w.sum()) - 0.5 * d * np.log(2 * np.pi * h * h)


store, model, scores = (h5py.File(p, "r") for p in sys.argv[1:4])
wev = np.load(sys.argv[4])
g = model["model"]
h = float(g.attrs["bandwidth"])
ref = g["reference"][:]
rrow = g["reference_row"][:]
if "reference_weight" not in g:
    fail("the model has no reference_weight")
w = g["reference_weight"][:]
if not np.array_equal(w, wev[rrow]):
    fail("reference_weight differs from the events' weights")
if len(np.unique(w)) < 2:
    fail("the test needs unequal weights")
d = ref.shape[1]
neff = round(w.sum() ** 2 / (w ** 2).sum())
if abs(h - neff ** (-1.0 / (d + 4))) > 1e-15:
    fail("bandwidth %r, Scott at Kish's count %d gives %r" % (h, neff, neff ** (-1.0 / (d + 4))))
if int(model["training"].attrs["weighted"]) != 1:
    fail("the model's training record does not say weighted")
score = scores["scores/score"][:]
want = logp_weighted(ref, w, ref, h)
got = -score[rrow]
rel = np.abs(got - want) / np.abs(want)
print("reference queries: max rel err vs weighted direct sum %.3g" % rel.max())
if rel.max() > 1e-6:
    fail("log p differs from the weighted direct sum by %g relative" % rel.max())
kd = KernelDensity(kernel="gaussian", bandwidth=h, rtol=0.0, atol=0.0)
kd.fit(ref.astype(np.float64), sample_weight=w)
sel = np.linspace(0, len(rrow) - 1, min(300, len(rrow))).astype(int)
sk = kd.score_samples(ref[sel].astype(np.float64))
rel_sk = np.abs(got[sel] - sk) / np.abs(sk)
print("scikit-learn KernelDensity(sample_weight), %d queries: max rel diff %.3g"
      % (len(sel), rel_sk.max()))
if rel_sk.max() > 1e-6:
    fail("log p differs from scikit-learn by %g relative" % rel_sk.max())
x = transform(model, highlevel(store))
want = logp_weighted(ref, w, x, h)
rel = np.abs(-score - want) / np.maximum(np.abs(want), 1.0)
print("all %d events: max rel err %.3g" % (len(rel), rel.max()))
if rel.max() > 1e-4:
    fail("event %d: score %r, direct sum %r" % (rel.argmax(), -score[rel.argmax()],
                                                want[rel.argmax()]))
print("OK")
