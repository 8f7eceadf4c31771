"""dmpipe metrics against scikit-learn on the same scores.

Builds two channels of synthetic scores (SM background processes and BSM
signals, one channel with many tied scores), runs dmpipe metrics on 1, 2 and
3 ranks and checks:
  - AUC (roc_auc_score) and eps_S at eps_B = 1e-2, 1e-3, 1e-4 (roc_curve, then
    np.interp) per signal and channel, unweighted to 1e-12 and weighted (sample
    weights) to 1e-9; SI, best SI, TI and min/median/max TI recomputed here;
  - the same JSON numbers for every rank count, and bitwise identical
    histogram files (edges, counts, sums of weights), also with a row budget
    (--rows-mb) far below the rows, read in many passes;
  - histogram contents against numpy (counts exact, sums to 1e-12), at least
    10 background events per interior bin and an edge near eps_B = 1e-4;
  - merging the histograms of two halves of the events (same edges) gives the
    counts of the whole;
  - weights come from the store's /derived/weight (dmpipe weight) when it has one;
  - counting significance (s, b, s/sqrt(b), Asimov Z with and without a
    background uncertainty) from the raw weighted events above the cut;
  - errors: a NaN score names file and row, an unknown process name fails, and
    no output is left behind; a --rows-mb below its minimum is a usage error.
Usage: check_metrics.py DMPIPE MPIEXEC TMPDIR"""
import json
import math
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scores_h5 import make_channel, write_scores, write_store  # noqa: E402

dmpipe, mpiexec, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
EPS = (1e-2, 1e-3, 1e-4)
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def run(np_, args, expect_ok=True):
    # The score files here carry no /scores/train column and chan2's 30000
    # background events do not resolve eps_B = 1e-4: these checks compare
    # every number with scikit-learn, so they count every event and quote
    # every working point (the held-out and resolution rules: tests/heldout).
    extra = ["--include-train", "--allow-unresolved"] \
        if any(a.startswith("--scores") for a in args) else []
    cmd = [mpiexec, "-n", str(np_), dmpipe, "metrics"] + args + extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    if expect_ok and p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return p


rng = np.random.default_rng(20261123)
chan = {}
# chan1: large background so that eps_B = 1e-4 is resolved; continuous scores.
chan["chan1"] = make_channel(rng, [("ttbar", 90000, 0.0, 1.0, 1.0),
                                   ("w_jets", 40000, 0.3, 1.2, 2.5),
                                   ("gluino_01", 3000, 2.0, 1.0, 0.01),
                                   ("stop_02", 2000, 1.0, 1.5, 0.2)])
# chan2: scores on a grid of 0.05: many ties between and within classes.
chan["chan2"] = make_channel(rng, [("zz", 30000, 0.0, 1.0, 0.5),
                                   ("gluino_01", 1500, 1.5, 1.0, 0.02),
                                   ("Zp_01", 1200, 3.0, 0.7, 0.05)], ties=20)
paths = {}
for c, (names, proc, score, weight) in chan.items():
    st = os.path.join(tmp, f"{c}_store.h5")
    counts = np.bincount(proc, minlength=len(names))
    if c == "chan2":
        # Weights from `dmpipe weight` are /derived/weight and take precedence
        # over the archive's (here all 1, so using them would fail the checks).
        write_store(st, np.ones_like(weight), names, counts, derived_weights=weight)
    else:
        write_store(st, weight, names, counts)
    paths[c] = os.path.join(tmp, f"{c}_scores.h5")
    write_scores(paths[c], names, proc, score, store_path=st)


def reference(weighted):
    rows = {}
    for c, (names, proc, score, weight) in chan.items():
        bkg = np.isin(np.array(names)[proc], ["ttbar", "w_jets", "zz"])
        for i, n in enumerate(names):
            if n in ("ttbar", "w_jets", "zz"):
                continue
            sel = bkg | (proc == i)
            y = (proc[sel] == i).astype(int)
            w = weight[sel] if weighted else None
            fpr, tpr, _ = roc_curve(y, score[sel], sample_weight=w)
            auc = roc_auc_score(y, score[sel], sample_weight=w)
            eff = [float(np.interp(e, fpr, tpr)) for e in EPS]
            rows[(n, c)] = (auc, eff)
    return rows


