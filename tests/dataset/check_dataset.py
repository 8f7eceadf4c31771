"""Independent checks of dmpipe dataset and dmpipe evaluate outputs.

Nothing here calls dmpipe code. Channels are selected again in numpy from the
parent store; expected counts follow the documented rule
(floor(fsum(weights) x L / L_w + 1/2)); the draw, shuffle and decoy streams
are recomputed with a Python copy of the documented generator (xoshiro256**
seeded through splitmix64, FNV-1a stream names, Fisher-Yates), so the exact
order of every file is predicted. Usage:
  check_dataset.py hackathon STORE DIR SEED F SIGNALS LUMI CHAN...
                                                        files equal the prediction (SIGNALS
                                                        bsm|a,b; LUMI max|value)
  check_dataset.py same DIR_A DIR_B [--ignore-command-line]
                                                        CSV and manifest identical
                                                        (store checksums aside), store datasets equal
  check_dataset.py secret STORE DIR SEED CHAN LUMI DECOYS NAME=MU...
                                                        composition, order and labels exact,
                                                        blinding within statistical noise
  check_dataset.py exclude HACKDIR SECRETDIR CHAN       no real secret event is in the hackathon set
  check_dataset.py submit DIR CHAN OUT.csv MODE         a submission (MODE met|ties|bad-*)
  check_dataset.py evaluate LABELS SUB TABLE            table equals scikit-learn to 1e-12
  check_dataset.py tamper LABELS OUT                    a copy with one label changed
  check_dataset.py layouts SUB.csv                      the same pairs in awkward layouts for
                                                        the ranks' byte ranges (see cmd_layouts)
"""
import glob
import hashlib
import json
import math
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "select"))
from check_select import recompute, JET, BJET, EM, EP, MM, MP  # noqa: E402

M64 = (1 << 64) - 1
SM, BSM = 0, 1


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


# ---- the documented random streams -------------------------------------------

