"""Check the peaks written by bounded.sh (lines "COMMAND.npN.xK KiB KiB ...",
one number per rank; x0 tiny input, x1 the input, x2 twice it).

The bound for each command, per rank, is the tiny input's peak on that rank
(the baseline: libraries, MPI, HDF5) plus what the budget allows:
  ingest: 1.5 x --buffer-mb (two stripe buffers of a quarter each, the parsed
          batch, the compressed round) plus up to five sets of one chunk per
          column (the writer's carry, joined and compressed chunks);
  select: two chunk sets of its output store (16384 events per chunk,
          objects 4x: per column the partial chunk a rank carries and one
          joined from several ranks while the first is compressed), the chunk
          writer's budget of compressed bytes (dm_chunk_writer.h: 2 MiB, both
          buffers), plus 2 KiB per event of --batch (the objects of the
          events kept: with the test's selection, nearly all);
  select_sparse: a selection that keeps few events (less than a chunk of its
          output), in rounds of --sparse-batch events per rank read in
          pieces of --piece objects: one chunk set of its output (the
          partial chunk carried) and the writer's budget; the chunk cache
          of every input column at the input's --chunk-events (one chunk
          set, doubled for the caches' own overhead); per event of the
          round only its index (12 bytes: offset, process, n_obj); and the
          piece: --piece objects (49 bytes each with the double copies) and
          as many events (50 bytes each: the generated events all have
          objects). Reading a round whole held all its events and objects:
          32 MiB above the tiny input's peak here, against a bound of 13;
  score:  2 KiB per event of --batch;
  train:  2 KiB per event of --batch and 2 MiB: the subsample's selection
          (two histograms of 512 KiB, and the few keys that share the
          answer's leading bits; with a 9-byte key per pool row, about
          530,000 rows on the input, and event columns' chunk caches of
          up to 1 MiB, train peaked 20 MiB above the tiny input's);
  metrics: --rows-mb (the rows the exact ROC holds at once), its batch of
          65536 rows (21 bytes a row at most) and three chunks of each score
          column (8 + 2 + 1 bytes a row: the one cached, the one read and the
          one it decompresses to);
and, for select and score, HDF5's raw-data chunk cache of every input column
they read (1 MiB each by default, 13 columns: 7 event, 5 object, the derived
weight), which holds the chunk two consecutive reads share (train: one
chunk a column, 0.4 MiB for all of them at --chunk-events 4096).
A chunk set is one chunk of every store column: per event 8+2+8+4+4+2+8 bytes
of event columns, and four objects' worth (1+4x4 bytes) of object columns.
And doubling the input may raise no rank's peak by more than 10%.

train kde with a reference of R rows of d columns (--ref-rows, --ref-dim;
run "trainref", against "train" on the same input with a small --max-train)
may add, per rank, (8 d + 16) R bytes and 2 MiB: the reference once,
column-major as the kernel reads it (4 d bytes a row), the rank's own rows
once (at most all of them: raw while the transform is fitted, then
transformed; 4 d), the reference's row indices and the rank's (8 + 8). A
row-major copy of the gathered reference beside the kernel's (as the fit
and the model's write once made) is 4 d R bytes more and fails it."""
import argparse
import sys

ap = argparse.ArgumentParser()
ap.add_argument("peaks")
ap.add_argument("--budget-mb", type=float, required=True)
ap.add_argument("--chunk-events", type=int, required=True)
ap.add_argument("--batch", type=int, required=True)
ap.add_argument("--sparse-batch", type=int, required=True)
ap.add_argument("--piece", type=int, required=True)
ap.add_argument("--rows-mb", type=float, required=True)
ap.add_argument("--input-mb", type=float, required=True, help="bytes of the x1 input")
ap.add_argument("--ref-rows", type=int, required=True, help="reference rows of run trainref")
ap.add_argument("--ref-dim", type=int, required=True, help="columns of run trainref's model")
a = ap.parse_args()

