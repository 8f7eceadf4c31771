"""The page of dmpipe report: reads the histograms the C side filled, the
run's JSON files and (bounded) the scores files, draws each figure through
report_plots and writes index.html. Every section that lacks its inputs says
so instead of failing.
"""
import csv
import datetime
import html
import json
import os

import h5py
import numpy as np

import report_plots as rp

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "..", "data"))
# Signal name prefixes of the challenge (as the metrics stage uses them) for
# processes the process table does not list.
SIGNAL_PREFIXES = ("gluino", "stop", "Zp", "glgl", "sqsq", "stlp", "monojet", "monotop", "monoV",
                   "chacha", "chaneut", "pp23mt", "pp24mt")
VAR_ORDER = ["ht", "met", "met_over_ht", "n_jets", "n_leptons", "lead_jet_pt", "n_bjets",
             "m_eff", "n_photons", "n_obj"]
MAX_SIGNALS_DRAWN = 6
MAX_ROC_CURVES = 8

esc = html.escape


def load_kinds():
    """Process name (and aliases) -> 'sm' | 'bsm' from the shipped table."""
    kinds = {}
    path = os.path.join(DATA, "processes.csv")
    if not os.path.exists(path):
        return kinds
    with open(path) as f:
        rows = csv.reader(line for line in f if not line.startswith("#"))
        header = next(rows, None)
        if not header:
            return kinds
        col = {h.strip(): i for i, h in enumerate(header)}
        for r in rows:
            if len(r) <= max(col.get("name", 0), col.get("kind", 1)):
                continue
            k = r[col["kind"]].strip()
            kinds[r[col["name"]].strip()] = k
            for a in r[col["aliases"]].split() if "aliases" in col and len(r) > col["aliases"] else []:
                kinds[a] = k
    return kinds


KINDS = load_kinds()


def is_signal(name):
    k = KINDS.get(name)
    if k:
        return k == "bsm"
    return name.startswith(SIGNAL_PREFIXES)


def fmt(x, digits=3):
    if isinstance(x, str):  # "unresolved" working points of the metrics JSON
        return esc(x)
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) >= 1e5 or abs(x) < 1e-3:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


class Page:
    def __init__(self, staging):
        self.staging = staging
        self.parts = []
        self.n_fig = 0

    def add(self, text):
        self.parts.append(text)

    def fig_path(self, stem):
        self.n_fig += 1
        name = f"fig{self.n_fig:03d}_{''.join(c if c.isalnum() else '_' for c in stem)}.png"
        return name, os.path.join(self.staging, name)

    def figure(self, name, caption):
        self.add(f'<figure><img src="{esc(name)}" alt="{esc(caption)}">'
                 f"<figcaption>{caption}</figcaption></figure>")

    def note(self, text):
        self.add(f'<p class="note">{text}</p>')


# ---- histograms (filled by dmpipe hist) ----------------------------------------------

def read_hist_file(path, channel):
    out = {}
    with h5py.File(path, "r") as f:
        g = f["histograms"][channel]
        for var in g:
            h = g[var]
            out[var] = {
                "edges": h["edges"][...], "count": h["count"][...], "sumw": h["sumw"][...],
                "sumw2": h["sumw2"][...],
                "procs": [p.decode() for p in h["process_names"][...]],
                **{k: (v.decode() if isinstance(v, bytes) else v) for k, v in h.attrs.items()}}
    return out


