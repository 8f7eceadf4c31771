#!/usr/bin/env python3
"""Per process: mean jet, b-jet, lepton and photon counts, mean MET and H_T of a
generated archive beside the same figures for the Pythia sample.

usage: generate_compare.py GENERATED_DIR [SAMPLE_DIR] [--max-lines N]

SAMPLE_DIR defaults to tests/fixtures/pythia-sample in the repository. Files may be <process>.csv
or <process>.csv.zst (read through the zstd program). Jets are j and b; leptons
e and m; H_T is the scalar sum of jet pT; MET and H_T in GeV. Malformed lines
are skipped and counted. The two need not agree closely (different physics
models); the point is that the generated figures are not absurd.
"""
import argparse
import os
import subprocess
import sys


def lines_of(path, max_lines):
    if path.endswith(".zst"):
        proc = subprocess.Popen(["zstd", "-dc", path], stdout=subprocess.PIPE)
        stream = proc.stdout
    else:
        proc, stream = None, open(path, "rb")
    n = 0
    try:
        for raw in stream:
            if n >= max_lines:
                break
            n += 1
            yield raw.decode("ascii", "replace").rstrip("\n")
    finally:
        stream.close()
        if proc:
            proc.kill()
            proc.wait()


def summarise(path, max_lines):
    n = bad = 0
    sums = [0.0] * 6  # jets, bjets, leptons, photons, met, ht
    for line in lines_of(path, max_lines):
        f = [x for x in line.split(";")]
        if f and f[-1] == "":
            f = f[:-1]
        try:
            met = float(f[3]) / 1000.0
            jets = bj = lep = pho = 0
            ht = 0.0
            for o in f[5:]:
                c, e, pt, eta, phi = o.split(",")
                ptg = float(pt) / 1000.0
                if c in ("j", "b"):
                    jets += 1
                    ht += ptg
                    bj += c == "b"
                elif c[:1] in ("e", "m"):
                    lep += 1
                elif c in ("g", "a"):
                    pho += 1
                else:
                    raise ValueError(c)
        except (ValueError, IndexError):
            bad += 1
            continue
        n += 1
        for i, v in enumerate((jets, bj, lep, pho, met, ht)):
            sums[i] += v
    return n, bad, [s / n if n else float("nan") for s in sums]


def find(dirname):
    out = {}
    for name in os.listdir(dirname):
        for ext in (".csv.zst", ".csv"):
            if name.endswith(ext):
                out[name[: -len(ext)]] = os.path.join(dirname, name)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("generated")
    ap.add_argument("sample", nargs="?")
    ap.add_argument("--max-lines", type=int, default=200000,
                    help="lines read per file (default 200000)")
    a = ap.parse_args()
    sample = a.sample
    if not sample:
        here = os.path.dirname(os.path.abspath(__file__))
        sample = os.path.join(here, "..", "tests", "fixtures", "pythia-sample")
    gen, ref = find(a.generated), find(sample)
    names = sorted(gen, key=lambda x: (x not in ref, x))
    hdr = "| process | source | events | jets | b-jets | leptons | photons | MET (GeV) | H_T (GeV) |"
    print(hdr)
    print("|" + "---|" * 9)
    for name in names:
        rows = [("generated", gen[name])]
        if name in ref:
            rows.append(("pythia", ref[name]))
        for label, path in rows:
            n, bad, m = summarise(path, a.max_lines)
            extra = " (%d bad)" % bad if bad else ""
            print("| %s | %s | %d%s | %.2f | %.2f | %.2f | %.3f | %.1f | %.1f |" %
                  (name, label, n, extra, m[0], m[1], m[2], m[3], m[4], m[5]))


if __name__ == "__main__":
    main()
