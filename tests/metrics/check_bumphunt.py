"""dmpipe bumphunt on spectra with known content.
  - an injected bump is found where it was put, with about its size;
  - the reported window is the most significant one, its local p equals
    scipy's Poisson tail probability, recomputed here over every window;
  - the answer (JSON) is identical on 1 and 3 ranks;
  - toys and the Gross-Vitells extrapolation agree where both apply;
  - beyond the toys' reach the global p comes from Gross-Vitells;
  - calibration: on background-only pseudo-data the global p-value is
    uniform (fraction below 0.05 within 3 sigma of 0.05, deciles flat);
  - bad input names the file and line.
Usage: check_bumphunt.py DMPIPE MPIEXEC TMPDIR"""
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
from scipy.stats import chi2, norm, poisson

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

# 5. Calibration on background-only pseudo-data.
null = os.path.join(tmp, "null.csv")
write_csv(null, lo, hi, observed(b, 3), b)
jc = run(3, ["--spectrum", null, "--toys", "5000", "--calibrate", "2000"] + W, name="calib")
c = jc["calibration"]
n_toys = 5000
err = math.sqrt(c["fraction_error"] ** 2 + 0.05 * 0.95 / n_toys)
print(f"calibration: fraction {c['fraction']:.4f} +- {err:.4f}, deciles {c['p_deciles']}")
if abs(c["fraction"] - 0.05) > 3 * err:
    fail(f"calibration: fraction below 0.05 is {c['fraction']} (+- {err})")
dec = np.array(c["p_deciles"], dtype=float)
stat = ((dec - dec.sum() / 10) ** 2 / (dec.sum() / 10)).sum()
if stat > chi2.ppf(0.999, 9):
    fail(f"calibration: p-value deciles not flat (chi2 {stat:.1f})")

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