def check_results(js, weighted, tag):
    ref = reference(weighted)
    tol = 1e-9 if weighted else 1e-12
    got = {(r["signal"], r["channel"]): r for r in js["results"]}
    if set(got) != set(ref):
        fail(f"{tag}: rows {sorted(got)} != {sorted(ref)}")
        return
    ti = {}
    for key, (auc, eff) in ref.items():
        r = got[key]
        if abs(r["auc"] - auc) > tol:
            fail(f"{tag} {key}: AUC {r['auc']!r} vs sklearn {auc!r}")
        for e, want in zip(("1e-2", "1e-3", "1e-4"), eff):
            if abs(r["eps_s"][e] - want) > tol:
                fail(f"{tag} {key}: eps_S@{e} {r['eps_s'][e]!r} vs sklearn {want!r}")
        best = max(v / math.sqrt(x) for v, x in zip(eff, EPS))
        if abs(r["best_si"] - best) > 1e-9 * max(1, best):
            fail(f"{tag} {key}: best SI {r['best_si']} vs {best}")
        ti[key[0]] = max(ti.get(key[0], 0), best)
    vals = sorted(ti.values())
    for k, want in (("min_ti", vals[0]), ("median_ti", float(np.median(vals))),
                    ("max_ti", vals[-1])):
        if abs(js["summary"][k] - want) > 1e-9 * max(1, want):
            fail(f"{tag}: {k} {js['summary'][k]} vs {want}")


scores_args = [f"--scores=chan1={paths['chan1']}", f"--scores=chan2={paths['chan2']}"]

# Unweighted and weighted metrics, histograms, on 1, 2, 3 ranks; and with a
# budget far below the rows (--rows-mb 0.1: about 4400 rows per rank, 2200
# weighted, against 84,000 and 16,000 per rank on 2 ranks), on 2 and 3 ranks:
# read again in many passes, with the same results to the bit.
hists, jsons = {}, {}
runs = [(n, "", []) for n in (1, 2, 3)] + [(n, "_small", ["--rows-mb", "0.1"]) for n in (2, 3)]
for n, suffix, budget in runs:
    for weighted in (0, 1):
        tag = f"np{n}{'w' if weighted else 'u'}{suffix}"
        out = os.path.join(tmp, f"{tag}.json")
        h = os.path.join(tmp, f"{tag}_hist.h5")
        args = scores_args + ["--json", out, "--hist-out", h] + budget
        if weighted:
            args += ["--weighted", "--lumi", "100", "--bkg-uncertainty", "0.1"]
        run(n, args)
        with open(out) as f:
            js = json.load(f)
        check_results(js, weighted, tag)
        hists[tag], jsons[tag] = h, js


def hist_arrays(path):
    with h5py.File(path, "r") as f:
        d = {}
        for c in f["histograms"]:
            for k in ("edges", "count", "sumw", "sumw2"):
                d[(c, k)] = f["histograms"][c]["score"][k][...]
        return d


for weighted in "uw":
    base = hist_arrays(hists[f"np1{weighted}"])
    for n in (2, 3):
        other = hist_arrays(hists[f"np{n}{weighted}"])
        for key, a in base.items():
            b = other[key]
            if a.shape != b.shape or a.tobytes() != b.tobytes():
                fail(f"histogram {key} on {n} ranks differs from 1 rank (bitwise)")
        res1 = jsons[f"np1{weighted}"]["results"]
        resn = jsons[f"np{n}{weighted}"]["results"]
        if res1 != resn:
            fail(f"results on {n} ranks differ from 1 rank ({weighted})")
        small = hist_arrays(hists[f"np{n}{weighted}_small"])
        for key, a in base.items():
            if a.tobytes() != small[key].tobytes():
                fail(f"histogram {key} with --rows-mb 0.1 on {n} ranks differs (bitwise)")
        js_small = jsons[f"np{n}{weighted}_small"]
        if js_small["results"] != res1 or js_small["channels"] != jsons[f"np1{weighted}"]["channels"]:
            fail(f"results with --rows-mb 0.1 on {n} ranks differ from 1 rank ({weighted})")
        if weighted == "w" and js_small["significance"] != jsons["np1w"]["significance"]:
            fail(f"significance with --rows-mb 0.1 on {n} ranks differs")
    if weighted == "w":
        if jsons["np1w"]["significance"] != jsons["np3w"]["significance"]:
            fail("significance differs between 1 and 3 ranks")

