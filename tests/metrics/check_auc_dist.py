"""dmpipe metrics' distributed AUC against scikit-learn, on samples made to
stress how the events fall on the ranks (each rank reads a block of rows):
  - heavy ties: three score values shared by background and signals, one
    signal of a single event tied with background, the signals in the last
    rows (on 3 ranks only the last rank holds any);
  - every score equal;
  - signal rows first, background after (on 3 ranks the first rank holds only
    signal, the others only background);
  - two events in all (on 3 ranks one rank holds nothing).
Each unweighted and weighted, on 1, 2 and 3 ranks: AUC (roc_auc_score) and
eps_S (np.interp on roc_curve) to 1e-12, and the JSON files byte for byte
the same on 1, 2 and 3 ranks (the run time left out), and again with the
smallest row budget (--rows-mb 0.01: runs of tied scores longer than a
rank may hold, read in passes).
Usage: check_auc_dist.py DMPIPE MPIEXEC TMPDIR"""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scores_h5 import write_scores, write_store  # noqa: E402

dmpipe, mpiexec, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
EPS = (1e-2, 1e-3, 1e-4)
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


rng = np.random.default_rng(20260302)


def sample(spec):
    """spec: list of (name, scores); rows in that order. Returns names, proc,
    score, weight (weights log-uniform over two decades)."""
    names = [n for n, _ in spec]
    proc = np.concatenate([np.full(len(s), i) for i, (_, s) in enumerate(spec)])
    score = np.concatenate([np.asarray(s, dtype=float) for _, s in spec])
    weight = 10 ** rng.uniform(-1, 1, len(score))
    return names, proc, score, weight


grid = np.array([0.0, 0.5, 1.0])
cases = {
    "ties": (["zz", "ww"], sample([
        ("zz", rng.choice(grid, 3000)),
        ("ww", rng.choice(grid, 1000, p=[0.6, 0.3, 0.1])),
        ("sig_a", rng.choice(grid + 0.5, 800)),
        ("sig_one", [0.5])])),
    "equal": (["zz"], sample([("zz", np.full(500, 0.25)), ("sig_a", np.full(200, 0.25))])),
    "signal_first": (["zz"], sample([("sig_a", rng.normal(1.0, 1.0, 1000)),
                                     ("zz", rng.normal(0.0, 1.0, 2000))])),
    "two_events": (["zz"], sample([("zz", [0.3]), ("sig_a", [0.7])])),
}

paths = {}
for c, (bkg, (names, proc, score, weight)) in cases.items():
    st = os.path.join(tmp, f"{c}_store.h5")
    write_store(st, weight, names, np.bincount(proc, minlength=len(names)))
    paths[c] = os.path.join(tmp, f"{c}_scores.h5")
    write_scores(paths[c], names, proc, score, store_path=st)


def run(np_, args):
    cmd = [mpiexec, "-n", str(np_), dmpipe, "metrics"] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"command failed: {' '.join(cmd)}")


# One run per rank count and weighting, every case a channel of its own.
BKG, SIGS = ["zz", "ww"], ["sig_a", "sig_one"]
scores_args = [f"--scores={c}={paths[c]}" for c in cases]
for weighted in (0, 1):
    texts = {}
    for n in (1, 2, 3):
        out = os.path.join(tmp, f"np{n}{'w' if weighted else 'u'}.json")
        args = scores_args + ["--background", ",".join(BKG), "--signals", ",".join(SIGS),
                              "--include-train", "--allow-unresolved", "--json", out]
        if weighted:
            args.append("--weighted")
        run(n, args)
        with open(out, "rb") as f:
            texts[n] = f.read()
        js = json.loads(texts[n])
        got = {(r["channel"], r["signal"]): r for r in js["results"]}
        for c, (bkg, (names, proc, score, weight)) in cases.items():
            nm = np.array(names)[proc]
            for s in (x for x in names if x not in bkg):
                sel = np.isin(nm, bkg) | (nm == s)
                y = (nm[sel] == s).astype(int)
                w = weight[sel] if weighted else None
                auc = roc_auc_score(y, score[sel], sample_weight=w)
                fpr, tpr, _ = roc_curve(y, score[sel], sample_weight=w)
                tag = f"{c} np{n} {'weighted' if weighted else 'unweighted'} {s}"
                r = got.get((c, s))
                if r is None:
                    fail(f"{tag}: no result row")
                    continue
                if abs(r["auc"] - auc) > 1e-12:
                    fail(f"{tag}: AUC {r['auc']!r} vs sklearn {auc!r}")
                for e, name in zip(EPS, ("1e-2", "1e-3", "1e-4")):
                    want = float(np.interp(e, fpr, tpr))
                    if abs(r["eps_s"][name] - want) > 1e-12:
                        fail(f"{tag}: eps_S@{name} {r['eps_s'][name]!r} vs {want!r}")
        if len(got) != 5:
            fail(f"np{n}: {len(got)} result rows, expected 5")
        # The smallest row budget (about 430 rows per rank, 210 weighted):
        # every tied score of "ties" and "equal" holds more on some rank, so
        # ties are settled from counts, in many passes; the same JSON.
        small = os.path.join(tmp, f"np{n}{'w' if weighted else 'u'}_small.json")
        run(n, [a for a in args if a not in ("--json", out)] + ["--json", small, "--rows-mb",
                                                                   "0.01"])
        with open(small, "rb") as f:
            texts[f"{n} small"] = f.read()
    # The run time is the only field allowed to differ.
    strip = {n: re.sub(rb'"seconds":\s*[^,}\n]*', b'"seconds":0', t) for n, t in texts.items()}
    for n in (2, 3, "1 small", "2 small", "3 small"):
        if strip[n] != strip[1]:
            fail(f"{'weighted' if weighted else 'unweighted'}: JSON on {n} ranks differs from "
                 "1 rank")

if failures:
    print(f"{len(failures)} failures")
    sys.exit(1)
print("all distributed AUC checks passed")
