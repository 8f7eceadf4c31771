"""Summarise the MPI profiler's lines of a scaling study, one row per run.

  python3 validation/mpiprof/summarize.py PROFILE.jsonl RUNS.csv OUT.csv > OUT.md

PROFILE.jsonl: one JSON line per rank and run (validation/mpiprof/dm_mpiprof.c,
DMPIPE_MPIPROF), grouped by their label (DMPIPE_MPIPROF_LABEL). RUNS.csv: one
line per run from validation/bench_scaling.sh (mode, ranks, events, stage,
label, mpirun's wall clock, the stage's work). OUT.csv gets every column below,
stdout a Markdown table of the main ones. Sums are over ranks, "max" the
largest rank, "med" the median rank.

Rank 0 alone (solo): rank 0's time outside MPI minus the median of the other
ranks' time outside MPI. While rank 0 works alone the others wait inside a
collective, so their time outside MPI is shorter by that much; the
difference estimates rank 0's serial share. It is computed twice: from wall
time (wall - time inside MPI calls of the main thread) and from the main
thread's CPU time outside MPI calls (which does not count time a rank spent
descheduled, so it holds on an oversubscribed machine). It is an
approximation: work that only some other rank does, or an uneven split,
also moves it; on 1 rank it is undefined (empty).
"""
import csv
import json
import statistics
import sys

COLUMNS = [
    ("mode", "strong or weak"),
    ("ranks", "P"),
    ("events", "N, events of the archive"),
    ("stage", "stage"),
    ("wall_mpirun_s", "mpirun's wall clock (launch included)"),
    ("wall_s", "max over ranks of MPI_Init..MPI_Finalize"),
    ("init_s", "max over ranks of the time inside MPI_Init"),
    ("cpu_out_med_s", "median rank: main thread CPU outside MPI calls"),
    ("cpu_out_max_s", "max rank: the same"),
    ("cpu_total_s", "sum over ranks of user + system CPU (all threads)"),
    ("mpi_s_max", "max rank: main thread wall time inside MPI calls"),
    ("messages", "sum of point-to-point messages sent"),
    ("p2p_bytes", "sum of point-to-point bytes sent"),
    ("coll_calls_max", "max rank: collective calls (communicator creation included)"),
    ("coll_bytes", "sum of collective payload bytes sent from user buffers"),
    ("coll_bytes_in_max", "max rank: collective payload bytes received"),
    ("bytes_exchanged", "p2p_bytes + coll_bytes"),
    ("coll_s_max", "max rank: seconds in collectives and completing them"),
    ("p2p_s_max", "max rank: seconds in point-to-point calls and completing them"),
    ("io_read_bytes", "sum of MPI-IO bytes read"),
    ("io_write_bytes", "sum of MPI-IO bytes written"),
    ("posix_read_bytes", "bytes read outside MPI-IO (ingest's CSV inputs)"),
    ("io_data_calls", "sum of MPI-IO read and write calls"),
    ("io_small_calls", "sum of MPI-IO data calls under 64 KiB"),
    ("io_small_calls_max", "max rank: the same"),
    ("io_meta_calls", "sum of MPI_File_open/close/set_size/get_size/sync/preallocate/delete "
     "calls (file-system metadata; MPI_File_set_view is counted apart)"),
    ("io_meta_calls_max", "max rank: the same"),
    ("io_view_calls", "sum of MPI_File_set_view calls (HDF5 sets a view around its reads and "
     "writes; collective, but no file-system request)"),
    ("io_view_calls_max", "max rank: the same"),
    ("io_s_max", "max rank: seconds in MPI-IO calls and completing them"),
    ("solo_wall_s", "rank 0 alone, from wall time outside MPI (see above)"),
    ("solo_cpu_s", "rank 0 alone, from CPU time outside MPI (see above)"),
    ("work_events", "work units of the stage (events; x epochs for svdd; x reference for KDE score)"),
    ("n_selected", "events of the channel selection"),
    ("n_reference", "KDE reference events"),
    ("input_bytes", "bytes of the stage's input file(s)"),
    ("load1", "load average when the run started"),
]


def fail(msg):
    print("summarize: " + msg, file=sys.stderr)
    sys.exit(1)


