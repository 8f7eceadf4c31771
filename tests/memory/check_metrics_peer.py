"""Check a `dmpipe metrics --include-train --allow-unresolved --json` result
against scikit-learn on the same score file (read here with h5py): for every
signal row, the AUC (roc_auc_score) and eps_S at eps_B = 1e-2, 1e-3, 1e-4
(np.interp on roc_curve), to 1e-12, with the background the JSON names; and
one row for every signal the file holds.
usage: check_metrics_peer.py SCORES.h5 METRICS.json
       check_metrics_peer.py --same A.json B.json   (equal but for "seconds")"""
import json
import re
import sys

import h5py
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

if sys.argv[1] == "--same":
    a, b = (re.sub(rb'"seconds":\s*[^,}\n]*', b"", open(p, "rb").read()) for p in sys.argv[2:4])
    if a != b:
        sys.exit(f"{sys.argv[2]} and {sys.argv[3]} differ")
    print(f"same: {sys.argv[2]} {sys.argv[3]}")
    sys.exit(0)

scores, js_path = sys.argv[1], sys.argv[2]
with h5py.File(scores, "r") as f:
    names = [n.decode() for n in f["processes/name"][...]]
    proc = f["scores/process"][...]
    score = f["scores/score"][...]
js = json.load(open(js_path))
bkg_names = js["background"].split(",")
sig_names = js["signals"].split(",")
nm = np.array(names)[proc]
bkg = np.isin(nm, bkg_names)
failed = []
rows = {r["signal"]: r for r in js["results"]}
present = sorted(set(nm[~bkg]) & set(sig_names))
if sorted(rows) != present or not present:
    failed.append(f"rows {sorted(rows)}, signals in the file {present}")
for s, r in rows.items():
    sel = bkg | (nm == s)
    y = (nm[sel] == s).astype(int)
    auc = roc_auc_score(y, score[sel])
    fpr, tpr, _ = roc_curve(y, score[sel])
    if abs(r["auc"] - auc) > 1e-12:
        failed.append(f"{s}: AUC {r['auc']!r}, scikit-learn {auc!r}")
    for e in ("1e-2", "1e-3", "1e-4"):
        want = float(np.interp(float(e), fpr, tpr))
        if abs(r["eps_s"][e] - want) > 1e-12:
            failed.append(f"{s}: eps_S@{e} {r['eps_s'][e]!r}, scikit-learn {want!r}")
if failed:
    sys.exit(f"{js_path}:\n  " + "\n  ".join(failed))
print(f"{js_path}: {len(rows)} signals against {bkg.sum()} background events agree with "
      "scikit-learn")
