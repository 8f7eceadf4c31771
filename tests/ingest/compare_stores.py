"""Every dataset of store A equals the same dataset of each other store
(dtype, shape and every value), and the inputs attribute is the same: the
rank-count identity check.  usage: compare_stores.py [--datasets-only] A.h5 B.h5 [C.h5 ...]
(--datasets-only: the inputs attribute may differ, as for the same CSV given
plain and compressed)."""
import sys

import h5py
import numpy as np


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.dtype, obj[()])
        f.visititems(visit)
        inputs = f.attrs["inputs"]
    return out, inputs


only_data = len(sys.argv) > 1 and sys.argv[1] == "--datasets-only"
if only_data:
    del sys.argv[1]
ref, ref_inputs = datasets(sys.argv[1])
need = {"events/event_id", "events/process", "events/weight", "events/met", "events/met_phi",
        "events/n_obj", "events/obj_offset", "objects/type", "objects/e", "objects/pt",
        "objects/eta", "objects/phi", "processes/name", "processes/n_events"}
missing = need - set(ref)
if missing:
    sys.exit(f"{sys.argv[1]}: missing datasets {sorted(missing)}")
if len(ref["events/event_id"][1]) == 0:
    sys.exit(f"{sys.argv[1]}: no events")
for other in sys.argv[2:]:
    got, inputs = datasets(other)
    if set(got) != set(ref):
        sys.exit(f"{other}: datasets {sorted(set(got) ^ set(ref))} differ from {sys.argv[1]}")
    for name, (dt, v) in ref.items():
        gdt, gv = got[name]
        if gdt != dt or gv.shape != v.shape or not np.array_equal(gv, v):
            sys.exit(f"{other}: dataset {name} differs from {sys.argv[1]}")
    if inputs != ref_inputs and not only_data:
        sys.exit(f"{other}: inputs attribute differs:\n{inputs}\nvs\n{ref_inputs}")
print(f"ok: {len(sys.argv) - 1} stores identical ({len(ref)} datasets, "
      f"{len(ref['events/event_id'][1])} events)")
