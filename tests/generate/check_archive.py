#!/usr/bin/env python3
"""Independent checker of an archive written by `dmpipe generate`.

Re-derives everything from the archive format description and the process
table (data/processes.csv), never from dmpipe's own code:
  - every good line parses: header fields, 5-field objects, known codes,
    numbers printed exactly as C's %g prints them (6 significant digits);
  - event IDs 1..N per file, process field = file name, weight =
    sigma x L x 1000 / N_lines from the table;
  - objects pT-ordered, at most 20, E >= |p| within rounding, object
    acceptance, the storage trigger and the table's generator-level cuts,
    METphi in [-pi, pi];
  - per-process counts sum to --events and follow the documented floor and
    proportional sharing;
  - malformed lines are classified here and their counts compared with the
    JSON report (--json), and with the documented too-long rule.
Exit status 0 when all checks pass; otherwise the failures are printed.
"""
import argparse
import csv
import json
import math
import os
import re
import sys

CODES = {"j", "b", "e-", "e+", "m-", "m+", "g"}
NUM_RE = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
KINDS = ["field-count", "number", "non-finite", "object-code", "empty-process", "truncated",
         "too-long"]
MAX_LINE = 1 << 20


def read_table(path):
    rows = []
    with open(path, newline="") as f:
        lines = [l for l in f if l.strip() and not l.lstrip().startswith("#")]
    for r in csv.DictReader(lines):
        rows.append(r)
    return rows


def sigma_of(row):
    s = (row.get("sigma_pb") or "").strip()
    if s == "" or s.lower() == "unknown":
        return None
    return float(s)


def parse_cut(text):
    ht = met = 0.0
    for term in filter(None, (t.strip() for t in (text or "").split("&"))):
        k, v = term.split(">")
        if k == "ht":
            ht = float(v)
        elif k == "met":
            met = float(v)
        else:
            raise ValueError("cut " + text)
    return ht, met


def is_number(tok):
    return bool(NUM_RE.match(tok))


def nonfinite_token(tok):
    t = tok.lower().lstrip("+-")
    if t in ("nan", "inf", "infinity"):
        return True
    if is_number(tok):
        return not math.isfinite(float(tok))
    return False


def g6(x):
    return "%g" % x


def classify(line, terminated):
    """Return None for a well-formed line, else the kind of defect."""
    if len(line) > MAX_LINE:
        return "too-long"
    fields = line.split(";")
    if fields and fields[-1] == "":
        fields = fields[:-1]
    complete = True
    kind = None
    if len(fields) < 5:
        kind = "field-count"
    elif fields[1] == "":
        kind = "empty-process"
    else:
        for tok in [fields[0]] + fields[2:5]:
            if nonfinite_token(tok):
                kind = kind or "non-finite"
            elif not is_number(tok):
                kind = kind or "number"
        for obj in fields[5:]:
            parts = obj.split(",")
            if len(parts) != 5:
                kind = kind or "field-count"
                continue
            if parts[0] not in CODES:
                kind = kind or "object-code"
            for tok in parts[1:]:
                if nonfinite_token(tok):
                    kind = kind or "non-finite"
                elif not is_number(tok):
                    kind = kind or "number"
    if not terminated:
        # A last line without newline is acceptable only if complete.
        if kind is not None or len(fields) < 6:
            return "truncated"
    return kind