def summarise(recs, run):
    p = int(run["ranks"])
    if len(recs) != p or sorted(r["rank"] for r in recs) != list(range(p)):
        fail(f"{run['label']}: {len(recs)} profile lines for {p} ranks")
    recs = sorted(recs, key=lambda r: r["rank"])
    cl = lambda r, c: r["classes"][c]
    # The profiler's io_meta class includes MPI_File_set_view, which makes no
    # file-system request: it is reported apart, not as a metadata request.
    views = lambda r: r["calls"].get("MPI_File_set_view", {}).get("n", 0)
    cpu_out = [r["main_cpu_s"] - r["main_mpi_cpu_s"] for r in recs]
    wall_out = [r["wall_s"] - r["main_mpi_s"] for r in recs]
    row = {k: run[k] for k in ("mode", "ranks", "events", "stage", "wall_mpirun_s", "work_events",
                                "n_selected", "n_reference", "input_bytes", "posix_read_bytes",
                                "load1")}
    row.update(
        wall_s=max(r["wall_s"] for r in recs),
        init_s=max(r["init_s"] for r in recs),
        cpu_out_med_s=statistics.median(cpu_out),
        cpu_out_max_s=max(cpu_out),
        cpu_total_s=sum(r["cpu_user_s"] + r["cpu_sys_s"] for r in recs),
        mpi_s_max=max(r["main_mpi_s"] for r in recs),
        messages=sum(r["messages"] for r in recs),
        p2p_bytes=sum(cl(r, "p2p")["bytes_out"] for r in recs),
        coll_calls_max=max(cl(r, "coll")["calls"] for r in recs),
        coll_bytes=sum(cl(r, "coll")["bytes_out"] for r in recs),
        coll_bytes_in_max=max(cl(r, "coll")["bytes_in"] for r in recs),
        coll_s_max=max(cl(r, "coll")["s"] + cl(r, "coll")["wait_s"] for r in recs),
        p2p_s_max=max(cl(r, "p2p")["s"] + cl(r, "p2p")["wait_s"] for r in recs),
        io_read_bytes=sum(cl(r, "io_read")["bytes_in"] for r in recs),
        io_write_bytes=sum(cl(r, "io_write")["bytes_out"] for r in recs),
        io_data_calls=sum(cl(r, "io_read")["calls"] + cl(r, "io_write")["calls"] for r in recs),
        io_small_calls=sum(cl(r, "io_read")["small_calls"] + cl(r, "io_write")["small_calls"]
                           for r in recs),
        io_small_calls_max=max(cl(r, "io_read")["small_calls"] + cl(r, "io_write")["small_calls"]
                               for r in recs),
        io_meta_calls=sum(cl(r, "io_meta")["calls"] - views(r) for r in recs),
        io_meta_calls_max=max(cl(r, "io_meta")["calls"] - views(r) for r in recs),
        io_view_calls=sum(views(r) for r in recs),
        io_view_calls_max=max(views(r) for r in recs),
        io_s_max=max(sum(cl(r, c)["s"] + cl(r, c)["wait_s"]
                         for c in ("io_read", "io_write", "io_meta")) for r in recs),
        solo_wall_s=wall_out[0] - statistics.median(wall_out[1:]) if p > 1 else "",
        solo_cpu_s=cpu_out[0] - statistics.median(cpu_out[1:]) if p > 1 else "",
    )
    row["bytes_exchanged"] = row["p2p_bytes"] + row["coll_bytes"]
    return row


def human(b):
    b = float(b)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(b) < 1000 or unit == "TB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.3g} {unit}"
        b /= 1000


def fmt_s(v):
    return "-" if v == "" else f"{float(v):.3f}"


def main():
    if len(sys.argv) != 4:
        fail("usage: summarize.py PROFILE.jsonl RUNS.csv OUT.csv > OUT.md")
    by_label = {}
    with open(sys.argv[1], encoding="ascii") as f:
        for n, line in enumerate(f, 1):
            try:
                rec = json.loads(line)
            except ValueError as e:
                fail(f"{sys.argv[1]}:{n}: not JSON ({e})")
            by_label.setdefault(rec["label"], []).append(rec)
    with open(sys.argv[2], newline="") as f:
        runs = list(csv.DictReader(f))
    rows = []
    for run in runs:
        if run["label"] not in by_label:
            fail(f"{run['label']}: no profile lines (was the profiler preloaded?)")
        rows.append(summarise(by_label[run["label"]], run))
    with open(sys.argv[3], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[c for c, _ in COLUMNS])
        w.writeheader()
        for row in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    print("| stage | mode | P | N | wall (s) | messages | bytes exchanged | MPI-IO read | "
          "MPI-IO write | metadata ops | file views | small I/O ops | max in collectives (s) | "
          "rank 0 alone, wall / CPU (s) | CPU outside MPI per rank, median (s) |")
    print("|" + "---|" * 15)
    order = {s: i for i, s in enumerate(dict.fromkeys(r["stage"] for r in rows))}
    for r in sorted(rows, key=lambda r: (order[r["stage"]], r["mode"], int(r["ranks"]))):
        print(f"| {r['stage']} | {r['mode']} | {r['ranks']} | {int(r['events']):.3g} | "
              f"{float(r['wall_s']):.2f} | {r['messages']} | {human(r['bytes_exchanged'])} | "
              f"{human(r['io_read_bytes'])} | {human(r['io_write_bytes'])} | "
              f"{r['io_meta_calls']} | {r['io_view_calls']} | {r['io_small_calls']} | "
              f"{r['coll_s_max']:.3f} | "
              f"{fmt_s(r['solo_wall_s'])} / {fmt_s(r['solo_cpu_s'])} | "
              f"{r['cpu_out_med_s']:.3f} |")


if __name__ == "__main__":
    main()
