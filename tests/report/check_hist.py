"""dmpipe hist against an independent computation, across rank counts, and
merging.

  - histograms of a store's variables and of scores are bitwise identical on
    1, 2 and 3 ranks;
  - their counts equal numpy.histogram of the variables computed here from
    /objects (under- and overflow included), their sums of weights and of
    squared weights equal math.fsum of the bin's weights (the correctly
    rounded exact sum, so bit for bit) and numpy.histogram's to 1e-12;
  - scores are histogrammed on the test split (scores/train == 0) when the
    scores file has it, on every event otherwise, and say so;
  - histograms of two halves of the events, merged (dmpipe hist --merge and
    dmpipe metrics --merge-hist), equal the histograms of the whole, bit for
    bit; unit-weight histograms of the halves merged with weight.json's
    per-process weights (--scale-weights) equal those of the weighted whole;
  - bad binnings, scores of another store, different edges and weights that
    cannot be applied exactly fail clearly on
    1, 2 and 3 ranks, leaving no output.

usage: check_hist.py DMPIPE MPIEXEC TMPDIR
"""
import glob
import math
import os
import subprocess
import sys

import h5py
import numpy as np

dmpipe, mpiexec, tmp = sys.argv[1:4]
os.makedirs(tmp, exist_ok=True)
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def run(np_, args, expect_ok=True):
    cmd = [mpiexec, "-n", str(np_), dmpipe] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if expect_ok and p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited {p.returncode}")
    return p


def t(name):
    return os.path.join(tmp, name)


# ---- inputs: an archive, its store, and the same events in two halves -------
run(2, ["generate", "--out", t("archive"), "--events", "6000", "--seed", "11"])
csvs = sorted(glob.glob(t("archive/*.csv")))
for half in "ab":
    os.makedirs(t(half), exist_ok=True)
for path in csvs:
    with open(path) as f:
        lines = f.readlines()
    k = len(lines) // 2
    for half, part in (("a", lines[:k]), ("b", lines[k:])):
        with open(t(f"{half}/{os.path.basename(path)}"), "w") as f:
            f.writelines(part)
run(2, ["ingest", "--out", t("store.h5")] + csvs)
for half in "ab":
    run(1, ["ingest", "--out", t(f"{half}.h5")] + sorted(glob.glob(t(f"{half}/*.csv"))))

# Binnings: a file (with a log binning) and a flag overriding one of its
# variables; met_over_ht's range leaves the +inf of jetless events in overflow.
with open(t("bins.ini"), "w") as f:
    f.write("# test binnings\n[ht]\nbins = 37\nlo = 0\nhi = 3700\n\n"
            "[met]\nbins = 25\nlo = 20\nhi = 3000\nlog = yes\n\n"
            "[n_jets]\nbins = 12\nlo = -0.5\nhi = 11.5\n\n"
            "[n_leptons]\nbins = 6\nlo = -0.5\nhi = 5.5\n\n"
            "[met_over_ht]\nbins = 30\nlo = 0\nhi = 1.5\n\n"
            "[lead_jet_pt]\nbins = 40\nlo = 0\nhi = 2000\n\n"
            "[score]\nbins = 50\nlo = -4\nhi = 4\n")
bins = ["--bins", t("bins.ini"), "--var", "lead_jet_pt:30:25:3000:log"]

# ---- the variables, computed here from the store's objects --------------------
with h5py.File(t("store.h5"), "r") as f:
    ev_pid = f["events/process"][...]
    ev_id = f["events/event_id"][...]
    w = f["events/weight"][...].astype(np.float64)
    met = f["events/met"][...].astype(np.float64)
    off = f["events/obj_offset"][...]
    typ = f["objects/type"][...].astype(np.int64)
    pt = f["objects/pt"][...].astype(np.float64)
    pnames = [n.decode() for n in f["processes/name"][...]]
n = len(w)
ht = np.zeros(n)
lead = np.zeros(n)
njet = np.zeros(n)
nlep = np.zeros(n)
for i in range(n):
    s = 0.0  # in stored order, as the physics layer sums
    for j in range(off[i], off[i + 1]):
        if typ[j] <= 1:
            s += pt[j]
            njet[i] += 1
            lead[i] = max(lead[i], pt[j])
        elif typ[j] <= 5:
            nlep[i] += 1
    ht[i] = s
with np.errstate(divide="ignore", invalid="ignore"):
    moh = np.where(ht > 0, met / ht, np.where(met > 0, np.inf, 0.0))
