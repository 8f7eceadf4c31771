#!/usr/bin/env python3
"""Hostile stores: damaged copies of a good dmpipe store, one fault each.

    make_corpus.py GOOD.h5 OUTDIR

Writes OUTDIR/<case>.h5 for every case below and OUTDIR/cases.txt, one line
per case: name, then the text (a regular expression) the error must contain
besides the file's name. Every fault is one a reader could meet: a copy cut
short, a dataset dropped by a hand edit, offsets or counts out of step, an
index outside its table, an enum value no writer makes, a file of another
format or a newer version. Needs h5py and the zstd plugin (HDF5_PLUGIN_PATH)
to rewrite compressed datasets.
"""
import hashlib
import os
import shutil
import sys

import h5py
import numpy as np


def copy(good, out, name):
    path = os.path.join(out, name + ".h5")
    shutil.copyfile(good, path)
    # Each damaged copy is a store of its own, with its own identity and
    # derived-column index (STEM.derived-ID.h5): the cases run at the same
    # time, and copies sharing one index would contend for its updates.
    with h5py.File(good, "r") as g:
        src_index = os.path.join(os.path.dirname(good), g.get("derived", getlink=True).filename)
    new_id = hashlib.md5(name.encode()).hexdigest()
    index = f"{name}.derived-{new_id[:16]}.h5"
    shutil.copyfile(src_index, os.path.join(out, index))
    with h5py.File(os.path.join(out, index), "r+") as x:
        x.attrs["store_id"] = np.bytes_(new_id)
    with h5py.File(path, "r+") as f:
        f.attrs["store_id"] = np.bytes_(new_id)
        del f["derived"]
        f["derived"] = h5py.ExternalLink(index, "/derived")
    return path


def main():
    good, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with h5py.File(good, "r") as f:
        n_ev = f["/events/event_id"].shape[0]
        n_obj = f["/objects/type"].shape[0]
        n_proc = f["/processes/name"].shape[0]
        off = f["/events/obj_offset"][:]
    assert n_ev > 100 and n_obj > 100
    mid = n_ev // 2
    # An event in the middle that has objects, and its next.
    k = next(i for i in range(mid, n_ev - 1) if off[i + 1] > off[i])
    cases = []

    # Cut short at 60% and at 97% of its bytes (metadata or chunks missing).
    for frac, name in ((0.6, "truncated_60"), (0.97, "truncated_97")):
        p = copy(good, out, name)
        size = os.path.getsize(p)
        with open(p, "r+b") as fh:
            fh.truncate(int(size * frac))
        cases.append((name, r"truncated|damaged|not an HDF5 file|cannot (open|read)"))

    for dset in ("/events/met", "/objects/pt", "/events/obj_offset", "/processes/name"):
        name = "missing" + dset.replace("/", "_")
        p = copy(good, out, name)
        with h5py.File(p, "r+") as f:
            del f[dset]
        cases.append((name, dset))

    def patch(name, dset, index, value, expect):
        p = copy(good, out, name)
        with h5py.File(p, "r+") as f:
            f[dset][index] = value
        cases.append((name, expect))

    # Offsets: one that goes back (the last one still right), a wrong first
    # one, a wrong last one.
    # The first bad index a rank meets depends on where its batch starts:
    # the step into event k (n_obj of k - 1) or the step out of it.
    patch("offset_backwards", "/events/obj_offset", k, off[k + 1] + 1,
          r"/events/(n_obj\[%d\]|obj_offset\[%d\])" % (k - 1, k + 1))
    patch("offset_first", "/events/obj_offset", 0, 3, r"/events/obj_offset\[0\]")
    patch("offset_last", "/events/obj_offset", n_ev, n_obj - 1,
          r"/events/obj_offset\[%d\]" % n_ev)
    # Objects moved from one event to the next: offsets still increase, n_obj
    # disagrees.
    patch("offset_shifted", "/events/obj_offset", k + 1, off[k + 1] - 1,
          r"/events/n_obj\[%d\]" % k)
    with h5py.File(good, "r") as f:
        nobj_k = int(f["/events/n_obj"][k])
    patch("n_obj_wrong", "/events/n_obj", k, nobj_k + 1, r"/events/n_obj\[%d\]" % k)
    patch("process_index", "/events/process", mid, n_proc + 2,
          r"/events/process\[%d\]" % mid)
    # An object type no writer makes: the raw byte 9 under the enum type.
    p = copy(good, out, "object_type")
    with h5py.File(p, "r+") as f:
        d = f["/objects/type"]
        j = int(off[k])
        d.id.write(h5py.h5s.create_simple((1,)), _select(d, j),
                   np.array([9], dtype=np.uint8), mtype=h5py.h5t.NATIVE_UINT8)
    cases.append(("object_type", r"/objects/type\[%d\]" % int(off[k])))

    # Columns of different lengths.
    p = copy(good, out, "length_objects")
    with h5py.File(p, "r+") as f:
        f["/objects/eta"].resize((n_obj - 1,))
    cases.append(("length_objects", "/objects/eta"))
    p = copy(good, out, "length_events")
    with h5py.File(p, "r+") as f:
        f["/events/weight"].resize((n_ev - 1,))
    cases.append(("length_events", "/events/weight"))
    # The counts recorded at the root disagree with the datasets.
    p = copy(good, out, "count_attribute")
    with h5py.File(p, "r+") as f:
        f.attrs["n_events"] = np.int64(n_ev + 5)
    cases.append(("count_attribute", "n_events"))

    # Another format, a newer version, no format at all.
    for name, key, value, expect in (
            ("format_other", "format", "dmpipe-model", "dmpipe-model"),
            ("format_version", "format_version", np.int64(99), "version 99"),
            ("format_missing", "format", None, "format")):
        p = copy(good, out, name)
        with h5py.File(p, "r+") as f:
            if value is None:
                del f.attrs[key]
            elif isinstance(value, str):
                f.attrs[key] = np.bytes_(value)
            else:
                f.attrs[key] = value
        cases.append((name, expect))

    with open(os.path.join(out, "cases.txt"), "w") as fh:
        for name, expect in cases:
            fh.write("%s\t%s\n" % (name, expect))
    print("hostile corpus: %d stores in %s" % (len(cases), out))


def _select(d, j):
    space = d.id.get_space()
    space.select_hyperslab((j,), (1,))
    return space


if __name__ == "__main__":
    main()