def distributions(page, ch, hists, signals=None):
    page.add("<h3>Distributions</h3>")
    page.note("Background processes stacked (sum of weights per bin, log scale) with the "
              "statistical error &radic;&Sigma;w&sup2; of the total as a hatched band; signal "
              "processes overlaid as lines.")
    wsrc = ""
    drawn = 0
    for var in [v for v in VAR_ORDER if v in hists]:
        h = hists[var]
        wsrc = h.get("weights", "")
        inner = slice(1, -1)
        bkg, sig, undefined = [], [], []
        for i, p in enumerate(h["procs"]):
            w, w2 = h["sumw"][i], h["sumw2"][i]
            if h["count"][i].sum() == 0:
                continue
            if not np.all(np.isfinite(w)):
                undefined.append(p)
                continue
            (sig if (p in signals if signals is not None else is_signal(p)) else bkg).append((p, w[inner], w2[inner], w.sum()))
        bkg.sort(key=lambda t: t[3])
        sig.sort(key=lambda t: -t[3])
        n_more = max(0, len(sig) - MAX_SIGNALS_DRAWN)
        under = int(h["count"][:, 0].sum())
        over = int(h["count"][:, -1].sum())
        name, path = page.fig_path(f"{ch['name']}_{var}")
        rp.stacked(path, h["edges"], [(p, w, w2) for p, w, w2, _ in bkg],
                   [(p, w) for p, w, _, _ in sig[:MAX_SIGNALS_DRAWN]],
                   f"{ch['name']}: {var}", rp.LABELS.get(var, var), bool(h.get("log_scale", 0)))
        cap = f"{esc(var)}"
        if n_more:
            cap += f"; signals: the {MAX_SIGNALS_DRAWN} largest ({n_more} more not drawn)"
        if under or over:
            cap += f"; outside the range (not drawn): {under} entries below, {over} above"
        cap += "."
        if undefined:
            cap += (f" Not drawn, weights undefined (no cross section): "
                    f"{esc(', '.join(undefined))}.")
        page.figure(name, cap)
        drawn += 1
    if not drawn:
        page.note("No distributions: the channel's histograms hold no variables.")
    elif wsrc and ch.get("hist"):
        page.note(f"Weights: {esc(wsrc)}. Binning and raw histograms: "
                  f"<code>data/{esc(os.path.basename(ch['hist']))}</code> "
                  f"(format dmpipe-hist, histograms/{esc(ch['name'])}/&lt;variable&gt;).")


# ---- cutflow ------------------------------------------------------------------------

def cutflow(page, ch, cutflows):
    page.add("<h3>Cutflow</h3>")
    cf = [c for c in cutflows if c["data"].get("selection") == ch["selection"]] \
        if ch["selection"] else []
    if not cf:
        page.note("No cutflow JSON of this selection was found (dmpipe select --cutflow FILE).")
        return
    d = cf[0]["data"]
    cuts = ["all"] + [c.get("name", "?") for c in d.get("cuts", [])]
    defs = [""] + [c.get("definition", "") for c in d.get("cuts", [])]
    head = "".join(f"<th>{esc(c)}<br><small>{esc(x)}</small></th>" for c, x in zip(cuts, defs))
    rows = []

    def row(label, kind, cells, cls=""):
        if not cells:
            return
        base = cells[0].get("sumw") or 0
        tds = []
        for c in cells:
            w, w2, n = c.get("sumw"), c.get("sumw2"), c.get("count", 0)
            err = np.sqrt(w2) if w2 is not None and w2 >= 0 else None
            eff = (w / base) if base and w is not None else None
            tds.append(f"<td>{fmt(w)} &plusmn; {fmt(err, 2)}<br><small>"
                       f"{'n/a' if eff is None else f'{100 * eff:.3g}%'} &middot; N={n}</small></td>")
        rows.append(f'<tr class="{cls}"><th>{esc(label)}</th><td>{esc(kind)}</td>'
                    f"{''.join(tds)}</tr>")

    for k, label in (("all", "all processes"), ("sm", "SM total"), ("bsm", "BSM total"),
                     ("other", "not in the table")):
        if k in d.get("totals", {}) and d["totals"][k] and d["totals"][k][0].get("count", 0):
            row(label, k, d["totals"][k], "total")
    procs = sorted(d.get("processes", []), key=lambda p: (p.get("kind") != "sm", p.get("name")))
    for p in procs:
        if p.get("rows") and p["rows"][0].get("count", 0):
            row(p.get("name", "?"), p.get("kind", ""), p["rows"])
    page.add(f'<div class="scroll"><table class="cutflow"><tr><th>process</th><th>kind</th>'
             f"{head}</tr>{''.join(rows)}</table></div>")
    page.note(f"Each cell: sum of weights &plusmn; &radic;&Sigma;w&sup2;, then the cumulative "
              f"efficiency (relative to all events of the process) and the raw count. "
              f"Weights: {esc(str(d.get('weight_source', '?')))}; input "
              f"{esc(str(d.get('input', '?')))} ({d.get('events_in', '?')} events, "
              f"{d.get('events_selected', '?')} selected); "
              f"<code>{esc(os.path.basename(cf[0]['path']))}</code>.")


