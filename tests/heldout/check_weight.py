"""dmpipe weight against the store's own weights, and --rescale-lumi.

Archive files with known weights (column 3 of the CSV) are ingested; the
expected numbers are computed here from the files and the table alone:
  - per process the computed weight sigma x L x 1000 / N, the mean of the
    store's own /events/weight, their ratio (JSON and text), 'disagrees' and a
    warning on stderr exactly for the processes whose ratio departs from 1 by
    more than the tolerance or whose own weights vary; on 1, 2 and 3 ranks;
  - --rescale-lumi L: /derived/weight = /events/weight x L / 10 event by
    event (exactly as numpy computes it), no table read, attributes saying so;
    --store-lumi changes the reference luminosity;
  - usage errors: --rescale-lumi with --lumi or --xsec (status 2).
Usage: check_weight.py DMPIPE MPIEXEC XSEC TMPDIR"""
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

dmpipe, mpiexec, xsec, tmp = sys.argv[1:5]
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
os.chdir(tmp)
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def run(np_, *args, expect=0):
    p = subprocess.run([mpiexec, "-n", str(np_), dmpipe] + list(args), capture_output=True,
                       text=True, timeout=120)
    if p.returncode != expect:
        print(p.stdout, p.stderr)
        fail(f"rc {p.returncode} (expected {expect}): {' '.join(args)}")
    return p


# name, events, archive weight per event (None: varying)
spec = [("agree_a", 40, 1.0), ("agree_b", 20, 1.0), ("off_c", 10, 1.2), ("vary_d", 30, None)]
rng = np.random.default_rng(7)
own = {}
files = []
eid = 1
for name, n, w in spec:
    ws = np.full(n, w) if w is not None else np.round(rng.uniform(0.5, 1.5, n), 3)
    own[name] = ws
    path = f"{name}.csv"
    with open(path, "w") as f:
        for k in range(n):
            f.write(f"{eid};{name};{ws[k]:g};{50000 + k};0.1;j,300000,250000,0.5,0.1;\n")
            eid += 1
    files.append(path)
run(2, "ingest", "--out", "s.h5", *files)
with h5py.File("s.h5", "r") as f:
    ew = f["events/weight"][...].astype(np.float64)
    eproc = f["events/process"][...]
    enames = [n.decode() for n in f["processes/name"][...]]
stored = {n: ew[eproc == enames.index(n)] for n in enames}

sigma = {"agree_a": 0.004, "agree_b": 0.002, "off_c": 0.012, "vary_d": 0.003}
for np_ in (1, 2, 3):
    p = run(np_, "weight", "--in", "s.h5", "--lumi", "10", "--xsec", xsec, "--json", "w.json",
            "--batch", "7")
    with open("w.json") as f:
        js = json.load(f)
    got = {q["name"]: q for q in js["processes"]}
    for name, n, _ in spec:
        q = got[name]
        weight = sigma[name] * 10 * 1000 / n
        mean = stored[name].sum() / n
        ratio = weight / mean
        varies = own[name].max() - own[name].min() > 1e-3 * mean
        disagree = varies or abs(ratio - 1) > 1e-3
        if abs(q["weight"] - weight) > 1e-12 * weight or \
                abs(q["own_weight_sum"] - stored[name].sum()) > 1e-12 * stored[name].sum() or \
                abs(q["ratio_to_own"] - ratio) > 1e-6 * ratio or q["disagrees"] != disagree:
            fail(f"np {np_} {name}: {q} vs weight {weight}, ratio {ratio}, disagree {disagree}")
        warned = f"process {name}:" in p.stderr
        if warned != disagree:
            fail(f"np {np_} {name}: warning {warned}, expected {disagree}: {p.stderr!r}")
    if "off_c: weight 12 is 10 x" not in p.stderr or "within the process" not in p.stderr:
        fail(f"np {np_}: warnings {p.stderr!r}")
    if js["disagreeing_processes"] != 2 or "<- disagrees" not in p.stdout:
        fail(f"np {np_}: {js['disagreeing_processes']} disagreeing, text {p.stdout}")
# A looser tolerance silences the 12x? No: 1200% is beyond any sane one;
# but the vary_d spread (up to 100%) passes at tolerance 2 while off_c stays.
p = run(1, "weight", "--in", "s.h5", "--lumi", "10", "--xsec", xsec, "--tolerance", "2",
        "--json", "w.json")
with open("w.json") as f:
    js = json.load(f)
if [q["name"] for q in js["processes"] if q["disagrees"]] != ["off_c"]:
    fail(f"--tolerance 2: {js['processes']}")

# --rescale-lumi: the store's own weights x L / 10, event by event.
for np_, lumi, slumi in ((1, "30", None), (2, "7.79", None), (3, "30", "20")):
    args = ["weight", "--in", "s.h5", "--rescale-lumi", lumi, "--json", "r.json"]
    if slumi:
        args += ["--store-lumi", slumi]
    p = run(np_, *args)
    with h5py.File("s.h5", "r") as f:
        d = f["derived/weight"]
        got = d[...]
        attrs = dict(d.attrs)
    want = ew * (float(lumi) / float(slumi or 10))
    if not np.array_equal(got, want):
        fail(f"--rescale-lumi {lumi}: max diff {np.max(np.abs(got - want))}")
    if attrs["lumi_fb"] != float(lumi) or attrs["store_lumi_fb"] != float(slumi or 10) or \
            b"no cross-section table" not in attrs["definition"] or attrs["xsec_table"] != b"":
        fail(f"--rescale-lumi attributes {attrs}")
    with open("r.json") as f:
        js = json.load(f)
    if not js["rescaled"] or [q["name"] for q in js["processes"] if q["disagrees"]] != ["vary_d"]:
        fail(f"--rescale-lumi report: {js}")

for bad in (["--rescale-lumi", "30", "--lumi", "10"], ["--rescale-lumi", "30", "--xsec", xsec],
            ["--lumi", "10", "--store-lumi", "20"], ["--rescale-lumi", "-1"]):
    p = run(2, "weight", "--in", "s.h5", *bad, expect=2)

if failures:
    print(f"{len(failures)} failures")
    sys.exit(1)
print("all weight checks passed")
