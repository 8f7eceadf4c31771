"""Write an archive file of valid lines in every accepted spelling: with and
without the trailing ';', CRLF, legacy codes (mu-, mu+, a), exponents, events
without objects, many objects, and (with 'digits N') numbers of N significant
digits.  usage: make_edge_csv.py OUT.csv N_LINES SEED [digits N]"""
import random
import sys

out, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
digits = int(sys.argv[5]) if len(sys.argv) > 5 else 6
rng = random.Random(seed)
codes = ["j", "b", "e-", "e+", "m-", "m+", "g", "mu-", "mu+", "a"]


def num(scale):
    v = rng.choice([-1, 1]) * rng.random() * scale
    if rng.random() < 0.05:
        v *= 1e-9
    return "%.*g" % (digits, v)


with open(out, "w", newline="") as f:
    for i in range(n):
        proc = ["ttbar", "z_jets", "gluino_01"][(i // 7) % 3]
        nobj = 0 if i % 11 == 0 else (25 if i % 97 == 0 else rng.randint(1, 6))
        fields = [str(i + 1), proc, "%.6g" % (rng.random() * 100), num(5e5), num(3.14159)]
        for _ in range(nobj):
            pt = abs(float(num(1e6)))
            fields.append(",".join([rng.choice(codes), "%.*g" % (digits, pt * 1.7),
                                    "%.*g" % (digits, pt), num(2.5), num(3.14159)]))
        line = ";".join(fields) + (";" if i % 3 else "")
        f.write(line + ("\r\n" if i % 5 == 0 else "\n"))
