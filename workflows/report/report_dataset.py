"""The section of dmpipe report for a set written by `dmpipe dataset`
(hackathon layout): one channel whose manifest lists unit-weight background
stores (train, test) and one store per signal (weight sigma/N_lines in pb).
Distributions add the parts; scores files are grouped by the model they name
and read together (the test background against each signal file).
"""
import os

import numpy as np

import report_page as P
import report_plots as rp

esc = P.esc
SCORE_BINS = 60


def merged_hists(plan, ch):
    """The parts' histograms added per variable and process. Background parts
    have unit weight (events at the set's luminosity); signal weights are pb
    per event, scaled by 1000 L (L in fb^-1) to events at the same L."""
    lumi = float(ch.get("lumi_fb") or 0)
    out, signals, skipped = {}, set(), []
    for part in ch["parts"]:
        if part["hist_channel"] in plan.get("hist_errors", {}) or not os.path.exists(part["hist"]):
            skipped.append(os.path.basename(part["store"]))
            continue
        h = P.read_hist_file(part["hist"], part["hist_channel"])
        scale = 1000.0 * lumi if part["role"] == "signal" else 1.0
        for var, x in h.items():
            if var.startswith("score"):
                continue
            if part["role"] == "signal":
                signals.update(p for i, p in enumerate(x["procs"]) if x["count"][i].sum() > 0)
            m = out.get(var)
            if m is None:
                m = out[var] = {k: v for k, v in x.items()
                                if k not in ("count", "sumw", "sumw2", "procs")}
                m.update(procs=[], count=[], sumw=[], sumw2=[])
            elif len(m["edges"]) != len(x["edges"]) or not np.allclose(m["edges"], x["edges"]):
                skipped.append(f"{os.path.basename(part['store'])} ({var}: other binning)")
                continue
            for i, p in enumerate(x["procs"]):
                if x["count"][i].sum() == 0:
                    continue
                if p not in m["procs"]:
                    m["procs"].append(p)
                    for k in ("count", "sumw", "sumw2"):
                        m[k].append(np.zeros_like(np.asarray(x[k][i], dtype=float)))
                j = m["procs"].index(p)
                m["count"][j] = m["count"][j] + x["count"][i]
                m["sumw"][j] = m["sumw"][j] + scale * x["sumw"][i]
                m["sumw2"][j] = m["sumw2"][j] + scale * scale * x["sumw2"][i]
    for m in out.values():
        for k in ("count", "sumw", "sumw2"):
            m[k] = np.array(m[k]) if m[k] else np.zeros((0, len(m["edges"]) + 1))
    return out, signals, skipped


def read_part(sc, roc_max):
    score, proc, train, names, stride, n = P.read_scores(sc["path"], roc_max)
    keep = np.ones(len(score), dtype=bool) if train is None else (train == 0)
    return score[keep], proc[keep], names, stride, n


