"""PyTorch peer of the Deep SVDD benchmark (validation/bench_svdd.sh).

The same network as dmpipe's (D-256-128-13, no bias, leaky ReLU 0.01, linear
last layer), the same optimiser (Adam, lr 1e-3, weight decay 1e-6), batch 500,
one-class objective, a fresh random permutation per epoch, on standard normal
inputs: the usual PyTorch training loop, timed over all epochs. Inference:
forward passes in blocks of 1024 rows under no_grad (as dmpipe scores).

usage: peer_svdd.py [--events N] [--dim D] [--epochs E] [--batch B]
                    [--threads T] [--json FILE]
"""
import argparse
import json
import time

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=222)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x = torch.from_numpy(np.random.default_rng(3).standard_normal((a.events, a.dim),
                                                                    dtype=np.float32))
    net = torch.nn.Sequential(torch.nn.Linear(a.dim, 256, bias=False), torch.nn.LeakyReLU(0.01),
                              torch.nn.Linear(256, 128, bias=False), torch.nn.LeakyReLU(0.01),
                              torch.nn.Linear(128, 13, bias=False))
    with torch.no_grad():
        c = net(x).mean(0)
        c[(c.abs() < 0.1) & (c < 0)] = -0.1
        c[(c.abs() < 0.1) & (c >= 0)] = 0.1
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-6)
    t0 = time.perf_counter()
    for _ in range(a.epochs):
        perm = torch.randperm(a.events)
        for b in range(0, a.events, a.batch):
            xb = x[perm[b:b + a.batch]]
            opt.zero_grad()
            loss = torch.mean(torch.sum((net(xb) - c) ** 2, dim=1))
            loss.backward()
            opt.step()
    train_s = time.perf_counter() - t0
    best = 1e30
    with torch.no_grad():
        for _ in range(3):
            t0 = time.perf_counter()
            for b in range(0, a.events, 1024):
                torch.sum((net(x[b:b + 1024]) - c) ** 2, dim=1)
            best = min(best, time.perf_counter() - t0)
    flops = 2.0 * (a.dim * 256 * 2 + 256 * 128 * 3 + 128 * 13 * 3)
    res = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "events": a.events,
        "epochs": a.epochs,
        "batch": a.batch,
        "train_events_per_s": a.events * a.epochs / train_s,
        "train_gflops": flops * a.events * a.epochs / train_s * 1e-9,
        "infer_events_per_s": a.events / best,
        "final_loss": float(loss),
    }
    print(f"peer_svdd (PyTorch {res['torch']}, {res['threads']} threads): training "
          f"{res['train_events_per_s']:.0f} events/s ({res['train_gflops']:.1f} GFLOP/s), "
          f"inference {res['infer_events_per_s']:.0f} events/s, final loss {res['final_loss']:.4g}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f)


if __name__ == "__main__":
    main()
