#!/usr/bin/env bash
# Progress is decided once, on rank 0. Every command that prints progress is
# run under np 2 and 3 with rank 0's stderr on a terminal and the others' on
# pipes (tty_rank0.py; what `srun --pty` does), under a timeout: each must
# finish with exit 0 and exactly one "(done)" line, from rank 0. Then the
# batch-log mode: no terminal anywhere, lines every --progress-interval with
# events, rate, percentage and ETA; --no-progress silences them; a short run
# at the default interval (30 s) prints nothing.
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}" "${PYTHON:?}"
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$DM_TEST_TMP"
mkdir -p "$DM_TEST_TMP"
cd "$DM_TEST_TMP"
run() { timeout 120 "$MPIEXEC" -n "$1" "$DMPIPE" "${@:2}" < /dev/null; }
tty0() { timeout 120 "$MPIEXEC" -n "$1" "$PYTHON" "$here/tty_rank0.py" "$DMPIPE" "${@:2}" < /dev/null; }

run 2 generate --out arch --events 4000 --seed 11 --quiet --no-progress
run 2 ingest --out s.h5 arch/*.csv --no-progress > /dev/null
run 2 train kde --in s.h5 --out m.h5 --quiet --no-progress

# label of the progress line, then the command (OUT: an output per run).
cases=(
  "generate|generate --out OUT --events 3000 --seed 2 --quiet"
  "ingest|ingest --out OUT.h5 arch/*.csv"
  "derive|derive --in s.h5 --force --quiet"
  "weight|weight --in s.h5 --lumi 10 --quiet"
  "select|select --in s.h5 --channel chan3 --out OUT.h5 --quiet"
  "train: features|train kde --in s.h5 --out OUT.h5 --quiet"
  "train: features|train svdd --in s.h5 --out OUT.h5 --features highlevel --hidden 8 --out-dim 2 --epochs 1 --quiet"
  "score|score --model m.h5 --in s.h5 --out OUT.h5 --quiet"
  "export|export --in s.h5 --out OUT.csv"
)
fail=0
for np in 2 3; do
  for c in "${cases[@]}"; do
    label=${c%%|*}
    cmd=${c#*|}
    cmd=${cmd//OUT/out.$np.$RANDOM}
    set +e
    tty0 "$np" $cmd > run.out 2> run.err
    rc=$?
    set -e
    # The pty turns \n into \r\n.
    tr -d '\r' < run.err > run.txt
    done_lines=$(grep -c "^$label: .* (done)\$" run.txt || true)
    if ((rc != 0)) || ((done_lines != 1)); then
      echo "FAIL np $np (rank 0 on a terminal): dmpipe $cmd: exit $rc, $done_lines '(done)' lines" >&2
      sed 's/^/    /' run.txt | head -20 >&2
      fail=1
    fi
  done
done

# Batch log: every rank's stderr is a file. A tiny interval forces lines.
run 3 weight --in s.h5 --lumi 10 --quiet --batch 100 --progress-interval 0.001 2> log.txt
grep -Eq '^weight: [0-9]+ events, [0-9]+ events/s, [0-9.]+%, ETA [0-9]+ s$' log.txt
[[ $(grep -c '^weight: 4000 events in .* (done)$' log.txt) -eq 1 ]]
# --no-progress: nothing at all on stderr.
run 3 weight --in s.h5 --lumi 10 --quiet --batch 100 --progress-interval 0.001 --no-progress \
  2> log.txt
[[ ! -s log.txt ]]
# The default interval in a log is 30 s: a short run prints nothing.
run 2 weight --in s.h5 --lumi 10 --quiet 2> log.txt
[[ ! -s log.txt ]]
# Bad values name the flag.
set +e
run 1 weight --in s.h5 --lumi 10 --progress-interval 0 > u.txt 2>&1; rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q -- "--progress-interval" u.txt
exit $fail
