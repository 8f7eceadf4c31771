"""The same Deep SVDD network in PyTorch, started from the weights the C code
drew, must give the same losses (relative 1e-4) for every Adam step (weight
decay and a learning-rate milestone included), for both objectives.

usage: torch_peer.py PEER_DUMP_PROGRAM SCRATCH_DIR
PEER_DUMP_PROGRAM (svdd_peer_dump) writes the data, initial weights, centre,
R^2, its per-step losses and final weights; everything expected here is
computed by torch (and numpy for the centre), never read from the C run
except the inputs.
"""
import os
import subprocess
import sys

import numpy as np
import torch

N, DIM, B = 512, 10, 128
DIMS = [DIM, 32, 16, 4]
LR, WD, MILESTONES, NU, EPOCHS = 1e-2, 1e-3, [2], 0.25, 3


def run(objective, prog, scratch):
    out = os.path.join(scratch, objective)
    os.makedirs(out, exist_ok=True)
    subprocess.run([prog, out, objective], check=True)
    rd = lambda name: np.fromfile(os.path.join(out, name), dtype=np.float32)
    x = torch.from_numpy(rd("data.f32").reshape(N, DIM))
    w0 = rd("w0.f32")
    c_file = rd("c.f32")
    r2 = float(rd("r2.f32")[0])
    losses_c = np.loadtxt(os.path.join(out, "losses.txt"))
    w_final_c = rd("w_final.f32")

    layers = []
    for i in range(len(DIMS) - 1):
        layers.append(torch.nn.Linear(DIMS[i], DIMS[i + 1], bias=False))
        if i + 2 < len(DIMS):
            layers.append(torch.nn.LeakyReLU(0.01))
    net = torch.nn.Sequential(*layers)
    off = 0
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    for i, lin in enumerate(linears):
        n = DIMS[i] * DIMS[i + 1]
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w0[off:off + n].reshape(DIMS[i + 1], DIMS[i])))
        off += n
    assert off == w0.size, (off, w0.size)

    # The centre, independently: mean of the first forward pass in double,
    # components below 0.1 in magnitude pushed to +-0.1.
    with torch.no_grad():
        c_ref = net(x).double().mean(0).numpy()
    c_ref = np.where(np.abs(c_ref) < 0.1, np.where(c_ref < 0, -0.1, 0.1), c_ref)
    assert np.allclose(c_file, c_ref, rtol=1e-5, atol=1e-6), (c_file, c_ref)
    c = torch.from_numpy(c_ref.astype(np.float32))

    opt = torch.optim.Adam(net.parameters(), lr=LR, weight_decay=WD)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=MILESTONES, gamma=0.1)
    losses_t = []
    for _ in range(EPOCHS):
        for b in range(0, N, B):
            opt.zero_grad()
            dist = torch.sum((net(x[b:b + B]) - c) ** 2, dim=1)
            if objective == "one-class":
                loss = torch.mean(dist)
            else:
                loss = r2 + (1.0 / NU) * torch.mean(torch.clamp(dist - r2, min=0.0))
            loss.backward()
            opt.step()
            losses_t.append(loss.item())
        sched.step()
    losses_t = np.array(losses_t)
    w_final_t = np.concatenate([lin.weight.detach().numpy().ravel() for lin in linears])

    rel = np.abs(losses_c - losses_t) / np.abs(losses_t)
    print(f"{objective}: {len(losses_t)} steps, loss {losses_t[0]:.6g} -> {losses_t[-1]:.6g}, "
          f"max relative loss difference {rel.max():.3g}")
    wdiff = np.abs(w_final_c - w_final_t).max() / np.abs(w_final_t).max()
    print(f"{objective}: final weights, max difference / max |w| = {wdiff:.3g}")
    ok = True
    if not rel.max() < 1e-4:
        print(f"FAIL {objective}: losses differ: C {losses_c} torch {losses_t}")
        ok = False
    if not losses_t[-1] < losses_t[0]:
        print(f"FAIL {objective}: training did not reduce the loss")
        ok = False
    if not wdiff < 1e-3:
        print(f"FAIL {objective}: final weights differ by {wdiff}")
        ok = False
    if objective == "soft-boundary":
        # The hinge must be active for some rows but not all, or the test
        # would not exercise it.
        with torch.no_grad():
            d = torch.sum((net(x) - c) ** 2, dim=1)
        frac = float((d > r2).float().mean())
        print(f"soft-boundary: fraction outside R after training {frac:.3f}")
        if not 0.0 < frac < 1.0:
            print("FAIL soft-boundary: hinge not exercised")
            ok = False
    return ok


def main():
    torch.set_num_threads(1)
    prog, scratch = sys.argv[1], sys.argv[2]
    os.makedirs(scratch, exist_ok=True)
    ok = all([run(obj, prog, scratch) for obj in ("one-class", "soft-boundary")])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