# Histogram contents against numpy.
h = hist_arrays(hists["np1w"])
for c, (names, proc, score, weight) in chan.items():
    edges = h[(c, "edges")]
    if not np.all(np.diff(edges) > 0):
        fail(f"{c}: edges not increasing")
    idx = np.searchsorted(edges, score, side="right")  # 0 underflow .. n overflow
    for i, name in enumerate(names):
        m = proc == i
        cnt = np.bincount(idx[m], minlength=len(edges) + 1)
        sw = np.bincount(idx[m], weights=weight[m], minlength=len(edges) + 1)
        sw2 = np.bincount(idx[m], weights=weight[m] ** 2, minlength=len(edges) + 1)
        if not np.array_equal(cnt, h[(c, "count")][i]):
            fail(f"{c}/{name}: counts differ from numpy")
        if not np.allclose(sw, h[(c, "sumw")][i], rtol=1e-12, atol=0):
            fail(f"{c}/{name}: sumw differs from numpy")
        if not np.allclose(sw2, h[(c, "sumw2")][i], rtol=1e-12, atol=0):
            fail(f"{c}/{name}: sumw2 differs from numpy")
    bkg = np.isin(np.array(names)[proc], ["ttbar", "w_jets", "zz"])
    nb = np.bincount(idx[bkg], minlength=len(edges) + 1)
    interior = nb[2:len(edges)]  # skip under/overflow and the lowest bin
    if interior.min() < 10:
        fail(f"{c}: an interior bin has {interior.min()} background events (< 10)")
    if c == "chan1":
        above = np.array([(score[bkg] >= e).mean() for e in edges])
        near = above[(above >= 0.5e-4) & (above <= 2e-4)]
        if len(near) == 0:
            fail("chan1: no bin edge resolves eps_B = 1e-4")
        if len(edges) < 120:
            fail(f"chan1: only {len(edges) - 1} bins")

# Significance from the raw weighted events above each reported cut.
for g in jsons["np1w"]["significance"]:
    names, proc, score, weight = chan[g["channel"]]
    nm = np.array(names)[proc]
    bkg = np.isin(nm, ["ttbar", "w_jets", "zz"])
    cut = score >= g["threshold"]
    s = 10.0 * weight[cut & (nm == g["signal"])].sum()
    b = 10.0 * weight[cut & bkg].sum()
    eb = weight[cut & bkg].sum() / weight[bkg].sum()
    if not (eb <= g["target_eff_b"] * (1 + 1e-12)):
        fail(f"significance {g['signal']}/{g['channel']}: eff_B {eb} above target")
    if b == 0:
        if g["z_asimov"] is not None or g["b"] != 0:
            fail(f"significance with no background: {g}")
        continue
    zs = s / math.sqrt(b)
    za = math.sqrt(2 * ((s + b) * math.log(1 + s / b) - s))
    sb = 0.1 * b
    zu = math.sqrt(2 * ((s + b) * math.log((s + b) * (b + sb**2) / (b**2 + (s + b) * sb**2))
                        - b**2 / sb**2 * math.log(1 + sb**2 * s / (b * (b + sb**2)))))
    for k, want in (("s", s), ("b", b), ("eff_b", eb), ("z_s_over_sqrt_b", zs),
                    ("z_asimov", za), ("z_asimov_with_uncertainty", zu)):
        if abs(g[k] - want) > 1e-9 * max(1.0, abs(want)):
            fail(f"significance {g['signal']}/{g['channel']}@{g['target_eff_b']}: {k} "
                 f"{g[k]} vs {want}")
    if not g["z_asimov_with_uncertainty"] <= g["z_asimov"] + 1e-12:
        fail("Z_A with uncertainty exceeds Z_A")

