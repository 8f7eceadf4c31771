"""Project the stages of a scaling study to large runs (numpy only).

  python3 validation/scaling_model.py SCALING.csv [--events 1e9] [--ranks 64,256,1024]
        [--bw-agg 10e9] [--bw-rank 2e9] [--alpha 5e-6] [--beta 5e9] [--t-op 5e-4]
        [--mds-rate 2e4] [--ref-cap 100000] [--fits]

SCALING.csv is written by validation/bench_scaling.sh (validation/mpiprof/summarize.py):
one row per (mode, P ranks, N events, stage) with the profiler's counts. For each
stage the model is

  T(P, N) = T_compute + T_storage + T_metadata + T_small_io + T_coll_latency
            + T_coll_payload + T_p2p + T_rank0

  T_compute      = W(N) / (P r_rank) + d
                   W(N): the stage's work (events; x epochs for Deep SVDD training; x
                   reference events for KDE scoring); r_rank: work per CPU second of one
                   rank, from the np 1 runs (main-thread CPU outside MPI calls, less d);
                   d: the fixed CPU cost of a run per rank (opening the store, reading
                   its headers), the intercept of the per-rank CPU over all runs.
  T_storage      = B(N, P) / min(BW_agg, P bw_rank)
                   B: bytes read and written (MPI-IO bytes counted by the profiler, plus
                   ingest's CSV read with pread), fitted as b_N N + b_P P; BW_agg the file
                   system's aggregate bandwidth (default 10 GB/s, a Lustre system), bw_rank
                   what one client reaches (default 2 GB/s).
  T_metadata     = M_rank(N, P) t_op + M_sum(N, P) / mds_rate
                   M: file-system metadata requests (MPI_File_open/close/set_size/
                   get_size/sync/preallocate/delete); M_rank the busiest rank's, M_sum
                   all ranks'; t_op the latency of one (default 0.5 ms), mds_rate what
                   the metadata server serves per second to all clients (default 20,000).
                   MPI_File_set_view (HDF5 sets one around each read and write) makes
                   no file-system request; it is collective by the standard and is
                   charged as a collective below.
  T_small_io     = S_rank(N, P) t_small
                   S: MPI-IO data calls under 64 KiB (HDF5 headers, chunk index blocks,
                   small compressed chunks): latency-bound, one request each, served by
                   the storage targets in parallel (their bytes are in T_storage);
                   S_rank the busiest rank's; t_small one request's latency (default
                   0.5 ms).
  T_coll_latency = C(N, P) alpha ceil(log2 P)
                   C: collective calls per rank (the profiler's count, communicator
                   creation and MPI_File_set_view included); a collective
                   takes ceil(log2 P) latency hops of alpha (default 5 us).
  T_coll_payload = Q(N, P) / beta
                   Q: collective payload bytes received per rank (busiest rank); beta one
                   rank's network bandwidth (default 5 GB/s).
  T_p2p          = m(N, P) alpha + q(N, P) / beta
                   m, q: point-to-point messages and bytes per rank (sums / P).
  T_rank0        = s_0 + s_N N + s_P P, clipped at 0
                   rank 0's time alone: its CPU outside MPI minus the median of the
                   others' (validation/mpiprof/summarize.py), fitted over the runs
                   with absolute errors (a difference of noisy times near 0).

The counts (B, M, C, Q, m, q) are fitted per stage over all runs with non-negative
least squares on the basis named in FITS below (a count that grows with N/P, with P
or with N is recognised only when the study varies N and P: the full study has both
strong and weak runs). The terms are added (no overlap assumed), so T is an upper
bound where a stage overlaps I/O and compute (ingest does); the largest term is named.
Not modelled: the launch (mpirun and MPI_Init, which grow with P), POSIX metadata on
rank 0 (the output's claim, rename and fsync: a handful per run), and imbalance
beyond what the measured runs show.
"""
import argparse
import csv
import math
import sys

import numpy as np

TERMS = ["compute", "storage", "metadata", "small_io", "coll_latency", "coll_payload", "p2p",
         "rank0"]
TERM_NAME = {"compute": "compute (per-rank rate)", "storage": "storage bandwidth",
             "metadata": "file-system metadata", "small_io": "small I/O requests",
             "coll_latency": "collective latency",
             "coll_payload": "collective payload", "p2p": "point-to-point",
             "rank0": "rank 0 alone"}

