"""Held-out evaluation end to end: train records its split, score marks the
training events, metrics leaves them out.

On a seeded store (ttbar and w_jets background, gluino_01 signal) and checked
against numpy / scikit-learn computed here from the store alone:
  - /scores/train equals the split rule re-derived with h5py (per process: the
    first floor(f N_p) events of each background process in store order;
    --split global: the first floor(f N_bkg) background events), identical on
    1, 2 and 3 ranks and for any --batch; all 0 for another store;
  - metrics by default: the training events it leaves out and the background
    and signal counts it evaluates; AUC and eps_S against scikit-learn on the
    held-out events only (1e-12), on 1, 2 and 3 ranks; --include-train gives
    the numbers of every event;
  - working points: eps_B = e resolved iff the evaluated background holds
    >= K/e events (--min-bkg-per-wp), "unresolved" in JSON and text, skipped by
    best SI and TI unless --allow-unresolved; weighted, Kish's count decides;
  - several --scores files for one channel give the numbers of one combined
    file;
  - errors (np 1, 2, 3 under timeout): a score file without /scores/train
    unless --include-train; --store for a channel with several files.
Usage: check_heldout.py DMPIPE MPIEXEC MKSTORE PROCTABLE TMPDIR"""
import json
import math
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "metrics"))
from scores_h5 import write_scores, write_store  # noqa: E402

dmpipe, mpiexec, mkstore, proctable, tmp = sys.argv[1:6]
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
os.chdir(tmp)
EPS = (1e-2, 1e-3, 1e-4)
NAMES = ("1e-2", "1e-3", "1e-4")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def run(np_, args, expect_ok=True, timeout=300):
    cmd = [mpiexec, "-n", str(np_)] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if expect_ok and p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return p


def dm(np_, *args, **kw):
    return run(np_, [dmpipe] + list(args), **kw)


def metrics(np_, *args, **kw):
    out = os.path.join(tmp, "m.json")
    if os.path.exists(out):
        os.remove(out)
    p = dm(np_, "metrics", *args, "--json", out, **kw)
    js = None
    if p.returncode == 0:
        with open(out) as f:
            js = json.load(f)
    return p, js


# A store of 3 x 4000 events, another one for "a different store".
run(2, [mkstore, "s.h5", "4000", "17"])
run(1, [mkstore, "other.h5", "1500", "18"])
with h5py.File("s.h5", "r") as f:
    pnames = [n.decode() for n in f["processes/name"][...]]
    proc = f["events/process"][...]
bkg_ids = [pnames.index("ttbar"), pnames.index("w_jets")]
sig_id = pnames.index("gluino_01")
is_bkg = np.isin(proc, bkg_ids)

FRAC = 0.7
# The rule, from the store alone.
want_pp = np.zeros(len(proc), dtype=np.uint8)
for p in bkg_ids:
    idx = np.flatnonzero(proc == p)
    want_pp[idx[: int(math.floor(FRAC * len(idx)))]] = 1
want_gl = np.zeros(len(proc), dtype=np.uint8)
idx = np.flatnonzero(is_bkg)
want_gl[idx[: int(math.floor(FRAC * len(idx)))]] = 1

dm(2, "train", "kde", "--in", "s.h5", "--out", "m.h5", "--max-train", "500",
   "--train-fraction", str(FRAC), "--seed", "5", "--quiet")
dm(3, "train", "kde", "--in", "s.h5", "--out", "mg.h5", "--max-train", "500",
   "--train-fraction", str(FRAC), "--split", "global", "--seed", "5", "--quiet")
with h5py.File("m.h5", "r") as f:
    g = f["training"]
    if g.attrs["rule"].decode() != "per-process" or abs(g.attrs["fraction"] - FRAC) > 0 or \
            int(g.attrs["n_pool"]) != int(want_pp.sum()) or \
            int(g.attrs["store_events"]) != len(proc):
        fail(f"model /training attributes: {dict(g.attrs)}")
    bg = [n.decode() for n in g["background"][...]]
    pool = dict(zip(bg, g["pool"][...].tolist()))
    if pool != {"ttbar": int(want_pp[proc == bkg_ids[0]].sum()),
                "w_jets": int(want_pp[proc == bkg_ids[1]].sum())}:
        fail(f"model /training pool per process: {pool}")

