"""Makes a large score file for the metrics benchmark (not a test):
N events of two SM processes and two BSM signals (1% of the events), with a
store holding their weights. Usage: bench_scores.py OUTDIR N"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scores_h5 import make_channel, write_scores, write_store  # noqa: E402

out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(1)
nb, ns = n - n // 100, n // 200
names, proc, score, weight = make_channel(rng, [("ttbar", nb // 2, 0.0, 1.0, 1.0),
                                                ("w_jets", nb - nb // 2, 0.3, 1.2, 2.5),
                                                ("gluino_01", ns, 2.0, 1.0, 0.01),
                                                ("stop_02", n - nb - ns, 1.0, 1.5, 0.2)])
store = os.path.join(out, "bench_store.h5")
write_store(store, weight, names, np.bincount(proc, minlength=4))
write_scores(os.path.join(out, "bench_scores.h5"), names, proc, score, store_path=store)
