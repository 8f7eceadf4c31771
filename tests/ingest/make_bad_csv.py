"""Write an archive file of good lines with one bad line of every kind
mixed in, and the rejects that ingest must report (hand-written reasons).
usage: make_bad_csv.py OUT.csv EXPECTED.tsv"""
import sys

out, expected = sys.argv[1], sys.argv[2]
good = "{};ttbar;1;112288;1.74766;b,331927,147558,-1.44969,-1.76399;j,100406,85589,-0.568259,-1.17144;"
bad = [
    ("field-count", "7;ttbar;1;112288"),
    ("field-count", "8;ttbar;1;112288;1.7;j,1,2,3"),
    ("number", "9;ttbar;1;11x288;1.7;j,1,2,3,4;"),
    ("non-finite", "10;ttbar;1;nan;1.7;j,1,2,3,4;"),
    ("non-finite", "11;ttbar;1;5;1.7;j,inf,2,3,4;"),
    ("object-code", "12;ttbar;1;5;1.7;q,1,2,3,4;"),
    ("empty-process", "13;;1;5;1.7;j,1,2,3,4;"),
    ("field-count", ""),
    ("too-long", "14;ttbar;1;5;1.7" + ";j,100,100,1,1" * 80000),
    ("too-many-objects", "15;ttbar;1;5;1.7" + ";j,1,1,1,1" * 65536),
]
lines, rejects = [], []
n = 0
for i in range(3000):
    if i % 250 == 100 and bad:
        reason, text = bad.pop(0)
        lines.append(text)
        rejects.append((len(lines), reason, text))
    else:
        lines.append(good.format(i + 1))
# Truncated last line: no newline and cut in the middle of an object.
last = "99999;ttbar;1;5;1.7;j,1,2"
body = "\n".join(lines) + "\n" + last
rejects.append((len(lines) + 1, "truncated", last))
with open(out, "w") as f:
    f.write(body)
with open(expected, "w") as f:
    for line, reason, text in rejects:
        if len(text) > (1 << 20):
            text = text[:4096] + "...[%d bytes]" % len(text)
        f.write(f"{out}\t{line}\t{reason}\t{text}\n")
print(f"{len(lines) + 1} lines, {len(rejects)} bad")
