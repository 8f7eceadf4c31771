"""An archive of at least MB megabytes (1e6 bytes) of CSV built from the
public Pythia sample (tests/fixtures/pythia-sample/*.csv.zst, 16 processes,
27,000 events): the sample repeated, its files in name order, each file's
lines in a new seeded random order in every repetition, with the event IDs
renumbered 1, 2, 3, ... over the whole archive.
Why shuffled: a plain repetition every 4.7 MB would let zstd find whole runs
of values again inside one chunk (after the shuffle filter, a byte plane of an
object column repeats every ~140 KB, inside zstd's window), making the store
smaller and its compression faster than on real data. Shuffled within each
file, no run longer than one event repeats, while the lines of one process
stay together as in the real archive's files.
usage: make_pythia_archive.py OUT.csv [MB] [SEED]     (MB default 1024)"""
import glob
import os
import random
import subprocess
import sys

out = sys.argv[1]
target = float(sys.argv[2]) * 1e6 if len(sys.argv) > 2 else 1024e6
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
here = os.path.dirname(os.path.abspath(__file__))
files = sorted(glob.glob(os.path.join(here, "..", "tests", "fixtures", "pythia-sample",
                                      "*.csv.zst")))
if not files:
    sys.exit("make_pythia_archive: no tests/fixtures/pythia-sample/*.csv.zst")
per_file = []  # per file, each line without its event ID, newline included
for f in files:
    text = subprocess.run(["zstd", "-qdc", f], check=True, capture_output=True).stdout.decode()
    per_file.append([line.split(";", 1)[1] + "\n" for line in text.splitlines() if line.strip()])
n_sample = sum(len(lines) for lines in per_file)
rng = random.Random(seed)
written, next_id, reps = 0, 1, 0
tmp = out + ".part"
with open(tmp, "w") as fo:
    while written < target:
        for lines in per_file:
            rng.shuffle(lines)
            block = "".join(f"{next_id + i};{rest}" for i, rest in enumerate(lines))
            fo.write(block)
            written += len(block)
            next_id += len(lines)
        reps += 1
os.replace(tmp, out)
print(f"{out}: {written / 1e6:.1f} MB, {next_id - 1} events ({reps} shuffled copies of the "
      f"{n_sample}-event sample)")