def splitmix(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


def rng_hash(seed, a, b):
    x, h = splitmix(seed)
    x, h = splitmix(h ^ a)
    x, h = splitmix(h ^ b)
    return h


class Rng:
    def __init__(self, seed, a, b):
        x = rng_hash(seed, a, b)
        self.s = []
        for _ in range(4):
            x, v = splitmix(x)
            self.s.append(v)

    def u64(self):
        s = self.s
        x = (s[1] * 5) & M64
        r = ((((x << 7) | (x >> 57)) & M64) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = ((s[3] << 45) | (s[3] >> 19)) & M64
        return r

    def below(self, n):
        if n <= 1:
            return 0
        limit = M64 - (M64 % n)
        while True:
            x = self.u64()
            if x < limit:
                return x % n

    def uniform(self):
        return (self.u64() >> 11) * 2.0 ** -53


def fnv(s):
    h = 0xCBF29CE484222325
    for c in s.encode():
        h ^= c
        h = (h * 0x100000001B3) & M64
    return h


TAG_DRAW, TAG_SHUFFLE, TAG_DECOY = 1, 2, 3


def plan(seed, chan, names, avail, want, n_decoy):
    """Items (process, index among available) in process order, decoy
    sources, and the position of every item."""
    ch = fnv(chan)
    items = []
    for p, name in enumerate(names):
        if want[p] == 0:
            continue
        a = list(range(avail[p]))
        r = Rng(seed, ch ^ TAG_DRAW, fnv(name))
        for i in range(want[p]):
            j = i + r.below(avail[p] - i)
            a[i], a[j] = a[j], a[i]
            items.append((p, a[i]))
    n_real = len(items)
    src = []
    for j in range(n_decoy):
        r = Rng(seed, ch ^ TAG_DECOY, j)
        src.append(r.below(n_real))
    n = n_real + n_decoy
    order = list(range(n))
    r = Rng(seed, ch ^ TAG_SHUFFLE, 0)
    for i in range(n - 1, 0, -1):
        j = r.below(i + 1)
        order[i], order[j] = order[j], order[i]
    return items, src, order  # order[t] = item at position t


# ---- the parent store, selected again -------------------------------------------

def kinds(table_path):
    out = {}
    with open(table_path) as f:
        head = None
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cols = [c.strip() for c in line.rstrip("\n").split(",")]
            if head is None:
                head = cols
                continue
            row = dict(zip(head, cols))
            out[row["name"]] = SM if row["kind"] == "sm" else BSM
    return out


_derived = {}


def select_mask(f, chan):
    f32 = np.float32
    key = f.filename
    if key not in _derived:  # one pass per store, whatever the channels
        _derived[key] = recompute(f)
    d = _derived[key]
    met = f["events/met"][:].astype(f32)
    off = f["events/obj_offset"][:]
    typ = f["objects/type"][:]
    pt = f["objects/pt"][:].astype(f32)
    ht = d["ht"].astype(f32)
    ratio = d["met_over_ht"].astype(f32)
    jets = (typ == JET) | (typ == BJET)
    lep = (typ == EM) | (typ == EP) | (typ == MM) | (typ == MP)

    def count(mask, ptmin):
        m = (mask & (pt > f32(ptmin))).astype(np.int64)
        c = np.concatenate([[0], np.cumsum(m)])
        return c[off[1:]] - c[off[:-1]]
    if chan == "chan1":
        return ((ht >= f32(600)) & (met >= f32(200)) & (ratio >= f32(0.2))
                & (count(jets, 50) >= 4) & (count(jets, 200) >= 1))
    if chan == "chan2a":
        return (met >= f32(50)) & (count(lep, 15) >= 3)
    if chan == "chan2b":
        return (met >= f32(50)) & (count(lep, 15) >= 2) & (ht >= f32(50))
    return (ht >= f32(600)) & (met >= f32(100))


class Parent:
    def __init__(self, path, chan):
        with h5py.File(path, "r") as f:
            self.names = [x.decode() for x in f["processes/name"][:]]
            keep = select_mask(f, chan)
            self.proc = f["events/process"][:][keep]
            self.ids = f["events/event_id"][:][keep]
            self.w = f["events/weight"][:][keep]
        tab = kinds(os.path.join(os.environ["DM_SOURCE_DIR"], "data", "processes.csv"))
        self.kind = [tab[n] for n in self.names]
        self.n_sel = [int((self.proc == p).sum()) for p in range(len(self.names))]
        # Expected events per fb^-1: exact sum of the weights (fsum rounds once), L_w = 10.
        self.rate = [math.fsum(self.w[self.proc == p]) / 10.0 for p in range(len(self.names))]
        # Events of each process in store order: (event ID, weight).
        self.by_proc = [self.ids[self.proc == p] for p in range(len(self.names))]
        self.w_by_proc = [self.w[self.proc == p] for p in range(len(self.names))]


def rnd(mu):
    return int(math.floor(mu + 0.5)) if mu > 0 else 0


def lumi_max(par, use, scale):
    bound, lim = math.inf, None
    for p in range(len(par.names)):
        if use[p] and scale[p] * par.rate[p] > 0:
            b = (par.n_sel[p] + 0.5) / (scale[p] * par.rate[p])
            if b < bound:
                bound, lim = b, p
    return bound, lim


def feasible(par, use, scale, lumi):
    return all(rnd(scale[p] * par.rate[p] * lumi) <= par.n_sel[p]
               for p in range(len(par.names)) if use[p])


def read_csv(path):
    rows = []
    with open(path) as f:
        for line in f:
            fl = line.rstrip("\n").rstrip(";").split(";")
            rows.append(fl)
    return rows


def store_rows(path):
    with h5py.File(path, "r") as f:
        names = [x.decode() for x in f["processes/name"][:]]
        return [(names[p], int(i)) for p, i in zip(f["events/process"][:], f["events/event_id"][:])], f["events/weight"][:]


# ---- hackathon ------------------------------------------------------------------------

def cmd_hackathon(store, d, seed, frac, signals, lumi, chans):
    seed = int(seed)
    frac = float(frac)
    man = json.load(open(os.path.join(d, "manifest.json")))
    if man["seed"] != str(seed) or man["kind"] != "hackathon":
        fail("manifest seed/kind")
    files = {e["file"]: e for e in man["files"]}
    for chan in chans:
        par = Parent(store, chan)
        use = [k == SM for k in par.kind]
        one = [1.0] * len(use)
        bound, lim = lumi_max(par, use, one)
        ci = man["channels"][chan]
        L = ci["lumi_fb"]
        if lumi != "max":
            if L != float(lumi) or ci["limiting_process"] != "":
                fail(f"{chan}: L = {L}, asked for {lumi}")
        else:
            # The largest 3-significant-digit luminosity below the bound that the rule allows.
            if not (L < bound and feasible(par, use, one, L)):
                fail(f"{chan}: L = {L} is not allowed (bound {bound})")
            e = math.floor(math.log10(L)) - 2
            up = float("%.3g" % ((round(L / 10 ** e) + 1) * 10 ** e))
            if up < bound and feasible(par, use, one, up):
                fail(f"{chan}: L = {L} is not the largest: {up} is allowed too")
            if ci["limiting_process"] != par.names[lim]:
                fail(f"{chan}: limiting {ci['limiting_process']} != {par.names[lim]}")
        want = [rnd(par.rate[p] * L) if use[p] else 0 for p in range(len(use))]
        items, _, order = plan(seed, chan, par.names, par.n_sel, want, 0)
        expect = [(par.names[items[c][0]], int(par.by_proc[items[c][0]][items[c][1]]))
                  for c in order]
        n = len(expect)
        n_train = int(math.floor(frac * n + 0.5))
        lt = ci["lumi_text"]
        base = os.path.join(d, f"background_{chan}_{lt}")
        rows = read_csv(base + ".csv")
        got = [(r[1], int(r[0])) for r in rows]
        if got != expect:
            fail(f"{chan}: background order differs from the predicted draw and shuffle "
                 f"({len(got)} vs {len(expect)} events)")
        if any(r[2] != "1" for r in rows):
            fail(f"{chan}: a background weight is not 1")
        tr, wtr = store_rows(base + "_train.h5")
        te, wte = store_rows(base + "_test.h5")
        if tr != expect[:n_train] or te != expect[n_train:]:
            fail(f"{chan}: train/test stores are not the first {n_train} / the rest")
        if not (np.all(wtr == 1) and np.all(wte == 1)):
            fail(f"{chan}: store weights not 1")
        # Counts per process: the documented rule, and the manifest says so.
        for p, name in enumerate(par.names):
            c = sum(1 for x in expect if x[0] == name)
            if c != want[p]:
                fail(f"{chan}: {name} has {c} events, rule says {want[p]}")
        ent = files[os.path.basename(base) + ".csv"]
        if ent["events"] != n or ent["processes"] != {par.names[p]: want[p] for p in range(len(want)) if want[p]}:
            fail(f"{chan}: manifest counts of the background")
        if files[os.path.basename(base) + "_train.h5"]["events"] != n_train:
            fail(f"{chan}: manifest train count")
        for fn in (base + ".csv", base + "_train.h5"):
            if files[os.path.basename(fn)]["bytes"] != os.path.getsize(fn):
                fail(f"{fn}: manifest size")
        # Signals: every selected event in store order, weight w / (1000 L_w).
        n_sig = 0
        for p, name in enumerate(par.names):
            path = os.path.join(d, f"{name}_{chan}.csv")
            wanted = par.kind[p] == BSM if signals == "bsm" else name in signals.split(",")
            if not wanted or par.n_sel[p] == 0:
                if os.path.exists(path):
                    fail(f"{path} should not exist")
                continue
            n_sig += 1
            rows = read_csv(path)
            if [int(r[0]) for r in rows] != [int(x) for x in par.by_proc[p]]:
                fail(f"{path}: not the selected events in store order")
            wexp = par.w_by_proc[p] / 10000.0
            wgot = np.array([float(r[2]) for r in rows])
            if not np.allclose(wgot, wexp, rtol=1e-15, atol=0):
                fail(f"{path}: weights are not w / (1000 L_w)")
            sr, sw = store_rows(os.path.join(d, f"{name}_{chan}.h5"))
            if [x[1] for x in sr] != [int(x) for x in par.by_proc[p]] or not np.array_equal(sw, wgot):
                fail(f"{name}_{chan}.h5 differs from its CSV")
        print(f"{chan}: L = {lt} (limit {par.names[lim]}), {n} background = {n_train} train + "
              f"{n - n_train} test, {n_sig} signals: as predicted")
    print("hackathon: ok")


def h5_datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        f.visititems(visit)
    return out


def cmd_same(a, b, ignore_cl=False):
    # A store's derived-column index carries the store's random identity in its
    # name (STEM.derived-ID.h5): the same file under another name per run.
    def names(d):
        return sorted(n for n in (os.path.basename(x) for x in glob.glob(os.path.join(d, "*")))
                      if ".derived-" not in n)
    fa, fb = names(a), names(b)
    if fa != fb:
        fail(f"different file lists: {set(fa) ^ set(fb)}")
    for n in fa:
        pa, pb = os.path.join(a, n), os.path.join(b, n)
        if n.endswith(".csv"):
            if open(pa, "rb").read() != open(pb, "rb").read():
                fail(f"{n} differs")
        elif n.endswith(".h5"):
            da, db = h5_datasets(pa), h5_datasets(pb)
            if da.keys() != db.keys() or any(not np.array_equal(da[k], db[k]) for k in da):
                fail(f"{n}: datasets differ")
    ma = os.path.join(a, "manifest.json")
    if os.path.exists(ma):
        ta, tb = json.load(open(ma)), json.load(open(os.path.join(b, "manifest.json")))
        # Stores carry their creation time: only their checksums may differ.
        for t in (ta, tb):
            for e in t["files"]:
                if e["file"].endswith(".h5"):
                    e["checksum"] = "store"
            if ignore_cl:
                t["command_line"] = t["parent"] = ""
        if ta != tb:
            fail("manifests differ beyond the stores' checksums")
    print(f"same: {len(fa)} files")


# ---- secret ----------------------------------------------------------------------------

def auc(pos, neg):
    """P(pos > neg) + P(=)/2, exact by ranks."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    allv = np.concatenate([pos, neg])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(len(allv))
    sv = allv[order]
    i = 0
    while i < len(sv):
        j = i
        while j + 1 < len(sv) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    r = ranks[:len(pos)].sum()
    return (r - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def within_noise(name, a, n1, n0):
    # Under no information the AUC is 0.5 with sd sqrt((n0 + n1 + 1) / (12 n0 n1)).
    sd = math.sqrt((n0 + n1 + 1) / (12.0 * n0 * n1))
    if abs(a - 0.5) > 4 * sd:
        fail(f"{name}: AUC {a:.4f} is {abs(a - 0.5) / sd:.1f} sd from 0.5 (n = {n1}, {n0})")
    print(f"  {name}: AUC {a:.4f} (|AUC - 0.5| <= 4 sd = {4 * sd:.4f})")


def sig_digits(t):
    m = t.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(m)


def cmd_secret(store, d, seed, chan, lumi, decoys, injects):
    seed, lumi, F = int(seed), float(lumi), float(decoys)
    par = Parent(store, chan)
    mu = {}
    for x in injects:
        k, v = x.split("=")
        mu[k] = float(v)
    use = [par.kind[p] == SM or par.names[p] in mu for p in range(len(par.names))]
    scale = [mu.get(par.names[p], 1.0) for p in range(len(par.names))]
    want = [rnd(scale[p] * par.rate[p] * lumi) if use[p] else 0 for p in range(len(use))]
    n_real = sum(want)
    n_dec = rnd(F / (1 - F) * n_real)
    items, src, order = plan(seed, chan, par.names, par.n_sel, want, n_dec)
    n = n_real + n_dec
    lab = h5py.File(os.path.join(d, f"labels_{chan}.h5"), "r")
    names = [x.decode() for x in lab["processes/name"][:]]
    kind = lab["labels/kind"][:]
    lproc = lab["labels/process"][:]
    if len(kind) != n or not np.array_equal(lab["labels/event_id"][:], np.arange(1, n + 1)):
        fail(f"labels: {len(kind)} events, expected {n} with IDs 1..N")
    rows = read_csv(os.path.join(d, f"unlabeled_{chan}.csv"))
    if len(rows) != n:
        fail(f"unlabeled CSV has {len(rows)} lines, expected {n}")
    # Exact composition and order: position t holds item order[t].
    for t, c in enumerate(order):
        if c < n_real:
            p, k = items[c]
            ek = 1 if par.names[p] in mu else 0
        else:
            p, k = items[src[c - n_real]]
            ek = 2
        if names[lproc[t]] != par.names[p] or kind[t] != ek:
            fail(f"position {t}: label {names[lproc[t]]}/{kind[t]}, predicted {par.names[p]}/{ek}")
    for p, name in enumerate(par.names):
        c = int(((lproc == p) & (kind != 2)).sum())
        if c != want[p]:
            fail(f"{name}: {c} real events, rule floor(MU mu + 1/2) says {want[p]}")
    if int((kind == 2).sum()) != n_dec:
        fail("decoy count")
    # Blinding: constant fields; order/ID carry no label information.
    if any(r[1] != "unlabeled" or r[2] != "1" for r in rows):
        fail("process or weight field is not constant")
    if [int(r[0]) for r in rows] != list(range(1, n + 1)):
        fail("IDs are not 1..N in file order")
    with h5py.File(os.path.join(d, f"unlabeled_{chan}.h5"), "r") as u:
        if [x.decode() for x in u["processes/name"][:]] != ["unlabeled"]:
            fail("store process table is not one constant")
        if not np.all(u["events/weight"][:] == 1) or not np.all(u["events/process"][:] == 0):
            fail("store weights/process not constant")
        if not np.array_equal(u["events/event_id"][:], np.arange(1, n + 1)):
            fail("store IDs")
        sha = hashlib.sha256(open(os.path.join(d, f"labels_{chan}.h5"), "rb").read()).hexdigest()
        if u.attrs["labels_sha256"].decode() != sha:
            fail("labels_sha256 attribute is not the SHA-256 of the labels file")
        cl = u.attrs["command_line"].decode()
        if any(k in cl for k in mu):
            fail("the unlabeled store's command line names the injection")
        for ds in ("events/met", "objects/pt", "events/event_id"):
            print(f"  chunks {ds}: {u[ds].chunks}, {u[ds].compression or 'filter'}")
    ids = np.arange(1, n + 1)
    sig, bkg, dec = kind == 1, kind == 0, kind == 2
    print("blinding:")
    within_noise("event ID, signal vs background", auc(ids[sig], ids[bkg]), sig.sum(), bkg.sum())
    within_noise("event ID, decoy vs real", auc(ids[dec], ids[~dec]), dec.sum(), (~dec).sum())
    # Number formatting: significant digits of the angles, decoys vs real events.
    dg = np.array([np.mean([sig_digits(x) for x in [r[4]] + [o.split(",")[4] for o in r[5:]]])
                   for r in rows])
    within_noise("digits of the angles, decoy vs real", auc(dg[dec], dg[~dec]), dec.sum(), (~dec).sum())
    # Decoys: rotated and possibly reflected copies of their source events.
    pos_of = {c: t for t, c in enumerate(order)}
    ch = fnv(chan)
    for j in range(n_dec):
        r = Rng(seed, ch ^ TAG_DECOY, j)
        s = r.below(n_real)
        a = -math.pi + 2 * math.pi * r.uniform()
        flip = r.u64() >> 63
        dl, sl = rows[pos_of[n_real + j]], rows[pos_of[s]]
        if len(dl) != len(sl) or dl[3] != sl[3]:
            fail(f"decoy {j}: MET or object count differs from its source")
        for od, os_ in zip(dl[5:], sl[5:]):
            a_, b_ = od.split(","), os_.split(",")
            if a_[:3] != b_[:3]:
                fail(f"decoy {j}: object type/E/pT differ from the source")
            eta = float(b_[3]) * (-1 if flip else 1)
            if abs(float(a_[3]) - eta) > 0:
                fail(f"decoy {j}: eta {a_[3]} is not {'-' if flip else ''}{b_[3]}")
            dphi = (float(a_[4]) - float(b_[4]) - a + math.pi) % (2 * math.pi) - math.pi
            if abs(dphi) > 2e-5:
                fail(f"decoy {j}: phi not rotated by {a}")
    print(f"secret {chan}: {n_real} real ({n_real - sum(want[p] for p in range(len(want)) if par.names[p] in mu)} "
          f"background) + {n_dec} decoys: composition, order, labels and decoys as predicted")


def signature(r):
    return ";".join(r[3:])


def cmd_exclude(hack, sec, chan):
    seen = set()
    for path in glob.glob(os.path.join(hack, "*.csv")):
        for r in read_csv(path):
            seen.add(signature(r))
    lab = h5py.File(os.path.join(sec, f"labels_{chan}.h5"), "r")
    kind = lab["labels/kind"][:]
    rows = read_csv(os.path.join(sec, f"unlabeled_{chan}.csv"))
    both = [i for i, r in enumerate(rows) if kind[i] != 2 and signature(r) in seen]
    if both:
        fail(f"{len(both)} real secret events are in the hackathon set (first line {both[0] + 1})")
    print(f"exclude: none of {int((kind != 2).sum())} real secret events is in the hackathon set")


# ---- submissions and evaluation -----------------------------------------------------------

def cmd_submit(d, chan, out, mode):
    rows = read_csv(os.path.join(d, f"unlabeled_{chan}.csv"))
    ids = [int(r[0]) for r in rows]
    met = [float(r[3]) for r in rows]
    if mode == "ties":
        met = [math.floor(m / 20000.0) for m in met]  # coarse: many ties
    lines = list(zip(ids, met))
    if mode == "bad-missing":
        lines = lines[:2] + lines[4:]
    elif mode == "bad-duplicate":
        lines = lines + [lines[6]]
    elif mode == "bad-unknown":
        lines = lines + [(len(rows) + 5, 1.0)]
    with open(out, "w") as f:
        f.write("event_id,score\n")
        for i, s in lines:
            f.write(f"{i},{s!r}\n")


def cmd_evaluate(labels, sub, table):
    from sklearn.metrics import roc_auc_score, roc_curve
    lab = h5py.File(labels, "r")
    names = [x.decode() for x in lab["processes/name"][:]]
    kind, proc = lab["labels/kind"][:], lab["labels/process"][:]
    sc = np.zeros(len(kind))
    if sub.endswith(".csv"):
        d = np.loadtxt(sub, delimiter=",", skiprows=1)
        sc[d[:, 0].astype(int) - 1] = d[:, 1]
    else:
        with h5py.File(sub, "r") as f:
            sc[f["scores/event_id"][:] - 1] = f["scores/score"][:]
    got = {}
    with open(table) as f:
        head = f.readline().strip().split(",")
        if head != ["Signal", "Model", "Chan", "AUC", "1e-2", "1e-3", "1e-4"]:
            fail(f"table header {head}")
        for line in f:
            c = line.strip().split(",")
            got[c[0]] = [float(x) for x in c[3:]]
    expect = sorted({names[p] for p in proc[kind == 1]})
    if sorted(got) != expect:
        fail(f"signals {sorted(got)} != {expect}")
    for name in expect:
        p = names.index(name)
        m = (kind == 0) | ((kind == 1) & (proc == p))
        y = (kind[m] == 1).astype(int)
        a = roc_auc_score(y, sc[m])
        fpr, tpr, _ = roc_curve(y, sc[m])
        eps = [float(np.interp(e, fpr, tpr)) for e in (1e-2, 1e-3, 1e-4)]
        ref = [a] + eps
        for g, r in zip(got[name], ref):
            if abs(g - r) > 1e-12:
                fail(f"{name}: {got[name]} != scikit-learn {ref}")
        print(f"  {name}: AUC {a:.6f}, eps_S {eps} = scikit-learn")
    print("evaluate: ok")


def cmd_tamper(labels, out):
    shutil.copyfile(labels, out)
    with h5py.File(out, "r+") as f:
        k = f["labels/kind"]
        i = int(np.argmax(k[:] == 0))
        k[i] = 1  # one background event relabelled as signal


# ---- awkward CSV layouts for the ranks' byte ranges -------------------------

def rank_starts(size, n):
    """First byte of each rank's range: the block partition of n bytes."""
    q, r = divmod(n, size)
    return [k * q + min(k, r) for k in range(size)]


def line_starts(data):
    return [0] + [i + 1 for i, c in enumerate(data) if c == 0x0A and i + 1 < len(data)]


def owner(size, n, pos):
    return max(k for k, a in enumerate(rank_starts(size, n)) if a <= pos)


def styled(rng, rows):
    """Each pair as one or two lines (a blank one first) of varied shape."""
    out = []
    for i, s in rows:
        k = rng.randrange(6)
        if k == 0:
            out.append(f"{i},{s}\n")
        elif k == 1:
            out.append(f"{i},{s}\r\n")
        elif k == 2:
            out.append(f" \t{i}  , {s}\t \n")
        elif k == 3:
            out.append(f"{i},{s}{' ' * rng.randrange(200, 900)}\r\n")
        elif k == 4:
            out += ["\n", f"{i},{s}\n"]
        else:
            out += ["  \r\n", f"{i},{s}\r\n"]
    return out


def write_lines(path, lines):
    data = "".join(lines).encode()
    with open(path, "wb") as f:
        f.write(data)
    return data


def cmd_layouts(sub):
    """Next to SUB.csv (a header and event_id,score lines), files whose lines
    straddle the byte ranges of 2 and 3 ranks (block partition of the bytes; a
    line belongs to the range holding its first byte):
      messy.csv    blank lines, CRLF and LF, blanks around fields, long lines,
                   a header, shuffled; the 2-rank boundary falls exactly on a
                   line start, a 3-rank boundary between a CR and its LF, and
                   the last line (no newline, led by blanks) starts inside the
                   second of 3 ranges and covers all of the third
      latehdr.csv  blank lines over 3/4 of the bytes, then the header and pairs
      longline.csv a line of 3 MiB of blanks and a pair across the boundaries
      badfar.csv   like messy without the long last line, a bad score on a CRLF
                   line in the last range of 2 and 3 ranks
      twobad.csv   a bad event ID in range 0 of 2 ranks and 1 of 3, then a
                   line of 3 fields in the last range of both
      unknowns.csv seven unknown event IDs spread over all ranges
      midhdr.csv   no header first; a header line in range 1 of 2 and 3 ranks
      empty.csv, hdronly.csv
    The layout claims are asserted here, so a test cannot lose its point when
    the pairs change. Line numbers of the bad lines are printed."""
    import random
    d = os.path.dirname(sub) or "."
    with open(sub) as f:
        rows = [tuple(x.strip().split(",")) for x in f.read().splitlines()[1:] if x.strip()]
    rng = random.Random(2024)
    rows = rows[:]
    rng.shuffle(rows)
    head = ["\n", " \t \r\n", "event_id , score\r\n"]
    body = styled(rng, rows[:-1])
    i, s = rows[-1]
    body_len = len("".join(head + body))
    last = " " * (body_len * 5 // 4) + f"{i},{s}"
    # A blank line of k blanks after the header moves the boundaries; the
    # bytes of the file with it are those of base shifted by k + 1 after P.
    base = "".join(head + body + [last]).encode()
    p0, last0 = len("".join(head).encode()), len(base) - len(last)
    for k in range(100000):
        n = len(base) + k + 1

        def at(x):
            return base[x] if x < p0 else 0x20 if x < p0 + k else 0x0A if x == p0 + k \
                else base[x - k - 1]
        a2, a3 = rank_starts(2, n), rank_starts(3, n)
        if (at(a2[1] - 1) == 0x0A and at(a3[1] - 1) == 0x0D and at(a3[1]) == 0x0A
                and a3[1] <= last0 + k + 1 < a3[2]):
            break
    else:
        fail("layouts: no padding puts the boundaries where wanted")
    lines = head + [" " * k + "\n"] + body + [last]
    data = write_lines(os.path.join(d, "messy.csv"), lines)
    a2, a3 = rank_starts(2, len(data)), rank_starts(3, len(data))
    assert data[a2[1] - 1] == 0x0A and data[a3[1] - 1:a3[1] + 1] == b"\r\n"
    assert a3[1] <= line_starts(data)[-1] < a3[2]

    blanks = []
    while len("".join(blanks)) < 3 * len("".join(body)):
        blanks.append(rng.choice(["\n", "\r\n", "   \n", "\t\r\n",
                                  " " * rng.randrange(50, 400) + "\n"]))
    data = write_lines(os.path.join(d, "latehdr.csv"),
                       blanks + ["event_id,score\n"] + body + [f"{i},{s}\n"])
    hdr = len("".join(blanks).encode())
    assert owner(2, len(data), hdr) == 1 and owner(3, len(data), hdr) == 2

    # A line of over 2 MiB (more than a rank reads at once) in the middle,
    # across the boundaries of 2 and 3 ranks.
    half = len(body) // 2
    long_line = " " * (3 << 20) + f"{i},{s}\r\n"
    lines = head + body[:half] + [long_line] + body[half + 1:] + [body[half]]
    data = write_lines(os.path.join(d, "longline.csv"), lines)
    b = len("".join(lines[:len(head) + half]).encode())
    for size in (2, 3):
        assert any(b < a < b + len(long_line) for a in rank_starts(size, len(data)))

    def with_bad(name, bad):
        """bad: (fraction of the pairs, line, owner on 2 ranks, on 3 ranks)..."""
        lines = head + body + [f"{i},{s}\n"]
        for frac, ln, _, _ in sorted(bad, reverse=True):
            lines.insert(len(head) + int(frac * len(body)), ln)
        data = write_lines(os.path.join(d, name), lines)
        for _, ln, own2, own3 in bad:
            j = lines.index(ln)
            pos = len("".join(lines[:j]).encode())
            assert (owner(2, len(data), pos), owner(3, len(data), pos)) == (own2, own3), name
            print(f"{name}: line {j + 1}")

    with_bad("badfar.csv", [(0.97, "1300,abc\r\n", 1, 2)])
    with_bad("twobad.csv", [(0.4, " x17 ,0.5\n", 0, 1), (0.9, "5,1,2\r\n", 1, 2)])
    # Unknown IDs over all ranges: the first five named are the file's first.
    with_bad("unknowns.csv", [(0.05, "9001,0.5\n", 0, 0), (0.2, "9007,0.5\r\n", 0, 0),
                              (0.45, "9003,0.5\n", 0, 1), (0.55, "9002,0.5\n", 1, 1),
                              (0.7, "9009,0.5\n", 1, 2), (0.8, "9005,0.5\n", 1, 2),
                              (0.95, "9004,0.5\n", 1, 2)])
    lines = [f"{i},{s}\n"] + body
    j = int(0.6 * len(lines))
    lines.insert(j, "event_id,score\n")
    data = write_lines(os.path.join(d, "midhdr.csv"), lines)
    pos = len("".join(lines[:j]).encode())
    assert owner(2, len(data), pos) == 1 and owner(3, len(data), pos) == 1
    print(f"midhdr.csv: line {j + 1}")
    write_lines(os.path.join(d, "empty.csv"), [])
    write_lines(os.path.join(d, "hdronly.csv"), ["event_id,score\n"])


def main(argv):
    if len(argv) < 2:
        fail(__doc__)
    cmd = argv[1]
    if cmd == "hackathon":
        cmd_hackathon(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7], argv[8:])
    elif cmd == "same":
        cmd_same(argv[2], argv[3], len(argv) > 4 and argv[4] == "--ignore-command-line")
    elif cmd == "secret":
        cmd_secret(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7], argv[8:])
    elif cmd == "exclude":
        cmd_exclude(argv[2], argv[3], argv[4])
    elif cmd == "submit":
        cmd_submit(argv[2], argv[3], argv[4], argv[5])
    elif cmd == "evaluate":
        cmd_evaluate(argv[2], argv[3], argv[4])
    elif cmd == "tamper":
        cmd_tamper(argv[2], argv[3])
    elif cmd == "layouts":
        cmd_layouts(argv[2])
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
