"""Check the JSON lines of the MPI profiler (validation/mpiprof).

  check_profile.py probe PROFILE NP LABEL
      the lines of tests/mpiprof/mpiprof_probe on NP ranks: every count and
      byte total equals the figure written by hand from mpiprof_probe.c.
  check_profile.py ingest PROFILE NP STORE
      the lines of `dmpipe ingest` on NP ranks: the calls ingest is known to
      make were counted, and the MPI-IO bytes written cover the store's data
      (every dataset's stored chunks, from h5py) without exceeding the file.
"""
import json
import os
import sys


def fail(msg):
    print("check_profile: " + msg, file=sys.stderr)
    sys.exit(1)


def load(path, np_, label=None):
    lines = open(path, encoding="ascii").read().splitlines()
    if len(lines) != np_:
        fail(f"{path}: {len(lines)} lines, expected one per rank ({np_})")
    recs = [json.loads(line) for line in lines]
    if sorted(r["rank"] for r in recs) != list(range(np_)):
        fail(f"{path}: ranks {[r['rank'] for r in recs]}")
    for r in recs:
        if r["size"] != np_ or r["mpiprof"] != 1:
            fail(f"{path}: rank {r['rank']}: size {r['size']}, version {r['mpiprof']}")
        if label is not None and r["label"] != label:
            fail(f"{path}: label {r['label']!r}, expected {label!r}")
        if not r["wall_s"] > 0 or not 0 <= r["main_mpi_s"] <= r["wall_s"] + 1e-3:
            fail(f"rank {r['rank']}: wall {r['wall_s']} s, in MPI {r['main_mpi_s']} s")
        if not 0 <= r["main_mpi_cpu_s"] <= r["main_cpu_s"] + 1e-3:
            fail(f"rank {r['rank']}: CPU in MPI {r['main_mpi_cpu_s']} > {r['main_cpu_s']}")
        if sum(c["s"] + c["wait_s"] for c in r["classes"].values()) > r["wall_s"] + 1e-3:
            fail(f"rank {r['rank']}: more time in MPI calls than from init to finalize")
    return sorted(recs, key=lambda r: r["rank"])


def expect(what, got, want):
    if got != want:
        fail(f"{what}: {got}, expected {want}")


def probe(path, np_, label):
    recs = load(path, np_, label)
    for r in recs:
        k, c, calls = r["rank"], r["classes"], r["calls"]
        root = k == 0
        # mpiprof_probe.c, by hand: Sendrecv 1000 B, Isend/Irecv 2 doubles
        expect(f"rank {k} messages", r["messages"], 2)
        expect(f"rank {k} p2p", {x: c["p2p"][x] for x in ("calls", "bytes_out", "bytes_in",
                                                            "wait_calls")},
               {"calls": 3, "bytes_out": 1016, "bytes_in": 1016, "wait_calls": 1})
        # Allreduce 3 x 80 B, Bcast 400 B from 0, Gather 12 B to 0, Barrier,
        # Comm_dup, Iallreduce 32 B (one Wait)
        expect(f"rank {k} coll", {x: c["coll"][x] for x in ("calls", "bytes_out", "bytes_in",
                                                              "wait_calls")},
               {"calls": 8, "bytes_out": 240 + (400 if root else 0) + 12 + 32,
                "bytes_in": 240 + (0 if root else 400) + (12 * np_ if root else 0) + 32,
                "wait_calls": 1})
        # write_at 4096 (rank + 1), iwrite_at 25 ints (one Wait), write_at_all 50
        expect(f"rank {k} io_write", {x: c["io_write"][x] for x in (
            "calls", "bytes_out", "bytes_in", "wait_calls", "small_calls")},
               {"calls": 3, "bytes_out": 4096 * (k + 1) + 100 + 50, "bytes_in": 0,
                "wait_calls": 1, "small_calls": 3})
        expect(f"rank {k} io_read", {x: c["io_read"][x] for x in (
            "calls", "bytes_in", "small_calls")}, {"calls": 1, "bytes_in": 10, "small_calls": 1})
        # open, sync (through the program's own MPI_File_sync), set_size, close
        expect(f"rank {k} io_meta calls", c["io_meta"]["calls"], 4)
        expect(f"rank {k} untracked waits", c["other"]["wait_calls"], 0)
        want = {"MPI_Allreduce": 3, "MPI_Bcast": 1, "MPI_Gather": 1, "MPI_Barrier": 1,
                "MPI_Comm_dup": 1, "MPI_Iallreduce": 1, "MPI_Wait": 2, "MPI_Sendrecv": 1,
                "MPI_Irecv": 1, "MPI_Isend": 1, "MPI_Waitall": 1, "MPI_File_open": 1,
                "MPI_File_write_at": 1, "MPI_File_iwrite_at": 1, "MPI_File_write_at_all": 1,
                "MPI_File_sync": 1, "MPI_File_set_size": 1, "MPI_File_read_at": 1,
                "MPI_File_close": 1}
        expect(f"rank {k} calls", {n: v["n"] for n, v in calls.items()}, want)
        if "mpiprof_probe" not in r["cmd"]:
            fail(f"rank {k}: command line {r['cmd']!r}")
    print(f"probe np {np_}: {len(recs)} ranks as expected")


def ingest(path, np_, store):
    import h5py
    recs = load(path, np_)
    tot = {}
    for r in recs:
        for name, v in r["calls"].items():
            tot[name] = tot.get(name, 0) + v["n"]
    for name in ("MPI_File_open", "MPI_File_close", "MPI_File_iwrite_at", "MPI_Allreduce",
                 "MPI_Bcast", "MPI_Request_get_status"):
        if tot.get(name, 0) <= 0:
            fail(f"ingest np {np_}: no {name} counted ({sorted(tot)})")
    for r in recs:  # every rank opens the store and the inputs together
        if r["calls"].get("MPI_File_open", {}).get("n", 0) <= 0:
            fail(f"rank {r['rank']}: no MPI_File_open")
    if np_ > 1 and sum(r["messages"] for r in recs) <= 0:
        fail("no point-to-point messages between ranks (the chunk exchange)")
    if sum(r["classes"]["io_write"]["wait_calls"] for r in recs) <= 0:
        fail("no completion of an MPI-IO write was charged to io_write")
    written = sum(r["classes"]["io_write"]["bytes_out"] for r in recs)
    data = 0

    def visit(name, obj):
        nonlocal data
        if isinstance(obj, h5py.Dataset):
            data += obj.id.get_storage_size()
    with h5py.File(store, "r") as f:
        f.visititems(visit)
    size = os.path.getsize(store)
    if not data <= written <= size:
        fail(f"MPI-IO bytes written {written}: expected between the datasets' stored bytes "
             f"{data} and the file's size {size}")
    print(f"ingest np {np_}: {written} bytes written through MPI-IO, datasets {data}, "
          f"file {size}; {sum(r['messages'] for r in recs)} messages")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "probe":
        probe(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 5 and sys.argv[1] == "ingest":
        ingest(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        fail("usage: check_profile.py probe PROFILE NP LABEL | ingest PROFILE NP STORE")
