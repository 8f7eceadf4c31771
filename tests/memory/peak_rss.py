"""Run a command and record its peak resident memory (getrusage of the
child: the kernel's own high-water mark, independent of the command).
usage: peak_rss.py OUT_PREFIX COMMAND [ARGS...]
Writes the peak in KiB to OUT_PREFIX.<rank> (rank from Open MPI's or PMI's
environment, 0 outside mpirun) and exits with the command's status. Under
mpirun each rank runs its own launcher: mpirun -n 2 python3 peak_rss.py p dmpipe ..."""
import os
import resource
import subprocess
import sys

prefix, cmd = sys.argv[1], sys.argv[2:]
rank = os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0"))
rc = subprocess.call(cmd)
with open(f"{prefix}.{rank}", "w") as f:
    f.write(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\n")
sys.exit(rc)
