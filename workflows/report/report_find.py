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
    if d.get("format") == "dmpipe-dataset-manifest":
        return "manifest"
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


def dataset_channels(manifests, stores, staging, first_hist):
    """One channel per (manifest, channel) of a `dmpipe dataset` set: its
    stores by role (train, test, signal), found beside the manifest and
    checked by event count. Returns the channels, the store paths they own
    and the parent stores (paths) the sets were drawn from."""
    chans, owned, parents = [], set(), set()
    for m in manifests:
        d, mdir = m["data"], os.path.dirname(m["path"])
        par = str(d.get("parent", "") or "")
        for s in stores:
            if par and (_same_file(s["path"], os.path.join(mdir, par)) or
                        _same_file(s["path"], os.path.join(os.path.dirname(mdir), par)) or
                        os.path.basename(s["path"]) == os.path.basename(par)):
                parents.add(s["path"])
        for cname, cinfo in sorted((d.get("channels") or {}).items()):
            parts = []
            for f in d.get("files", []):
                if f.get("channel") != cname or f.get("role") not in ("train", "test", "signal"):
                    continue
                st = next((s for s in stores
                           if _same_file(s["path"], os.path.join(mdir, str(f.get("file", ""))))),
                          None)
                if st is None or st.get("n_events") != f.get("events"):
                    continue
                k = first_hist + len(owned)
                parts.append({"role": f["role"], "store": st["path"], "n_events": st["n_events"],
                              "processes": f.get("processes", {}),
                              "hist_channel": f"{cname}_part{k}"[:63],
                              "hist": os.path.join(staging, "data", f"hist_{k}.h5")})
                owned.add(st["path"])
            if not parts:
                continue
            chans.append({"name": str(cname).replace("/", "_")[:63], "kind": "dataset",
                          "selection": cname, "manifest": m["path"],
                          "dataset_kind": d.get("kind", ""), "parent": par,
                          "lumi_fb": cinfo.get("lumi_fb"), "info": cinfo, "parts": parts,
                          "scores": [], "store": parts[0]["store"],
                          "n_events": sum(p["n_events"] for p in parts)})
    return chans, owned, parents


def plan(input_path, out_dir, staging):
    workdir, yaml_path = resolve_input(input_path)
    skip = {os.path.abspath(out_dir), os.path.abspath(staging)}
    h5, js = scan(workdir, skip)
    stores = [i for i in h5 if i["format"] == "dmpipe-store"]
    missing = []
    # Sets of `dmpipe dataset` (a manifest lists their stores by role): one
    # channel each, their stores and the parent store not shown again alone.
    dsets, owned, parents = dataset_channels([j for j in js if j["kind"] == "manifest"],
                                             stores, staging, 1000)
    rest = [s for s in stores if s["path"] not in owned and
            not (dsets and s["path"] in parents)]
    sels = [s for s in rest if s["attrs"].get("selection_name")]
    # Channels: the selections; a run without selections shows its stores.
    chan_stores = sels if sels else rest
    channels, used = [], {c["name"] for c in dsets}
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
        ds = next((c for c in dsets for p in c["parts"] if st and p["store"] == st["path"]),
                  None)
        if ds is not None:
            part = next(p for p in ds["parts"] if p["store"] == st["path"])
            ds["scores"].append({"path": sc["path"], "role": part["role"],
                                 "model_kind": str(sc["attrs"].get("model_kind") or "model"),
                                 "model_path": str(sc["attrs"].get("model_path", "") or ""),
                                 "model_checksum": str(sc["attrs"].get("model_checksum", "")
                                                       or ""),
                                 "has_train": bool(sc.get("has_train")),
                                 "n_events": sc.get("n_events", 0)})
            continue
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
    jobs += [{"in": p["store"], "out": p["hist"], "channel": p["hist_channel"], "scores": []}
             for c in dsets for p in c["parts"]]
    channels = dsets + channels
    return {
        "input": os.path.abspath(input_path), "pipeline": yaml_path, "workdir": workdir,
        "out": os.path.abspath(out_dir), "staging": os.path.abspath(staging),
        "channels": channels, "hist_jobs": jobs,
        "cutflows": [j for j in js if j["kind"] == "cutflow"],
        "metrics": [j for j in js if j["kind"] == "metrics"],
        "bumphunts": [j for j in js if j["kind"] == "bumphunt"],
        "runs": [j for j in js if j["kind"] == "run"],
        "parents": [{"path": s["path"], "n_events": s.get("n_events", 0)} for s in stores
                    if dsets and s["path"] in parents],
        "files": [{"path": i["path"], "format": i["format"], "attrs": i["attrs"]} for i in h5],
        "missing": missing,
    }