variables = {"ht": ht, "met": met, "n_jets": njet, "n_leptons": nlep, "met_over_ht": moh,
             "lead_jet_pt": lead}

# Scores with a training split: a seeded function of the event, train on the
# first 60% of every third process, as a model's scores file would mark them.
rng = np.random.default_rng(3)
score = rng.normal(0, 1.5, n)
train = ((np.arange(n) < 0.6 * n) & (ev_pid % 3 == 0)).astype(np.uint8)


def write_scores(path, with_train, event_id=ev_id, length=n):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = np.bytes_("dmpipe-scores")
        f.attrs["format_version"] = np.int64(1)
        f.attrs["model_kind"] = np.bytes_("toy")
        f.attrs["n_scores"] = np.int64(length)
        f.create_dataset("scores/event_id", data=event_id[:length].astype(np.int64))
        f.create_dataset("scores/process", data=ev_pid[:length].astype(np.uint16))
        f.create_dataset("scores/score", data=score[:length])
        if with_train:
            f.create_dataset("scores/train", data=train[:length])
        f.create_dataset("processes/name", data=np.array([p.encode() for p in pnames]))
        f.create_dataset("processes/n_events",
                         data=np.bincount(ev_pid[:length], minlength=len(pnames)).astype(np.int64))


write_scores(t("split.scores.h5"), True)
write_scores(t("nosplit.scores.h5"), False)


def read_hists(path):
    out = {}
    with h5py.File(path, "r") as f:
        for key in f["histogram_names"][...]:
            g = f["histograms/" + key.decode()]
            out[key.decode()] = {k: g[k][...] for k in g} | {
                a: (v.decode() if isinstance(v, bytes) else v) for a, v in g.attrs.items()}
    return out


# ---- 1, 2, 3 ranks: the same bits ---------------------------------------------------
sc_args = ["--scores", t("split.scores.h5"), "--scores", "plain=" + t("nosplit.scores.h5")]
for np_ in (1, 2, 3):
    run(np_, ["hist", "--in", t("store.h5"), "--out", t(f"h{np_}.h5"), "--batch", "700"]
        + bins + sc_args)
h1 = read_hists(t("h1.h5"))
for np_ in (2, 3):
    hn = read_hists(t(f"h{np_}.h5"))
    if sorted(hn) != sorted(h1):
        fail(f"np {np_}: histograms {sorted(hn)} != {sorted(h1)}")
        continue
    for key in h1:
        for k in ("edges", "count", "sumw", "sumw2", "sumw_exact", "sumw2_exact"):
            if h1[key][k].tobytes() != hn[key][k].tobytes():
                fail(f"np {np_}: {key}/{k} differs from np 1")
expected_keys = {f"all/{v}" for v in variables} | {"all/score_toy", "all/plain"}
if set(h1) != expected_keys:
    fail(f"histograms {sorted(h1)}, expected {sorted(expected_keys)}")


# ---- against numpy ---------------------------------------------------------------
def check_against(key, x, keep, edges_expect=None):
    h = h1[key]
    e = h["edges"]
    if edges_expect is not None and not np.allclose(e, edges_expect, rtol=1e-13, atol=0):
        fail(f"{key}: edges {e[:3]}... != {edges_expect[:3]}...")
    if list(h["process_names"].astype(str)) != pnames:
        fail(f"{key}: process names differ from the store's")
    for p in range(len(pnames)):
        sel = keep & (ev_pid == p)
        xs, ws = x[sel], w[sel]
        inside = (xs >= e[0]) & (xs < e[-1])
        cnt, _ = np.histogram(xs[inside], bins=e)
        sw, _ = np.histogram(xs[inside], bins=e, weights=ws[inside])
        sw2, _ = np.histogram(xs[inside], bins=e, weights=ws[inside] ** 2)
        under, over = xs < e[0], xs >= e[-1]
        want = np.concatenate(([under.sum()], cnt, [over.sum()]))
        if not np.array_equal(h["count"][p], want):
            fail(f"{key} {pnames[p]}: counts {h['count'][p]} != numpy {want}")
            continue
        if not np.allclose(h["sumw"][p][1:-1], sw, rtol=1e-12, atol=0) or \
                not np.allclose(h["sumw2"][p][1:-1], sw2, rtol=1e-12, atol=0):
            fail(f"{key} {pnames[p]}: sums of weights differ from numpy.histogram")
        # Bin by bin, the exact sum rounded once: math.fsum's answer exactly.
        b = np.searchsorted(e, xs, side="right")  # 0 under, len(e) over
        for j in range(len(e) + 1):
            wj = ws[b == j]
            fs = math.fsum(wj)
            fs2 = math.fsum(wj * wj)
            if h["sumw"][p][j] != fs or h["sumw2"][p][j] != fs2:
                fail(f"{key} {pnames[p]} bin {j}: sumw {h['sumw'][p][j]!r} / {fs!r}, "
                     f"sumw2 {h['sumw2'][p][j]!r} / {fs2!r}")
                break