train_cols = {}
for np_, batch in ((1, 65536), (2, 700), (3, 1111)):
    dm(np_, "score", "--model", "m.h5", "--in", "s.h5", "--out", f"sc{np_}.h5", "--batch",
       str(batch), "--quiet")
    with h5py.File(f"sc{np_}.h5", "r") as f:
        train_cols[np_] = f["scores/train"][...]
        if int(f.attrs["n_train"]) != int(want_pp.sum()):
            fail(f"np {np_}: n_train attribute {f.attrs['n_train']}")
    if not np.array_equal(train_cols[np_], want_pp):
        fail(f"np {np_}: /scores/train differs from the per-process rule "
             f"({int((train_cols[np_] != want_pp).sum())} events)")
dm(2, "score", "--model", "mg.h5", "--in", "s.h5", "--out", "scg.h5", "--batch", "500",
   "--quiet")
with h5py.File("scg.h5", "r") as f:
    if not np.array_equal(f["scores/train"][...], want_gl):
        fail("--split global: /scores/train differs from the global rule")
# Another store: every event 0, and the file says why.
p = dm(2, "score", "--model", "m.h5", "--in", "other.h5", "--out", "sco.h5")
with h5py.File("sco.h5", "r") as f:
    if f["scores/train"][...].any() or int(f.attrs["n_train"]) != 0 or \
            b"differs" not in f.attrs["train_marking"]:
        fail("another store: /scores/train not all 0 or no explanation")
if "training events      0" not in p.stdout:
    fail(f"score on another store does not report 0 training events: {p.stdout}")
# A record whose checksum algorithm this dmpipe does not compute: no verdict
# (no column, and the file says why) rather than a wrong "all 0".
shutil.copy("m.h5", "malgo.h5")
with h5py.File("malgo.h5", "r+") as f:
    f["training"].attrs["store_checksum_algo"] = np.bytes_("sha-1")
dm(3, "score", "--model", "malgo.h5", "--in", "s.h5", "--out", "scalgo.h5", "--quiet")
with h5py.File("scalgo.h5", "r") as f:
    if "train" in f["scores"] or b"'sha-1' checksum" not in f.attrs["train_marking"]:
        fail(f"unknown checksum algorithm: {dict(f.attrs)}")
# Stores related by selection hold some training events at unknown places:
# no column (so metrics refuses without --include-train), and the file says
# why. The model of s.h5 scored on a selection of s.h5; a model of that
# selection scored on s.h5.
dm(2, "select", "--in", "s.h5", "--cuts", os.path.join(HERE, "loose_cuts.ini"), "--out",
   "sel.h5", "--quiet")
dm(2, "score", "--model", "m.h5", "--in", "sel.h5", "--out", "scsel.h5", "--quiet")
dm(2, "train", "kde", "--in", "sel.h5", "--out", "msel.h5", "--max-train", "300", "--quiet")
dm(3, "score", "--model", "msel.h5", "--in", "s.h5", "--out", "scpar.h5", "--quiet")
for path, words in (("scsel.h5", b"is a selection of the model's training store s.h5"),
                    ("scpar.h5", b"is the parent of the model's training store sel.h5")):
    with h5py.File(path, "r") as f:
        if "train" in f["scores"] or words not in f.attrs["train_marking"]:
            fail(f"{path}: {f.attrs['train_marking']!r}")
    p, _ = metrics(2, "--scores", f"c={path}", "--background", "ttbar,w_jets", expect_ok=False,
                   timeout=60)
    if p.returncode != 1 or "--include-train" not in p.stderr:
        fail(f"metrics on {path}: rc {p.returncode}, {p.stderr!r}")
