#!/usr/bin/env python3
"""Peers for the KDE benchmark (validation/bench_kde.sh): scikit-learn and a
numpy double-precision direct sum on the same standardised data, the machine's
sgemm rate, and the AUC of each signal against the SM background.

  peer_kde.py sklearn STORE.h5 MODEL.h5 SCORES.h5 [--queries N] [--exact N]
      Features of STORE recomputed independently (tests/model/check_kde.py),
      transformed with the model's standardisation/PCA. Times
      KernelDensity(kernel='gaussian', bandwidth=h) at default tolerances
      (rtol=0, atol=0) and at rtol=1e-6 on N queries and extrapolates to all;
      compares both, and dmpipe's scores, with a numpy double direct sum.
      Prints one JSON object.
  peer_kde.py peak
      sgemm GFLOP/s of numpy's BLAS (threads from OPENBLAS_NUM_THREADS).
  peer_kde.py auc STORE.h5 SCORES.h5 [--train-fraction F]
      AUC of each BSM process against the SM events not used for training
      (the last 1-F of them in store order) and against all SM events.
"""
import json
import os
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "model"))
import check_kde  # noqa: E402  (the independent feature code)


def cmd_sklearn(args):
    nq = 200
    nexact = 2000
    if "--queries" in args:
        i = args.index("--queries")
        nq = int(args[i + 1])
        del args[i:i + 2]
    if "--exact" in args:
        i = args.index("--exact")
        nexact = int(args[i + 1])
        del args[i:i + 2]
    store, model, scores = (h5py.File(p, "r") for p in args)
    from sklearn.neighbors import KernelDensity
    h = float(model["model"].attrs["bandwidth"])
    ref = model["model/reference"][:].astype(np.float64)
    x = check_kde.transform(model, check_kde.highlevel(store)).astype(np.float64)
    ours = -scores["scores/score"][:]
    n = len(x)
    sel = np.linspace(0, n - 1, nq).astype(int)
    out = {"n_queries": n, "n_ref": len(ref), "dim": ref.shape[1], "bandwidth": h,
           "sklearn_subset": nq}
    t = time.perf_counter()
    kd0 = KernelDensity(kernel="gaussian", bandwidth=h).fit(ref)
    out["sklearn_fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    s0 = kd0.score_samples(x[sel])
    dt = time.perf_counter() - t
    out["sklearn_default_s_per_query"] = dt / nq
    out["sklearn_default_extrapolated_s"] = dt / nq * n
    kd1 = KernelDensity(kernel="gaussian", bandwidth=h, rtol=1e-6).fit(ref)
    t = time.perf_counter()
    s1 = kd1.score_samples(x[sel])
    dt = time.perf_counter() - t
    out["sklearn_rtol1e-6_s_per_query"] = dt / nq
    out["sklearn_rtol1e-6_extrapolated_s"] = dt / nq * n
    # The exact answer on a larger subset, and everyone's error against it.
    selx = np.linspace(0, n - 1, min(nexact, n)).astype(int)
    t = time.perf_counter()
    exact = check_kde.logp_direct(ref, x[selx], h)
    out["numpy_direct_s_per_query"] = (time.perf_counter() - t) / len(selx)
    rel = lambda a, b: float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))
    out["ours_max_rel_err_vs_direct"] = rel(ours[selx], exact)
    ex_sel = check_kde.logp_direct(ref, x[sel], h)
    out["sklearn_default_max_rel_err_vs_direct"] = rel(s0, ex_sel)
    out["sklearn_rtol1e-6_max_rel_err_vs_direct"] = rel(s1, ex_sel)
    out["ours_vs_sklearn_default_max_rel_diff"] = rel(ours[sel], s0)
    print(json.dumps(out, indent=1))


def cmd_peak(args):
    n = 3072
    a = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(2).standard_normal((n, n), dtype=np.float32)
    a @ b  # warm up threads and caches
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        best = max(best, 2.0 * n ** 3 / (time.perf_counter() - t) / 1e9)
    print(json.dumps({"sgemm_gflops": best, "n": n,
                      "threads": os.environ.get("OPENBLAS_NUM_THREADS", "default")}))


def cmd_auc(args):
    frac = 0.9
    if "--train-fraction" in args:
        i = args.index("--train-fraction")
        frac = float(args[i + 1])
        del args[i:i + 2]
    from sklearn.metrics import roc_auc_score
    store, scores = (h5py.File(p, "r") for p in args)
    names = [s.decode() if isinstance(s, bytes) else s for s in scores["processes/name"][:]]
    proc = scores["scores/process"][:]
    score = scores["scores/score"][:]
    table = {}
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "processes.csv")
    for line in open(src):
        if line.startswith("#") or line.startswith("name,") or not line.strip():
            continue
        f = line.split(",")
        table[f[0]] = f[1]
    sm = np.array([table.get(nm) == "sm" for nm in names])
    is_sm = sm[proc]
    sm_idx = np.flatnonzero(is_sm)
    held = sm_idx[int(np.floor(frac * len(sm_idx))):]
    rows = []
    for p, nm in enumerate(names):
        if table.get(nm) != "bsm":
            continue
        sig = np.flatnonzero(proc == p)
        y = np.r_[np.zeros(len(held)), np.ones(len(sig))]
        a_held = roc_auc_score(y, np.r_[score[held], score[sig]])
        y2 = np.r_[np.zeros(len(sm_idx)), np.ones(len(sig))]
        a_all = roc_auc_score(y2, np.r_[score[sm_idx], score[sig]])
        rows.append({"signal": nm, "n_signal": int(len(sig)), "auc_vs_heldout_sm": a_held,
                     "auc_vs_all_sm": a_all})
    print("SM events %d, held out (last %.3g in store order) %d"
          % (len(sm_idx), 1 - frac, len(held)))
    print("| signal | events | AUC vs held-out SM | AUC vs all SM |")
    print("|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %.4f | %.4f |" % (r["signal"], r["n_signal"], r["auc_vs_heldout_sm"],
                                           r["auc_vs_all_sm"]))


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("sklearn", "peak", "auc"):
        print(__doc__)
        sys.exit(2)
    {"sklearn": cmd_sklearn, "peak": cmd_peak, "auc": cmd_auc}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