allev = np.ones(n, dtype=bool)
check_against("all/ht", ht, allev, np.linspace(0, 3700, 38))
check_against("all/met", met, allev, np.geomspace(20, 3000, 26))
check_against("all/lead_jet_pt", lead, allev, np.geomspace(25, 3000, 31))
for v in ("n_jets", "n_leptons", "met_over_ht"):
    check_against("all/" + v, variables[v], allev)
check_against("all/score_toy", score, train == 0, np.linspace(-4, 4, 51))
check_against("all/plain", score, allev, np.linspace(-4, 4, 51))
if "test split" not in h1["all/score_toy"]["subset"]:
    fail(f"split scores: subset {h1['all/score_toy']['subset']!r}")
if "unknown" not in h1["all/plain"]["subset"]:
    fail(f"scores without a split: subset {h1['all/plain']['subset']!r}")
if h1["all/met"]["log_scale"] != 1 or h1["all/ht"]["log_scale"] != 0:
    fail("log_scale attributes wrong")
if "events/weight" not in h1["all/ht"]["weights"]:
    fail(f"weights attribute {h1['all/ht']['weights']!r}")
if h1["all/met_over_ht"]["count"][:, -1].sum() < (moh == np.inf).sum():
    fail("met_over_ht = inf not in the overflow")
p = run(2, ["info", t("h1.h5")])
if "all/ht: 37 bins over [0, 3700)" not in p.stdout or \
        f"all/met: 25 bins over [20, 3000) log-spaced, {len(pnames)} processes, {n} entries" \
        not in p.stdout or "test split" not in p.stdout:
    fail(f"dmpipe info of a histogram file: {p.stdout!r}")

# ---- halves merged equal the whole -------------------------------------------------
half_args = bins + ["--channel", "all"]
run(2, ["hist", "--in", t("a.h5"), "--out", t("ha.h5")] + half_args)
run(3, ["hist", "--in", t("b.h5"), "--out", t("hb.h5")] + half_args)
run(1, ["hist", "--in", t("store.h5"), "--out", t("hall.h5")] + half_args)
run(3, ["hist", "--merge", t("merged.h5"), t("ha.h5"), t("hb.h5")])
run(2, ["metrics", "--merge-hist", t("merged2.h5"), t("hb.h5"), t("ha.h5")])
whole = read_hists(t("hall.h5"))
for mpath in ("merged.h5", "merged2.h5"):
    m = read_hists(t(mpath))
    if sorted(m) != sorted(whole):
        fail(f"{mpath}: histograms {sorted(m)}")
        continue
    for key in whole:
        order = [list(m[key]["process_names"].astype(str)).index(p)
                 for p in whole[key]["process_names"].astype(str)]
        for k in ("count", "sumw", "sumw2", "sumw_exact", "sumw2_exact"):
            if m[key][k][order].tobytes() != whole[key][k].tobytes():
                fail(f"{mpath}: {key}/{k} differs from the whole")

# ---- unit-weight halves merged with per-process weights equal the weighted whole ---
# (dmpipe nightly's merged histograms): weight.json's w_p times the entries,
# exactly, against the histograms of the store with its /derived/weight.
run(1, ["weight", "--in", t("store.h5"), "--lumi", "10", "--json", t("w.json"), "--quiet"])
run(2, ["hist", "--in", t("a.h5"), "--out", t("ua.h5"), "--unit-weights"] + half_args)
run(3, ["hist", "--in", t("b.h5"), "--out", t("ub.h5"), "--unit-weights"] + half_args)
run(2, ["hist", "--in", t("store.h5"), "--out", t("hw.h5")] + half_args)
weighted = read_hists(t("hw.h5"))
with h5py.File(t("hw.h5"), "r") as f:
    wattr = f["histograms/all/ht"].attrs["weights"]
