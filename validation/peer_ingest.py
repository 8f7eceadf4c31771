"""A plain Python converter of the kind people write today, for comparison
with dmpipe ingest: read the CSV line by line, split the fields, collect
numpy arrays, write the same schema with h5py (gzip level 1 + shuffle on
every dataset, h5py's built-in compression; pass --no-compression for none).
Loads everything into memory, one process, no checks beyond float().
usage: peer_ingest.py OUT.h5 INPUT.csv... [--no-compression]"""
import sys
import time

import h5py
import numpy as np

args = [a for a in sys.argv[1:] if not a.startswith("--")]
compress = "--no-compression" not in sys.argv
out, inputs = args[0], args[1:]
codes = {"j": 0, "b": 1, "e-": 2, "e+": 3, "m-": 4, "m+": 5, "g": 6, "mu-": 4, "mu+": 5, "a": 6}
t0 = time.time()
ids, proc, w, met, mphi, nobj = [], [], [], [], [], []
ot, oe, opt, oeta, ophi = [], [], [], [], []
names = {}
nbytes = 0
for fn in inputs:
    with open(fn) as f:
        for line in f:
            nbytes += len(line)
            fields = line.rstrip("\r\n").rstrip(";").split(";")
            ids.append(int(fields[0]))
            proc.append(names.setdefault(fields[1], len(names)))
            w.append(float(fields[2]))
            met.append(float(fields[3]) / 1000)
            mphi.append(float(fields[4]))
            nobj.append(len(fields) - 5)
            for o in fields[5:]:
                c, e, pt, eta, phi = o.split(",")
                ot.append(codes[c])
                oe.append(float(e) / 1000)
                opt.append(float(pt) / 1000)
                oeta.append(float(eta))
                ophi.append(float(phi))
kw = dict(compression="gzip", compression_opts=1, shuffle=True) if compress else {}
with h5py.File(out, "w") as f:
    f.create_dataset("events/event_id", data=np.array(ids, np.int64), **kw)
    f.create_dataset("events/process", data=np.array(proc, np.uint16), **kw)
    f.create_dataset("events/weight", data=np.array(w, np.float64), **kw)
    f.create_dataset("events/met", data=np.array(met, np.float32), **kw)
    f.create_dataset("events/met_phi", data=np.array(mphi, np.float32), **kw)
    f.create_dataset("events/n_obj", data=np.array(nobj, np.uint16), **kw)
    f.create_dataset("events/obj_offset", data=np.concatenate([[0], np.cumsum(nobj)]), **kw)
    f.create_dataset("objects/type", data=np.array(ot, np.uint8), **kw)
    for k, v in (("e", oe), ("pt", opt), ("eta", oeta), ("phi", ophi)):
        f.create_dataset("objects/" + k, data=np.array(v, np.float32), **kw)
    f.create_dataset("processes/name", data=np.array(list(names), dtype="S"))
dt = time.time() - t0
print(f"peer_ingest: {len(ids)} events, {nbytes / 1e6:.1f} MB in {dt:.1f} s: "
      f"{nbytes / 1e6 / dt:.1f} MB/s, {len(ids) / dt:.0f} events/s "
      f"({'gzip-1 + shuffle' if compress else 'no compression'})")
