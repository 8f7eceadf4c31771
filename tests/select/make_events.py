"""Seeded synthetic archive lines (MeV) for the rank-count tests: a mix of
processes, 0..8 objects of every type, values on round numbers and not.
usage: make_events.py N SEED > out.csv"""
import random
import sys

n, seed = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
procs = ["ttbar", "w_jets", "gluino_01", "mystery"]
codes = ["j", "b", "e-", "e+", "m-", "m+", "g"]
for i in range(n):
    p = procs[rng.randrange(len(procs))]
    met = rng.choice([0, 50000, 100000, 200000, round(rng.uniform(0, 600000), 1)])
    fields = [str(i), p, "%g" % rng.choice([1, 0.5, 2.5e-3]), "%g" % met,
              "%g" % rng.uniform(-3.14, 3.14)]
    for _ in range(rng.randrange(9)):
        c = rng.choice(codes)
        pt = rng.choice([15000, 50000, 200000, round(rng.uniform(15000, 700000), 2)])
        eta = round(rng.uniform(-2.7, 2.7), 4)
        fields.append("%s,%g,%g,%g,%g" % (c, pt * 1.5, pt, eta, rng.uniform(-3.14, 3.14)))
    print(";".join(fields))
