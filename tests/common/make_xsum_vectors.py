#!/usr/bin/env python3
"""Reference sums for tests/common/test_xsum.c, computed exactly with Python
integers (every double is an integer multiple of 2^-1074) and rounded once by
int/int true division, which Python rounds correctly (to nearest, ties to even).

Each case names a term generator that test_xsum.c reproduces bit for bit:
splitmix64(seed) draws u then v for every base term,
    x = (-1)^(u >> 63) * (2^52 + (u mod 2^52)) * 2^(e - 52),
    e = emin + v mod (emax - emin + 1)
mode 0: the n terms x;  mode 1: x*x (the double product);  mode 2: n/2 terms x,
then -x_k for every k not divisible by 7 (heavy cancellation);  mode 3: |x|.

Usage: make_xsum_vectors.py > tests/common/xsum_vectors.txt
"""
import math

MASK = (1 << 64) - 1
SCALE = 1100  # 2^1100 * any double (>= 2^-1074) is an integer


class SplitMix64:
    def __init__(self, seed):
        self.s = seed & MASK

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def base_terms(seed, n, emin, emax):
    g = SplitMix64(seed)
    out = []
    for _ in range(n):
        u = g.next()
        v = g.next()
        e = emin + v % (emax - emin + 1)
        x = math.ldexp(float((1 << 52) | (u & ((1 << 52) - 1))), e - 52)
        out.append(-x if u >> 63 else x)
    return out


def terms(mode, seed, n, emin, emax):
    if mode == 0:
        return base_terms(seed, n, emin, emax)
    if mode == 1:
        return [x * x for x in base_terms(seed, n, emin, emax)]
    if mode == 2:
        half = base_terms(seed, n // 2, emin, emax)
        return half + [-x for k, x in enumerate(half) if k % 7 != 0]
    if mode == 3:
        return [abs(x) for x in base_terms(seed, n, emin, emax)]
    raise ValueError(mode)


def exact_sum(xs):
    total = 0
    for x in xs:
        num, den = x.as_integer_ratio()  # den is a power of two
        total += num * ((1 << SCALE) // den)
    return total / (1 << SCALE)  # correctly rounded


CASES = [
    # mode seed n emin emax   what it covers
    (0, 1, 10000, -20, 19),    # signed weights, about 1e-6 .. 1e6
    (3, 2, 10000, -20, 19),    # positive weights
    (1, 3, 10000, -20, 19),    # squared weights, about 1e-12 .. 1e12
    (0, 4, 5000, -156, 207),   # the whole exact range
    (2, 5, 10000, -40, 60),    # 6 of 7 terms cancel
    (1, 6, 20000, -78, 103),   # squares over the whole exact range
    (2, 7, 20000, -156, 207),  # cancellation over the whole range
    (0, 8, 100000, 0, 3),      # many terms of one size
    (3, 9, 1, -156, -156),     # a single term at the bottom of the range
    (0, 10, 2, 207, 207),      # two terms at the top of the range
]

if __name__ == "__main__":
    print("# mode seed n emin emax expected (see make_xsum_vectors.py)")
    for mode, seed, n, emin, emax in CASES:
        s = exact_sum(terms(mode, seed, n, emin, emax))
        print(mode, seed, n, emin, emax, s.hex())
