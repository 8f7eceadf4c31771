"""dmpipe bumphunt on spectra with known content.
  - an injected bump is found where it was put, with about its size;
  - the reported window is the most significant one, its local p equals
    scipy's Poisson tail probability, recomputed here over every window;
  - the answer (JSON) is identical on 1 and 3 ranks;
  - toys and the Gross-Vitells extrapolation agree where both apply;
  - beyond the toys' reach the global p comes from Gross-Vitells;
  - calibration against an independent implementation (scipy's Poisson
    p-values, numpy's toys): dmpipe's test statistic equals the one
    recomputed here, its global p-value agrees with numpy's toys, and on
    background-only pseudo-data drawn by numpy it is uniform;
  - bad input names the file and line.
Usage: check_bumphunt.py DMPIPE MPIEXEC TMPDIR"""
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
from scipy.stats import kstest, norm, poisson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spectra import expectation, observed, write_csv  # noqa: E402

dmpipe, mpiexec, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def run(n, args, expect_ok=True, name="out"):
    out = os.path.join(tmp, name + ".json")
    cmd = [mpiexec, "-n", str(n), dmpipe, "bumphunt"] + args + ["--json", out]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if not expect_ok:
        return p
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit("command failed: " + " ".join(cmd))
    with open(out) as f:
        return json.load(f)


def no_seconds(j):
    return {k: v for k, v in j.items() if k != "seconds"}


lo, hi, b = expectation()
W = ["--width-max", "6"]

# 1. Injected bump: 200 events over bins 20..22 (about 6.7 sigma of the
# background there).
bump = os.path.join(tmp, "bump.csv")
d = observed(b, 7, (20, 3, 200))
write_csv(bump, lo, hi, d, b)
j1 = run(1, ["--spectrum", bump, "--toys", "2000"] + W, name="bump1")
j3 = run(3, ["--spectrum", bump, "--toys", "2000"] + W, name="bump3")
if no_seconds(j1) != no_seconds(j3):
    fail("bump: 1 and 3 ranks differ")
w = j1["window"]
inj = set(range(20, 23))
got = set(range(w["first_bin"], w["last_bin"] + 1))
if len(inj & got) < 2 or len(got - inj) > 2:
    fail(f"bump: window {sorted(got)} is not where the bump was put (20..22)")
excess = w["observed"] - w["expected"]
if abs(excess - 200) > 4 * math.sqrt(w["expected"]) + 0.5 * 200:
    fail(f"bump: excess {excess} far from the injected 200")
if not j1["z_local"] > 4:
    fail(f"bump: local Z {j1['z_local']} too small")
if not (j1["z_global"] < j1["z_local"] and j1["trials_factor"] > 1):
    fail(f"bump: global Z {j1['z_global']} vs local {j1['z_local']}")

# 2. The reported window is the best one; p from scipy on every window.
best = (0.0, None)
for width in range(1, 7):
    for x in range(0, len(b) - width + 1):
        dd, bb = d[x:x + width].sum(), b[x:x + width].sum()
        if dd > bb:
            lp = poisson.logsf(dd - 1, bb)
            if best[1] is None or lp < best[0] - 1e-12:
                best = (lp, (x, x + width - 1))
if best[1] != (w["first_bin"], w["last_bin"]):
    fail(f"bump: best window by scipy {best[1]} vs dmpipe {w['first_bin']}..{w['last_bin']}")
if abs(math.log(j1["p_local"]) - best[0]) > 1e-8 * abs(best[0]):
    fail(f"bump: ln p_local {math.log(j1['p_local'])} vs scipy {best[0]}")
if abs(j1["t_obs"] + best[0]) > 1e-8 * abs(best[0]):
    fail(f"bump: t_obs {j1['t_obs']} vs -ln p {-best[0]}")
zs = -norm.ppf(j1["p_local"])
if abs(j1["z_local"] - zs) > 1e-6:
    fail(f"bump: z_local {j1['z_local']} vs {zs}")

