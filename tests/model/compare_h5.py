#!/usr/bin/env python3
"""compare_h5.py A.h5 B.h5 PATH[:rtol] ...: datasets and attributes at each PATH
must be equal (bit-identical, or within rtol when given). Exit 1 naming the
first difference."""
import sys

import h5py
import numpy as np


def values(f, path):
    if "@" in path:
        obj, attr = path.split("@")
        return np.atleast_1d(f[obj or "/"].attrs[attr])
    return f[path][()]


def main():
    a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
    for spec in sys.argv[3:]:
        path, _, tol = spec.partition(":")
        x, y = values(a, path), values(b, path)
        if x.shape != y.shape:
            print("FAIL %s: shapes %s and %s" % (path, x.shape, y.shape))
            sys.exit(1)
        if tol:
            rel = np.max(np.abs(x - y) / np.maximum(np.abs(x), 1e-300)) if x.size else 0.0
            ok = rel <= float(tol)
            print("%s: max rel diff %.3g (tolerance %s)" % (path, rel, tol))
        else:
            ok = np.array_equal(x, y)
            print("%s: %s" % (path, "identical" if ok else "DIFFERENT"))
        if not ok:
            sys.exit(1)


if __name__ == "__main__":
    main()
