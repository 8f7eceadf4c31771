"""Writes dmpipe-scores files (and minimal stores holding /events/weight)
with h5py, independently of the C writer, for the metrics tests."""
import hashlib
import os

import h5py
import numpy as np


def _prov(f, fmt):
    f.attrs["format"] = np.bytes_(fmt)
    f.attrs["format_version"] = np.int64(1)
    f.attrs["command_line"] = np.bytes_("tests/metrics")


def write_derived(path, store_id, n, columns):
    """The derived-column layout of io/dm_derived.h, written by hand: the
    store's /derived links to its index, whose entries link to a part."""
    d, base = os.path.split(path)
    stem = base[:-3] if base.endswith(".h5") else base
    index = f"{stem}.derived-{store_id[:16]}.h5"
    part = f"{stem}.derived-{store_id[:16]}.1.h5"
    with h5py.File(os.path.join(d, part), "w") as f:
        f.attrs["format"] = np.bytes_("dmpipe-derived-part")
        f.attrs["store_id"] = np.bytes_(store_id)
        f.attrs["n_events"] = np.int64(n)
        for k, v in columns.items():
            f.create_dataset("derived/" + k, data=v)
    with h5py.File(os.path.join(d, index), "w") as f:
        f.attrs["format"] = np.bytes_("dmpipe-derived-index")
        f.attrs["store_id"] = np.bytes_(store_id)
        f.attrs["n_events"] = np.int64(n)
        f.attrs["generation"] = np.int64(1 if columns else 0)
        g = f.create_group("derived", track_order=True)
        for k in columns:
            g[k] = h5py.ExternalLink(part, "/derived/" + k)
    return index


def write_store(path, weights, names, counts, derived_weights=None):
    """The store columns the metrics read, and its derived columns: with
    derived_weights, /derived/weight (as dmpipe weight writes it)."""
    store_id = hashlib.md5(os.path.abspath(path).encode()).hexdigest()
    cols = {}
    if derived_weights is not None:
        cols["weight"] = np.asarray(derived_weights, dtype=np.float64)
    index = write_derived(path, store_id, len(weights), cols)
    with h5py.File(path, "w") as f:
        _prov(f, "dmpipe-store")
        f.attrs["store_id"] = np.bytes_(store_id)
        f.create_dataset("events/event_id", data=np.arange(len(weights), dtype=np.int64))
        f.create_dataset("events/weight", data=np.asarray(weights, dtype=np.float64))
        f.create_dataset("processes/name", data=np.array([n.encode() for n in names]))
        f.create_dataset("processes/n_events", data=np.asarray(counts, dtype=np.int64))
        f["derived"] = h5py.ExternalLink(index, "/derived")


def write_scores(path, names, proc, score, store_path="", event_id=None, train=None):
    """train: None writes no /scores/train column (as older files), else the
    0/1 flags of the training events."""
    proc = np.asarray(proc, dtype=np.uint16)
    score = np.asarray(score, dtype=np.float64)
    if event_id is None:
        event_id = np.arange(len(score), dtype=np.int64)
    counts = np.bincount(proc, minlength=len(names)).astype(np.int64)
    with h5py.File(path, "w") as f:
        _prov(f, "dmpipe-scores")
        f.attrs["model_kind"] = np.bytes_("test")
        f.attrs["store_path"] = np.bytes_(store_path)
        f.attrs["n_scores"] = np.int64(len(score))
        f.create_dataset("scores/event_id", data=np.asarray(event_id, dtype=np.int64),
                         chunks=True, maxshape=(None,))
        f.create_dataset("scores/process", data=proc, chunks=True, maxshape=(None,))
        f.create_dataset("scores/score", data=score, chunks=True, maxshape=(None,))
        if train is not None:
            f.create_dataset("scores/train", data=np.asarray(train, dtype=np.uint8),
                             chunks=True, maxshape=(None,))
        f.create_dataset("processes/name", data=np.array([n.encode() for n in names]))
        f.create_dataset("processes/n_events", data=counts)


def make_channel(rng, spec, ties=None):
    """spec: list of (name, n, mean, sd, weight). Returns names, proc, score,
    weight shuffled into one event order."""
    names = [s[0] for s in spec]
    proc, score, weight = [], [], []
    for i, (name, n, mu, sd, w) in enumerate(spec):
        proc.append(np.full(n, i))
        x = rng.normal(mu, sd, n)
        if ties:
            x = np.round(x * ties) / ties
        score.append(x)
        # Event weights vary around the process weight, as after reweighting.
        weight.append(w * rng.uniform(0.5, 1.5, n))
    proc, score, weight = map(np.concatenate, (proc, score, weight))
    order = rng.permutation(len(score))
    return names, proc[order], score[order], weight[order]
