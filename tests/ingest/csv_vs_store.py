"""Check a store against the CSV files it was ingested from, parsing the CSV
here independently (Python float() and numpy casts, not dmpipe's parser), and
check the inputs checksums with libxxhash through ctypes.
usage: csv_vs_store.py STORE.h5 single|double INPUT.csv..."""
import ctypes
import os
import sys

import h5py
import numpy as np

path, prec, inputs = sys.argv[1], sys.argv[2], sys.argv[3:]
ft = np.float64 if prec == "double" else np.float32
codes = {"j": 0, "b": 1, "e-": 2, "e+": 3, "m-": 4, "m+": 5, "g": 6, "mu-": 4, "mu+": 5, "a": 6}
ids, procs, w, met, mphi, nobj = [], [], [], [], [], []
otype, oe, opt, oeta, ophi = [], [], [], [], []
names = []
for fn in inputs:
    with open(fn, "rb") as f:
        for raw in f:
            line = raw.decode().rstrip("\n").rstrip("\r")
            fields = line.split(";")
            if fields[-1] == "":
                fields = fields[:-1]
            ids.append(int(fields[0]))
            if fields[1] not in names:
                names.append(fields[1])
            procs.append(names.index(fields[1]))
            w.append(float(fields[2]))
            met.append(float(fields[3]) / 1000.0)
            mphi.append(float(fields[4]))
            objs = fields[5:]
            nobj.append(len(objs))
            for o in objs:
                c, e, pt, eta, phi = o.split(",")
                otype.append(codes[c])
                oe.append(float(e) / 1000.0)
                opt.append(float(pt) / 1000.0)
                oeta.append(float(eta))
                ophi.append(float(phi))

f = h5py.File(path, "r")
def same(name, got, want, dtype=None):
    want = np.asarray(want, dtype=dtype if dtype else None)
    if got.shape != want.shape or not np.array_equal(got, want):
        idx = np.flatnonzero(got != want)[:5] if got.shape == want.shape else "shape"
        sys.exit(f"{name}: store differs from the CSV at {idx}")

same("event_id", f["events/event_id"][:], ids, np.int64)
same("process", f["events/process"][:], procs, np.uint16)
same("weight", f["events/weight"][:], w, np.float64)
same("met", f["events/met"][:], np.asarray(met).astype(ft))
same("met_phi", f["events/met_phi"][:], np.asarray(mphi).astype(ft))
same("n_obj", f["events/n_obj"][:], nobj)
same("obj_offset", f["events/obj_offset"][:], np.concatenate([[0], np.cumsum(nobj)]))
same("type", f["objects/type"][:], otype)
for name, v in (("e", oe), ("pt", opt), ("eta", oeta), ("phi", ophi)):
    same(name, f["objects/" + name][:], np.asarray(v).astype(ft))
got_names = [x.decode() for x in f["processes/name"][:]]
if got_names != names:
    sys.exit(f"process names {got_names} != {names}")
same("processes/n_events", f["processes/n_events"][:], np.bincount(procs, minlength=len(names)))

# Input checksums: XXH3-128 over the canonical digests of 1 MiB blocks (or
# the block named in the attribute), computed here with the C library.
lib = ctypes.CDLL("libxxhash.so.0")
class H128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]
lib.XXH3_128bits.restype = H128
lib.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
def h128(b):
    h = lib.XXH3_128bits(b, len(b))
    return h.high64.to_bytes(8, "big") + h.low64.to_bytes(8, "big")
attr = f.attrs["inputs"]
attr = attr.decode() if isinstance(attr, bytes) else attr
lines = [l for l in attr.split("\n") if l]
if len(lines) != len(inputs):
    sys.exit(f"inputs attribute has {len(lines)} lines for {len(inputs)} inputs")
for fn, l in zip(inputs, lines):
    name, size, algo_hex = l.split("\t")
    algo, hexd = algo_hex.split(":")
    unit = {"MiB": 1 << 20, "KiB": 1 << 10}[algo[-3:]]
    block = int(algo[len("xxh3-128-tree-"):-3]) * unit
    data = open(fn, "rb").read()
    leaves = b"".join(h128(data[i:i + block]) for i in range(0, len(data), block))
    want = h128(leaves).hex()
    if name != fn or int(size) != len(data) or hexd != want:
        sys.exit(f"inputs line for {fn} is {l!r}; want size {len(data)} checksum {want}")
print(f"ok: {len(ids)} events, {len(otype)} objects, {len(names)} processes and "
      f"{len(inputs)} checksums match the CSV")
