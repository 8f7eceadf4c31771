#!/usr/bin/env python3
"""Independent check of dmpipe's provenance checksums ("xxh3-128-tree-1MiB"):
XXH3-128 of the concatenated canonical XXH3-128 digests of consecutive 1 MiB
blocks. Every `name<TAB>bytes<TAB>algo:hex` line in the `inputs` attribute of
the given HDF5 files is recomputed here with the xxhash module and compared.

usage: checksum_tree.py FILE.h5 [FILE.h5 ...]"""
import os
import sys

import h5py
import xxhash

BLOCK = 1 << 20


def tree(path):
    leaves = bytearray()
    with open(path, "rb") as f:
        while True:
            b = f.read(BLOCK)
            if not b:
                break
            leaves += xxhash.xxh3_128_digest(b)
    return xxhash.xxh3_128_hexdigest(bytes(leaves))


def attr(f, name):
    v = f.attrs[name]
    return v.decode() if isinstance(v, bytes) else str(v)


checked = 0
for h5 in sys.argv[1:]:
    with h5py.File(h5, "r") as f:
        lines = [l for l in attr(f, "inputs").splitlines() if l.strip()]
    if not lines:
        sys.exit(f"FAIL: {h5} records no inputs")
    for line in lines:
        name, size, tagged = line.split("\t")[:3]
        algo, _, got = tagged.partition(":")
        if algo != "xxh3-128-tree-1MiB":
            sys.exit(f"FAIL: {h5}: {name} hashed with {algo!r}, expected xxh3-128-tree-1MiB")
        if int(size) != os.path.getsize(name):
            sys.exit(f"FAIL: {h5}: {name} recorded {size} bytes, file has {os.path.getsize(name)}")
        want = tree(name)
        if got != want:
            sys.exit(f"FAIL: {h5}: {name} recorded {got}, independent tree hash {want}")
        checked += 1
print(f"checksum_tree: {checked} recorded checksums equal the independent tree hash")