# 3. Toys and Gross-Vitells where both apply (global p of a few percent).
mild = os.path.join(tmp, "mild.csv")
write_csv(mild, lo, hi, observed(b, 11, (12, 2, 70)), b)
jm = run(2, ["--spectrum", mild, "--toys", "20000", "--gv-toys", "4000"] + W, name="mild")
pt, pg = jm["toys"]["p_global"], jm["gross_vitells"]["p_global"]
print(f"mild: p_local {jm['p_local']:.4g}, toys {pt:.4g} +- {jm['toys']['p_global_error']:.2g}, "
      f"Gross-Vitells {pg:.4g}")
if not 0.005 < pt < 0.5:
    fail(f"mild: toy p {pt} outside the range where both apply")
if abs(pg - pt) > 0.3 * pt:
    fail(f"mild: Gross-Vitells {pg} and toys {pt} differ by more than 30%")
medium = os.path.join(tmp, "medium.csv")
write_csv(medium, lo, hi, observed(b, 7, (20, 3, 150)), b)
jm2 = run(2, ["--spectrum", medium, "--toys", "10000", "--gv-toys", "4000"] + W, name="medium")
pt, pg = jm2["toys"]["p_global"], jm2["gross_vitells"]["p_global"]
print(f"medium: toys {pt:.4g} ({jm2['toys']['n_t_ge_obs']} toys), Gross-Vitells {pg:.4g}")
if jm2["toys"]["n_t_ge_obs"] >= 10 and abs(pg - pt) > 0.3 * pt + 3 * jm2["toys"]["p_global_error"]:
    fail(f"medium: Gross-Vitells {pg} and toys {pt} disagree")

# 4. Beyond the toys: a strong bump, no toy reaches it.
strong = os.path.join(tmp, "strong.csv")
write_csv(strong, lo, hi, observed(b, 5, (30, 2, 150)), b)
js = run(2, ["--spectrum", strong, "--toys", "1000"] + W, name="strong")
if js["toys"]["n_t_ge_obs"] != 0 or js["p_global_from"] != "gross-vitells":
    fail(f"strong: expected the Gross-Vitells regime, got {js['p_global_from']}")
if not (js["z_local"] > js["z_global"] > 3 and js["trials_factor"] > 1):
    fail(f"strong: Z local {js['z_local']} global {js['z_global']}")

# 5. Calibration against an independent BumpHunter: the same scan written
# here with scipy's Poisson tail probabilities, and background-only toys drawn
# by numpy's generator, not dmpipe's. dmpipe's global p-value (its own toys)
# must agree with the fraction of numpy's toys at or above the same t, on
# spectra with no, a mild and a moderate excess; and on background-only
# pseudo-data drawn by numpy, dmpipe's global p-values must be uniform.
WMAX = 6


def scan_t(d, bexp, wmin=1, wmax=WMAX):
    """-ln(min local p) over windows with an excess, per row of d."""
    d = np.atleast_2d(d).astype(float)
    cd = np.concatenate([np.zeros((d.shape[0], 1)), np.cumsum(d, axis=1)], axis=1)
    cb = np.concatenate([[0.0], np.cumsum(bexp)])
    best = np.zeros(d.shape[0])
    for w in range(wmin, wmax + 1):
        dd = cd[:, w:] - cd[:, :-w]
        bb = cb[w:] - cb[:-w]
        lp = np.where(dd > bb, poisson.logsf(dd - 1, bb), 0.0)
        best = np.minimum(best, lp.min(axis=1))
    return -best


N_REF = 40000
ref_t = np.sort(scan_t(np.random.default_rng(20261202).poisson(b, size=(N_REF, len(b))), b))


def p_ref(t):
    """Fraction of numpy's toys with t_toy >= t (ties count, as in dmpipe)."""
    return (N_REF - np.searchsorted(ref_t, t * (1 - 1e-12), side="left")) / N_REF