# dmpipe info shows the record.
p = dm(1, "info", "m.h5")
if f"{int(want_pp.sum())} training events of s.h5" not in p.stdout:
    fail(f"info does not show the training record: {p.stdout}")

with h5py.File("sc1.h5", "r") as f:
    score = f["scores/score"][...]


def reference(mask):
    """AUC and eps_S of gluino_01 against the background, on events in mask."""
    sel = mask & (is_bkg | (proc == sig_id))
    y = (proc[sel] == sig_id).astype(int)
    fpr, tpr, _ = roc_curve(y, score[sel])
    return roc_auc_score(y, score[sel]), [float(np.interp(e, fpr, tpr)) for e in EPS], \
        int((sel & is_bkg).sum()), int((sel & ~is_bkg).sum())


held = want_pp == 0
common = ["--background", "ttbar,w_jets", "--signals", "gluino_01"]
auc_h, eff_h, nb_h, ns_h = reference(held)
auc_a, eff_a, nb_a, ns_a = reference(np.ones_like(held))
if not abs(auc_h - auc_a) > 1e-6:
    fail("the test store does not tell held-out from all events apart")
# Held-out background: 2400 events, so 1e-2 is resolved at K = 10 and
# 1e-3 is not; with K = 2, 1e-3 (needs 2000) is resolved too.
if nb_h != 2400:
    fail(f"held-out background {nb_h}, the test expects 2400")
first = None
for np_ in (1, 2, 3):
    p, js = metrics(np_, "--scores", f"c={'sc%d.h5' % np_}", *common)
    ch = js["channels"][0]
    if ch["train_events_excluded"] != int(want_pp.sum()) or \
            ch["train_background_excluded"] != int(want_pp.sum()) or \
            ch["background_events"] != nb_h:
        fail(f"np {np_}: channel counts {ch}")
    r = js["results"][0]
    if r["signal_events"] != ns_h or r["background_events"] != nb_h:
        fail(f"np {np_}: row counts {r}")
    if abs(r["auc"] - auc_h) > 1e-12:
        fail(f"np {np_}: held-out AUC {r['auc']} vs sklearn {auc_h}")
    if abs(r["eps_s"]["1e-2"] - eff_h[0]) > 1e-12:
        fail(f"np {np_}: eps_S@1e-2 {r['eps_s']['1e-2']} vs sklearn {eff_h[0]}")
    for k in ("1e-3", "1e-4"):
        if r["eps_s"][k] != "unresolved" or r["si"][k] != "unresolved" or r["resolved"][k]:
            fail(f"np {np_}: eps_B {k} not flagged unresolved: {r}")
    wp = ch["working_points"]
    if not (wp["1e-2"]["resolved"] and wp["1e-2"]["needed"] == 1000 and
            not wp["1e-3"]["resolved"] and wp["1e-3"]["needed"] == 10000 and
            wp["1e-4"]["needed"] == 100000):
        fail(f"np {np_}: working points {wp}")
    # Best SI and TI skip the unresolved points.
    if abs(r["best_si"] - eff_h[0] / 0.1) > 1e-12 or \
            abs(js["total_improvement"]["gluino_01"]["ti"] - eff_h[0] / 0.1) > 1e-12:
        fail(f"np {np_}: best SI / TI use an unresolved point: {r['best_si']}")
    for k in ("unresolved (needs 10000)", "training events left out", "held-out events only"):
        if k not in p.stdout:
            fail(f"np {np_}: text output lacks '{k}'")
    if first is None:
        first = js["results"]
    elif js["results"] != first:
        fail(f"np {np_}: results differ from 1 rank")

