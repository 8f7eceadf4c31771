"""Binned spectra for the bumphunt tests: a falling background expectation
and Poisson observations, with an optional injected bump (numpy only)."""
import numpy as np


def expectation(n_bins=40, width=100.0):
    lo = np.arange(n_bins) * width
    b = 900.0 * np.exp(-lo / 1500.0) + 60.0
    return lo, lo + width, b


def write_csv(path, lo, hi, obs, exp):
    with open(path, "w") as f:
        f.write("# test spectrum\nlo,hi,observed,expected\n")
        for a, c, d, e in zip(lo, hi, obs, exp):
            f.write(f"{a:.17g},{c:.17g},{d:.17g},{e:.17g}\n")


def observed(b, seed, bump=None):
    """bump = (first_bin, n_bins, events): events spread evenly over the bins."""
    rng = np.random.default_rng(seed)
    mu = b.copy()
    if bump:
        first, n, events = bump
        mu[first:first + n] += events / n
    return rng.poisson(mu).astype(float)