# Basis functions of each fitted count, as functions of (P, N).
BASIS = {
    "1": lambda p, n: np.ones_like(p),
    "P": lambda p, n: p,
    "N": lambda p, n: n,
    "N/P": lambda p, n: n / p,
    "1/P": lambda p, n: 1 / p,      # a fixed amount of work shared out (ingest's files)
}
FITS = {
    "bytes": ["N", "P"],            # B: data scale with N; every rank reads headers
    "meta_rank": ["1", "N/P", "P", "1/P"],
    "meta_sum": ["1", "P", "N"],
    "small_rank": ["1", "N/P", "P", "1/P"],
    "coll_calls": ["1", "N/P", "P", "1/P"],
    "coll_in": ["1", "N/P", "P", "N"],
    "p2p_msgs": ["1", "N/P", "P", "1/P"],  # fitted on the runs with P > 1 (none on 1 rank)
    "p2p_bytes": ["1", "N/P", "P"],
    "rank0": ["1", "N", "P"],       # P > 1 only (undefined on 1 rank)
}


def nnls(a, b, iters=200):
    """min |a x - b| with x >= 0 (Lawson and Hanson's active set method)."""
    m, n = a.shape
    x = np.zeros(n)
    passive = np.zeros(n, bool)
    w = a.T @ (b - a @ x)
    for _ in range(iters):
        if passive.all() or w[~passive].max(initial=-np.inf) <= 1e-12 * (abs(w).max() + 1e-300):
            break
        j = np.where(~passive)[0][np.argmax(w[~passive])]
        passive[j] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if (z[passive] > 0).all():
                x = z
                break
            neg = passive & (z <= 0)
            alpha = np.min(x[neg] / (x[neg] - z[neg]))
            x = x + alpha * (z - x)
            passive &= x > 1e-15
            x[~passive] = 0
        w = a.T @ (b - a @ x)
    return x


class Fit:
    """y(P, N) = sum_k c_k basis_k(P, N), c >= 0, fitted by relative error."""

    def __init__(self, name, basis, p, n, y, relative=True):
        # With one N only, a term in N cannot be told from a constant, nor
        # N/P from 1/P: keep the constant and N/P (main's warning says so).
        if len(set(n.tolist())) < 2:
            basis = [k for k in basis if not (k == "N" and "1" in basis or
                                              k == "1/P" and "N/P" in basis)]
        # Fewer terms than runs (the first ones, the likelier), so that a few
        # runs are not fitted exactly by a large term in N or P.
        basis = basis[:max(1, min(len(basis), len(y) - 1))]
        self.name, self.basis = name, basis
        a = np.stack([BASIS[k](p, n) for k in basis], axis=1)
        # relative least squares: every run weighs alike, whatever its size
        # (values near 0 weigh as 5% of the largest, so one 0 cannot pin the fit)
        # (absolute errors for a difference of noisy times near 0, rank0:
        # relative ones would let runs of a few ms decide its slope)
        wgt = (1.0 / np.maximum(abs(y), 0.05 * abs(y).max() + 1e-300) if relative
               else np.ones_like(y, dtype=float))
        aw = a * wgt[:, None]
        scale = np.maximum(abs(aw).max(axis=0), 1e-300)
        self.coef = nnls(aw / scale, y * wgt) / scale
        pred = a @ self.coef
        nz = abs(y) > 0
        self.max_rel = float(np.max(abs(pred[nz] - y[nz]) / abs(y[nz]))) if nz.any() else 0.0

    def __call__(self, p, n):
        p, n = float(p), float(n)
        return float(sum(c * BASIS[k](np.array(p), np.array(n)) for k, c in zip(self.basis, self.coef)))

    def describe(self):
        terms = " + ".join(f"{c:.4g} {k}" for k, c in zip(self.basis, self.coef) if c) or "0"
        return f"{self.name:11s} = {terms}   (largest relative residual {100 * self.max_rel:.0f}%)"


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"scaling_model: {path} has no runs")
    num = lambda r, k: float(r[k]) if r[k] != "" else math.nan
    out = {}
    for r in rows:
        out.setdefault(r["stage"], []).append({k: (num(r, k) if k not in ("mode", "stage") else r[k])
                                               for k in r})
    return out


def works_of(stage, n, sel_frac, ref_frac, ref_cap, epochs):
    """W(N): the stage's work units at N events (see Compute)."""
    nsel = sel_frac * n
    if stage in ("ingest", "weight", "select"):
        return [n]
    if stage == "train_svdd":
        return [epochs * nsel]
    if stage == "score_kde":
        return [nsel, nsel * min(ref_frac * nsel, ref_cap)]
    return [nsel]