def model_section(page, ch, key, files, metrics, roc_max):
    kind, model = key
    page.add(f"<h3>Model {esc(kind)} (<code>{esc(model or '?')}</code>)</h3>")
    test = [f for f in files if f["role"] == "test"]
    sigs = [f for f in files if f["role"] == "signal"]
    other = [os.path.basename(f["path"]) for f in files if f["role"] not in ("test", "signal")]
    if other:
        page.note("Not drawn (scores of the training part, on which the model was fitted): "
                  f"{esc(', '.join(other))}.")
    if not test or not sigs:
        page.note("Scores of the test background and of at least one signal file are needed "
                  "for the score distributions, ROC and SI; found: "
                  f"{esc(', '.join(os.path.basename(f['path']) for f in files) or 'none')}.")
        P.metrics_tables(page, metrics, {os.path.basename(f["path"]) for f in files})
        return
    bkg, sampled = {}, []
    for f in test:
        score, proc, names, stride, n = read_part(f, roc_max)
        if stride > 1:
            sampled.append(f"every {stride}th of {n} in {os.path.basename(f['path'])}")
        for pi in np.unique(proc):
            bkg.setdefault(names[pi], []).append(score[proc == pi])
    sig = {}
    for f in sigs:
        score, proc, names, stride, n = read_part(f, roc_max)
        if stride > 1:
            sampled.append(f"every {stride}th of {n} in {os.path.basename(f['path'])}")
        for pi in np.unique(proc):
            sig.setdefault(names[pi], []).append(score[proc == pi])
    bkg = {k: np.concatenate(v) for k, v in bkg.items()}
    sig = {k: np.concatenate(v) for k, v in sig.items() if sum(len(x) for x in v)}
    b = np.concatenate(list(bkg.values())) if bkg else np.zeros(0)
    if len(b) == 0 or not sig:
        page.note("No test background or no signal events in the scores files: no ROC.")
        return
    allv = np.concatenate([b] + list(sig.values()))
    allv = allv[np.isfinite(allv)]
    lo, hi = (np.quantile(allv, [0.001, 0.999]) if len(allv) else (0.0, 1.0))
    if not hi > lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, SCORE_BINS + 1)

    def counts(x):
        return np.histogram(np.clip(x, lo, hi), edges)[0].astype(float)

    title = f"{ch['name']}: {kind}"
    bk = sorted(bkg.items(), key=lambda t: -len(t[1]))
    sg = sorted(sig.items(), key=lambda t: -len(t[1]))
    name, path = page.fig_path(f"{ch['name']}_{kind}_scores")
    rp.score_procs(path, edges, [(p, counts(x)) for p, x in bk],
                   [(p, counts(x)) for p, x in sg[:P.MAX_SIGNALS_DRAWN]], title,
                   "anomaly score (larger = more anomalous)")
    page.figure(name, "Score distributions per process on the test split (background: "
                f"{esc(', '.join(os.path.basename(f['path']) for f in test))}) and of each "
                "signal file, each normalised to unit area (unweighted events); scores outside "
                "the 0.1-99.9% quantiles are put in the end bins.")
    curves = [(p, *P.roc_curve(b, x), len(x)) for p, x in sg]
    drawn = [(p, eb, es) for p, eb, es, _ in curves[:P.MAX_ROC_CURVES]]
    note = (f"{len(b)} test background events" + (f" ({'; '.join(sampled)})" if sampled else "")
            + "; none of them in the training part.")
    name, path = page.fig_path(f"{ch['name']}_{kind}_roc")
    rp.roc(path, drawn, len(b), title)
    page.figure(name, "ROC: signal efficiency &epsilon;<sub>S</sub> against background "
                "efficiency &epsilon;<sub>B</sub> of the test background, per signal file "
                "(unweighted, as the challenge's); shaded where fewer than 10 test background "
                "events pass (&epsilon;<sub>B</sub> &lt; 10/N<sub>B</sub>), so the curve is not "
                "resolved there. " + esc(note))
    name, path = page.fig_path(f"{ch['name']}_{kind}_si")
    rp.si(path, drawn, len(b), title)
    page.figure(name, "Significance improvement SI = &epsilon;<sub>S</sub>/&radic;&epsilon;"
                "<sub>B</sub> against &epsilon;<sub>B</sub> on the test split; dashed: the "
                "challenge's working points 10<sup>-2</sup>, 10<sup>-3</sup>, 10<sup>-4</sup>; "
                "shaded: unresolved as in the ROC.")
    if not P.metrics_tables(page, metrics, {os.path.basename(f["path"]) for f in files}):
        page.note("No metrics JSON read these scores files (dmpipe metrics --json FILE).")


def section(page, plan, ch, roc_max):
    wd = plan["workdir"]
    lumi = ch.get("lumi_fb")
    parts = "; ".join(f"{p['role']}: <code>{esc(os.path.relpath(p['store'], wd))}</code> "
                      f"({p['n_events']} events)" for p in ch["parts"])
    page.note(f"Set of <code>dmpipe dataset {esc(str(ch.get('dataset_kind', '')))}</code> at "
              f"{esc(str(lumi))} fb<sup>-1</sup> (manifest <code>"
              f"{esc(os.path.relpath(ch['manifest'], wd))}</code>): {parts}.")
    for par in plan.get("parents", []):
        page.note(f"Drawn from the store <code>{esc(os.path.relpath(par['path'], wd))}</code> "
                  f"({par['n_events']} events; its distributions are not drawn here).")
    hists, signals, skipped = merged_hists(plan, ch)
    page.note("Distributions: the whole background of the set, training and test parts "
              "added (unit weight: events at the set's luminosity); the signals at the same "
              f"luminosity, weight sigma/N<sub>lines</sub> [pb] &times; 1000 &times; {esc(str(lumi))} "
              "(the expected events of the manifest), as lines over the stack."
              + (f" Not included: {esc(', '.join(skipped))}." if skipped else ""))
    P.distributions(page, ch, hists, signals)
    P.cutflow(page, ch, plan["cutflows"])
    if any(c["data"].get("selection") == ch["selection"] for c in plan["cutflows"]):
        page.note("The cutflow is the channel's selection of the parent store, before the set "
                  "was drawn (weights of the parent store).")
    models = {}
    for sc in ch["scores"]:
        models.setdefault((sc["model_kind"], sc["model_path"]), []).append(sc)
    if not models:
        page.note("No scores file of this set was found (dmpipe score): no score "
                  "distributions, ROC or SI.")
    for key in sorted(models):
        model_section(page, ch, key, models[key], plan["metrics"], roc_max)
