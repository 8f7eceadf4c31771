"""Compare two pipeline work folders: the store (catalog or single ingest),
the metrics JSON and the histograms (each model's, and hist/all.hist.h5 when
the first folder has it) must hold the same values.
usage: compare_runs.py WORKDIR_A WORKDIR_B MODEL..."""
import json
import os
import sys

import h5py
import numpy as np


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        f.visititems(visit)
    return out


def same_h5(a, b):
    da, db = datasets(a), datasets(b)
    assert sorted(da) == sorted(db), (a, sorted(da), sorted(db))
    for k in da:
        x, y = np.asarray(da[k]), np.asarray(db[k])
        assert x.shape == y.shape and x.dtype == y.dtype, (a, k, x.shape, y.shape)
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), (a, k)
        else:
            assert np.array_equal(x, y), (a, k)


def strip(j, work):
    """Without timings, and with the work folder's path as WORK."""
    if isinstance(j, dict):
        return {k: strip(v, work) for k, v in j.items() if k != "seconds"}
    if isinstance(j, list):
        return [strip(v, work) for v in j]
    if isinstance(j, str):
        return j.replace(work, "WORK")
    return j


a, b, models = sys.argv[1], sys.argv[2], sys.argv[3:]
same_h5(a + "/store.h5", b + "/store.h5")
for m in models:
    ja = strip(json.load(open("%s/%s.metrics.json" % (a, m))), os.path.abspath(a))
    jb = strip(json.load(open("%s/%s.metrics.json" % (b, m))), os.path.abspath(b))
    assert ja == jb, (m, ja, jb)
    same_h5("%s/%s.hist.h5" % (a, m), "%s/%s.hist.h5" % (b, m))
# The store's histograms (histograms:), when the first run made them.
if os.path.exists(a + "/hist/all.hist.h5"):
    same_h5(a + "/hist/all.hist.h5", b + "/hist/all.hist.h5")
print("same results:", a, b)