# Explicit process lists: background ttbar only, one signal.
out = os.path.join(tmp, "lists.json")
run(2, [f"--scores=chan1={paths['chan1']}", "--background", "ttbar", "--signals",
        "stop_02", "--json", out])
with open(out) as f:
    js = json.load(f)
names, proc, score, weight = chan["chan1"]
sel = (proc == 0) | (proc == 3)
y = (proc[sel] == 3).astype(int)
fpr, tpr, _ = roc_curve(y, score[sel])
r = js["results"]
if len(r) != 1 or abs(r[0]["auc"] - roc_auc_score(y, score[sel])) > 1e-12 or \
        abs(r[0]["eps_s"]["1e-3"] - np.interp(1e-3, fpr, tpr)) > 1e-12:
    fail(f"explicit lists: {r}")

# Merging: histograms of two halves with the edges of the whole add up to it.
names, proc, score, weight = chan["chan1"]
half = len(score) // 2
for k, sl in (("a", slice(0, half)), ("b", slice(half, None))):
    st = os.path.join(tmp, f"half_{k}_store.h5")
    write_store(st, weight[sl], names, np.bincount(proc[sl], minlength=len(names)))
    write_scores(os.path.join(tmp, f"half_{k}.h5"), names, proc[sl], score[sl], store_path=st)
    run(2, [f"--scores=chan1={os.path.join(tmp, f'half_{k}.h5')}", "--hist-edges",
            hists["np1w"], "--hist-out", os.path.join(tmp, f"half_{k}_hist.h5")])
merged = os.path.join(tmp, "merged_hist.h5")
run(3, ["--merge-hist", merged, os.path.join(tmp, "half_a_hist.h5"),
        os.path.join(tmp, "half_b_hist.h5")])
m = hist_arrays(merged)
if not np.array_equal(m[("chan1", "count")], h[("chan1", "count")]):
    fail("merged half histograms: counts differ from the whole")
# Exact sums: the merged halves are the whole, bit for bit.
for k in ("sumw", "sumw2"):
    if m[("chan1", k)].tobytes() != h[("chan1", k)].tobytes():
        fail(f"merged half histograms: {k} differs from the whole")
# Different edges cannot be merged: a clear error and no output.
other = os.path.join(tmp, "coarse_hist.h5")
run(1, [f"--scores=chan1={paths['chan1']}", "--hist-min-count", "50", "--hist-out", other])
bad_out = os.path.join(tmp, "bad_merge.h5")
p = run(2, ["--merge-hist", bad_out, hists["np1w"], other], expect_ok=False)
if p.returncode != 1 or "edges differ" not in p.stderr or os.path.exists(bad_out) \
        or os.path.exists(bad_out + ".tmp"):
    fail(f"merging different edges: rc {p.returncode}, stderr {p.stderr!r}")
# chan2 exists only in the second file: merged in as a new channel.
mixed = os.path.join(tmp, "mixed_merge.h5")
run(1, ["--merge-hist", mixed, os.path.join(tmp, "half_a_hist.h5"), hists["np1w"]])
with h5py.File(mixed, "r") as f:
    if sorted(f["histograms"]) != ["chan1", "chan2"]:
        fail("merge did not keep the channel only one file has")

# bumphunt reads the histograms: observed = background + gluino_01, expected =
# background, over the score bins of chan1.
bj = os.path.join(tmp, "bh.json")
p = subprocess.run([mpiexec, "-n", "2", dmpipe, "bumphunt", "--hist", hists["np1w"], "--channel",
                    "chan1", "--observed", "ttbar,w_jets,gluino_01", "--expected", "ttbar,w_jets",
                    "--toys", "200", "--json", bj], capture_output=True, text=True)