def model_stage(stage, runs, args, sel_frac, ref_frac):
    p = np.array([r["ranks"] for r in runs])
    n = np.array([r["events"] for r in runs])
    col = lambda k: np.array([r[k] for r in runs])
    fits = {}
    fits["bytes"] = Fit("bytes", FITS["bytes"], p, n,
                        col("io_read_bytes") + col("io_write_bytes") + col("posix_read_bytes"))
    fits["meta_rank"] = Fit("meta_rank", FITS["meta_rank"], p, n, col("io_meta_calls_max"))
    fits["meta_sum"] = Fit("meta_sum", FITS["meta_sum"], p, n, col("io_meta_calls"))
    fits["small_rank"] = Fit("small_rank", FITS["small_rank"], p, n, col("io_small_calls_max"))
    fits["coll_calls"] = Fit("coll_calls", FITS["coll_calls"], p, n,
                             col("coll_calls_max") + col("io_view_calls_max"))
    fits["coll_in"] = Fit("coll_in", FITS["coll_in"], p, n, col("coll_bytes_in_max"))
    multi = p > 1
    if multi.any():
        fits["p2p_msgs"] = Fit("p2p_msgs", FITS["p2p_msgs"], p[multi], n[multi],
                               col("messages")[multi] / p[multi])
        fits["p2p_bytes"] = Fit("p2p_bytes", FITS["p2p_bytes"], p[multi], n[multi],
                                col("p2p_bytes")[multi] / p[multi])
        # Unclipped: the estimate is a difference of CPU times whose noise has
        # both signs; clipping it at 0 would turn noise into a positive slope.
        fits["rank0"] = Fit("rank0", FITS["rank0"], p[multi], n[multi],
                            col("solo_cpu_s")[multi], relative=False)
    return fits, compute_fit(stage, runs)


class Compute:
    """Per-rank CPU outside MPI calls = sum_k c_k W_k / P + d.

    W_k: the stage's work (one term; KDE scoring has two, the events, whose
    features cost the same whatever the model, and the (event, reference)
    pairs of the kernel sum). c_k and d are fitted over every run (relative
    least squares, c, d >= 0); r_rank = 1 / c is the work per CPU second of
    one rank. The np 1 runs, where nothing is shared, give the plain rate
    W / CPU (fixed cost included) beside it."""

    def __init__(self, stage, runs):
        p = np.array([r["ranks"] for r in runs])
        cpu = np.array([r["cpu_out_med_s"] for r in runs])
        nsel = np.array([r["n_selected"] for r in runs])
        w = np.array([r["work_events"] for r in runs])
        if stage == "score_kde":
            self.units = ["event", "event x reference"]
            ws = [nsel, w]
        else:
            self.units = [{"train_svdd": "event x epoch"}.get(stage, "event")]
            ws = [w]
        a = np.stack([x / p for x in ws] + [np.ones_like(p)], axis=1)
        sc = np.maximum(abs(a).max(axis=0), 1e-300)
        coef = nnls(a / cpu[:, None] / sc, np.ones_like(cpu)) / sc
        self.c, self.d = coef[:-1], float(coef[-1])
        pred = a @ coef
        self.max_rel = float(np.max(abs(pred - cpu) / cpu))
        one = p == 1
        self.np1_rate = float(np.mean(w[one] / cpu[one])) if one.any() else math.nan
        self.epochs = float(np.mean(w / np.maximum(nsel, 1))) if stage == "train_svdd" else 1.0

    def seconds(self, works, p):
        return sum(c * x for c, x in zip(self.c, works)) / p + self.d


def compute_fit(stage, runs):
    return Compute(stage, runs)