# --include-train: every event, the numbers of before.
p, js = metrics(2, "--scores", "c=sc2.h5", *common, "--include-train", "--allow-unresolved")
r = js["results"][0]
if abs(r["auc"] - auc_a) > 1e-12 or r["background_events"] != nb_a or \
        any(abs(r["eps_s"][k] - e) > 1e-12 for k, e in zip(NAMES, eff_a)) or \
        js["channels"][0]["train_events_excluded"] != 0:
    fail(f"--include-train: {r}")
if abs(r["best_si"] - max(e / math.sqrt(x) for e, x in zip(eff_a, EPS))) > 1e-9:
    fail(f"--allow-unresolved: best SI {r['best_si']} is not the max over all points")
if "0.08" not in p.stdout and "*" not in p.stdout:
    fail("--allow-unresolved: text does not mark unresolved points")

# K moves the threshold: K = 2 resolves 1e-3 (2400 >= 2000), not 1e-4.
p, js = metrics(1, "--scores", "c=sc1.h5", *common, "--min-bkg-per-wp", "2")
r = js["results"][0]
if abs(r["eps_s"]["1e-3"] - eff_h[1]) > 1e-12 or r["eps_s"]["1e-4"] != "unresolved":
    fail(f"--min-bkg-per-wp 2: {r['eps_s']}")
want_best = max(eff_h[0] / 0.1, eff_h[1] / math.sqrt(1e-3))
if abs(r["best_si"] - want_best) > 1e-9:
    fail(f"--min-bkg-per-wp 2: best SI {r['best_si']} vs {want_best}")
# K so large that nothing is resolved: no TI, a warning, the signal counted apart.
p, js = metrics(3, "--scores", "c=sc3.h5", *common, "--min-bkg-per-wp", "100")
if js["results"][0]["best_si"] != "unresolved" or \
        js["total_improvement"]["gluino_01"]["ti"] != "unresolved" or \
        js["summary"]["signals"] != 0 or js["summary"]["signals_unresolved"] != 1 or \
        js["summary"]["median_ti"] is not None or "no working point is resolved" not in p.stdout:
    fail(f"nothing resolved: {js['summary']}, {p.stdout}")

# Counting significance explains itself: at 2400 held-out background events
# (unit weights) 1e-2 is resolved, 1e-3 and 1e-4 are not and say why.
p, js = metrics(2, "--scores", "c=sc2.h5", *common, "--lumi", "10")
sig = {g["target_eff_b"]: g for g in js["significance"]}
if not sig[1e-2]["resolved"] or sig[1e-3]["resolved"] or sig[1e-4]["resolved"] or \
        abs(sig[1e-2]["background_effective_events"] - nb_h) > 1e-9:
    fail(f"--lumi: resolved flags {sig}")
for t in (1e-3, 1e-4):
    note = sig[t]["note"]
    if not (note.startswith("unresolved: 2400 effective background events") or
            note.startswith("no background above the cut: 2400 effective")):
        fail(f"--lumi {t}: note {note!r}")
    if note not in p.stdout:
        fail(f"--lumi {t}: the text lacks the note")

# Weighted: Kish's effective count decides. A store holding weights 1
# (ttbar) and 3 (w_jets): held out, (1200 + 3600)^2 / (1200 + 10800) = 1920
# effective events, so at K = 2 eps_B = 1e-3 (needs 2000) is unresolved
# although 2400 events would resolve it unweighted.
wts = np.where(proc == bkg_ids[0], 1.0, 3.0)
write_store("sw.h5", wts, pnames, np.bincount(proc, minlength=len(pnames)))
write_scores("scw.h5", pnames, proc, score, store_path="sw.h5", train=want_pp)
p, js = metrics(2, "--scores", "c=scw.h5", *common, "--weighted", "--min-bkg-per-wp", "2")
ch = js["channels"][0]
hb = held & is_bkg
kish = wts[hb].sum() ** 2 / (wts[hb] ** 2).sum()
if abs(ch["background_effective_events"] - kish) > 1e-9 * kish or abs(kish - 1920) > 1e-9 or \
        ch["working_points"]["1e-3"]["resolved"] or not ch["working_points"]["1e-2"]["resolved"]:
    fail(f"weighted: effective count {ch['background_effective_events']} vs {kish}, {ch}")