def agree(pa, na, pb, nb, k=4.5):
    """Two binomial estimates of one p agree within k combined sigma (with a
    floor of a few counts for p near 0 or 1)."""
    p = 0.5 * (pa + pb)
    sig = math.sqrt(max(p * (1 - p), 3.0 / min(na, nb)) * (1.0 / na + 1.0 / nb))
    return abs(pa - pb) <= k * sig, sig


N_DM = 20000
for name, seed, bump in (("null", 3, None), ("weak", 21, (8, 3, 60)), ("mild", 11, (12, 2, 70))):
    path = os.path.join(tmp, f"cal_{name}.csv")
    dobs = observed(b, seed, bump)
    write_csv(path, lo, hi, dobs, b)
    j = run(2, ["--spectrum", path, "--toys", str(N_DM), "--gv-toys", "200"] + W,
            name=f"cal_{name}")
    t_py = float(scan_t(dobs, b)[0])
    if abs(j["t_obs"] - t_py) > 1e-9 * max(1.0, t_py):
        fail(f"calibration {name}: t_obs {j['t_obs']} vs independent scan {t_py}")
    pd, pp = j["toys"]["p_global"], float(p_ref(t_py))
    ok, sig = agree(pd, N_DM, pp, N_REF)
    print(f"calibration {name}: t {t_py:.4f}, dmpipe p {pd:.4f}, numpy toys p {pp:.4f} "
          f"(sigma {sig:.4f})")
    if not ok:
        fail(f"calibration {name}: dmpipe's global p {pd} vs independent toys {pp} "
             f"(> 4.5 sigma, sigma {sig:.4g})")

# Background-only pseudo-data from numpy: dmpipe's global p-values uniform
# (Kolmogorov-Smirnov), each one close to the independent estimate.
M, N_CAL = 40, 2000
rng = np.random.default_rng(777)
pvals, worst = [], 0.0
for i in range(M):
    dobs = rng.poisson(b).astype(float)
    path = os.path.join(tmp, "pseudo.csv")
    write_csv(path, lo, hi, dobs, b)
    j = run(1, ["--spectrum", path, "--toys", str(N_CAL), "--gv-toys", "100", "--seed",
                str(1000 + i)] + W, name="pseudo")
    pd = j["toys"]["p_global"]
    pp = float(p_ref(float(scan_t(dobs, b)[0])))
    ok, sig = agree(pd, N_CAL, pp, N_REF)
    worst = max(worst, abs(pd - pp) / sig)
    if not ok:
        fail(f"pseudo-data {i}: dmpipe p {pd} vs independent {pp} (sigma {sig:.4g})")
    pvals.append(pd)
ks = kstest(pvals, "uniform")
print(f"calibration: {M} numpy pseudo-datasets, KS p {ks.pvalue:.3g}, "
      f"worst deviation {worst:.2f} sigma, fraction p < 0.1: {np.mean(np.array(pvals) < 0.1):.3f}")
if ks.pvalue < 1e-3:
    fail(f"calibration: dmpipe's global p-values are not uniform (KS p {ks.pvalue:.3g})")

# 6. Bad input names file and line; nothing is written.
bad = os.path.join(tmp, "bad.csv")
with open(bad, "w") as f:
    f.write("lo,hi,observed,expected\n0,1,5,2\n1,2,3,0\n")
p = run(2, ["--spectrum", bad], expect_ok=False, name="bad")
if p.returncode != 1 or "bad.csv:3" not in p.stderr:
    fail(f"bad spectrum: rc {p.returncode}, {p.stderr!r}")
if os.path.exists(os.path.join(tmp, "bad.json")):
    fail("bad spectrum: JSON written")
with open(bad, "w") as f:
    f.write("lo,hi,data,expected\n0,1,5,2\n")
p = run(1, ["--spectrum", bad], expect_ok=False, name="bad")
if p.returncode != 1 or "observed" not in p.stderr:
    fail(f"bad header: rc {p.returncode}, {p.stderr!r}")

if failures:
    print(f"{len(failures)} failures")
    sys.exit(1)
print("all bumphunt checks passed")