peaks = {}
for line in open(a.peaks):
    name, *kib = line.split()
    peaks[name] = [int(k) for k in kib]

MiB = 1024.0
def chunk_set_kib(chunk_events):
    return chunk_events * (36 + 4 * 17) / 1024.0

READ_CACHE_KIB = 13 * 1024.0
WRITER_BUDGET_KIB = 2 * 1024.0
allow = {
    "ingest": 1.5 * a.budget_mb * MiB + 5 * chunk_set_kib(a.chunk_events),
    "select": 2 * chunk_set_kib(16384) + WRITER_BUDGET_KIB + 2 * a.batch + READ_CACHE_KIB,
    "select_sparse": chunk_set_kib(16384) + WRITER_BUDGET_KIB + 2 * chunk_set_kib(a.chunk_events)
                     + (12 * a.sparse_batch + (50 + 49) * a.piece) / 1024.0,
    "score": 2 * a.batch + READ_CACHE_KIB,
    "train": 2 * a.batch + 2 * MiB,
    "metrics": a.rows_mb * MiB + 65536 * (21 + 3 * 11) / 1024.0,
}
if a.input_mb / 2**20 < 4 * a.budget_mb:
    sys.exit(f"the input ({a.input_mb / 2**20:.0f} MiB) is not several times the budget")
failed = []
for cmd, extra in allow.items():
    for np_ in (1, 2):
        base = peaks[f"{cmd}.np{np_}.x0"]
        one = peaks[f"{cmd}.np{np_}.x1"]
        two = peaks[f"{cmd}.np{np_}.x2"]
        if not (len(base) == len(one) == len(two) == np_):
            sys.exit(f"{cmd} np {np_}: expected {np_} peaks per run, got {base} {one} {two}")
        for r in range(np_):
            bound = base[r] + extra
            print(f"{cmd:7} np {np_} rank {r}: tiny {base[r] / MiB:6.1f} MiB, input "
                  f"{one[r] / MiB:6.1f}, doubled {two[r] / MiB:6.1f}; bound {bound / MiB:6.1f}, "
                  f"doubled/input {two[r] / one[r]:.3f}")
            for k, v in (("input", one[r]), ("doubled input", two[r])):
                if v > bound:
                    failed.append(f"{cmd} np {np_} rank {r}: peak {v / MiB:.1f} MiB on the {k} is "
                                  f"above the bound {bound / MiB:.1f} (tiny {base[r] / MiB:.1f} "
                                  f"+ {extra / MiB:.1f})")
            if two[r] > 1.10 * one[r]:
                failed.append(f"{cmd} np {np_} rank {r}: doubling the input raised the peak from "
                              f"{one[r] / MiB:.1f} to {two[r] / MiB:.1f} MiB (more than 10%)")
ref_kib = a.ref_rows * (8 * a.ref_dim + 16) / 1024.0 + 2 * MiB
if a.ref_rows < 100000:
    sys.exit(f"the reference ({a.ref_rows} rows) is too small to show its copies")
for np_ in (1, 2):
    small, big = peaks[f"train.np{np_}.x1"], peaks[f"trainref.np{np_}.x1"]
    if not (len(small) == len(big) == np_):
        sys.exit(f"trainref np {np_}: expected {np_} peaks per run, got {small} {big}")
    for r in range(np_):
        bound = small[r] + ref_kib
        print(f"trainref np {np_} rank {r}: {a.ref_rows} x {a.ref_dim} reference "
              f"{big[r] / MiB:6.1f} MiB; bound {bound / MiB:6.1f} (small reference "
              f"{small[r] / MiB:6.1f} + {ref_kib / MiB:.1f})")
        if big[r] > bound:
            failed.append(f"train kde np {np_} rank {r}: peak {big[r] / MiB:.1f} MiB with a "
                          f"reference of {a.ref_rows} rows is above the bound {bound / MiB:.1f}")
if failed:
    sys.exit("\n".join(failed))
