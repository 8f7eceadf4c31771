"""Two archive CSV files hold the same events: same number of lines, and on
each line the same fields, numbers compared as numbers (float(a) == float(b)),
object codes compared after mapping the legacy spellings (mu- -> m-,
mu+ -> m+, a -> g). A trailing ';' and CRLF do not matter.
usage: csv_numeric_equal.py ORIGINAL.csv EXPORTED.csv"""
import sys

legacy = {"mu-": "m-", "mu+": "m+", "a": "g"}


def fields(line):
    line = line.rstrip("\n").rstrip("\r")
    f = line.split(";")
    return f[:-1] if f and f[-1] == "" else f


def same_number(a, b):
    return float(a) == float(b)


a_lines = open(sys.argv[1]).read().splitlines()
b_lines = open(sys.argv[2]).read().splitlines()
if len(a_lines) != len(b_lines):
    sys.exit(f"{len(a_lines)} lines vs {len(b_lines)} lines")
numbers = 0
for n, (la, lb) in enumerate(zip(a_lines, b_lines), 1):
    fa, fb = fields(la), fields(lb)
    ok = len(fa) == len(fb) and int(fa[0]) == int(fb[0]) and fa[1] == fb[1]
    ok = ok and all(same_number(x, y) for x, y in zip(fa[2:5], fb[2:5]))
    for oa, ob in zip(fa[5:], fb[5:]):
        pa, pb = oa.split(","), ob.split(",")
        ok = ok and len(pa) == len(pb) == 5 and legacy.get(pa[0], pa[0]) == pb[0]
        ok = ok and all(same_number(x, y) for x, y in zip(pa[1:], pb[1:]))
        numbers += 4
    numbers += 3
    if not ok:
        sys.exit(f"line {n} differs:\n  {la}\n  {lb}")
print(f"ok: {len(a_lines)} lines, {numbers} numbers equal")
