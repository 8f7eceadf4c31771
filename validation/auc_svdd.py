"""AUC of each signal process against the SM background, from a dmpipe score
file (used by validation/bench_svdd.sh).

usage: auc_svdd.py SCORES.h5 [SCORES2.h5 ...]
Signals are the BSM processes of the pythia sample; the background is every
SM process of the store (sklearn's roc_auc_score; larger score = more
anomalous). With several score files (an ensemble of runs, or other
features) one column per file.
"""
import sys

import h5py
import numpy as np
from sklearn.metrics import roc_auc_score

SM = {"2gam", "gam_jets", "njets", "single_higgs", "single_top", "ttbar", "w_jets", "ww",
      "z_jets", "zw", "zz"}


def load(path):
    with h5py.File(path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["processes/name"][...]]
        return names, f["scores/process"][...], f["scores/score"][...]


def main():
    cols = [load(p) for p in sys.argv[1:]]
    names = cols[0][0]
    bkg = [i for i, n in enumerate(names) if n in SM]
    sig = [i for i, n in enumerate(names) if n not in SM]
    print("| signal | " + " | ".join(sys.argv[1:]) + " |")
    print("|---|" + "---|" * len(cols))
    for s in sig:
        row = []
        for names_c, proc, score in cols:
            assert names_c == names
            sel = np.isin(proc, bkg + [s])
            row.append(f"{roc_auc_score(proc[sel] == s, score[sel]):.3f}")
        print(f"| {names[s]} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
