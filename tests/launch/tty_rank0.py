#!/usr/bin/env python3
"""Run a command with its stderr on a pseudo-terminal on MPI rank 0 only.

    mpirun -np N python3 tty_rank0.py COMMAND ARGS...

Rank 0 (OMPI_COMM_WORLD_RANK, PMIX_RANK or PMI_RANK = 0) forks; the child gets
a fresh pty as its stderr and runs COMMAND, the parent copies what the child
writes there to its own stderr and exits with the child's status. Every other
rank runs COMMAND directly, its stderr a pipe as under any launcher. This is
the launch that `srun --pty` makes, where only rank 0 sees a terminal.
"""
import os
import pty
import sys


def rank():
    for key in ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"):
        if key in os.environ:
            return int(os.environ[key])
    return 0


def main():
    cmd = sys.argv[1:]
    if not cmd:
        sys.exit("usage: tty_rank0.py COMMAND [ARGS...]")
    if rank() != 0:
        os.execvp(cmd[0], cmd)
    master, slave = pty.openpty()
    pid = os.fork()
    if pid == 0:
        os.close(master)
        os.dup2(slave, 2)
        os.close(slave)
        os.execvp(cmd[0], cmd)
    os.close(slave)
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        os.write(2, data)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status) & 0xFF if os.waitstatus_to_exitcode(status) >= 0
             else 128 - os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