# ---- scores: shapes, ROC, SI ------------------------------------------------------

def read_scores(path, roc_max):
    with h5py.File(path, "r") as f:
        n = f["scores/score"].shape[0]
        stride = max(1, -(-n // roc_max))
        sl = slice(None, None, stride)
        score = f["scores/score"][sl]
        proc = f["scores/process"][sl]
        train = f["scores/train"][sl] if "scores/train" in f else None
        names = [p.decode() for p in f["processes/name"][...]]
    return score, proc, train, names, stride, n


def roc_curve(b, s):
    """eps_B and eps_S at thresholds chosen log-uniformly in eps_B (at most
    ~2000 points; each point is exact: the fractions of scores >= t)."""
    b_asc, s_asc = np.sort(b), np.sort(s)
    nb, ns = len(b_asc), len(s_asc)
    k = np.unique(np.geomspace(1, nb, 2000).astype(np.int64))
    t = b_asc[nb - k]  # the k-th largest background score
    t = np.unique(t)[::-1]
    eb = (nb - np.searchsorted(b_asc, t, side="left")) / nb
    es = (ns - np.searchsorted(s_asc, t, side="left")) / ns
    return eb, es


def scores_section(page, ch, hists, sc, metrics, roc_max):
    label = f"{sc['model_kind']} ({os.path.basename(sc['path'])})"
    page.add(f"<h3>Scores: {esc(label)}</h3>")
    h = hists.get(sc["var"])
    subset = h.get("subset", "") if h else ""
    if h is not None:
        curves = []
        bkg_c = sum((h["count"][i][1:-1] for i, p in enumerate(h["procs"]) if not is_signal(p)),
                    np.zeros(len(h["edges"]) - 1))
        curves.append(("background (SM)", bkg_c.astype(float), True))
        sig = [(p, h["count"][i][1:-1].astype(float)) for i, p in enumerate(h["procs"])
               if is_signal(p) and h["count"][i].sum() > 0]
        sig.sort(key=lambda t: -t[1].sum())
        curves += [(p, c, False) for p, c in sig[:MAX_SIGNALS_DRAWN]]
        name, path = page.fig_path(f"{ch['name']}_{sc['var']}_shape")
        rp.score_shapes(path, h["edges"], curves, f"{ch['name']}: {sc['model_kind']} score",
                        "anomaly score (larger = more anomalous)")
        page.figure(name, f"Score distributions, each normalised to unit area (unweighted "
                    f"events), on {esc(subset or 'all events')}"
                    + (f"; the {MAX_SIGNALS_DRAWN} largest signals of {len(sig)}"
                       if len(sig) > MAX_SIGNALS_DRAWN else "") + ".")
    score, proc, train, names, stride, n = read_scores(sc["path"], roc_max)
    keep = np.ones(len(score), dtype=bool) if train is None else (train == 0)
    split = ("the test split (scores/train == 0)" if train is not None else
             "all events: the training split is unknown (the scores file has no scores/train), "
             "so background events the model was trained on are included and its background "
             "efficiency is optimistic")
    is_sig = np.array([is_signal(p) for p in names])
    bmask = keep & ~is_sig[proc]
    b = score[bmask]
    if len(b) == 0:
        page.note("No background events in the scores: no ROC curve.")
        return
    curves = []
    for pi in np.unique(proc[keep & is_sig[proc]]):
        s = score[keep & (proc == pi)]
        if len(s):
            eb, es = roc_curve(b, s)
            curves.append((names[pi], eb, es, len(s)))
    if not curves:
        page.note("No signal events in the scores: no ROC curve.")
        return
    curves.sort(key=lambda c: -c[3])
    drawn = [(nm, eb, es) for nm, eb, es, _ in curves[:MAX_ROC_CURVES]]
    title = f"{ch['name']}: {sc['model_kind']}"
    note = (f"{len(b)} background events" + (f" (every {stride}th of {n} scores)" if stride > 1
                                             else "") + f"; computed on {split}.")
    name, path = page.fig_path(f"{ch['name']}_{sc['var']}_roc")
    rp.roc(path, drawn, len(b), title)
    page.figure(name, "ROC: signal efficiency against background efficiency per signal process "
                "(unweighted, as the challenge's); shaded where fewer than 10 background events "
                "pass, so the curve is not resolved. " + esc(note)
                + (f" The {MAX_ROC_CURVES} signals with most events of {len(curves)} drawn."
                   if len(curves) > MAX_ROC_CURVES else ""))
    name, path = page.fig_path(f"{ch['name']}_{sc['var']}_si")
    rp.si(path, drawn, len(b), title)
    page.figure(name, "Significance improvement SI = &epsilon;<sub>S</sub>/&radic;&epsilon;"
                "<sub>B</sub> against &epsilon;<sub>B</sub>; dashed: the challenge's working "
                "points 10<sup>-2</sup>, 10<sup>-3</sup>, 10<sup>-4</sup>.")
    # The metrics stage's exact numbers for this scores file, when present.
    metrics_tables(page, metrics, {os.path.basename(sc["path"])})


def score_names(c):
    """Base names of the scores files a metrics channel read (one name, or a
    list when the channel's events came in parts)."""
    x = c.get("scores", "")
    return {os.path.basename(str(v)) for v in (x if isinstance(x, list) else [x])}


def metrics_tables(page, metrics, files):
    """The table of the first metrics JSON whose channel read one of `files`
    (base names of scores files)."""
    for m in metrics:
        chans = [c for c in m["data"].get("channels", []) if files & score_names(c)]
        if not chans:
            continue
        res = [r for r in m["data"].get("results", []) if r.get("channel") == chans[0]["name"]]
        if not res:
            continue
        rows = "".join(
            f"<tr><th>{esc(r['signal'])}</th><td>{r.get('events', '')}</td>"
            f"<td>{fmt(r.get('auc'))}</td>"
            + "".join(f"<td>{fmt(r.get('eps_s', {}).get(k))}</td>" for k in ("1e-2", "1e-3", "1e-4"))
            + f"<td>{fmt(r.get('best_si'))}</td></tr>" for r in res)
        page.add('<div class="scroll"><table><tr><th>signal</th><th>events</th><th>AUC</th>'
                 "<th>&epsilon;<sub>S</sub>(10<sup>-2</sup>)</th><th>&epsilon;<sub>S</sub>"
                 "(10<sup>-3</sup>)</th><th>&epsilon;<sub>S</sub>(10<sup>-4</sup>)</th>"
                 f"<th>best SI</th></tr>{rows}</table></div>")
        nb = chans[0].get("background_events")
        page.note(f"From <code>{esc(os.path.basename(m['path']))}</code> (dmpipe metrics, "
                  f"{'weighted' if m['data'].get('weighted') else 'unweighted'}; exact, "
                  f"all events of its scores files except a marked training split"
                  + (f"; {nb} background events" if nb is not None else "")
                  + "; a working point is \"unresolved\" where fewer than "
                  f"{m['data'].get('min_bkg_per_wp', 10)}/&epsilon;<sub>B</sub> background "
                  "events remain).")
        return True
    return False


# ---- total improvement -----------------------------------------------------------

def published_ti():
    path = os.path.join(DATA, "challenge_results",
                        "DarkMachinesUnsupervisedChallenge_TotalImprovements.csv")
    if not os.path.exists(path):
        return None
    out = []
    with open(path) as f:
        for r in csv.DictReader(f):
            try:
                out.append((r["Model"], float(r["MinTotalImprovement"]),
                            float(r["MedianTotalImprovement"]), float(r["MaxTotalImprovement"])))
            except (KeyError, ValueError):
                continue
    return out


def ti_section(page, plan):
    page.add('<h2 id="ti">Total improvement</h2>')
    pub = published_ti()
    ours = []
    for m in plan["metrics"]:
        s = m["data"].get("summary", {})
        chans = m["data"].get("channels", [])
        kinds = set()
        for c in chans:
            for ch in plan["channels"]:
                for sc in ch["scores"]:
                    if os.path.basename(sc["path"]) in score_names(c):
                        kinds.add(sc["model_kind"])
        label = (f"this run: {'/'.join(sorted(kinds)) or 'model'} "
                 f"({', '.join(c.get('name', '?') for c in chans)})")
        # SI at eps_B = 1e-4 needs 10 background events above the cut: 1e5
        # background events. Below that the TI is not resolved; say so.
        nb = [c.get("background_events") for c in chans if c.get("background_events") is not None]
        if nb and min(nb) < 1e5:
            label += (f" [unresolved: {int(min(nb))} background events; eps_B = 1e-4 "
                      "needs 1e5]")
        ours.append((label, s.get("min_ti"), s.get("median_ti"), s.get("max_ti"),
                     s.get("signals"), m))
    if not ours:
        page.note("No metrics JSON found (dmpipe metrics --json FILE): no total improvement.")
    if pub is None:
        page.note("The published challenge table (data/challenge_results) is not available.")
        pub = []
    pub_sorted = sorted(pub, key=lambda r: -r[2])
    rows = []
    for label, lo, med, hi, nsig, m in ours:
        rank = 1 + sum(1 for r in pub if med is not None and r[2] > med)
        rows.append(f'<tr class="ours"><th>{esc(label)}</th><td>{fmt(lo)}</td><td>{fmt(med)}</td>'
                    f"<td>{fmt(hi)}</td><td>{nsig}</td><td>{rank} of {len(pub) + 1}</td></tr>")
    for i, (name, lo, med, hi) in enumerate(pub_sorted[:10]):
        rows.append(f"<tr><th>{esc(name)}</th><td>{fmt(lo)}</td><td>{fmt(med)}</td>"
                    f"<td>{fmt(hi)}</td><td>19</td><td>{i + 1}</td></tr>")
    for fam in ("KDE", "DeepSVDD", "Flow"):
        best = next(((i, r) for i, r in enumerate(pub_sorted) if r[0].startswith(fam)), None)
        if best and best[0] >= 10:
            i, (name, lo, med, hi) = best
            rows.append(f"<tr><th>{esc(name)} (best {fam})</th><td>{fmt(lo)}</td>"
                        f"<td>{fmt(med)}</td><td>{fmt(hi)}</td><td>19</td><td>{i + 1}</td></tr>")
    page.add('<table><tr><th>model</th><th>min TI</th><th>median TI</th><th>max TI</th>'
             f"<th>signals</th><th>rank by median</th></tr>{''.join(rows)}</table>")
    page.note("TI of a signal: the largest SI = &epsilon;<sub>S</sub>/&radic;&epsilon;<sub>B</sub> "
              "at &epsilon;<sub>B</sub> = 10<sup>-2</sup>, 10<sup>-3</sup>, 10<sup>-4</sup> over the "
              "channels it appears in; min/median/max over signals. Published rows: the "
              f"{len(pub)} models of the Dark Machines challenge (Aarrestad et al., "
              "arXiv:2105.14027, on its hackathon data and 19 signals; shipped in "
              "data/challenge_results), the 10 best by median and the best of each family "
              "dmpipe implements. This run's numbers come from its own events and signals: "
              "compare them with that in mind.")


# ---- bump hunt ------------------------------------------------------------------------

def bump_section(page, plan):
    page.add('<h2 id="bump">Bump hunt</h2>')
    if not plan["bumphunts"]:
        page.note("No bumphunt JSON found (dmpipe bumphunt --json FILE).")
        return
    for b in plan["bumphunts"]:
        d = b["data"]
        w = d.get("window", {})
        text = (f"window bins {w.get('first_bin')}..{w.get('last_bin')}: "
                f"[{fmt(w.get('lo'))}, {fmt(w.get('hi'))})\n"
                f"observed {fmt(w.get('observed'))}, expected {fmt(w.get('expected'))}\n"
                f"local p = {fmt(d.get('p_local'))}, Z = {fmt(d.get('z_local'))}\n"
                f"global p = {fmt(d.get('p_global'))}, Z = {fmt(d.get('z_global'))} "
                f"({d.get('p_global_from', '?')})\ntrials factor {fmt(d.get('trials_factor'))}")
        sp = d.get("spectrum") or {}
        if sp.get("lo") and len(sp["lo"]) == len(sp.get("observed", [])):
            name, path = page.fig_path("bump")
            lo, hi = np.array(sp["lo"], float), np.array(sp["hi"], float)
            rp.bump(path, lo, hi, np.array(sp["observed"], float), np.array(sp["expected"], float),
                    (w.get("lo", lo[0]), w.get("hi", hi[-1])), text,
                    os.path.basename(b["path"]), d.get("variable", "observable"))
            page.figure(name, f"BumpHunter scan ({esc(os.path.basename(b['path']))}): observed "
                        f"and expected spectrum, the most significant window shaded; local and "
                        f"global significance in the box.")
        else:
            page.add(f"<pre>{esc(text)}</pre>")
            page.note(f"{esc(os.path.basename(b['path']))} holds no spectrum (written by an "
                      "earlier dmpipe): numbers only.")


# ---- provenance ----------------------------------------------------------------------

def command(text, limit=400):
    """A command line, long ones (ingest of many files) folded."""
    if len(text) <= limit:
        return f"<code>{esc(text)}</code>"
    return (f"<details><summary><code>{esc(text[:limit])}</code> ... ({len(text) - limit} more "
            f"characters)</summary><code>{esc(text)}</code></details>")


def provenance(page, plan):
    page.add('<h2 id="prov">Provenance</h2>')
    wd = plan["workdir"]
    rows = []
    for f in sorted(plan["files"], key=lambda f: f["attrs"].get("created", "")):
        a = f["attrs"]
        inputs = str(a.get("inputs", "") or "").strip()
        inp = (f"<details><summary>{len(inputs.splitlines())} input(s)</summary><pre>"
               f"{esc(inputs)}</pre></details>") if inputs else ""
        rows.append(f"<tr><th>{esc(os.path.relpath(f['path'], wd))}</th>"
                    f"<td>{esc(f['format'])} v{esc(str(a.get('format_version', '?')))}</td>"
                    f"<td>{esc(str(a.get('created', '')))}</td>"
                    f"<td>{esc(str(a.get('dmpipe_version', '')))}"
                    + (f" ({esc(str(a['git_revision']))})" if a.get("git_revision") else "")
                    + "</td>"
                    f"<td>{command(str(a.get('command_line', '')))}{inp}</td></tr>")
    page.add('<div class="scroll"><table class="prov"><tr><th>file</th><th>format</th>'
             "<th>created</th><th>dmpipe</th><th>command and inputs (name, bytes, XXH3-128)"
             f"</th></tr>{''.join(rows)}</table></div>")
    for r in plan["runs"]:
        text = json.dumps(r["data"], indent=1)
        if len(text) > 20000:
            text = text[:20000] + "\n..."
        page.add(f"<details><summary>run record {esc(os.path.relpath(r['path'], wd))}"
                 f"</summary><pre>{esc(text)}</pre></details>")


CSS = """
body{font-family:sans-serif;max-width:1500px;margin:1em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;margin-top:2em}
figure{display:inline-block;width:48%;min-width:420px;margin:0.5em 0.5%;vertical-align:top}
figure img{width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:0.8em;color:#444}
table{border-collapse:collapse;font-size:0.8em;margin:0.5em 0}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right;vertical-align:top}
th{text-align:left;background:#f6f6f6}
tr.total th,tr.total td{font-weight:bold}tr.ours th,tr.ours td{background:#fff4cc}
.scroll{overflow-x:auto}.note{font-size:0.85em;color:#555}
.missing{background:#fff0f0;border:1px solid #e99;padding:0.5em 1em}
table.prov td{text-align:left}pre{font-size:0.8em;white-space:pre-wrap}
"""


def write(plan, staging, roc_max):
    page = Page(staging)
    versions = sorted({f"{f['attrs']['dmpipe_version']} (git "
                       f"{f['attrs'].get('git_revision', '?')})" for f in plan["files"]
                       if f["attrs"].get("dmpipe_version")})
    missing = list(plan["missing"])
    for ch_name, msg in plan.get("hist_errors", {}).items():
        missing.append(f"channel {ch_name}: histograms could not be filled: {msg}")
    if not plan["channels"]:
        missing.append("no channel to show")
    nav = " &middot; ".join(f'<a href="#ch-{esc(c["name"])}">{esc(c["name"])}</a>'
                            for c in plan["channels"])
    page.add(f"<h1>dmpipe report</h1><p>Run folder <code>{esc(plan['workdir'])}</code>"
             + (f" (pipeline <code>{esc(plan['pipeline'])}</code>)" if plan.get("pipeline") else "")
             + f"; written {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; "
             f"files from dmpipe {esc(', '.join(versions) or '?')}.</p>"
             f"<p>Channels: {nav or 'none'} &middot; <a href=\"#ti\">total improvement</a> "
             "&middot; <a href=\"#bump\">bump hunt</a> &middot; <a href=\"#prov\">provenance</a></p>")
    if missing:
        page.add('<div class="missing"><b>Not in this report:</b><ul>'
                 + "".join(f"<li>{esc(m)}</li>" for m in missing) + "</ul></div>")
    for ch in plan["channels"]:
        page.add(f'<h2 id="ch-{esc(ch["name"])}">Channel {esc(ch["name"])}</h2>')
        if ch.get("kind") != "dataset":
            page.add(f"<p class=\"note\"><code>{esc(os.path.relpath(ch['store'], plan['workdir']))}"
                     f"</code>, {ch['n_events']} events.</p>")
        else:
            import report_dataset  # it uses this module's helpers
            report_dataset.section(page, plan, ch, roc_max)
            continue
        hists = {}
        if ch["name"] not in plan.get("hist_errors", {}) and os.path.exists(ch["hist"]):
            hists = read_hist_file(ch["hist"], ch["name"])
        distributions(page, ch, hists)
        cutflow(page, ch, plan["cutflows"])
        if not ch["scores"]:
            page.note("No scores file of this channel was found (dmpipe score): no score "
                      "distributions, ROC or SI.")
        for sc in ch["scores"]:
            scores_section(page, ch, hists, sc, plan["metrics"], roc_max)
    ti_section(page, plan)
    bump_section(page, plan)
    provenance(page, plan)
    body = "\n".join(page.parts)
    text = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>dmpipe report</title><link rel=\"icon\" href=\"data:,\">"
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")
    tmp = os.path.join(staging, "index.html.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(staging, "index.html"))