if p.returncode != 0:
    fail(f"bumphunt --hist: {p.stderr}")
else:
    with open(bj) as f:
        bh = json.load(f)
    sw = h[("chan1", "sumw")]
    w = bh["window"]
    sl = slice(w["first_bin"] + 1, w["last_bin"] + 2)  # skip the underflow bin
    if abs(w["expected"] - sw[0:2, sl].sum()) > 1e-9 * w["expected"] or \
            abs(w["observed"] - w["expected"] - sw[2, sl].sum()) > 1e-6 * w["observed"]:
        fail(f"bumphunt --hist: window sums {w} do not match the histogram")
    if bh["window"]["lo"] < 1.0:
        fail(f"bumphunt --hist: the excess of gluino_01 (high scores) found at {w}")

# A process without a cross section (NaN weights): an error when it takes part,
# NaN sums of weights (exact counts) in the histograms when it does not.
names, proc, score, weight = chan["chan2"]
nanw = weight.copy()
nanw[proc == names.index("Zp_01")] = np.nan
st = os.path.join(tmp, "nanw_store.h5")
write_store(st, np.ones_like(weight), names, np.bincount(proc, minlength=len(names)),
            derived_weights=nanw)
nsc = os.path.join(tmp, "nanw_scores.h5")
write_scores(nsc, names, proc, score, store_path=st)
p = run(2, [f"--scores=c={nsc}", "--weighted"], expect_ok=False)
if p.returncode != 1 or "process Zp_01" not in p.stderr:
    fail(f"NaN weight of a signal: rc {p.returncode}, {p.stderr!r}")
nh = os.path.join(tmp, "nanw_hist.h5")
run(2, [f"--scores=c={nsc}", "--weighted", "--signals", "gluino_01", "--hist-out", nh])
with h5py.File(nh, "r") as f:
    g = f["histograms/c/score"]
    zi = [n.decode() for n in g["process_names"][...]].index("Zp_01")
    if not np.all(np.isnan(g["sumw"][zi])) or g["count"][zi].sum() != (proc == zi).sum() or \
            np.isnan(g["sumw"][0]).any():
        fail("NaN weights of a process without a role: histogram sums not NaN or counts wrong")

# Errors: NaN score names file and row; unknown process; nothing left behind.
names, proc, score, weight = chan["chan2"]
bad = score.copy()
bad[1234] = np.nan
badp = os.path.join(tmp, "nan_scores.h5")
write_scores(badp, names, proc, bad)
bj = os.path.join(tmp, "nan.json")
p = run(3, [f"--scores=c={badp}", "--json", bj, "--hist-out", bj + ".h5"], expect_ok=False)
if p.returncode != 1 or "nan_scores.h5: row 1234" not in p.stderr:
    fail(f"NaN score: rc {p.returncode}, stderr {p.stderr!r}")
if os.path.exists(bj) or os.path.exists(bj + ".h5") or os.path.exists(bj + ".h5.tmp"):
    fail("NaN score: an output was left behind")
p = run(2, scores_args + ["--signals", "gluino_01,no_such_process"], expect_ok=False)
if p.returncode != 1 or "no_such_process" not in p.stderr:
    fail(f"unknown signal: rc {p.returncode}, stderr {p.stderr!r}")
p = run(1, ["--scores", "chan1"], expect_ok=False)
if p.returncode != 2:
    fail(f"bad --scores value: rc {p.returncode}")
for n in (1, 2, 3):
    p = run(n, scores_args + ["--rows-mb", "0.001"], expect_ok=False)
    if p.returncode != 2 or "--rows-mb" not in p.stderr:
        fail(f"--rows-mb 0.001 on {n} ranks: rc {p.returncode}, stderr {p.stderr!r}")

if failures:
    print(f"{len(failures)} failures")
    sys.exit(1)
print("all metrics checks passed")
