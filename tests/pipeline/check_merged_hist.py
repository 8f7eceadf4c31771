"""The merged histograms of dmpipe nightly (WORKDIR/hist/all.hist.h5) against
dmpipe hist run from scratch on the catalog: every dataset equal (h5py, one
by one) and every histogram's attributes equal; and, independently of dmpipe,
each bin's sum of weights is N_bin x w_p and its sum of squares N_bin x
fl(w_p^2), each the exact product rounded once (Python's Fraction), with w_p
the process's weight in weight.json.
usage: check_merged_hist.py MERGED.h5 SCRATCH.h5 WEIGHT.json"""
import json
import sys
from fractions import Fraction

import h5py
import numpy as np


def datasets(f):
    out = {}
    f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


merged, scratch, wjson = sys.argv[1:4]
weights = {p["name"]: p["weight"] for p in json.load(open(wjson))["processes"]}
with h5py.File(merged, "r") as fm, h5py.File(scratch, "r") as fs:
    dm, ds = datasets(fm), datasets(fs)
    assert sorted(dm) == sorted(ds), (sorted(dm), sorted(ds))
    for k in dm:
        x, y = np.asarray(dm[k]), np.asarray(ds[k])
        assert x.dtype == y.dtype and x.shape == y.shape, (k, x.dtype, y.dtype, x.shape, y.shape)
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), ("differs", k)
    n_hist = 0
    for key in fm["histogram_names"][:]:
        g, h = fm["histograms/" + key.decode()], fs["histograms/" + key.decode()]
        assert dict(g.attrs) == dict(h.attrs), (key, dict(g.attrs), dict(h.attrs))
        names = [n.decode() for n in g["process_names"][:]]
        count, sumw, sumw2 = g["count"][:], g["sumw"][:], g["sumw2"][:]
        for i, p in enumerate(names):
            w = weights[p]
            for j in range(count.shape[1]):
                c = int(count[i, j])
                assert sumw[i, j] == float(Fraction(w) * c), (key, p, j, c, w, sumw[i, j])
                assert sumw2[i, j] == float(Fraction(w * w) * c), (key, p, j, c, w, sumw2[i, j])
        n_hist += 1
    assert n_hist >= 5, n_hist
print("merged histograms equal dmpipe hist of the catalog:", n_hist, "histograms")