for np_ in (1, 2, 3):
    run(np_, ["hist", "--merge", t("sm.h5"), "--scale-weights", t("w.json"), t("ua.h5"),
              t("ub.h5")])
    m = read_hists(t("sm.h5"))
    if sorted(m) != sorted(weighted):
        fail(f"np {np_} --scale-weights: histograms {sorted(m)}")
        continue
    for key in weighted:
        order = [list(m[key]["process_names"].astype(str)).index(p)
                 for p in weighted[key]["process_names"].astype(str)]
        for k in ("count", "sumw", "sumw2", "sumw_exact", "sumw2_exact"):
            if m[key][k][order].tobytes() != weighted[key][k].tobytes():
                fail(f"np {np_} --scale-weights: {key}/{k} differs from the weighted whole")
    with h5py.File(t("sm.h5"), "r") as f:
        if f["histograms/all/ht"].attrs["weights"] != wattr:
            fail(f"np {np_} --scale-weights: weights attribute "
                 f"{f['histograms/all/ht'].attrs['weights']!r}, want {wattr!r}")
    os.remove(t("sm.h5"))
with open(t("resc.json"), "w") as f:
    f.write('{"format": "dmpipe-weights", "format_version": 2, "rescaled": true, '
            '"processes": []}\n')
with open(t("old.json"), "w") as f:
    f.write('{"format": "dmpipe-weights", "rescaled": false, "processes": []}\n')
scale_cases = [
    (["--merge", t("e.h5"), "--scale-weights", t("w.json"), t("ha.h5"), t("hb.h5")], 1,
     "are not the entry counts"),
    (["--merge", t("e.h5"), "--scale-weights", t("w.json"), t("ua.h5")], 1,
     "entries but"),
    (["--merge", t("e.h5"), "--scale-weights", t("resc.json"), t("ua.h5")], 1,
     "rescaled from the store's own"),
    (["--merge", t("e.h5"), "--scale-weights", t("old.json"), t("ua.h5")], 1,
     "older dmpipe weight"),
    (["--in", t("a.h5"), "--out", t("e.h5"), "--scale-weights", t("w.json")], 2,
     "--scale-weights goes with --merge"),
]

# ---- errors: clear, on every rank count, nothing left behind ----------------------
with open(t("bad.ini"), "w") as f:
    f.write("[ht]\nbins = 10\nlo = 0\nhi = 100\n[met]\nbins = ten\nlo = 0\nhi = 1\n")
with open(t("badlog.ini"), "w") as f:
    f.write("[met]\nbins = 10\nlo = 0\nhi = 100\nlog = yes\n")
write_scores(t("short.scores.h5"), False, length=n - 1)
other_ids = ev_id.copy()
other_ids[n // 2] += 100000
write_scores(t("other.scores.h5"), False, event_id=other_ids)
run(1, ["hist", "--in", t("store.h5"), "--out", t("coarse.h5"), "--var", "ht:10:0:3700"])
cases = [
    (["--in", t("store.h5"), "--out", t("e.h5"), "--bins", t("bad.ini")], 1, "bad.ini:6"),
    (["--in", t("store.h5"), "--out", t("e.h5"), "--bins", t("badlog.ini")], 1, "lo > 0"),
    (["--in", t("store.h5"), "--out", t("e.h5"), "--var", "ht:10:5"], 2, "NAME:NBINS:LO:HI"),
    (["--in", t("store.h5"), "--out", t("e.h5"), "--var", "htt:10:0:5"], 2, "unknown variable"),
    (["--in", t("store.h5"), "--out", t("e.h5"), "--var", "ht:10:auto:auto"], 2, "scores only"),
    (["--in", t("store.h5"), "--out", t("e.h5"), "--scores", t("short.scores.h5")], 1,
     "not its scores"),
    (["--in", t("store.h5"), "--out", t("e.h5"), "--scores", t("other.scores.h5")], 1,
     f"row {n // 2} is event"),
    (["--merge", t("e.h5"), t("hall.h5"), t("coarse.h5")], 1, "edges differ"),
    (["--in", t("nothere.h5"), "--out", t("e.h5")], 1, "nothere.h5"),
] + scale_cases
for args, rc, pattern in cases:
    for np_ in (1, 2, 3):
        p = run(np_, ["hist"] + args, expect_ok=False)
        if p.returncode != rc or pattern not in p.stderr:
            fail(f"np {np_} hist {' '.join(args)}: rc {p.returncode} (want {rc}), "
                 f"no '{pattern}' in {p.stderr!r}")
        if os.path.exists(t("e.h5")) or os.path.exists(t("e.h5.tmp")):
            fail(f"np {np_} hist {' '.join(args)}: output left behind")

if failures:
    raise SystemExit(f"{len(failures)} failure(s)")
print("hist checks passed")
