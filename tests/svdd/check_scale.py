"""Checks behind scale_svdd.sh, with h5py/numpy and the formulas of dm_svdd.h.

usage: check_scale.py SCRATCH_DIR POOL_MB
 - streamed runs: the model records the streamed pool and the block geometry
   of the formula; 1, 2 and 3 ranks agree (weights to relative 1e-5, centre
   to 1e-6); 1 epoch + resume to 2 is bitwise the uninterrupted run;
 - peak resident memory (VmHWM) of every rank of a streamed run stays below
   the tiny-store baseline of the same rank count + the budget + 8 MB (the
   fixed cost of reading a store larger than one chunk of 65,536 events per
   column: HDF5's chunk buffers, 2.8 MB measured, and its chunk cache, which
   keeps the chunk two consecutive reads share, up to 1 MiB per column read:
   4.8 MB above the budget measured in all), while the in-memory run of the
   same pool is above it (so the check can fail);
 - the rule on 2 and 3 ranks: batch_effective = 50 P, lr_effective =
   3e-3 x 50 P / 64, warm-up 2, in the model file and the JSON report; the
   mean squared distance of held-out events (numpy, from the tiny store)
   falls to under half of its value at the start.
"""
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_svdd  # noqa: E402  (the numpy features and network)

T, MB = sys.argv[1], int(sys.argv[2])
ok = True


def fail(msg):
    global ok
    print("FAIL:", msg)
    ok = False


def attrs(path):
    with h5py.File(os.path.join(T, path), "r") as f:
        return {k: v.decode() if isinstance(v, bytes) else v for k, v in f["model"].attrs.items()}


def js(path):
    with open(os.path.join(T, path)) as f:
        return json.load(f)


def rel(a, b):
    return np.abs(a - b).max() / np.abs(a).max()


# Streamed geometry: 13 columns cost 4 x 13 + 28 = 80 bytes a row; a window
# is 3/4 of the budget: W = min(32, max(4, rows // 65536)) blocks of rows // W.
rows = (MB << 20) // 4 * 3 // 80
W = min(32, max(4, rows // 65536))
E = rows // W
m = {np_: check_svdd.model(os.path.join(T, f"st{np_}.h5")) for np_ in (1, 2, 3)}
for np_ in (1, 2, 3):
    a = attrs(f"st{np_}.h5")
    got = (a["pool"], int(a["pool_mb"]), int(a["pool_block_events"]), int(a["pool_window_blocks"]),
           int(a["ranks"]))
    if got != ("streamed", MB, E, W, np_):
        fail(f"st{np_}.h5 records {got}, expected streamed, {MB}, {E}, {W}, {np_}")
    if not js(f"st{np_}.json")["pool_streamed"]:
        fail(f"st{np_}.json: pool not streamed")
for np_ in (2, 3):
    rw, rc = rel(m[1]["w"], m[np_]["w"]), rel(m[1]["c"], m[np_]["c"])
    print(f"streamed 1 vs {np_} ranks: weights {rw:.3g}, centre {rc:.3g}")
    if not (rw < 1e-5 and rc < 1e-6):
        fail(f"streamed runs of 1 and {np_} ranks differ: weights {rw}, centre {rc}")
mr = check_svdd.model(os.path.join(T, "resumed.h5"))
if not np.array_equal(mr["w"], m[2]["w"]):
    fail("streamed: 1 epoch + resume to 2 differs from 2 uninterrupted epochs")

# Memory: per rank, against the tiny store's run of the same rank count.
margin_kb = 8 * 1024
for np_ in (1, 2, 3):
    base = js(f"base{np_}.json")["peak_rss_kb_per_rank"]
    st = js(f"st{np_}.json")["peak_rss_kb_per_rank"]
    limit = max(base) + MB * 1024 + margin_kb
    print(f"np {np_}: peak RSS kB streamed {st}, tiny baseline {base}, limit {limit}")
    if len(st) != np_ or max(st) > limit or min(st) <= 0:
        fail(f"np {np_}: streamed peak RSS {st} kB above the baseline {base} + budget + 8 MB")
mem = js("mem1.json")
base1 = max(js("base1.json")["peak_rss_kb_per_rank"])
print(f"in memory: peak RSS {mem['peak_rss_kb']} kB, {mem['pool_bytes_in_memory']} bytes of rows")
if mem["pool_streamed"] or not mem["peak_rss_kb"] > base1 + MB * 1024 + margin_kb:
    fail(f"the in-memory run ({mem['peak_rss_kb']} kB) is not above the limit: the memory "
         f"check could not fail")

# The rule.
# Held out: the tiny store's events (same generator, other seed).
x, proc, names = check_svdd.highlevel(os.path.join(T, "tiny.h5"))
for np_ in (2, 3):
    a, r = attrs(f"rule{np_}.h5"), js(f"rule{np_}.json")["backend"]
    want_b, want_lr = 50 * np_, 3e-3 * 50 * np_ / 64
    for src, b, lr, wu in (("model", a["batch_effective"], a["lr_effective"], a["lr_warm_up"]),
                           ("json", r["batch_effective"], r["lr_effective"], r["lr_warm_up"])):
        if int(b) != want_b or abs(lr - want_lr) > 1e-12 * want_lr or int(wu) != 2:
            fail(f"rule {np_} ranks ({src}): batch {b}, lr {lr}, warm-up {wu}; expected "
                 f"{want_b}, {want_lr}, 2")
    if int(a["batch"]) != 64 or a["lr"] != 3e-3 or a["pool"] != "memory":
        fail(f"rule {np_} ranks: requested batch/lr/pool recorded as {a['batch']}, {a['lr']}, "
             f"{a['pool']}")
    s4 = check_svdd.scores(check_svdd.model(os.path.join(T, f"rule{np_}.h5")), x).mean()
    s0 = check_svdd.scores(check_svdd.model(os.path.join(T, f"rule0_{np_}.h5")), x).mean()
    print(f"rule {np_} ranks: batch {want_b}, mean |phi - c|^2 {s0:.4g} -> {s4:.4g}")
    if not s4 < 0.5 * s0:
        fail(f"rule {np_} ranks: no convergence ({s0} -> {s4})")
sys.exit(0 if ok else 1)
