"""The published total improvements are reproduced from the published
per-model efficiency tables: for every model of DeepSVDD.csv, KDE.csv and
Flow.csv that the TotalImprovements table lists, min/median/max TI agree to
1e-9; models the table leaves out are exactly the ones dmpipe drops.
Usage: check_efftable.py DMPIPE TMPDIR CHALLENGE_RESULTS_DIR"""
import csv
import json
import os
import subprocess
import sys

dmpipe, tmp, src = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(tmp, exist_ok=True)
published = {}
with open(os.path.join(src, "DarkMachinesUnsupervisedChallenge_TotalImprovements.csv")) as f:
    for row in csv.DictReader(f):
        published[row["Model"]] = (float(row["MinTotalImprovement"]),
                                   float(row["MedianTotalImprovement"]),
                                   float(row["MaxTotalImprovement"]))
failures, compared = [], 0
for table in ("DeepSVDD.csv", "KDE.csv", "Flow.csv"):
    out = os.path.join(tmp, table + ".json")
    subprocess.run([dmpipe, "metrics", "--efficiency-table", os.path.join(src, table),
                    "--json", out], check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        got = json.load(f)
    models = got["models"]
    with open(os.path.join(src, table)) as f:
        names = {row["Model"] for row in csv.DictReader(f)}
    for name in sorted(names):
        if name in published:
            if name not in models:
                failures.append(f"{table}: {name} is published but was dropped")
                continue
            g = models[name]
            for key, want in zip(("min_ti", "median_ti", "max_ti"), published[name]):
                if abs(g[key] - want) > 1e-9:
                    failures.append(f"{table}: {name} {key} {g[key]!r} != {want!r}")
            compared += 1
        elif name in models:
            failures.append(f"{table}: {name} is not published but was kept")
print(f"compared {compared} models")
if compared < 100:
    failures.append(f"only {compared} models compared")
if failures:
    print("\n".join(failures))
    sys.exit(1)