sel = held & (is_bkg | (proc == sig_id))
y = (proc[sel] == sig_id).astype(int)
w_all = np.where(proc == sig_id, 1.0, wts)
fpr, tpr, _ = roc_curve(y, score[sel], sample_weight=w_all[sel])
r = js["results"][0]
if abs(r["auc"] - roc_auc_score(y, score[sel], sample_weight=w_all[sel])) > 1e-9 or \
        abs(r["eps_s"]["1e-2"] - np.interp(1e-2, fpr, tpr)) > 1e-9 or \
        r["eps_s"]["1e-3"] != "unresolved":
    fail(f"weighted held-out metrics: {r}")

# Several files per channel = one combined file. Split sc1.h5 into the
# background rows and the signal rows (each with its own process table).
with h5py.File("sc1.h5", "r") as f:
    cols = {k: f["scores"][k][...] for k in ("event_id", "process", "score", "train")}
b = is_bkg
write_scores("part_bkg.h5", ["w_jets", "ttbar"],
             np.where(proc[b] == bkg_ids[0], 1, 0), cols["score"][b],
             event_id=cols["event_id"][b], train=cols["train"][b])
write_scores("part_sig.h5", ["gluino_01"], np.zeros(int((~b).sum())), cols["score"][~b],
             event_id=cols["event_id"][~b], train=cols["train"][~b])
for np_ in (1, 3):
    _, one = metrics(np_, "--scores", "c=sc1.h5", *common, "--min-bkg-per-wp", "2")
    _, two = metrics(np_, "--scores", "c=part_sig.h5", "--scores", "c=part_bkg.h5", *common,
                     "--min-bkg-per-wp", "2")
    if one["results"] != two["results"] or one["total_improvement"] != two["total_improvement"]:
        fail(f"np {np_}: two files per channel differ from one:\n{one['results']}\n"
             f"{two['results']}")
    if two["channels"][0]["scores"] != ["part_sig.h5", "part_bkg.h5"] or \
            two["channels"][0]["background_events"] != nb_h:
        fail(f"np {np_}: channel of two files: {two['channels'][0]}")

# Errors, on 1, 2 and 3 ranks under a timeout (a hang fails).
write_scores("old.h5", pnames, proc, score)
for np_ in (1, 2, 3):
    p, js = metrics(np_, "--scores", "c=old.h5", *common, expect_ok=False, timeout=60)
    if p.returncode != 1 or "old.h5 has no /scores/train column" not in p.stderr or \
            "--include-train" not in p.stderr or os.path.exists(os.path.join(tmp, "m.json")):
        fail(f"np {np_}: file without /scores/train: rc {p.returncode}, {p.stderr!r}")
    p, js = metrics(np_, "--scores", "c=old.h5", "--scores", "c=sc1.h5", *common,
                    "--include-train", "--allow-unresolved", expect_ok=False, timeout=60)
    if p.returncode != 0:
        fail(f"np {np_}: two files with --include-train failed: {p.stderr}")
    p, js = metrics(np_, "--scores", "c=part_sig.h5", "--scores", "c=part_bkg.h5",
                    "--store", "c=s.h5", *common, expect_ok=False, timeout=60)
    if p.returncode != 2 or "several score files" not in p.stderr:
        fail(f"np {np_}: --store with several files: rc {p.returncode}, {p.stderr!r}")
    p, js = metrics(np_, "--scores", "c=sc1.h5", "--scores", "c=sc1.h5", *common,
                    expect_ok=False, timeout=60)
    if p.returncode != 1 or "given twice" not in p.stderr:
        fail(f"np {np_}: the same file twice: rc {p.returncode}, {p.stderr!r}")

if failures:
    print(f"{len(failures)} failures")
    sys.exit(1)
print("all held-out checks passed")
