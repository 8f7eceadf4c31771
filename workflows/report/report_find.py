"""Finding a run's outputs by their content, for dmpipe report.

dmpipe's HDF5 files say what they are (root attributes `format`, and for a
selection `selection_name`; a scores file names its store and model); its
JSON files have known shapes (cutflow: "format": "dmpipe-cutflow"; metrics:
"results" and "total_improvement"; bumphunt: "t_obs" and "window"; the run
record of `dmpipe run`: "steps"). File names are never relied on, except to
pair a scores file with its store when the path it recorded has moved.
"""
import json
import os

import h5py
import numpy as np

MAX_JSON_BYTES = 64 << 20
MAX_DEPTH = 4
REPORT_MARK = ".dmpipe-report"  # in every report folder, so later scans skip it


def _text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return [_text(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return _text(v.item())
    if isinstance(v, float) and v != v:
        return None
    return v


def h5_summary(path):
    """Root attributes and a few shapes of a dmpipe HDF5 file, or None when
    the file is not one (or cannot be opened)."""
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _text(v) for k, v in f.attrs.items()}
            fmt = attrs.get("format")
            if not isinstance(fmt, str) or not fmt.startswith("dmpipe-"):
                return None
            info = {"path": path, "format": fmt, "attrs": attrs}
            if fmt == "dmpipe-store" and "events/event_id" in f:
                info["n_events"] = int(f["events/event_id"].shape[0])
            if fmt == "dmpipe-scores" and "scores/score" in f:
                info["n_events"] = int(f["scores/score"].shape[0])
                info["has_train"] = "scores/train" in f
            return info
    except (OSError, KeyError, ValueError):
        return None


def json_kind(d):
    if not isinstance(d, dict):
        return None
    if d.get("format") == "dmpipe-cutflow":
        return "cutflow"
    if "results" in d and "total_improvement" in d:
        return "metrics"
    if "t_obs" in d and "window" in d and "p_global" in d:
        return "bumphunt"
    if "steps" in d:
        return "run"
    return None


def resolve_input(path):
    """WORKDIR, or a pipeline YAML whose `workdir` names it (relative to the
    YAML's folder, else to the current folder)."""
    if os.path.isdir(path):
        return os.path.abspath(path), None
    if not os.path.isfile(path):
        raise SystemExit(f"dmpipe report: {path}: no such folder or file")
    import yaml  # only pipeline files need it
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise SystemExit(f"dmpipe report: {path}: not valid YAML: {e}")
    if not isinstance(doc, dict) or not isinstance(doc.get("workdir"), str):
        raise SystemExit(f"dmpipe report: {path}: no top-level 'workdir:' key naming the run's "
                         "folder")
    wd = doc["workdir"]
    if not os.path.isabs(wd):
        beside = os.path.join(os.path.dirname(os.path.abspath(path)), wd)
        wd = beside if os.path.isdir(beside) or not os.path.isdir(wd) else wd
    if not os.path.isdir(wd):
        raise SystemExit(f"dmpipe report: {path}: workdir '{doc['workdir']}' does not exist "
                         "(has the pipeline run?)")
    return os.path.abspath(wd), os.path.abspath(path)


def scan(workdir, skip):
    """Every dmpipe file under workdir (depth <= MAX_DEPTH), skipping the
    folders in `skip` and temporary files."""
    h5, js = [], []
    base = workdir.rstrip("/").count("/")
    for root, dirs, files in os.walk(workdir):
        # Skip the output, its staging folder and earlier reports (marked).
        dirs[:] = sorted(d for d in dirs
                         if os.path.abspath(os.path.join(root, d)) not in skip and
                         not os.path.exists(os.path.join(root, d, REPORT_MARK)) and
                         root.count("/") - base < MAX_DEPTH)
        for name in sorted(files):
            p = os.path.join(root, name)
            if name.endswith(".tmp") or ".tmp." in name:
                continue
            if name.endswith(".h5"):
                info = h5_summary(p)
                if info:
                    h5.append(info)
            elif name.endswith(".json"):
                try:
                    if os.path.getsize(p) > MAX_JSON_BYTES:
                        continue
                    with open(p) as f:
                        d = json.load(f)
                except (OSError, ValueError, UnicodeDecodeError):
                    continue
                kind = json_kind(d)
                if kind:
                    js.append({"path": p, "kind": kind, "data": d})
    return h5, js


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def pair_scores(score_info, stores, workdir):
    """The store a scores file belongs to: the path it recorded (as given,
    then relative to the workdir), else a store of the same base name; the
    event count must agree."""
    rec = score_info["attrs"].get("store_path", "") or ""
    cands = []
    if rec:
        for p in (rec, os.path.join(workdir, rec),
                  os.path.join(os.path.dirname(score_info["path"]), os.path.basename(rec))):
            cands += [s for s in stores if _same_file(s["path"], p)]
        cands += [s for s in stores if os.path.basename(s["path"]) == os.path.basename(rec)]
    for s in cands:
        if s.get("n_events") == score_info.get("n_events"):
            return s
    return None


def plan(input_path, out_dir, staging):
    workdir, yaml_path = resolve_input(input_path)
    skip = {os.path.abspath(out_dir), os.path.abspath(staging)}
    h5, js = scan(workdir, skip)
    stores = [i for i in h5 if i["format"] == "dmpipe-store"]
    sels = [s for s in stores if s["attrs"].get("selection_name")]
    missing = []
    # Channels: the selections; a run without selections shows its stores.
    chan_stores = sels if sels else stores
    channels, used = [], set()
    for s in chan_stores:
        name = s["attrs"].get("selection_name") or "all"
        if name in used:  # two selections of one channel: tell them apart
            name = name + "_" + os.path.splitext(os.path.basename(s["path"]))[0]
        name = name.replace("/", "_")[:63]
        used.add(name)
        channels.append({"name": name, "store": s["path"], "n_events": s.get("n_events", 0),
                         "selection": s["attrs"].get("selection_name", ""), "scores": [],
                         "hist": os.path.join(staging, "data", f"hist_{len(channels)}.h5")})
    for sc in (i for i in h5 if i["format"] == "dmpipe-scores"):
        st = pair_scores(sc, stores, workdir)
        ch = next((c for c in channels if st and c["store"] == st["path"]), None)
        if ch is None:
            missing.append(f"{os.path.relpath(sc['path'], workdir)}: scores of a store that is "
                           "not among the channels shown (or not found); not drawn")
            continue
        kind = str(sc["attrs"].get("model_kind") or "model")
        var = "score_" + "".join(c if c.isalnum() or c in "_-." else "_" for c in kind)
        names = {s["var"] for s in ch["scores"]}
        k, base = 2, var
        while var in names:
            var, k = f"{base}_{k}", k + 1
        ch["scores"].append({"var": var[:63], "path": sc["path"], "model_kind": kind,
                             "model_path": sc["attrs"].get("model_path", ""),
                             "has_train": bool(sc.get("has_train")),
                             "n_events": sc.get("n_events", 0)})
    if not stores:
        missing.append("no dmpipe store or selection found: no distributions")
    jobs = [{"in": c["store"], "out": c["hist"], "channel": c["name"],
             "scores": [{"name": s["var"], "path": s["path"]} for s in c["scores"]]}
            for c in channels]
    return {
        "input": os.path.abspath(input_path), "pipeline": yaml_path, "workdir": workdir,
        "out": os.path.abspath(out_dir), "staging": os.path.abspath(staging),
        "channels": channels, "hist_jobs": jobs,
        "cutflows": [j for j in js if j["kind"] == "cutflow"],
        "metrics": [j for j in js if j["kind"] == "metrics"],
        "bumphunts": [j for j in js if j["kind"] == "bumphunt"],
        "runs": [j for j in js if j["kind"] == "run"],
        "files": [{"path": i["path"], "format": i["format"], "attrs": i["attrs"]} for i in h5],
        "missing": missing,
    }