class Checker:
    def __init__(self, args):
        self.args = args
        self.errors = []

    def fail(self, msg):
        if len(self.errors) < 50:
            self.errors.append(msg)
        else:
            self.errors.append("...")

    def check_good(self, fname, proc, lineno, line, n_lines, weight, ht_min, met_min, trailing):
        f = line.split(";")
        where = "%s:%d" % (fname, lineno)
        if trailing:
            if not line.endswith(";"):
                return self.fail(where + ": no trailing ';'")
            f = f[:-1]
        elif line.endswith(";"):
            return self.fail(where + ": trailing ';' despite --no-trailing-semicolon")
        if int(f[0]) != lineno:
            self.fail(where + ": event ID %s, expected %d" % (f[0], lineno))
        if f[1] != proc:
            self.fail(where + ": process %s" % f[1])
        w = float(f[2])
        if abs(w - weight) > 1e-5 * abs(weight) + 1e-300:
            self.fail(where + ": weight %s, expected %.9g" % (f[2], weight))
        toks = [f[2], f[3], f[4]]
        met, metphi = float(f[3]), float(f[4])
        if met < 0 or abs(metphi) > 3.14160:
            self.fail(where + ": MET %s METphi %s" % (f[3], f[4]))
        if met == 0 and metphi != 0:
            self.fail(where + ": METphi %s with MET 0" % f[4])
        objs = f[5:]
        if not 1 <= len(objs) <= 20:
            self.fail(where + ": %d objects" % len(objs))
        last_pt = math.inf
        ht = 0.0
        trig = False
        for o in objs:
            c, e, pt, eta, phi = o.split(",")
            toks += [e, pt, eta, phi]
            E, PT, ETA, PHI = float(e), float(pt), float(eta), float(phi)
            if PT > last_pt:
                self.fail(where + ": objects not pT-ordered")
            last_pt = PT
            p = PT * math.cosh(ETA)
            if E < p * (1 - 2e-5):
                self.fail(where + ": E %s < |p| %.6g" % (e, p))
            if abs(PHI) > 3.14160:
                self.fail(where + ": phi %s" % phi)
            ptg, aeta = PT / 1000.0, abs(ETA)
            if c in ("j", "b"):
                ok = ptg >= 20 and aeta <= 2.8
                ht += ptg
                trig |= ptg >= 60 and aeta <= 2.8
            elif c in ("e-", "e+"):
                ok = ptg >= 15 and aeta <= 2.7
                trig |= ptg >= 25 and aeta <= 2.47 and not (1.37 < aeta < 1.52)
            elif c in ("m-", "m+"):
                ok = ptg >= 15 and aeta <= 2.7
                trig |= ptg >= 25 and aeta <= 2.7
            else:
                ok = ptg >= 20 and aeta <= 2.37
                trig |= ptg >= 25 and aeta <= 2.37
            if not ok:
                self.fail(where + ": object outside acceptance: " + o)
        if not trig:
            self.fail(where + ": no object passes the storage trigger")
        if ht_min > 0 and ht < ht_min * (1 - 1e-5):
            self.fail(where + ": H_T %.6g GeV below the generator cut %g" % (ht, ht_min))
        if met_min > 0 and met / 1000.0 < met_min * (1 - 1e-5):
            self.fail(where + ": MET below the generator cut %g" % met_min)
        for t in toks:
            if g6(float(t)) != t:
                self.fail(where + ": number %s is not %%g-formatted" % t)
                break

    def run(self):
        a = self.args
        table = read_table(a.table)
        usable = {r["name"]: r for r in table if sigma_of(r) is not None and r.get("model")}
        files = sorted(x for x in os.listdir(a.dir) if x.endswith(".csv"))
        leftovers = [x for x in os.listdir(a.dir) if x.endswith(".tmp")]
        if leftovers:
            self.fail("temporary files left: %s" % leftovers)
        procs = [x[:-4] for x in files]
        if a.processes:
            want = set()
            for tok in a.processes.split(","):
                if tok in ("all", "sm", "bsm"):
                    want |= {n for n, r in usable.items()
                             if tok == "all" or r["kind"] == tok}
                else:
                    want.add(tok)
            if set(procs) != want:
                self.fail("files %s, expected %s" % (sorted(procs), sorted(want)))
        report = None
        if a.json:
            with open(a.json) as f:
                report = json.load(f)
            rep_procs = {p["name"]: p for p in report["processes"]}
        counts = {}
        bad = {}
        for fname in files:
            proc = fname[:-4]
            if proc not in usable:
                self.fail("%s: not a usable process of the table" % fname)
                continue
            with open(os.path.join(a.dir, fname), "rb") as f:
                data = f.read().decode("ascii")
            parts = data.split("\n")
            terminated_last = parts[-1] == ""
            lines = parts[:-1] if terminated_last else parts
            n = len(lines)
            counts[proc] = n
            row = usable[proc]
            weight = sigma_of(row) * a.lumi * 1000.0 / n
            ht_min, met_min = parse_cut(row.get("gen_cut"))
            kinds = dict.fromkeys(KINDS, 0)
            for i, line in enumerate(lines):
                term = terminated_last or i < n - 1
                k = classify(line, term)
                if k is None:
                    self.check_good(fname, proc, i + 1, line, n, weight, ht_min, met_min,
                                    not a.no_trailing_semicolon)
                else:
                    kinds[k] += 1
                    if k == "truncated" and i != n - 1:
                        self.fail("%s:%d: truncated line that is not the last" % (fname, i + 1))
            bad[proc] = kinds
            if a.bad_rate is not None:
                want_long = min(3, int(math.floor(n * a.bad_rate / 50.0))) if a.bad_rate > 0 else 0
                if kinds["too-long"] != want_long:
                    self.fail("%s: %d too-long lines, the rule gives %d" %
                              (fname, kinds["too-long"], want_long))
            if report is not None:
                rp = rep_procs.get(proc)
                if rp is None:
                    self.fail("%s: not in the JSON report" % proc)
                else:
                    if rp["events"] != n:
                        self.fail("%s: report says %d events, file has %d" %
                                  (proc, rp["events"], n))
                    if rp["bytes"] != len(data):
                        self.fail("%s: report says %d bytes, file has %d" %
                                  (proc, rp["bytes"], len(data)))
                    for k in KINDS:
                        if rp["bad"].get(k, -1) != kinds[k]:
                            self.fail("%s: report says %s %s lines, the classifier finds %d" %
                                      (proc, rp["bad"].get(k), k, kinds[k]))
        # Event counts: sum, floor, proportional shares (documented rule).
        if a.events is not None and counts:
            total = sum(counts.values())
            if total != a.events:
                self.fail("files hold %d events, --events was %d" % (total, a.events))
            p = len(counts)
            fl = max(1, int(math.floor(0.05 * a.events / p)))
            rest = a.events - fl * p
            s = sum(sigma_of(usable[x]) for x in counts)
            for x, n in counts.items():
                q = rest * sigma_of(usable[x]) / s if s > 0 else rest / p
                if n < fl or abs(n - fl - q) >= 1.0 + 1e-9:
                    self.fail("%s: %d events; floor %d + share %.3f" % (x, n, fl, q))
        if a.bad_rate is not None and counts:
            nb = sum(sum(v[k] for k in KINDS if k != "too-long") for v in bad.values())
            n = sum(counts.values())
            mu = n * a.bad_rate
            sd = math.sqrt(max(n * a.bad_rate * (1 - a.bad_rate), 1.0))
            if abs(nb - mu) > 5 * sd + 3 * len(counts):
                self.fail("%d rate-chosen bad lines, expected about %.1f" % (nb, mu))
            if a.require_all_kinds:
                for k in KINDS:
                    if sum(v[k] for v in bad.values()) == 0:
                        self.fail("no line of kind %s" % k)
        if a.print_counts:
            for x in sorted(bad):
                print(x, counts[x], " ".join("%s=%d" % (k, bad[x][k]) for k in KINDS))
        return self.errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--table", required=True)
    ap.add_argument("--events", type=int)
    ap.add_argument("--processes")
    ap.add_argument("--lumi", type=float, default=10.0)
    ap.add_argument("--json")
    ap.add_argument("--bad-rate", type=float)
    ap.add_argument("--require-all-kinds", action="store_true")
    ap.add_argument("--no-trailing-semicolon", action="store_true")
    ap.add_argument("--print-counts", action="store_true")
    a = ap.parse_args()
    errors = Checker(a).run()
    for e in errors:
        print("FAIL:", e)
    if errors:
        sys.exit(1)
    print("archive %s: all checks passed" % a.dir)


if __name__ == "__main__":
    main()