def project(stage, fits, comp, p, n, args, sel_frac, ref_frac):
    works = works_of(stage, n, sel_frac, ref_frac, args.ref_cap, comp.epochs)
    hops = math.ceil(math.log2(p)) if p > 1 else 0
    t = {
        "compute": comp.seconds(works, p),
        "storage": fits["bytes"](p, n) / min(args.bw_agg, p * args.bw_rank),
        "metadata": fits["meta_rank"](p, n) * args.t_op + fits["meta_sum"](p, n) / args.mds_rate,
        "small_io": fits["small_rank"](p, n) * args.t_small,
        "coll_latency": fits["coll_calls"](p, n) * args.alpha * hops,
        "coll_payload": fits["coll_in"](p, n) / args.beta,
        "p2p": (fits["p2p_msgs"](p, n) * args.alpha + fits["p2p_bytes"](p, n) / args.beta
                if "p2p_msgs" in fits else 0.0),
        "rank0": max(fits["rank0"](p, n), 0.0) if "rank0" in fits else 0.0,
    }
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--events", type=float, default=1e9)
    ap.add_argument("--ranks", default="64,256,1024")
    ap.add_argument("--bw-agg", type=float, default=10e9, help="aggregate storage bandwidth, B/s")
    ap.add_argument("--bw-rank", type=float, default=2e9, help="one client's storage bandwidth, B/s")
    ap.add_argument("--alpha", type=float, default=5e-6, help="latency per message or hop, s")
    ap.add_argument("--beta", type=float, default=5e9, help="network bandwidth per rank, B/s")
    ap.add_argument("--t-op", type=float, default=5e-4, help="latency of a metadata request, s")
    ap.add_argument("--mds-rate", type=float, default=2e4, help="metadata requests served per s")
    ap.add_argument("--t-small", type=float, default=5e-4,
                    help="latency of a small (< 64 KiB) data request, s")
    ap.add_argument("--ref-cap", type=float, default=1e5, help="KDE reference cap (train kde --max-train)")
    ap.add_argument("--kde-pair-rate", type=float, default=2.9e9,
                    help="KDE kernel evaluations per s per rank, used when the runs cannot "
                         "tell the pair cost from the per-event cost (one N only)")
    ap.add_argument("--fits", action="store_true", help="print every fitted count")
    args = ap.parse_args()
    ranks = [int(x) for x in args.ranks.split(",")]
    stages = load(args.csv)

    # selected fraction and KDE reference fraction, from the runs that know them
    sel = [(r["n_selected"], r["events"]) for s in ("train_kde", "train_svdd", "score_kde",
                                                     "score_svdd") for r in stages.get(s, [])]
    sel_frac = sum(a for a, _ in sel) / sum(b for _, b in sel) if sel else 1.0
    ref = [(r["n_reference"], r["n_selected"]) for r in stages.get("score_kde", [])]
    ref_frac = sum(a for a, _ in ref) / sum(b for _, b in ref) if ref else 1.0
    modes = sorted({r["mode"] for rs in stages.values() for r in rs})
    n_values = sorted({r["events"] for rs in stages.values() for r in rs})
    print(f"Runs: {sum(len(v) for v in stages.values())} ({', '.join(modes)}), N from "
          f"{n_values[0]:.3g} to {n_values[-1]:.3g}; ranks "
          f"{sorted({int(r['ranks']) for rs in stages.values() for r in rs})}.")
    if len(n_values) < 2:
        print("Warning: one N only: a count's growth with N cannot be told from a constant; "
              "run the weak study too before trusting the projection.")
    print(f"Selected fraction (chan3) {sel_frac:.4g}, KDE reference / selected {ref_frac:.3g}, "
          f"reference cap {args.ref_cap:.3g}.")
    print(f"Parameters: BW_agg {args.bw_agg:.3g} B/s, bw_rank {args.bw_rank:.3g} B/s, alpha "
          f"{args.alpha:.3g} s, beta {args.beta:.3g} B/s, t_op {args.t_op:.3g} s, "
          f"mds_rate {args.mds_rate:.3g}/s, t_small {args.t_small:.3g} s.\n")

    models = {s: model_stage(s, rs, args, sel_frac, ref_frac) for s, rs in stages.items()}
    if "score_kde" in models and models["score_kde"][1].c[1] == 0:
        models["score_kde"][1].c[1] = 1.0 / args.kde_pair_rate
        print(f"score_kde: the pair cost is not identifiable from these runs (the reference "
              f"count did not vary); using --kde-pair-rate {args.kde_pair_rate:.3g}/s.\n")
    print("| stage | work unit | r_rank, fitted (units/s per rank) | d (s) | largest residual "
          "| np 1: W / CPU (units/s) |")
    print("|---|---|---|---|---|---|")
    for s, (fits, comp) in models.items():
        rates = ", ".join(f"{1 / c:.4g}" if c > 0 else "inf" for c in comp.c)
        print(f"| {s} | {', '.join(comp.units)} | {rates} | {comp.d:.3f} | "
              f"{100 * comp.max_rel:.0f}% | {comp.np1_rate:.4g} |")
    if args.fits:
        for s, (fits, comp) in models.items():
            print(f"\n{s}:")
            for f in fits.values():
                print("  " + f.describe())
    n = args.events
    print(f"\nProjection for N = {n:.3g} events (seconds per term; the total adds them):\n")
    print("| stage | P | " + " | ".join(TERMS) + " | total | dominated by |")
    print("|---|---|" + "---|" * (len(TERMS) + 2))
    chain = {p: {t: 0.0 for t in TERMS} for p in ranks}
    for s, (fits, comp) in models.items():
        for p in ranks:
            t = project(s, fits, comp, p, n, args, sel_frac, ref_frac)
            for k in TERMS:
                chain[p][k] += t[k]
            top = max(TERMS, key=lambda k: t[k])
            print(f"| {s} | {p} | " + " | ".join(f"{t[k]:.3g}" for k in TERMS) +
                  f" | {sum(t.values()):.3g} | {TERM_NAME[top]} |")
    for p in ranks:
        top = max(TERMS, key=lambda k: chain[p][k])
        print(f"| chain | {p} | " + " | ".join(f"{chain[p][k]:.3g}" for k in TERMS) +
              f" | {sum(chain[p].values()):.3g} | {TERM_NAME[top]} |")


if __name__ == "__main__":
    main()
