"""The figures of dmpipe report, drawn with matplotlib (Agg, PNG).

Every function takes plain numpy arrays and a file name, saves one figure and
returns nothing; restyle here (colours, sizes) without touching the page.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 100
plt.rcParams.update({"figure.figsize": (7.2, 4.6), "axes.grid": True, "grid.alpha": 0.3,
                     "font.size": 9, "legend.fontsize": 7})

LABELS = {"ht": "$H_T$ [GeV]", "met": "$E_T^{miss}$ [GeV]", "met_over_ht": "$E_T^{miss}/H_T$",
          "n_jets": "jets (j, b)", "n_bjets": "b jets", "n_leptons": "leptons (e, $\\mu$)",
          "n_photons": "photons", "lead_jet_pt": "leading jet $p_T$ [GeV]",
          "m_eff": "$m_{eff} = H_T + E_T^{miss}$ [GeV]", "n_obj": "objects"}


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def stacked(path, edges, bkg, sig, title, xlabel, log_x=False):
    """bkg: list of (name, sumw, sumw2) stacked (first at the bottom); sig:
    list of (name, sumw) drawn as lines. Band: total background +- its
    statistical error sqrt(sum w^2)."""
    fig, ax = plt.subplots(figsize=(8.6 if len(bkg) + len(sig) <= 15 else 10, 4.6))
    x = edges
    bottom = np.zeros(len(edges) - 1)
    cmap = plt.get_cmap("tab20")
    for i, (name, w, _) in enumerate(bkg):
        ax.bar(x[:-1], w, width=np.diff(x), bottom=bottom, align="edge", color=cmap(i % 20),
               label=name, linewidth=0)
        bottom = bottom + w
    if bkg:
        err = np.sqrt(sum(w2 for _, _, w2 in bkg))
        lo, hi = bottom - err, bottom + err
        ax.fill_between(x, np.append(lo, lo[-1]), np.append(hi, hi[-1]), step="post",
                        facecolor="none", edgecolor="black", hatch="////", linewidth=0,
                        label="bkg. stat. $\\pm\\sqrt{\\sum w^2}$")
        ax.stairs(bottom, x, color="black", linewidth=0.8)
    lines = plt.get_cmap("Set1")
    for i, (name, w) in enumerate(sig):
        ax.stairs(w, x, color=lines(i % 9), linewidth=1.6, label=name + " (signal)")
    arrays = ([bottom] if bkg else []) + [w for _, w in sig]
    pos = np.concatenate([a[a > 0] for a in arrays]) if arrays else np.zeros(0)
    ax.set_yscale("log")
    if len(pos):
        ax.set_ylim(pos.min() * 0.5, pos.max() * 30)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlim(x[0], x[-1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("events (sum of weights) per bin")
    ax.set_title(title)
    # Legend beside the axes: signals, the band, then the stack top down.
    by_label = dict(zip(*reversed(ax.get_legend_handles_labels())))
    want = [n + " (signal)" for n, _ in sig] + [l for l in by_label if l.startswith("bkg.")] + \
        [n for n, _, _ in reversed(bkg)]
    want = [l for l in want if l in by_label]
    ax.legend([by_label[l] for l in want], want, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              frameon=False, ncol=1 if len(want) <= 18 else 2)
    _save(fig, path)


def score_shapes(path, edges, curves, title, xlabel):
    """curves: list of (name, counts, is_background); each normalised to
    unit area, background filled."""
    fig, ax = plt.subplots()
    lines = plt.get_cmap("Set1")
    k = 0
    for name, c, is_bkg in curves:
        tot = c.sum()
        if tot <= 0:
            continue
        y = c / tot
        if is_bkg:
            ax.stairs(y, edges, fill=True, alpha=0.35, color="grey", label=name)
        else:
            ax.stairs(y, edges, color=lines(k % 9), linewidth=1.4, label=name)
            k += 1
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of events per bin")
    ax.set_title(title)
    ax.legend(ncol=2, frameon=False)
    _save(fig, path)


def roc(path, curves, n_bkg, title):
    """curves: list of (name, eps_b, eps_s). Shaded: eps_B < 10 / n_bkg, where
    fewer than 10 background events remain (unresolved)."""
    fig, ax = plt.subplots()
    lim = 10.0 / n_bkg if n_bkg > 0 else 1.0
    floor = min(lim / 10, 1e-5)
    ax.axvspan(floor, lim, color="orange", alpha=0.2,
               label=f"unresolved: < 10 background events ($\\epsilon_B$ < {lim:.1e})")
    cmap = plt.get_cmap("tab10")
    for i, (name, eb, es) in enumerate(curves):
        ok = (eb > 0) & (es > 0)
        ax.plot(eb[ok], es[ok], color=cmap(i % 10), linewidth=1.2, label=name,
                drawstyle="steps-post")
    g = np.geomspace(floor, 1, 50)
    ax.plot(g, g, color="black", linestyle=":", linewidth=0.8, label="random ($\\epsilon_S = \\epsilon_B$)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(floor, 1)
    ax.set_ylim(max(floor, 1e-4), 1.05)
    ax.set_xlabel("background efficiency $\\epsilon_B$")
    ax.set_ylabel("signal efficiency $\\epsilon_S$")
    ax.set_title(title)
    ax.legend(loc="lower right", frameon=False)
    _save(fig, path)


def si(path, curves, n_bkg, title):
    """SI = eps_S / sqrt(eps_B) against eps_B, with the challenge's working
    points marked."""
    fig, ax = plt.subplots()
    lim = 10.0 / n_bkg if n_bkg > 0 else 1.0
    floor = min(lim / 10, 1e-5)
    ax.axvspan(floor, lim, color="orange", alpha=0.2, label="unresolved (< 10 bkg. events)")
    for wp in (1e-2, 1e-3, 1e-4):
        ax.axvline(wp, color="grey", linestyle="--", linewidth=0.7)
    cmap = plt.get_cmap("tab10")
    for i, (name, eb, es) in enumerate(curves):
        ok = eb > 0
        ax.plot(eb[ok], es[ok] / np.sqrt(eb[ok]), color=cmap(i % 10), linewidth=1.2, label=name,
                drawstyle="steps-post")
    ax.set_xscale("log")
    ax.set_xlim(floor, 1)
    ax.set_xlabel("background efficiency $\\epsilon_B$")
    ax.set_ylabel("SI = $\\epsilon_S / \\sqrt{\\epsilon_B}$")
    ax.set_title(title)
    ax.legend(frameon=False)
    _save(fig, path)


def bump(path, lo, hi, obs, exp, win, text, title, xlabel):
    """Observed (points, Poisson errors sqrt(n)) over expected (steps), the
    most significant window shaded."""
    fig, ax = plt.subplots()
    edges = np.append(lo, hi[-1])
    ax.axvspan(win[0], win[1], color="gold", alpha=0.35, label="most significant window")
    ax.stairs(exp, edges, color="C0", linewidth=1.4, label="expected")
    mid = 0.5 * (lo + hi)
    ax.errorbar(mid, obs, yerr=np.sqrt(np.clip(obs, 0, None)), fmt="o", color="black",
                markersize=3, linewidth=0.8, label="observed")
    pos = np.concatenate([obs[obs > 0], exp[exp > 0]])
    ax.set_yscale("log")
    if len(pos):
        ax.set_ylim(pos.min() * 0.5, pos.max() * 20)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("events per bin")
    ax.set_title(title)
    ax.text(0.02, 0.97, text, transform=ax.transAxes, va="top", fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    ax.legend(loc="upper right", frameon=False)
    _save(fig, path)


def score_procs(path, edges, bkg, sig, title, xlabel):
    """Score distributions per process, each normalised to unit area:
    bkg and sig are lists of (name, counts); background processes thin
    lines, the total background filled grey, signals thick lines."""
    fig, ax = plt.subplots(figsize=(8.6, 4.6))
    tot = sum((c for _, c in bkg), np.zeros(len(edges) - 1))
    if tot.sum() > 0:
        ax.stairs(tot / tot.sum(), edges, fill=True, alpha=0.3, color="grey",
                  label="background (all processes)")
    thin = plt.get_cmap("tab20")
    for i, (name, c) in enumerate(bkg):
        if c.sum() > 0:
            ax.stairs(c / c.sum(), edges, color=thin(i % 20), linewidth=0.8, linestyle="--",
                      label=name)
    lines = plt.get_cmap("Set1")
    for i, (name, c) in enumerate(sig):
        if c.sum() > 0:
            ax.stairs(c / c.sum(), edges, color=lines(i % 9), linewidth=1.8,
                      label=name + " (signal)")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of events per bin")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _save(fig, path)
